//! The connection state machine: frames in, messages out; messages in,
//! frames out; the close handshake.
//!
//! ```text
//!  open ──send_close──▶ closing (our close sent: data dropped, pings unanswered)
//!   │                       │
//!   │ peer's close          │ peer's close
//!   │ (answered at once)    ▼
//!   └─────────────────▶ closed ◀── protocol error, or end of input (Error)
//! ```
//! Data frames are consumed as their bytes arrive (a large message never
//! waits whole in the receive buffer); control frames, at most 125 bytes,
//! are handled once complete.

use super::deflate::{Deflater, InflateError, Inflater};
use super::frame::{
    head_bytes, is_valid_close_code, parse_head, unmask, write_close, write_head, FrameHead,
    MAX_CONTROL_PAYLOAD, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT,
};
use super::{WsConfig, WsEvent};
use crate::http1::SendError;
use bytes::{Buf, Bytes, BytesMut};

/// Room left for a frame header in front of compressed output.
const ROOM: usize = 10;

/// The data frame whose payload is being read.
#[derive(Clone, Copy, Debug)]
struct DataFrame {
    fin: bool,
    mask: [u8; 4],
    remaining: u64,
    /// Mask phase of the next payload byte (position modulo 4).
    phase: usize,
}

/// The data message being assembled (from its first frame to its final one).
struct Message {
    text: bool,
    compressed: bool,
    data: Vec<u8>,
    /// Length of the prefix of `data` known to be valid UTF-8 (text only).
    checked: usize,
    /// Our close was sent: the payload is dropped, no event is produced.
    discard: bool,
}

/// One WebSocket connection's protocol state (server side).
pub struct WsConn {
    config: WsConfig,
    recv: BytesMut,
    eof: bool,
    frame: Option<DataFrame>,
    message: Option<Message>,
    inflater: Option<Inflater>,
    /// Created with the first compressed message we send.
    deflater: Option<Deflater>,
    close_sent: bool,
    /// `Close` or `Error` was reported.
    closed: bool,
}

impl WsConn {
    pub fn new(config: WsConfig) -> Self {
        let inflater = config
            .deflate
            .map(|d| Inflater::new(d.client_no_context_takeover));
        WsConn {
            config,
            recv: BytesMut::new(),
            eof: false,
            frame: None,
            message: None,
            inflater,
            deflater: None,
            close_sent: false,
            closed: false,
        }
    }

    /// The buffer the driver reads socket bytes into (append at the end).
    pub fn recv_buf(&mut self) -> &mut BytesMut {
        &mut self.recv
    }

    /// The peer will send nothing more.
    pub fn recv_eof(&mut self) {
        self.eof = true;
    }

    /// The connection is over: the close handshake completed, or it failed.
    /// The driver closes the socket once `out` is written.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// We sent a close frame (the application's, an answer, or a failure's).
    /// While `!is_closed()` the driver waits for the peer's close, with a
    /// timeout of its own.
    pub fn close_sent(&self) -> bool {
        self.close_sent
    }

    /// The next event; frames the protocol answers by itself (pong, close)
    /// are appended to `out`.
    pub fn next_event(&mut self, out: &mut Vec<u8>) -> WsEvent {
        loop {
            if self.closed {
                return WsEvent::Closed;
            }
            if self.frame.is_some() {
                if let Some(event) = self.read_payload(out) {
                    return event;
                }
                continue;
            }
            let head = match parse_head(&self.recv, self.config.deflate.is_some()) {
                Err(reason) => return self.fail(1002, reason, out),
                Ok(None) => return self.need_data(),
                Ok(Some(head)) => head,
            };
            if head.is_control() {
                // parse_head guarantees len <= 125.
                let len = usize::try_from(head.len).unwrap_or(MAX_CONTROL_PAYLOAD);
                if self.recv.len() < head.header_len + len {
                    return self.need_data();
                }
                self.recv.advance(head.header_len);
                let mut payload = self.recv.split_to(len);
                unmask(&mut payload, head.mask, 0);
                return self.control(head.opcode, payload, out);
            }
            if let Some(event) = self.start_frame(head, out) {
                return event;
            }
        }
    }

