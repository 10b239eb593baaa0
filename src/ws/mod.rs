//! WebSocket server side (RFC 6455) with permessage-deflate (RFC 7692), as a
//! sans-IO state machine like `http1`.
//!
//! Nothing here does I/O, reads a clock or touches Python. The driver moves
//! bytes and timers, the bridge turns events into ASGI messages.
//!
//! CONTRACT (the driver and bridge are written against it): the public items
//! below keep these names and signatures. Internals may change.
//!
//! # Opening handshake (`handshake`)
//!
//! 1. For every request head, [`check_upgrade`]`(method, version,
//!    head.headers())` says [`Upgrade::NotWebSocket`] (serve it as plain HTTP),
//!    [`Upgrade::Invalid`] (answer with [`reject_response`] and close), or
//!    [`Upgrade::WebSocket`] with an [`Offer`]: the client's subprotocols and
//!    extensions, for the ASGI `websocket` scope.
//! 2. When the application accepts: `let deflate =
//!    offer.negotiate_deflate()` (if the server allows compression),
//!    `let mut w = offer.accept(subprotocol)?`, `w.header(name, value)?` for
//!    each application header, `w.finish(deflate.as_ref(), defaults, date,
//!    out)` writes the `101 Switching Protocols` response.
//! 3. `WsConn::new(WsConfig { deflate, .. })`, and every byte the HTTP/1.1
//!    connection had already read after the request head
//!    (`http1_conn.recv_buf().split()`, right after the `Request` event)
//!    goes into [`WsConn::recv_buf`] before the socket's next bytes.
//!
//! If the application refuses (close before accept), the bridge answers 403
//! through `http1` as for any HTTP response; nothing here is involved.
//!
//! # Connection (`conn`, `frame`, `deflate`)
//!
//! - Input: append socket bytes to [`WsConn::recv_buf`], call
//!   [`WsConn::next_event`] until it says [`WsEvent::NeedData`], then read
//!   more. Call [`WsConn::recv_eof`] when the peer closed its side. Reading
//!   only after `NeedData` bounds memory: the connection keeps at most one
//!   message being assembled plus what the driver read.
//! - Output: every method that produces bytes appends whole frames to the
//!   caller's `out` (the connection's write buffer). That includes what the
//!   protocol answers by itself inside `next_event`: the pong for a ping, the
//!   close frame answering the peer's close, and the close frame sent when
//!   the peer breaks the protocol. There is no other output queue.
//! - Close: after [`WsEvent::Close`] or [`WsEvent::Error`], write `out`,
//!   then close the socket (the server closes the TCP connection first, RFC
//!   6455 §7.1.1). After [`WsConn::send_close`], keep reading until the
//!   peer's `Close` arrives; the driver bounds that wait with its own timer
//!   ([`WsConn::close_sent`] says the wait started) and simply closes the
//!   socket when it fires. After `Close`/`Error`, `next_event` returns
//!   [`WsEvent::Closed`] forever.
//! - Keep-alive pings are the driver's: call [`WsConn::send_ping`] on its
//!   timer and watch for [`WsEvent::Pong`].
//!
//! # Behaviour choices
//!
//! - Handshake: the request is a WebSocket upgrade when an `Upgrade` token is
//!   `websocket` (any case); other upgrades (h2c) and requests without
//!   `Upgrade` are plain HTTP even if they carry `Sec-WebSocket-*` fields.
//!   Then: not GET, HTTP/1.0, no `upgrade` token in `Connection` → 400;
//!   `Sec-WebSocket-Version` missing or not exactly `13` → 426 with
//!   `sec-websocket-version: 13`; `Sec-WebSocket-Key` missing, repeated or
//!   not the canonical base64 of 16 bytes → 400; a subprotocol that is not a
//!   token, or a malformed `Sec-WebSocket-Extensions` → 400.
//! - The 101 response refuses application headers `sec-websocket-accept`,
//!   `sec-websocket-protocol` (use the subprotocol), `sec-websocket-extensions`,
//!   `upgrade`, `connection`, `content-length` and `transfer-encoding`
//!   (RFC 9110 §8.6/§6.1: not in a 1xx), with the same name/value checks as
//!   `http1`. The subprotocol must be one the client offered (exact match).
//! - Close codes accepted from the peer and for [`WsConn::send_close`]:
//!   1000–1003, 1007–1014 and 3000–4999. 1012–1014 are IANA-registered
//!   (service restart, try again later, bad gateway) and sent by real
//!   servers, so they are valid here; 1004–1006, 1015, 1016–2999, 5000+ are
//!   not. A close payload of 1 byte or an invalid code → 1002; a reason that
//!   is not UTF-8 → 1007 (it is invalid UTF-8 data, as for text).
//! - Frame rules (all → 1002): unmasked client frame; RSV2/RSV3; RSV1 unless
//!   deflate was negotiated and the frame is the first of a data message;
//!   reserved opcodes; control frame over 125 bytes or fragmented;
//!   continuation without a message, or a new data frame inside one; a
//!   64-bit length with its top bit set. Non-minimal length encodings are
//!   accepted (harmless, and some small clients use them).
//! - Text is validated incrementally, so invalid UTF-8 fails (1007) on the
//!   fragment that contains it, and a character split across fragments is
//!   fine. A message over `max_message_size` fails (1009) as soon as the
//!   frame header announcing it arrives (uncompressed) or as soon as
//!   decompressed output passes it (compressed): a zip bomb never allocates
//!   more than the limit. Undecodable compressed data → 1007.
//! - The close we answer to a peer's close echoes its code (no reason), or
//!   is empty when the peer's was. After we sent a close, data frames are
//!   still parsed (frame rules apply) but their payload is dropped unread;
//!   pings are reported but not answered (nothing may follow our close).
//! - End of input before the close handshake completes is
//!   `Error { close_code: 1006 }` with nothing written (1006 never goes on
//!   the wire); it is the code the bridge reports in `websocket.disconnect`.
//! - We send every message as one unfragmented, unmasked frame.
//! - permessage-deflate: see `deflate.rs` for the negotiation. The pure-Rust
//!   backend always compresses with a 32 KiB window, so when the client asks
//!   for `server_max_window_bits=N` (N < 15) we answer it with
//!   `server_no_context_takeover` and only compress messages of at most 2^N
//!   bytes (no back-reference can then reach further than the window); larger
//!   ones go uncompressed, which RFC 7692 allows. We never limit the
//!   client's window: our inflater accepts any window size.
//! - Memory: a connection holds its receive buffer, at most one message
//!   being assembled (≤ `max_message_size`), and with deflate an inflater
//!   (~45 KiB) plus, from the first compressed send, a compressor (~300 KiB
//!   with miniz_oxide). All of it is released when the connection ends.

