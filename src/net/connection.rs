//! One client connection: its socket, its protocol, its output buffer, its
//! timers and the application-side session of type `S`.
//!
//! A connection is shared (`Rc<RefCell<..>>`) between the driver and the
//! bridge's `send`/`receive` objects; everything runs on the event loop's
//! thread. Nobody holds a borrow across a call into Python.
//!
//! The bridge sees only the public methods: it encodes through the protocol
//! (`http_and_out`, `ws_and_out`), then says what it did (`output_added`,
//! `resume_reading`, `response_completed`, `close_soon`) and asks whether to
//! wait (`must_wait_for_drain`). Buffers, readiness, pauses and timers are
//! the driver's alone.

use super::file_output::{FileBody, FileQueue, Step};
use super::schedule::Scheduler;
use super::stream::Stream;
use super::timers::Timers;
use super::tls::{Received, TlsInfo, TlsSession, PLAIN_HTTP_RESPONSE};
use super::trust::SockAddr;
use crate::http1::ServerConn;
use crate::ws::WsConn;
use mio::Token;
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Instant;

pub type ConnRef<S> = Rc<RefCell<Connection<S>>>;

/// Above this many unsent bytes the connection stops reading and parsing,
/// and `send()` makes the application wait.
pub const WRITE_HIGH_WATER: usize = 256 * 1024;
/// ... until the socket has taken enough that fewer than this remain.
pub const WRITE_LOW_WATER: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lifecycle {
    Open,
    /// Our side is done: flush what is buffered, then close.
    Closing,
    /// Output is flushed and our write side shut; reading and discarding
    /// until the peer closes, so that a close with unread input does not
    /// reset the connection and destroy the response in flight.
    Lingering,
    Closed,
}

/// The one protocol a connection speaks. HTTP/1.1, which nearly every
/// connection speaks, lives inline; the rarer WebSocket state is boxed.
#[allow(clippy::large_enum_variant)]
pub(super) enum Protocol {
    Http(ServerConn),
    WebSocket(Box<WebSocket>),
}

/// A WebSocket connection with its keep-alive state.
pub(super) struct WebSocket {
    pub(super) conn: WsConn,
    /// When the last ping went out (or the connection was upgraded).
    pub(super) last_ping: Instant,
    /// A pong is still awaited for that ping.
    pub(super) ping_unanswered: bool,
}

/// How soon output the bridge just added should reach the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// It ends something the peer waits for (a response, a message, a
    /// close, a `100 Continue`): write it now.
    Now,
    /// More is likely to follow at once (a response head, a piece of a
    /// streamed body): gather until the driver's next pass, one loop
    /// iteration away, so that pieces sent in a row go out in one write.
    Batched,
}

/// The output buffer: bytes appended at the end, written from `sent`.
#[derive(Default)]
struct Output {
    buf: Vec<u8>,
    sent: usize,
    /// Files to send after `buf`, and the output added behind them.
    files: FileQueue,
    /// A sender waits for the buffer to drain (`must_wait_for_drain`).
    waiter: bool,
    /// Reading and parsing stopped because the buffer passed the
    /// high-water mark; they resume below the low-water mark.
    over_high_water: bool,
}

impl Output {
    fn unsent(&self) -> usize {
        let buffered = self.buf.len() - self.sent;
        if self.files.is_empty() {
            return buffered;
        }
        usize::try_from(self.files.pending())
            .unwrap_or(usize::MAX)
            .saturating_add(buffered)
    }

    /// Where new output goes: the buffer, or behind a queued file.
    fn tail(&mut self) -> &mut Vec<u8> {
        match self.files.is_empty() {
            true => &mut self.buf,
            false => self.files.tail(),
        }
    }
}

