//! Request body decoding: Content-Length counting and the chunked transfer
//! coding (RFC 9112 §7.1). Data is split off the receive buffer without
//! copying.

use super::syntax::{is_field_value_byte, is_ows, is_tchar, is_token};
use super::{BodyFraming, Limits, ProtocolError};
use bytes::{Buf, Bytes, BytesMut};

/// Longest chunk-size line (size and extensions) accepted.
const MAX_CHUNK_LINE: usize = 4096;
/// More hex digits than this cannot be a u64 (leading zeros included, to
/// keep the rule simple).
const MAX_SIZE_DIGITS: usize = 16;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyEvent {
    Data(Bytes),
    End,
    NeedData,
}

fn bad(reason: &'static str) -> ProtocolError {
    ProtocolError {
        status: 400,
        reason,
    }
}

const TOO_LARGE: ProtocolError = ProtocolError {
    status: 413,
    reason: "Request body too large",
};

#[derive(Debug)]
pub(crate) enum BodyDecoder {
    /// Bytes still expected (0: report the end next).
    Length(u64),
    Chunked(ChunkedDecoder),
    /// `End` has been reported.
    Done,
}

impl BodyDecoder {
    pub fn new(framing: BodyFraming, limits: &Limits) -> Self {
        match framing {
            BodyFraming::Empty => BodyDecoder::Length(0),
            BodyFraming::Length(n) => BodyDecoder::Length(n),
            BodyFraming::Chunked => BodyDecoder::Chunked(ChunkedDecoder::new(limits)),
        }
    }

    /// `End` has been reported: nothing of this body is left in the input.
    pub fn is_done(&self) -> bool {
        matches!(self, BodyDecoder::Done)
    }

    /// Takes the next piece of body from the front of `buf`.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<BodyEvent, ProtocolError> {
        let event = match self {
            BodyDecoder::Length(0) => BodyEvent::End,
            BodyDecoder::Length(remaining) => {
                if buf.is_empty() {
                    return Ok(BodyEvent::NeedData);
                }
                let n = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                *remaining -= n as u64;
                return Ok(BodyEvent::Data(buf.split_to(n).freeze()));
            }
            BodyDecoder::Chunked(chunked) => chunked.decode(buf)?,
            BodyDecoder::Done => BodyEvent::End,
        };
        if event == BodyEvent::End {
            *self = BodyDecoder::Done;
        }
        Ok(event)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Expecting `chunk-size [ chunk-ext ] CRLF`.
    Size,
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF that closes chunk data.
    DataEnd,
    /// After the last chunk: trailer fields until an empty line.
    Trailers,
}

#[derive(Debug)]
pub(crate) struct ChunkedDecoder {
    state: ChunkState,
    /// Sum of chunk sizes so far, checked against `max_body`.
    total: u64,
    max_body: Option<u64>,
    trailer_bytes: usize,
    trailer_fields: usize,
    max_trailer_bytes: usize,
    max_trailer_fields: usize,
}

impl ChunkedDecoder {
    fn new(limits: &Limits) -> Self {
        ChunkedDecoder {
            state: ChunkState::Size,
            total: 0,
            max_body: limits.max_body,
            trailer_bytes: 0,
            trailer_fields: 0,
            // Trailers are a second header block: the same bounds apply.
            max_trailer_bytes: limits.max_header_bytes,
            max_trailer_fields: limits.max_headers,
        }
    }

