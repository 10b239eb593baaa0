//! The opening handshake (RFC 6455 §4.2): is this request a WebSocket
//! upgrade, is it a valid one, and the `101 Switching Protocols` answer.

use super::deflate::DeflateParams;
use super::extensions::{parse_extensions, Extension};
use crate::http1::syntax::{check_response_field, is_tchar, push_field};
use crate::http1::{error_response, ProtocolError, ResponseDefaults, SendError, Version};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// RFC 6455 §1.3 (note the ending: ...C5AB0DC85B11).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// What a request head means for WebSocket.
#[derive(Debug)]
pub enum Upgrade {
    /// Not a WebSocket upgrade (no `Upgrade: websocket`): serve as plain HTTP.
    NotWebSocket,
    /// A valid opening handshake, waiting for the application's decision.
    WebSocket(Offer),
    /// A WebSocket upgrade that breaks the rules: answer with
    /// [`reject_response`] and close.
    Invalid(ProtocolError),
}

/// A valid opening handshake.
#[derive(Clone, Debug)]
pub struct Offer {
    accept: String,
    /// `Sec-WebSocket-Protocol` elements, in order (ASGI `subprotocols`).
    pub subprotocols: Vec<String>,
    /// `Sec-WebSocket-Extensions` elements, in order.
    pub extensions: Vec<Extension>,
}

impl Offer {
    /// The `Sec-WebSocket-Accept` value for this request's key.
    pub fn accept_key(&self) -> &str {
        &self.accept
    }

    /// permessage-deflate parameters to use, if the client offered an
    /// acceptable form of it (see `deflate.rs`). Call only when the server
    /// allows compression; pass the result to both
    /// [`AcceptWriter::finish`] and `WsConfig::deflate`.
    pub fn negotiate_deflate(&self) -> Option<DeflateParams> {
        DeflateParams::negotiate(&self.extensions)
    }

    /// Starts the `101` response. `subprotocol` must be one the client
    /// offered (exact match).
    pub fn accept(&self, subprotocol: Option<&str>) -> Result<AcceptWriter<'_>, SendError> {
        let subprotocol = match subprotocol {
            None => None,
            Some(p) => match self.subprotocols.iter().find(|s| *s == p) {
                Some(s) => Some(s.as_str()),
                None => {
                    return Err(SendError(format!(
                        "Subprotocol {p:?} was not offered by the client"
                    )))
                }
            },
        };
        Ok(AcceptWriter {
            offer: self,
            subprotocol,
            head: Vec::new(),
            has_date: false,
            has_server: false,
        })
    }
}

/// Builds the `101 Switching Protocols` response, field by field, so that
/// the bridge can pass header slices borrowed from Python objects.
pub struct AcceptWriter<'o> {
    offer: &'o Offer,
    subprotocol: Option<&'o str>,
    head: Vec<u8>,
    has_date: bool,
    has_server: bool,
}

/// Fields of the handshake that are ours to write, or that a 1xx cannot carry.
const RESERVED: &[&[u8]] = &[
    b"sec-websocket-accept",
    b"sec-websocket-protocol",
    b"sec-websocket-extensions",
    b"upgrade",
    b"connection",
    b"content-length",
    b"transfer-encoding",
];

impl AcceptWriter<'_> {
    /// Validates (token name, no CR/LF/NUL in value) and adds an
    /// application header. Fields the handshake owns are refused.
    pub fn header(&mut self, name: &[u8], value: &[u8]) -> Result<(), SendError> {
        check_response_field(name, value)?;
        if RESERVED.iter().any(|r| name.eq_ignore_ascii_case(r)) {
            return Err(SendError(format!(
                "Header {:?} cannot be set in a WebSocket accept{}",
                String::from_utf8_lossy(name),
                if name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
                    " (use the subprotocol)"
                } else {
                    ""
                }
            )));
        }
        self.has_date |= name.eq_ignore_ascii_case(b"date");
        self.has_server |= name.eq_ignore_ascii_case(b"server");
        push_field(&mut self.head, name, value);
        Ok(())
    }

    /// Writes the whole response to `out`: the handshake fields, the
    /// server's defaults (date, server, extra headers; a `date` or `server`
    /// the application sent replaces the default), then the application's
    /// fields, the same order as `http1` responses.
    pub fn finish(
        self,
        deflate: Option<&DeflateParams>,
        defaults: &ResponseDefaults,
        date: &[u8],
        out: &mut Vec<u8>,
    ) {
        out.extend_from_slice(
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n",
        );
        push_field(out, b"sec-websocket-accept", self.offer.accept.as_bytes());
        if let Some(p) = self.subprotocol {
            push_field(out, b"sec-websocket-protocol", p.as_bytes());
        }
        if let Some(d) = deflate {
            push_field(
                out,
                b"sec-websocket-extensions",
                d.response_value().as_bytes(),
            );
        }
        defaults.write(self.has_date, self.has_server, date, out);
        out.extend_from_slice(&self.head);
        out.extend_from_slice(b"\r\n");
    }
}