mod conn;
mod deflate;
mod extensions;
mod frame;
mod handshake;
#[cfg(test)]
mod tests;

pub use conn::WsConn;
pub use deflate::DeflateParams;
pub use extensions::Extension;
pub use frame::is_valid_close_code;
pub use handshake::{accept_key, check_upgrade, reject_response, AcceptWriter, Offer, Upgrade};

use bytes::Bytes;

/// Settings of one WebSocket connection.
#[derive(Clone, Debug)]
pub struct WsConfig {
    /// Largest message the peer may send, after reassembly and after
    /// decompression; beyond it the connection fails with 1009.
    pub max_message_size: usize,
    /// The negotiated permessage-deflate parameters (from
    /// [`Offer::negotiate_deflate`]), or `None` when not negotiated.
    pub deflate: Option<DeflateParams>,
    /// DEFLATE level for outgoing messages, 0 (stored) to 9; values above 9
    /// count as 9.
    pub compression_level: u32,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            // uvicorn's `ws_max_size` default.
            max_message_size: 16 * 1024 * 1024,
            deflate: None,
            // zlib's default level, as the `websockets` library uses.
            compression_level: 6,
        }
    }
}

/// What the connection has for its user next.
#[derive(Debug, PartialEq, Eq)]
pub enum WsEvent {
    /// A complete text message.
    Text(String),
    /// A complete binary message.
    Binary(Bytes),
    /// The peer pinged (informational: the pong is already in `out`, unless
    /// we had sent our close).
    Ping(Bytes),
    /// The peer answered a ping (or sent an unsolicited pong).
    Pong(Bytes),
    /// The peer's close frame: it started the close (our answer is already
    /// in `out`) or answered ours. `None` when the frame had no code (ASGI
    /// reports that as 1005). The close handshake is complete: write `out`
    /// and close the socket.
    Close { code: Option<u16>, reason: String },
    /// Nothing to do until more bytes arrive.
    NeedData,
    /// The connection failed. Unless we had already sent one, a close frame
    /// with `close_code` and `reason` is in `out`; write it and close the
    /// socket. 1002: protocol error, 1007: invalid data (UTF-8,
    /// decompression), 1009: message too big, 1006: the input ended before
    /// the close handshake (nothing written).
    Error {
        close_code: u16,
        reason: &'static str,
    },
    /// The connection is over (after `Close` or `Error`); returned forever.
    Closed,
}

#[cfg(test)]
#[test]
fn modules_import_each_other_without_cycles() {
    crate::module_graph::assert_acyclic(&[
        ("conn", include_str!("conn.rs")),
        ("deflate", include_str!("deflate.rs")),
        ("extensions", include_str!("extensions.rs")),
        ("frame", include_str!("frame.rs")),
        ("handshake", include_str!("handshake.rs")),
    ]);
}