    fn decode(&mut self, buf: &mut BytesMut) -> Result<BodyEvent, ProtocolError> {
        loop {
            match self.state {
                ChunkState::Size => {
                    let Some(line) =
                        take_line(buf, MAX_CHUNK_LINE, bad("Chunk size line too long"))?
                    else {
                        return Ok(BodyEvent::NeedData);
                    };
                    let size = parse_chunk_size_line(&line)?;
                    if size == 0 {
                        self.state = ChunkState::Trailers;
                        continue;
                    }
                    self.total = self.total.checked_add(size).ok_or(TOO_LARGE)?;
                    if self.max_body.is_some_and(|max| self.total > max) {
                        return Err(TOO_LARGE);
                    }
                    self.state = ChunkState::Data(size);
                }
                ChunkState::Data(remaining) => {
                    if buf.is_empty() {
                        return Ok(BodyEvent::NeedData);
                    }
                    let n = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(buf.len());
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                    return Ok(BodyEvent::Data(buf.split_to(n).freeze()));
                }
                ChunkState::DataEnd => {
                    match buf.len() {
                        0 => return Ok(BodyEvent::NeedData),
                        1 if buf[0] == b'\r' => return Ok(BodyEvent::NeedData),
                        1 => return Err(bad("Missing CRLF after chunk data")),
                        _ if &buf[..2] == b"\r\n" => buf.advance(2),
                        _ => return Err(bad("Missing CRLF after chunk data")),
                    }
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers => {
                    let budget = self.max_trailer_bytes.saturating_sub(self.trailer_bytes);
                    let too_large = ProtocolError {
                        status: 431,
                        reason: "Trailer fields too large",
                    };
                    let Some(line) = take_line(buf, budget, too_large)? else {
                        return Ok(BodyEvent::NeedData);
                    };
                    if line.is_empty() {
                        return Ok(BodyEvent::End);
                    }
                    self.trailer_bytes += line.len() + 2;
                    self.trailer_fields += 1;
                    if self.trailer_fields > self.max_trailer_fields {
                        return Err(ProtocolError {
                            status: 431,
                            reason: "Too many trailer fields",
                        });
                    }
                    check_trailer_field(&line)?;
                }
            }
        }
    }
}

/// Splits one CRLF-terminated line off `buf` (without the CRLF), or `None`
/// if it is not complete yet. A line longer than `max` fails with `too_long`;
/// a bare CR or LF anywhere fails with 400.
fn take_line(
    buf: &mut BytesMut,
    max: usize,
    too_long: ProtocolError,
) -> Result<Option<Bytes>, ProtocolError> {
    let window = &buf[..buf.len().min(max.saturating_add(2))];
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        if let Some(cr) = window.iter().position(|&b| b == b'\r') {
            if cr + 1 < window.len() {
                return Err(bad("Bare CR in chunked body"));
            }
        }
        if buf.len() > max.saturating_add(1) {
            return Err(too_long);
        }
        return Ok(None);
    };
    // A bare CR before the LF comes first in the stream: report it, as
    // when the input ends between the two.
    if let Some(cr) = window[..lf].iter().position(|&b| b == b'\r') {
        if cr + 1 < lf {
            return Err(bad("Bare CR in chunked body"));
        }
    }
    if lf == 0 || window[lf - 1] != b'\r' {
        return Err(bad("Bare LF in chunked body"));
    }
    let line = buf.split_to(lf + 1).freeze();
    Ok(Some(line.slice(..lf - 1)))
}

/// `chunk-size [ chunk-ext ]`: hex digits without sign, prefix or
/// surrounding whitespace, then `*( BWS ";" BWS name [ BWS "=" BWS value ] )`.
/// Extensions are checked and then ignored.
pub(crate) fn parse_chunk_size_line(line: &[u8]) -> Result<u64, ProtocolError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(bad("Invalid chunk size"));
    }
    if digits > MAX_SIZE_DIGITS {
        return Err(bad("Chunk size too large"));
    }
    let size = line[..digits].iter().fold(0u64, |n, &b| {
        (n << 4) | u64::from((b as char).to_digit(16).unwrap_or(0))
    });
    let ext = &line[digits..];
    if !ext.is_empty() {
        if ext[0] != b';' && !is_ows(ext[0]) {
            return Err(bad("Invalid chunk size"));
        }
        check_chunk_extensions(ext)?;
    }
    Ok(size)
}

