//! Fuzz driver for the WebSocket connection (`ws::WsConn`), with and
//! without permessage-deflate, fed client frames in the fuzzer's pieces,
//! with messages, pings and closes sent through the API between reads.
//!
//! Input: `[config, flags, n, sizes[n]..., m, actions[m]..., stream...]`.
//!
//! `config`:
//! - bits 0-1: no deflate; deflate with context takeover; deflate without
//!   (both directions); `server_max_window_bits` 8 + bits 5-7 (so our
//!   messages over 2^N bytes go uncompressed);
//! - bits 2-3: `max_message_size` 16 MiB, 8, 200 or 4096;
//! - bit 4: `client_no_context_takeover` (modes 1 and 3);
//! - bits 5-7: compression level 0, 1, 2, 4, 6, 7, 9, 12 (counts as 9).
//!
//! `flags` bit 0: end of input once the stream is used up (otherwise the
//! run just stops there).
//!
//! Before each `next_event`, the next action (cycling; none without
//! actions): byte `a`, kind `a & 7`: 0-2 nothing, 3 text, 4 binary (length
//! `(a >> 3) * 97`), 5 ping (length `(a >> 3) * 5`, over 125 is refused),
//! 6 close (a code from a list that includes invalid ones), 7 empty binary.
//!
//! Checked: no panic; every run ends; each call writes exactly the frames
//! it should (our messages, which decompress back to what was sent with a
//! client's inflater; the pong echoing a ping; the close answering a close
//! or reporting a failure) as well-formed unmasked frames, nothing after
//! our close frame, no message event after our close, sends refused after
//! it, `Closed` forever after `Close`/`Error`. Without actions, the events
//! and output must not depend on how the stream was split.

use super::{Input, Splitter};
use crate::ws::{is_valid_close_code, DeflateParams, WsConfig, WsConn, WsEvent};
use flate2::{Decompress, FlushDecompress};

const TEXT_UNIT: &str = "héllo wörld €😀 ";
const CLOSE_CODES: [u16; 8] = [1000, 1001, 1011, 3000, 4999, 1005, 1006, 5000];

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let config_byte = input.byte();
    let flags = input.byte();
    let sizes = input.section(16);
    let actions = input.section(16);
    let stream = input.rest();
    let config = config(config_byte);
    let eof = flags & 1 != 0;
    let pieces = drive(&config, stream, &mut Splitter::new(sizes), actions, eof);
    if actions.is_empty() && !sizes.is_empty() {
        let whole = drive(&config, stream, &mut Splitter::new(&[]), actions, eof);
        assert_eq!(pieces, whole, "splitting the input changed the outcome");
    }
}

fn config(c: u8) -> WsConfig {
    let client_nct = c & 0x10 != 0;
    let high = c >> 5;
    let deflate = match c & 3 {
        0 => None,
        1 => Some(DeflateParams {
            client_no_context_takeover: client_nct,
            ..DeflateParams::default()
        }),
        2 => Some(DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: None,
        }),
        // As negotiation answers a smaller window.
        _ => Some(DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: client_nct,
            server_max_window_bits: Some(8 + high),
        }),
    };
    WsConfig {
        max_message_size: [16 << 20, 8, 200, 4096][usize::from((c >> 2) & 3)],
        deflate,
        compression_level: [0, 1, 2, 4, 6, 7, 9, 12][usize::from(high)],
    }
}

/// What a run produced, for comparing splits.
type Outcome = (Vec<WsEvent>, Vec<u8>);

struct Checker {
    deflate: Option<DeflateParams>,
    max: usize,
    /// The client's inflater for our compressed messages.
    client: Decompress,
    /// A close frame has been written: nothing may follow.
    close_written: bool,
}

