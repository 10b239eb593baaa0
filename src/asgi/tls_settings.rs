//! The `ssl_*` arguments of `Server` and `check_tls`, as uvicorn names
//! them, turned into the driver's TLS configuration.

use crate::net::tls::{ClientCerts, TlsConfig, TlsOptions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// `None` without a certificate (plain HTTP); a `ValueError` with one line
/// naming the setting for anything unusable.
pub fn load(
    certfile: Option<String>,
    keyfile: Option<String>,
    password: Option<String>,
    ca_certs: Option<String>,
    cert_reqs: i64,
    ciphers: String,
) -> PyResult<Option<TlsConfig>> {
    let Some(certfile) = certfile else {
        if keyfile.is_some() {
            return Err(PyValueError::new_err("ssl_keyfile needs ssl_certfile"));
        }
        return Ok(None);
    };
    let options = TlsOptions {
        certfile,
        keyfile,
        password,
        ca_certs,
        client_certs: ClientCerts::from_cert_reqs(cert_reqs).map_err(PyValueError::new_err)?,
        ciphers,
    };
    TlsConfig::load(&options)
        .map(Some)
        .map_err(PyValueError::new_err)
}

/// Checks the TLS settings without serving: the front calls it before it
/// starts workers, so that a wrong password is one line, once.
#[pyfunction]
#[pyo3(signature = (*, ssl_certfile, ssl_keyfile, ssl_keyfile_password, ssl_ca_certs, ssl_cert_reqs, ssl_ciphers))]
pub fn check_tls(
    ssl_certfile: Option<String>,
    ssl_keyfile: Option<String>,
    ssl_keyfile_password: Option<String>,
    ssl_ca_certs: Option<String>,
    ssl_cert_reqs: i64,
    ssl_ciphers: String,
) -> PyResult<()> {
    load(
        ssl_certfile,
        ssl_keyfile,
        ssl_keyfile_password,
        ssl_ca_certs,
        ssl_cert_reqs,
        ssl_ciphers,
    )
    .map(|_| ())
}
