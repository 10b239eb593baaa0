//! HTTP/1.1 server side as a sans-IO state machine (RFC 9112).
//!
//! Bytes go in through [`ServerConn::recv_buf`], events come out of
//! [`ServerConn::next_event`], and response bytes are appended to a caller's
//! `Vec<u8>`. Nothing here does I/O or touches Python: the driver (`net`)
//! moves bytes and the bridge (`asgi`) turns events into ASGI messages.
//!
//! CONTRACT (fixed; the driver and bridge are written against it): the public
//! items below keep these names and signatures. Internals may be split into
//! submodules and re-exported from here.

use bytes::{Bytes, BytesMut};
use std::ops::Range;
use std::time::SystemTime;

/// Every bound on what a client may send. Each one answers with its own status.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Longest request line (method, target, version) in bytes: 414 beyond it.
    pub max_request_line: usize,
    /// Largest header block (all field lines, without the request line): 431.
    pub max_header_bytes: usize,
    /// Most header fields in one request: 431.
    pub max_headers: usize,
    /// Largest request body; `None` for no limit: 413.
    pub max_body: Option<u64>,
    /// Body bytes buffered for the application before reading pauses.
    pub body_buffer: usize,
    /// Bytes of not-yet-parsed input (pipelined requests) held before reading pauses.
    pub pipeline_buffer: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_body: Some(1 << 30),
            body_buffer: 64 * 1024,
            pipeline_buffer: 64 * 1024,
        }
    }
}

/// Why a request was refused: the status to answer and a short plain-text reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError {
    pub status: u16,
    pub reason: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    /// "1.0" or "1.1", as ASGI's `http_version` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "1.0",
            Version::Http11 => "1.1",
        }
    }
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    Empty,
    Length(u64),
    Chunked,
}

/// A parsed request head. Slices point into `raw`, the head's own bytes, so
/// parsing allocates one `Bytes` and a small vector of ranges.
#[derive(Clone, Debug)]
pub struct RequestHead {
    pub raw: Bytes,
    pub method: Range<usize>,
    /// The request target as sent (origin-form or absolute-form).
    pub target: Range<usize>,
    /// Path part of the target, still percent-encoded; for absolute-form the
    /// scheme and authority are stripped. Never empty ("/" at least), except
    /// for asterisk-form where it is "*".
    pub path: Range<usize>,
    /// Query after '?', without it; empty when there is none. No fragment.
    pub query: Range<usize>,
    pub version: Version,
    /// Field names are lower-cased; values have surrounding whitespace
    /// trimmed. Order and duplicates are kept.
    pub headers: Vec<(Range<usize>, Range<usize>)>,
    pub framing: BodyFraming,
    /// Whether the connection may stay open after this exchange as far as the
    /// request is concerned (version default and `Connection` tokens).
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
}

impl RequestHead {
    pub fn method(&self) -> &[u8] {
        &self.raw[self.method.clone()]
    }
    pub fn target(&self) -> &[u8] {
        &self.raw[self.target.clone()]
    }
    pub fn path(&self) -> &[u8] {
        &self.raw[self.path.clone()]
    }
    pub fn query(&self) -> &[u8] {
        &self.raw[self.query.clone()]
    }
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.headers
            .iter()
            .map(move |(n, v)| (&self.raw[n.clone()], &self.raw[v.clone()]))
    }
    pub fn is_head(&self) -> bool {
        self.method() == b"HEAD"
    }
}

/// What the connection has for its user next.
#[derive(Debug)]
pub enum Event {
    /// A new request. Only produced once the previous response is complete.
    Request(RequestHead),
    /// A piece of the current request's body (never empty).
    Data(Bytes),
    /// The current request's body is complete.
    EndOfBody,
    /// Nothing to do until more bytes arrive (see `wants_read`).
    NeedData,
    /// The current request is fully read; the next one waits until the
    /// response is complete.
    AwaitingResponse,
    /// The peer closed cleanly between requests, or the connection must close
    /// now (after `Connection: close` or an HTTP/1.0 exchange completed).
    Close,
    /// The input is malformed or over a limit. The caller writes
    /// `error_response(&err)` (unless a response already started) and closes.
    Error(ProtocolError),
}

/// Mistakes in what the application asked to send. The message is shown to
/// the application as an exception.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendError(pub String);

