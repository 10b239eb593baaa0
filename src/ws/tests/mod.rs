//! Byte-level tests of the WebSocket protocol: `conn` (framing and the
//! state machine), `deflate` (RFC 7692 examples, negotiation, limits),
//! `handshake`, and a seeded no-panic mutation run. `support` simulates a
//! driver.

mod conn;
mod deflate;
mod fuzz_regressions;
mod handshake;
mod no_panic;
mod support;
