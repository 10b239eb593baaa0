//! The `http.response.trailers` and `http.response.early_hint` extensions:
//! fields after the body (the chunked trailer section) and a
//! `103 Early Hints` before the response.

use super::message;
use super::response::{header_pair, order_error};
use super::send::SendState;
use super::session::{borrow_conn, http_and_out};
use crate::net::Flush;
use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// `{"type": "http.response.trailers", "headers": [...], "more_trailers":
/// bool}` after the last body message of a response started with
/// `"trailers": True`. Written when the client takes trailers, checked and
/// dropped otherwise.
pub(super) fn trailers(
    state: &SendState,
    py: Python<'_>,
    message: &Bound<'_, PyDict>,
) -> PyResult<Py<PyAny>> {
    let headers = message::optional(message, intern!(py, "headers"))?;
    let more = message::flag(message, intern!(py, "more_trailers"))?;
    let mut pairs = Vec::new();
    if let Some(headers) = headers {
        for item in headers.try_iter()? {
            pairs.push(header_pair(&item?)?);
        }
    }
    let mut conn = borrow_conn(&state.conn)?;
    state.check_writable(&conn)?;
    let (http, out) = http_and_out(&mut conn)?;
    for (name, value) in &pairs {
        http.send_trailer(name.as_bytes(), value.as_bytes(), out)
            .map_err(|e| PyValueError::new_err(e.0))?;
    }
    http.end_trailers(more, out).map_err(order_error)?;
    if more {
        conn.output_added(Flush::Batched);
        return state.ctx.after_send(py, &mut conn);
    }
    conn.output_added(Flush::Now);
    state.complete(py, conn);
    Ok(state.ctx.done.clone_ref(py).into_any())
}

/// `{"type": "http.response.early_hint", "links": [bytes, ...]}` before
/// `http.response.start`: a `103 Early Hints` with one `link` field each.
/// Ignored for an HTTP/1.0 client, which cannot take a 1xx response.
pub(super) fn early_hint(
    state: &SendState,
    py: Python<'_>,
    message: &Bound<'_, PyDict>,
) -> PyResult<Py<PyAny>> {
    let links = message
        .get_item(intern!(py, "links"))?
        .ok_or_else(|| PyKeyError::new_err("'http.response.early_hint' needs 'links'"))?;
    let mut values = Vec::new();
    for link in links.try_iter()? {
        let link = link?
            .cast_into::<PyBytes>()
            .map_err(|_| PyTypeError::new_err("early hint links must be bytes"))?;
        values.push(link);
    }
    let slices: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
    let mut conn = borrow_conn(&state.conn)?;
    state.check_writable(&conn)?;
    let (http, out) = http_and_out(&mut conn)?;
    let written =
        http.send_early_hints(&slices, out)
            .map_err(|e| match http.response_started() {
                true => order_error(e),
                false => PyValueError::new_err(e.0),
            })?;
    if written {
        // The client may start fetching while the response is computed.
        conn.output_added(Flush::Now);
    }
    Ok(state.ctx.done.clone_ref(py).into_any())
}
