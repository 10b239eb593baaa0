//! What every request of one server shares: the application, the event
//! loop, how tasks start, response defaults, loggers and the running tasks.

use super::awaitable::new_done;
use super::errors::ClientDisconnected;
use super::scope::ScopeBuilder;
use super::session::{AccessExtra, HttpSession};
use super::settings::{ProxySettings, WsSettings};
use crate::http1::{http_date, ResponseDefaults};
use crate::net::{Connection, SockAddr};
use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use slab::Slab;
use std::cell::{Cell, RefCell};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub struct AppContext {
    pub app: Py<PyAny>,
    create_future: Py<PyAny>,
    task_start: TaskStart,
    pub scope: ScopeBuilder,
    pub defaults: ResponseDefaults,
    /// The second `date` was formatted for, and its value.
    date: Cell<(u64, [u8; 29])>,
    /// Whether the clock may be read for `date` (see `begin_pass`).
    clock: Cell<DateClock>,
    error_logger: Py<PyAny>,
    /// `None` when access logging is off.
    access: Option<AccessLog>,
    pub proxy: ProxySettings,
    tasks: RefCell<Slab<Py<PyAny>>>,
    /// Requests handed to the application so far (HTTP requests and
    /// WebSocket handshakes): what `--limit-max-requests` counts.
    requests: Cell<u64>,
    /// The awaitable `send()` returns when nothing needs waiting for
    /// (`awaitable::done_type`).
    pub done: Py<PyAny>,
    pub ws: WsSettings,
}

/// When `date` reads the clock: once per driver pass, each time outside one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DateClock {
    /// Outside a driver pass: every call reads it.
    EveryCall,
    /// In a pass, not read yet.
    PassUnread,
    /// In a pass, read: the cached value stands.
    PassRead,
}

/// How an application coroutine becomes a task.
enum TaskStart {
    /// Python 3.12+: `asyncio.Task(coro, loop=loop, eager_start=True)`, so
    /// a handler that never waits finishes inside the driver's callback.
    Eager {
        task_type: Py<PyAny>,
        kwargs: Py<PyDict>,
    },
    /// `loop.create_task(coro)`: older Pythons, or a loop with a custom task
    /// factory (which must be respected).
    Loop(Py<PyAny>),
}

pub struct LoggingSetup {
    pub error_logger: Py<PyAny>,
    pub access: Option<AccessLog>,
}

/// The access log: a logger, and for a custom `--access-log-format` the
/// Python callable that formats and logs an entry, with what it needs.
pub struct AccessLog {
    pub logger: Py<PyAny>,
    /// `hook(host, port, request_line, status, bytes, duration_us, scheme,
    /// request_header_values, response_header_values)`; `None`: the default
    /// line, built here.
    pub hook: Option<Py<PyAny>>,
    /// Request headers the format shows (lowercase names).
    pub request_headers: Vec<Vec<u8>>,
    /// Response headers the format shows (lowercase names).
    pub response_headers: Vec<Vec<u8>>,
    /// The format shows the request's duration.
    pub timing: bool,
}

