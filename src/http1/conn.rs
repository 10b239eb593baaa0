//! The connection state machine (after h11): one exchange at a time, the
//! next pipelined request parsed only once the current response is complete.
//!
//! ```text
//!  idle ──head──▶ body ──EndOfBody──▶ awaiting response ──response done──▶ idle
//!                   │                                                     ▲
//!                   └── response done first: rest of body discarded ──────┘
//! ```
//! Any error, or a close decided by either side, ends the connection: from
//! then on every `next_event` is `Close`.

use super::body::{BodyDecoder, BodyEvent};
use super::parse::parse_head;
use super::response::{RequestContext, ResponseEncoder};
use super::scan::HeadScanner;
use super::syntax::list_elements;
use super::trailers::{check_link, write_early_hints};
use super::{Event, Limits, ProtocolError, RequestHead, ResponseDefaults, SendError, Version};
use bytes::BytesMut;

/// The request being answered.
#[derive(Debug)]
struct Exchange {
    version: Version,
    is_head: bool,
    keep_alive: bool,
    expect_continue: bool,
    continue_sent: bool,
    body: BodyDecoder,
    /// Latched when the response head said `connection: close`.
    must_close: bool,
    /// The request's `TE` lists `trailers`: the client reads a trailer
    /// section.
    te_trailers: bool,
}

impl Exchange {
    /// The client waits for 100 Continue before sending a body we have not
    /// read: if a final response goes out instead, the client may or may not
    /// send the body (RFC 9110 §10.1.1), so the connection cannot be reused.
    fn continue_unanswered(&self) -> bool {
        self.expect_continue && !self.continue_sent && !self.body.is_done()
    }
}

/// One connection's protocol state: request parsing, body decoding,
/// response encoding, keep-alive and pipelining.
pub struct ServerConn {
    limits: Limits,
    recv: BytesMut,
    scanner: HeadScanner,
    exchange: Option<Exchange>,
    response: ResponseEncoder,
    /// The peer will send nothing more.
    eof: bool,
    /// `Close` or `Error` was reported: the connection is over.
    closed: bool,
    /// `close_after_response` was called.
    shutdown: bool,
}

/// Writes the response head field by field, so that the caller can pass
/// header slices borrowed from Python objects without collecting them.
pub struct HeadWriter<'c> {
    conn: &'c mut ServerConn,
}

impl<'c> HeadWriter<'c> {
    /// Validates (token name, no CR/LF/NUL in value) and appends one field.
    /// Names may come in any case; they are written as given.
    ///
    /// `content-length` must be digits (two different values fail);
    /// `transfer-encoding` may only be `chunked` and is not written twice;
    /// `connection` is not copied: `close` in it makes the connection close
    /// and the head carries our own `connection` field.
    pub fn header(&mut self, name: &[u8], value: &[u8]) -> Result<(), SendError> {
        self.conn.response.header(name, value)
    }

    /// Trailers will follow the body (`send_trailer`, `end_trailers`):
    /// written as the chunked trailer section when the client sent
    /// `TE: trailers` and the body is chunked, else checked and dropped.
    pub fn announce_trailers(&mut self) {
        self.conn.response.announce_trailers();
    }

    /// Ends the head: writes the status line, the server's defaults
    /// (date/server/extra), the application's fields, then connection and
    /// framing fields to `out`, and arms the body encoder.
    pub fn finish(
        self,
        defaults: &ResponseDefaults,
        date: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        let conn = self.conn;
        let closing = conn.will_close();
        let Some(exchange) = conn.exchange.as_mut() else {
            return Err(SendError("No request in progress".into()));
        };
        let request = RequestContext {
            version: exchange.version,
            is_head: exchange.is_head,
            te_trailers: exchange.te_trailers,
            closing,
        };
        if conn.response.finish(&request, defaults, date, out)? {
            exchange.must_close = true;
        }
        Ok(())
    }
}

impl ServerConn {
    pub fn new(limits: Limits) -> Self {
        ServerConn {
            limits,
            recv: BytesMut::new(),
            scanner: HeadScanner::default(),
            exchange: None,
            response: ResponseEncoder::new(),
            eof: false,
            closed: false,
            shutdown: false,
        }
    }

    /// The buffer the driver reads socket bytes into (append at the end).
    pub fn recv_buf(&mut self) -> &mut BytesMut {
        &mut self.recv
    }

    /// Whether the driver should read more now: false while enough body is
    /// buffered for the application or enough pipelined input waits.
    /// `body_buffered` is how many body bytes the bridge holds unconsumed.
    ///
    /// Never false while a head or body is incomplete and nobody else can
    /// make progress: the limits only pause reading while the application
    /// holds data it will consume, or a response is being produced.
    pub fn wants_read(&self, body_buffered: usize) -> bool {
        if self.closed || self.eof {
            return false;
        }
        match &self.exchange {
            None => true,
            // The response is done: the rest of the body (if any) is read
            // to be discarded, then the next request.
            Some(_) if self.response.is_done() => true,
            Some(ex) if !ex.body.is_done() => body_buffered < self.limits.body_buffer,
            // Awaiting the response: pipelined input waits, within bounds.
            Some(_) => self.recv.len() < self.limits.pipeline_buffer,
        }
    }

