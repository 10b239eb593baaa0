//! What the bridge keeps per connection, beside the protocol state: the
//! current request's body queue and the futures the application waits on.

use super::ws_session::WsSession;
use crate::http1::ServerConn;
use crate::net::{ConnRef, Connection};
use bytes::Bytes;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::cell::RefMut;
use std::collections::VecDeque;
use std::time::Instant;

/// Borrows the connection for a call that came from Python. A re-entrant
/// call (say, from a finalizer that runs while the connection is being
/// updated) gets an exception instead of a panic.
pub fn borrow_conn(conn: &ConnRef<HttpSession>) -> PyResult<RefMut<'_, Connection<HttpSession>>> {
    conn.try_borrow_mut()
        .map_err(|_| PyRuntimeError::new_err("re-entrant call into the connection"))
}

/// The HTTP/1.1 protocol and output buffer of a connection that may have
/// become a WebSocket since the caller's request began.
pub fn http_and_out(
    conn: &mut Connection<HttpSession>,
) -> PyResult<(&mut ServerConn, &mut Vec<u8>)> {
    conn.http_and_out()
        .ok_or_else(|| PyRuntimeError::new_err("the connection is no longer HTTP"))
}

/// What a custom access-log format needs beyond the default line, kept
/// per request only when such a format is set.
#[derive(Default)]
pub struct AccessExtra {
    pub start: Option<Instant>,
    pub request_headers: Vec<Option<String>>,
    pub response_headers: Vec<Option<String>>,
}

#[derive(Default)]
pub struct HttpSession {
    /// Number of the current request on this connection. `send`/`receive`
    /// objects carry the number of their own request, so that those of a
    /// finished request see it finished.
    pub seq: u64,
    pub body: VecDeque<Bytes>,
    pub body_buffered: usize,
    /// The whole body has arrived (it may still be queued).
    pub body_complete: bool,
    /// The last `http.request` event (`more_body: False`) has been given out.
    pub request_delivered: bool,
    /// `receive()` is waiting for body data or a disconnect.
    pub receive_waiter: Option<Py<PyAny>>,
    /// `send()` is waiting for the output buffer to drain.
    pub send_waiter: Option<Py<PyAny>>,
    pub client_gone: bool,
    /// Response status, for the access log.
    pub status: u16,
    /// `(host, port)` of the peer, built once per connection.
    pub client: Option<Py<PyAny>>,
    /// "METHOD target HTTP/x.y", kept only when access logging is on.
    pub request_line: Option<String>,
    /// The client a trusted proxy named for the current request.
    pub forwarded_client: Option<(String, u16)>,
    /// The current request came over https (a trusted proxy said so).
    pub secure: bool,
    /// Response body bytes sent for the current request.
    pub body_bytes: u64,
    /// For a custom access-log format only.
    pub access_extra: Option<Box<AccessExtra>>,
    /// Set when the request is a WebSocket handshake.
    pub ws: Option<Box<WsSession>>,
}

impl HttpSession {
    /// Resets the per-request part for request number `seq`.
    pub fn begin_request(&mut self, seq: u64, body_complete: bool) {
        self.seq = seq;
        self.body.clear();
        self.body_buffered = 0;
        self.body_complete = body_complete;
        self.request_delivered = false;
        self.receive_waiter = None;
        self.send_waiter = None;
        self.status = 0;
        self.request_line = None;
        self.forwarded_client = None;
        self.secure = false;
        self.body_bytes = 0;
        self.access_extra = None;
        self.ws = None;
    }

    /// Takes everything queued as one body piece.
    pub fn take_body(&mut self) -> Bytes {
        self.body_buffered = 0;
        match self.body.len() {
            0 => Bytes::new(),
            1 => self.body.pop_front().unwrap_or_default(),
            _ => {
                let mut joined = Vec::with_capacity(self.body.iter().map(Bytes::len).sum());
                for piece in self.body.drain(..) {
                    joined.extend_from_slice(&piece);
                }
                Bytes::from(joined)
            }
        }
    }
}