fn drive(
    config: &WsConfig,
    stream: &[u8],
    splitter: &mut Splitter,
    actions: &[u8],
    eof: bool,
) -> Outcome {
    let mut c = WsConn::new(config.clone());
    let mut checker = Checker {
        deflate: config.deflate,
        max: config.max_message_size,
        client: Decompress::new(false),
        close_written: false,
    };
    let mut out = Vec::new();
    let mut events = Vec::new();
    let mut fed = 0;
    let mut eof_sent = false;
    let mut ended = false;
    let mut next_action = 0;
    // Every event but NeedData consumes at least two bytes of input.
    let bound = 2 * stream.len() + 64;
    for _ in 0..bound {
        if !actions.is_empty() {
            let a = actions[next_action % actions.len()];
            next_action += 1;
            act(&mut c, a, &mut out, &mut checker);
        }
        let open = !c.close_sent();
        let before = out.len();
        let event = c.next_event(&mut out);
        let frames = checker.frames(&out[before..]);
        let expect_none = || assert!(frames.is_empty(), "{event:?} wrote {frames:?}");
        match &event {
            WsEvent::NeedData => {
                expect_none();
                assert!(!eof_sent, "NeedData after end of input");
                assert!(!c.is_closed());
                if fed < stream.len() {
                    let n = splitter.next_len(stream.len() - fed);
                    c.recv_buf().extend_from_slice(&stream[fed..fed + n]);
                    fed += n;
                } else if eof {
                    c.recv_eof();
                    eof_sent = true;
                } else {
                    return (events, out);
                }
                continue;
            }
            WsEvent::Text(t) => {
                expect_none();
                assert!(open, "a message after our close");
                assert!(t.len() <= checker.max, "message over max_message_size");
            }
            WsEvent::Binary(b) => {
                expect_none();
                assert!(open, "a message after our close");
                assert!(b.len() <= checker.max, "message over max_message_size");
            }
            WsEvent::Ping(p) => {
                assert!(p.len() <= 125);
                if open {
                    assert_eq!(frames, vec![(0x8A, p.to_vec())], "pong");
                } else {
                    expect_none();
                }
            }
            WsEvent::Pong(p) => {
                expect_none();
                assert!(p.len() <= 125);
            }
            WsEvent::Close { code, reason } => {
                assert!(!ended);
                ended = true;
                assert!(code.is_none_or(is_valid_close_code), "{code:?}");
                assert!(reason.len() <= 123);
                assert!(c.is_closed() && c.close_sent());
                if open {
                    let payload = code.map_or(Vec::new(), |c| c.to_be_bytes().to_vec());
                    assert_eq!(frames, vec![(0x88, payload)], "close answer");
                } else {
                    expect_none();
                }
            }
            WsEvent::Error { close_code, reason } => {
                assert!(!ended);
                ended = true;
                assert!(c.is_closed());
                match close_code {
                    1006 => {
                        assert!(eof_sent, "1006 before the end of input");
                        expect_none();
                    }
                    1002 | 1007 | 1009 if open => {
                        let mut payload = close_code.to_be_bytes().to_vec();
                        payload.extend_from_slice(reason.as_bytes());
                        assert_eq!(frames, vec![(0x88, payload)], "failure close");
                    }
                    1002 | 1007 | 1009 => expect_none(),
                    other => panic!("unexpected close code {other}"),
                }
            }
            WsEvent::Closed => {
                expect_none();
                assert!(ended, "Closed before Close or Error");
                assert!(c.is_closed());
                let mut scratch = Vec::new();
                assert_eq!(c.next_event(&mut scratch), WsEvent::Closed);
                assert!(c.send_text("x", &mut scratch).is_err());
                assert!(c.send_ping(b"", &mut scratch).is_err());
                assert!(c.send_close(1000, "", &mut scratch).is_err());
                assert!(scratch.is_empty(), "output after the end");
                return (events, out);
            }
        }
        events.push(event);
    }
    panic!("no end after {bound} events");
}