    /// The peer closed its sending side.
    pub fn recv_eof(&mut self) {
        self.eof = true;
    }

    /// Advances the parser over buffered input.
    ///
    /// At end of input: between requests → `Close`; inside a request head or
    /// an unanswered request's body → `Error(400)` (a half-closed client may
    /// still read the answer); inside a body already answered → `Close`. A
    /// request fully received before the end is still answered.
    pub fn next_event(&mut self) -> Event {
        if self.closed {
            return Event::Close;
        }
        loop {
            let Some(exchange) = self.exchange.as_mut() else {
                return self.next_request();
            };
            let response_done = self.response.is_done();
            if response_done
                && (self.shutdown
                    || !exchange.keep_alive
                    || exchange.must_close
                    || self.response.wants_close()
                    || exchange.continue_unanswered())
            {
                return self.close();
            }
            if !exchange.body.is_done() {
                match exchange.body.decode(&mut self.recv) {
                    Err(e) => return self.fail(e),
                    Ok(BodyEvent::NeedData) if self.eof && response_done => return self.close(),
                    Ok(BodyEvent::NeedData) if self.eof => {
                        return self.fail(ProtocolError {
                            status: 400,
                            reason: "Incomplete request body",
                        });
                    }
                    Ok(BodyEvent::NeedData) => return Event::NeedData,
                    // After the response, what is left of the body is read
                    // only to find the next request.
                    Ok(BodyEvent::Data(_)) | Ok(BodyEvent::End) if response_done => continue,
                    Ok(BodyEvent::Data(data)) => return Event::Data(data),
                    Ok(BodyEvent::End) => return Event::EndOfBody,
                }
            }
            if !response_done {
                return Event::AwaitingResponse;
            }
            self.exchange = None;
        }
    }

    fn next_request(&mut self) -> Event {
        if self.shutdown {
            return self.close();
        }
        let bounds = match self.scanner.scan(&self.recv, &self.limits) {
            Err(e) => return self.fail(e),
            Ok(Some(bounds)) => bounds,
            Ok(None) if self.eof && self.recv.is_empty() => return self.close(),
            Ok(None) if self.eof => {
                return self.fail(ProtocolError {
                    status: 400,
                    reason: "Incomplete request",
                });
            }
            Ok(None) => return Event::NeedData,
        };
        self.scanner.reset();
        match parse_head(&mut self.recv, bounds, &self.limits) {
            Err(e) => self.fail(e),
            Ok(head) => {
                self.exchange = Some(Exchange {
                    version: head.version,
                    is_head: head.is_head(),
                    keep_alive: head.keep_alive,
                    expect_continue: head.expect_continue,
                    continue_sent: false,
                    body: BodyDecoder::new(head.framing, &self.limits),
                    must_close: false,
                    te_trailers: accepts_trailers(&head),
                });
                self.response.reset();
                Event::Request(head)
            }
        }
    }

    fn close(&mut self) -> Event {
        self.closed = true;
        Event::Close
    }

    fn fail(&mut self, err: ProtocolError) -> Event {
        self.closed = true;
        Event::Error(err)
    }

    /// If the current request expects 100-continue and neither the body nor
    /// the response has started, appends `HTTP/1.1 100 Continue` (once).
    pub fn send_continue(&mut self, out: &mut Vec<u8>) {
        if self.closed || self.response.started() {
            return;
        }
        if let Some(exchange) = self.exchange.as_mut() {
            if exchange.continue_unanswered() {
                out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                exchange.continue_sent = true;
            }
        }
    }

