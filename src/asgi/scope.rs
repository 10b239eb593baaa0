//! Builds the ASGI `http` scope for a request head (asgiref www 2.5).
//!
//! Keys are interned strings; the constant parts (the `asgi` dict, common
//! methods and header names, the server address) are built once and reused.

use crate::http1::{decode_path, RequestHead};
use crate::net::tls::TlsInfo;
use crate::net::SockAddr;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use std::cell::RefCell;
use std::net::SocketAddr;

/// Header names common enough to share one bytes object between requests.
const COMMON_HEADER_NAMES: &[&str] = &[
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "accept-language",
    "connection",
    "content-length",
    "content-type",
    "cookie",
    "authorization",
    "cache-control",
    "origin",
    "referer",
    "upgrade-insecure-requests",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-real-ip",
    "if-none-match",
    "if-modified-since",
    "pragma",
    "sec-fetch-mode",
    "sec-fetch-site",
    "sec-fetch-dest",
    "transfer-encoding",
    "expect",
];

/// The keys of an `http` scope, in the order the scope has always had them
/// (`state` only when the lifespan set one).
const HTTP_SCOPE_KEYS: &[&str] = &[
    "type",
    "asgi",
    "http_version",
    "method",
    "scheme",
    "path",
    "raw_path",
    "query_string",
    "root_path",
    "headers",
    "client",
    "server",
    "state",
    "extensions",
];

/// The response extensions `send()` implements (`send.rs`).
const HTTP_EXTENSIONS: &[&str] = &[
    "http.response.pathsend",
    "http.response.zerocopysend",
    "http.response.trailers",
    "http.response.early_hint",
];

const COMMON_METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"];

/// How a request reached the server: the listening address, whether the
/// scheme is `https`/`wss` (TLS, or a trusted proxy said so), and what
/// the TLS handshake negotiated.
#[derive(Clone, Copy)]
pub struct Via<'a> {
    pub server: &'a SockAddr,
    pub secure: bool,
    pub tls: Option<&'a TlsInfo>,
}

pub struct ScopeBuilder {
    /// Every key of an `http` scope in order, with the values that never
    /// change (`type`, `scheme` unless secure, `root_path`) set: a request
    /// copies it and sets the rest, which costs no dict growth.
    http_template: Py<PyDict>,
    asgi: Py<PyDict>,
    /// The extensions every `http` scope advertises, each with the shared
    /// read-only empty settings (`pyre_http/extension_settings.py`): a
    /// request copies it (one allocation, no growth) and adds `tls`.
    extensions_template: Py<PyDict>,
    root_path: Py<PyString>,
    /// The lifespan state; each request gets a shallow copy.
    state: Option<Py<PyDict>>,
    header_names: Vec<(&'static [u8], Py<PyBytes>)>,
    methods: Vec<(&'static [u8], Py<PyString>)>,
    servers: RefCell<Vec<(SockAddr, Py<PyAny>)>>,
}

impl ScopeBuilder {
    pub fn new(py: Python<'_>, root_path: &str, state: Option<Py<PyDict>>) -> PyResult<Self> {
        let asgi = PyDict::new(py);
        asgi.set_item("version", "3.0")?;
        asgi.set_item("spec_version", "2.5")?;
        let http_template = PyDict::new(py);
        for key in HTTP_SCOPE_KEYS {
            if *key != "state" || state.is_some() {
                http_template.set_item(PyString::intern(py, key), py.None())?;
            }
        }
        http_template.set_item(intern!(py, "type"), intern!(py, "http"))?;
        http_template.set_item(intern!(py, "scheme"), intern!(py, "http"))?;
        http_template.set_item(intern!(py, "root_path"), root_path)?;
        let no_settings = py
            .import(intern!(py, "pyre_http.extension_settings"))?
            .getattr(intern!(py, "NO_SETTINGS"))?;
        let extensions_template = PyDict::new(py);
        for name in HTTP_EXTENSIONS {
            extensions_template.set_item(PyString::intern(py, name), &no_settings)?;
        }
        Ok(ScopeBuilder {
            http_template: http_template.unbind(),
            asgi: asgi.unbind(),
            extensions_template: extensions_template.unbind(),
            root_path: PyString::new(py, root_path).unbind(),
            state,
            header_names: COMMON_HEADER_NAMES
                .iter()
                .map(|name| (name.as_bytes(), PyBytes::new(py, name.as_bytes()).unbind()))
                .collect(),
            methods: COMMON_METHODS
                .iter()
                .map(|m| (m.as_bytes(), PyString::intern(py, m).unbind()))
                .collect(),
            servers: RefCell::new(Vec::new()),
        })
    }

    /// The scope for `head`: an `http` scope, or a `websocket` one when
    /// `subprotocols` (the client's offer) is given.
    pub fn build<'py>(
        &self,
        py: Python<'py>,
        head: &RequestHead,
        client: &Bound<'py, PyAny>,
        via: &Via<'_>,
        subprotocols: Option<&[String]>,
    ) -> PyResult<Bound<'py, PyDict>> {
        match subprotocols {
            None => self.build_http(py, head, client, via),
            Some(subprotocols) => self.build_websocket(py, head, client, via, subprotocols),
        }
    }

