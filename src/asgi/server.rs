//! `pyre_http._core.Server`: the Python face of one driver. The methods
//! only convert arguments and call plain Rust.

use super::context::{AccessLog, AppContext, LoggingSetup};
use super::handler::AsgiHandler;
use super::scope::ScopeBuilder;
use super::settings::{ProxySettings, WsSettings};
use super::tls_settings::TlsSettings;
use crate::http1::{Limits, ResponseDefaults};
use crate::net::{Driver, DriverConfig, Listener, Timeouts, TrustedProxies};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::rc::Rc;
use std::time::Duration;

/// Python's logging.INFO.
const INFO: i32 = 20;

#[pyclass(module = "pyre_http._core", unsendable)]
pub struct Server {
    driver: Driver<AsgiHandler>,
}

#[pymethods]
impl Server {
    /// Every setting is a required keyword: the defaults live in the
    /// front's `config.py` only.
    #[new]
    #[pyo3(signature = (
        app, event_loop, sockets, *,
        state, root_path, server_header, date_header, headers, access_log,
        timeout_keep_alive, timeout_request_header, timeout_request_body, timeout_send,
        limit_concurrency, limit_request_line, limit_request_headers,
        limit_request_header_size, limit_request_body,
        ws, ws_max_size, ws_max_queue, ws_ping_interval, ws_ping_timeout, ws_per_message_deflate,
        proxy_headers, forwarded_allow_ips, proxy_protocol,
        access_log_hook, access_log_request_headers, access_log_response_headers, access_log_timing,
        tls,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        app: Py<PyAny>,
        event_loop: &Bound<'_, PyAny>,
        sockets: Vec<Bound<'_, PyAny>>,
        state: Option<Py<PyDict>>,
        root_path: String,
        server_header: bool,
        date_header: bool,
        headers: Vec<(String, String)>,
        access_log: bool,
        timeout_keep_alive: f64,
        timeout_request_header: Option<f64>,
        timeout_request_body: Option<f64>,
        timeout_send: Option<f64>,
        limit_concurrency: Option<usize>,
        limit_request_line: usize,
        limit_request_headers: usize,
        limit_request_header_size: usize,
        limit_request_body: Option<u64>,
        ws: String,
        ws_max_size: usize,
        ws_max_queue: usize,
        ws_ping_interval: Option<f64>,
        ws_ping_timeout: Option<f64>,
        ws_per_message_deflate: bool,
        proxy_headers: bool,
        forwarded_allow_ips: Vec<String>,
        proxy_protocol: bool,
        access_log_hook: Option<Py<PyAny>>,
        access_log_request_headers: Vec<String>,
        access_log_response_headers: Vec<String>,
        access_log_timing: bool,
        tls: Option<Py<TlsSettings>>,
    ) -> PyResult<Self> {
        ensure_gil_enabled(py)?;
        let trusted = TrustedProxies::parse(forwarded_allow_ips.iter().map(String::as_str))
            .map_err(|e| PyValueError::new_err(format!("forwarded_allow_ips: {e}")))?;
        if !(timeout_keep_alive.is_finite() && timeout_keep_alive >= 0.0) {
            return Err(PyValueError::new_err(
                "timeout_keep_alive must be a non-negative number",
            ));
        }
        let timeouts = Timeouts {
            keep_alive: Duration::from_secs_f64(timeout_keep_alive),
            request_header: seconds("timeout_request_header", timeout_request_header)?,
            request_body: seconds("timeout_request_body", timeout_request_body)?,
            send: seconds("timeout_send", timeout_send)?,
        };
        if limit_concurrency == Some(0) {
            return Err(PyValueError::new_err(
                "limit_concurrency must be positive (or None for no limit)",
            ));
        }
        let ws_enabled = match ws.as_str() {
            "none" => false,
            "auto" => true,
            other => {
                return Err(PyValueError::new_err(format!(
                    "ws must be 'auto' or 'none', not {other:?}"
                )))
            }
        };
        let ws_ping_interval = seconds("ws_ping_interval", ws_ping_interval)?;
        let ws_ping_timeout = seconds("ws_ping_timeout", ws_ping_timeout)?;
        let mut listeners = Vec::with_capacity(sockets.len());
        for socket in &sockets {
            let fd: i32 = socket.call_method0(intern!(py, "fileno"))?.extract()?;
            listeners.push(Listener::from_fd(fd)?);
        }
        let defaults = ResponseDefaults::new(
            server_header.then(|| b"pyre-http".to_vec()),
            date_header,
            headers
                .into_iter()
                .map(|(name, value)| (name.to_ascii_lowercase().into_bytes(), value.into_bytes()))
                .collect(),
        );
        let logging = py.import(intern!(py, "logging"))?;
        let get_logger = logging.getattr(intern!(py, "getLogger"))?;
        let error_logger = get_logger.call1(("pyre_http.error",))?;
        let access_logger = get_logger.call1(("pyre_http.access",))?;
        let access_on = access_log
            && access_logger
                .call_method1(intern!(py, "isEnabledFor"), (INFO,))?
                .is_truthy()?;
        let ctx = AppContext::new(
            py,
            app,
            event_loop,
            ScopeBuilder::new(py, &root_path, state)?,
            defaults,
            LoggingSetup {
                error_logger: error_logger.unbind(),
                access: access_on.then(|| AccessLog {
                    logger: access_logger.unbind(),
                    hook: access_log_hook,
                    request_headers: lowercase(access_log_request_headers),
                    response_headers: lowercase(access_log_response_headers),
                    timing: access_log_timing,
                }),
            },
            WsSettings {
                enabled: ws_enabled,
                max_size: ws_max_size,
                max_queue: ws_max_queue,
                per_message_deflate: ws_per_message_deflate,
            },
            ProxySettings {
                headers: proxy_headers,
                trusted: trusted.clone(),
            },
        )?;
        let config = DriverConfig {
            limits: Limits {
                max_request_line: limit_request_line,
                max_header_bytes: limit_request_header_size,
                max_headers: limit_request_headers,
                max_body: limit_request_body,
                ..Limits::default()
            },
            timeouts,
            ws_ping_interval,
            ws_ping_timeout,
            limit_concurrency,
            trusted,
            proxy_protocol,
            tls: tls.map(|settings| settings.get().config.clone()),
        };
        let handler = AsgiHandler { ctx: Rc::new(ctx) };
        Ok(Server {
            driver: Driver::new(handler, config, listeners)?,
        })
    }

    /// The descriptor for `loop.add_reader(fd, server.on_ready)`.
    fn fileno(&self) -> i32 {
        self.driver.fd()
    }

    fn on_ready(&mut self) -> PyResult<()> {
        let ctx = self.driver.handler().ctx.clone();
        ctx.begin_pass();
        let result = self.driver.on_ready();
        ctx.end_pass();
        Ok(result?)
    }

    /// Timers; call about once a second.
    fn tick(&mut self) {
        self.driver.tick();
    }

    fn stop_accepting(&mut self) {
        self.driver.stop_accepting();
    }

    fn shutdown(&mut self) {
        self.driver.shutdown();
    }

    fn connection_count(&self) -> usize {
        self.driver.connection_count()
    }

    fn task_count(&self) -> usize {
        self.driver.handler().ctx.task_count()
    }

    /// Requests handed to the application since the server was created
    /// (HTTP requests and WebSocket handshakes; not those answered with an
    /// error before reaching it). The worker recycling of
    /// `--limit-max-requests` reads it.
    fn request_count(&self) -> u64 {
        self.driver.handler().ctx.request_count()
    }

    fn cancel_tasks(&self, py: Python<'_>) -> PyResult<()> {
        self.driver.handler().ctx.cancel_tasks(py)
    }

    fn close(&mut self) {
        self.driver.close_all();
    }
}

