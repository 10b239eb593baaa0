//! `load_tls`: uvicorn's `ssl_*` settings turned into the driver's TLS
//! configuration, once. The front loads it before anything starts (so that
//! a wrong password is one line) and hands the result to `Server`.

use crate::net::tls::{ClientCerts, TlsConfig, TlsOptions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A loaded certificate, key and client-certificate policy: what
/// `Server(tls=...)` serves with. Made only by `load_tls`.
#[pyclass(module = "pyre_http._core", frozen)]
pub struct TlsSettings {
    pub config: TlsConfig,
}

/// `None` without a certificate (plain HTTP); a `ValueError` with one line
/// naming the setting for anything unusable.
#[pyfunction]
#[pyo3(signature = (*, ssl_certfile, ssl_keyfile, ssl_keyfile_password, ssl_ca_certs, ssl_cert_reqs, ssl_ciphers))]
pub fn load_tls(
    ssl_certfile: Option<String>,
    ssl_keyfile: Option<String>,
    ssl_keyfile_password: Option<String>,
    ssl_ca_certs: Option<String>,
    ssl_cert_reqs: i64,
    ssl_ciphers: String,
) -> PyResult<Option<TlsSettings>> {
    let Some(certfile) = ssl_certfile else {
        if ssl_keyfile.is_some() {
            return Err(PyValueError::new_err("ssl_keyfile needs ssl_certfile"));
        }
        return Ok(None);
    };
    let options = TlsOptions {
        certfile,
        keyfile: ssl_keyfile,
        password: ssl_keyfile_password,
        ca_certs: ssl_ca_certs,
        client_certs: ClientCerts::from_cert_reqs(ssl_cert_reqs).map_err(PyValueError::new_err)?,
        ciphers: ssl_ciphers,
    };
    let config = TlsConfig::load(&options).map_err(PyValueError::new_err)?;
    Ok(Some(TlsSettings { config }))
}
