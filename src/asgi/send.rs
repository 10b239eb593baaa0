//! The `send` callable: checks each ASGI message and encodes it into the
//! connection's output buffer. Returns an awaitable that is already done,
//! unless the output buffer is above its high-water mark.

use super::context::{resolve, AppContext};
use super::errors::ClientDisconnected;
use super::extras;
use super::file_send;
use super::loop_bound::LoopBound;
use super::message::{self, ResponseFields};
use super::receive::disconnect_message;
use super::response;
use super::session::{borrow_conn, http_and_out, HttpSession};
use crate::net::{ConnRef, Connection, Flush};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::rc::Rc;

#[pyclass(module = "pyre_http._core", freelist = 64)]
pub struct Send {
    state: LoopBound<SendState>,
}

impl Send {
    pub fn new(ctx: Rc<AppContext>, conn: ConnRef<HttpSession>, seq: u64) -> Self {
        Send {
            state: LoopBound::new(SendState { ctx, conn, seq }),
        }
    }
}

pub(super) struct SendState {
    pub(super) ctx: Rc<AppContext>,
    pub(super) conn: ConnRef<HttpSession>,
    seq: u64,
}

impl SendState {
    /// Fails unless this request's response can still be written.
    pub(super) fn check_writable(&self, conn: &Connection<HttpSession>) -> PyResult<()> {
        if conn.is_closed() {
            return Err(ClientDisconnected::new_err("the client has disconnected"));
        }
        if conn.session.seq != self.seq {
            return Err(PyRuntimeError::new_err(
                "the response has already completed",
            ));
        }
        Ok(())
    }

    fn start(&self, py: Python<'_>, fields: ResponseFields<'_>) -> PyResult<Py<PyAny>> {
        let status = message::status_value(fields.status)?;
        let headers = fields.headers;
        let trailers = message::flag_value(fields.trailers, "trailers")?;
        let mut conn = borrow_conn(&self.conn)?;
        self.check_writable(&conn)?;
        let headers = headers.filter(|h| !h.is_none());
        response::start(&mut conn, &self.ctx, status, headers.as_ref(), trailers)?;
        // Sent with the body that usually follows.
        conn.output_added(Flush::Batched);
        Ok(self.ctx.done.clone_ref(py).into_any())
    }

    fn body(&self, py: Python<'_>, fields: ResponseFields<'_>) -> PyResult<Py<PyAny>> {
        let (body, more) = message::body_values(fields.body, fields.more_body)?;
        let mut conn = borrow_conn(&self.conn)?;
        self.check_writable(&conn)?;
        let (http, out) = http_and_out(&mut conn)?;
        if !http.response_started() {
            return Err(PyRuntimeError::new_err(
                "'http.response.body' sent before 'http.response.start'",
            ));
        }
        let data = body.as_ref().map(|b| b.as_bytes()).unwrap_or(b"");
        http.send_body(data, more, out)
            .map_err(response::order_error)?;
        conn.session.body_bytes += data.len() as u64;
        self.body_sent(py, conn, more)
    }

    /// After body bytes (or a file) went into the output: flush and
    /// complete at the end of the body (unless trailers follow), else
    /// batch and apply backpressure.
    pub(super) fn body_sent(
        &self,
        py: Python<'_>,
        mut conn: std::cell::RefMut<'_, Connection<HttpSession>>,
        more: bool,
    ) -> PyResult<Py<PyAny>> {
        let complete = conn.http().is_some_and(|http| http.response_complete());
        if !more && !complete {
            // Trailers follow: the end of the body goes out with them.
            conn.output_added(Flush::Batched);
            return self.ctx.after_send(py, &mut conn);
        }
        if !more {
            conn.output_added(Flush::Now);
            self.complete(py, conn);
            return Ok(self.ctx.done.clone_ref(py).into_any());
        }
        // A streaming response: pieces sent in a row go out together.
        conn.output_added(Flush::Batched);
        self.ctx.after_send(py, &mut conn)
    }

    /// The response is complete: let the driver move on to the next
    /// request, tell a waiting `receive()` that the exchange is over, and
    /// log it. Python runs only after the connection is released.
    pub(super) fn complete(
        &self,
        py: Python<'_>,
        mut conn: std::cell::RefMut<'_, Connection<HttpSession>>,
    ) {
        conn.response_completed();
        let waiter = conn.session.receive_waiter.take();
        let access = self.ctx.access_entry(&conn);
        drop(conn);
        if let Some(waiter) = waiter {
            if let Ok(message) = disconnect_message(py) {
                resolve(py, waiter, message.into_any());
            }
        }
        if let Some(entry) = access {
            self.ctx.log_access(py, entry);
        }
    }
}

#[pymethods]
impl Send {
    fn __call__(&self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let state = self.state.get()?;
        let message = message::as_dict(message)?;
        let mut fields = message::response_fields(message);
        let kind = message::kind(fields.kind.take())?;
        match kind.to_str()? {
            "http.response.start" => state.start(py, fields),
            "http.response.body" => state.body(py, fields),
            "http.response.pathsend" => file_send::pathsend(state, py, message),
            "http.response.zerocopysend" => file_send::zerocopysend(state, py, message),
            "http.response.trailers" => extras::trailers(state, py, message),
            "http.response.early_hint" => extras::early_hint(state, py, message),
            other => Err(PyValueError::new_err(format!(
                "unexpected ASGI message type '{other}' for an http connection"
            ))),
        }
    }
}