fn check_chunk_extensions(ext: &[u8]) -> Result<(), ProtocolError> {
    let invalid = || bad("Invalid chunk extension");
    let mut i = 0;
    let skip_ows = |i: &mut usize| {
        while *i < ext.len() && is_ows(ext[*i]) {
            *i += 1;
        }
    };
    let token_end =
        |start: usize| start + ext[start..].iter().take_while(|&&b| is_tchar(b)).count();
    while i < ext.len() {
        skip_ows(&mut i);
        // "0 \r\n": whitespace must be followed by an extension.
        if ext.get(i) != Some(&b';') {
            return Err(invalid());
        }
        i += 1;
        skip_ows(&mut i);
        let name_end = token_end(i);
        if !is_token(&ext[i..name_end]) {
            return Err(invalid());
        }
        i = name_end;
        let before_eq = i;
        skip_ows(&mut i);
        if ext.get(i) != Some(&b'=') {
            // No value: the whitespace skipped belongs before the next ';'.
            i = before_eq;
            continue;
        }
        i += 1;
        skip_ows(&mut i);
        if ext.get(i) == Some(&b'"') {
            i = quoted_string_end(ext, i).ok_or_else(invalid)?;
        } else {
            let value_end = token_end(i);
            if value_end == i {
                return Err(invalid());
            }
            i = value_end;
        }
    }
    Ok(())
}

/// Index after the quoted-string that starts at `s[start] == '"'`.
fn quoted_string_end(s: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < s.len() {
        match s[i] {
            b'"' => return Some(i + 1),
            b'\\' => {
                let escaped = *s.get(i + 1)?;
                if !(escaped == b'\t' || escaped >= b' ') || escaped == 0x7f {
                    return None;
                }
                i += 2;
            }
            b if b == b'\t' || (b >= b' ' && b != 0x7f) => i += 1,
            _ => return None,
        }
    }
    None
}

