//! The `http.response.pathsend` and `http.response.zerocopysend`
//! extensions: the application names a file (by path, or by an open file
//! object); the driver sends it (`crate::net::FileBody`) without the bytes
//! passing through Python.

use super::message;
use super::response::order_error;
use super::send::SendState;
use super::session::{borrow_conn, http_and_out, HttpSession};
use crate::net::{Connection, FileBody};
use pyo3::exceptions::{
    PyFileNotFoundError, PyKeyError, PyOSError, PyPermissionError, PyRuntimeError, PyTypeError,
    PyValueError,
};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::cell::RefMut;
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

/// `{"type": "http.response.pathsend", "path": str}`: the whole file at an
/// absolute path, ending the response.
pub(super) fn pathsend(
    state: &SendState,
    py: Python<'_>,
    message: &Bound<'_, PyDict>,
) -> PyResult<Py<PyAny>> {
    let path = message::optional_str(message, intern!(py, "path"))?
        .ok_or_else(|| PyKeyError::new_err("'http.response.pathsend' needs a 'path'"))?;
    if !Path::new(&path).is_absolute() {
        return Err(PyValueError::new_err(format!(
            "'http.response.pathsend' path {path:?} is not absolute"
        )));
    }
    let mut conn = body_allowed(state, "http.response.pathsend")?;
    if discard(&mut conn, false)? {
        // HEAD, 204, 304: the file is not even opened.
        return state.body_sent(py, conn, false);
    }
    let file = File::open(&path).map_err(|e| open_error(&path, e))?;
    let len = regular_size(&file).map_err(|e| open_error(&path, e))?;
    queue(state, py, conn, file, 0, len, false)
}

/// `{"type": "http.response.zerocopysend", "file": <has fileno()>,
/// "offset": int?, "count": int?, "more_body": bool?}`: `count` bytes (to
/// the end when absent) from `offset` (the file's position when absent, which
/// then moves past them, as `sendfile(2)` without an offset does). The
/// descriptor is duplicated: the application may close its file at once.
pub(super) fn zerocopysend(
    state: &SendState,
    py: Python<'_>,
    message: &Bound<'_, PyDict>,
) -> PyResult<Py<PyAny>> {
    let file_obj = message
        .get_item(intern!(py, "file"))?
        .ok_or_else(|| PyKeyError::new_err("'http.response.zerocopysend' needs a 'file'"))?;
    let fd: i32 = file_obj
        .call_method0(intern!(py, "fileno"))
        .and_then(|fd| fd.extract())
        .map_err(|_| {
            PyTypeError::new_err("'http.response.zerocopysend' 'file' must have a fileno()")
        })?;
    let offset = message::optional_u64(message, intern!(py, "offset"))?;
    let count = message::optional_u64(message, intern!(py, "count"))?;
    let more = message::flag(message, intern!(py, "more_body"))?;
    let mut conn = body_allowed(state, "http.response.zerocopysend")?;
    if discard(&mut conn, more)? {
        return state.body_sent(py, conn, more);
    }
    let mut file =
        dup(fd).map_err(|e| PyOSError::new_err(format!("zerocopysend: fd {fd}: {e}")))?;
    let size = regular_size(&file)
        .map_err(|e| PyOSError::new_err(format!("zerocopysend: fd {fd}: {e}")))?;
    let from_position = offset.is_none();
    let offset = match offset {
        Some(offset) => offset,
        None => file.stream_position().map_err(PyErr::from)?,
    };
    let available = size.saturating_sub(offset);
    let len = count.unwrap_or(available);
    if offset > size || len > available {
        return Err(PyValueError::new_err(format!(
            "zerocopysend: {len} bytes from offset {offset} go past the end of the file ({size} bytes)"
        )));
    }
    if from_position {
        // The descriptor shares the application's file position.
        file.seek(SeekFrom::Start(offset + len))
            .map_err(PyErr::from)?;
    }
    queue(state, py, conn, file, offset, len, more)
}

/// The connection, if a body may be sent now.
fn body_allowed<'a>(
    state: &'a SendState,
    kind: &str,
) -> PyResult<RefMut<'a, Connection<HttpSession>>> {
    let conn = borrow_conn(&state.conn)?;
    state.check_writable(&conn)?;
    if !conn.http().is_some_and(|http| http.response_started()) {
        return Err(PyRuntimeError::new_err(format!(
            "'{kind}' sent before 'http.response.start'"
        )));
    }
    Ok(conn)
}

/// For a response without a body (HEAD, 204, 304): ends it (unless
/// `more`) without touching the file; true when that was the case.
fn discard(conn: &mut Connection<HttpSession>, more: bool) -> PyResult<bool> {
    let (http, out) = http_and_out(conn)?;
    if !http.discards_body() {
        return Ok(false);
    }
    http.send_body(b"", more, out).map_err(order_error)?;
    Ok(true)
}

/// Frames `len` bytes of `file` from `offset` as body and queues them
/// behind the output so far; output sent later follows them.
fn queue(
    state: &SendState,
    py: Python<'_>,
    mut conn: RefMut<'_, Connection<HttpSession>>,
    file: File,
    offset: u64,
    len: u64,
    more: bool,
) -> PyResult<Py<PyAny>> {
    let (http, out) = http_and_out(&mut conn)?;
    let suffix = http.send_external_body(len, out).map_err(order_error)?;
    if let Some(suffix) = suffix {
        conn.add_file(FileBody::new(file, offset, len));
        let (_, out) = http_and_out(&mut conn)?;
        out.extend_from_slice(suffix);
        conn.session.body_bytes += len;
    }
    let (http, out) = http_and_out(&mut conn)?;
    http.send_body(b"", more, out).map_err(order_error)?;
    state.body_sent(py, conn, more)
}

/// The size of a regular file; anything else (a pipe, a socket, a
/// directory) has no size to frame the body with.
fn regular_size(file: &File) -> io::Result<u64> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(meta.len())
}

/// A close-on-exec duplicate of `fd`, owned here.
fn dup(fd: i32) -> io::Result<File> {
    // SAFETY: fcntl on any integer is safe; a negative result is an error.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a descriptor just created, owned by nobody else.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(new) }))
}

/// One line naming the path and the reason, with the matching OSError
/// subclass.
fn open_error(path: &str, e: io::Error) -> PyErr {
    let text = format!("'http.response.pathsend' cannot send {path:?}: {e}");
    match e.kind() {
        io::ErrorKind::NotFound => PyFileNotFoundError::new_err(text),
        io::ErrorKind::PermissionDenied => PyPermissionError::new_err(text),
        _ => PyOSError::new_err(text),
    }
}
