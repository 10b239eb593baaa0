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
//!
//! Modules, one job each:
//! - `scan`: finds the end of a request head, enforcing limits and line rules
//!   byte by byte while it is incomplete;
//! - `parse`: request line and field lines into a zero-copy [`RequestHead`];
//!   `target`: the request-target forms; `framing`: what the fields mean
//!   (Content-Length / Transfer-Encoding, Host, keep-alive, Expect);
//! - `body`: Content-Length and chunked decoding;
//! - `response`: response head and body encoding, and [`error_response`];
//! - `conn`: [`ServerConn`], the state machine tying them together;
//! - `date`, `path`, `status`, `syntax`: small helpers.
//!
//! Behaviour choices (where the RFCs leave room; stricter than uvicorn and
//! granian on purpose):
//! - Only CRLF ends a line, in the head and in chunked framing: a bare CR or
//!   LF, a NUL anywhere in the head, obs-fold, whitespace before a field's
//!   colon, and CTLs (other than HTAB) or DEL in a value are all 400.
//! - Up to 8 empty lines before a request line are skipped (RFC 9112 §2.2).
//! - Request target: origin-form; absolute-form `http(s)://` (scheme and
//!   authority dropped, Host still required); `*` only with OPTIONS; CONNECT
//!   and authority-form are 400 (not a proxy); a `#` fragment is 400. The
//!   target is visible ASCII (RFC 9112 §3.2, RFC 3986 §2): raw bytes above
//!   0x7F (an unencoded UTF-8 path) are 400 "Non-ASCII byte in request
//!   target", as in uvicorn and daphne. (This was tolerated before, for
//!   clients that send raw UTF-8; but such a target is not a URI, and the
//!   application would see bytes no percent-encoding produced.) obs-text in
//!   field values stays accepted (RFC 9110 §5.5).
//! - Versions: `HTTP/1.0`, `HTTP/1.1`; `HTTP/1.x` (x > 1) is treated as 1.1
//!   (RFC 9110 §2.5); any other well-formed `HTTP/d.d` is 505; anything else
//!   is 400.
//! - Host: missing in HTTP/1.1, repeated, or with characters outside
//!   `uri-host [":" port]` → 400.
//! - Content-Length: digits only (no sign, list, or inner whitespace);
//!   repeated with the same value is accepted, with different values 400;
//!   `Content-Length: 0` is reported as [`BodyFraming::Empty`].
//! - Transfer-Encoding: with Content-Length, or in HTTP/1.0 → 400; `chunked`
//!   not last or more than once → 400; any other coding before a final
//!   `chunked` (gzip, identity, ...) → 501, since we decode only chunked.
//! - Chunked: 1–16 hex digits, no sign/prefix/whitespace; extensions are
//!   syntax-checked (token or quoted-string values) and ignored; the size
//!   line is limited to 4 KiB. Trailers are bounded like the head
//!   (`max_header_bytes`, `max_headers`), checked, and discarded;
//!   `content-length`, `transfer-encoding` and `host` trailers are 400.
//! - `Expect: 100-continue` is ignored in HTTP/1.0 (RFC 9110 §10.1.1); other
//!   expectations are ignored rather than answered with 417.
//! - End of input: between requests → `Close`; inside a head → 400
//!   "Incomplete request"; inside the body of an unanswered request → 400
//!   "Incomplete request body"; after the response → `Close`. A request
//!   fully received before a half-close is still answered.
//! - Responses: statuses 200–599 only (RFC 9110 §15; ASGI has no interim
//!   1xx); the server's default fields ([`ResponseDefaults`]) come right
//!   after the status line, before the app's (uvicorn's order), and an
//!   app's own `date` or `server` replaces the default one. The app's
//!   `connection` field is interpreted, not copied (`close` closes; we
//!   write the one Connection field); `transfer-encoding` from the app may
//!   only be `chunked` (we frame it, once); a `content-length` in a 204 is
//!   dropped (RFC 9110 §8.6); a short body is a SendError and the
//!   connection closes; a final response sent while a 100-continue body is
//!   still unread (and 100 was not sent) says `connection: close`.

mod body;
mod conn;
mod date;
mod framing;
mod parse;
mod path;
mod response;
mod scan;
mod status;
pub(crate) mod syntax;
mod target;
#[cfg(test)]
mod tests;
mod trailers;

// The body decoder on its own, for the chunked-decoder fuzz driver
// (`crate::fuzzing`, compiled for tests and with the `fuzzing` feature).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use body::{BodyDecoder, BodyEvent};
pub use conn::{HeadWriter, ServerConn};
pub use date::http_date;
pub use path::decode_path;
pub use response::{error_response, FINAL_STATUSES};

use bytes::Bytes;
use std::ops::Range;

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

/// The same values as the front's defaults (`python/pyre_http/config.py`,
/// where the product's defaults live), for tests and embedders.
impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8190,
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

/// How the request body is delimited (RFC 9112 §6.3). `Content-Length: 0`
/// is `Empty`.
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

/// Server-wide response settings. They are written right after the status
/// line, before the application's fields (uvicorn's order): `date`,
/// `server`, then `extra` in the order given.
#[derive(Clone, Debug, Default)]
pub struct ResponseDefaults {
    /// Value of the built-in `server` header, unless the application sends its own.
    pub server: Option<Vec<u8>>,
    /// Whether to add a `date` header (unless the application sends its own).
    pub date: bool,
    /// Extra headers added to every response (`--header NAME:VALUE`),
    /// lower-case names. An extra `server` or `date` is left out when the
    /// application sends its own, like the built-in one.
    pub extra: Vec<(Vec<u8>, Vec<u8>)>,
}

impl ResponseDefaults {
    /// The defaults as configured: the built-in `server` value (`None` when
    /// turned off), whether to send `date`, and the extra headers. An extra
    /// `server` or `date` replaces the built-in one instead of adding a
    /// second field (as uvicorn's `--header` does).
    pub fn new(server: Option<Vec<u8>>, date: bool, extra: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        let configured = |name: &[u8]| extra.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        ResponseDefaults {
            server: server.filter(|_| !configured(b"server")),
            date: date && !configured(b"date"),
            extra,
        }
    }

    /// Appends the default fields to a response head whose application
    /// fields did (`app_date`, `app_server`) or did not name `date` and
    /// `server`; those the application sent itself are left out.
    pub(crate) fn write(&self, app_date: bool, app_server: bool, date: &[u8], out: &mut Vec<u8>) {
        if self.date && !app_date {
            syntax::push_field(out, b"date", date);
        }
        if let (Some(server), false) = (&self.server, app_server) {
            syntax::push_field(out, b"server", server);
        }
        for (name, value) in &self.extra {
            let replaced = (app_date && name.eq_ignore_ascii_case(b"date"))
                || (app_server && name.eq_ignore_ascii_case(b"server"));
            if !replaced {
                syntax::push_field(out, name, value);
            }
        }
    }
}

#[cfg(test)]
#[test]
fn modules_import_each_other_without_cycles() {
    crate::module_graph::assert_acyclic(&[
        ("body", include_str!("body.rs")),
        ("conn", include_str!("conn.rs")),
        ("date", include_str!("date.rs")),
        ("framing", include_str!("framing.rs")),
        ("parse", include_str!("parse.rs")),
        ("path", include_str!("path.rs")),
        ("response", include_str!("response.rs")),
        ("scan", include_str!("scan.rs")),
        ("status", include_str!("status.rs")),
        ("syntax", include_str!("syntax.rs")),
        ("target", include_str!("target.rs")),
    ]);
}
