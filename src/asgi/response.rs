//! Writing what the application sends (and what the server answers for it
//! when it fails) through the connection's protocol state.

use super::context::AppContext;
use super::session::{http_and_out, HttpSession};
use crate::http1::SendError;
use crate::net::{Connection, Flush};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

const INTERNAL_ERROR_BODY: &[u8] = b"Internal Server Error";

/// Encodes `http.response.start`: the status line and the app's headers,
/// each checked before anything reaches the wire.
pub fn start(
    conn: &mut Connection<HttpSession>,
    ctx: &AppContext,
    status: u16,
    headers: Option<&Bound<'_, PyAny>>,
    trailers: bool,
) -> PyResult<()> {
    let date = ctx.date();
    // A custom access-log format may show some response headers.
    let logged = ctx.access_response_headers();
    let mut extra = match logged.is_empty() {
        true => None,
        false => conn.session.access_extra.take(),
    };
    let (http, out) = http_and_out(conn)?;
    let mut writer = http.start_response(status).map_err(order_error)?;
    if let Some(headers) = headers {
        for_each_item(headers, |item| {
            let (name, value) = header_pair(item)?;
            writer
                .header(name.as_bytes(), value.as_bytes())
                .map_err(|e| PyValueError::new_err(e.0))?;
            if let Some(extra) = extra.as_deref_mut() {
                let name = name.as_bytes();
                if let Some(i) = logged.iter().position(|n| n.eq_ignore_ascii_case(name)) {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    extra.response_headers[i] = Some(value);
                }
            }
            Ok(())
        })?;
    }
    if trailers {
        writer.announce_trailers();
    }
    writer
        .finish(&ctx.defaults, &date, out)
        .map_err(|e| PyValueError::new_err(e.0))?;
    conn.session.status = status;
    if extra.is_some() {
        conn.session.access_extra = extra;
    }
    Ok(())
}

/// Calls `f` with each item of `headers`, as `for item in headers` would.
/// A list or a tuple (the usual containers) is read by index, without an
/// iterator object; the list's length is read again before each item, as
/// its iterator does, in case `f` runs code that changes it.
fn for_each_item<'py>(
    headers: &Bound<'py, PyAny>,
    mut f: impl FnMut(&Bound<'py, PyAny>) -> PyResult<()>,
) -> PyResult<()> {
    if let Ok(list) = headers.cast_exact::<PyList>() {
        let mut i = 0;
        while i < list.len() {
            f(&list.get_item(i)?)?;
            i += 1;
        }
    } else if let Ok(tuple) = headers.cast_exact::<PyTuple>() {
        for item in tuple.iter() {
            f(&item)?;
        }
    } else {
        for item in headers.try_iter()? {
            f(&item?)?;
        }
    }
    Ok(())
}

/// One `[name, value]` pair of byte strings.
pub fn header_pair<'py>(
    item: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let (name, value) = if let Ok(tuple) = item.cast::<PyTuple>() {
        if tuple.len() != 2 {
            return Err(PyValueError::new_err(
                "each ASGI header must be a [name, value] pair",
            ));
        }
        (tuple.get_item(0)?, tuple.get_item(1)?)
    } else {
        if item.len()? != 2 {
            return Err(PyValueError::new_err(
                "each ASGI header must be a [name, value] pair",
            ));
        }
        (item.get_item(0)?, item.get_item(1)?)
    };
    let not_bytes = || PyTypeError::new_err("ASGI header names and values must be bytes");
    Ok((
        name.cast_into::<PyBytes>().map_err(|_| not_bytes())?,
        value.cast_into::<PyBytes>().map_err(|_| not_bytes())?,
    ))
}

/// Errors in the order of messages (body before start, a second start...).
pub fn order_error(e: SendError) -> PyErr {
    PyRuntimeError::new_err(e.0)
}

/// Answers 500 if nothing was sent yet; otherwise the response is cut off
/// by closing the connection, so the client cannot mistake it for whole.
pub fn fail(conn: &mut Connection<HttpSession>, ctx: &AppContext) {
    if conn.is_closed() {
        return;
    }
    let date = ctx.date();
    let Some((http, out)) = conn.http_and_out() else {
        conn.close_soon();
        return;
    };
    if http.response_started() {
        conn.close_soon();
        return;
    }
    http.close_after_response();
    let length = INTERNAL_ERROR_BODY.len().to_string();
    let written = http.start_response(500).and_then(|mut writer| {
        writer.header(b"content-type", b"text/plain; charset=utf-8")?;
        writer.header(b"content-length", length.as_bytes())?;
        writer.finish(&ctx.defaults, &date, out)
    });
    let written = written.and_then(|()| http.send_body(INTERNAL_ERROR_BODY, false, out));
    conn.session.status = 500;
    conn.session.body_bytes = INTERNAL_ERROR_BODY.len() as u64;
    if written.is_err() {
        conn.close_soon();
    }
    conn.output_added(Flush::Now);
    conn.response_completed();
}