    /// A `websocket` scope, built key by key (handshakes are rare next to
    /// requests).
    fn build_websocket<'py>(
        &self,
        py: Python<'py>,
        head: &RequestHead,
        client: &Bound<'py, PyAny>,
        via: &Via<'_>,
        subprotocols: &[String],
    ) -> PyResult<Bound<'py, PyDict>> {
        let Via {
            server,
            secure,
            tls,
        } = *via;
        let scope = PyDict::new(py);
        scope.set_item(intern!(py, "type"), intern!(py, "websocket"))?;
        scope.set_item(intern!(py, "asgi"), self.asgi.bind(py).copy()?)?;
        scope.set_item(intern!(py, "http_version"), http_version(py, head))?;
        let scheme = match secure {
            false => intern!(py, "ws"),
            true => intern!(py, "wss"),
        };
        scope.set_item(intern!(py, "scheme"), scheme)?;
        let raw_path = head.path();
        scope.set_item(intern!(py, "path"), decoded_path(py, raw_path))?;
        scope.set_item(intern!(py, "raw_path"), PyBytes::new(py, raw_path))?;
        scope.set_item(intern!(py, "query_string"), PyBytes::new(py, head.query()))?;
        scope.set_item(intern!(py, "root_path"), self.root_path.bind(py))?;
        scope.set_item(intern!(py, "headers"), self.headers(py, head)?)?;
        scope.set_item(intern!(py, "client"), client)?;
        scope.set_item(intern!(py, "server"), self.server(py, server)?)?;
        if let Some(state) = &self.state {
            scope.set_item(intern!(py, "state"), state.bind(py).copy()?)?;
        }
        scope.set_item(intern!(py, "subprotocols"), PyList::new(py, subprotocols)?)?;
        let extensions = PyDict::new(py);
        // The denial extension: the application may refuse the handshake
        // with a full HTTP response.
        extensions.set_item(intern!(py, "websocket.http.response"), PyDict::new(py))?;
        if let Some(tls) = tls {
            extensions.set_item(intern!(py, "tls"), tls_extension(py, tls)?)?;
        }
        scope.set_item(intern!(py, "extensions"), extensions)?;
        Ok(scope)
    }

    /// An `http` scope: the template's copy with the request's values.
    /// The values are stored with `PyDict_SetItem` directly (see [`set`]):
    /// this runs once per request.
    fn build_http<'py>(
        &self,
        py: Python<'py>,
        head: &RequestHead,
        client: &Bound<'py, PyAny>,
        via: &Via<'_>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let Via {
            server,
            secure,
            tls,
        } = *via;
        let scope = self.http_template.bind(py).copy()?;
        set(&scope, intern!(py, "asgi"), &self.asgi.bind(py).copy()?)?;
        set(&scope, intern!(py, "http_version"), http_version(py, head))?;
        set(
            &scope,
            intern!(py, "method"),
            &self.method(py, head.method()),
        )?;
        if secure {
            set(&scope, intern!(py, "scheme"), intern!(py, "https"))?;
        }
        let raw_path = head.path();
        set(&scope, intern!(py, "path"), &decoded_path(py, raw_path))?;
        set(&scope, intern!(py, "raw_path"), &PyBytes::new(py, raw_path))?;
        set(
            &scope,
            intern!(py, "query_string"),
            &PyBytes::new(py, head.query()),
        )?;
        set(&scope, intern!(py, "headers"), &self.headers(py, head)?)?;
        set(&scope, intern!(py, "client"), client)?;
        set(&scope, intern!(py, "server"), &self.server(py, server)?)?;
        if let Some(state) = &self.state {
            set(&scope, intern!(py, "state"), &state.bind(py).copy()?)?;
        }
        // A fresh dict each time; the settings in it are immutable.
        let extensions = self.extensions_template.bind(py).copy()?;
        if let Some(tls) = tls {
            set(&extensions, intern!(py, "tls"), &tls_extension(py, tls)?)?;
        }
        set(&scope, intern!(py, "extensions"), &extensions)?;
        Ok(scope)
    }

    fn method<'py>(&self, py: Python<'py>, method: &[u8]) -> Bound<'py, PyString> {
        for (known, interned) in &self.methods {
            if *known == method {
                return interned.bind(py).clone();
            }
        }
        // Methods are tokens, hence ASCII.
        PyString::new(py, &String::from_utf8_lossy(method))
    }

    fn header_name<'py>(&self, py: Python<'py>, name: &[u8]) -> Bound<'py, PyBytes> {
        for (known, shared) in &self.header_names {
            if *known == name {
                return shared.bind(py).clone();
            }
        }
        PyBytes::new(py, name)
    }

    /// `[(name, value), ...]`, built with the list and tuple C API: the
    /// list at its final size, each pair filled in place.
    fn headers<'py>(&self, py: Python<'py>, head: &RequestHead) -> PyResult<Bound<'py, PyList>> {
        // SAFETY: PyList_New returns a new reference or NULL with an
        // exception set; its items start as NULL, which list_dealloc accepts
        // if we leave early with an error.
        let list = unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                ffi::PyList_New(head.headers.len() as ffi::Py_ssize_t),
            )?
        };
        for (i, (name, value)) in head.headers().enumerate() {
            let name = self.header_name(py, name);
            let value = PyBytes::new(py, value);
            // SAFETY: PyTuple_New(2) returns a new reference or NULL with an
            // exception set. PyTuple_SET_ITEM and PyList_SET_ITEM steal the
            // references given (`into_ptr`) and fill slots that are NULL,
            // in bounds (2 items; `i` < the list's length).
            unsafe {
                let pair = Bound::from_owned_ptr_or_err(py, ffi::PyTuple_New(2))?;
                ffi::PyTuple_SET_ITEM(pair.as_ptr(), 0, name.into_ptr());
                ffi::PyTuple_SET_ITEM(pair.as_ptr(), 1, value.into_ptr());
                ffi::PyList_SET_ITEM(list.as_ptr(), i as ffi::Py_ssize_t, pair.into_ptr());
            }
        }
        // SAFETY: PyList_New made a list.
        Ok(unsafe { list.cast_into_unchecked() })
    }

    /// `(host, port)`, `(path, None)` for a Unix socket (as the ASGI
    /// specification has it), or `None` for an unnamed one; built once per
    /// listening address.
    fn server<'py>(&self, py: Python<'py>, addr: &SockAddr) -> PyResult<Bound<'py, PyAny>> {
        let mut servers = self.servers.borrow_mut();
        if let Some((_, cached)) = servers.iter().find(|(a, _)| a == addr) {
            return Ok(cached.bind(py).clone());
        }
        let value = match addr {
            SockAddr::Inet(addr) => address_tuple(py, *addr)?.into_any(),
            SockAddr::Unix(Some(path)) => PyTuple::new(
                py,
                [PyString::new(py, path).into_any(), py.None().into_bound(py)],
            )?
            .into_any(),
            SockAddr::Unix(None) => py.None().into_bound(py),
        };
        servers.push((addr.clone(), value.clone().unbind()));
        Ok(value)
    }
}

