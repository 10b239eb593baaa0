//! Fuzz driver for the HTTP/1.1 connection (`http1::ServerConn`), driven
//! the way `net` and `asgi` drive it: bytes appended to `recv_buf`,
//! `next_event` until `NeedData`, each request answered with
//! `start_response`/`send_body`, the next pipelined request only after that.
//!
//! Input: `[options, reading, n, sizes[n]..., stream...]`.
//!
//! `options`:
//! - bit 0: small limits (64-byte request line, 128-byte head, 4 fields,
//!   64-byte body, 16/32-byte body and pipeline buffers);
//! - bit 1: answer as soon as the request head arrives, before its body
//!   (the rest of the body is then discarded by the connection);
//! - bit 2: ask for `100 Continue` when the head arrives;
//! - bit 3: send the response body in two pieces, the second at the next
//!   event (with bit 1: while the request body is still being read);
//! - bits 4-5: the first response's kind, then rotating per request:
//!   Content-Length, no length (chunked, or until close in HTTP/1.0), 204,
//!   304;
//! - bit 6: the second response carries `connection: close` from the app;
//! - bit 7: graceful shutdown (`close_after_response`) during the third.
//!
//! `reading`: bit 0: read eagerly (whenever `wants_read` allows, not only
//! on `NeedData`); bit 1: report end of input as soon as the input is used
//! up.
//!
//! Checked: no panic; every run ends; events come in a legal order (a
//! request only after the previous response completed, body events only
//! inside a body and while it is still wanted, `Data` never empty and never
//! more than the Content-Length); `NeedData` only when `wants_read`; after
//! `Close`/`Error` only `Close`; the parsed heads are consistent; and all
//! output parses back as the responses we sent, in order, with the right
//! framing and bodies, `connection: close` exactly when the connection says
//! it will close, and nothing after it. With lazy reading and answers
//! after the body, the events and output must be the same when the stream
//! arrives whole.

use super::{Input, Splitter};
use crate::http1::{
    decode_path, error_response, BodyFraming, Event, Limits, RequestHead, ResponseDefaults,
    ServerConn, Version,
};
use crate::ws::{check_upgrade, reject_response, Upgrade};

/// What the driver wrote, in order, to check the output against.
#[derive(Debug)]
enum Wrote {
    Continue,
    Response {
        status: u16,
        head_request: bool,
        version: Version,
        body: Vec<u8>,
        complete: bool,
    },
    Error(u16),
}

/// The request being answered, as the driver sees it.
struct Current {
    index: usize,
    head_request: bool,
    version: Version,
    path: Vec<u8>,
    framing: BodyFraming,
    /// Body bytes received so far.
    received: u64,
    /// The body has ended (`EndOfBody`).
    body_done: bool,
    /// Index in `log` of the response, once started.
    response: Option<usize>,
    /// The rest of the response body, for a response sent in two steps.
    pending: Option<Vec<u8>>,
}

struct Driver {
    options: u8,
    limits: Limits,
    conn: ServerConn,
    out: Vec<u8>,
    log: Vec<Wrote>,
    current: Option<Current>,
    requests: usize,
    /// The last complete response said `connection: close`.
    said_close: bool,
}

/// What a run produced, for comparing two splits of the same input.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// Method, target, version, fields.
    Request(Vec<u8>, Vec<u8>, Version, Vec<(Vec<u8>, Vec<u8>)>),
    /// Consecutive `Data` merged.
    Body(Vec<u8>),
    End,
    Error(u16, &'static str),
    Close,
}

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let options = input.byte();
    let reading = input.byte();
    let sizes = input.section(16);
    let stream = input.rest();
    let pieces = drive(options, reading, &mut Splitter::new(sizes), stream);
    // With lazy reading and answers after the body, where the input is cut
    // must not matter. (An answer before the body ends it early: how much
    // of it was reported then depends on the pieces.)
    if reading & 1 == 0 && options & 2 == 0 && !sizes.is_empty() {
        let whole = drive(options, reading, &mut Splitter::new(&[]), stream);
        assert_eq!(pieces, whole, "splitting the input changed the outcome");
    }
}

/// Limits small enough that short inputs reach every one of them (the
/// no-panic test uses them too).
pub fn small_limits() -> Limits {
    Limits {
        max_request_line: 64,
        max_header_bytes: 128,
        max_headers: 4,
        max_body: Some(64),
        body_buffer: 16,
        pipeline_buffer: 32,
    }
}

