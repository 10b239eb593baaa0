//! Awaitables that are already done. `await send(...)` and a `receive()`
//! with buffered data cost no asyncio Future and no trip through the loop.

use pyo3::exceptions::PyStopIteration;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use std::ffi::{c_int, c_uint, c_void};

/// `await`-ing it returns `value` at once.
#[pyclass(module = "pyre_http._core")]
pub struct Ready {
    value: Option<Py<PyAny>>,
}

impl Ready {
    pub fn new(value: Py<PyAny>) -> Self {
        Ready { value: Some(value) }
    }
}

#[pymethods]
impl Ready {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.value.take() {
            Some(value) => Err(PyStopIteration::new_err((value,))),
            None => Err(PyStopIteration::new_err((py.None(),))),
        }
    }
}

/// The type of what `send()` returns when nothing needs waiting for:
/// `await`-ing it returns None at once. Stateless, so one instance per
/// server serves every `send()` ([`new_done`]).
///
/// Made with the C API rather than `#[pyclass]`: awaiting it calls two slot
/// functions (`__await__` returns the object itself, `__next__` reports the
/// end with no value) that cannot fail or panic, so they need none of the
/// wrapping PyO3 puts around each call into Rust (the attach count, a
/// thread-local, and the panic trap), and it is not tracked by the garbage
/// collector (it holds no references). No instances from Python:
/// `Py_TPFLAGS_DISALLOW_INSTANTIATION`.
pub fn done_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static DONE_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    DONE_TYPE
        .get_or_try_init(py, || {
            let mut slots = [
                ffi::PyType_Slot {
                    slot: ffi::Py_am_await,
                    pfunc: done_itself as *mut c_void,
                },
                ffi::PyType_Slot {
                    slot: ffi::Py_tp_iter,
                    pfunc: done_itself as *mut c_void,
                },
                ffi::PyType_Slot {
                    slot: ffi::Py_tp_iternext,
                    pfunc: done_next as *mut c_void,
                },
                ffi::PyType_Slot {
                    slot: ffi::Py_tp_doc,
                    pfunc: DONE_DOC.as_ptr() as *mut c_void,
                },
                ffi::PyType_Slot::default(),
            ];
            let mut spec = ffi::PyType_Spec {
                name: c"pyre_http._core.Done".as_ptr(),
                basicsize: std::mem::size_of::<ffi::PyObject>() as c_int,
                itemsize: 0,
                flags: (ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_DISALLOW_INSTANTIATION) as c_uint,
                slots: slots.as_mut_ptr(),
            };
            // SAFETY: the spec and its slots are valid for the call (CPython
            // copies what it keeps; the name and doc are static). The result
            // is a new reference to a type, or NULL with an exception set.
            let made =
                unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyType_FromSpec(&mut spec))? };
            // SAFETY: PyType_FromSpec returns a type object.
            Ok::<_, PyErr>(unsafe { made.cast_into_unchecked::<PyType>() }.unbind())
        })
        .map(|t| t.bind(py))
}

const DONE_DOC: &std::ffi::CStr =
    c"What send() returns when nothing needs waiting for: awaiting it gives None.";

/// A new instance of [`done_type`].
pub fn new_done(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let kind = done_type(py)?;
    // SAFETY: `kind` is a live heap type whose instances are a bare
    // PyObject; PyType_GenericAlloc returns a new reference (holding one
    // on the type) or NULL with an exception set.
    let done = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyType_GenericAlloc(kind.as_type_ptr(), 0))?
    };
    Ok(done.unbind())
}

/// `__await__` and `__iter__`: the object itself.
unsafe extern "C" fn done_itself(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: CPython passes a live object; the slot returns a new reference.
    unsafe { ffi::Py_INCREF(slf) };
    slf
}

/// `__next__`: NULL without an exception set is "exhausted, no value",
/// which `await` reads as the value None.
unsafe extern "C" fn done_next(_slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    std::ptr::null_mut()
}
