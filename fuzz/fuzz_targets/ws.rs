//! WebSocket frames with and without permessage-deflate, with sends between
//! reads: see `_core::fuzzing::ws`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| _core::fuzzing::ws::run(data));
