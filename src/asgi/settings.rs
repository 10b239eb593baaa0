//! Server settings the bridge reads on every request, beside those the
//! driver and the protocols take.

use crate::net::TrustedProxies;

/// The server's WebSocket settings (`--ws*` options).
#[derive(Clone, Debug)]
pub struct WsSettings {
    pub enabled: bool,
    pub max_size: usize,
    pub max_queue: usize,
    pub per_message_deflate: bool,
}

/// Proxy headers (`--proxy-headers`, `--forwarded-allow-ips`).
#[derive(Clone, Debug)]
pub struct ProxySettings {
    /// Read `X-Forwarded-*` and `Forwarded` from trusted peers.
    pub headers: bool,
    pub trusted: TrustedProxies,
}
