//! Wraps the application's coroutine so that the server learns how it
//! ended without a done-callback: it is itself a coroutine, handed to
//! asyncio as the task's coroutine, and forwards every step to the app's.
//!
//! An exception from the application is logged once and turned into a 500
//! (or a cut-off response); the task then ends normally, so asyncio does not
//! log it a second time. `BaseException`s such as `CancelledError` pass
//! through unchanged, so cancellation keeps asyncio's meaning.

use super::context::AppContext;
use super::finish::finish_request;
use super::session::{borrow_conn, HttpSession};
use crate::net::ConnRef;
use pyo3::exceptions::{PyException, PyStopIteration};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use std::rc::Rc;

#[pyclass(module = "pyre_http._core", unsendable)]
pub struct AppRunner {
    coro: Py<PyAny>,
    ctx: Rc<AppContext>,
    conn: ConnRef<HttpSession>,
    seq: u64,
    task_slot: Option<usize>,
    finished: bool,
}

/// How one step of the application's coroutine ended.
enum Step {
    Yielded(Py<PyAny>),
    Returned,
}

impl AppRunner {
    pub fn new(coro: Py<PyAny>, ctx: Rc<AppContext>, conn: ConnRef<HttpSession>, seq: u64) -> Self {
        AppRunner {
            coro,
            ctx,
            conn,
            seq,
            task_slot: None,
            finished: false,
        }
    }

    fn resume(&mut self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Step> {
        let mut result: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: both pointers are live references held for the call;
        // `result` receives a new reference (or NULL on error).
        let status = unsafe { ffi::PyIter_Send(self.coro.as_ptr(), value.as_ptr(), &mut result) };
        match status {
            ffi::PySendResult::PYGEN_NEXT => {
                // SAFETY: PYGEN_NEXT hands us a new, non-NULL reference.
                Ok(Step::Yielded(
                    unsafe { Bound::from_owned_ptr(py, result) }.unbind(),
                ))
            }
            ffi::PySendResult::PYGEN_RETURN => {
                if !result.is_null() {
                    // SAFETY: the return value is a new reference we drop.
                    drop(unsafe { Bound::from_owned_ptr(py, result) });
                }
                self.end(py, Ok(()));
                Ok(Step::Returned)
            }
            ffi::PySendResult::PYGEN_ERROR => {
                let err = PyErr::take(py).unwrap_or_else(|| {
                    PyException::new_err("coroutine failed without an exception")
                });
                self.raised(py, err)
            }
        }
    }

    /// The application raised: an `Exception` ends the request here; a
    /// `BaseException` (cancellation, exit) propagates to the task.
    fn raised(&mut self, py: Python<'_>, err: PyErr) -> PyResult<Step> {
        if err.is_instance_of::<PyStopIteration>(py) {
            self.end(py, Ok(()));
            return Ok(Step::Returned);
        }
        if err.is_instance_of::<PyException>(py) {
            self.end(py, Err(err));
            return Ok(Step::Returned);
        }
        self.end(py, Err(err.clone_ref(py)));
        Err(err)
    }

    fn end(&mut self, py: Python<'_>, outcome: Result<(), PyErr>) {
        if self.finished {
            return;
        }
        self.finished = true;
        if let Some(slot) = self.task_slot.take() {
            self.ctx.forget_task(slot);
        }
        finish_request(py, &self.ctx, &self.conn, self.seq, outcome);
    }
}

/// Runs the application coroutine, wrapped in `runner`, as an asyncio task
/// and keeps the task referenced until the runner ends.
pub fn start(py: Python<'_>, ctx: &AppContext, runner: Bound<'_, AppRunner>) -> PyResult<()> {
    let task = ctx.spawn(py, runner.as_any())?;
    let mut runner = runner.try_borrow_mut()?;
    if !runner.finished {
        runner.task_slot = Some(ctx.keep_task(task));
    }
    Ok(())
}

#[pymethods]
impl AppRunner {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.resume(py, &py.None().into_bound(py))? {
            Step::Yielded(value) => Ok(Some(value)),
            Step::Returned => Ok(None),
        }
    }

    fn send(&mut self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        match self.resume(py, value)? {
            Step::Yielded(value) => Ok(value),
            Step::Returned => Err(PyStopIteration::new_err(())),
        }
    }

    #[pyo3(signature = (kind, value=None, traceback=None))]
    fn throw(
        &mut self,
        py: Python<'_>,
        kind: &Bound<'_, PyAny>,
        value: Option<&Bound<'_, PyAny>>,
        traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let coro = self.coro.bind(py);
        let thrown = match (value, traceback) {
            (None, None) => coro.call_method1(intern!(py, "throw"), (kind,)),
            (value, traceback) => coro.call_method1(intern!(py, "throw"), (kind, value, traceback)),
        };
        let step = match thrown {
            Ok(yielded) => Step::Yielded(yielded.unbind()),
            Err(err) => self.raised(py, err)?,
        };
        match step {
            Step::Yielded(value) => Ok(value),
            Step::Returned => Err(PyStopIteration::new_err(())),
        }
    }

    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        self.coro.bind(py).call_method0(intern!(py, "close"))?;
        if !self.finished {
            self.finished = true;
            if let Some(slot) = self.task_slot.take() {
                self.ctx.forget_task(slot);
            }
            let mut c = borrow_conn(&self.conn)?;
            let unanswered = c.http().is_some_and(|http| !http.response_complete());
            if c.session.seq == self.seq && unanswered {
                c.close_soon();
            }
        }
        Ok(())
    }
}
