//! The chunked body decoder, whole and split: see `_core::fuzzing::chunked`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| _core::fuzzing::chunked::run(data));
