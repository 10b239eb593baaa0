//! The driver: one mio `Poll` whose epoll descriptor the asyncio loop
//! watches. Each `on_ready` call accepts, reads, advances every ready
//! connection's protocol state, hands events to the handler and flushes
//! output once at the end.

use super::connection::{ConnRef, Connection, Fill, Lifecycle, ReadOutcome, WRITE_LOW_WATER};
use super::listener::Listener;
use super::schedule::{new_waker, Scheduler};
use crate::http1::{error_response, Event, Limits, RequestHead, ServerConn};
use crate::ws::WsEvent;
use bytes::Bytes;
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
/// How long a closing connection keeps draining input after our last byte.
const LINGER: Duration = Duration::from_secs(2);
/// How long a closing connection may take to flush its last output.
const CLOSING_TIMEOUT: Duration = Duration::from_secs(30);
/// How long we wait for the peer's answer to our WebSocket close frame.
const WS_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Close code sent to WebSocket peers when the server shuts down.
const WS_GOING_AWAY_FOR_RESTART: u16 = 1012;
/// Close code for a peer that stopped answering pings.
const WS_PING_TIMEOUT_CODE: u16 = 1011;

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
    /// Output fell below the low-water mark while the application waited.
    fn on_drained(&self, conn: &ConnRef<Self::Session>);
    /// Body bytes the application has not consumed yet (read backpressure).
    fn body_buffered(session: &Self::Session) -> usize;
    /// A WebSocket message, the peer's close, or the connection's failure
    /// (`Close`/`Error`); pings and pongs are handled here.
    fn on_ws_event(&self, conn: &ConnRef<Self::Session>, event: WsEvent);
    /// Whether the application keeps up with WebSocket messages: reading
    /// (and parsing) pauses while it does not.
    fn ws_may_read(session: &Self::Session) -> bool;
}

#[derive(Clone, Debug)]
pub struct DriverConfig {
    pub limits: Limits,
    pub keep_alive_timeout: Duration,
    /// How often to ping an idle WebSocket peer; `None`: never.
    pub ws_ping_interval: Option<Duration>,
    /// How long a ping may go unanswered before the connection fails.
    pub ws_ping_timeout: Option<Duration>,
}

pub struct Driver<H: Handler> {
    poll: Poll,
    events: Events,
    scheduler: Rc<Scheduler>,
    listeners: Vec<Listener>,
    /// An accept failed for lack of resources; retried on every tick.
    accept_backlog: bool,
    conns: Slab<ConnRef<H::Session>>,
    handler: H,
    config: DriverConfig,
    scratch: Box<[u8]>,
    ready: Vec<usize>,
    shutting_down: bool,
}

/// What advancing a connection's protocol state asks of the handler.
enum Step {
    Request(RequestHead),
    Body(Option<Bytes>),
    Ws(WsEvent),
    Done,
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
            conns: Slab::new(),
            handler,
            config,
            scratch: vec![0u8; SCRATCH_SIZE].into_boxed_slice(),
            ready: Vec::new(),
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

    /// Handles everything that is ready, without blocking.
    pub fn on_ready(&mut self) -> io::Result<()> {
        self.scheduler.enter();
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
        let mut accept_from = Vec::new();
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
        for index in accept_from {
            self.accept_all(index);
        }
        Ok(())
    }

    /// Processes connections with events and all scheduled work, until no
    /// more work is scheduled (an application may schedule more).
    fn drain_ready(&mut self) {
        loop {
            self.ready
                .extend(self.scheduler.take_pending().into_iter().map(|t| t.0));
            if self.ready.is_empty() {
                break;
            }
            let mut batch = std::mem::take(&mut self.ready);
            batch.sort_unstable();
            batch.dedup();
            for key in batch.drain(..) {
                self.process(key);
            }
            if self.ready.is_empty() {
                self.ready = batch;
            }
        }
    }