fn drive(options: u8, reading: u8, splitter: &mut Splitter, stream: &[u8]) -> (Vec<Seen>, Vec<u8>) {
    let limits = if options & 1 != 0 {
        small_limits()
    } else {
        Limits::default()
    };
    let mut d = Driver {
        options,
        conn: ServerConn::new(limits.clone()),
        limits,
        out: Vec::new(),
        log: Vec::new(),
        current: None,
        requests: 0,
        said_close: false,
    };
    let mut seen = Vec::new();
    let mut fed = 0;
    let mut eof = false;
    let eager = reading & 1 != 0;
    let eager_eof = reading & 2 != 0;
    // Every event but NeedData consumes input or moves the exchange on.
    let bound = 8 * stream.len() + 100;
    for _ in 0..bound {
        if eager && fed < stream.len() && d.conn.wants_read(0) {
            let n = splitter.next_len(stream.len() - fed);
            d.conn.recv_buf().extend_from_slice(&stream[fed..fed + n]);
            fed += n;
        }
        if eager_eof && fed == stream.len() && !eof {
            d.conn.recv_eof();
            eof = true;
        }
        match d.conn.next_event() {
            Event::NeedData => {
                assert!(!eof, "NeedData after end of input");
                assert!(d.conn.wants_read(0), "NeedData but wants_read is false");
                if fed < stream.len() {
                    let n = splitter.next_len(stream.len() - fed);
                    d.conn.recv_buf().extend_from_slice(&stream[fed..fed + n]);
                    fed += n;
                } else {
                    d.conn.recv_eof();
                    eof = true;
                }
            }
            Event::Request(head) => {
                seen.push(Seen::Request(
                    head.method().to_vec(),
                    head.target().to_vec(),
                    head.version,
                    head.headers()
                        .map(|(n, v)| (n.to_vec(), v.to_vec()))
                        .collect(),
                ));
                d.request(&head);
            }
            Event::Data(data) => {
                assert!(!data.is_empty(), "empty Data");
                match seen.last_mut() {
                    Some(Seen::Body(body)) => body.extend_from_slice(&data),
                    _ => seen.push(Seen::Body(data.to_vec())),
                }
                let cur = d.current.as_mut().expect("Data without a request");
                assert!(!cur.body_done, "Data after EndOfBody");
                cur.received += data.len() as u64;
                match cur.framing {
                    BodyFraming::Empty => panic!("Data for an empty body"),
                    BodyFraming::Length(n) => {
                        assert!(cur.received <= n, "more than Content-Length")
                    }
                    BodyFraming::Chunked => {}
                }
                if let Some(max) = d.limits.max_body {
                    assert!(cur.received <= max, "body over max_body");
                }
                assert!(
                    !d.response_complete(),
                    "Data after the response completed (should be discarded)"
                );
                d.progress();
            }
            Event::EndOfBody => {
                let cur = d.current.as_mut().expect("EndOfBody without a request");
                assert!(!cur.body_done, "EndOfBody twice");
                cur.body_done = true;
                seen.push(Seen::End);
                match cur.framing {
                    BodyFraming::Empty => assert_eq!(cur.received, 0),
                    BodyFraming::Length(n) => assert_eq!(cur.received, n, "short body ended"),
                    BodyFraming::Chunked => {}
                }
                assert!(
                    !d.response_complete(),
                    "EndOfBody after the response completed"
                );
                d.progress();
            }
            Event::AwaitingResponse => {
                let cur = d
                    .current
                    .as_ref()
                    .expect("AwaitingResponse without a request");
                assert!(cur.body_done, "AwaitingResponse before EndOfBody");
                assert!(
                    !d.response_complete(),
                    "AwaitingResponse with the response done"
                );
                d.begin();
                d.complete();
                assert!(d.conn.response_complete());
            }
            event @ (Event::Close | Event::Error(_)) => {
                if let Event::Error(e) = &event {
                    seen.push(Seen::Error(e.status, e.reason));
                    assert!((400..=599).contains(&e.status), "{e:?}");
                    if !d.conn.response_started() {
                        error_response(e, &mut d.out);
                        d.log.push(Wrote::Error(e.status));
                    }
                } else {
                    seen.push(Seen::Close);
                    assert!(
                        d.conn.response_complete(),
                        "Close with a response unfinished"
                    );
                }
                for _ in 0..3 {
                    assert!(
                        matches!(d.conn.next_event(), Event::Close),
                        "alive after the end"
                    );
                }
                assert!(
                    d.conn.start_response(200).is_err(),
                    "response after the end"
                );
                assert!(!d.conn.wants_read(0), "wants to read after the end");
                check_output(&d.out, &d.log);
                return (seen, d.out);
            }
        }
    }
    panic!("no end after {bound} events");
}

impl Driver {
    fn response_complete(&self) -> bool {
        self.current
            .as_ref()
            .and_then(|c| c.response)
            .is_some_and(|i| matches!(self.log[i], Wrote::Response { complete: true, .. }))
    }

