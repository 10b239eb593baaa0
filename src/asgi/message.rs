//! Reading the fields of messages the application sends, with the type
//! checks the ASGI specification implies. Each failure is an exception in
//! the application, naming the field.

use crate::http1::FINAL_STATUSES;
use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyString};

/// The message as a dict, and its `type`.
pub fn parse<'a, 'py>(
    message: &'a Bound<'py, PyAny>,
) -> PyResult<(&'a Bound<'py, PyDict>, Bound<'py, PyString>)> {
    let py = message.py();
    let message = message
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("an ASGI message must be a dict"))?;
    let kind = message
        .get_item(intern!(py, "type"))?
        .ok_or_else(|| PyKeyError::new_err("an ASGI message needs a 'type'"))?
        .cast_into::<PyString>()
        .map_err(|_| PyTypeError::new_err("an ASGI message 'type' must be a str"))?;
    Ok((message, kind))
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
    let status = message
        .get_item(intern!(py, "status"))?
        .ok_or_else(|| PyKeyError::new_err("a response start needs a 'status'"))?;
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
    let body = match optional(message, intern!(py, "body"))? {
        None => None,
        Some(body) => Some(
            body.cast_into::<PyBytes>()
                .map_err(|_| PyTypeError::new_err("'body' must be bytes"))?,
        ),
    };
    let more = match optional(message, intern!(py, "more_body"))? {
        None => false,
        Some(flag) => flag
            .cast::<PyBool>()
            .map_err(|_| PyTypeError::new_err("'more_body' must be a bool"))?
            .is_true(),
    };
    Ok((body, more))
}

/// An optional bool field, False when missing or None.
pub fn flag(message: &Bound<'_, PyDict>, key: &Bound<'_, PyString>) -> PyResult<bool> {
    match optional(message, key)? {
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
