//! Reading the fields of messages the application sends, with the type
//! checks the ASGI specification implies. Each failure is an exception in
//! the application, naming the field.

use crate::http1::FINAL_STATUSES;
use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyString};

/// The message as a dict.
pub fn as_dict<'a, 'py>(message: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyDict>> {
    message
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("an ASGI message must be a dict"))
}

/// The message as a dict, and its `type`.
pub fn parse<'a, 'py>(
    message: &'a Bound<'py, PyAny>,
) -> PyResult<(&'a Bound<'py, PyDict>, Bound<'py, PyString>)> {
    let py = message.py();
    let message = as_dict(message)?;
    let kind = kind(message.get_item(intern!(py, "type"))?)?;
    Ok((message, kind))
}

/// A message's `type` field: present, and a str.
pub fn kind(value: Option<Bound<'_, PyAny>>) -> PyResult<Bound<'_, PyString>> {
    value
        .ok_or_else(|| PyKeyError::new_err("an ASGI message needs a 'type'"))?
        .cast_into::<PyString>()
        .map_err(|_| PyTypeError::new_err("an ASGI message 'type' must be a str"))
}

/// The fields `send()` reads from `http.response.start` and
/// `http.response.body`, the messages of every response.
pub struct ResponseFields<'py> {
    pub kind: Option<Bound<'py, PyAny>>,
    pub status: Option<Bound<'py, PyAny>>,
    pub headers: Option<Bound<'py, PyAny>>,
    pub trailers: Option<Bound<'py, PyAny>>,
    pub body: Option<Bound<'py, PyAny>>,
    pub more_body: Option<Bound<'py, PyAny>>,
}

/// The [`ResponseFields`] of `message`, found in one pass over its items
/// rather than a hashed lookup per field, a missing one included. A key is
/// matched by identity with the interned field name first: the keys of a
/// dict display in the application's code are interned by the compiler, as
/// are ours. Any other str key is compared by value; keys that are not
/// strings or not fields are ignored, as a lookup would.
pub fn response_fields<'py>(message: &Bound<'py, PyDict>) -> ResponseFields<'py> {
    let py = message.py();
    let names = [
        intern!(py, "type"),
        intern!(py, "status"),
        intern!(py, "headers"),
        intern!(py, "trailers"),
        intern!(py, "body"),
        intern!(py, "more_body"),
    ];
    let mut values: [Option<Bound<'py, PyAny>>; 6] = Default::default();
    let mut position: ffi::Py_ssize_t = 0;
    let mut key: *mut ffi::PyObject = std::ptr::null_mut();
    let mut value: *mut ffi::PyObject = std::ptr::null_mut();
    // SAFETY: `message` is a dict kept alive for the loop, and nothing in the
    // loop runs Python code that could change it. PyDict_Next hands out
    // borrowed references, which are only compared or turned into owned
    // ones (`from_borrowed_ptr` increfs) while the dict holds them.
    while unsafe { ffi::PyDict_Next(message.as_ptr(), &mut position, &mut key, &mut value) } != 0 {
        let found = match names.iter().position(|name| name.as_ptr() == key) {
            Some(i) => Some(i),
            None => {
                // SAFETY: a borrowed reference the dict holds (see above).
                let key = unsafe { Bound::from_borrowed_ptr(py, key) };
                match key.cast::<PyString>().ok().and_then(|k| k.to_str().ok()) {
                    Some(text) => names
                        .iter()
                        .position(|name| name.to_str().ok() == Some(text)),
                    None => None,
                }
            }
        };
        if let Some(i) = found {
            // SAFETY: as for the key.
            values[i] = Some(unsafe { Bound::from_borrowed_ptr(py, value) });
        }
    }
    let [kind, status, headers, trailers, body, more_body] = values;
    ResponseFields {
        kind,
        status,
        headers,
        trailers,
        body,
        more_body,
    }
}

/// A field that may be missing or None.
pub fn optional<'py>(
    message: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    Ok(message.get_item(key)?.filter(|value| !value.is_none()))
}

/// The required `status` of a response start: an int from 200 to 599
/// (RFC 9110 §15 ends at 599; ASGI has no interim 1xx responses).
pub fn status(message: &Bound<'_, PyDict>) -> PyResult<u16> {
    let py = message.py();
    status_value(message.get_item(intern!(py, "status"))?)
}

/// [`status`] from the field's value (`None`: missing).
pub fn status_value(status: Option<Bound<'_, PyAny>>) -> PyResult<u16> {
    let status = status.ok_or_else(|| PyKeyError::new_err("a response start needs a 'status'"))?;
    if status.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err("'status' must be an int"));
    }
    match status.extract::<u16>() {
        Ok(code) if FINAL_STATUSES.contains(&code) => Ok(code),
        _ => Err(PyValueError::new_err(format!(
            "Invalid response status {}: must be an int from 200 to 599",
            status.repr()?
        ))),
    }
}

/// `body` (bytes, default empty) and `more_body` (bool, default False) of a
/// response body message.
pub fn body<'py>(message: &Bound<'py, PyDict>) -> PyResult<(Option<Bound<'py, PyBytes>>, bool)> {
    let py = message.py();
    body_values(
        message.get_item(intern!(py, "body"))?,
        message.get_item(intern!(py, "more_body"))?,
    )
}

/// [`body`] from the fields' values (`None`: missing).
pub fn body_values<'py>(
    body: Option<Bound<'py, PyAny>>,
    more_body: Option<Bound<'py, PyAny>>,
) -> PyResult<(Option<Bound<'py, PyBytes>>, bool)> {
    let body = match body.filter(|value| !value.is_none()) {
        None => None,
        Some(body) => Some(
            body.cast_into::<PyBytes>()
                .map_err(|_| PyTypeError::new_err("'body' must be bytes"))?,
        ),
    };
    let more = flag_value(more_body, "more_body")?;
    Ok((body, more))
}

/// An optional bool field, False when missing or None.
pub fn flag(message: &Bound<'_, PyDict>, key: &Bound<'_, PyString>) -> PyResult<bool> {
    flag_value(message.get_item(key)?, key)
}

/// [`flag`] from the field's value (`None`: missing).
pub fn flag_value(value: Option<Bound<'_, PyAny>>, key: impl std::fmt::Display) -> PyResult<bool> {
    match value.filter(|value| !value.is_none()) {
        None => Ok(false),
        Some(flag) => Ok(flag
            .cast::<PyBool>()
            .map_err(|_| PyTypeError::new_err(format!("'{key}' must be a bool")))?
            .is_true()),
    }
}

/// An optional int field that must not be negative.
pub fn optional_u64(
    message: &Bound<'_, PyDict>,
    key: &Bound<'_, PyString>,
) -> PyResult<Option<u64>> {
    match optional(message, key)? {
        None => Ok(None),
        Some(value) if value.is_instance_of::<PyBool>() => {
            Err(PyTypeError::new_err(format!("'{key}' must be an int")))
        }
        Some(value) => value
            .extract::<u64>()
            .map(Some)
            .map_err(|_| PyValueError::new_err(format!("'{key}' must be a non-negative int"))),
    }
}

/// An optional str field.
pub fn optional_str(
    message: &Bound<'_, PyDict>,
    key: &Bound<'_, PyString>,
) -> PyResult<Option<String>> {
    match optional(message, key)? {
        None => Ok(None),
        Some(value) => Ok(Some(
            value
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err(format!("'{key}' must be a str")))?
                .to_str()?
                .to_owned(),
        )),
    }
}
