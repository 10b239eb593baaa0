//! A pretend driver for the tests: builds client frames, feeds them in
//! pieces, and records events in a form that does not depend on how the
//! input was split.

use crate::ws::*;

/// The masking key of RFC 6455 §5.7's examples.
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame with first byte `b0` (FIN, RSV, opcode).
pub fn raw_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![b0];
    push_len(&mut f, 0x80, payload.len());
    f.extend_from_slice(&MASK);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

/// A final, masked client frame.
pub fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(0x80 | opcode, payload)
}

/// An unmasked frame (what a server sends, and a broken client).
pub fn unmasked(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![b0];
    push_len(&mut f, 0, payload.len());
    f.extend_from_slice(payload);
    f
}

fn push_len(f: &mut Vec<u8>, mask_bit: u8, len: usize) {
    if len < 126 {
        f.push(mask_bit | len as u8);
    } else if len <= 0xFFFF {
        f.push(mask_bit | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(mask_bit | 127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// A close frame payload.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// Splits server output into (first byte, payload) frames; asserts that
/// every frame is well formed and unmasked.
pub fn server_frames(mut out: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while !out.is_empty() {
        assert!(out.len() >= 2, "truncated frame");
        assert_eq!(out[1] & 0x80, 0, "server frame masked");
        let (len, at) = match out[1] & 0x7f {
            126 => (u16::from_be_bytes([out[2], out[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(out[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        frames.push((out[0], out[at..at + len].to_vec()));
        out = &out[at + len..];
    }
    frames
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Error(u16),
    Closed,
}

pub fn text(s: &str) -> Ev {
    Ev::Text(s.to_string())
}

#[derive(Debug, PartialEq, Eq)]
pub struct Transcript {
    pub events: Vec<Ev>,
    pub output: Vec<u8>,
}

/// Feeds `input` `step` bytes at a time (then end of input if `eof`) and
/// records events until the input is used up or the connection is over.
pub fn run(config: &WsConfig, input: &[u8], step: usize, eof: bool) -> Transcript {
    let mut c = WsConn::new(config.clone());
    let mut out = Vec::new();
    let mut events = Vec::new();
    let mut fed = 0;
    let mut eof_sent = false;
    for _ in 0..input.len() * 2 + 100 {
        match c.next_event(&mut out) {
            WsEvent::NeedData => {
                assert!(!eof_sent, "NeedData after end of input");
                if fed < input.len() {
                    let n = step.min(input.len() - fed);
                    c.recv_buf().extend_from_slice(&input[fed..fed + n]);
                    fed += n;
                } else if eof {
                    c.recv_eof();
                    eof_sent = true;
                } else {
                    return Transcript {
                        events,
                        output: out,
                    };
                }
            }
            WsEvent::Closed => {
                assert!(c.is_closed());
                events.push(Ev::Closed);
                assert_eq!(c.next_event(&mut out), WsEvent::Closed);
                return Transcript {
                    events,
                    output: out,
                };
            }
            event => {
                let closing = matches!(event, WsEvent::Close { .. } | WsEvent::Error { .. });
                events.push(match event {
                    WsEvent::Text(s) => Ev::Text(s),
                    WsEvent::Binary(b) => Ev::Binary(b.to_vec()),
                    WsEvent::Ping(b) => Ev::Ping(b.to_vec()),
                    WsEvent::Pong(b) => Ev::Pong(b.to_vec()),
                    WsEvent::Close { code, reason } => Ev::Close(code, reason),
                    WsEvent::Error { close_code, .. } => Ev::Error(close_code),
                    WsEvent::NeedData | WsEvent::Closed => unreachable!(),
                });
                assert_eq!(closing, c.is_closed());
            }
        }
    }
    panic!("no end");
}

/// Runs `input` whole and one byte at a time, asserts both agree.
pub fn transcript_with(config: &WsConfig, input: &[u8], eof: bool) -> Transcript {
    let whole = run(config, input, usize::MAX, eof);
    let bytewise = run(config, input, 1, eof);
    assert_eq!(whole, bytewise, "byte-by-byte differs");
    let sevens = run(config, input, 7, eof);
    assert_eq!(whole, sevens, "7 bytes at a time differs");
    whole
}

/// The events for `input` with the default configuration.
pub fn events(input: &[u8]) -> Vec<Ev> {
    transcript_with(&WsConfig::default(), input, false).events
}

pub fn deflate_config(params: DeflateParams) -> WsConfig {
    WsConfig {
        deflate: Some(params),
        ..WsConfig::default()
    }
}

pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}
