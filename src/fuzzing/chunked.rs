//! Fuzz driver for the chunked body decoder (`http1::body`).
//!
//! Input: `[options, n, sizes[n]..., body...]`. Options bit 0 picks small
//! limits (`max_body` 100, trailers bounded to 64 bytes and 2 fields)
//! instead of the defaults. The body is decoded twice, whole and in the
//! fuzzer's pieces, and checked:
//! - `Data` is never empty, the body never exceeds `max_body`;
//! - how the input is split changes nothing: same body, same end, same
//!   bytes left over after the end, same error (status and reason);
//! - after `End` the decoder stays done and consumes nothing more;
//! - whatever is accepted decodes the same with a simple reference decoder
//!   (the strict decoder accepts only well-formed framing, so both must
//!   agree on where the body ends: a disagreement is request smuggling).

use super::{Input, Splitter};
use crate::http1::{BodyDecoder, BodyEvent, BodyFraming, Limits};
use bytes::BytesMut;

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    body: Vec<u8>,
    /// `Ok(Some(n))`: ended, `n` bytes of input used; `Ok(None)`: needs
    /// more input; `Err`: refused, with this status and reason.
    end: Result<Option<usize>, (u16, &'static str)>,
}

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let options = input.byte();
    let sizes = input.section(16);
    let stream = input.rest();
    let limits = if options & 1 != 0 {
        Limits {
            max_body: Some(100),
            max_header_bytes: 64,
            max_headers: 2,
            ..Limits::default()
        }
    } else {
        Limits::default()
    };
    let whole = decode(stream, &mut Splitter::new(&[]), &limits);
    let pieces = decode(stream, &mut Splitter::new(sizes), &limits);
    assert_eq!(whole, pieces, "splitting the input changed the outcome");
    if let Ok(Some(used)) = whole.end {
        let (body, reference_used) =
            reference(stream).expect("accepted, but the reference decoder refuses");
        assert_eq!(whole.body, body, "body differs from the reference");
        assert_eq!(
            used, reference_used,
            "body ends elsewhere than the reference"
        );
    }
}

fn decode(stream: &[u8], splitter: &mut Splitter, limits: &Limits) -> Outcome {
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked, limits);
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut fed = 0;
    // Every event consumes input or asks for more: this bounds the loop.
    for _ in 0..2 * stream.len() + 8 {
        match decoder.decode(&mut buf) {
            Err(e) => {
                return Outcome {
                    body,
                    end: Err((e.status, e.reason)),
                }
            }
            Ok(BodyEvent::Data(d)) => {
                assert!(!d.is_empty(), "empty Data");
                body.extend_from_slice(&d);
                if let Some(max) = limits.max_body {
                    assert!(body.len() as u64 <= max, "body over max_body");
                }
            }
            Ok(BodyEvent::End) => {
                assert!(decoder.is_done());
                let left = buf.len();
                assert_eq!(decoder.decode(&mut buf), Ok(BodyEvent::End));
                assert_eq!(buf.len(), left, "consumed input after the end");
                assert_eq!(
                    &buf[..],
                    &stream[fed - left..fed],
                    "left-over bytes changed"
                );
                return Outcome {
                    body,
                    end: Ok(Some(fed - left)),
                };
            }
            Ok(BodyEvent::NeedData) if fed == stream.len() => {
                return Outcome {
                    body,
                    end: Ok(None),
                }
            }
            Ok(BodyEvent::NeedData) => {
                let n = splitter.next_len(stream.len() - fed);
                buf.extend_from_slice(&stream[fed..fed + n]);
                fed += n;
            }
        }
    }
    panic!("the decoder makes no progress");
}

/// A lenient chunked decoder: size in hex up to `;` or the line end (no
/// other checks), data, CRLF, and after the last chunk trailer lines up to
/// an empty one. Returns the body and the bytes used, or `None` if the
/// framing cannot be followed.
fn reference(s: &[u8]) -> Option<(Vec<u8>, usize)> {
    let line = |at: usize| -> Option<(&[u8], usize)> {
        let end = at + s.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        Some((&s[at..end], end + 2))
    };
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let (size_line, next) = line(at)?;
        let hex = size_line.split(|&b| b == b';').next()?;
        let hex = std::str::from_utf8(hex).ok()?.trim_end_matches([' ', '\t']);
        let size = usize::from_str_radix(hex, 16).ok()?;
        at = next;
        if size == 0 {
            break;
        }
        body.extend_from_slice(s.get(at..at.checked_add(size)?)?);
        at += size;
        if s.get(at..at + 2)? != b"\r\n" {
            return None;
        }
        at += 2;
    }
    loop {
        let (trailer, next) = line(at)?;
        at = next;
        if trailer.is_empty() {
            return Some((body, at));
        }
    }
}