    fn request(&mut self, head: &RequestHead) {
        if let Some(prev) = &self.current {
            assert!(
                prev.response.is_some() && self.response_complete(),
                "a new request before the previous response completed"
            );
        }
        assert!(!self.said_close, "a new request after connection: close");
        check_head(head);
        // The bridge classifies every head; exercise the handshake code.
        websocket_handshake(head);
        self.current = Some(Current {
            index: self.requests,
            head_request: head.is_head(),
            version: head.version,
            path: head.path().to_vec(),
            framing: head.framing,
            received: 0,
            body_done: false,
            response: None,
            pending: None,
        });
        self.requests += 1;
        if self.options & 4 != 0 {
            let before = self.out.len();
            self.conn.send_continue(&mut self.out);
            if self.out.len() > before {
                assert_eq!(&self.out[before..], b"HTTP/1.1 100 Continue\r\n\r\n");
                self.log.push(Wrote::Continue);
            }
        }
        if self.options & 2 != 0 {
            self.begin();
        }
    }

    /// On a body event: the second piece of a response sent in two steps.
    fn progress(&mut self) {
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.response.is_some() && c.pending.is_some())
        {
            self.complete();
        }
    }

    /// Starts the response (once) and sends all of its body, or the first
    /// piece when it goes in two steps.
    fn begin(&mut self) {
        let options = self.options;
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        if cur.response.is_some() {
            return;
        }
        let kind = ((options >> 4) as usize + cur.index) % 4;
        let status = match kind {
            2 => 204,
            3 => 304,
            _ => 200,
        };
        let mut body = cur.path.clone();
        body.truncate(40);
        body.extend(std::iter::repeat_n(b'!', cur.index % 3 * 7));
        if cur.index % 4 == 3 {
            body.clear();
        }
        if options & 0x80 != 0 && cur.index == 2 {
            self.conn.close_after_response();
        }
        let app_close = options & 0x40 != 0 && cur.index == 1;
        let length = body.len().to_string();
        let start = self.out.len();
        let mut w = self.conn.start_response(status).expect("start_response");
        w.header(b"content-type", b"text/plain").expect("header");
        match kind {
            0 | 3 => w
                .header(b"Content-Length", length.as_bytes())
                .expect("header"),
            1 if cur.index % 2 == 1 => w.header(b"transfer-encoding", b"chunked").expect("header"),
            _ => {}
        }
        if app_close {
            w.header(b"connection", b"close").expect("header");
        }
        w.finish(&ResponseDefaults::default(), b"", &mut self.out)
            .expect("finish");
        let head = &self.out[start..];
        assert!(head.ends_with(b"\r\n\r\n"));
        let closing = contains(head, b"\r\nconnection: close\r\n");
        assert_eq!(
            closing,
            self.conn.will_close(),
            "connection: close in the head disagrees with will_close"
        );
        assert!(self.conn.response_started());
        cur.response = Some(self.log.len());
        self.log.push(Wrote::Response {
            status,
            head_request: cur.head_request,
            version: cur.version,
            body: Vec::new(),
            complete: false,
        });
        if options & 8 != 0 {
            let rest = body.split_off(body.len() / 2);
            cur.pending = Some(rest);
            self.send(&body, true);
        } else {
            cur.pending = Some(body);
            self.complete();
        }
    }

    /// Sends what is left of the response body and ends the response.
    fn complete(&mut self) {
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        if let Some(rest) = cur.pending.take() {
            self.send(&rest, false);
            self.said_close = self.conn.will_close();
        }
    }

    fn send(&mut self, data: &[u8], more: bool) {
        let index = self
            .current
            .as_ref()
            .and_then(|c| c.response)
            .expect("a started response");
        self.conn
            .send_body(data, more, &mut self.out)
            .expect("send_body");
        let Wrote::Response { body, complete, .. } = &mut self.log[index] else {
            unreachable!()
        };
        body.extend_from_slice(data);
        *complete = !more;
        assert_eq!(self.conn.response_complete(), !more);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What every parsed head must look like.
fn check_head(head: &RequestHead) {
    let method = head.method();
    assert!(!method.is_empty());
    assert!(method.iter().all(|&b| b.is_ascii_graphic()));
    assert!(!head.target().is_empty());
    assert!(!head.path().is_empty(), "empty path");
    let _ = head.query();
    let _ = decode_path(head.path());
    let mut hosts = 0;
    for (name, value) in head.headers() {
        assert!(!name.is_empty());
        assert!(
            name.iter()
                .all(|&b| b.is_ascii_graphic() && !b.is_ascii_uppercase()),
            "field name not a lower-case token: {name:?}"
        );
        assert!(
            !value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)),
            "CR, LF or NUL in a value"
        );
        assert!(
            !value.first().is_some_and(|&b| b == b' ' || b == b'\t')
                && !value.last().is_some_and(|&b| b == b' ' || b == b'\t'),
            "value not trimmed"
        );
        hosts += usize::from(name == b"host");
    }
    match head.version {
        Version::Http11 => assert_eq!(hosts, 1, "HTTP/1.1 needs exactly one Host"),
        Version::Http10 => assert!(hosts <= 1),
    }
    if head.framing == BodyFraming::Chunked {
        assert_eq!(head.version, Version::Http11);
    }
}

