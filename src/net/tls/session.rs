//! One connection's TLS state: ciphertext from the socket in, plaintext to
//! the protocol's input buffer out, and the reverse for output.
//!
//! The connection does its own socket reads and writes, so the driver's
//! read sizes, short-read shortcut and byte counters are the same with and
//! without TLS; this type only transforms bytes. rustls holds at most
//! 64 KiB of encrypted output (its default limit): plaintext beyond that
//! stays in the connection's output buffer, where the high-water mark and
//! `--timeout-send` see it.

use super::config::TlsConfig;
use super::info::TlsInfo;
use bytes::BytesMut;
use rustls::ServerConnection;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::Arc;

/// The first byte of a TLS record carrying a handshake message.
const HANDSHAKE_RECORD: u8 = 0x16;

/// The answer to a plain HTTP request on the TLS port, sent unencrypted
/// before closing, as nginx does.
pub const PLAIN_HTTP_RESPONSE: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
content-type: text/plain; charset=utf-8\r\n\
content-length: 48\r\n\
connection: close\r\n\
\r\n\
The plain HTTP request was sent to an HTTPS port\n";

/// What one batch of ciphertext brought.
pub enum Received {
    /// Handshake progress or plaintext (possibly none yet).
    Progress,
    /// The peer sent `close_notify`: its end of input.
    Closed,
    /// The first bytes are an HTTP request, not a TLS handshake.
    PlainHttp,
    /// A TLS error (a bad record, a failed handshake, a refused client
    /// certificate); an alert may be waiting to go out.
    Failed,
}

pub struct TlsSession {
    conn: ServerConnection,
    server_cert_pem: Arc<str>,
    /// Set once the handshake is complete.
    info: Option<Rc<TlsInfo>>,
    started: bool,
    close_notify_sent: bool,
}

impl TlsSession {
    pub fn new(config: &TlsConfig) -> Result<TlsSession, rustls::Error> {
        Ok(TlsSession {
            conn: ServerConnection::new(config.rustls.clone())?,
            server_cert_pem: config.server_cert_pem.clone(),
            info: None,
            started: false,
            close_notify_sent: false,
        })
    }

    /// Feeds ciphertext read from the socket; the plaintext it carries is
    /// appended to `input`.
    pub fn receive(&mut self, mut data: &[u8], input: &mut BytesMut) -> Received {
        if !self.started && !data.is_empty() {
            self.started = true;
            if data[0] != HANDSHAKE_RECORD && data[0].is_ascii_uppercase() {
                return Received::PlainHttp;
            }
        }
        // rustls takes a few KiB per call and holds at most 16 KiB of
        // plaintext: alternate feeding, processing and draining. An empty
        // slice would count as the end of input, so it is never passed.
        while !data.is_empty() {
            match self.conn.read_tls(&mut data) {
                Ok(_) => {}
                Err(_) => return Received::Failed,
            }
            let state = match self.conn.process_new_packets() {
                Ok(state) => state,
                Err(_) => return Received::Failed,
            };
            if state.plaintext_bytes_to_read() > 0 {
                let start = input.len();
                input.resize(start + state.plaintext_bytes_to_read(), 0);
                match self.conn.reader().read(&mut input[start..]) {
                    Ok(n) => input.truncate(start + n),
                    Err(_) => {
                        input.truncate(start);
                        return Received::Failed;
                    }
                }
            }
            if self.info.is_none() && !self.conn.is_handshaking() {
                self.info = Some(Rc::new(TlsInfo::of(&self.conn, &self.server_cert_pem)));
            }
            if state.peer_has_closed() {
                return Received::Closed;
            }
        }
        Received::Progress
    }

    /// Takes as much of `plain` as rustls will buffer; the number taken.
    pub fn encrypt(&mut self, plain: &[u8]) -> usize {
        self.conn.writer().write(plain).unwrap_or(0)
    }

    /// Encrypted output (or a handshake message, or an alert) waits.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Writes waiting TLS records to `socket`.
    pub fn write_to(&mut self, socket: &mut dyn Write) -> io::Result<usize> {
        self.conn.write_tls(socket)
    }

    /// Queues `close_notify` once; true if it was queued now.
    pub fn close_notify(&mut self) -> bool {
        if self.close_notify_sent || self.conn.is_handshaking() {
            return false;
        }
        self.close_notify_sent = true;
        self.conn.send_close_notify();
        true
    }

    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The negotiated parameters, once the handshake is complete.
    pub fn info(&self) -> Option<&Rc<TlsInfo>> {
        self.info.as_ref()
    }
}
