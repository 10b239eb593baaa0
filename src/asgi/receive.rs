//! The `receive` callable: `http.request` events from the body queue, then
//! `http.disconnect` once the response is complete or the client has gone.

use super::awaitable::Ready;
use super::context::{resolve, AppContext};
use super::loop_bound::LoopBound;
use super::session::{borrow_conn, HttpSession};
use crate::net::{ConnRef, Connection, Flush};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::rc::Rc;

#[pyclass(module = "pyre_http._core", freelist = 64)]
pub struct Receive {
    state: LoopBound<ReceiveState>,
}

struct ReceiveState {
    ctx: Rc<AppContext>,
    conn: ConnRef<HttpSession>,
    seq: u64,
}

impl Receive {
    pub fn new(ctx: Rc<AppContext>, conn: ConnRef<HttpSession>, seq: u64) -> Self {
        Receive {
            state: LoopBound::new(ReceiveState { ctx, conn, seq }),
        }
    }
}

#[pymethods]
impl Receive {
    fn __call__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.state.get()?.call(py)
    }
}

impl ReceiveState {
    fn call(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let mut conn = borrow_conn(&self.conn)?;
        let finished =
            conn.session.seq != self.seq || conn.http().is_none_or(|http| http.response_complete());
        if !finished {
            if let Some(message) = take_request_message(py, &mut conn)? {
                return ready(py, message);
            }
        }
        if finished || conn.session.client_gone || conn.is_closed() {
            return ready(py, disconnect_message(py)?);
        }
        if !conn.session.request_delivered {
            // The application wants the body: now is the time to tell a
            // client that waits for `100 Continue`.
            if let Some((http, out)) = conn.http_and_out() {
                let before = out.len();
                http.send_continue(out);
                if out.len() != before {
                    conn.output_added(Flush::Now);
                }
            }
        }
        self.ctx.wait_for_input(py, &mut conn)
    }
}

fn ready(py: Python<'_>, message: Bound<'_, PyDict>) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, Ready::new(message.into_any().unbind()))?.into_any())
}

/// The next `http.request` event, if body data (or its end) is there.
pub fn take_request_message<'py>(
    py: Python<'py>,
    conn: &mut Connection<HttpSession>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let session = &mut conn.session;
    if session.request_delivered || (session.body.is_empty() && !session.body_complete) {
        return Ok(None);
    }
    let body = session.take_body();
    let more_body = !session.body_complete;
    session.request_delivered = !more_body;
    conn.resume_reading();
    let message = PyDict::new(py);
    message.set_item(intern!(py, "type"), intern!(py, "http.request"))?;
    message.set_item(intern!(py, "body"), PyBytes::new(py, &body))?;
    message.set_item(intern!(py, "more_body"), more_body)?;
    Ok(Some(message))
}

/// Resolves a waiting `receive()` with what `next` finds for it, if
/// anything; the shared path of the http and websocket receivers. Python
/// runs only after the connection is released.
pub fn wake_receiver<'py>(
    py: Python<'py>,
    conn: &ConnRef<HttpSession>,
    next: impl FnOnce(Python<'py>, &mut Connection<HttpSession>) -> PyResult<Option<Bound<'py, PyDict>>>,
) {
    let Ok(mut c) = conn.try_borrow_mut() else {
        return;
    };
    if c.session.receive_waiter.is_none() {
        return;
    }
    match next(py, &mut c) {
        Ok(Some(message)) => {
            let waiter = c.session.receive_waiter.take();
            drop(c);
            if let Some(waiter) = waiter {
                resolve(py, waiter, message.into_any());
            }
        }
        Ok(None) => {}
        Err(err) => err.write_unraisable(py, None),
    }
}

pub fn disconnect_message(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let message = PyDict::new(py);
    message.set_item(intern!(py, "type"), intern!(py, "http.disconnect"))?;
    Ok(message)
}