    /// Starts the response to the current request. Fails (SendError) if one
    /// started already, no request is in progress, or `status` is not in
    /// 200..=599: RFC 9110 §15 has no status above 599, ASGI has no message
    /// for interim 1xx responses, and a 1xx sent as the final response would
    /// leave the client waiting.
    /// The returned writer takes the fields.
    pub fn start_response(&mut self, status: u16) -> Result<HeadWriter<'_>, SendError> {
        if self.exchange.is_none() {
            return Err(SendError("No request in progress".into()));
        }
        if self.closed {
            return Err(SendError("Connection is closed".into()));
        }
        self.response.start(status)?;
        Ok(HeadWriter { conn: self })
    }

    /// Appends body bytes (chunk-framed when chunked; dropped for HEAD,
    /// 204, 304). `more == false` ends the response; afterwards the
    /// connection is ready for the next request (or will report `Close`).
    /// Errors: no response started, response already complete, more bytes
    /// than the declared Content-Length, or fewer at the end (the response
    /// then counts as complete and the connection closes).
    pub fn send_body(
        &mut self,
        data: &[u8],
        more: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        if self.exchange.is_none() {
            return Err(SendError("No request in progress".into()));
        }
        self.response.body(data, more, out)
    }

    /// The response's body goes nowhere (HEAD, 204, 304): nothing needs
    /// to be read to produce it.
    pub fn discards_body(&self) -> bool {
        self.exchange.is_some() && self.response.discards_body()
    }

    /// Frames `len` body bytes the caller sends itself right after `out`
    /// (a file): see `ResponseEncoder::external_body`. `None`: send none.
    pub fn send_external_body(
        &mut self,
        len: u64,
        out: &mut Vec<u8>,
    ) -> Result<Option<&'static [u8]>, SendError> {
        if self.exchange.is_none() {
            return Err(SendError("No request in progress".into()));
        }
        self.response.external_body(len, out)
    }

    /// One trailer field, after the body of a response that announced
    /// trailers. Forbidden fields (framing, routing, ...) fail.
    pub fn send_trailer(
        &mut self,
        name: &[u8],
        value: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        if self.exchange.is_none() {
            return Err(SendError("No request in progress".into()));
        }
        self.response.trailer(name, value, out)
    }

    /// Ends the trailer section unless `more`; the response is then
    /// complete.
    pub fn end_trailers(&mut self, more: bool, out: &mut Vec<u8>) -> Result<(), SendError> {
        if self.exchange.is_none() {
            return Err(SendError("No request in progress".into()));
        }
        self.response.end_trailers(more, out)
    }

    /// `103 Early Hints` with the given `Link` values, before the response
    /// starts. Returns false, writing nothing, for an HTTP/1.0 client (it
    /// cannot take a 1xx response). Fails after the start or on an invalid
    /// value.
    pub fn send_early_hints(
        &mut self,
        links: &[&[u8]],
        out: &mut Vec<u8>,
    ) -> Result<bool, SendError> {
        let Some(exchange) = &self.exchange else {
            return Err(SendError("No request in progress".into()));
        };
        if self.response.started() {
            return Err(SendError(
                "Early hints sent after the response started".into(),
            ));
        }
        for link in links {
            check_link(link)?;
        }
        if exchange.version == Version::Http10 || self.closed {
            return Ok(false);
        }
        write_early_hints(links, out);
        Ok(true)
    }

    /// A response head has been written for the current request.
    pub fn response_started(&self) -> bool {
        self.exchange.is_some() && self.response.started()
    }

    /// The current response is complete (or no request is in progress).
    pub fn response_complete(&self) -> bool {
        self.exchange.is_none() || self.response.is_done()
    }

    /// The connection will close once the current response is written
    /// (client asked, HTTP/1.0 without keep-alive, app sent `connection: close`,
    /// body left unread after an unanswered 100-continue, or `close_after_response`).
    pub fn will_close(&self) -> bool {
        self.shutdown
            || self.exchange.as_ref().is_some_and(|ex| {
                !ex.keep_alive
                    || ex.must_close
                    || self.response.wants_close()
                    || ex.continue_unanswered()
            })
    }

    /// Makes the current exchange the last one (graceful shutdown): the
    /// response carries `connection: close` if it has not started. With no
    /// request in progress the next `next_event` is `Close`.
    pub fn close_after_response(&mut self) {
        self.shutdown = true;
    }

    /// Nothing in flight either way: no request in progress (none, or the
    /// last one answered and read to its end, even if `next_event` has not
    /// moved past it yet) and no byte of a next request buffered.
    pub fn is_idle(&self) -> bool {
        let exchange_over = self
            .exchange
            .as_ref()
            .is_none_or(|ex| self.response.is_done() && ex.body.is_done());
        exchange_over && self.recv.is_empty()
    }

    /// Bytes received and not parsed yet (a partial or pipelined request,
    /// or body not yet decoded).
    pub fn buffered_input(&self) -> usize {
        self.recv.len()
    }

    /// Between exchanges: the next thing the peer owes is a request head.
    /// An exchange answered and read to its end counts, even before
    /// `next_event` has moved past it (as when the response completed
    /// outside the driver's pass).
    pub fn waiting_for_request(&self) -> bool {
        !self.closed
            && self
                .exchange
                .as_ref()
                .is_none_or(|ex| self.response.is_done() && ex.body.is_done())
    }

    /// The current request's body is still arriving (to be delivered, or
    /// discarded after the response).
    pub fn reading_body(&self) -> bool {
        !self.closed && self.exchange.as_ref().is_some_and(|ex| !ex.body.is_done())
    }
}

/// The request's `TE` field lists `trailers` (names are lower case here).
fn accepts_trailers(head: &RequestHead) -> bool {
    head.headers().any(|(name, value)| {
        name == b"te" && list_elements(value).any(|t| t.eq_ignore_ascii_case(b"trailers"))
    })
}
