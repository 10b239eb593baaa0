//! Framing for the ASGI response extensions: a body whose bytes the
//! driver sends itself (a file), trailers, early hints.

use super::support::*;
use crate::http1::*;

fn head(c: &mut ServerConn, headers: &[(&str, &str)], trailers: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = c.start_response(200).expect("start_response");
    for (n, v) in headers {
        w.header(n.as_bytes(), v.as_bytes()).expect("header");
    }
    if trailers {
        w.announce_trailers();
    }
    w.finish(&ResponseDefaults::default(), b"", &mut out)
        .expect("finish");
    out
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";

#[test]
fn an_external_body_is_framed_as_a_chunk_when_chunked() {
    let mut c = ready(GET);
    let mut out = head(&mut c, &[], false);
    out.clear();
    let suffix = c.send_external_body(5, &mut out).unwrap().unwrap();
    out.extend_from_slice(b"hello"); // what the driver sends
    out.extend_from_slice(suffix);
    c.send_body(b"!", false, &mut out).unwrap();
    assert_eq!(out, b"5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n");
    assert!(c.response_complete());
}

#[test]
fn an_external_body_is_raw_and_counted_with_a_content_length() {
    let mut c = ready(GET);
    let mut out = head(&mut c, &[("content-length", "7")], false);
    out.clear();
    assert_eq!(c.send_external_body(5, &mut out).unwrap(), Some(&b""[..]));
    assert!(out.is_empty());
    // Two more bytes fit; three do not.
    let err = c.send_external_body(3, &mut out).unwrap_err();
    assert!(err.0.contains("longer than Content-Length"), "{}", err.0);
    c.send_body(b"ab", false, &mut out).unwrap();
    assert!(c.response_complete() && !c.will_close());
}

#[test]
fn an_external_body_shorter_than_the_content_length_closes() {
    let mut c = ready(GET);
    let mut out = head(&mut c, &[("content-length", "10")], false);
    c.send_external_body(4, &mut out).unwrap();
    assert!(c.send_body(b"", false, &mut out).is_err());
    assert!(c.will_close());
}

#[test]
fn an_external_body_to_a_head_request_is_not_sent() {
    let mut c = ready(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
    let mut out = head(&mut c, &[("content-length", "10")], false);
    assert!(c.discards_body());
    assert_eq!(c.send_external_body(10, &mut out).unwrap(), None);
}

#[test]
fn trailers_go_out_when_the_client_sent_te_trailers() {
    let mut c = ready(b"GET / HTTP/1.1\r\nHost: h\r\nTE: deflate, Trailers\r\n\r\n");
    let mut out = head(&mut c, &[], true);
    out.clear();
    c.send_body(b"abc", false, &mut out).unwrap();
    assert!(!c.response_complete());
    c.send_trailer(b"x-checksum", b"1234", &mut out).unwrap();
    c.end_trailers(true, &mut out).unwrap();
    c.send_trailer(b"server-timing", b"db;dur=5", &mut out)
        .unwrap();
    c.end_trailers(false, &mut out).unwrap();
    assert_eq!(
        out,
        b"3\r\nabc\r\n0\r\nx-checksum: 1234\r\nserver-timing: db;dur=5\r\n\r\n"
    );
    assert!(c.response_complete());
}

#[test]
fn trailers_are_dropped_without_te_trailers_or_with_a_content_length() {
    let mut c = ready(GET);
    let mut out = head(&mut c, &[], true);
    out.clear();
    c.send_body(b"abc", false, &mut out).unwrap();
    c.send_trailer(b"x-checksum", b"1234", &mut out).unwrap();
    c.end_trailers(false, &mut out).unwrap();
    assert_eq!(out, b"3\r\nabc\r\n0\r\n\r\n");
    assert!(c.response_complete());

    let mut c = ready(b"GET / HTTP/1.1\r\nHost: h\r\nTE: trailers\r\n\r\n");
    let mut out = head(&mut c, &[("content-length", "3")], true);
    out.clear();
    c.send_body(b"abc", false, &mut out).unwrap();
    c.send_trailer(b"x-checksum", b"1234", &mut out).unwrap();
    c.end_trailers(false, &mut out).unwrap();
    assert_eq!(out, b"abc");
}

#[test]
fn forbidden_or_malformed_trailers_and_misplaced_ones_fail() {
    let mut c = ready(b"GET / HTTP/1.1\r\nHost: h\r\nTE: trailers\r\n\r\n");
    let mut out = head(&mut c, &[], true);
    // Before the body's end.
    assert!(c.send_trailer(b"x-a", b"1", &mut out).is_err());
    c.send_body(b"", false, &mut out).unwrap();
    out.clear();
    for name in [
        "Content-Length",
        "transfer-encoding",
        "host",
        "content-type",
    ] {
        let err = c.send_trailer(name.as_bytes(), b"1", &mut out).unwrap_err();
        assert!(err.0.contains("not allowed in trailers"), "{}", err.0);
    }
    assert!(c.send_trailer(b"x a", b"1", &mut out).is_err());
    assert!(c.send_trailer(b"x-a", b"1\r\nx: y", &mut out).is_err());
    assert!(out.is_empty());
    c.end_trailers(false, &mut out).unwrap();
    assert!(c.end_trailers(false, &mut out).is_err());

    // Not announced.
    let mut c = ready(GET);
    let mut out = head(&mut c, &[], false);
    c.send_body(b"", false, &mut out).unwrap();
    let err = c.send_trailer(b"x-a", b"1", &mut out).unwrap_err();
    assert!(err.0.contains("without 'trailers'"), "{}", err.0);
}

#[test]
fn early_hints_precede_the_response_for_http_1_1_only() {
    let mut c = ready(GET);
    let mut out = Vec::new();
    let links: &[&[u8]] = &[
        b"</style.css>; rel=preload; as=style",
        b"</app.js>; rel=preload",
    ];
    assert!(c.send_early_hints(links, &mut out).unwrap());
    assert_eq!(
        out,
        b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; as=style\r\nlink: </app.js>; rel=preload\r\n\r\n"
    );
    assert!(!c.response_started());
    assert!(c.send_early_hints(&[b"bad\r\nx: y"], &mut out).is_err());
    assert!(c.send_early_hints(&[b" "], &mut out).is_err());
    head(&mut c, &[], false);
    let err = c.send_early_hints(links, &mut out).unwrap_err();
    assert!(err.0.contains("after the response started"), "{}", err.0);

    let mut c = ready(b"GET / HTTP/1.0\r\n\r\n");
    let mut out = Vec::new();
    assert!(!c.send_early_hints(links, &mut out).unwrap());
    assert!(out.is_empty());
}
