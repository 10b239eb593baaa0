//! Finds where a request head ends, enforcing the size limits and the line
//! rules that hold for every byte of it, before anything is parsed.
//!
//! The scanner is incremental: it remembers how far it looked, so a head that
//! arrives one byte at a time is still examined once in total, and limits are
//! enforced while the head is incomplete (a client cannot make us buffer an
//! endless request line or header block).

use super::{Limits, ProtocolError};

/// Empty lines (CRLF) tolerated before a request line (RFC 9112 §2.2 asks to
/// ignore "at least one"; a few cover clients that add CRLF after a body).
const MAX_LEADING_EMPTY_LINES: usize = 8;

/// Where the parts of a complete head are in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeadBounds {
    /// Bytes of leading empty lines to drop before the request line.
    pub lead: usize,
    /// Index just past the request line's CRLF.
    pub line_end: usize,
    /// Index just past the empty line that ends the head.
    pub end: usize,
    /// Number of field lines.
    pub fields: usize,
}

#[derive(Debug, Default)]
pub(crate) struct HeadScanner {
    /// Next byte to examine.
    pos: usize,
    /// Start of the line being scanned.
    line_start: usize,
    /// Bytes of empty lines seen before the request line.
    lead: usize,
    /// Set once the request line is complete.
    line_end: Option<usize>,
    /// Field lines seen so far.
    fields: usize,
}

fn bad(reason: &'static str) -> ProtocolError {
    ProtocolError {
        status: 400,
        reason,
    }
}

const LINE_TOO_LONG: ProtocolError = ProtocolError {
    status: 414,
    reason: "Request line too long",
};
const HEADERS_TOO_LARGE: ProtocolError = ProtocolError {
    status: 431,
    reason: "Request header fields too large",
};
const TOO_MANY_HEADERS: ProtocolError = ProtocolError {
    status: 431,
    reason: "Too many header fields",
};

impl HeadScanner {
    /// Forget everything: the buffer's front was consumed.
    pub fn reset(&mut self) {
        *self = HeadScanner::default();
    }