/// Server-wide response settings.
#[derive(Clone, Debug, Default)]
pub struct ResponseDefaults {
    /// Value of the `server` header, unless the application sends its own.
    pub server: Option<Vec<u8>>,
    /// Whether to add a `date` header (unless the application sends its own).
    pub date: bool,
    /// Extra headers added to every response (`--header NAME:VALUE`), lower-case names.
    pub extra: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Writes the response head field by field, so that the caller can pass
/// header slices borrowed from Python objects without collecting them.
pub struct HeadWriter<'c> {
    _conn: &'c mut ServerConn,
}

impl<'c> HeadWriter<'c> {
    /// Validates (token name, no CR/LF/NUL in value) and appends one field.
    /// Names may come in any case; they are written as given.
    pub fn header(&mut self, name: &[u8], value: &[u8]) -> Result<(), SendError> {
        let _ = (name, value);
        todo!()
    }
    /// Ends the head: adds date/server/extra/connection/framing headers,
    /// writes everything to `out` and arms the body encoder.
    pub fn finish(self, defaults: &ResponseDefaults, date: &[u8], out: &mut Vec<u8>) -> Result<(), SendError> {
        let _ = (defaults, date, out);
        todo!()
    }
}

/// One connection's protocol state: request parsing, body decoding,
/// response encoding, keep-alive and pipelining.
pub struct ServerConn {
    _private: (),
}

impl ServerConn {
    pub fn new(limits: Limits) -> Self {
        let _ = limits;
        todo!()
    }

    /// The buffer the driver reads socket bytes into (append at the end).
    pub fn recv_buf(&mut self) -> &mut BytesMut {
        todo!()
    }

    /// Whether the driver should read more now: false while enough body is
    /// buffered for the application or enough pipelined input waits.
    /// `body_buffered` is how many body bytes the bridge holds unconsumed.
    pub fn wants_read(&self, body_buffered: usize) -> bool {
        let _ = body_buffered;
        todo!()
    }

    /// The peer closed its sending side.
    pub fn recv_eof(&mut self) {
        todo!()
    }

    /// Advances the parser over buffered input.
    pub fn next_event(&mut self) -> Event {
        todo!()
    }

    /// If the current request expects 100-continue and neither the body nor
    /// the response has started, appends `HTTP/1.1 100 Continue` (once).
    pub fn send_continue(&mut self, out: &mut Vec<u8>) {
        let _ = out;
        todo!()
    }

    /// Starts the response to the current request. Fails (SendError) if one
    /// started already, no request is in progress, or `status` is not in
    /// 200..=999: ASGI has no message for interim 1xx responses, and a 1xx
    /// sent as the final response would leave the client waiting.
    /// The returned writer takes the fields.
    pub fn start_response(&mut self, status: u16) -> Result<HeadWriter<'_>, SendError> {
        let _ = status;
        todo!()
    }

    /// Appends body bytes (chunk-framed when chunked; dropped for HEAD,
    /// 204, 304). `more == false` ends the response; afterwards the
    /// connection is ready for the next request (or will report `Close`).
    /// Errors: no response started, response already complete, more bytes
    /// than the declared Content-Length, or fewer at the end.
    pub fn send_body(&mut self, data: &[u8], more: bool, out: &mut Vec<u8>) -> Result<(), SendError> {
        let _ = (data, more, out);
        todo!()
    }

    /// A response head has been written for the current request.
    pub fn response_started(&self) -> bool {
        todo!()
    }

    /// The current response is complete (or no request is in progress).
    pub fn response_complete(&self) -> bool {
        todo!()
    }

    /// The connection will close once the current response is written
    /// (client asked, HTTP/1.0 without keep-alive, app sent `connection: close`,
    /// body left unread after an unanswered 100-continue, or `close_after_response`).
    pub fn will_close(&self) -> bool {
        todo!()
    }

    /// Makes the current exchange the last one (graceful shutdown): the
    /// response carries `connection: close` if it has not started.
    pub fn close_after_response(&mut self) {
        todo!()
    }

    /// No request in progress and no partial request buffered.
    pub fn is_idle(&self) -> bool {
        todo!()
    }
}

/// The complete response for a rejected request: status line, `content-type:
/// text/plain; charset=utf-8`, `content-length`, `connection: close`, and the
/// reason followed by a newline as the body.
pub fn error_response(err: &ProtocolError, out: &mut Vec<u8>) {
    let _ = (err, out);
    todo!()
}

/// IMF-fixdate for a `date` header, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(now: SystemTime) -> [u8; 29] {
    let _ = now;
    todo!()
}

/// Percent-decodes a request path for ASGI's `path` (invalid UTF-8 becomes
/// U+FFFD, as Python's `urllib.parse.unquote` does).
pub fn decode_path(raw_path: &[u8]) -> String {
    let _ = raw_path;
    todo!()
}