fn lowercase(names: Vec<String>) -> Vec<Vec<u8>> {
    names
        .into_iter()
        .map(|name| name.to_ascii_lowercase().into_bytes())
        .collect()
}

/// The per-request objects rely on the GIL to serialize every access to
/// the loop's state (`loop_bound.rs`). The module declares that it uses the
/// GIL, which a free-threaded build honours unless told otherwise
/// (`PYTHON_GIL=0`): refuse to serve then.
fn ensure_gil_enabled(py: Python<'_>) -> PyResult<()> {
    let sys = py.import(intern!(py, "sys"))?;
    if let Some(is_gil_enabled) = sys.getattr_opt(intern!(py, "_is_gil_enabled"))? {
        if !is_gil_enabled.call0()?.is_truthy()? {
            return Err(PyRuntimeError::new_err(
                "pyre-http needs the GIL: on a free-threaded Python, do not disable it (PYTHON_GIL=0)",
            ));
        }
    }
    Ok(())
}

/// An optional timer setting in seconds; `None` or 0 turns it off.
fn seconds(name: &str, value: Option<f64>) -> PyResult<Option<Duration>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && v > 0.0 => Ok(Some(Duration::from_secs_f64(v))),
        Some(0.0) => Ok(None),
        Some(_) => Err(PyValueError::new_err(format!(
            "{name} must be a non-negative number"
        ))),
    }
}
