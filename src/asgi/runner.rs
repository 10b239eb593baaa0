//! Wraps the application's coroutine so that the server learns how it
//! ended without a done-callback: it is itself a coroutine, handed to
//! asyncio as the task's coroutine, and forwards every step to the app's.
//!
//! An exception from the application is logged once and turned into a 500
//! (or a cut-off response); the task then ends normally, so asyncio does not
//! log it a second time. `BaseException`s such as `CancelledError` pass
//! through unchanged, so cancellation keeps asyncio's meaning.
//!
//! ASGI asks the application's call for an awaitable, not a coroutine:
//! [`awaitable_steps`] gives what the runner steps, the coroutine itself on
//! the fast path, otherwise the iterator of `__await__()`, as `await` does.

use super::context::AppContext;
use super::finish::finish_request;
use super::loop_bound::LoopBound;
use super::session::{borrow_conn, HttpSession};
use crate::net::ConnRef;
use pyo3::exceptions::{PyBaseException, PyException, PyStopIteration, PyTypeError};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyIterator, PyType};
use std::rc::Rc;

#[pyclass(module = "pyre_http._core", freelist = 64)]
pub struct AppRunner {
    /// The application's coroutine, or the iterator of its awaitable's
    /// `__await__()` (see [`awaitable_steps`]).
    coro: Py<PyAny>,
    /// Touched only when the request ends: stepping the coroutine needs
    /// nothing of the loop's state.
    request: LoopBound<RunnerRequest>,
    task_slot: Option<usize>,
    finished: bool,
}

struct RunnerRequest {
    ctx: Rc<AppContext>,
    conn: ConnRef<HttpSession>,
    seq: u64,
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
            request: LoopBound::new(RunnerRequest { ctx, conn, seq }),
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
                self.end(py, Ok(()))?;
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
            self.end(py, Ok(()))?;
            return Ok(Step::Returned);
        }
        if err.is_instance_of::<PyException>(py) {
            self.end(py, Err(err))?;
            return Ok(Step::Returned);
        }
        self.end(py, Err(err.clone_ref(py)))?;
        Err(err)
    }

    fn end(&mut self, py: Python<'_>, outcome: Result<(), PyErr>) -> PyResult<()> {
        if self.finished {
            return Ok(());
        }
        let request = self.request.get()?;
        self.finished = true;
        if let Some(slot) = self.task_slot.take() {
            request.ctx.forget_task(slot);
        }
        finish_request(py, &request.ctx, &request.conn, request.seq, outcome);
        Ok(())
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

/// What the runner steps for the value `app(scope, receive, send)`
/// returned. A coroutine is stepped directly (the fast path: one type
/// check). Any other awaitable is stepped through the iterator its
/// `__await__()` returns, and a generator marked by `types.coroutine` as it
/// is, which is what `await` itself accepts. Anything else is the
/// application's error, with a message that says so.
pub fn awaitable_steps(called: Bound<'_, PyAny>) -> PyResult<Bound<'_, PyAny>> {
    // SAFETY: `called` is a live reference for the duration of the call.
    if unsafe { ffi::PyCoro_CheckExact(called.as_ptr()) } != 0 {
        return Ok(called);
    }
    if is_generator_coroutine(&called)? {
        return Ok(called);
    }
    let py = called.py();
    let kind = called.get_type();
    let Some(await_method) = kind.getattr_opt(intern!(py, "__await__"))? else {
        return Err(PyTypeError::new_err(format!(
            "the ASGI application returned {}, which is not awaitable (no __await__ method)",
            describe_type(&kind)
        )));
    };
    let steps = await_method.call1((&called,))?;
    // SAFETY: `steps` is a live reference for the duration of the call.
    let is_coroutine = unsafe { ffi::PyCoro_CheckExact(steps.as_ptr()) } != 0;
    if is_coroutine || steps.cast::<PyIterator>().is_err() {
        return Err(PyTypeError::new_err(format!(
            "__await__() of {} returned {}, not an iterator",
            describe_type(&kind),
            describe_type(&steps.get_type())
        )));
    }
    Ok(steps)
}

/// A generator made awaitable by `types.coroutine` (its code carries
/// `CO_ITERABLE_COROUTINE`); it has no `__await__`.
fn is_generator_coroutine(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    // SAFETY: `value` is a live reference for the duration of the call.
    if unsafe { ffi::PyGen_CheckExact(value.as_ptr()) } == 0 {
        return Ok(false);
    }
    let py = value.py();
    let flags: i32 = value
        .getattr(intern!(py, "gi_code"))?
        .getattr(intern!(py, "co_flags"))?
        .extract()?;
    Ok(flags & ffi::CO_ITERABLE_COROUTINE != 0)
}

/// "a NAME object", for error messages ("None" for None).
fn describe_type(kind: &Bound<'_, PyType>) -> String {
    match kind.name() {
        Ok(name) if name.to_str().is_ok_and(|n| n == "NoneType") => "None".to_string(),
        Ok(name) => format!("a {name} object"),
        Err(_) => "an object".to_string(),
    }
}

/// The exception `throw(kind, value)` names, to raise where the iterator
/// stepped cannot take it itself.
fn thrown_exception(kind: &Bound<'_, PyAny>, value: Option<&Bound<'_, PyAny>>) -> PyErr {
    match value {
        Some(value) if value.is_instance_of::<PyBaseException>() => {
            PyErr::from_value(value.clone())
        }
        _ => PyErr::from_value(kind.clone()),
    }
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
        let thrown = match coro.getattr_opt(intern!(py, "throw"))? {
            // An `__await__()` iterator without `throw`: as in a generator
            // awaiting it, the exception is raised at the await itself.
            None => Err(thrown_exception(kind, value)),
            Some(throw) => match (value, traceback) {
                (None, None) => throw.call1((kind,)),
                (value, traceback) => throw.call1((kind, value, traceback)),
            },
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
        // An `__await__()` iterator may have no `close`: nothing to end then.
        if let Some(close) = self.coro.bind(py).getattr_opt(intern!(py, "close"))? {
            close.call0()?;
        }
        if !self.finished {
            let request = self.request.get()?;
            self.finished = true;
            if let Some(slot) = self.task_slot.take() {
                request.ctx.forget_task(slot);
            }
            let mut c = borrow_conn(&request.conn)?;
            let unanswered = c.http().is_some_and(|http| !http.response_complete());
            if c.session.seq == request.seq && unanswered {
                c.close_soon();
            }
        }
        Ok(())
    }
}
