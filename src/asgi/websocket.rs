//! The ASGI `websocket` scope's callables (asgiref WebSocket spec 2.5):
//! `receive()` gives `websocket.connect`, then `websocket.receive` messages,
//! then `websocket.disconnect`; `send()` takes `websocket.accept`,
//! `websocket.send`, `websocket.close` and the denial extension's
//! `websocket.http.response.*`.

use super::context::{reject, AppContext};
use super::errors::ClientDisconnected;
use super::loop_bound::LoopBound;
use super::message;
use super::receive::wake_receiver;
use super::response;
use super::session::{borrow_conn, http_and_out, HttpSession};
use super::ws_session::{Inbound, WsPhase, WsSession};
use crate::net::{ConnRef, Connection, Flush};
use crate::ws::{WsConfig, WsConn, WsEvent};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use std::rc::Rc;

/// Close code when the application fails after accepting.
const INTERNAL_ERROR: u16 = 1011;
/// Close code when the application returns without closing.
const NORMAL_CLOSURE: u16 = 1000;
/// What `websocket.disconnect` reports when the TCP connection just ended.
const ABNORMAL_CLOSURE: u16 = 1006;
/// What it reports when the peer's close frame carried no code.
const NO_STATUS: u16 = 1005;

fn ws_session(conn: &mut Connection<HttpSession>) -> PyResult<&mut WsSession> {
    conn.session
        .ws
        .as_deref_mut()
        .ok_or_else(|| PyRuntimeError::new_err("not a WebSocket connection"))
}

fn message<'py>(py: Python<'py>, kind: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyDict>> {
    let message = PyDict::new(py);
    message.set_item(intern!(py, "type"), kind)?;
    Ok(message)
}

/// The next event for `receive()`, if there is one now.
fn next_event<'py>(
    py: Python<'py>,
    conn: &mut Connection<HttpSession>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let closed = conn.is_closed();
    let ws = ws_session(conn)?;
    if !ws.connect_delivered {
        ws.connect_delivered = true;
        return Ok(Some(message(py, intern!(py, "websocket.connect"))?));
    }
    if let Some(inbound) = ws.inbox.pop_front() {
        // The application made room in the queue: reading may go on.
        conn.resume_reading();
        let event = message(py, intern!(py, "websocket.receive"))?;
        match inbound {
            Inbound::Text(text) => event.set_item(intern!(py, "text"), text)?,
            Inbound::Binary(data) => {
                event.set_item(intern!(py, "bytes"), PyBytes::new(py, &data))?
            }
        }
        return Ok(Some(event));
    }
    let ended = match &ws.disconnect {
        Some((code, reason)) => Some((*code, reason.clone())),
        None if closed => Some((ABNORMAL_CLOSURE, String::new())),
        None => None,
    };
    match ended {
        Some((code, reason)) => {
            let event = message(py, intern!(py, "websocket.disconnect"))?;
            event.set_item(intern!(py, "code"), code)?;
            event.set_item(intern!(py, "reason"), reason)?;
            Ok(Some(event))
        }
        None => Ok(None),
    }
}

/// A protocol event from the driver, for `receive()`.
pub fn on_event(conn: &mut Connection<HttpSession>, event: WsEvent) {
    let Some(ws) = conn.session.ws.as_deref_mut() else {
        return;
    };
    match event {
        WsEvent::Text(text) => ws.inbox.push_back(Inbound::Text(text)),
        WsEvent::Binary(data) => ws.inbox.push_back(Inbound::Binary(data)),
        WsEvent::Close { code, reason } => ws.ended(code.unwrap_or(NO_STATUS), reason),
        WsEvent::Error { close_code, .. } => ws.ended(close_code, String::new()),
        WsEvent::Ping(_) | WsEvent::Pong(_) | WsEvent::NeedData | WsEvent::Closed => {}
    }
}

/// Resolves a waiting `receive()` if there is something for it.
pub fn deliver(py: Python<'_>, conn: &ConnRef<HttpSession>) {
    wake_receiver(py, conn, next_event);
}

