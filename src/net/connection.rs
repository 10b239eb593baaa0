//! One client connection: its socket, its protocol state, its output buffer
//! and the application-side session of type `S`.
//!
//! A connection is shared (`Rc<RefCell<..>>`) between the driver and the
//! bridge's `send`/`receive` objects; everything runs on the event loop's
//! thread. Nobody holds a borrow across a call into Python.

use crate::http1::ServerConn;
use crate::ws::WsConn;
use mio::net::TcpStream;
use mio::Token;
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::Instant;

use super::schedule::Scheduler;

pub type ConnRef<S> = Rc<RefCell<Connection<S>>>;

/// Above this many unsent bytes, `send()` makes the application wait.
pub const WRITE_HIGH_WATER: usize = 256 * 1024;
/// ... until the socket has taken enough that fewer than this remain.
pub const WRITE_LOW_WATER: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    Open,
    /// Our side is done: flush what is buffered, then close.
    Closing,
    /// Output is flushed and our write side shut; reading and discarding
    /// until the peer closes, so that a close with unread input does not
    /// reset the connection and destroy the response in flight.
    Lingering,
    Closed,
}

pub struct Connection<S> {
    pub(crate) token: Token,
    /// `None` once closed: the descriptor is released at once even while
    /// application objects still hold the connection.
    pub(crate) stream: Option<TcpStream>,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub proto: ServerConn,
    /// Set once the connection switched to WebSocket; from then on `proto`
    /// is not consulted again.
    pub ws: Option<Box<WsConn>>,
    /// WebSocket keep-alive: when the last ping went out, and whether its
    /// pong is still awaited.
    pub(crate) ws_last_ping: Option<Instant>,
    pub(crate) ws_ping_unanswered: bool,
    pub session: S,
    out: Vec<u8>,
    sent: usize,
    /// Edge-triggered readiness: the socket may hold unread bytes.
    pub(crate) readable: bool,
    /// The poller reported the peer's hang-up: read until end of input,
    /// because no further readiness event will come.
    pub(crate) hangup_seen: bool,
    /// Reading stopped while the socket was readable (backpressure); the
    /// driver must read again by itself once the application catches up.
    pub(crate) read_paused: bool,
    pub(crate) eof: bool,
    pub(crate) lifecycle: Lifecycle,
    /// When the driver's timer first saw the connection waiting for a
    /// request (or started lingering); cleared by every new request.
    pub(crate) idle_since: Option<Instant>,
    /// The handler has been told that the client is gone.
    pub(crate) gone_reported: bool,
    /// `send()` is waiting for the output buffer to drain.
    pub(crate) write_blocked: bool,
    scheduler: Rc<Scheduler>,
}

impl<S: Default> Connection<S> {
    pub(crate) fn new(
        token: Token,
        stream: TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
        proto: ServerConn,
        scheduler: Rc<Scheduler>,
    ) -> Self {
        Connection {
            token,
            stream: Some(stream),
            peer,
            local,
            proto,
            ws: None,
            ws_last_ping: None,
            ws_ping_unanswered: false,
            session: S::default(),
            out: Vec::new(),
            sent: 0,
            readable: false,
            hangup_seen: false,
            read_paused: false,
            eof: false,
            lifecycle: Lifecycle::Open,
            idle_since: None,
            gone_reported: false,
            write_blocked: false,
            scheduler,
        }
    }
}