/// What the bridge does with a head that asks for a WebSocket.
fn websocket_handshake(head: &RequestHead) {
    let mut out = Vec::new();
    match check_upgrade(head.method(), head.version, head.headers()) {
        Upgrade::NotWebSocket => return,
        Upgrade::Invalid(err) => reject_response(&err, &mut out),
        Upgrade::WebSocket(offer) => {
            let deflate = offer.negotiate_deflate();
            let proto = offer.subprotocols.first().map(String::as_str);
            let w = offer.accept(proto).expect("accept an offered subprotocol");
            w.finish(
                deflate.as_ref(),
                &ResponseDefaults::default(),
                b"",
                &mut out,
            );
        }
    }
    assert!(out.ends_with(b"\r\n\r\n") || out.ends_with(b"\n"));
}

/// Parses `out` back into responses and compares them with `log`.
fn check_output(out: &[u8], log: &[Wrote]) {
    let mut rest = out;
    for (i, wrote) in log.iter().enumerate() {
        let last = i + 1 == log.len();
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        let n = match response.parse(rest) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("response {i} ({wrote:?}) does not parse: {other:?}"),
        };
        assert_eq!(response.version, Some(1));
        let status = response.code.expect("status");
        let field = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        let close = field("connection") == Some(b"close");
        let length = field("content-length").map(|v| {
            std::str::from_utf8(v)
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .expect("content-length")
        });
        let chunked = field("transfer-encoding").is_some();
        assert!(!(chunked && length.is_some()), "both framings");
        rest = &rest[n..];
        match wrote {
            Wrote::Continue => {
                assert_eq!(status, 100);
                assert_eq!(n, 25);
            }
            Wrote::Error(expected) => {
                assert_eq!(status, *expected);
                assert!(close && last, "error response not last, or not closing");
                let length = length.expect("error response length");
                assert_eq!(rest.len(), length, "error response body");
                rest = &[];
            }
            Wrote::Response {
                status: expected,
                head_request,
                version,
                body,
                complete,
            } => {
                assert_eq!(status, *expected);
                if close || !complete {
                    assert!(last, "response {i} closes, yet more follows");
                }
                if *version == Version::Http10 && !close {
                    assert_eq!(field("connection"), Some(&b"keep-alive"[..]));
                }
                if status == 204 {
                    assert!(length.is_none() && !chunked, "framing in a 204");
                }
                let sent: Vec<u8>;
                if *head_request || status == 204 || status == 304 {
                    sent = Vec::new();
                } else if chunked {
                    assert_eq!(field("transfer-encoding"), Some(&b"chunked"[..]));
                    let (decoded, used, ended) = dechunk(rest);
                    assert_eq!(ended, *complete, "chunked response end");
                    sent = decoded;
                    rest = &rest[used..];
                } else if let Some(length) = length {
                    let take = length.min(rest.len());
                    assert!(take == length || !complete, "short Content-Length body");
                    sent = rest[..take].to_vec();
                    rest = &rest[take..];
                } else {
                    assert!(*version == Version::Http10 && close, "no framing");
                    sent = rest.to_vec();
                    rest = &[];
                }
                if !(*head_request || status == 204 || status == 304) {
                    assert_eq!(&sent, body, "response {i} body");
                }
            }
        }
    }
    assert!(
        rest.is_empty(),
        "unexplained output: {:?}",
        String::from_utf8_lossy(rest)
    );
}

/// Decodes our own chunked output: (body, bytes used, final chunk seen).
fn dechunk(s: &[u8]) -> (Vec<u8>, usize, bool) {
    let mut body = Vec::new();
    let mut at = 0;
    while at < s.len() {
        let eol = at
            + s[at..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("chunk size line");
        let size = std::str::from_utf8(&s[at..eol])
            .ok()
            .and_then(|h| usize::from_str_radix(h, 16).ok())
            .expect("chunk size");
        at = eol + 2;
        if size == 0 {
            assert_eq!(&s[at..at + 2], b"\r\n", "chunked end");
            return (body, at + 2, true);
        }
        assert!(size > 0 && at + size + 2 <= s.len(), "truncated chunk");
        body.extend_from_slice(&s[at..at + size]);
        assert_eq!(&s[at + size..at + size + 2], b"\r\n");
        at += size + 2;
    }
    (body, at, false)
}