/// The connection is gone: a waiting `receive()` learns it, a waiting
/// `send()` fails.
pub fn on_gone(py: Python<'_>, conn: &ConnRef<HttpSession>) {
    let send_waiter = {
        let Ok(mut c) = conn.try_borrow_mut() else {
            return;
        };
        if let Some(ws) = c.session.ws.as_deref_mut() {
            ws.ended(ABNORMAL_CLOSURE, String::new());
        }
        c.session.send_waiter.take()
    };
    deliver(py, conn);
    if let Some(waiter) = send_waiter {
        reject(
            py,
            waiter,
            ClientDisconnected::new_err("the client has disconnected"),
        );
    }
}

/// The application is done with the connection, normally or not.
pub fn finish(
    py: Python<'_>,
    ctx: &AppContext,
    conn: &ConnRef<HttpSession>,
    outcome: Result<(), PyErr>,
) {
    let phase = conn
        .try_borrow()
        .ok()
        .and_then(|c| c.session.ws.as_deref().map(|ws| ws.phase));
    let Some(phase) = phase else {
        return;
    };
    // Logging runs Python code: not while the connection is borrowed.
    match &outcome {
        Err(err) if !err.is_instance_of::<ClientDisconnected>(py) => {
            ctx.log_exception(py, "Exception in ASGI application", err)
        }
        Ok(()) if phase == WsPhase::Handshake => {
            ctx.log_error(py, "ASGI callable returned without sending handshake.")
        }
        _ => {}
    }
    let Ok(mut c) = conn.try_borrow_mut() else {
        return;
    };
    match phase {
        WsPhase::Handshake | WsPhase::Denying => response::fail(&mut c, ctx),
        WsPhase::Accepted => {
            let code = if outcome.is_err() {
                INTERNAL_ERROR
            } else {
                NORMAL_CLOSURE
            };
            if let Some((ws, out)) = c.ws_and_out() {
                let _ = ws.send_close(code, "", out);
            }
            if let Ok(ws) = ws_session(&mut c) {
                ws.phase = WsPhase::Closed;
            }
            c.output_added(Flush::Now);
        }
        WsPhase::Closed => {}
    }
}

/// What the websocket `receive`/`send` callables hold: the loop's state.
struct WsState {
    ctx: Rc<AppContext>,
    conn: ConnRef<HttpSession>,
}

#[pyclass(module = "pyre_http._core")]
pub struct WsReceive {
    state: LoopBound<WsState>,
}

impl WsReceive {
    pub fn new(ctx: Rc<AppContext>, conn: ConnRef<HttpSession>) -> Self {
        WsReceive {
            state: LoopBound::new(WsState { ctx, conn }),
        }
    }
}

#[pymethods]
impl WsReceive {
    fn __call__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.state.get()?.receive(py)
    }
}

impl WsState {
    fn receive(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let mut conn = borrow_conn(&self.conn)?;
        if let Some(event) = next_event(py, &mut conn)? {
            return Ok(
                Py::new(py, super::awaitable::Ready::new(event.into_any().unbind()))?.into_any(),
            );
        }
        self.ctx.wait_for_input(py, &mut conn)
    }
}

#[pyclass(module = "pyre_http._core")]
pub struct WsSend {
    state: LoopBound<WsState>,
}

impl WsSend {
    pub fn new(ctx: Rc<AppContext>, conn: ConnRef<HttpSession>) -> Self {
        WsSend {
            state: LoopBound::new(WsState { ctx, conn }),
        }
    }
}

impl WsState {
    fn done(&self, py: Python<'_>) -> Py<PyAny> {
        self.ctx.done.clone_ref(py).into_any()
    }

