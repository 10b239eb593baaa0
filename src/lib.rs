//! pyre-http's native core: the HTTP/1.1 protocol, the socket driver and the
//! ASGI bridge. This file only declares the module; see docs/ARCHITECTURE.md.

pub mod http1;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
