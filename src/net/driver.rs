//! The driver: one mio `Poll` whose epoll descriptor the asyncio loop
//! watches. Each `on_ready` call accepts, reads, advances every ready
//! connection's protocol state, hands events to the handler and flushes
//! output once at the end of each connection's turn.
//!
//! Every bound on a connection is enforced here: reading and parsing stop
//! while the application holds enough input (the handler says how much) or
//! while unsent output is above the high-water mark, a connection gets a
//! bounded number of steps per pass, and `tick` applies the timeouts.

use super::connection::{ConnRef, Connection, Fill, Lifecycle, Protocol, ReadOutcome};
use super::listener::Listener;
use super::proxy_protocol::{self, Parsed};
use super::schedule::{new_waker, Scheduler};
use super::timers::{waited, Timeouts};
use super::tls::{TlsConfig, TlsSession};
use super::trust::{SockAddr, TrustedProxies};
use crate::http1::{error_response, Event, Limits, ProtocolError, RequestHead, ServerConn};
use crate::ws::WsEvent;
use bytes::{Buf, Bytes};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

const WAKER: Token = Token(usize::MAX);
/// Listener `i` has token `LISTENER_BASE - i`; connections use slab keys.
const LISTENER_BASE: usize = usize::MAX - 1;
const SCRATCH_SIZE: usize = 64 * 1024;
const EVENT_CAPACITY: usize = 1024;
/// Steps (a read of up to `SCRATCH_SIZE` bytes, or an event handed to the
/// handler) one connection may take in one pass before the others get
/// their turn; the rest waits for the next pass, one loop iteration away.
/// Like hyper's cap on its dispatch loop, sized so that a pipelined batch
/// of 16 requests still goes through in one pass.
const STEPS_PER_PASS: u32 = 64;
/// Connections one listener hands over per pass. Several worker processes
/// share one listening socket: the first one woken would otherwise take
/// every queued connection; a bounded take leaves some to the others, and
/// the rest waits for the next pass, one loop iteration away.
const ACCEPTS_PER_PASS: usize = 16;
/// How long small output may wait for the end of the pass to go out with
/// the others' (see `settle`), and the longest connection turn whose
/// output is corked at all. Fast handlers (hello: ~10 µs a turn) share a
/// write burst; a slow one (FastAPI: ~150 µs) is written right after its
/// own turn, as without corking: corking it would hold each response for
/// the next connection's whole turn (measured: ~9% fewer requests/s and a
/// 40% higher p99 for FastAPI when that was so).
#[cfg(not(test))]
const CORK_BUDGET: Duration = Duration::from_micros(100);
/// The unit tests run unoptimized, where a turn without work can take
/// longer than 100 µs on a busy machine; they use 20 ms instead.
#[cfg(test)]
const CORK_BUDGET: Duration = Duration::from_millis(20);
/// How long a closing connection keeps draining input after our last byte.
const LINGER: Duration = Duration::from_secs(2);
/// How long a closing connection may take to flush its last output, even
/// with the send timeout disabled.
const CLOSING_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an idle connection is kept open after a graceful shutdown began,
/// for a next request its client may already have sent (answered with
/// `connection: close`): enough for a request in flight on a round trip of
/// up to half a second. The front ticks often while it waits, so the close
/// comes on time.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(250);
/// How long we wait for the peer's answer to our WebSocket close frame.
const WS_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Close code sent to WebSocket peers when the server shuts down.
const WS_GOING_AWAY_FOR_RESTART: u16 = 1012;
/// Close code for a peer that stopped answering pings.
const WS_PING_TIMEOUT_CODE: u16 = 1011;

const HEADER_TIMEOUT: ProtocolError = ProtocolError {
    status: 408,
    reason: "Request header timeout",
};
const BODY_TIMEOUT: ProtocolError = ProtocolError {
    status: 408,
    reason: "Request body timeout",
};
const OVERLOADED: ProtocolError = ProtocolError {
    status: 503,
    reason: "Service Unavailable: too many concurrent requests",
};