impl AppContext {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        py: Python<'_>,
        app: Py<PyAny>,
        event_loop: &Bound<'_, PyAny>,
        scope: ScopeBuilder,
        defaults: ResponseDefaults,
        logging: LoggingSetup,
        ws: WsSettings,
        proxy: ProxySettings,
    ) -> PyResult<Self> {
        Ok(AppContext {
            app,
            create_future: event_loop.getattr(intern!(py, "create_future"))?.unbind(),
            task_start: TaskStart::choose(py, event_loop)?,
            scope,
            defaults,
            date: Cell::new((u64::MAX, [0; 29])),
            clock: Cell::new(DateClock::EveryCall),
            error_logger: logging.error_logger,
            access: logging.access,
            proxy,
            tasks: RefCell::new(Slab::new()),
            requests: Cell::new(0),
            done: new_done(py)?,
            ws,
        })
    }

    pub fn new_future<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.create_future.bind(py).call0()
    }

    /// What `send()` returns once it added output (http and websocket
    /// alike): `ClientDisconnected` if the connection is gone, a future the
    /// driver's `on_drained` resolves while the output is above the
    /// high-water mark, else the shared `Done`.
    pub fn after_send(
        &self,
        py: Python<'_>,
        conn: &mut Connection<HttpSession>,
    ) -> PyResult<Py<PyAny>> {
        if conn.is_closed() {
            return Err(ClientDisconnected::new_err("the client has disconnected"));
        }
        if conn.must_wait_for_drain() {
            let waiter = self.new_future(py)?;
            conn.session.send_waiter = Some(waiter.clone().unbind());
            return Ok(waiter.unbind());
        }
        Ok(self.done.clone_ref(py).into_any())
    }

    /// A future for `receive()` when nothing is there yet (http and
    /// websocket alike), resolved by the handler when input arrives; one
    /// `receive()` at a time. Reading resumes if it had paused.
    pub fn wait_for_input(
        &self,
        py: Python<'_>,
        conn: &mut Connection<HttpSession>,
    ) -> PyResult<Py<PyAny>> {
        if let Some(previous) = &conn.session.receive_waiter {
            if !previous
                .bind(py)
                .call_method0(intern!(py, "done"))?
                .is_truthy()?
            {
                return Err(PyRuntimeError::new_err(
                    "receive() is already being awaited",
                ));
            }
        }
        conn.resume_reading();
        let waiter = self.new_future(py)?;
        conn.session.receive_waiter = Some(waiter.clone().unbind());
        Ok(waiter.unbind())
    }

    /// Starts `coro` as an asyncio task (eagerly where possible).
    pub fn spawn<'py>(
        &self,
        py: Python<'py>,
        coro: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match &self.task_start {
            TaskStart::Eager { task_type, kwargs } => {
                task_type.bind(py).call((coro,), Some(kwargs.bind(py)))
            }
            TaskStart::Loop(create_task) => create_task.bind(py).call1((coro,)),
        }
    }

    /// Keeps a running task referenced until `forget_task(slot)`.
    pub fn keep_task(&self, task: Bound<'_, PyAny>) -> usize {
        self.tasks.borrow_mut().insert(task.unbind())
    }

    pub fn forget_task(&self, slot: usize) {
        let task = self.tasks.borrow_mut().try_remove(slot);
        drop(task);
    }

    /// Counts one request handed to the application.
    pub fn count_request(&self) {
        self.requests.set(self.requests.get().wrapping_add(1));
    }

    pub fn request_count(&self) -> u64 {
        self.requests.get()
    }

    pub fn task_count(&self) -> usize {
        self.tasks.borrow().len()
    }

    pub fn cancel_tasks(&self, py: Python<'_>) -> PyResult<()> {
        let tasks: Vec<Py<PyAny>> = self
            .tasks
            .borrow()
            .iter()
            .map(|(_, t)| t.clone_ref(py))
            .collect();
        for task in tasks {
            task.bind(py).call_method0(intern!(py, "cancel"))?;
        }
        Ok(())
    }

    /// A driver pass begins (`Server::on_ready`): responses written until
    /// `end_pass` share one reading of the clock. A pass is bounded work, far
    /// shorter than the second a `date` value stands for.
    pub fn begin_pass(&self) {
        self.clock.set(DateClock::PassUnread);
    }

    pub fn end_pass(&self) {
        self.clock.set(DateClock::EveryCall);
    }

    /// The `date` header value: formatted at most once a second, and the
    /// clock read at most once per driver pass. Outside a pass (a response
    /// sent after the application awaited something) it is read each time.
    pub fn date(&self) -> [u8; 29] {
        match self.clock.get() {
            DateClock::PassRead => return self.date.get().1,
            DateClock::PassUnread => self.clock.set(DateClock::PassRead),
            DateClock::EveryCall => {}
        }
        let now = SystemTime::now();
        let secs = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let (cached_secs, cached) = self.date.get();
        if cached_secs == secs {
            return cached;
        }
        let fresh = http_date(now);
        self.date.set((secs, fresh));
        fresh
    }

    /// Logs an application error with its traceback, once.
    pub fn log_exception(&self, py: Python<'_>, message: &str, err: &PyErr) {
        let kwargs = PyDict::new(py);
        // A (type, value, traceback) triple: on Python < 3.12 a fetched
        // exception's value does not carry its traceback by itself.
        let exc_info = (err.get_type(py), err.value(py), err.traceback(py));
        let logged = kwargs
            .set_item(intern!(py, "exc_info"), exc_info)
            .and_then(|_| {
                self.error_logger.bind(py).call_method(
                    intern!(py, "error"),
                    (message,),
                    Some(&kwargs),
                )
            });
        if let Err(log_failure) = logged {
            log_failure.write_unraisable(py, None);
        }
    }

    pub fn log_error(&self, py: Python<'_>, message: &str) {
        if let Err(log_failure) = self
            .error_logger
            .bind(py)
            .call_method1(intern!(py, "error"), (message,))
        {
            log_failure.write_unraisable(py, None);
        }
    }

    pub fn access_log_enabled(&self) -> bool {
        self.access.is_some()
    }

    /// For a custom access-log format: what to keep of a request as it
    /// starts (its start time, the request headers the format shows).
    pub fn access_extra(&self, head: &crate::http1::RequestHead) -> Option<Box<AccessExtra>> {
        let access = self.access.as_ref()?;
        access.hook.as_ref()?;
        let mut extra = AccessExtra {
            start: access.timing.then(Instant::now),
            request_headers: vec![None; access.request_headers.len()],
            response_headers: vec![None; access.response_headers.len()],
        };
        for (name, value) in head.headers() {
            if let Some(i) = access.request_headers.iter().position(|n| n == name) {
                let value = String::from_utf8_lossy(value);
                match &mut extra.request_headers[i] {
                    Some(joined) => {
                        joined.push_str(", ");
                        joined.push_str(&value);
                    }
                    slot @ None => *slot = Some(value.into_owned()),
                }
            }
        }
        Some(Box::new(extra))
    }

    /// The response headers a custom access-log format shows (an empty
    /// list when there is none).
    pub fn access_response_headers(&self) -> &[Vec<u8>] {
        match &self.access {
            Some(access) if access.hook.is_some() => &access.response_headers,
            _ => &[],
        }
    }

    /// What the access log needs of a finished exchange, taken while the
    /// connection is borrowed; `None` when access logging is off.
    pub fn access_entry(&self, conn: &Connection<HttpSession>) -> Option<AccessEntry> {
        self.access.as_ref()?;
        let session = &conn.session;
        let (host, port) = match (&session.forwarded_client, &conn.peer) {
            (Some((host, port)), _) => (host.clone(), Some(*port)),
            (None, SockAddr::Inet(addr)) => {
                (addr.ip().to_canonical().to_string(), Some(addr.port()))
            }
            (None, SockAddr::Unix(_)) => ("-".to_owned(), None),
        };
        Some(AccessEntry {
            host,
            port,
            request_line: session.request_line.clone()?,
            status: session.status,
            bytes: session.body_bytes,
            secure: session.secure,
            extra: session.access_extra.as_ref().map(|extra| AccessExtra {
                start: extra.start,
                request_headers: extra.request_headers.clone(),
                response_headers: extra.response_headers.clone(),
            }),
        })
    }

    /// One access-log line per completed response: as uvicorn writes it,
    /// or through the custom format's hook.
    pub fn log_access(&self, py: Python<'_>, entry: AccessEntry) {
        let Some(access) = &self.access else {
            return;
        };
        let result = match &access.hook {
            None => {
                let client = match entry.port {
                    Some(port) if entry.host.contains(':') => format!("[{}]:{port}", entry.host),
                    Some(port) => format!("{}:{port}", entry.host),
                    None => entry.host,
                };
                access.logger.bind(py).call_method1(
                    intern!(py, "info"),
                    ("%s - \"%s\" %d", client, entry.request_line, entry.status),
                )
            }
            Some(hook) => {
                let extra = entry.extra.unwrap_or_default();
                let duration_us = extra
                    .start
                    .map_or(0, |start| start.elapsed().as_micros() as u64);
                let scheme = if entry.secure { "https" } else { "http" };
                PyTuple::new(py, extra.request_headers).and_then(|request_headers| {
                    let response_headers = PyTuple::new(py, extra.response_headers)?;
                    hook.bind(py).call1((
                        entry.host,
                        entry.port,
                        entry.request_line,
                        entry.status,
                        entry.bytes,
                        duration_us,
                        scheme,
                        request_headers,
                        response_headers,
                    ))
                })
            }
        };
        if let Err(log_failure) = result {
            log_failure.write_unraisable(py, None);
        }
    }
}