    fn accept_all(&mut self, index: usize) {
        if self.shutting_down || index >= self.listeners.len() {
            return;
        }
        loop {
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
            let _ = stream.set_nodelay(true);
            let local = self.listeners[index].local_addr();
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

    /// Advances one connection as far as it can go now.
    fn process(&mut self, key: usize) {
        let Some(conn) = self.conns.get(key).cloned() else {
            return;
        };
        loop {
            let step = self.advance(&mut conn.borrow_mut());
            match step {
                Step::Request(head) => self.handler.on_request(&conn, head),
                Step::Body(chunk) => self.handler.on_body(&conn, chunk),
                Step::Ws(event) => self.handler.on_ws_event(&conn, event),
                Step::Done => break,
            }
        }
        self.settle(key, &conn);
    }

    /// Reads and parses until there is an event for the handler or nothing
    /// more to do.
    fn advance(&mut self, c: &mut Connection<H::Session>) -> Step {
        if c.lifecycle != Lifecycle::Open {
            return Step::Done;
        }
        if c.ws.is_some() {
            return self.advance_ws(c);
        }
        loop {
            match c.proto.next_event() {
                Event::Request(head) => {
                    c.idle_since = None;
                    if self.shutting_down {
                        c.proto.close_after_response();
                    }
                    return Step::Request(head);
                }
                Event::Data(chunk) => return Step::Body(Some(chunk)),
                Event::EndOfBody => return Step::Body(None),
                Event::NeedData | Event::AwaitingResponse => {
                    if !c.proto.wants_read(H::body_buffered(&c.session)) {
                        c.read_paused = c.readable && !c.eof;
                        return Step::Done;
                    }
                    match c.fill(&mut self.scratch) {
                        Fill::Read => continue,
                        Fill::Empty => return Step::Done,
                        Fill::Eof => {
                            c.proto.recv_eof();
                            if !c.proto.response_complete() {
                                // As uvicorn does, an end of input in the
                                // middle of an exchange means the client
                                // left: the application sees a disconnect
                                // and the connection closes.
                                c.begin_closing();
                                return Step::Done;
                            }
                            continue;
                        }
                        Fill::Failed => {
                            c.lifecycle = Lifecycle::Closed;
                            return Step::Done;
                        }
                    }
                }
                Event::Close => {
                    c.begin_closing();
                    return Step::Done;
                }
                Event::Error(err) => {
                    if !c.proto.response_started() {
                        error_response(&err, c.out());
                    }
                    c.begin_closing();
                    return Step::Done;
                }
            }
        }
    }

    /// The WebSocket counterpart of `advance`: parse what is buffered, read
    /// more only when the parser needs it and the application keeps up.
    fn advance_ws(&mut self, c: &mut Connection<H::Session>) -> Step {
        loop {
            if !H::ws_may_read(&c.session) {
                c.read_paused = true;
                return Step::Done;
            }
            let (Some(ws), out) = c.ws_and_out() else {
                return Step::Done;
            };
            match ws.next_event(out) {
                WsEvent::Ping(_) => continue,
                WsEvent::Pong(_) => {
                    c.ws_ping_unanswered = false;
                    continue;
                }
                event @ (WsEvent::Close { .. } | WsEvent::Error { .. }) => {
                    c.begin_closing();
                    return Step::Ws(event);
                }
                WsEvent::Closed => {
                    c.begin_closing();
                    return Step::Done;
                }
                event @ (WsEvent::Text(_) | WsEvent::Binary(_)) => return Step::Ws(event),
                WsEvent::NeedData => match c.fill(&mut self.scratch) {
                    Fill::Read => continue,
                    Fill::Empty => return Step::Done,
                    Fill::Eof | Fill::Failed => {
                        if let Some(ws) = c.ws.as_deref_mut() {
                            ws.recv_eof();
                        }
                        continue;
                    }
                },
            }
        }
    }

    /// After the handler had its say: tell it about a departed client,
    /// flush, and move a closing connection towards closed.
    fn settle(&mut self, key: usize, conn: &ConnRef<H::Session>) {
        self.handler.on_input_settled(conn);
        let report_gone = {
            let mut c = conn.borrow_mut();
            c.peer_gone() && c.claim_gone_report()
        };
        if report_gone {
            self.handler.on_client_gone(conn);
        }
        let mut drained = false;
        let finished = {
            let mut c = conn.borrow_mut();
            if c.unsent() > 0 {
                c.flush();
            }
            if c.write_blocked && c.unsent() < WRITE_LOW_WATER {
                c.write_blocked = false;
                drained = true;
            }
            match c.lifecycle {
                Lifecycle::Open => false,
                Lifecycle::Closing => {
                    if c.unsent() == 0 {
                        c.shutdown_write();
                        c.lifecycle = Lifecycle::Lingering;
                        c.idle_since = Some(Instant::now());
                        self.discard_input(&mut c)
                    } else {
                        false
                    }
                }
                Lifecycle::Lingering => self.discard_input(&mut c),
                Lifecycle::Closed => true,
            }
        };
        if drained {
            self.handler.on_drained(conn);
        }
        if finished {
            self.finish(key);
        }
    }

    /// Reads and drops input while lingering; true once the peer closed.
    fn discard_input(&mut self, c: &mut Connection<H::Session>) -> bool {
        if c.eof {
            return true;
        }
        loop {
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
            c.claim_gone_report()
        };
        if report_gone {
            self.handler.on_client_gone(&conn);
        }
    }

    /// Timers, about once a second: keep-alive and header timeouts, lingering
    /// closes, and accepts postponed for lack of resources.
    pub fn tick(&mut self) {
        self.scheduler.enter();
        let now = Instant::now();
        for (key, conn) in self.conns.iter() {
            let mut c = conn.borrow_mut();
            if c.lifecycle == Lifecycle::Open && c.ws.as_ref().is_some_and(|ws| ws.close_sent()) {
                // Our close frame is out; the peer has a while to answer.
                match c.idle_since {
                    None => c.idle_since = Some(now),
                    Some(t) if now.duration_since(t) >= WS_CLOSE_TIMEOUT => {
                        c.lifecycle = Lifecycle::Closed;
                        self.ready.push(key);
                    }
                    Some(_) => {}
                }
                continue;
            }
            if c.lifecycle == Lifecycle::Open && c.ws.is_some() && self.ws_timers(&mut c, now) {
                self.ready.push(key);
                continue;
            }
            match c.lifecycle {
                Lifecycle::Open if c.ws.is_some() => {}
                Lifecycle::Open if c.proto.response_complete() && c.unsent() == 0 => {
                    match c.idle_since {
                        None => c.idle_since = Some(now),
                        Some(t) if now.duration_since(t) >= self.config.keep_alive_timeout => {
                            c.begin_closing();
                            self.ready.push(key);
                        }
                        Some(_) => {}
                    }
                }
                Lifecycle::Open => c.idle_since = None,
                Lifecycle::Lingering => {
                    if c.idle_since
                        .is_some_and(|t| now.duration_since(t) >= LINGER)
                    {
                        c.lifecycle = Lifecycle::Closed;
                        self.ready.push(key);
                    }
                }
                Lifecycle::Closing => {
                    // Output still waits for a client that stopped reading.
                    match c.idle_since {
                        None => c.idle_since = Some(now),
                        Some(t) if now.duration_since(t) >= CLOSING_TIMEOUT => {
                            c.lifecycle = Lifecycle::Closed;
                        }
                        Some(_) => {}
                    }
                    self.ready.push(key);
                }
                Lifecycle::Closed => self.ready.push(key),
            }
        }
        if self.accept_backlog {
            for index in 0..self.listeners.len() {
                self.accept_all(index);
            }
        }
        self.drain_ready();
        self.scheduler.leave();
    }

    /// WebSocket keep-alive pings and the close handshake's timeout; true
    /// when the connection needs processing.
    fn ws_timers(&self, c: &mut Connection<H::Session>, now: Instant) -> bool {
        let ping_interval = self.config.ws_ping_interval;
        let ping_timeout = self.config.ws_ping_timeout;
        let last_ping = c.ws_last_ping;
        let unanswered = c.ws_ping_unanswered;
        let (Some(ws), out) = c.ws_and_out() else {
            return false;
        };
        if ws.close_sent() {
            return false;
        }
        let since_ping = last_ping.map(|t| now.duration_since(t));
        if unanswered {
            if let (Some(timeout), Some(elapsed)) = (ping_timeout, since_ping) {
                if elapsed >= timeout {
                    let _ = ws.send_close(WS_PING_TIMEOUT_CODE, "keepalive ping timeout", out);
                    c.begin_closing();
                    return true;
                }
            }
            return false;
        }
        if let (Some(interval), Some(elapsed)) = (ping_interval, since_ping) {
            if elapsed >= interval && ws.send_ping(b"", out).is_ok() {
                c.ws_last_ping = Some(now);
                c.ws_ping_unanswered = true;
                return true;
            }
        }
        false
    }

    /// Stops accepting: the listeners are closed (the front keeps its own
    /// descriptors until it closes them).
    pub fn stop_accepting(&mut self) {
        for listener in self.listeners.iter_mut() {
            let _ = self.poll.registry().deregister(listener.source());
        }
        self.listeners.clear();
    }

    /// Graceful shutdown: idle connections close now, busy ones after their
    /// current response.
    ///
    /// An idle connection (its last exchange over, nothing of a next request
    /// read or readable, no unsent output) is closed at once: with nothing
    /// in flight there is no response for a lingering close to protect, and
    /// an idle keep-alive client may never send the FIN that lingering waits
    /// for. Connections that close after a response go on lingering, since
    /// their client may still be sending.
    pub fn shutdown(&mut self) {
        self.shutting_down = true;
        self.scheduler.enter();
        for (key, conn) in self.conns.iter() {
            let mut c = conn.borrow_mut();
            if let (Some(ws), out) = c.ws_and_out() {
                let _ = ws.send_close(WS_GOING_AWAY_FOR_RESTART, "", out);
                self.ready.push(key);
                continue;
            }
            c.proto.close_after_response();
            if c.lifecycle == Lifecycle::Open && c.proto.response_complete() && c.unsent() == 0 {
                c.begin_closing();
                if c.proto.is_idle() && !c.readable {
                    c.lifecycle = Lifecycle::Closed;
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