/// What the driver reports to the layer above.
pub trait Handler {
    /// Per-connection application state.
    type Session: Default;
    /// A complete request head. The connection is not borrowed.
    fn on_request(&self, conn: &ConnRef<Self::Session>, head: RequestHead);
    /// A piece of the current request's body, or `None` at its end.
    fn on_body(&self, conn: &ConnRef<Self::Session>, chunk: Option<Bytes>);
    /// The driver has handed over everything it read in this pass: the
    /// moment to wake a reader with all of it at once.
    fn on_input_settled(&self, conn: &ConnRef<Self::Session>);
    /// The client went away or the connection is closing; reported once.
    fn on_client_gone(&self, conn: &ConnRef<Self::Session>);
    /// Output fell below the low-water mark after `must_wait_for_drain`.
    fn on_drained(&self, conn: &ConnRef<Self::Session>);
    /// Body bytes the application has not consumed yet (read backpressure).
    fn body_buffered(session: &Self::Session) -> usize;
    /// A WebSocket message, the peer's close, or the connection's failure
    /// (`Close`/`Error`); pings and pongs are handled here.
    fn on_ws_event(&self, conn: &ConnRef<Self::Session>, event: WsEvent);
    /// Whether the application keeps up with WebSocket messages: reading
    /// (and parsing) pauses while it does not.
    fn ws_may_read(session: &Self::Session) -> bool;
    /// Application tasks running now, for `limit_concurrency`.
    fn running_tasks(&self) -> usize;
}

#[derive(Clone, Debug, Default)]
pub struct DriverConfig {
    pub limits: Limits,
    pub timeouts: Timeouts,
    /// How often to ping an idle WebSocket peer; `None`: never.
    pub ws_ping_interval: Option<Duration>,
    /// How long a ping may go unanswered before the connection fails.
    pub ws_ping_timeout: Option<Duration>,
    /// Most connections, and most application tasks, served at once; new
    /// requests beyond it are answered `503`. `None`: no limit.
    pub limit_concurrency: Option<usize>,
    /// Peers whose proxy headers (and PROXY protocol header) count.
    pub trusted: TrustedProxies,
    /// Expect a PROXY protocol header (v1 or v2) first on every connection
    /// from a trusted peer.
    pub proxy_protocol: bool,
    /// Serve TLS on every listener.
    pub tls: Option<TlsConfig>,
}

pub struct Driver<H: Handler> {
    poll: Poll,
    events: Events,
    scheduler: Rc<Scheduler>,
    listeners: Vec<Listener>,
    /// An accept failed for lack of resources; retried on every tick.
    accept_backlog: bool,
    /// Listeners that still had connections queued after their share of a
    /// pass: accepted from again in the next pass.
    accept_pending: Vec<usize>,
    conns: Slab<ConnRef<H::Session>>,
    handler: H,
    config: DriverConfig,
    scratch: Box<[u8]>,
    ready: Vec<usize>,
    /// Connections that used up their steps: continued in the next pass.
    deferred: Vec<usize>,
    /// Connections whose output waits for the end of the pass (`settle`).
    corked: Vec<usize>,
    /// When the first of them was corked.
    corked_since: Option<Instant>,
    /// When the current connection's turn began (the clock is read once
    /// per turn, in `settle`).
    turn_started: Instant,
    shutting_down: bool,
}

/// What advancing a connection's protocol state asks of the handler.
enum Step {
    Request(RequestHead),
    Body(Option<Bytes>),
    Ws(WsEvent),
    Done,
    /// The connection used up its steps for this pass.
    Yield,
}