pub struct Connection<S> {
    token: Token,
    /// `None` once closed: the descriptor is released at once even while
    /// application objects still hold the connection.
    pub(super) stream: Option<Stream>,
    /// On a TLS listener: the encryption between the socket and the
    /// protocol. Reads, writes and byte counters stay on the socket side.
    pub(super) tls: Option<Box<TlsSession>>,
    /// The client: the socket's peer, or the source a PROXY protocol
    /// header named.
    pub peer: SockAddr,
    pub local: SockAddr,
    /// `peer` is in `--forwarded-allow-ips`: its proxy headers count.
    pub(super) peer_trusted: bool,
    /// A PROXY protocol header must come before anything else.
    pub(super) proxy_header_pending: bool,
    pub(super) protocol: Protocol,
    pub session: S,
    output: Output,
    /// Files may go out through `sendfile(2)` (a plain socket); otherwise
    /// they are read into the output buffer (see `file_output`).
    pub(super) sendfile: bool,
    /// Edge-triggered readiness: the socket may hold unread bytes.
    pub(super) readable: bool,
    /// The poller reported the peer's hang-up: read until end of input,
    /// because no further readiness event will come.
    pub(super) hangup_seen: bool,
    /// Reading stopped while the socket was readable because the
    /// application holds enough input; `resume_reading` lifts it.
    pub(super) read_paused: bool,
    pub(super) eof: bool,
    pub(super) lifecycle: Lifecycle,
    pub(super) timers: Timers,
    /// Totals, for the timers' progress checks.
    pub(super) bytes_read: u64,
    pub(super) bytes_written: u64,
    /// The handler has been told that the client is gone.
    gone_reported: bool,
    scheduler: Rc<Scheduler>,
}

impl<S: Default> Connection<S> {
    pub(super) fn new(
        token: Token,
        stream: Stream,
        peer: SockAddr,
        local: SockAddr,
        protocol: ServerConn,
        scheduler: Rc<Scheduler>,
    ) -> Self {
        Connection {
            token,
            stream: Some(stream),
            tls: None,
            peer,
            local,
            peer_trusted: false,
            proxy_header_pending: false,
            protocol: Protocol::Http(protocol),
            session: S::default(),
            output: Output::default(),
            sendfile: true,
            readable: false,
            hangup_seen: false,
            read_paused: false,
            eof: false,
            lifecycle: Lifecycle::Open,
            timers: Timers::default(),
            bytes_read: 0,
            bytes_written: 0,
            gone_reported: false,
            scheduler,
        }
    }
}

/// The bridge's side: what the application may do to its connection.
impl<S> Connection<S> {
    /// Whether the client (`peer`) is a trusted proxy, whose
    /// `X-Forwarded-*` and `Forwarded` headers count.
    pub fn peer_trusted(&self) -> bool {
        self.peer_trusted
    }

    /// The HTTP/1.1 protocol state, until the connection became a WebSocket.
    pub fn http(&self) -> Option<&ServerConn> {
        match &self.protocol {
            Protocol::Http(http) => Some(http),
            Protocol::WebSocket(_) => None,
        }
    }

    /// The HTTP/1.1 protocol state and the output buffer, to encode a
    /// response; follow with [`Connection::output_added`].
    pub fn http_and_out(&mut self) -> Option<(&mut ServerConn, &mut Vec<u8>)> {
        match &mut self.protocol {
            Protocol::Http(http) => Some((http, self.output.tail())),
            Protocol::WebSocket(_) => None,
        }
    }

    /// The WebSocket protocol state (once upgraded) and the output buffer;
    /// follow with [`Connection::output_added`].
    pub fn ws_and_out(&mut self) -> Option<(&mut WsConn, &mut Vec<u8>)> {
        match &mut self.protocol {
            Protocol::WebSocket(ws) => Some((&mut ws.conn, self.output.tail())),
            Protocol::Http(_) => None,
        }
    }

    /// Switches to WebSocket after the `101` response has been written: the
    /// bytes already read past the request head belong to the new protocol.
    pub fn upgrade(&mut self, mut ws: WsConn) {
        if let Protocol::Http(http) = &mut self.protocol {
            let early = http.recv_buf().split();
            ws.recv_buf().extend_from_slice(&early);
        }
        self.protocol = Protocol::WebSocket(Box::new(WebSocket {
            conn: ws,
            last_ping: Instant::now(),
            ping_unanswered: false,
        }));
        self.readable = true;
        self.schedule();
    }

    /// The bridge appended output; `flush` says how soon it must go out.
    /// Inside the driver's callback everything is written once, when the
    /// connection's turn ends or, corked, at the end of the pass
    /// (`Driver::settle`).
    pub fn output_added(&mut self, flush: Flush) {
        if self.left_to_the_callback() {
            return;
        }
        if flush == Flush::Now || self.output.unsent() > WRITE_HIGH_WATER {
            self.flush();
            if self.output.over_high_water && self.output.unsent() < WRITE_LOW_WATER {
                // Reading stopped for output that has now gone out.
                self.schedule();
            }
        } else {
            self.schedule();
        }
    }