    fn accept(&self, py: Python<'_>, message: &Bound<'_, PyDict>) -> PyResult<Py<PyAny>> {
        let subprotocol = message::optional_str(message, intern!(py, "subprotocol"))?;
        let headers = message::optional(message, intern!(py, "headers"))?;
        let mut conn = borrow_conn(&self.conn)?;
        let ctx = &self.ctx;
        let offer = {
            let ws = ws_session(&mut conn)?;
            match (ws.phase, ws.offer.take()) {
                (WsPhase::Handshake, Some(offer)) => offer,
                (_, offer) => {
                    ws.offer = offer;
                    return Err(self.misplaced(&conn, "websocket.accept"));
                }
            }
        };
        let deflate = if ctx.ws.per_message_deflate {
            offer.negotiate_deflate()
        } else {
            None
        };
        let mut handshake = Vec::new();
        let written = (|| -> PyResult<()> {
            let mut writer = offer
                .accept(subprotocol.as_deref())
                .map_err(|e| PyValueError::new_err(e.0))?;
            if let Some(headers) = &headers {
                for item in headers.try_iter()? {
                    let (name, value) = response::header_pair(&item?)?;
                    writer
                        .header(name.as_bytes(), value.as_bytes())
                        .map_err(|e| PyValueError::new_err(e.0))?;
                }
            }
            writer.finish(deflate.as_ref(), &ctx.defaults, &ctx.date(), &mut handshake);
            Ok(())
        })();
        if let Err(err) = written {
            // Nothing was sent: the application may still answer.
            ws_session(&mut conn)?.offer = Some(offer);
            return Err(err);
        }
        http_and_out(&mut conn)?.1.extend_from_slice(&handshake);
        conn.upgrade(WsConn::new(WsConfig {
            max_message_size: ctx.ws.max_size,
            deflate,
            ..WsConfig::default()
        }));
        ws_session(&mut conn)?.phase = WsPhase::Accepted;
        conn.session.status = 101;
        conn.output_added(Flush::Now);
        let access = ctx.access_entry(&conn);
        drop(conn);
        if let Some(entry) = access {
            ctx.log_access(py, entry);
        }
        Ok(self.done(py))
    }

    fn send_message(&self, py: Python<'_>, message: &Bound<'_, PyDict>) -> PyResult<Py<PyAny>> {
        let bytes = message::optional(message, intern!(py, "bytes"))?;
        let text = message::optional(message, intern!(py, "text"))?;
        let mut conn = borrow_conn(&self.conn)?;
        self.check_accepted(&mut conn, "websocket.send")?;
        let Some((ws, out)) = conn.ws_and_out() else {
            return Err(ClientDisconnected::new_err("the WebSocket is closed"));
        };
        let sent = match (&bytes, &text) {
            (Some(data), None) => {
                let data = data
                    .cast::<PyBytes>()
                    .map_err(|_| PyTypeError::new_err("'bytes' must be bytes"))?;
                ws.send_binary(data.as_bytes(), out)
            }
            (None, Some(text)) => {
                let text = text
                    .cast::<PyString>()
                    .map_err(|_| PyTypeError::new_err("'text' must be a str"))?;
                ws.send_text(text.to_str()?, out)
            }
            _ => {
                return Err(PyValueError::new_err(
                    "'websocket.send' needs exactly one of 'bytes' and 'text'",
                ))
            }
        };
        sent.map_err(|_| ClientDisconnected::new_err("the WebSocket is closing"))?;
        conn.output_added(Flush::Now);
        self.ctx.after_send(py, &mut conn)
    }

    fn close(&self, py: Python<'_>, message: &Bound<'_, PyDict>) -> PyResult<Py<PyAny>> {
        let code: u16 = match message::optional(message, intern!(py, "code"))? {
            None => NORMAL_CLOSURE,
            Some(code) => code
                .extract()
                .map_err(|_| PyValueError::new_err("'code' must be an int close code"))?,
        };
        let reason = message::optional_str(message, intern!(py, "reason"))?.unwrap_or_default();
        let mut conn = borrow_conn(&self.conn)?;
        let phase = ws_session(&mut conn)?.phase;
        match phase {
            WsPhase::Handshake => {
                // Closing before accepting refuses the handshake: 403.
                self.deny(&mut conn, 403, None)?;
                let (http, out) = http_and_out(&mut conn)?;
                http.send_body(b"", false, out)
                    .map_err(response::order_error)?;
                ws_session(&mut conn)?.ended(ABNORMAL_CLOSURE, String::new());
                self.finish_denial(py, conn);
                return Ok(self.done(py));
            }
            WsPhase::Accepted => {}
            WsPhase::Denying => return Err(self.misplaced(&conn, "websocket.close")),
            WsPhase::Closed => return Err(ClientDisconnected::new_err("the WebSocket is closed")),
        }
        if conn.is_closed() {
            return Err(ClientDisconnected::new_err("the client has disconnected"));
        }
        if let Some((ws, out)) = conn.ws_and_out() {
            ws.send_close(code, &reason, out)
                .map_err(|e| PyValueError::new_err(e.0))?;
        }
        ws_session(&mut conn)?.phase = WsPhase::Closed;
        conn.output_added(Flush::Now);
        Ok(self.done(py))
    }