    /// Checks a data frame's place in the message sequence and its size,
    /// then starts reading its payload.
    fn start_frame(&mut self, head: FrameHead, out: &mut Vec<u8>) -> Option<WsEvent> {
        let continuation = head.opcode == OP_CONTINUATION;
        match (&self.message, continuation) {
            (None, true) => {
                return Some(self.fail(
                    1002,
                    "continuation frame without a message to continue",
                    out,
                ))
            }
            (Some(_), false) => {
                return Some(self.fail(1002, "new data message inside a fragmented one", out))
            }
            _ => {}
        }
        let message = self.message.get_or_insert(Message {
            text: head.opcode == OP_TEXT,
            compressed: head.compressed,
            data: Vec::new(),
            checked: 0,
            discard: self.close_sent,
        });
        if !message.discard && !message.compressed {
            let total = (message.data.len() as u64).saturating_add(head.len);
            if total > self.config.max_message_size as u64 {
                return Some(self.fail(1009, "message too big", out));
            }
        }
        self.recv.advance(head.header_len);
        self.frame = Some(DataFrame {
            fin: head.fin,
            mask: head.mask,
            remaining: head.len,
            phase: 0,
        });
        None
    }

    /// Consumes what has arrived of the current data frame's payload.
    /// `None`: carry on parsing.
    fn read_payload(&mut self, out: &mut Vec<u8>) -> Option<WsEvent> {
        let mut frame = self.frame?;
        let available = self.recv.len();
        let n = usize::try_from(frame.remaining).map_or(available, |r| r.min(available));
        if n == 0 && frame.remaining > 0 {
            return Some(self.need_data());
        }
        let Some(message) = self.message.as_mut() else {
            // Not reachable: a data frame always belongs to a message.
            self.frame = None;
            return None;
        };
        // Zero-copy path: a whole unfragmented, uncompressed binary message.
        if frame.fin
            && frame.phase == 0
            && n as u64 == frame.remaining
            && !message.text
            && !message.compressed
            && !message.discard
            && message.data.is_empty()
        {
            let mut payload = self.recv.split_to(n);
            unmask(&mut payload, frame.mask, 0);
            self.frame = None;
            self.message = None;
            return Some(WsEvent::Binary(payload.freeze()));
        }
        let max = self.config.max_message_size;
        let chunk = &mut self.recv[..n];
        unmask(chunk, frame.mask, frame.phase);
        let mut result: Result<(), (u16, &'static str)> = Ok(());
        if !message.discard {
            if message.compressed {
                if let Some(inflater) = self.inflater.as_mut() {
                    result = inflater
                        .feed(chunk, &mut message.data, max)
                        .map_err(inflate_failure);
                }
            } else {
                message.data.extend_from_slice(chunk);
            }
            // Also after a decompression failure: invalid UTF-8 inflated
            // before the bad data comes first in the stream, and is what
            // the input fed in smaller pieces would have reported.
            if message.text && !utf8_prefix(&message.data, &mut message.checked, false) {
                result = Err(INVALID_UTF8);
            }
        }
        self.recv.advance(n);
        if let Err((code, reason)) = result {
            return Some(self.fail(code, reason, out));
        }
        frame.remaining -= n as u64;
        frame.phase = (frame.phase + n) % 4;
        if frame.remaining > 0 {
            self.frame = Some(frame);
            return None;
        }
        self.frame = None;
        if !frame.fin {
            return None;
        }
        let mut message = self.message.take()?;
        if message.discard {
            return None;
        }
        if message.compressed {
            if let Some(inflater) = self.inflater.as_mut() {
                if let Err(e) = inflater.finish(&mut message.data, max) {
                    let (code, reason) = inflate_failure(e);
                    return Some(self.fail(code, reason, out));
                }
            }
        }
        if !message.text {
            return Some(WsEvent::Binary(Bytes::from(message.data)));
        }
        let (code, reason) = INVALID_UTF8;
        if !utf8_prefix(&message.data, &mut message.checked, true) {
            return Some(self.fail(code, reason, out));
        }
        match String::from_utf8(message.data) {
            Ok(text) => Some(WsEvent::Text(text)),
            Err(_) => Some(self.fail(code, reason, out)),
        }
    }

    /// Handles a complete control frame.
    fn control(&mut self, opcode: u8, payload: BytesMut, out: &mut Vec<u8>) -> WsEvent {
        match opcode {
            OP_PING => {
                if !self.close_sent {
                    write_head(out, false, OP_PONG, payload.len());
                    out.extend_from_slice(&payload);
                }
                WsEvent::Ping(payload.freeze())
            }
            OP_PONG => WsEvent::Pong(payload.freeze()),
            _ => {
                let (code, reason) = match payload.len() {
                    0 => (None, String::new()),
                    1 => return self.fail(1002, "close frame with a 1-byte payload", out),
                    _ => {
                        let code = u16::from_be_bytes([payload[0], payload[1]]);
                        if !is_valid_close_code(code) {
                            return self.fail(1002, "invalid close code", out);
                        }
                        match std::str::from_utf8(&payload[2..]) {
                            Ok(reason) => (Some(code), reason.to_owned()),
                            Err(_) => return self.fail(1007, "invalid UTF-8 in close reason", out),
                        }
                    }
                };
                if !self.close_sent {
                    write_close(out, code, "");
                    self.close_sent = true;
                }
                self.finish();
                WsEvent::Close { code, reason }
            }
        }
    }

    fn need_data(&mut self) -> WsEvent {
        if !self.eof {
            return WsEvent::NeedData;
        }
        self.finish();
        WsEvent::Error {
            close_code: 1006,
            reason: "connection closed without a close frame",
        }
    }

    /// Fails the connection: our close frame (unless one was sent) and `Error`.
    fn fail(&mut self, close_code: u16, reason: &'static str, out: &mut Vec<u8>) -> WsEvent {
        if !self.close_sent {
            write_close(out, Some(close_code), reason);
            self.close_sent = true;
        }
        self.finish();
        WsEvent::Error { close_code, reason }
    }

    /// The connection is over: release its buffers and compression state.
    fn finish(&mut self) {
        self.closed = true;
        self.recv = BytesMut::new();
        self.frame = None;
        self.message = None;
        self.inflater = None;
        self.deflater = None;
    }

    // ------------------------------------------------------------ sending

    /// Appends a text message (compressed when negotiated) to `out`.
    pub fn send_text(&mut self, text: &str, out: &mut Vec<u8>) -> Result<(), SendError> {
        self.send_data(super::frame::OP_TEXT, text.as_bytes(), out)
    }

    /// Appends a binary message (compressed when negotiated) to `out`.
    pub fn send_binary(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), SendError> {
        self.send_data(super::frame::OP_BINARY, data, out)
    }

    /// Appends a ping (payload at most 125 bytes) to `out`.
    pub fn send_ping(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), SendError> {
        self.check_open()?;
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError("Ping payload over 125 bytes".into()));
        }
        write_head(out, false, OP_PING, payload.len());
        out.extend_from_slice(payload);
        Ok(())
    }

    /// Starts the close handshake: appends our close frame to `out` (the
    /// reason cut to 123 bytes on a character boundary). Incoming data is
    /// dropped from now on; the peer's close ends the connection.
    pub fn send_close(
        &mut self,
        code: u16,
        reason: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        self.check_open()?;
        if !is_valid_close_code(code) {
            return Err(SendError(format!("Invalid WebSocket close code {code}")));
        }
        write_close(out, Some(code), reason);
        self.close_sent = true;
        if let Some(message) = self.message.as_mut() {
            message.discard = true;
            message.data = Vec::new();
        }
        Ok(())
    }

    fn check_open(&self) -> Result<(), SendError> {
        if self.closed {
            Err(SendError("WebSocket connection is closed".into()))
        } else if self.close_sent {
            Err(SendError("WebSocket close already sent".into()))
        } else {
            Ok(())
        }
    }

    fn send_data(
        &mut self,
        opcode: u8,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        self.check_open()?;
        if let Some(params) = self.config.deflate {
            if params
                .compress_limit()
                .is_none_or(|limit| payload.len() <= limit)
            {
                let level = self.config.compression_level;
                let deflater = self
                    .deflater
                    .get_or_insert_with(|| Deflater::new(level, params.server_no_context_takeover));
                // Compress behind room for the longest header, then write
                // the header at the end of that room and drop the rest.
                let start = out.len();
                out.extend_from_slice(&[0; ROOM]);
                if deflater.compress(payload, out) {
                    let (head, n) = head_bytes(true, opcode, out.len() - start - ROOM);
                    out[start + ROOM - n..start + ROOM].copy_from_slice(&head[..n]);
                    out.drain(start..start + ROOM - n);
                    return Ok(());
                }
                out.truncate(start);
            }
        }
        write_head(out, false, opcode, payload.len());
        out.extend_from_slice(payload);
        Ok(())
    }
}

const INVALID_UTF8: (u16, &str) = (1007, "invalid UTF-8 in text message");

fn inflate_failure(e: InflateError) -> (u16, &'static str) {
    match e {
        InflateError::TooBig => (1009, "message too big"),
        InflateError::Corrupt => (1007, "invalid compressed data"),
    }
}

/// Extends `*checked`, the valid UTF-8 prefix of `data`. False when `data`
/// holds an invalid sequence, or (when `complete`) ends inside a character.
fn utf8_prefix(data: &[u8], checked: &mut usize, complete: bool) -> bool {
    let rest = data.get(*checked..).unwrap_or_default();
    match std::str::from_utf8(rest) {
        Ok(_) => {
            *checked = data.len();
            true
        }
        Err(e) if e.error_len().is_none() => {
            *checked += e.valid_up_to();
            !complete
        }
        Err(_) => false,
    }
}