    /// True when unsent output is above the high-water mark: the sender
    /// should wait. The handler's `on_drained` follows once the output falls
    /// below the low-water mark (or `on_client_gone` if it never does).
    pub fn must_wait_for_drain(&mut self) -> bool {
        let wait = self.output.unsent() > WRITE_HIGH_WATER;
        self.output.waiter |= wait;
        wait
    }

    /// The application took input (body or messages), or waits for it:
    /// reading resumes if it had paused for the application.
    pub fn resume_reading(&mut self) {
        if self.read_paused {
            self.schedule();
        }
    }

    /// A response just completed: asks the driver to process the
    /// connection again only if there is something to do now (pipelined
    /// input already read, unread socket data, a pause to lift, a close).
    /// Otherwise the next request arrives as an ordinary readable event, and
    /// the wake-up (a syscall and a loop iteration) is saved.
    pub fn response_completed(&mut self) {
        if self.left_to_the_callback() {
            return;
        }
        let idle = !self.readable
            && !self.read_paused
            && !self.eof
            && !self.output.over_high_water
            && self
                .http()
                .is_some_and(|http| !http.will_close() && http.buffered_input() == 0);
        if !idle {
            self.schedule();
        }
    }

    /// Marks the connection for closing once buffered output is written,
    /// without another response.
    pub fn close_soon(&mut self) {
        self.begin_closing();
        self.schedule();
    }

    /// Queues `file` behind the output added so far; output added after
    /// this call goes out after it. Follow with `output_added`: the file
    /// counts as unsent output for backpressure and the send timeout.
    pub fn add_file(&mut self, file: FileBody) {
        self.output.files.push_file(file);
    }

    /// Whether files can go out through `sendfile(2)`: true for a plain
    /// socket; a stream that must see every byte (TLS) copies them.
    pub fn can_sendfile(&self) -> bool {
        self.sendfile
    }

    /// The peer's sending side has closed (EOF or error), or we are
    /// closing: nothing more can be sent.
    pub fn is_closed(&self) -> bool {
        self.lifecycle != Lifecycle::Open || self.eof
    }

    /// Whether the connection came over TLS (`https`, `wss`).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// What the TLS handshake negotiated (the scope's `tls` extension).
    pub fn tls_info(&self) -> Option<Rc<TlsInfo>> {
        self.tls.as_ref().and_then(|tls| tls.info().cloned())
    }
}

/// The driver's side.
impl<S> Connection<S> {
    /// Inside the driver's callback, what the bridge did is picked up there:
    /// the connection being processed settles (flush or cork, next request)
    /// when its turn ends; another one (a broadcast from an eager task) is asked for
    /// a visit. False outside the callback.
    fn left_to_the_callback(&self) -> bool {
        if !self.scheduler.in_callback() {
            return false;
        }
        if !self.scheduler.is_current(self.token) {
            self.schedule();
        }
        true
    }

    /// Split borrow of a WebSocket connection: its protocol and keep-alive
    /// state, the output buffer and the timers.
    pub(super) fn ws_parts(&mut self) -> Option<(&mut WebSocket, &mut Vec<u8>, &mut Timers)> {
        match &mut self.protocol {
            Protocol::WebSocket(ws) => Some((ws, self.output.tail(), &mut self.timers)),
            Protocol::Http(_) => None,
        }
    }

    pub(super) fn out(&mut self) -> &mut Vec<u8> {
        self.output.tail()
    }

    #[cfg(test)]
    pub(super) fn buffer_capacity(&self) -> usize {
        self.output.buf.capacity()
    }

    /// Output bytes not yet on the wire (a TLS record rustls still holds
    /// counts as one).
    pub(super) fn unsent(&self) -> usize {
        let tls_pending = self.tls.as_ref().is_some_and(|tls| tls.wants_write());
        self.output.unsent() + usize::from(tls_pending)
    }

    /// Whether everything has been written, TLS's `close_notify` included
    /// (queued here the first time the rest is out): the write side may be
    /// shut.
    pub(super) fn output_finished(&mut self) -> bool {
        if self.unsent() > 0 {
            return false;
        }
        if self.tls.as_mut().is_some_and(|tls| tls.close_notify()) {
            self.flush();
        }
        self.unsent() == 0
    }

