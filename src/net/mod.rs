//! The driver: sockets, the connection slab, buffers, timers and
//! backpressure. It moves bytes between sockets and each connection's
//! [`crate::http1::ServerConn`] and reports protocol events to a
//! [`Handler`]; it knows nothing of Python.

mod connection;
mod driver;
mod file_output;
mod listener;
pub mod proxy_protocol;
mod schedule;
mod stream;
#[cfg(test)]
mod tests;
mod timers;
pub mod tls;
#[cfg(test)]
mod tls_tests;
mod trust;

pub use connection::{ConnRef, Connection, Flush, WRITE_HIGH_WATER};
pub use driver::{Driver, DriverConfig, Handler};
pub use file_output::FileBody;
pub use listener::Listener;
pub use schedule::Scheduler;
pub use timers::Timeouts;
pub use trust::{SockAddr, TrustedProxies};

#[cfg(test)]
#[test]
fn modules_import_each_other_without_cycles() {
    crate::module_graph::assert_acyclic(&[
        ("connection", include_str!("connection.rs")),
        ("driver", include_str!("driver.rs")),
        ("file_output", include_str!("file_output.rs")),
        ("listener", include_str!("listener.rs")),
        ("schedule", include_str!("schedule.rs")),
        ("timers", include_str!("timers.rs")),
        ("proxy_protocol", include_str!("proxy_protocol.rs")),
        ("stream", include_str!("stream.rs")),
        ("trust", include_str!("trust.rs")),
        ("tls", include_str!("tls/mod.rs")),
    ]);
}