/// One API call between reads, and a check of what it wrote.
fn act(c: &mut WsConn, a: u8, out: &mut Vec<u8>, checker: &mut Checker) {
    let open = !c.is_closed() && !c.close_sent();
    let n = usize::from(a >> 3);
    let before = out.len();
    let (result, expected) = match a & 7 {
        3 => {
            let text = TEXT_UNIT.repeat(n);
            (c.send_text(&text, out), Some((0x81, text.into_bytes())))
        }
        4 | 7 => {
            let len = if a & 7 == 7 { 0 } else { n * 97 };
            let data: Vec<u8> = (0..len).map(|i| (i * i % 251) as u8).collect();
            (c.send_binary(&data, out), Some((0x82, data)))
        }
        5 => {
            let data: Vec<u8> = (0..n * 5).map(|i| i as u8).collect();
            let result = c.send_ping(&data, out);
            assert_eq!(result.is_ok(), open && data.len() <= 125, "ping refusal");
            (result, Some((0x89, data)))
        }
        6 => {
            let code = CLOSE_CODES[n % CLOSE_CODES.len()];
            let reason = "bye 😀".repeat(n);
            let result = c.send_close(code, &reason, out);
            assert_eq!(
                result.is_ok(),
                open && is_valid_close_code(code),
                "close refusal"
            );
            if result.is_ok() {
                assert!(c.close_sent());
                let frames = checker.frames(&out[before..]);
                let [(0x88, payload)] = &frames[..] else {
                    panic!("close wrote {frames:?}")
                };
                assert_eq!(payload[..2], code.to_be_bytes());
                let sent = std::str::from_utf8(&payload[2..]).expect("close reason UTF-8");
                assert!(reason.starts_with(sent) && sent.len() <= 123);
                assert!(
                    sent.len() == reason.len() || sent.len() > 119,
                    "reason cut short"
                );
            }
            return;
        }
        _ => return,
    };
    let frames = checker.frames(&out[before..]);
    if result.is_err() {
        assert!(frames.is_empty(), "a refused send wrote {frames:?}");
        if a & 7 != 5 {
            assert!(!open, "send refused on an open connection");
        }
        return;
    }
    assert!(open, "send accepted after the close");
    let (opcode, data) = expected.expect("a frame");
    let [(b0, payload)] = &frames[..] else {
        panic!("a send wrote {frames:?}")
    };
    assert_eq!(b0 & 0x8F, opcode, "our frame's opcode");
    assert_eq!(payload, &data, "our frame's payload");
    if b0 & 0x40 != 0 {
        let limit = checker.deflate.and_then(|d| d.compress_limit());
        assert!(
            limit.is_none_or(|limit| data.len() <= limit),
            "compressed a message longer than the window"
        );
    }
}

impl Checker {
    /// Parses the frames one call wrote: each well-formed, final, unmasked,
    /// control frames short, RSV1 only on a compressed data frame (whose
    /// payload is replaced by its decompression), nothing after a close.
    fn frames(&mut self, mut out: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        while !out.is_empty() {
            assert!(!self.close_written, "a frame after our close frame");
            assert!(out.len() >= 2, "truncated frame");
            let b0 = out[0];
            assert_eq!(b0 & 0x80, 0x80, "our frames are final");
            assert_eq!(b0 & 0x30, 0, "RSV2/RSV3 set");
            assert_eq!(out[1] & 0x80, 0, "server frame masked");
            let (len, at) = match out[1] & 0x7f {
                126 => (usize::from(u16::from_be_bytes([out[2], out[3]])), 4),
                127 => (
                    usize::try_from(u64::from_be_bytes(out[2..10].try_into().expect("8 bytes")))
                        .expect("length"),
                    10,
                ),
                n => (usize::from(n), 2),
            };
            let minimal = match len {
                0..=125 => 2,
                126..=0xFFFF => 4,
                _ => 10,
            };
            assert_eq!(at, minimal, "non-minimal length");
            assert!(out.len() >= at + len, "truncated frame");
            let mut payload = out[at..at + len].to_vec();
            out = &out[at + len..];
            let opcode = b0 & 0x0F;
            match opcode {
                0x8..=0xA => {
                    assert!(len <= 125, "control frame too long");
                    assert_eq!(b0 & 0x40, 0, "RSV1 on a control frame");
                    self.close_written |= opcode == 0x8;
                }
                0x1 | 0x2 => {
                    if b0 & 0x40 != 0 {
                        payload = self.inflate(&payload);
                    }
                }
                _ => panic!("we sent opcode {opcode}"),
            }
            frames.push((b0, payload));
        }
        frames
    }

    /// Decompresses one of our messages as a client would.
    fn inflate(&mut self, payload: &[u8]) -> Vec<u8> {
        let params = self.deflate.expect("RSV1 without deflate");
        let mut input = payload.to_vec();
        input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
        let mut data = Vec::with_capacity(4 * input.len() + 64);
        let start_in = self.client.total_in();
        loop {
            let used = (self.client.total_in() - start_in) as usize;
            self.client
                .decompress_vec(&input[used..], &mut data, FlushDecompress::Sync)
                .expect("our compressed message inflates");
            let used = (self.client.total_in() - start_in) as usize;
            if used == input.len() && data.len() < data.capacity() {
                break;
            }
            assert!(data.len() <= 64 << 20, "inflates to too much");
            data.reserve(data.capacity().max(1024));
        }
        if params.server_no_context_takeover {
            self.client.reset(false);
        }
        data
    }
}