    /// A TLS handshake is under way (its timeout is the request header's).
    pub(super) fn tls_handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| tls.is_handshaking())
    }

    /// Whether reading and parsing must wait for output to drain; updates
    /// the pause with hysteresis (stop above high water, resume below low).
    pub(super) fn output_blocks_input(&mut self) -> bool {
        let unsent = self.output.unsent();
        if unsent > WRITE_HIGH_WATER {
            self.output.over_high_water = true;
        } else if unsent < WRITE_LOW_WATER {
            self.output.over_high_water = false;
        }
        self.output.over_high_water
    }

    /// Whether this connection's output may wait for the end of the pass
    /// (`Driver::settle`): an open connection with a little output, no
    /// sender waiting for it to drain and no pause on input for it.
    pub(super) fn may_cork(&mut self) -> bool {
        let unsent = self.unsent();
        self.lifecycle == Lifecycle::Open
            && unsent > 0
            && unsent < WRITE_LOW_WATER
            && !self.output.waiter
            && !self.output_blocks_input()
    }

    /// After a flush: true once if a sender waited and the output has
    /// fallen below the low-water mark.
    pub(super) fn take_drained(&mut self) -> bool {
        if self.output.waiter && self.output.unsent() < WRITE_LOW_WATER {
            self.output.waiter = false;
            return true;
        }
        false
    }

    /// True the first time only: the handler hears once that the client is
    /// gone, however many paths notice it.
    pub(super) fn claim_gone_report(&mut self) -> bool {
        !std::mem::replace(&mut self.gone_reported, true)
    }

    /// Asks the driver to process this connection again.
    pub(super) fn schedule(&self) {
        self.scheduler.schedule(self.token);
    }

    /// Open → closing.
    pub(super) fn begin_closing(&mut self) {
        if self.lifecycle == Lifecycle::Open {
            self.lifecycle = Lifecycle::Closing;
        }
    }

    /// Writes as much output as the socket takes: the buffer, then any
    /// queued file and what follows it. A failed write closes the
    /// connection; the caller sees it through `is_closed`.
    pub(super) fn flush(&mut self) {
        self.write_buffer();
        while !self.output.files.is_empty() && self.lifecycle != Lifecycle::Closed {
            let output = &mut self.output;
            if output.sent > 0 {
                // The copy path measures the buffer from its start.
                output.buf.drain(..output.sent);
                output.sent = 0;
            }
            let socket = match (&self.stream, self.sendfile) {
                (Some(stream), true) => Some(stream.as_raw_fd()),
                (Some(_), false) => None,
                (None, _) => return,
            };
            match output.files.step(&mut output.buf, socket, WRITE_LOW_WATER) {
                Ok(Step::Sent(n)) => self.bytes_written += n as u64,
                Ok(Step::Buffered) => self.write_buffer(),
                Ok(Step::WouldBlock | Step::Empty) => return,
                Err(_) => {
                    // The bytes the framing announced cannot all be sent:
                    // cut the response off rather than corrupt it.
                    self.fail();
                    return;
                }
            }
        }
    }

    /// Writes as much of the output buffer as the socket takes, through
    /// TLS on a TLS connection.
    fn write_buffer(&mut self) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let written = match self.tls.as_mut() {
            None => write_plain(stream, &mut self.output, &mut self.bytes_written),
            Some(tls) => write_encrypted(stream, tls, &mut self.output, &mut self.bytes_written),
        };
        if written.is_err() {
            self.fail();
            return;
        }
        let output = &mut self.output;
        if output.sent == output.buf.len() {
            output.buf.clear();
            output.sent = 0;
            if output.buf.capacity() > WRITE_HIGH_WATER {
                output.buf = Vec::new();
            }
        } else if output.sent > WRITE_LOW_WATER {
            output.buf.drain(..output.sent);
            output.sent = 0;
        }
    }

    /// The write side failed: the peer is gone. The driver finishes the
    /// close on its next pass.
    fn fail(&mut self) {
        self.lifecycle = Lifecycle::Closed;
        self.output = Output::default();
        self.schedule();
    }

    /// Bytes read together with the PROXY protocol header, once it is
    /// taken off: they are the start of the (possibly encrypted) stream.
    pub(super) fn take_early_input(&mut self, data: &[u8]) {
        if let Some(ReadOutcome::Eof) = self.take_input(data) {
            self.eof = true;
        }
    }

    /// Appends bytes read from the socket to the protocol's input,
    /// decrypting them first on a TLS connection. `Some` when TLS ends the
    /// reading: the peer's `close_notify` (its end of input), a TLS failure
    /// (closing, so that an alert may still go out) or a plain HTTP request
    /// (answered in plain text, then closing).
    fn take_input(&mut self, data: &[u8]) -> Option<ReadOutcome> {
        let input = match &mut self.protocol {
            Protocol::Http(http) => http.recv_buf(),
            Protocol::WebSocket(ws) => ws.conn.recv_buf(),
        };
        // A PROXY protocol header comes before the TLS handshake.
        let tls = match self.tls.as_mut() {
            Some(tls) if !self.proxy_header_pending => tls,
            _ => {
                input.extend_from_slice(data);
                return None;
            }
        };
        match tls.receive(data, input) {
            Received::Progress => None,
            Received::Closed => Some(ReadOutcome::Eof),
            Received::Failed => {
                self.begin_closing();
                Some(ReadOutcome::Data)
            }
            Received::PlainHttp => {
                self.tls = None;
                self.output.buf.extend_from_slice(PLAIN_HTTP_RESPONSE);
                self.begin_closing();
                Some(ReadOutcome::Data)
            }
        }
    }

    /// Reads once into `scratch` and appends to the protocol's input buffer
    /// (or drops the bytes when the connection is closing).
    pub(super) fn read_once(&mut self, scratch: &mut [u8]) -> ReadOutcome {
        let Some(stream) = self.stream.as_mut() else {
            return ReadOutcome::Failed;
        };
        loop {
            match stream.read(scratch) {
                Ok(0) => return ReadOutcome::Eof,
                Ok(n) => {
                    self.bytes_read += n as u64;
                    if self.lifecycle == Lifecycle::Open {
                        if let Some(outcome) = self.take_input(&scratch[..n]) {
                            return outcome;
                        }
                    }
                    if n < scratch.len() && !self.hangup_seen {
                        // A short read emptied the socket; with edge
                        // triggering, anything arriving later raises a new
                        // event. Skipping the read that would only say
                        // "would block" saves a syscall per request.
                        self.readable = false;
                    }
                    return ReadOutcome::Data;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadOutcome::WouldBlock,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return ReadOutcome::Failed,
            }
        }
    }

    /// Reads once if the socket may hold input, keeping the readiness
    /// flags right for edge-triggered polling.
    pub(super) fn fill(&mut self, scratch: &mut [u8]) -> Fill {
        if !self.readable || self.eof {
            return Fill::Empty;
        }
        self.read_paused = false;
        match self.read_once(scratch) {
            // TLS may have ended the exchange (a failure, a plain HTTP
            // request): nothing more to parse.
            ReadOutcome::Data if self.lifecycle != Lifecycle::Open => Fill::Empty,
            ReadOutcome::Data => Fill::Read,
            ReadOutcome::WouldBlock => {
                self.readable = false;
                Fill::Empty
            }
            ReadOutcome::Eof => {
                self.eof = true;
                Fill::Eof
            }
            ReadOutcome::Failed => {
                self.eof = true;
                Fill::Failed
            }
        }
    }

    /// Drops unsent output and closes queued files: the connection is
    /// finished, though application objects may still hold it.
    pub(super) fn release_output(&mut self) {
        self.output = Output::default();
    }

    pub(super) fn shutdown_write(&mut self) {
        if let Some(stream) = &self.stream {
            let _ = stream.shutdown(Shutdown::Write);
        }
    }
}

/// Writes the unsent output to a plain socket.
fn write_plain(stream: &mut Stream, output: &mut Output, written: &mut u64) -> io::Result<()> {
    while output.sent < output.buf.len() {
        match stream.write(&output.buf[output.sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                output.sent += n;
                *written += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Encrypts unsent output as rustls' bounded buffer takes it and writes
/// the records (and any handshake message or alert) to the socket.
fn write_encrypted(
    stream: &mut Stream,
    tls: &mut TlsSession,
    output: &mut Output,
    written: &mut u64,
) -> io::Result<()> {
    loop {
        if output.sent < output.buf.len() {
            output.sent += tls.encrypt(&output.buf[output.sent..]);
        }
        if !tls.wants_write() {
            // Everything is out, or the handshake is not done and rustls
            // holds the plaintext until it is.
            return Ok(());
        }
        match tls.write_to(stream) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *written += n as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// What one attempt to top up the input brought.
pub(super) enum Fill {
    /// Bytes arrived: parse them.
    Read,
    /// Nothing to read now; a readiness event will say when.
    Empty,
    /// The peer closed its side.
    Eof,
    /// The socket failed.
    Failed,
}

pub(super) enum ReadOutcome {
    Data,
    WouldBlock,
    Eof,
    Failed,
}
