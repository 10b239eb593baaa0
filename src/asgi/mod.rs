//! The ASGI bridge: turns the driver's protocol events into ASGI scopes and
//! messages, runs the application as asyncio tasks, and turns what the
//! application sends back into response bytes. The only layer (with the
//! Python front) that touches Python objects.

mod awaitable;
mod context;
mod errors;
mod finish;
mod handler;
mod message;
mod receive;
mod response;
mod runner;
mod scope;
mod send;
mod server;
mod session;
mod settings;
mod websocket;
mod ws_session;

pub use errors::ClientDisconnected;
pub use server::Server;

use pyo3::prelude::*;

/// Adds the bridge's classes to the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Server>()?;
    m.add(
        "ClientDisconnected",
        m.py().get_type::<ClientDisconnected>(),
    )?;
    Ok(())
}
