//! Turns a complete request head, as delimited by the scanner, into a
//! [`RequestHead`]: request line, field lines, then their meaning.
//!
//! Zero-copy: the head is split off the receive buffer as one `Bytes` and
//! every part of it is a range into those bytes. Field names are lower-cased
//! in place first, so nobody downstream compares case-insensitively.

use super::framing::interpret;
use super::scan::HeadBounds;
use super::syntax::{is_field_value_byte, is_token, trim_ows};
use super::target::split_target;
use super::{Limits, ProtocolError, RequestHead, Version};
use bytes::{Buf, BytesMut};
use std::ops::Range;

fn bad(reason: &'static str) -> ProtocolError {
    ProtocolError {
        status: 400,
        reason,
    }
}

/// Consumes the head described by `bounds` from the front of `buf`.
pub(crate) fn parse_head(
    buf: &mut BytesMut,
    bounds: HeadBounds,
    limits: &Limits,
) -> Result<RequestHead, ProtocolError> {
    buf.advance(bounds.lead);
    let line_end = bounds.line_end - bounds.lead;
    let end = bounds.end - bounds.lead;

    let line = parse_request_line(&buf[..line_end - 2])?;
    let headers = parse_fields(&buf[..end], line_end, bounds.fields)?;
    for (name, _) in &headers {
        buf[name.clone()].make_ascii_lowercase();
    }
    let raw = buf.split_to(end).freeze();
    let meaning = interpret(&raw, &headers, line.version, limits)?;
    Ok(RequestHead {
        raw,
        method: line.method,
        target: line.target,
        path: line.path,
        query: line.query,
        version: line.version,
        headers,
        framing: meaning.framing,
        keep_alive: meaning.keep_alive,
        expect_continue: meaning.expect_continue,
    })
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RequestLine {
    pub method: Range<usize>,
    pub target: Range<usize>,
    pub path: Range<usize>,
    pub query: Range<usize>,
    pub version: Version,
}

/// `method SP request-target SP HTTP-version`, with exactly one space
/// between parts (RFC 9112 §3: no lenient whitespace, which is a smuggling
/// vector).
pub(crate) fn parse_request_line(line: &[u8]) -> Result<RequestLine, ProtocolError> {
    let sp1 = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(bad("Invalid request line"))?;
    let method = 0..sp1;
    if !is_token(&line[method.clone()]) {
        return Err(bad("Invalid method"));
    }
    let rest = &line[sp1 + 1..];
    let sp2 = rest
        .iter()
        .position(|&b| b == b' ')
        .ok_or(bad("Invalid request line"))?;
    let target = sp1 + 1..sp1 + 1 + sp2;
    check_target_bytes(&line[target.clone()])?;
    let version = parse_version(&line[target.end + 1..])?;
    let (path, query) = split_target(line, method.clone(), target.clone())?;
    Ok(RequestLine {
        method,
        target,
        path,
        query,
        version,
    })
}

/// A request-target is visible ASCII (RFC 9112 §3.2, RFC 3986 §2): other
/// characters travel percent-encoded. Raw UTF-8 is refused with its own
/// reason, so that the client's mistake is plain (uvicorn and daphne refuse
/// it too); control characters, spaces and DEL are simply invalid.
fn check_target_bytes(target: &[u8]) -> Result<(), ProtocolError> {
    let visible_ascii = b'!'..=b'~';
    match target.iter().find(|b| !visible_ascii.contains(b)) {
        None if !target.is_empty() => Ok(()),
        Some(b) if !b.is_ascii() => Err(bad("Non-ASCII byte in request target")),
        _ => Err(bad("Invalid request target")),
    }
}

/// `HTTP/DIGIT.DIGIT`. HTTP/1.x with x > 1 is answered as HTTP/1.1, the
/// highest minor version we speak (RFC 9110 §2.5); any other major version is
/// well-formed but not ours: 505.
fn parse_version(v: &[u8]) -> Result<Version, ProtocolError> {
    match v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Ok(Version::Http10),
                (b'1', _) => Ok(Version::Http11),
                _ => Err(ProtocolError {
                    status: 505,
                    reason: "HTTP version not supported",
                }),
            }
        }
        _ => Err(bad("Invalid HTTP version")),
    }
}

/// One field line's name and value, as ranges into the head.
type FieldRanges = (Range<usize>, Range<usize>);

