//! pyre-http's native core: the HTTP/1.1 protocol (`http1`), the WebSocket
//! protocol (`ws`), the socket driver (`net`) and the ASGI bridge (`asgi`). This file only declares the
//! module; see docs/ARCHITECTURE.md.

pub mod asgi;
// Fuzz drivers and helpers: for the tests, and public (hidden) with the
// `fuzzing` feature for the cargo-fuzz targets in fuzz/. Without the
// feature the public API is unchanged.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod http1;
#[cfg(test)]
mod module_graph;
pub mod net;
pub mod ws;

use pyo3::prelude::*;

// The driver's state lives on the event loop's thread and relies on the GIL
// to serialize access (`asgi/loop_bound.rs`); free-threaded Python without
// the GIL is refused when a server starts.
#[pymodule(gil_used = true)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    asgi::register(m)
}