pub struct AccessEntry {
    host: String,
    port: Option<u16>,
    request_line: String,
    status: u16,
    bytes: u64,
    secure: bool,
    extra: Option<AccessExtra>,
}

impl TaskStart {
    fn choose(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Self> {
        let has_factory = !event_loop
            .call_method0(intern!(py, "get_task_factory"))?
            .is_none();
        if py.version_info() >= (3, 12) && !has_factory {
            let kwargs = PyDict::new(py);
            kwargs.set_item(intern!(py, "loop"), event_loop)?;
            kwargs.set_item(intern!(py, "eager_start"), true)?;
            let task_type = py
                .import(intern!(py, "asyncio"))?
                .getattr(intern!(py, "Task"))?;
            return Ok(TaskStart::Eager {
                task_type: task_type.unbind(),
                kwargs: kwargs.unbind(),
            });
        }
        Ok(TaskStart::Loop(
            event_loop.getattr(intern!(py, "create_task"))?.unbind(),
        ))
    }
}

/// Whether a future the application awaits can still take a result (it may
/// have been cancelled, say by a timeout around `receive()`).
fn still_pending(py: Python<'_>, future: &Bound<'_, PyAny>) -> bool {
    future
        .call_method0(intern!(py, "done"))
        .and_then(|done| done.is_truthy())
        .is_ok_and(|done| !done)
}

/// Resolves a future the application awaits, unless it was cancelled.
pub fn resolve(py: Python<'_>, future: Py<PyAny>, value: Bound<'_, PyAny>) {
    let future = future.bind(py);
    if still_pending(py, future) {
        if let Err(e) = future.call_method1(intern!(py, "set_result"), (value,)) {
            e.write_unraisable(py, None);
        }
    }
}

/// Fails a future the application awaits, unless it was cancelled.
pub fn reject(py: Python<'_>, future: Py<PyAny>, error: PyErr) {
    let future = future.bind(py);
    if still_pending(py, future) {
        if let Err(e) = future.call_method1(intern!(py, "set_exception"), (error.value(py),)) {
            e.write_unraisable(py, None);
        }
    }
}
