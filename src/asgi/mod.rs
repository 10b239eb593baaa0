//! The ASGI bridge: turns the driver's protocol events into ASGI scopes and
//! messages, runs the application as asyncio tasks, and turns what the
//! application sends back into response bytes. The only layer (with the
//! Python front) that touches Python objects.

mod awaitable;
mod context;
mod errors;
mod extras;
mod file_send;
mod finish;
mod handler;
mod loop_bound;
mod message;
mod proxy;
mod receive;
mod response;
mod runner;
mod scope;
mod send;
mod server;
mod session;
mod settings;
mod tls_settings;
mod websocket;
mod ws_session;

pub use errors::ClientDisconnected;
pub use server::Server;

use pyo3::prelude::*;

/// Adds the bridge's classes to the native module. Only `Server` and
/// `ClientDisconnected` are meant to be used by name; the others are what an
/// application meets (its `receive` and `send`, what they return, its task's
/// coroutine). They have no constructor, and are exported so that their
/// names resolve and `_core.pyi` can describe them.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Server>()?;
    m.add_class::<tls_settings::TlsSettings>()?;
    m.add_function(wrap_pyfunction!(tls_settings::load_tls, m)?)?;
    m.add_class::<receive::Receive>()?;
    m.add_class::<send::Send>()?;
    m.add_class::<websocket::WsReceive>()?;
    m.add_class::<websocket::WsSend>()?;
    m.add_class::<awaitable::Ready>()?;
    m.add("Done", awaitable::done_type(m.py())?)?;
    m.add_class::<runner::AppRunner>()?;
    m.add(
        "ClientDisconnected",
        m.py().get_type::<ClientDisconnected>(),
    )?;
    Ok(())
}

#[cfg(test)]
#[test]
fn modules_import_each_other_without_cycles() {
    crate::module_graph::assert_acyclic(&[
        ("awaitable", include_str!("awaitable.rs")),
        ("context", include_str!("context.rs")),
        ("errors", include_str!("errors.rs")),
        ("finish", include_str!("finish.rs")),
        ("handler", include_str!("handler.rs")),
        ("loop_bound", include_str!("loop_bound.rs")),
        ("message", include_str!("message.rs")),
        ("proxy", include_str!("proxy.rs")),
        ("receive", include_str!("receive.rs")),
        ("response", include_str!("response.rs")),
        ("runner", include_str!("runner.rs")),
        ("scope", include_str!("scope.rs")),
        ("send", include_str!("send.rs")),
        ("server", include_str!("server.rs")),
        ("session", include_str!("session.rs")),
        ("settings", include_str!("settings.rs")),
        ("tls_settings", include_str!("tls_settings.rs")),
        ("websocket", include_str!("websocket.rs")),
        ("ws_session", include_str!("ws_session.rs")),
    ]);
}
