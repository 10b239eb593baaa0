//! The HTTP/1.1 connection fed a byte stream split at fuzzer-chosen points,
//! answered like the bridge does: see `_core::fuzzing::http1`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| _core::fuzzing::http1::run(data));