/// The response for an [`Upgrade::Invalid`] request: `http1`'s error
/// response (plain-text reason, `connection: close`), plus
/// `sec-websocket-version: 13` for a 426 (RFC 6455 §4.4).
pub fn reject_response(err: &ProtocolError, out: &mut Vec<u8>) {
    let start = out.len();
    error_response(err, out);
    if err.status == 426 {
        let line_end = out[start..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(out.len(), |p| start + p + 2);
        out.splice(
            line_end..line_end,
            b"sec-websocket-version: 13\r\n".iter().copied(),
        );
    }
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` value:
/// base64(SHA-1(key + GUID)).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(GUID);
    STANDARD.encode(sha.digest().bytes())
}

/// Classifies a request head. `headers` are (lower-case name, trimmed
/// value) pairs as `RequestHead::headers()` yields them (any case is
/// accepted); `version` comes from the parsed request line.
pub fn check_upgrade<'a, I>(method: &[u8], version: Version, headers: I) -> Upgrade
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    let mut websocket = false;
    let mut connection_upgrade = false;
    let mut keys = 0usize;
    let mut key: &[u8] = b"";
    let mut versions: Vec<&[u8]> = Vec::new();
    let mut protocols: Vec<&[u8]> = Vec::new();
    let mut extensions: Vec<&[u8]> = Vec::new();
    for (name, value) in headers {
        if name.eq_ignore_ascii_case(b"upgrade") {
            websocket |= list_elements(value).any(|t| t.eq_ignore_ascii_case(b"websocket"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            connection_upgrade |= list_elements(value).any(|t| t.eq_ignore_ascii_case(b"upgrade"));
        } else if name.eq_ignore_ascii_case(b"sec-websocket-key") {
            keys += 1;
            key = value;
        } else if name.eq_ignore_ascii_case(b"sec-websocket-version") {
            versions.extend(list_elements(value));
        } else if name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
            protocols.push(value);
        } else if name.eq_ignore_ascii_case(b"sec-websocket-extensions") {
            extensions.push(value);
        }
    }
    if !websocket {
        return Upgrade::NotWebSocket;
    }
    let invalid = |status, reason| Upgrade::Invalid(ProtocolError { status, reason });
    if method != b"GET" {
        return invalid(400, "WebSocket upgrade requires GET");
    }
    if version != Version::Http11 {
        return invalid(400, "WebSocket upgrade requires HTTP/1.1");
    }
    if !connection_upgrade {
        return invalid(400, "WebSocket upgrade without 'Connection: upgrade'");
    }
    if !matches!(versions.as_slice(), [v] if *v == b"13") {
        return invalid(426, "Unsupported Sec-WebSocket-Version (13 is supported)");
    }
    if keys != 1 {
        return invalid(400, "Missing or repeated Sec-WebSocket-Key");
    }
    if !matches!(STANDARD.decode(key), Ok(k) if k.len() == 16) {
        return invalid(400, "Invalid Sec-WebSocket-Key");
    }
    let mut subprotocols = Vec::new();
    for value in protocols {
        for p in list_elements(value) {
            if !p.iter().all(|&b| is_tchar(b)) {
                return invalid(400, "Invalid Sec-WebSocket-Protocol");
            }
            // Tokens are ASCII.
            subprotocols.push(String::from_utf8_lossy(p).into_owned());
        }
    }
    let mut offered = Vec::new();
    for value in extensions {
        if parse_extensions(value, &mut offered).is_none() {
            return invalid(400, "Invalid Sec-WebSocket-Extensions");
        }
    }
    Upgrade::WebSocket(Offer {
        accept: accept_key(key),
        subprotocols,
        extensions: offered,
    })
}

/// The non-empty, trimmed elements of a comma-separated list (RFC 9110 §5.6.1).
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|e| !e.is_empty())
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}