/// The `tls` extension as asgiref's TLS specification defines it. The
/// handshake has verified any client certificate (or failed), so
/// `client_cert_error` is always `None`.
fn tls_extension<'py>(py: Python<'py>, tls: &TlsInfo) -> PyResult<Bound<'py, PyDict>> {
    let ext = PyDict::new(py);
    ext.set_item("server_cert", &*tls.server_cert)?;
    ext.set_item(
        "client_cert_chain",
        PyList::new(py, &tls.client_cert_chain)?,
    )?;
    ext.set_item("client_cert_name", tls.client_cert_name.as_deref())?;
    ext.set_item("client_cert_error", py.None())?;
    ext.set_item("tls_version", tls.tls_version)?;
    ext.set_item("cipher_suite", tls.cipher_suite)?;
    Ok(ext)
}

/// `dict[key] = value` through `PyDict_SetItem` itself, without the
/// conversions of PyO3's generic `set_item` (both sides are Python objects
/// already).
fn set<T>(
    dict: &Bound<'_, PyDict>,
    key: &Bound<'_, PyString>,
    value: &Bound<'_, T>,
) -> PyResult<()> {
    // SAFETY: the three pointers are live references held for the call;
    // PyDict_SetItem does not steal them.
    let status = unsafe { ffi::PyDict_SetItem(dict.as_ptr(), key.as_ptr(), value.as_ptr()) };
    match status {
        0 => Ok(()),
        _ => Err(PyErr::fetch(dict.py())),
    }
}