    fn http_response_start(
        &self,
        py: Python<'_>,
        message: &Bound<'_, PyDict>,
    ) -> PyResult<Py<PyAny>> {
        let status = message::status(message)?;
        let headers = message::optional(message, intern!(py, "headers"))?;
        let mut conn = borrow_conn(&self.conn)?;
        if ws_session(&mut conn)?.phase != WsPhase::Handshake {
            return Err(self.misplaced(&conn, "websocket.http.response.start"));
        }
        self.deny(&mut conn, status, headers.as_ref())?;
        ws_session(&mut conn)?.phase = WsPhase::Denying;
        conn.output_added(Flush::Batched);
        Ok(self.done(py))
    }

    fn http_response_body(
        &self,
        py: Python<'_>,
        message: &Bound<'_, PyDict>,
    ) -> PyResult<Py<PyAny>> {
        let (body, more) = message::body(message)?;
        let mut conn = borrow_conn(&self.conn)?;
        if ws_session(&mut conn)?.phase != WsPhase::Denying {
            return Err(self.misplaced(&conn, "websocket.http.response.body"));
        }
        if conn.is_closed() {
            return Err(ClientDisconnected::new_err("the client has disconnected"));
        }
        let data = body.as_ref().map(|b| b.as_bytes()).unwrap_or(b"");
        let (http, out) = http_and_out(&mut conn)?;
        http.send_body(data, more, out)
            .map_err(response::order_error)?;
        if more {
            conn.output_added(Flush::Batched);
            return Ok(self.done(py));
        }
        ws_session(&mut conn)?.ended(ABNORMAL_CLOSURE, String::new());
        self.finish_denial(py, conn);
        Ok(self.done(py))
    }

    /// Starts an HTTP response refusing the handshake; the connection
    /// closes after it.
    fn deny(
        &self,
        conn: &mut Connection<HttpSession>,
        status: u16,
        headers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        if conn.is_closed() {
            return Err(ClientDisconnected::new_err("the client has disconnected"));
        }
        http_and_out(conn)?.0.close_after_response();
        response::start(conn, &self.ctx, status, headers, false)
    }

    /// The refusal is complete: flush, log, let the driver close.
    fn finish_denial(
        &self,
        py: Python<'_>,
        mut conn: std::cell::RefMut<'_, Connection<HttpSession>>,
    ) {
        conn.output_added(Flush::Now);
        conn.response_completed();
        let access = self.ctx.access_entry(&conn);
        drop(conn);
        if let Some(entry) = access {
            self.ctx.log_access(py, entry);
        }
    }

    fn check_accepted(&self, conn: &mut Connection<HttpSession>, kind: &str) -> PyResult<()> {
        let closed = conn.is_closed();
        match ws_session(conn)?.phase {
            WsPhase::Accepted if !closed => Ok(()),
            WsPhase::Accepted | WsPhase::Closed => {
                Err(ClientDisconnected::new_err("the WebSocket is closed"))
            }
            WsPhase::Handshake | WsPhase::Denying => Err(self.misplaced(conn, kind)),
        }
    }

    /// An error for a message that does not fit the exchange's phase.
    fn misplaced(&self, conn: &Connection<HttpSession>, kind: &str) -> PyErr {
        let phase = conn.session.ws.as_deref().map(|ws| ws.phase);
        match phase {
            Some(WsPhase::Closed) | None => ClientDisconnected::new_err("the WebSocket is closed"),
            Some(WsPhase::Handshake) => {
                PyRuntimeError::new_err(format!("'{kind}' sent before 'websocket.accept'"))
            }
            Some(WsPhase::Denying) => PyRuntimeError::new_err(format!(
                "'{kind}' sent while an HTTP response refuses the handshake"
            )),
            Some(WsPhase::Accepted) => {
                PyRuntimeError::new_err(format!("'{kind}' sent after 'websocket.accept'"))
            }
        }
    }
}

#[pymethods]
impl WsSend {
    fn __call__(&self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let state = self.state.get()?;
        let (message, kind) = message::parse(message)?;
        match kind.to_str()? {
            "websocket.accept" => state.accept(py, message),
            "websocket.send" => state.send_message(py, message),
            "websocket.close" => state.close(py, message),
            "websocket.http.response.start" => state.http_response_start(py, message),
            "websocket.http.response.body" => state.http_response_body(py, message),
            other => Err(PyValueError::new_err(format!(
                "unexpected ASGI message type '{other}' for a websocket connection"
            ))),
        }
    }
}
