//! The opening handshake: classification, rejections, and the 101 response.

use crate::http1::{ProtocolError, ResponseDefaults, Version};
use crate::ws::*;

const KEY: &[u8] = b"dGhlIHNhbXBsZSBub25jZQ==";

/// A valid handshake's headers with `changes` applied: `(name, None)`
/// removes a field, `(name, Some(v))` replaces it or adds it.
fn headers(
    changes: &[(&'static str, Option<&'static str>)],
) -> Vec<(&'static [u8], &'static [u8])> {
    let mut h: Vec<(&[u8], &[u8])> = vec![
        (b"host", b"server.example.com"),
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-key", KEY),
        (b"origin", b"http://example.com"),
        (b"sec-websocket-protocol", b"chat, superchat"),
        (b"sec-websocket-version", b"13"),
    ];
    for (name, value) in changes {
        let name = name.as_bytes();
        let at = h.iter().position(|(n, _)| *n == name);
        match (at, value) {
            (Some(i), None) => {
                h.remove(i);
            }
            (Some(i), Some(v)) => h[i].1 = v.as_bytes(),
            (None, Some(v)) => h.push((name, v.as_bytes())),
            (None, None) => {}
        }
    }
    h
}

fn check(h: &[(&[u8], &[u8])]) -> Upgrade {
    check_upgrade(b"GET", Version::Http11, h.iter().copied())
}

fn offer(h: &[(&[u8], &[u8])]) -> Offer {
    match check(h) {
        Upgrade::WebSocket(o) => o,
        other => panic!("{other:?}"),
    }
}

