//! A pretend driver for the tests: feeds input in pieces, answers requests,
//! and records what happened in a form that does not depend on how the
//! input was split.

use crate::http1::*;

pub fn conn() -> ServerConn {
    ServerConn::new(Limits::default())
}

/// A connection fed `input` and advanced to the point where a response is due.
pub fn ready(input: &[u8]) -> ServerConn {
    let mut c = conn();
    c.recv_buf().extend_from_slice(input);
    assert!(matches!(c.next_event(), Event::Request(_)));
    c
}

/// Writes a whole response and returns its bytes.
pub fn respond(c: &mut ServerConn, status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = c.start_response(status).expect("start_response");
    for (n, v) in headers {
        w.header(n.as_bytes(), v.as_bytes()).expect("header");
    }
    w.finish(&ResponseDefaults::default(), b"", &mut out)
        .expect("finish");
    c.send_body(body, false, &mut out).expect("send_body");
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    /// "METHOD path?query HTTP/x.y" plus headers.
    Request(String, Vec<(Vec<u8>, Vec<u8>)>),
    /// Consecutive Data events merged.
    Body(Vec<u8>),
    End,
    Close,
    Error(u16, String),
}

/// A request summary without headers, for comparisons.
pub fn req(line: &str) -> Ev {
    Ev::Request(line.to_string(), Vec::new())
}

#[derive(Debug, PartialEq, Eq)]
pub struct Transcript {
    pub events: Vec<Ev>,
    pub output: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Responder {
    /// Answer once the body has been read.
    Ok,
    /// Answer as soon as the head arrives, leaving the body unread.
    BeforeBody,
}

/// Runs `input` through a connection (headers left out of the events).
pub fn transcript(input: &[u8]) -> Transcript {
    let t = run(input, usize::MAX, Limits::default(), Responder::Ok);
    let t1 = run(input, 1, Limits::default(), Responder::Ok);
    assert_eq!(
        t,
        t1,
        "byte-by-byte differs for {:?}",
        String::from_utf8_lossy(input)
    );
    Transcript {
        events: t.events.into_iter().map(strip_headers).collect(),
        output: t.output,
    }
}

/// The events without the request headers.
pub fn plain(t: Transcript) -> Vec<Ev> {
    t.events.into_iter().map(strip_headers).collect()
}

fn strip_headers(e: Ev) -> Ev {
    match e {
        Ev::Request(line, _) => Ev::Request(line, Vec::new()),
        other => other,
    }
}

pub fn summary(head: &RequestHead) -> Ev {
    let mut line = String::from_utf8_lossy(head.method()).into_owned();
    line.push(' ');
    line.push_str(&String::from_utf8_lossy(head.path()));
    if !head.query().is_empty() {
        line.push('?');
        line.push_str(&String::from_utf8_lossy(head.query()));
    }
    line.push_str(" HTTP/");
    line.push_str(head.version.as_str());
    let headers = head
        .headers()
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect();
    Ev::Request(line, headers)
}

/// Feeds `input` `step` bytes at a time; answers each request with a small
/// 200 naming its path; ends with end-of-input. Bounded: panics rather than
/// loop forever.
pub fn run(input: &[u8], step: usize, limits: Limits, responder: Responder) -> Transcript {
    let mut c = ServerConn::new(limits);
    let mut events: Vec<Ev> = Vec::new();
    let mut output = Vec::new();
    let mut fed = 0;
    let mut eof = false;
    let mut path = Vec::new();
    for _ in 0..(input.len() * 4 + 1000) {
        match c.next_event() {
            Event::Request(head) => {
                path = head.path().to_vec();
                events.push(summary(&head));
                if responder == Responder::BeforeBody {
                    answer(&mut c, &path, &mut output);
                }
            }
            Event::Data(d) => {
                assert!(!d.is_empty(), "empty Data event");
                match events.last_mut() {
                    Some(Ev::Body(b)) => b.extend_from_slice(&d),
                    _ => events.push(Ev::Body(d.to_vec())),
                }
            }
            Event::EndOfBody => events.push(Ev::End),
            Event::AwaitingResponse => {
                assert!(!c.response_started());
                answer(&mut c, &path, &mut output);
            }
            Event::NeedData => {
                assert!(!eof, "NeedData after end of input");
                assert!(c.wants_read(0), "NeedData but does not want to read");
                if fed < input.len() {
                    let n = step.min(input.len() - fed);
                    c.recv_buf().extend_from_slice(&input[fed..fed + n]);
                    fed += n;
                } else {
                    c.recv_eof();
                    eof = true;
                }
            }
            Event::Close => {
                events.push(Ev::Close);
                return Transcript { events, output };
            }
            Event::Error(e) => {
                if !c.response_started() {
                    error_response(&e, &mut output);
                }
                events.push(Ev::Error(e.status, e.reason.to_string()));
                return Transcript { events, output };
            }
        }
    }
    panic!("no end after many events: {events:?}");
}

fn answer(c: &mut ServerConn, path: &[u8], out: &mut Vec<u8>) {
    let mut body = b"you asked for ".to_vec();
    body.extend_from_slice(path);
    let len = body.len().to_string();
    let mut w = c.start_response(200).expect("start_response");
    w.header(b"content-length", len.as_bytes()).expect("header");
    w.finish(&ResponseDefaults::default(), b"", out)
        .expect("finish");
    c.send_body(&body, false, out).expect("send_body");
}

/// Hand-written requests, good and bad, for the chunking and no-panic tests.
pub fn sample_inputs() -> Vec<Vec<u8>> {
    let samples: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"\r\nGET /a?b=c HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello worldGET / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\"\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\nHEAD / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
        b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\nGET http://h/x?y HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n c\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhel",
        b"GET / HTTP/1.1\r\nHost: h\r\n",
        b"GET /\xc3\xa0 HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"",
        b"\r\n",
    ];
    samples.iter().map(|s| s.to_vec()).collect()
}
