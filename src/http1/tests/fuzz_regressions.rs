//! The cargo-fuzz drivers (`crate::fuzzing::http1`, `crate::fuzzing::chunked`)
//! on stable: they pass on well-behaved traffic with every option, and
//! every input the fuzzer found crashing is replayed here (see scripts/fuzz).

use super::support::sample_inputs;
use crate::fuzzing::{chunked, http1};

/// A driver input: option bytes, the split sizes, then the stream.
fn input(options: &[u8], sizes: &[u8], stream: &[u8]) -> Vec<u8> {
    let mut v = options.to_vec();
    v.push(sizes.len() as u8);
    v.extend_from_slice(sizes);
    v.extend_from_slice(stream);
    v
}

#[test]
fn http1_driver_passes_the_sample_requests_with_every_option() {
    for stream in sample_inputs() {
        for options in 0..=255u8 {
            for reading in 0..4u8 {
                for sizes in [&[][..], &[0], &[4, 30]] {
                    http1::run(&input(&[options, reading], sizes, &stream));
                }
            }
        }
    }
}

#[test]
fn chunked_driver_passes_good_and_bad_bodies() {
    let bodies: &[&[u8]] = &[
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT",
        b"5;a=\"b\\\"c\" ; d\r\nhello\r\n0\r\nX: y\r\nVary: *\r\n\r\n",
        b"5\r\nhello\r\n0\r\n",
        b"5\r\nhelloXX",
        b"ffffffffffffffff\r\n",
        b"5\nhello",
        b"",
    ];
    for body in bodies {
        for options in 0..2 {
            for sizes in [&[][..], &[0], &[2, 9]] {
                chunked::run(&input(&[options], sizes, body));
            }
        }
    }
}
