//! The exception the application sees when it sends to a departed client.

use pyo3::create_exception;
use pyo3::exceptions::PyOSError;

create_exception!(
    pyre_http._core,
    ClientDisconnected,
    PyOSError,
    "The client closed the connection; nothing more can be sent to it."
);
