//! Byte-level tests of the whole connection: what goes in, which events come
//! out, which bytes are written. `support` simulates a driver; the corpus
//! replay and the no-panic mutation test live in their own files.

mod corpus;
mod extensions;
mod fuzz_regressions;
mod no_panic;
mod support;

use super::*;
use support::*;

// ---------------------------------------------------------------- requests

#[test]
fn simple_get() {
    let mut c = conn();
    c.recv_buf().extend_from_slice(
        b"GET /a%20b?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Thing:  v  \r\n\r\n",
    );
    let Event::Request(head) = c.next_event() else {
        panic!()
    };
    assert_eq!(head.method(), b"GET");
    assert_eq!(head.target(), b"/a%20b?x=1");
    assert_eq!(head.path(), b"/a%20b");
    assert_eq!(head.query(), b"x=1");
    assert_eq!(head.version, Version::Http11);
    let headers: Vec<_> = head.headers().collect();
    assert_eq!(
        headers,
        vec![(&b"host"[..], &b"example.com"[..]), (b"x-thing", b"v")]
    );
    assert_eq!(head.framing, BodyFraming::Empty);
    assert!(head.keep_alive && !head.expect_continue && !head.is_head());
    assert!(matches!(c.next_event(), Event::EndOfBody));
    assert!(matches!(c.next_event(), Event::AwaitingResponse));
    assert!(matches!(c.next_event(), Event::AwaitingResponse));
    assert!(!c.response_complete() && !c.response_started() && !c.will_close());
    let out = respond(&mut c, 200, &[("content-length", "2")], b"ok");
    assert_eq!(out, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    assert!(c.response_complete());
    assert!(matches!(c.next_event(), Event::NeedData));
    assert!(c.is_idle());
    c.recv_eof();
    assert!(matches!(c.next_event(), Event::Close));
    assert!(matches!(c.next_event(), Event::Close));
}

#[test]
fn head_is_one_zero_copy_buffer() {
    let mut c = conn();
    c.recv_buf()
        .extend_from_slice(b"POST /p HTTP/1.1\r\nHOST: h\r\nContent-Length: 3\r\n\r\nabcGET");
    let Event::Request(head) = c.next_event() else {
        panic!()
    };
    assert_eq!(
        &head.raw[..],
        &b"POST /p HTTP/1.1\r\nhost: h\r\ncontent-length: 3\r\n\r\n"[..]
    );
    assert_eq!(head.framing, BodyFraming::Length(3));
    let Event::Data(data) = c.next_event() else {
        panic!()
    };
    assert_eq!(&data[..], b"abc");
    assert!(matches!(c.next_event(), Event::EndOfBody));
    assert_eq!(&c.recv_buf()[..], b"GET");
}

#[test]
fn leading_empty_lines_are_ignored() {
    let t = transcript(b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(t.events, vec![req("GET / HTTP/1.1"), Ev::End, Ev::Close]);
}

#[test]
fn absolute_and_asterisk_forms() {
    let t = transcript(b"GET http://example.com/foo?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        t.events,
        vec![
            req("GET /foo?q=1 HTTP/1.1"),
            Ev::End,
            req("OPTIONS * HTTP/1.1"),
            Ev::End,
            Ev::Close
        ]
    );
}

#[test]
fn minor_versions_above_one_are_answered_as_http11() {
    let t = transcript(b"GET / HTTP/1.7\r\nHost: h\r\n\r\n");
    assert_eq!(t.events, vec![req("GET / HTTP/1.1"), Ev::End, Ev::Close]);
}

/// Every rejection, with the status it gets, checked whole and byte by byte.
#[test]
fn rejections() {
    let cases: &[(&[u8], u16, &str)] = &[
        // request line
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, "HTTP version not supported"),
        (b"GET / HTTP/0.9\r\n\r\n", 505, "HTTP version not supported"),
        (b"GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400, "Invalid HTTP version"),
        (b"GET / HTTP/1\r\nHost: h\r\n\r\n", 400, "Invalid HTTP version"),
        (b"GET / FTP/1.1\r\nHost: h\r\n\r\n", 400, "Invalid HTTP version"),
        (b"GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400, "Invalid HTTP version"),
        (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "Invalid method"),
        (b"GET\r\nHost: h\r\n\r\n", 400, "Invalid request line"),
        (b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400, "Asterisk-form target is only allowed with OPTIONS"),
        (b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 400, "CONNECT is not supported"),
        (b"GET h:443 HTTP/1.1\r\nHost: h\r\n\r\n", 400, "Invalid request target"),
        (b"GET /#f HTTP/1.1\r\nHost: h\r\n\r\n", 400, "Fragment in request target"),
        (b"GET /\xc3\xa4\xc3\xb6\xc3\xbc HTTP/1.0\r\n\r\n", 400, "Non-ASCII byte in request target"),
        (b"GET /?q=\xc3\xa4 HTTP/1.1\r\nHost: h\r\n\r\n", 400, "Non-ASCII byte in request target"),
        (b"GET http://h/\xff HTTP/1.1\r\nHost: h\r\n\r\n", 400, "Non-ASCII byte in request target"),
        (b"GET / HTTP/1.1\nHost: h\r\n\r\n", 400, "Bare LF in request head"),
        // field lines
        (b"GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n c\r\n\r\n", 400, "Obsolete line folding in header"),
        (b"GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400, "Obsolete line folding in header"),
        (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, "Invalid header name"),
        (b"GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400, "Invalid header name"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nA(: v\r\n\r\n", 400, "Invalid header name"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nA: x\ry\r\n\r\n", 400, "Bare CR in request head"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nA: x\ny\r\n\r\n", 400, "Bare LF in request head"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nA: x\0y\r\n\r\n", 400, "NUL in request head"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nA: x\x01y\r\n\r\n", 400, "Invalid header value"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nA: x\x7fy\r\n\r\n", 400, "Invalid header value"),
        (b"GET / HTTP/1.1\r\n\r\n", 400, "Missing Host header"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "Multiple Host headers"),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "Invalid Host header"),
        // framing
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Content-Length and Transfer-Encoding together"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400, "Conflicting Content-Length values"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\n", 400, "Invalid Content-Length"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\n", 400, "Invalid Content-Length"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\n", 400, "Invalid Content-Length"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n", 400, "Invalid Content-Length"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "Transfer-Encoding must end with chunked"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", 400, "Transfer-Encoding must end with chunked"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400, "Chunked applied more than once"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "Unsupported transfer coding"),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "Transfer-Encoding in an HTTP/1.0 request"),
        // chunked body
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", 400, "Invalid chunk size"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", 400, "Invalid chunk size"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400, "Invalid chunk size"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", 400, "Chunk size too large"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\r\nhello\r\n0\r\n\r\n", 400, "Invalid chunk extension"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400, "Bare LF in chunked body"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400, "Missing CRLF after chunk data"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 400, "Missing CRLF after chunk data"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n", 400, "Forbidden trailer field"),
        // end of input inside a head
        (b"GET / HTTP/1.1\r\nHost: h\r\n", 400, "Incomplete request"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", 400, "Incomplete request body"),
    ];
    for &(input, status, reason) in cases {
        let t = transcript(input);
        let last = t.events.last().cloned();
        assert_eq!(
            last,
            Some(Ev::Error(status, reason.to_string())),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

/// Raw bytes above 0x7F are refused in the request target (above) but
/// stay allowed as obs-text in field values (RFC 9110 §5.5).
#[test]
fn obs_text_in_field_values_is_kept() {
    let mut c = conn();
    c.recv_buf()
        .extend_from_slice(b"GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9\r\n\r\n");
    let Event::Request(head) = c.next_event() else {
        panic!()
    };
    assert!(head
        .headers()
        .any(|(n, v)| n == b"x-name" && v == b"caf\xc3\xa9"));
}

#[test]
fn limits() {
    let limits = Limits {
        max_request_line: 20,
        max_header_bytes: 40,
        max_headers: 3,
        max_body: Some(10),
        ..Limits::default()
    };
    let cases: &[(&[u8], u16)] = &[
        (b"GET /0123456789012345 HTTP/1.1\r\n", 414),
        (b"GET /0123456789012345", 414), // incomplete, already too long
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nA: 0123456789012345678901234567890\r\n\r\n",
            431,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nA: 01234567890123456789012345678",
            431,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
            431,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n",
            413,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n",
            413,
        ),
    ];
    for &(input, status) in cases {
        for step in [usize::MAX, 1] {
            let t = run(input, step, limits.clone(), Responder::Ok);
            let Some(Ev::Error(got, _)) = t.events.last() else {
                panic!("{:?}: {:?}", String::from_utf8_lossy(input), t.events)
            };
            assert_eq!(*got, status, "{:?}", String::from_utf8_lossy(input));
        }
    }
    // Exactly at the limits is fine.
    let ok = plain(run(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789",
        usize::MAX,
        limits,
        Responder::Ok,
    ));
    assert_eq!(
        ok[..2],
        [req("POST / HTTP/1.1"), Ev::Body(b"0123456789".to_vec())]
    );
}

#[test]
fn error_kills_the_connection() {
    let mut c = conn();
    c.recv_buf()
        .extend_from_slice(b"GET / HTTP/9.9\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(matches!(
        c.next_event(),
        Event::Error(ProtocolError { status: 505, .. })
    ));
    for _ in 0..3 {
        assert!(matches!(c.next_event(), Event::Close));
    }
    assert!(!c.wants_read(0));
    assert!(c.start_response(200).is_err());
}

#[test]
fn error_response_bytes() {
    let mut out = Vec::new();
    error_response(
        &ProtocolError {
            status: 431,
            reason: "Too many header fields",
        },
        &mut out,
    );
    assert_eq!(
        out,
        &b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n\
content-length: 23\r\nconnection: close\r\n\r\nToo many header fields\n"[..]
    );
}

// ------------------------------------------------------- keep-alive, pipelining

#[test]
fn pipelined_requests_are_answered_in_order() {
    let input = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n\
POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let t = transcript(input);
    assert_eq!(
        t.events,
        vec![
            req("GET /1 HTTP/1.1"),
            Ev::End,
            req("POST /2 HTTP/1.1"),
            Ev::Body(b"hello".to_vec()),
            Ev::End,
            req("POST /3 HTTP/1.1"),
            Ev::Body(b"abc".to_vec()),
            Ev::End,
            Ev::Close,
        ]
    );
    let text = String::from_utf8(t.output).unwrap();
    let paths: Vec<&str> = text.matches("you asked for /").collect();
    assert_eq!(paths.len(), 3);
    assert!(
        text.find("/1").unwrap() < text.find("/2").unwrap()
            && text.find("/2").unwrap() < text.find("/3").unwrap()
    );
}

#[test]
fn two_requests_in_one_read_wait_for_the_first_response() {
    let mut c = conn();
    c.recv_buf()
        .extend_from_slice(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(matches!(c.next_event(), Event::Request(_)));
    assert!(matches!(c.next_event(), Event::EndOfBody));
    assert!(matches!(c.next_event(), Event::AwaitingResponse));
    assert!(matches!(c.next_event(), Event::AwaitingResponse));
    assert!(!c.is_idle());
    respond(&mut c, 200, &[("content-length", "0")], b"");
    let Event::Request(second) = c.next_event() else {
        panic!()
    };
    assert_eq!(second.path(), b"/2");
}

#[test]
fn connection_close_from_client() {
    let t = transcript(b"GET /1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(t.events, vec![req("GET /1 HTTP/1.1"), Ev::End, Ev::Close]);
    assert!(String::from_utf8(t.output)
        .unwrap()
        .contains("connection: close\r\n"));
}

#[test]
fn http10_closes_unless_keep_alive() {
    let t = transcript(b"GET /1 HTTP/1.0\r\n\r\nGET /2 HTTP/1.0\r\n\r\n");
    assert_eq!(t.events, vec![req("GET /1 HTTP/1.0"), Ev::End, Ev::Close]);
    let out = String::from_utf8(t.output).unwrap();
    assert!(
        out.starts_with("HTTP/1.1 200 OK\r\n") && out.contains("connection: close\r\n"),
        "{out}"
    );

    let t = transcript(b"GET /1 HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n");
    assert_eq!(
        t.events,
        vec![
            req("GET /1 HTTP/1.0"),
            Ev::End,
            req("GET /2 HTTP/1.0"),
            Ev::End,
            Ev::Close
        ]
    );
    let out = String::from_utf8(t.output).unwrap();
    assert_eq!(
        out.matches("connection: keep-alive\r\n").count(),
        1,
        "{out}"
    );
    assert_eq!(out.matches("connection: close\r\n").count(), 1, "{out}");
}

#[test]
fn http10_response_without_length_is_close_delimited() {
    let mut c = conn();
    c.recv_buf()
        .extend_from_slice(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert!(matches!(c.next_event(), Event::Request(_)));
    assert!(!c.will_close());
    let out = respond(&mut c, 200, &[], b"streamed");
    assert_eq!(out, b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nstreamed");
    assert!(c.will_close());
    assert!(matches!(c.next_event(), Event::Close));
}

#[test]
fn http10_ignores_expect() {
    let mut c = conn();
    c.recv_buf()
        .extend_from_slice(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
    let Event::Request(head) = c.next_event() else {
        panic!()
    };
    assert!(!head.expect_continue);
    let mut out = Vec::new();
    c.send_continue(&mut out);
    assert!(out.is_empty());
}

#[test]
fn end_of_input() {
    // Idle: clean close.
    let mut c = conn();
    c.recv_eof();
    assert!(matches!(c.next_event(), Event::Close));
    // Mid-body: 400, unless the request was answered already.
    for answered in [false, true] {
        let mut c = conn();
        c.recv_buf()
            .extend_from_slice(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhel");
        assert!(matches!(c.next_event(), Event::Request(_)));
        assert!(matches!(c.next_event(), Event::Data(_)));
        assert!(matches!(c.next_event(), Event::NeedData));
        if answered {
            respond(&mut c, 200, &[("content-length", "0")], b"");
        }
        c.recv_eof();
        match c.next_event() {
            Event::Close => assert!(answered),
            Event::Error(e) => assert_eq!(
                (answered, e.status, e.reason),
                (false, 400, "Incomplete request body")
            ),
            other => panic!("{other:?}"),
        }
    }
    // A complete request is still answered after a half-close.
    let mut c = conn();
    c.recv_buf()
        .extend_from_slice(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    c.recv_eof();
    assert!(matches!(c.next_event(), Event::Request(_)));
    assert!(matches!(c.next_event(), Event::EndOfBody));
    assert!(matches!(c.next_event(), Event::AwaitingResponse));
    assert!(!c.wants_read(0));
    respond(&mut c, 200, &[("content-length", "0")], b"");
    assert!(matches!(c.next_event(), Event::Close));
}

// ------------------------------------------------------------ unread bodies

#[test]
fn unread_body_is_discarded_before_the_next_request() {
    for step in [usize::MAX, 1] {
        let input = b"POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
POST /2 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
GET /3 HTTP/1.1\r\nHost: h\r\n\r\n";
        let t = run(input, step, Limits::default(), Responder::BeforeBody);
        assert_eq!(
            String::from_utf8_lossy(&t.output).matches("200 OK").count(),
            3
        );
        // Bodies (and their ends) are not reported once answered.
        assert_eq!(
            plain(t),
            vec![
                req("POST /1 HTTP/1.1"),
                req("POST /2 HTTP/1.1"),
                req("GET /3 HTTP/1.1"),
                Ev::Close
            ],
            "step {step}"
        );
    }
}

/// Idle means nothing in flight either way: the last exchange answered and
/// its request read to the end (even before `next_event` moved past it, as
/// when the response completes outside the driver's pass), nothing of a
/// next request buffered. Graceful shutdown closes idle connections at once.
#[test]
fn idle_once_the_exchange_is_over() {
    let mut c = ready(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(matches!(c.next_event(), Event::EndOfBody));
    assert!(!c.is_idle(), "awaiting the response");
    respond(&mut c, 200, &[("content-length", "0")], b"");
    assert!(c.is_idle(), "answered and read to its end");
    c.recv_buf().extend_from_slice(b"GET /2");
    assert!(!c.is_idle(), "part of the next request is buffered");

    let mut c = ready(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhe");
    respond(&mut c, 200, &[("content-length", "0")], b"");
    assert!(!c.is_idle(), "the rest of the body may still arrive");
    c.recv_buf().extend_from_slice(b"llo");
    assert!(matches!(c.next_event(), Event::NeedData));
    assert!(c.is_idle());
}

#[test]
fn body_error_while_discarding_is_still_an_error() {
    let input = b"POST /1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    let t = run(input, usize::MAX, Limits::default(), Responder::BeforeBody);
    assert_eq!(
        plain(t),
        vec![
            req("POST /1 HTTP/1.1"),
            Ev::Error(400, "Invalid chunk size".into())
        ]
    );
}

// ------------------------------------------------------------ 100-continue

const EXPECTING: &[u8] =
    b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";

#[test]
fn continue_is_sent_once_before_the_body() {
    let mut c = conn();
    c.recv_buf().extend_from_slice(EXPECTING);
    let Event::Request(head) = c.next_event() else {
        panic!()
    };
    assert!(head.expect_continue);
    assert!(matches!(c.next_event(), Event::NeedData));
    assert!(
        c.will_close(),
        "answering now, without 100 Continue, would close"
    );
    let mut out = Vec::new();
    c.send_continue(&mut out);
    c.send_continue(&mut out);
    assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
    assert!(!c.will_close());
    c.recv_buf().extend_from_slice(b"hello");
    assert!(matches!(c.next_event(), Event::Data(_)));
    assert!(matches!(c.next_event(), Event::EndOfBody));
    respond(&mut c, 200, &[("content-length", "0")], b"");
    assert!(matches!(c.next_event(), Event::NeedData));
}

#[test]
fn no_continue_after_the_response_started() {
    let mut c = conn();
    c.recv_buf().extend_from_slice(EXPECTING);
    assert!(matches!(c.next_event(), Event::Request(_)));
    let mut out = Vec::new();
    let w = c.start_response(200).unwrap();
    w.finish(&ResponseDefaults::default(), b"", &mut out)
        .unwrap();
    c.send_continue(&mut out);
    assert!(!String::from_utf8_lossy(&out).contains("100 Continue"));
}

#[test]
fn unanswered_continue_with_unread_body_closes() {
    let mut c = conn();
    c.recv_buf().extend_from_slice(EXPECTING);
    assert!(matches!(c.next_event(), Event::Request(_)));
    let out = respond(&mut c, 417, &[("content-length", "0")], b"");
    assert_eq!(
        out,
        b"HTTP/1.1 417 Expectation Failed\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    assert!(c.will_close());
    c.recv_buf()
        .extend_from_slice(b"helloGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(matches!(c.next_event(), Event::Close));
}

#[test]
fn continue_sent_then_body_unread_is_discarded() {
    let mut c = conn();
    c.recv_buf().extend_from_slice(EXPECTING);
    assert!(matches!(c.next_event(), Event::Request(_)));
    c.send_continue(&mut Vec::new());
    respond(&mut c, 200, &[("content-length", "0")], b"");
    assert!(!c.will_close());
    assert!(matches!(c.next_event(), Event::NeedData));
    c.recv_buf()
        .extend_from_slice(b"helloGET /next HTTP/1.1\r\nHost: h\r\n\r\n");
    let Event::Request(next) = c.next_event() else {
        panic!()
    };
    assert_eq!(next.path(), b"/next");
}

// ------------------------------------------------------------ backpressure

#[test]
fn wants_read_pauses_and_resumes() {
    let limits = Limits {
        body_buffer: 10,
        pipeline_buffer: 30,
        ..Limits::default()
    };
    let mut c = ServerConn::new(limits);
    assert!(c.wants_read(0));
    c.recv_buf()
        .extend_from_slice(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n0123456789");
    assert!(matches!(c.next_event(), Event::Request(_)));
    assert!(c.wants_read(0));
    assert!(matches!(c.next_event(), Event::Data(_)));
    assert!(!c.wants_read(10), "app holds a full body buffer");
    assert!(c.wants_read(9));
    assert!(matches!(c.next_event(), Event::NeedData));
    // Once the response is done the rest of the body is discarded: read on.
    respond(&mut c, 200, &[("content-length", "0")], b"");
    assert!(c.wants_read(usize::MAX));

    let mut c = ServerConn::new(Limits {
        body_buffer: 10,
        pipeline_buffer: 30,
        ..Limits::default()
    });
    c.recv_buf()
        .extend_from_slice(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(matches!(c.next_event(), Event::Request(_)));
    assert!(matches!(c.next_event(), Event::EndOfBody));
    assert!(matches!(c.next_event(), Event::AwaitingResponse));
    assert!(c.wants_read(0));
    c.recv_buf().extend_from_slice(&[b'x'; 30]);
    assert!(!c.wants_read(0), "enough pipelined input waits");
    respond(&mut c, 200, &[("content-length", "0")], b"");
    assert!(c.wants_read(0));
}

// ------------------------------------------------------------ responses

#[test]
fn chunked_response() {
    let mut c = ready(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let mut out = Vec::new();
    c.start_response(201)
        .unwrap()
        .finish(&ResponseDefaults::default(), b"", &mut out)
        .unwrap();
    c.send_body(b"hello", true, &mut out).unwrap();
    c.send_body(b"", true, &mut out).unwrap();
    c.send_body(&[b'x'; 30], true, &mut out).unwrap();
    c.send_body(b"", false, &mut out).unwrap();
    let expected = [
        &b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n1e\r\n"[..],
        &[b'x'; 30],
        b"\r\n0\r\n\r\n",
    ]
    .concat();
    assert_eq!(out, expected);
    assert!(c.response_complete());
    assert!(c.send_body(b"", false, &mut out).is_err());
}

#[test]
fn app_chunked_header_is_not_doubled() {
    let mut c = ready(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let out = respond(&mut c, 200, &[("Transfer-Encoding", "chunked")], b"ab");
    assert_eq!(
        out,
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"
    );
}

#[test]
fn head_and_bodyless_statuses() {
    let mut c = ready(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        respond(&mut c, 200, &[("content-length", "5")], b"hello"),
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
    );
    let mut c = ready(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        respond(&mut c, 200, &[], b"hello"),
        b"HTTP/1.1 200 OK\r\n\r\n"
    );
    let mut c = ready(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        respond(&mut c, 204, &[("content-length", "0")], b"x"),
        b"HTTP/1.1 204 No Content\r\n\r\n"
    );
    let mut c = ready(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        respond(&mut c, 304, &[("etag", "\"x\"")], b"x"),
        b"HTTP/1.1 304 Not Modified\r\netag: \"x\"\r\n\r\n"
    );
    assert!(!c.will_close());
}

#[test]
fn defaults_and_app_overrides() {
    let defaults = ResponseDefaults {
        server: Some(b"pyre".to_vec()),
        date: true,
        extra: vec![(b"x-extra".to_vec(), b"1".to_vec())],
    };
    let date = b"Sun, 06 Nov 1994 08:49:37 GMT";
    // The defaults first, then the application's fields (uvicorn's order).
    let mut c = ready(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let mut out = Vec::new();
    let mut w = c.start_response(200).unwrap();
    w.header(b"Content-Length", b"0").unwrap();
    w.finish(&defaults, date, &mut out).unwrap();
    assert_eq!(
        out,
        &b"HTTP/1.1 200 OK\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\nserver: pyre\r\nx-extra: 1\r\nContent-Length: 0\r\n\r\n"[..]
    );

    let mut c = ready(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let mut out = Vec::new();
    let mut w = c.start_response(200).unwrap();
    w.header(b"Server", b"app").unwrap();
    w.header(b"DATE", b"yesterday").unwrap();
    w.header(b"content-length", b"0").unwrap();
    w.header(b"content-length", b"0").unwrap();
    w.finish(&defaults, date, &mut out).unwrap();
    assert_eq!(
        out,
        &b"HTTP/1.1 200 OK\r\nx-extra: 1\r\nServer: app\r\nDATE: yesterday\r\ncontent-length: 0\r\n\r\n"[..]
    );
}

/// `--header server: X` (or `date`) replaces the built-in field rather than
/// adding a second one; the application's own still wins over it.
#[test]
fn extra_server_and_date_replace_the_builtin_ones() {
    let defaults = ResponseDefaults::new(
        Some(b"pyre".to_vec()),
        true,
        vec![
            (b"server".to_vec(), b"custom".to_vec()),
            (b"x-extra".to_vec(), b"1".to_vec()),
            (b"date".to_vec(), b"fixed".to_vec()),
        ],
    );
    assert_eq!((defaults.server.as_deref(), defaults.date), (None, false));
    let date = b"Sun, 06 Nov 1994 08:49:37 GMT";
    let mut c = ready(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let mut out = Vec::new();
    let mut w = c.start_response(200).unwrap();
    w.header(b"content-length", b"0").unwrap();
    w.finish(&defaults, date, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 200 OK\r\nserver: custom\r\nx-extra: 1\r\ndate: fixed\r\ncontent-length: 0\r\n\r\n"
    );

    let mut c = ready(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let mut out = Vec::new();
    let mut w = c.start_response(200).unwrap();
    w.header(b"server", b"app").unwrap();
    w.header(b"content-length", b"0").unwrap();
    w.finish(&defaults, date, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 200 OK\r\nx-extra: 1\r\ndate: fixed\r\nserver: app\r\ncontent-length: 0\r\n\r\n"
    );

    // Without such extras the built-in fields stay, and so does turning
    // them off.
    let plain = ResponseDefaults::new(Some(b"pyre".to_vec()), true, vec![]);
    assert_eq!(
        (plain.server.as_deref(), plain.date),
        (Some(&b"pyre"[..]), true)
    );
    let off = ResponseDefaults::new(None, false, vec![(b"x".to_vec(), b"1".to_vec())]);
    assert_eq!((off.server.as_deref(), off.date), (None, false));
}

#[test]
fn connection_close_from_app() {
    let mut c = ready(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let out = respond(
        &mut c,
        200,
        &[("Connection", "Close"), ("content-length", "0")],
        b"",
    );
    assert_eq!(
        out,
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    assert!(c.will_close());
    assert!(matches!(c.next_event(), Event::Close));
}

#[test]
fn graceful_shutdown() {
    let mut c = ready(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    c.close_after_response();
    assert!(c.will_close());
    let out = respond(&mut c, 200, &[("content-length", "0")], b"");
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("connection: close"));
    assert!(matches!(c.next_event(), Event::Close));

    let mut c = conn();
    c.close_after_response();
    c.recv_buf()
        .extend_from_slice(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(matches!(c.next_event(), Event::Close));
}

#[test]
fn send_errors() {
    let mut c = conn();
    assert!(c.start_response(200).is_err(), "no request");
    assert!(
        c.send_body(b"", false, &mut Vec::new()).is_err(),
        "no request"
    );

    let mut c = ready(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    for status in [0, 99, 100, 101, 199, 600, 999, 1000, u16::MAX] {
        assert!(c.start_response(status).is_err(), "{status}");
    }
    assert!(
        c.send_body(b"x", true, &mut Vec::new()).is_err(),
        "not started"
    );
    let mut w = c.start_response(200).unwrap();
    let err = |r: Result<(), SendError>| r.unwrap_err().0;
    assert!(err(w.header(b"Bad Name", b"v")).contains("Invalid header name"));
    assert!(err(w.header(b"", b"v")).contains("Invalid header name"));
    assert!(err(w.header(b"x", b"a\r\nb")).contains("CR, LF or NUL"));
    assert!(err(w.header(b"x", b"a\0b")).contains("CR, LF or NUL"));
    assert!(err(w.header(b"content-length", b"-1")).contains("Content-Length"));
    assert!(err(w.header(b"content-length", b" 1")).contains("Content-Length"));
    assert!(err(w.header(b"transfer-encoding", b"gzip")).contains("Transfer-Encoding"));
    w.header(b"content-length", b"3").unwrap();
    assert!(err(w.header(b"content-length", b"4")).contains("Conflicting"));
    assert!(err(w.header(b"transfer-encoding", b"chunked")).contains("together"));
    let mut out = Vec::new();
    w.finish(&ResponseDefaults::default(), b"", &mut out)
        .unwrap();
    assert!(c.start_response(200).is_err(), "started twice");
    assert_eq!(
        c.send_body(b"abcd", true, &mut out).unwrap_err().0,
        "Response content longer than Content-Length"
    );
    c.send_body(b"ab", true, &mut out).unwrap();
    assert!(!c.will_close());
    assert_eq!(
        c.send_body(b"", false, &mut out).unwrap_err().0,
        "Response content shorter than Content-Length"
    );
    assert!(c.will_close() && c.response_complete());
    assert!(matches!(c.next_event(), Event::Close));
}

/// RFC 9110 §15: a status code is 100–599, and a 1xx is not a final
/// response; anything else in `http.response.start` is the app's error.
#[test]
fn start_response_takes_final_statuses_only() {
    for status in [200, 204, 404, 599] {
        let mut c = ready(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        let out = respond(&mut c, status, &[("content-length", "0")], b"");
        assert!(
            out.starts_with(format!("HTTP/1.1 {status} ").as_bytes()),
            "{status}"
        );
    }
    for status in [600, 700, 999, 100, 199] {
        let mut c = ready(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        let Err(err) = c.start_response(status) else {
            panic!("{status} accepted");
        };
        assert_eq!(
            err.0,
            format!("Invalid response status {status}: must be from 200 to 599")
        );
        assert!(!c.response_started());
        // The refusal leaves the exchange open for the 500 that follows.
        let out = respond(&mut c, 500, &[("content-length", "0")], b"");
        assert!(out.starts_with(b"HTTP/1.1 500 "));
    }
}

#[test]
fn dropped_head_writer_can_restart() {
    let mut c = ready(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    {
        let mut w = c.start_response(500).unwrap();
        w.header(b"x", b"1").unwrap();
    }
    assert!(!c.response_started());
    let out = respond(&mut c, 200, &[("content-length", "0")], b"");
    assert_eq!(out, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
}

// ------------------------------------------------------------ byte by byte

/// Every hand-written request gives the same events whether it arrives at
/// once, one byte at a time, or in odd pieces.
#[test]
fn chunking_of_input_does_not_change_events() {
    for input in sample_inputs() {
        let whole = run(&input, usize::MAX, Limits::default(), Responder::Ok);
        for step in [1, 2, 3, 7, 64] {
            let pieces = run(&input, step, Limits::default(), Responder::Ok);
            assert_eq!(
                whole,
                pieces,
                "step {step}: {:?}",
                String::from_utf8_lossy(&input)
            );
        }
        let before = run(&input, usize::MAX, Limits::default(), Responder::BeforeBody);
        let before1 = run(&input, 1, Limits::default(), Responder::BeforeBody);
        assert_eq!(before, before1, "{:?}", String::from_utf8_lossy(&input));
    }
}