impl<H: Handler> Driver<H> {
    pub fn new(handler: H, config: DriverConfig, mut listeners: Vec<Listener>) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = new_waker(poll.registry(), WAKER)?;
        for (i, listener) in listeners.iter_mut().enumerate() {
            poll.registry().register(
                listener.source(),
                Token(LISTENER_BASE - i),
                Interest::READABLE,
            )?;
        }
        Ok(Driver {
            poll,
            events: Events::with_capacity(EVENT_CAPACITY),
            scheduler: Rc::new(Scheduler::new(waker)),
            listeners,
            accept_backlog: false,
            accept_pending: Vec::new(),
            conns: Slab::new(),
            handler,
            config,
            scratch: vec![0u8; SCRATCH_SIZE].into_boxed_slice(),
            ready: Vec::new(),
            deferred: Vec::new(),
            corked: Vec::new(),
            corked_since: None,
            turn_started: Instant::now(),
            shutting_down: false,
        })
    }

    /// The descriptor to watch for readability (the epoll fd).
    pub fn fd(&self) -> RawFd {
        self.poll.as_raw_fd()
    }

    pub fn handler(&self) -> &H {
        &self.handler
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Each connection's unsent output, for tests of the bounds.
    #[cfg(test)]
    pub(super) fn connection_unsent(&self) -> Vec<usize> {
        self.conns
            .iter()
            .map(|(_, c)| c.borrow().unsent())
            .collect()
    }

    /// Each connection's output buffer capacity (memory held), for tests
    /// of the file copy path's bound.
    #[cfg(test)]
    pub(super) fn connection_buffer_capacity(&self) -> Vec<usize> {
        self.conns
            .iter()
            .map(|(_, c)| c.borrow().buffer_capacity())
            .collect()
    }

    /// Handles everything that is ready, without blocking.
    pub fn on_ready(&mut self) -> io::Result<()> {
        self.scheduler.enter();
        self.ready.append(&mut self.deferred);
        let result = self.poll_once();
        self.drain_ready();
        self.scheduler.leave();
        result
    }

    fn poll_once(&mut self) -> io::Result<()> {
        match self.poll.poll(&mut self.events, Some(Duration::ZERO)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut accept_from = std::mem::take(&mut self.accept_pending);
        for event in self.events.iter() {
            let token = event.token();
            if token == WAKER {
                continue;
            }
            if token.0 > LISTENER_BASE - self.listeners.len() && token.0 <= LISTENER_BASE {
                accept_from.push(LISTENER_BASE - token.0);
                continue;
            }
            if let Some(conn) = self.conns.get(token.0) {
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    let mut c = conn.borrow_mut();
                    c.readable = true;
                    c.hangup_seen |= event.is_read_closed() || event.is_error();
                }
                self.ready.push(token.0);
            }
        }
        accept_from.sort_unstable();
        accept_from.dedup();
        for index in accept_from {
            self.accept(index, Some(ACCEPTS_PER_PASS));
        }
        Ok(())
    }

    /// Processes connections with events and all scheduled work, until no
    /// more work is scheduled (an application may schedule more), then
    /// writes the output corked meanwhile (which may schedule more). What
    /// was deferred for lack of steps waits for the next pass.
    fn drain_ready(&mut self) {
        loop {
            self.ready
                .extend(self.scheduler.take_pending().into_iter().map(|t| t.0));
            if self.ready.is_empty() {
                if self.corked.is_empty() {
                    break;
                }
                self.flush_corked();
                continue;
            }
            let mut batch = std::mem::take(&mut self.ready);
            batch.sort_unstable();
            batch.dedup();
            self.turn_started = Instant::now();
            for key in batch.drain(..) {
                self.process(key);
            }
            if self.ready.is_empty() {
                self.ready = batch;
            }
        }
        if !self.deferred.is_empty() || !self.accept_pending.is_empty() {
            self.deferred.sort_unstable();
            self.deferred.dedup();
            self.scheduler.wake();
        }
    }

    /// Accepts from listener `index`, at most `limit` connections (then it
    /// is taken up again in the next pass).
    fn accept(&mut self, index: usize, limit: Option<usize>) {
        if self.shutting_down || index >= self.listeners.len() {
            return;
        }
        let mut taken = 0;
        loop {
            if limit.is_some_and(|limit| taken >= limit) {
                self.accept_pending.push(index);
                return;
            }
            taken += 1;
            let (stream, peer) = match self.listeners[index].accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.accept_backlog = false;
                    return;
                }
                Err(e) if is_transient_accept_error(&e) => continue,
                Err(_) => {
                    // Out of descriptors or memory: leave the rest in the
                    // kernel's backlog and try again on the next tick.
                    self.accept_backlog = true;
                    return;
                }
            };
            let local = self.listeners[index].local_addr().clone();
            let trusted = self.config.trusted.trusts(&peer);
            let entry = self.conns.vacant_entry();
            let token = Token(entry.key());
            let mut conn = Connection::new(
                token,
                stream,
                peer,
                local,
                ServerConn::new(self.config.limits.clone()),
                self.scheduler.clone(),
            );
            if let Some(tls) = &self.config.tls {
                match TlsSession::new(tls) {
                    Ok(session) => {
                        conn.tls = Some(Box::new(session));
                        // Files are read, encrypted and written instead.
                        conn.sendfile = false;
                    }
                    Err(_) => continue,
                }
            }
            conn.peer_trusted = trusted;
            conn.proxy_header_pending = trusted && self.config.proxy_protocol;
            let registered = match conn.stream.as_mut() {
                Some(s) => {
                    self.poll
                        .registry()
                        .register(s, token, Interest::READABLE | Interest::WRITABLE)
                }
                None => continue,
            };
            if registered.is_err() {
                continue;
            }
            // Clients usually send the request right after connecting: try
            // reading at once rather than waiting for the next poll.
            conn.readable = true;
            entry.insert(Rc::new(RefCell::new(conn)));
            self.ready.push(token.0);
        }
    }

    /// Advances one connection as far as it can go in this pass.
    fn process(&mut self, key: usize) {
        let Some(conn) = self.conns.get(key).cloned() else {
            return;
        };
        self.scheduler.set_current(Some(Token(key)));
        let mut steps = STEPS_PER_PASS;
        loop {
            let step = self.advance(&mut conn.borrow_mut(), &mut steps);
            match step {
                Step::Request(head) => self.handler.on_request(&conn, head),
                Step::Body(chunk) => self.handler.on_body(&conn, chunk),
                Step::Ws(event) => self.handler.on_ws_event(&conn, event),
                Step::Done => break,
                Step::Yield => {
                    self.deferred.push(key);
                    break;
                }
            }
        }
        self.settle(key, &conn);
        self.scheduler.set_current(None);
    }

    /// Reads and parses until there is an event for the handler or nothing
    /// more to do.
    fn advance(&mut self, c: &mut Connection<H::Session>, steps: &mut u32) -> Step {
        if c.lifecycle != Lifecycle::Open {
            return Step::Done;
        }
        loop {
            // Nothing a client sends may grow the output without bound:
            // while it is not reading what we wrote, we neither read nor
            // parse (a pipelined request or a ping would add output).
            if c.output_blocks_input() {
                return Step::Done;
            }
            if *steps == 0 {
                return Step::Yield;
            }
            let step = match c.protocol {
                Protocol::Http(_) => self.advance_http(c),
                Protocol::WebSocket(_) => self.advance_ws(c),
            };
            match step {
                Some(step) => {
                    *steps -= 1;
                    return step;
                }
                None => *steps -= 1,
            }
        }
    }

    /// One HTTP/1.1 step: an event for the handler, `Some(Done)` when
    /// nothing more can happen now, or `None` after a read.
    fn advance_http(&mut self, c: &mut Connection<H::Session>) -> Option<Step> {
        if c.proxy_header_pending {
            return self.advance_proxy_header(c);
        }
        let Protocol::Http(http) = &mut c.protocol else {
            return Some(Step::Done);
        };
        match http.next_event() {
            Event::Request(head) => Some(self.admit(c, head)),
            Event::Data(chunk) => Some(Step::Body(Some(chunk))),
            Event::EndOfBody => Some(Step::Body(None)),
            Event::NeedData | Event::AwaitingResponse => {
                if !http.wants_read(H::body_buffered(&c.session)) {
                    c.read_paused = c.readable && !c.eof;
                    return Some(Step::Done);
                }
                match c.fill(&mut self.scratch) {
                    Fill::Read => None,
                    Fill::Empty => Some(Step::Done),
                    Fill::Eof => {
                        let Protocol::Http(http) = &mut c.protocol else {
                            return Some(Step::Done);
                        };
                        http.recv_eof();
                        if !http.response_complete() {
                            // As uvicorn does, an end of input in the
                            // middle of an exchange means the client
                            // left: the application sees a disconnect
                            // and the connection closes.
                            c.begin_closing();
                            return Some(Step::Done);
                        }
                        None
                    }
                    Fill::Failed => {
                        c.lifecycle = Lifecycle::Closed;
                        Some(Step::Done)
                    }
                }
            }
            Event::Close => {
                c.begin_closing();
                Some(Step::Done)
            }
            Event::Error(err) => {
                if !http.response_started() {
                    error_response(&err, c.out());
                }
                c.begin_closing();
                Some(Step::Done)
            }
        }
    }

    /// Before any HTTP: the PROXY protocol header of a trusted peer, read
    /// and taken off the input. `None` after a read or once it is taken; a
    /// malformed or missing header, or the end of input, closes the
    /// connection without an answer (the peer is a proxy, not a client).
    fn advance_proxy_header(&mut self, c: &mut Connection<H::Session>) -> Option<Step> {
        let Protocol::Http(http) = &mut c.protocol else {
            return Some(Step::Done);
        };
        let input = http.recv_buf();
        match proxy_protocol::parse(input) {
            Parsed::Done { consumed, source } => {
                input.advance(consumed);
                let early = input.split();
                c.proxy_header_pending = false;
                c.take_early_input(&early);
                if let Some(source) = source {
                    c.peer = SockAddr::Inet(source);
                    c.peer_trusted = self.config.trusted.trusts(&c.peer);
                }
                return None;
            }
            Parsed::Invalid(_) => {
                c.lifecycle = Lifecycle::Closed;
                return Some(Step::Done);
            }
            Parsed::Incomplete => {}
        }
        match c.fill(&mut self.scratch) {
            Fill::Read => None,
            Fill::Empty => Some(Step::Done),
            Fill::Eof | Fill::Failed => {
                c.lifecycle = Lifecycle::Closed;
                Some(Step::Done)
            }
        }
    }

    /// A request head arrived: hand it to the handler, unless the server is
    /// at its concurrency limit (then `503` and close, without the app).
    fn admit(&self, c: &mut Connection<H::Session>, head: RequestHead) -> Step {
        c.timers.waiting_for_request = None;
        if let Some(limit) = self.config.limit_concurrency {
            if self.conns.len() > limit || self.handler.running_tasks() >= limit {
                error_response(&OVERLOADED, c.out());
                c.begin_closing();
                return Step::Done;
            }
        }
        if self.shutting_down {
            if let Protocol::Http(http) = &mut c.protocol {
                http.close_after_response();
            }
        }
        Step::Request(head)
    }

    /// The WebSocket counterpart of `advance_http`: parse what is buffered,
    /// read more only when the parser needs it and the application keeps up.
    fn advance_ws(&mut self, c: &mut Connection<H::Session>) -> Option<Step> {
        if !H::ws_may_read(&c.session) {
            c.read_paused = true;
            return Some(Step::Done);
        }
        let Some((ws, out, _)) = c.ws_parts() else {
            return Some(Step::Done);
        };
        match ws.conn.next_event(out) {
            WsEvent::Ping(_) => None,
            WsEvent::Pong(_) => {
                ws.ping_unanswered = false;
                None
            }
            event @ (WsEvent::Close { .. } | WsEvent::Error { .. }) => {
                c.begin_closing();
                Some(Step::Ws(event))
            }
            WsEvent::Closed => {
                c.begin_closing();
                Some(Step::Done)
            }
            event @ (WsEvent::Text(_) | WsEvent::Binary(_)) => Some(Step::Ws(event)),
            WsEvent::NeedData => match c.fill(&mut self.scratch) {
                Fill::Read => None,
                Fill::Empty => Some(Step::Done),
                Fill::Eof | Fill::Failed => {
                    if let Protocol::WebSocket(ws) = &mut c.protocol {
                        ws.conn.recv_eof();
                    }
                    None
                }
            },
        }
    }

    /// After the handler had its say: tell it about a departed client, then
    /// flush and move a closing connection towards closed, or cork.
    ///
    /// Small output of an open connection (a response, a WebSocket message)
    /// from a short turn is corked: it waits until every connection of the
    /// pass has had its turn (or `CORK_BUDGET` has passed since the first
    /// was corked), and then all of it is written in a row. Each write can
    /// wake the peer; when peers are woken back to back, most are still
    /// awake from the previous one, which over loopback (a proxy or a load
    /// generator on the same host, where the sender's system call does the
    /// receiver's network stack work and wake-up) costs far less CPU per
    /// response than a wake-up per connection turn. The order of each
    /// connection's bytes is unchanged.
    fn settle(&mut self, key: usize, conn: &ConnRef<H::Session>) {
        self.handler.on_input_settled(conn);
        let (report_gone, may_cork) = {
            let mut c = conn.borrow_mut();
            (c.is_closed() && c.claim_gone_report(), c.may_cork())
        };
        if report_gone {
            self.handler.on_client_gone(conn);
        }
        let now = Instant::now();
        let short_turn = now.saturating_duration_since(self.turn_started) < CORK_BUDGET;
        self.turn_started = now;
        if may_cork && short_turn {
            self.corked.push(key);
            self.corked_since.get_or_insert(now);
        } else {
            self.flush_and_advance(key, conn);
        }
        let waited = self
            .corked_since
            .is_some_and(|since| now.saturating_duration_since(since) >= CORK_BUDGET);
        if waited {
            self.flush_corked();
            // Writing is not the next connection's turn.
            self.turn_started = Instant::now();
        }
    }

    /// Writes the corked output (see `settle`).
    fn flush_corked(&mut self) {
        self.corked_since = None;
        for key in std::mem::take(&mut self.corked) {
            if let Some(conn) = self.conns.get(key).cloned() {
                self.flush_and_advance(key, &conn);
            }
        }
    }

    /// Flushes, asks for another turn if that lifted the output's pause on
    /// input, tells a waiting sender that the output drained, and moves a
    /// closing connection towards closed.
    fn flush_and_advance(&mut self, key: usize, conn: &ConnRef<H::Session>) {
        let (drained, finished) = {
            let mut c = conn.borrow_mut();
            let was_blocked = c.output_blocks_input();
            if c.unsent() > 0 {
                c.flush();
            }
            if was_blocked && !c.output_blocks_input() {
                // The peer took enough of our output: parse what waits.
                self.ready.push(key);
            }
            let drained = c.take_drained();
            let finished = match c.lifecycle {
                Lifecycle::Open => false,
                Lifecycle::Closing => {
                    if c.output_finished() {
                        c.shutdown_write();
                        c.lifecycle = Lifecycle::Lingering;
                        self.discard_input(key, &mut c)
                    } else {
                        false
                    }
                }
                Lifecycle::Lingering => self.discard_input(key, &mut c),
                Lifecycle::Closed => true,
            };
            (drained, finished)
        };
        if drained {
            self.handler.on_drained(conn);
        }
        if finished {
            self.finish(key);
        }
    }

    /// Reads and drops input while lingering; true once the peer closed.
    /// A peer that keeps sending gets the same number of reads per pass as
    /// any connection, then waits for the next pass (and `LINGER` ends it).
    fn discard_input(&mut self, key: usize, c: &mut Connection<H::Session>) -> bool {
        if c.eof {
            return true;
        }
        for _ in 0..STEPS_PER_PASS {
            match c.read_once(&mut self.scratch) {
                ReadOutcome::Data => continue,
                ReadOutcome::WouldBlock => {
                    c.readable = false;
                    return false;
                }
                ReadOutcome::Eof | ReadOutcome::Failed => {
                    c.eof = true;
                    return true;
                }
            }
        }
        self.deferred.push(key);
        false
    }

    /// Releases the socket and forgets the connection.
    fn finish(&mut self, key: usize) {
        if !self.conns.contains(key) {
            return;
        }
        let conn = self.conns.remove(key);
        let report_gone = {
            let mut c = conn.borrow_mut();
            c.lifecycle = Lifecycle::Closed;
            if let Some(mut stream) = c.stream.take() {
                let _ = self.poll.registry().deregister(&mut stream);
            }
            c.release_output();
            c.claim_gone_report()
        };
        if report_gone {
            self.handler.on_client_gone(&conn);
        }
    }

    /// Timers, about once a second: every timeout of every connection,
    /// WebSocket pings, and accepts postponed for lack of resources.
    pub fn tick(&mut self) {
        self.tick_at(Instant::now());
    }

    /// `tick` as if the clock said `now` (tests move time forward).
    pub fn tick_at(&mut self, now: Instant) {
        self.scheduler.enter();
        for (key, conn) in self.conns.iter() {
            let mut c = conn.borrow_mut();
            if self.check_timers(&mut c, now) {
                self.ready.push(key);
            }
        }
        if self.accept_backlog {
            for index in 0..self.listeners.len() {
                self.accept(index, Some(ACCEPTS_PER_PASS));
            }
        }
        self.drain_ready();
        self.scheduler.leave();
    }

    /// Applies one connection's timers; true when it needs processing.
    fn check_timers(&self, c: &mut Connection<H::Session>, now: Instant) -> bool {
        let timeouts = &self.config.timeouts;
        let sending = c.unsent() > 0;
        if c.timers
            .send
            .stalled(sending, c.bytes_written, now, timeouts.send)
        {
            // The peer takes none of our output: nothing more can be done
            // for it, and a waiting `send()` learns it from the close.
            c.lifecycle = Lifecycle::Closed;
            return true;
        }
        match c.lifecycle {
            Lifecycle::Open => {}
            Lifecycle::Closing => {
                if waited(&mut c.timers.closing, now) >= CLOSING_TIMEOUT {
                    c.lifecycle = Lifecycle::Closed;
                }
                return true;
            }
            Lifecycle::Lingering => {
                if waited(&mut c.timers.linger, now) >= LINGER {
                    c.lifecycle = Lifecycle::Closed;
                    return true;
                }
                return false;
            }
            Lifecycle::Closed => return true,
        }
        match &c.protocol {
            Protocol::Http(_) => self.http_timers(c, now),
            Protocol::WebSocket(_) => self.ws_timers(c, now),
        }
    }

    /// Keep-alive, request-header and request-body timeouts.
    fn http_timers(&self, c: &mut Connection<H::Session>, now: Instant) -> bool {
        let timeouts = &self.config.timeouts;
        let body_buffered = H::body_buffered(&c.session);
        let Protocol::Http(http) = &c.protocol else {
            return false;
        };
        let waiting_for_head = http.waiting_for_request() && c.unsent() == 0;
        let head_started = http.buffered_input() > 0;
        // The client owes body bytes only while we are ready to take them.
        let reading_body = http.reading_body() && http.wants_read(body_buffered) && !c.eof;
        let response_started = http.response_started();
        if !waiting_for_head {
            c.timers.waiting_for_request = None;
        }
        if c.timers
            .body
            .stalled(reading_body, c.bytes_read, now, timeouts.request_body)
        {
            if !response_started {
                error_response(&BODY_TIMEOUT, c.out());
            }
            c.begin_closing();
            return true;
        }
        if !waiting_for_head {
            return false;
        }
        let waited = waited(&mut c.timers.waiting_for_request, now);
        if c.tls_handshaking() {
            // A client that does not finish its handshake in the time a
            // request head may take is cut off (no HTTP answer is possible).
            let limit = timeouts.request_header.unwrap_or(timeouts.keep_alive);
            if waited >= limit {
                c.lifecycle = Lifecycle::Closed;
                return true;
            }
            return false;
        }
        if c.proxy_header_pending {
            // A proxy that does not send its header in time is cut off
            // without an HTTP answer.
            let limit = match head_started {
                false => timeouts.keep_alive,
                true => timeouts.request_header.unwrap_or(timeouts.keep_alive),
            };
            if waited >= limit {
                c.lifecycle = Lifecycle::Closed;
                return true;
            }
            return false;
        }
        let keep_alive = match self.shutting_down {
            true => timeouts.keep_alive.min(SHUTDOWN_GRACE),
            false => timeouts.keep_alive,
        };
        if !head_started {
            if waited >= keep_alive {
                // Nothing is in flight either way, so there is nothing for a
                // lingering close to protect: close at once.
                c.lifecycle = Lifecycle::Closed;
                return true;
            }
        } else if timeouts.request_header.is_some_and(|limit| waited >= limit) {
            error_response(&HEADER_TIMEOUT, c.out());
            c.begin_closing();
            return true;
        }
        false
    }

    /// WebSocket keep-alive pings and the close handshake's timeout.
    fn ws_timers(&self, c: &mut Connection<H::Session>, now: Instant) -> bool {
        let ping_interval = self.config.ws_ping_interval;
        let ping_timeout = self.config.ws_ping_timeout;
        let Some((ws, out, timers)) = c.ws_parts() else {
            return false;
        };
        if ws.conn.close_sent() {
            // Our close frame is out; the peer has a while to answer.
            if waited(&mut timers.close_handshake, now) >= WS_CLOSE_TIMEOUT {
                c.lifecycle = Lifecycle::Closed;
                return true;
            }
            return false;
        }
        let since_ping = now.duration_since(ws.last_ping);
        if ws.ping_unanswered {
            if ping_timeout.is_some_and(|timeout| since_ping >= timeout) {
                let _ = ws
                    .conn
                    .send_close(WS_PING_TIMEOUT_CODE, "keepalive ping timeout", out);
                c.begin_closing();
                return true;
            }
            return false;
        }
        if ping_interval.is_some_and(|interval| since_ping >= interval)
            && ws.conn.send_ping(b"", out).is_ok()
        {
            ws.last_ping = now;
            ws.ping_unanswered = true;
            return true;
        }
        false
    }

    /// Stops accepting: connections already waiting in the kernel's queue
    /// are taken (they would be reset otherwise), then the listeners are
    /// closed (the front keeps its own descriptors until it closes them).
    pub fn stop_accepting(&mut self) {
        for index in 0..self.listeners.len() {
            self.accept(index, None);
        }
        for listener in self.listeners.iter_mut() {
            let _ = self.poll.registry().deregister(listener.source());
        }
        self.listeners.clear();
    }

    /// Graceful shutdown. A busy connection closes after its current
    /// response (a lingering close, as its client may still be sending). An
    /// idle one may have its client's next request on the way (the race
    /// behind resets during reloads): it keeps reading for `SHUTDOWN_GRACE`,
    /// a request that arrives meanwhile is answered with
    /// `connection: close`, and then it closes without lingering (nothing in
    /// flight to protect, and an idle client may never send the FIN a
    /// lingering close would wait for).
    pub fn shutdown(&mut self) {
        self.shutting_down = true;
        self.scheduler.enter();
        let now = Instant::now();
        for (key, conn) in self.conns.iter() {
            let mut c = conn.borrow_mut();
            let open = c.lifecycle == Lifecycle::Open;
            let flushed = c.unsent() == 0;
            if let Some((ws, out, _)) = c.ws_parts() {
                let _ = ws.conn.send_close(WS_GOING_AWAY_FOR_RESTART, "", out);
            } else if let Protocol::Http(http) = &mut c.protocol {
                if open && flushed && http.waiting_for_request() {
                    // The grace counts from now (see `http_timers`).
                    c.timers.waiting_for_request = Some(now);
                } else {
                    http.close_after_response();
                }
            }
            self.ready.push(key);
        }
        self.drain_ready();
        self.scheduler.leave();
    }

    /// Closes every connection and listener now.
    pub fn close_all(&mut self) {
        self.stop_accepting();
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.finish(key);
        }
    }
}

fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