fn rejected(u: Upgrade) -> (u16, &'static str) {
    match u {
        Upgrade::Invalid(ProtocolError { status, reason }) => (status, reason),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rfc6455_accept_key() {
    assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(
        offer(&headers(&[])).accept_key(),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn valid_handshake() {
    let o = offer(&headers(&[]));
    assert_eq!(o.subprotocols, ["chat", "superchat"]);
    assert!(o.extensions.is_empty());
    assert_eq!(o.negotiate_deflate(), None);
    // Firefox's Connection; any case in tokens; repeated protocol fields.
    let mut h = headers(&[
        ("connection", Some("keep-alive, Upgrade")),
        ("upgrade", Some("WebSocket")),
        ("sec-websocket-protocol", Some(" a ,, b ")),
    ]);
    h.push((b"sec-websocket-protocol", b"c"));
    let o = offer(&h);
    assert_eq!(o.subprotocols, ["a", "b", "c"]);
    let o = offer(&headers(&[("sec-websocket-protocol", None)]));
    assert!(o.subprotocols.is_empty());
    // Names in any case are accepted.
    let upper: Vec<(&[u8], &[u8])> = vec![
        (b"Upgrade", b"websocket"),
        (b"CONNECTION", b"upgrade"),
        (b"Sec-WebSocket-Key", KEY),
        (b"Sec-WebSocket-Version", b"13"),
    ];
    offer(&upper);
}

#[test]
fn extensions_are_parsed() {
    let o = offer(&headers(&[(
        "sec-websocket-extensions",
        Some("permessage-deflate; client_max_window_bits, foo;bar=\"a,\\\"b\" ; baz = 1,,"),
    )]));
    assert_eq!(
        o.extensions,
        vec![
            Extension {
                name: "permessage-deflate".into(),
                params: vec![("client_max_window_bits".into(), None)],
            },
            Extension {
                name: "foo".into(),
                params: vec![
                    ("bar".into(), Some("a,\"b".into())),
                    ("baz".into(), Some("1".into()))
                ],
            },
        ]
    );
    assert_eq!(o.negotiate_deflate(), Some(DeflateParams::default()));
    for bad in [
        "permessage-deflate;",
        "a; b=",
        "a b",
        "a; b=\"open",
        "a; b=c d",
        "a; =c",
        "a; b=\"\x01\"",
        ";a",
        "a,;",
    ] {
        let u = check(&headers(&[("sec-websocket-extensions", Some(bad))]));
        assert_eq!(
            rejected(u),
            (400, "Invalid Sec-WebSocket-Extensions"),
            "{bad:?}"
        );
    }
}

#[test]
fn not_websocket() {
    let cases = [
        headers(&[("upgrade", None)]),
        headers(&[
            ("upgrade", Some("h2c")),
            ("http2-settings", Some("AAMAAABkAAQCAAAAAAIAAAAA")),
        ]),
        headers(&[("upgrade", Some("websocketx"))]),
        vec![],
    ];
    for h in cases {
        assert!(matches!(check(&h), Upgrade::NotWebSocket), "{h:?}");
    }
    // Even an odd method or version is plain HTTP without Upgrade: websocket.
    let h = headers(&[("upgrade", None)]);
    assert!(matches!(
        check_upgrade(b"POST", Version::Http10, h.iter().copied()),
        Upgrade::NotWebSocket
    ));
    // A list naming websocket among others is a websocket upgrade.
    offer(&headers(&[("upgrade", Some("h2c, websocket"))]));
}

#[test]
fn rejections() {
    let h = headers(&[]);
    let u = check_upgrade(b"POST", Version::Http11, h.iter().copied());
    assert_eq!(rejected(u).0, 400);
    let u = check_upgrade(b"get", Version::Http11, h.iter().copied());
    assert_eq!(rejected(u).0, 400);
    let u = check_upgrade(b"GET", Version::Http10, h.iter().copied());
    assert_eq!(rejected(u), (400, "WebSocket upgrade requires HTTP/1.1"));
    for conn in [None, Some("keep-alive"), Some("upgraded")] {
        let u = check(&headers(&[("connection", conn)]));
        assert_eq!(rejected(u).0, 400, "{conn:?}");
    }
    for version in [None, Some("8"), Some("13, 8"), Some("14"), Some("")] {
        let u = check(&headers(&[("sec-websocket-version", version)]));
        assert_eq!(rejected(u).0, 426, "{version:?}");
    }
    let mut twice = headers(&[]);
    twice.push((b"sec-websocket-key", KEY));
    assert_eq!(rejected(check(&twice)).0, 400);
    for key in [
        None,
        Some(""),
        Some("not base64!!!!!!!!!!!!!!"),
        Some("dGhlIHNhbXBsZSBub25jZQ"),     // unpadded
        Some("dGhlIHNhbXBsZSBub25j"),       // 15 bytes
        Some("dGhlIHNhbXBsZSBub25jZQ=="),   // fine (control)
        Some("dGhlIHNhbXBsZSBub25jZR=="),   // non-canonical trailing bits
        Some("dGhlIHNhbXBsZSBub25jZQ==AA"), // trailing data
    ] {
        let u = check(&headers(&[("sec-websocket-key", key)]));
        if key == Some("dGhlIHNhbXBsZSBub25jZQ==") {
            assert!(matches!(u, Upgrade::WebSocket(_)));
        } else {
            assert_eq!(
                rejected(u),
                (
                    400,
                    if key.is_none() {
                        "Missing or repeated Sec-WebSocket-Key"
                    } else {
                        "Invalid Sec-WebSocket-Key"
                    }
                ),
                "{key:?}"
            );
        }
    }
    let u = check(&headers(&[(
        "sec-websocket-protocol",
        Some("chat, bad/name"),
    )]));
    assert_eq!(rejected(u), (400, "Invalid Sec-WebSocket-Protocol"));
}

#[test]
fn reject_responses() {
    let mut out = Vec::new();
    reject_response(
        &ProtocolError {
            status: 426,
            reason: "Unsupported",
        },
        &mut out,
    );
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 426 "), "{text}");
    assert_eq!(
        text.matches("\r\nsec-websocket-version: 13\r\n").count(),
        1,
        "{text}"
    );
    assert!(text.contains("connection: close\r\n") && text.ends_with("\r\n\r\nUnsupported\n"));
    let mut out = b"keep".to_vec();
    let err = ProtocolError {
        status: 400,
        reason: "Bad",
    };
    reject_response(&err, &mut out);
    let mut plain = b"keep".to_vec();
    crate::http1::error_response(&err, &mut plain);
    assert_eq!(out, plain);
}

// ---------------------------------------------------------------- the 101 response

#[test]
fn accept_response() {
    let o = offer(&headers(&[]));
    let mut out = Vec::new();
    o.accept(None)
        .unwrap()
        .finish(None, &ResponseDefaults::default(), b"", &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    );
}

#[test]
fn accept_response_with_everything() {
    let o = offer(&headers(&[(
        "sec-websocket-extensions",
        Some("permessage-deflate; client_max_window_bits"),
    )]));
    let deflate = o.negotiate_deflate();
    let defaults = ResponseDefaults {
        server: Some(b"pyre".to_vec()),
        date: true,
        extra: vec![(b"x-extra".to_vec(), b"1".to_vec())],
    };
    let mut w = o.accept(Some("superchat")).unwrap();
    w.header(b"set-cookie", b"a=b").unwrap();
    w.header(b"Server", b"app").unwrap();
    let mut out = Vec::new();
    w.finish(
        deflate.as_ref(),
        &defaults,
        b"Mon, 01 Jan 2024 00:00:00 GMT",
        &mut out,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
         sec-websocket-protocol: superchat\r\n\
         sec-websocket-extensions: permessage-deflate\r\n\
         date: Mon, 01 Jan 2024 00:00:00 GMT\r\nx-extra: 1\r\n\
         set-cookie: a=b\r\nServer: app\r\n\r\n"
    );
}

#[test]
fn accept_refuses_bad_input() {
    let o = offer(&headers(&[]));
    assert!(o.accept(Some("other")).is_err());
    assert!(o.accept(Some("Chat")).is_err(), "exact match");
    let mut w = o.accept(Some("chat")).unwrap();
    for name in [
        "sec-websocket-accept",
        "Sec-WebSocket-Protocol",
        "sec-websocket-extensions",
        "upgrade",
        "Connection",
        "content-length",
        "transfer-encoding",
    ] {
        assert!(w.header(name.as_bytes(), b"x").is_err(), "{name}");
    }
    assert!(w.header(b"bad name", b"x").is_err());
    assert!(w.header(b"", b"x").is_err());
    for value in [&b"a\rb"[..], b"a\nb", b"a\0b"] {
        assert!(w.header(b"x", value).is_err());
    }
    // Nothing refused was written.
    let mut out = Vec::new();
    w.finish(None, &ResponseDefaults::default(), b"", &mut out);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.matches("\r\n").count(), 6, "{text}");
}

#[test]
fn handover_from_http1() {
    // The whole path the driver takes: an HTTP/1.1 head, the check, the
    // 101, and the bytes read past the head handed to the WebSocket.
    use crate::http1::{Event, Limits, ServerConn};
    let mut h1 = ServerConn::new(Limits::default());
    let request = b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
    h1.recv_buf().extend_from_slice(request);
    let early = super::support::raw_frame(0xC1, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    h1.recv_buf().extend_from_slice(&early);
    let Event::Request(head) = h1.next_event() else {
        panic!()
    };
    let Upgrade::WebSocket(offer) = check_upgrade(head.method(), head.version, head.headers())
    else {
        panic!()
    };
    let deflate = offer.negotiate_deflate();
    let mut out = Vec::new();
    offer.accept(None).unwrap().finish(
        deflate.as_ref(),
        &ResponseDefaults::default(),
        b"",
        &mut out,
    );
    assert!(out.starts_with(b"HTTP/1.1 101 "));
    let mut ws = WsConn::new(WsConfig {
        deflate,
        ..WsConfig::default()
    });
    let rest = h1.recv_buf().split();
    ws.recv_buf().extend_from_slice(&rest);
    assert_eq!(ws.next_event(&mut out), WsEvent::Text("Hello".into()));
}
