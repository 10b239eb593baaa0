//! Awaitables that are already done. `await send(...)` and a `receive()`
//! with buffered data cost no asyncio Future and no trip through the loop.

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;

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

/// `await`-ing it returns None at once. Stateless, so one instance serves
/// every `send()`.
#[pyclass(module = "pyre_http._core", frozen)]
pub struct Done;

#[pymethods]
impl Done {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self) -> Option<Py<PyAny>> {
        None
    }
}
