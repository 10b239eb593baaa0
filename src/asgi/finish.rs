//! What the server does when the application is done with a request or a
//! WebSocket, normally or not: nothing, a log line, a 500, a cut-off
//! response or a close frame.

use super::context::AppContext;
use super::errors::ClientDisconnected;
use super::response;
use super::session::HttpSession;
use super::websocket;
use crate::net::ConnRef;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

/// What the server does when the application is done with a request,
/// normally or not.
pub fn finish_request(
    py: Python<'_>,
    ctx: &AppContext,
    conn: &ConnRef<HttpSession>,
    seq: u64,
    outcome: Result<(), PyErr>,
) {
    if conn
        .try_borrow()
        .is_ok_and(|c| c.session.seq == seq && c.session.ws.is_some())
    {
        websocket::finish(py, ctx, conn, outcome);
        return;
    }
    let (current, started) = {
        let Ok(c) = conn.try_borrow() else {
            return;
        };
        let http = c.http();
        let current = c.session.seq == seq
            && http.is_some_and(|http| !http.response_complete())
            && !c.is_closed();
        (current, http.is_some_and(|http| http.response_started()))
    };
    match outcome {
        Ok(()) if !current => return,
        Ok(()) if !started => {
            ctx.log_error(py, "ASGI callable returned without starting response.")
        }
        Ok(()) => ctx.log_error(py, "ASGI callable returned without completing response."),
        Err(err) => {
            if err.is_instance_of::<ClientDisconnected>(py) {
                // The client left; the application noticed. Nothing to report.
            } else if err.is_instance_of::<PyException>(py) {
                ctx.log_exception(py, "Exception in ASGI application", &err);
            }
            if !current {
                return;
            }
        }
    }
    let Ok(mut c) = conn.try_borrow_mut() else {
        return;
    };
    response::fail(&mut c, ctx);
    let answered_500 = !started && c.session.status == 500;
    let access = if answered_500 {
        ctx.access_entry(&c)
    } else {
        None
    };
    drop(c);
    if let Some(entry) = access {
        ctx.log_access(py, entry);
    }
}