/// Field lines from `head[start..]` (which ends with the empty line) as
/// (name, value) ranges into `head`, values trimmed. `count` is how many
/// field lines the scanner saw, so the httparse array is exactly big enough.
fn parse_fields(
    head: &[u8],
    start: usize,
    count: usize,
) -> Result<Vec<FieldRanges>, ProtocolError> {
    const ON_STACK: usize = 32;
    let mut stack = [httparse::EMPTY_HEADER; ON_STACK];
    let mut heap;
    let slots: &mut [httparse::Header<'_>] = if count <= ON_STACK {
        &mut stack[..count]
    } else {
        heap = vec![httparse::EMPTY_HEADER; count];
        &mut heap
    };
    let fields = match httparse::parse_headers(&head[start..], slots) {
        Ok(httparse::Status::Complete((_, fields))) => fields,
        Ok(httparse::Status::Partial) => return Err(bad("Invalid header block")),
        Err(httparse::Error::HeaderName) => return Err(bad("Invalid header name")),
        Err(httparse::Error::HeaderValue) => return Err(bad("Invalid header value")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ProtocolError {
                status: 431,
                reason: "Too many header fields",
            })
        }
        Err(_) => return Err(bad("Invalid header block")),
    };
    let mut out = Vec::with_capacity(fields.len());
    for field in fields.iter() {
        let name = range_in(head, field.name.as_bytes()).ok_or(bad("Invalid header name"))?;
        if !is_token(&head[name.clone()]) {
            return Err(bad("Invalid header name"));
        }
        // An empty value may be a slice from anywhere; it then reads as
        // empty right after the name.
        let value = range_in(head, field.value).unwrap_or(name.end..name.end);
        let (vs, ve) = trim_ows(head, value.start, value.end);
        if !head[vs..ve].iter().all(|&b| is_field_value_byte(b)) {
            return Err(bad("Invalid header value"));
        }
        out.push((name, vs..ve));
    }
    Ok(out)
}

/// Where `part` lies inside `base`, if it does.
fn range_in(base: &[u8], part: &[u8]) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(base.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= base.len()).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &[u8]) -> Result<RequestLine, u16> {
        parse_request_line(s).map_err(|e| e.status)
    }

    #[test]
    fn request_lines() {
        let l = line(b"GET /a?b HTTP/1.1").unwrap();
        assert_eq!(
            (l.method, l.target, l.path, l.query, l.version),
            (0..3, 4..8, 4..6, 7..8, Version::Http11)
        );
        assert_eq!(line(b"GET / HTTP/1.0").unwrap().version, Version::Http10);
        assert_eq!(line(b"GET / HTTP/1.2").unwrap().version, Version::Http11);
        assert_eq!(line(b"-blargh / HTTP/1.1").unwrap().method, 0..7);
    }

    #[test]
    fn request_line_rejections() {
        for (input, status) in [
            (&b"GET / HTTP/2.0"[..], 505),
            (b"GET / HTTP/0.9", 505),
            (b"GET / HTTP/3.0", 505),
            (b"GET / HTTP/0.99", 400),
            (b"GET / HTTP/111", 400),
            (b"GET / HTTP/1.1 ", 400),
            (b"GET / http/1.1", 400),
            (b"GET / FTP/1.1", 400),
            (b"GET  / HTTP/1.1", 400),
            (b"GET /  HTTP/1.1", 400),
            (b" GET / HTTP/1.1", 400),
            (b"GET HTTP/1.1", 400),
            (b"GET", 400),
            (b"", 400),
            (b"G:T / HTTP/1.1", 400),
            (b"GET\xdf / HTTP/1.1", 400),
            (b"GET /\x7f HTTP/1.1", 400),
            (b"GET /\xc3\xa0 HTTP/1.1", 400),
            (b"GET /a?\x80 HTTP/1.1", 400),
            (b"GET * HTTP/1.1", 400),
            (b"GET a.com:1 HTTP/1.1", 400),
            (b"GET /#x HTTP/1.1", 400),
        ] {
            assert_eq!(
                line(input).err(),
                Some(status),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn fields() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nPad: \t v \t \r\n\r\n";
        let f = parse_fields(head, 16, 3).unwrap();
        let pairs: Vec<(&[u8], &[u8])> = f
            .iter()
            .map(|(n, v)| (&head[n.clone()], &head[v.clone()]))
            .collect();
        assert_eq!(
            pairs,
            vec![(&b"Host"[..], &b"a"[..]), (b"X-Empty", b""), (b"Pad", b"v")]
        );
    }

    #[test]
    fn field_rejections() {
        for input in [
            &b"GET / HTTP/1.1\r\nA : b\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\n: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nA\x01: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\x07c\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\x7fc\r\n\r\n",
            b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
            b"GET / HTTP/1.1\r\nA\xdf: b\r\n\r\n",
        ] {
            assert_eq!(
                parse_fields(input, 16, 1).map_err(|e| e.status).err(),
                Some(400),
                "{input:?}"
            );
        }
    }
}
