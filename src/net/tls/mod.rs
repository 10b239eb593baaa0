//! TLS under the protocols: a connection's socket bytes pass through a
//! [`TlsSession`] (rustls) on their way to and from the HTTP/1.1 or
//! WebSocket state machine, which sees only plaintext. The settings
//! (`--ssl-*`) become one shared [`TlsConfig`] at startup.

mod ciphers;
mod config;
mod info;
mod keys;
mod pem;
mod session;

pub use config::{ClientCerts, TlsConfig, TlsOptions};
pub use info::TlsInfo;
pub use session::{Received, TlsSession, PLAIN_HTTP_RESPONSE};

#[cfg(test)]
#[test]
fn modules_import_each_other_without_cycles() {
    crate::module_graph::assert_acyclic(&[
        ("ciphers", include_str!("ciphers.rs")),
        ("config", include_str!("config.rs")),
        ("info", include_str!("info.rs")),
        ("keys", include_str!("keys.rs")),
        ("pem", include_str!("pem.rs")),
        ("session", include_str!("session.rs")),
    ]);
}