    /// Looks at the bytes not seen yet. `Ok(None)` means the head is not
    /// complete (and still within limits).
    pub fn scan(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<HeadBounds>, ProtocolError> {
        while self.pos < buf.len() {
            let b = buf[self.pos];
            match b {
                b'\n' => {
                    // Only CRLF ends a line: a bare LF is how some smuggling
                    // attacks split requests differently in two parsers.
                    if self.pos == self.line_start || buf[self.pos - 1] != b'\r' {
                        return Err(self.bad_byte("Bare LF in request head", limits));
                    }
                    let content_len = self.pos - 1 - self.line_start;
                    let next = self.pos + 1;
                    match self.line_end {
                        None if content_len == 0 => {
                            self.lead = next;
                            if self.lead > 2 * MAX_LEADING_EMPTY_LINES {
                                return Err(bad("Too many empty lines before the request line"));
                            }
                        }
                        None => {
                            if content_len > limits.max_request_line {
                                return Err(LINE_TOO_LONG);
                            }
                            self.line_end = Some(next);
                        }
                        Some(line_end) => {
                            if content_len == 0 {
                                self.pos = next;
                                return Ok(Some(HeadBounds {
                                    lead: self.lead,
                                    line_end,
                                    end: next,
                                    fields: self.fields,
                                }));
                            }
                            // Size first: it may have been passed before
                            // this line ended, the count only now.
                            if next - line_end > limits.max_header_bytes {
                                return Err(HEADERS_TOO_LARGE);
                            }
                            self.fields += 1;
                            if self.fields > limits.max_headers {
                                return Err(TOO_MANY_HEADERS);
                            }
                        }
                    }
                    self.line_start = next;
                }
                b'\r' => match buf.get(self.pos + 1) {
                    Some(b'\n') => {}
                    Some(_) => return Err(self.bad_byte("Bare CR in request head", limits)),
                    // Decide when the next byte arrives; do not step past it.
                    None => break,
                },
                0 => return Err(self.bad_byte("NUL in request head", limits)),
                b' ' | b'\t' if self.pos == self.line_start && self.line_end.is_some() => {
                    // A field line starting with whitespace is obs-fold
                    // (RFC 9112 §5.2), or whitespace before the first field
                    // (§2.2). Both are rejected.
                    return Err(self.bad_byte("Obsolete line folding in header", limits));
                }
                _ => {}
            }
            self.pos += 1;
        }
        // Incomplete: the part already buffered must be within limits.
        match self.over_limit(limits) {
            Some(err) => Err(err),
            None => Ok(None),
        }
    }

    /// The limit error for the head up to (not including) `self.pos`, as an
    /// incomplete head ending there would get.
    fn over_limit(&self, limits: &Limits) -> Option<ProtocolError> {
        match self.line_end {
            None if self.pos - self.line_start > limits.max_request_line => Some(LINE_TOO_LONG),
            Some(line_end) if self.pos - line_end > limits.max_header_bytes => {
                Some(HEADERS_TOO_LARGE)
            }
            _ => None,
        }
    }

    /// The error for a malformed byte at `self.pos`: a limit already passed
    /// before it comes first, as it does when the input arrives in pieces
    /// and the limit is checked before that byte is read.
    fn bad_byte(&self, reason: &'static str, limits: &Limits) -> ProtocolError {
        self.over_limit(limits).unwrap_or_else(|| bad(reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(input: &[u8], limits: &Limits) -> Result<Option<HeadBounds>, ProtocolError> {
        HeadScanner::default().scan(input, limits)
    }

    #[test]
    fn finds_bounds() {
        let l = Limits::default();
        let r = scan_all(b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nrest", &l)
            .unwrap()
            .unwrap();
        assert_eq!(
            r,
            HeadBounds {
                lead: 2,
                line_end: 18,
                end: 29,
                fields: 1
            }
        );
        assert_eq!(scan_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r", &l), Ok(None));
    }

    #[test]
    fn incremental_equals_whole() {
        let l = Limits::default();
        let input = b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n";
        let mut s = HeadScanner::default();
        for n in 1..input.len() {
            assert_eq!(s.scan(&input[..n], &l), Ok(None), "prefix {n}");
        }
        assert_eq!(s.scan(input, &l), scan_all(input, &l));
    }

    #[test]
    fn rejects_line_breaks_and_nul() {
        let l = Limits::default();
        assert_eq!(
            scan_all(b"GET / HTTP/1.1\nHost: a\r\n\r\n", &l)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            scan_all(b"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", &l)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            scan_all(b"GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", &l)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(scan_all(b"\n", &l).unwrap_err().status, 400);
        let e = scan_all(b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", &l).unwrap_err();
        assert_eq!(e.reason, "Obsolete line folding in header");
        assert_eq!(scan_all(&b"\r\n".repeat(9), &l).unwrap_err().status, 400);
    }

    #[test]
    fn limits_apply_while_incomplete() {
        let l = Limits {
            max_request_line: 10,
            max_header_bytes: 20,
            max_headers: 2,
            ..Limits::default()
        };
        assert_eq!(scan_all(b"GET /aaaaaa", &l).unwrap_err().status, 414);
        assert_eq!(scan_all(b"GET /aaaaa", &l), Ok(None));
        assert_eq!(
            scan_all(b"GET /aaaaaa HTTP/1.1\r\n", &l)
                .unwrap_err()
                .status,
            414
        );
        assert_eq!(
            scan_all(b"GET / H\r\nA: 0123456789012345678", &l)
                .unwrap_err()
                .status,
            431
        );
        assert_eq!(
            scan_all(b"GET / H\r\nA: 1\r\nB: 2\r\nC: 3\r\n", &l).unwrap_err(),
            TOO_MANY_HEADERS
        );
        assert!(scan_all(b"GET / H\r\nA: 1\r\nB: 2\r\n\r\n", &l)
            .unwrap()
            .is_some());
    }
}
