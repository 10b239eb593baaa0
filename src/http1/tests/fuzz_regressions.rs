//! The cargo-fuzz drivers (`crate::fuzzing::http1`, `crate::fuzzing::chunked`)
//! on stable: they pass on well-behaved traffic with every option, and
//! every input the fuzzer found crashing is replayed here (see scripts/fuzz).

use super::support::{run, sample_inputs, Ev, Responder};
use crate::fuzzing::{chunked, http1};
use crate::http1::Limits;

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

// ------------------------------------------------------------ found by cargo fuzz

/// The errors a head gets, fed whole and in pieces of each size in `steps`
/// (which must all agree).
fn errors(input: &[u8], limits: &Limits, steps: &[usize]) -> Vec<Ev> {
    let whole = run(input, usize::MAX, limits.clone(), Responder::Ok).events;
    for &step in steps {
        let pieces = run(input, step, limits.clone(), Responder::Ok).events;
        assert_eq!(
            whole,
            pieces,
            "step {step}: {:?}",
            String::from_utf8_lossy(input)
        );
    }
    whole
}

/// A request line longer than the limit with a NUL after the limit: fed in
/// pieces the line was too long (414) before the NUL arrived; fed whole the
/// NUL was reported (400). The same for a bare CR or LF, obs-fold, and the
/// header block's limit (431).
#[test]
fn fuzz_http1_limit_passed_before_a_bad_byte_wins() {
    http1::run(
        b"\xb1\x00\x01 /the/future HT111111%%%%%%%%%%%%%%%1111111ldgManldgM1111ldgManldg\x01\x00",
    );
    let limits = Limits {
        max_request_line: 64,
        max_header_bytes: 40,
        ..Limits::default()
    };
    let too_long = || vec![Ev::Error(414, "Request line too long".into())];
    let too_large = || vec![Ev::Error(431, "Request header fields too large".into())];
    let long_line = [&b"GET /"[..], &[b'a'; 60]].concat();
    for bad in [&b"\0"[..], b"\n", b"\rX", b" HTTP/1.1\n"] {
        let input = [&long_line[..], bad].concat();
        assert_eq!(errors(&input, &limits, &[1, 33, 64]), too_long(), "{bad:?}");
    }
    let head = b"GET / HTTP/1.1\r\nHost: h\r\nX: 0123456789012345678901234567890";
    for bad in [&b"\0"[..], b"\n", b"\rX", b"\r\n folded"] {
        let input = [&head[..], bad].concat();
        assert_eq!(
            errors(&input, &limits, &[1, 20, 50]),
            too_large(),
            "{bad:?}"
        );
    }
    // Within the limits the bad byte is what is reported.
    let input = b"GET /a\0 HTTP/1.1\r\n\r\n";
    assert_eq!(
        errors(input, &limits, &[1, 3]),
        vec![Ev::Error(400, "NUL in request head".into())]
    );
}

/// A field line that passes the header block's size limit and is also one
/// field too many: in pieces the size was passed first; whole, the field
/// count was checked first at the line's end. Both 431, different reasons.
#[test]
fn fuzz_http1_header_size_before_field_count() {
    let limits = Limits {
        max_headers: 1,
        max_header_bytes: 20,
        ..Limits::default()
    };
    let input = b"GET / HTTP/1.1\r\nHost: h\r\nX: 0123456789012345678\r\n\r\n";
    assert_eq!(
        errors(input, &limits, &[1, 7]),
        vec![Ev::Error(431, "Request header fields too large".into())]
    );
}

/// A chunk-size line with a bare CR and then a bare LF (`ah\r%\n`): in
/// pieces the bare CR was reported, whole the bare LF. The same in trailers.
#[test]
fn fuzz_http1_bare_cr_before_bare_lf_in_chunked_body() {
    http1::run(
        b"\xb1\x00\x01\tPOST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nah\r%\n",
    );
    let head = &b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"[..];
    for body in [&b"ah\r%\n"[..], b"5\r\nhello\r\n0\r\nX: a\rb\n\r\n"] {
        let events = errors(&[head, body].concat(), &Limits::default(), &[1, 3]);
        assert_eq!(
            events.last(),
            Some(&Ev::Error(400, "Bare CR in chunked body".into())),
            "{body:?}"
        );
    }
}