fn http_version<'py>(py: Python<'py>, head: &RequestHead) -> &'py Bound<'py, PyString> {
    match head.version {
        crate::http1::Version::Http10 => intern!(py, "1.0"),
        crate::http1::Version::Http11 => intern!(py, "1.1"),
    }
}

fn decoded_path<'py>(py: Python<'py>, raw_path: &[u8]) -> Bound<'py, PyString> {
    // Most paths have nothing to decode and are ASCII: skip the copy.
    if !raw_path.contains(&b'%') && raw_path.is_ascii() {
        if let Ok(text) = std::str::from_utf8(raw_path) {
            return PyString::new(py, text);
        }
    }
    PyString::new(py, &decode_path(raw_path))
}

/// The scope's `client`: `(host, port)`, or `None` for a Unix socket peer.
pub fn client_value<'py>(py: Python<'py>, peer: &SockAddr) -> PyResult<Bound<'py, PyAny>> {
    match peer {
        SockAddr::Inet(addr) => Ok(address_tuple(py, *addr)?.into_any()),
        SockAddr::Unix(_) => Ok(py.None().into_bound(py)),
    }
}

/// `(host, port)` of a client a trusted proxy named.
pub fn host_port_tuple<'py>(py: Python<'py>, host: &str, port: u16) -> PyResult<Bound<'py, PyAny>> {
    let host = PyString::new(py, host);
    let port = port.into_pyobject(py)?;
    Ok(PyTuple::new(py, [host.into_any(), port.into_any()])?.into_any())
}

/// `(host, port)` as ASGI's `client` and `server` want it.
pub fn address_tuple<'py>(py: Python<'py>, addr: SocketAddr) -> PyResult<Bound<'py, PyTuple>> {
    let host = PyString::new(py, &addr.ip().to_canonical().to_string());
    let port = addr.port().into_pyobject(py)?;
    PyTuple::new(py, [host.into_any(), port.into_any()])
}