impl<S> Connection<S> {
    /// The output buffer, for the response encoder to append to.
    pub fn out(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Split borrow: the protocol state and the output buffer together.
    pub fn proto_and_out(&mut self) -> (&mut ServerConn, &mut Vec<u8>) {
        (&mut self.proto, &mut self.out)
    }

    /// Split borrow: the WebSocket state (if upgraded) and the output buffer.
    pub fn ws_and_out(&mut self) -> (Option<&mut WsConn>, &mut Vec<u8>) {
        (self.ws.as_deref_mut(), &mut self.out)
    }

    /// Switches to WebSocket after the `101` response has been written: the
    /// bytes already read past the request head belong to the new protocol.
    pub fn upgrade(&mut self, mut ws: WsConn) {
        let early = self.proto.recv_buf().split();
        ws.recv_buf().extend_from_slice(&early);
        self.ws = Some(Box::new(ws));
        self.ws_last_ping = Some(Instant::now());
        self.readable = true;
        self.schedule();
    }

    pub fn unsent(&self) -> usize {
        self.out.len() - self.sent
    }

    /// The socket is gone (or going): nothing more can be sent.
    pub fn is_closed(&self) -> bool {
        self.lifecycle != Lifecycle::Open || self.eof
    }

    /// The peer's sending side has closed (EOF or error).
    pub fn peer_gone(&self) -> bool {
        self.eof || self.lifecycle != Lifecycle::Open
    }

    /// True the first time only: the handler hears once that the client is
    /// gone, however many paths notice it.
    pub(crate) fn claim_gone_report(&mut self) -> bool {
        !std::mem::replace(&mut self.gone_reported, true)
    }

    /// Asks the driver to process this connection again (next pipelined
    /// request, resumed reading, close).
    pub fn schedule(&self) {
        self.scheduler.schedule(self.token);
    }

    /// A response just completed: asks the driver to process the
    /// connection again only if there is something to do now (pipelined
    /// input already read, unread socket data, a pause to lift, a close).
    /// Otherwise the next request arrives as an ordinary readable event, and
    /// the wake-up (a syscall and a loop iteration) is saved.
    pub fn response_completed(&mut self) {
        let idle = !self.readable
            && !self.read_paused
            && !self.eof
            && !self.proto.will_close()
            && self.proto.recv_buf().is_empty();
        if !idle || self.scheduler.in_callback() {
            self.schedule();
        }
    }

    /// Whether writes are batched by the driver's callback right now.
    pub fn in_driver_callback(&self) -> bool {
        self.scheduler.in_callback()
    }

    /// Marks the connection for closing once buffered output is written,
    /// without another response.
    pub fn close_soon(&mut self) {
        self.begin_closing();
        self.schedule();
    }

    /// Open → closing; the closing timeout starts at the next tick.
    pub(crate) fn begin_closing(&mut self) {
        if self.lifecycle == Lifecycle::Open {
            self.lifecycle = Lifecycle::Closing;
            self.idle_since = None;
        }
    }

    /// Writes as much buffered output as the socket takes. A failed write
    /// closes the connection; the caller sees it through `is_closed`.
    pub fn flush(&mut self) {
        while self.sent < self.out.len() {
            let Some(stream) = self.stream.as_mut() else {
                return;
            };
            match stream.write(&self.out[self.sent..]) {
                Ok(0) => {
                    self.fail();
                    return;
                }
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.fail();
                    return;
                }
            }
        }
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
            if self.out.capacity() > WRITE_HIGH_WATER {
                self.out = Vec::new();
            }
        } else if self.sent > WRITE_LOW_WATER {
            self.out.drain(..self.sent);
            self.sent = 0;
        }
    }

    /// The write side failed: the peer is gone. The driver finishes the
    /// close on its next pass.
    fn fail(&mut self) {
        self.lifecycle = Lifecycle::Closed;
        self.out = Vec::new();
        self.sent = 0;
        self.schedule();
    }

    /// Reads once into `scratch` and appends to the protocol's input buffer.
    pub(crate) fn read_once(&mut self, scratch: &mut [u8]) -> ReadOutcome {
        let Some(stream) = self.stream.as_mut() else {
            return ReadOutcome::Failed;
        };
        loop {
            match stream.read(scratch) {
                Ok(0) => return ReadOutcome::Eof,
                Ok(n) => {
                    if self.lifecycle == Lifecycle::Open {
                        let input = match self.ws.as_deref_mut() {
                            Some(ws) => ws.recv_buf(),
                            None => self.proto.recv_buf(),
                        };
                        input.extend_from_slice(&scratch[..n]);
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
    pub(crate) fn fill(&mut self, scratch: &mut [u8]) -> Fill {
        if !self.readable || self.eof {
            return Fill::Empty;
        }
        self.read_paused = false;
        match self.read_once(scratch) {
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

    pub(crate) fn shutdown_write(&mut self) {
        if let Some(stream) = &self.stream {
            let _ = stream.shutdown(Shutdown::Write);
        }
    }
}

/// What one attempt to top up the input brought.
pub(crate) enum Fill {
    /// Bytes arrived: parse them.
    Read,
    /// Nothing to read now; a readiness event will say when.
    Empty,
    /// The peer closed its side.
    Eof,
    /// The socket failed.
    Failed,
}

pub(crate) enum ReadOutcome {
    Data,
    WouldBlock,
    Eof,
    Failed,
}