/// Trailer fields are discarded, but must be well-formed, and the fields
/// that decide framing or routing are refused: a proxy that merged them into
/// the header section would see a different request than we did.
fn check_trailer_field(line: &[u8]) -> Result<(), ProtocolError> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(bad("Invalid trailer field"))?;
    let name = &line[..colon];
    if !is_token(name) {
        return Err(bad("Invalid trailer field"));
    }
    if !line[colon + 1..].iter().all(|&b| is_field_value_byte(b)) {
        return Err(bad("Invalid trailer field"));
    }
    for forbidden in [&b"content-length"[..], b"transfer-encoding", b"host"] {
        if name.eq_ignore_ascii_case(forbidden) {
            return Err(bad("Forbidden trailer field"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes; returns the body, or
    /// the error, or None if the body never ended.
    fn decode(
        framing: BodyFraming,
        input: &[u8],
        step: usize,
        limits: &Limits,
    ) -> Result<Option<Vec<u8>>, ProtocolError> {
        let mut dec = BodyDecoder::new(framing, limits);
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut fed = 0;
        loop {
            match dec.decode(&mut buf)? {
                BodyEvent::Data(d) => {
                    assert!(!d.is_empty());
                    body.extend_from_slice(&d);
                }
                BodyEvent::End => return Ok(Some(body)),
                BodyEvent::NeedData if fed >= input.len() => return Ok(None),
                BodyEvent::NeedData => {
                    let n = step.min(input.len() - fed);
                    buf.extend_from_slice(&input[fed..fed + n]);
                    fed += n;
                }
            }
        }
    }

    fn chunked(input: &[u8]) -> Result<Option<Vec<u8>>, u16> {
        let limits = Limits {
            max_body: Some(100),
            ..Limits::default()
        };
        let whole = decode(BodyFraming::Chunked, input, usize::MAX, &limits).map_err(|e| e.status);
        let bytewise = decode(BodyFraming::Chunked, input, 1, &limits).map_err(|e| e.status);
        assert_eq!(whole, bytewise, "{:?}", String::from_utf8_lossy(input));
        whole
    }

    #[test]
    fn chunked_bodies() {
        let ok = |s: &[u8]| chunked(s).unwrap().unwrap();
        assert_eq!(
            ok(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            b"hello world"
        );
        assert_eq!(ok(b"0005\r\nhello\r\n000\r\n\r\n"), b"hello");
        assert_eq!(ok(b"A\r\n0123456789\r\n0\r\n\r\n"), b"0123456789");
        assert_eq!(
            ok(b"5; some; parameters=stuff\r\nhello\r\n0\r\n\r\n"),
            b"hello"
        );
        assert_eq!(
            ok(b"5;foo=\"bar \\\" baz\"\r\nhello\r\n0;last\r\n\r\n"),
            b"hello"
        );
        assert_eq!(ok(b"5 ; a = b ;c\r\nhello\r\n0\r\n\r\n"), b"hello");
        assert_eq!(
            ok(b"5\r\nhello\r\n0\r\nVary: *\r\nX-Y: z\r\n\r\n"),
            b"hello"
        );
        assert_eq!(ok(b"0\r\n\r\n"), b"");
        assert_eq!(chunked(b"5\r\nhello\r\n0\r\n"), Ok(None));
    }

    #[test]
    fn chunked_rejections() {
        for (input, status) in [
            (&b"+5\r\nhello\r\n0\r\n\r\n"[..], 400),
            (b"-5\r\nhello\r\n0\r\n\r\n", 400),
            (b"0x5\r\nhello\r\n0\r\n\r\n", 400),
            (b" 5\r\nhello\r\n0\r\n\r\n", 400),
            (b"5 \r\nhello\r\n0\r\n\r\n", 400),
            (b"6_0\r\nhello\r\n0\r\n\r\n", 400),
            (b"\r\nhello\r\n0\r\n\r\n", 400),
            (b" ;foo=bar\r\nhello\r\n0\r\n\r\n", 400),
            (b"5\n;\r\nhello\r\n0\r\n\r\n", 400),
            (b"5;ext=val\rue\r\nhello\r\n0\r\n\r\n", 400),
            (b"5;\r\nhello\r\n0\r\n\r\n", 400),
            (b"5;a=\r\nhello\r\n0\r\n\r\n", 400),
            (b"5;a=\"x\r\nhello\r\n0\r\n\r\n", 400),
            (b"5;a b\r\nhello\r\n0\r\n\r\n", 400),
            (b"00000000000000005\r\nhello\r\n0\r\n\r\n", 400),
            (b"ffffffffffffffff\r\n", 413),
            (b"65\r\n", 413),
            (b"5\r\nhelloX\r\n0\r\n\r\n", 400),
            (b"5\r\nhello\n0\r\n\r\n", 400),
            (b"5\r\nhello\r\n0\r\nContent-Length: 9\r\n\r\n", 400),
            (b"5\r\nhello\r\n0\r\nhost: x\r\n\r\n", 400),
            (
                b"5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n",
                400,
            ),
            (b"5\r\nhello\r\n0\r\nBad Name: x\r\n\r\n", 400),
            (b"5\r\nhello\r\n0\r\n folded\r\n\r\n", 400),
            (b"5\r\nhello\r\n0\r\nX: a\x01b\r\n\r\n", 400),
            (b"5\r\nhello\r\n0\r\n\n", 400),
        ] {
            assert_eq!(
                chunked(input),
                Err(status),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn chunk_line_and_trailer_bounds() {
        let mut long = b"5;".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_CHUNK_LINE));
        assert_eq!(chunked(&long), Err(400));
        let limits = Limits {
            max_header_bytes: 10,
            max_headers: 1,
            ..Limits::default()
        };
        let big = decode(
            BodyFraming::Chunked,
            b"0\r\nX: 0123456789\r\n\r\n",
            1,
            &limits,
        );
        assert_eq!(big.unwrap_err().status, 431);
        let many = decode(
            BodyFraming::Chunked,
            b"0\r\nX: 1\r\nY: 2\r\n\r\n",
            usize::MAX,
            &limits,
        );
        assert_eq!(many.unwrap_err().status, 431);
    }

    #[test]
    fn length_bodies() {
        let l = Limits::default();
        assert_eq!(
            decode(BodyFraming::Length(5), b"helloGET", 2, &l),
            Ok(Some(b"hello".to_vec()))
        );
        assert_eq!(decode(BodyFraming::Length(5), b"hel", 2, &l), Ok(None));
        assert_eq!(decode(BodyFraming::Empty, b"", 1, &l), Ok(Some(vec![])));
    }

    #[test]
    fn data_is_split_without_copying_the_rest() {
        let mut dec = BodyDecoder::new(BodyFraming::Length(3), &Limits::default());
        let mut buf = BytesMut::from(&b"abcNEXT"[..]);
        assert_eq!(
            dec.decode(&mut buf),
            Ok(BodyEvent::Data(Bytes::from_static(b"abc")))
        );
        assert_eq!(dec.decode(&mut buf), Ok(BodyEvent::End));
        assert!(dec.is_done());
        assert_eq!(&buf[..], b"NEXT");
    }
}
