//! Response encoding: the head field by field, then the body framed by
//! Content-Length, chunked coding, or the connection's end. Also the canned
//! response for a rejected request.

use super::status::{push_decimal, push_hex, write_status_line};
use super::syntax::{check_response_field, list_elements, parse_decimal, push_field};
use super::trailers::check_trailer_name;
use super::{ProtocolError, ResponseDefaults, SendError, Version};

/// Statuses an application may send (RFC 9110 §15: three digits, 100–599).
/// 1xx are refused too: ASGI has no interim responses, and a 1xx sent as the
/// final one would leave the client waiting for another.
pub const FINAL_STATUSES: std::ops::RangeInclusive<u16> = 200..=599;

/// How body bytes go on the wire once the head is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyEncoder {
    /// HEAD, 204, 304: no body by rule, whatever the application sends.
    Discard,
    /// Content-Length given: bytes still owed.
    Length(u64),
    Chunked,
    /// HTTP/1.0 without a length: the body ends when the connection closes.
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No response begun for the current request.
    Idle,
    /// Status given, fields being collected (nothing written yet).
    Head,
    Body(BodyEncoder),
    /// The body is complete; the application's trailers come next.
    Trailers,
    Done,
}

/// What happens to the trailers an application announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trailers {
    /// None announced: the body's end ends the response.
    None,
    /// Announced; to be decided when the head is finished.
    Announced,
    /// Written as the chunked trailer section.
    Send,
    /// Checked and dropped (not chunked, or the client did not send
    /// `TE: trailers`; RFC 9110 §6.5.1 lets a server drop them).
    Drop,
}

/// What the encoder needs to know about the request it answers.
pub(crate) struct RequestContext {
    pub version: Version,
    pub is_head: bool,
    /// The request's `TE` lists `trailers`.
    pub te_trailers: bool,
    /// The connection closes after this response for reasons outside the
    /// response itself (client asked, shutdown, unanswered 100-continue).
    pub closing: bool,
}

#[derive(Debug)]
pub(crate) struct ResponseEncoder {
    state: State,
    /// The head being collected; reused across responses.
    head: Vec<u8>,
    status: u16,
    content_length: Option<u64>,
    chunked: bool,
    has_date: bool,
    has_server: bool,
    /// The application sent `connection: close`, or the body came out
    /// shorter than its Content-Length.
    close: bool,
    /// Where the status line ends in `head`: the server's default fields
    /// go there, before the application's.
    fields_start: usize,
    trailers: Trailers,
}

impl ResponseEncoder {
    pub fn new() -> Self {
        ResponseEncoder {
            state: State::Idle,
            head: Vec::new(),
            status: 0,
            content_length: None,
            chunked: false,
            has_date: false,
            has_server: false,
            close: false,
            fields_start: 0,
            trailers: Trailers::None,
        }
    }

    /// Ready for the response to a new request.
    pub fn reset(&mut self) {
        let head = std::mem::take(&mut self.head);
        *self = ResponseEncoder {
            head,
            ..ResponseEncoder::new()
        };
        self.head.clear();
    }

    /// The head has been written.
    pub fn started(&self) -> bool {
        matches!(self.state, State::Body(_) | State::Trailers | State::Done)
    }

    /// The body goes nowhere (HEAD, 204, 304).
    pub fn discards_body(&self) -> bool {
        self.state == State::Body(BodyEncoder::Discard)
    }

    /// Trailers will follow the body (`http.response.trailers`).
    pub fn announce_trailers(&mut self) {
        if self.state == State::Head {
            self.trailers = Trailers::Announced;
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The response itself requires the connection to close afterwards.
    pub fn wants_close(&self) -> bool {
        self.close
    }

    pub fn start(&mut self, status: u16) -> Result<(), SendError> {
        if !FINAL_STATUSES.contains(&status) {
            return Err(SendError(format!(
                "Invalid response status {status}: must be from 200 to 599"
            )));
        }
        match self.state {
            // A writer dropped without `finish` wrote nothing: start over.
            State::Idle | State::Head => {}
            State::Body(_) | State::Trailers | State::Done => {
                return Err(SendError("Response already started".into()))
            }
        }
        self.reset();
        self.state = State::Head;
        self.status = status;
        write_status_line(status, &mut self.head);
        self.fields_start = self.head.len();
        Ok(())
    }

    pub fn header(&mut self, name: &[u8], value: &[u8]) -> Result<(), SendError> {
        check_response_field(name, value)?;
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_decimal(value).ok_or_else(|| {
                SendError(format!(
                    "Invalid Content-Length {:?}: must be decimal digits",
                    String::from_utf8_lossy(value)
                ))
            })?;
            if self.chunked {
                return Err(SendError(
                    "Content-Length and Transfer-Encoding together".into(),
                ));
            }
            match self.content_length {
                Some(prev) if prev != n => {
                    return Err(SendError(format!(
                        "Conflicting Content-Length values {prev} and {n}"
                    )))
                }
                Some(_) => return Ok(()), // the same value twice: write it once
                None => self.content_length = Some(n),
            }
            if self.status == 204 {
                // RFC 9110 §8.6: never in a 204. Validated, then left out.
                return Ok(());
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // We frame the body ourselves; only `chunked` can be honoured,
            // and it is written by `finish` (once).
            let mut codings = list_elements(value);
            let only_chunked = codings
                .next()
                .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"))
                && codings.next().is_none();
            if !only_chunked {
                return Err(SendError(format!(
                    "Unsupported Transfer-Encoding {:?}: only chunked is supported",
                    String::from_utf8_lossy(value)
                )));
            }
            if self.content_length.is_some() {
                return Err(SendError(
                    "Content-Length and Transfer-Encoding together".into(),
                ));
            }
            self.chunked = true;
            return Ok(());
        } else if name.eq_ignore_ascii_case(b"connection") {
            // The Connection field is ours to write, from what both sides
            // want; `close` from the application is honoured.
            self.close |= list_elements(value).any(|t| t.eq_ignore_ascii_case(b"close"));
            return Ok(());
        } else if name.eq_ignore_ascii_case(b"date") {
            self.has_date = true;
        } else if name.eq_ignore_ascii_case(b"server") {
            self.has_server = true;
        }
        push_field(&mut self.head, name, value);
        Ok(())
    }

    /// Completes the head into `out`. Returns whether the connection closes
    /// after this response.
    pub fn finish(
        &mut self,
        request: &RequestContext,
        defaults: &ResponseDefaults,
        date: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool, SendError> {
        if self.state != State::Head {
            return Err(SendError("Response already started".into()));
        }
        let mut closing = request.closing || self.close;
        let no_body = request.is_head || self.status == 204 || self.status == 304;
        let encoder = match (no_body, self.content_length) {
            (true, _) => BodyEncoder::Discard,
            (false, Some(n)) => BodyEncoder::Length(n),
            (false, None) if request.version == Version::Http11 => {
                push_field(&mut self.head, b"transfer-encoding", b"chunked");
                BodyEncoder::Chunked
            }
            (false, None) => {
                closing = true;
                BodyEncoder::UntilClose
            }
        };
        if closing {
            push_field(&mut self.head, b"connection", b"close");
        } else if request.version == Version::Http10 {
            push_field(&mut self.head, b"connection", b"keep-alive");
        }
        self.head.extend_from_slice(b"\r\n");
        if self.trailers == Trailers::Announced {
            // Only a chunked body has a trailer section, and only a client
            // that said `TE: trailers` is sure to read it.
            self.trailers = match encoder == BodyEncoder::Chunked && request.te_trailers {
                true => Trailers::Send,
                false => Trailers::Drop,
            };
        }
        let (status_line, fields) = self.head.split_at(self.fields_start);
        out.extend_from_slice(status_line);
        defaults.write(self.has_date, self.has_server, date, out);
        out.extend_from_slice(fields);
        self.state = State::Body(encoder);
        Ok(closing)
    }

    pub fn body(&mut self, data: &[u8], more: bool, out: &mut Vec<u8>) -> Result<(), SendError> {
        let encoder = self.body_encoder()?;
        match encoder {
            BodyEncoder::Discard => {}
            BodyEncoder::Length(remaining) => {
                if data.len() as u64 > *remaining {
                    return Err(SendError(
                        "Response content longer than Content-Length".into(),
                    ));
                }
                out.extend_from_slice(data);
                *remaining -= data.len() as u64;
                if !more && *remaining > 0 {
                    // The client is owed bytes it will never get: this
                    // connection cannot carry another response.
                    self.state = State::Done;
                    self.close = true;
                    return Err(SendError(
                        "Response content shorter than Content-Length".into(),
                    ));
                }
            }
            BodyEncoder::Chunked => {
                if !data.is_empty() {
                    push_hex(data.len() as u64, out);
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(data);
                    out.extend_from_slice(b"\r\n");
                }
                if !more {
                    match self.trailers {
                        // The trailer section and its blank line follow.
                        Trailers::Send => out.extend_from_slice(b"0\r\n"),
                        _ => out.extend_from_slice(b"0\r\n\r\n"),
                    }
                }
            }
            BodyEncoder::UntilClose => out.extend_from_slice(data),
        }
        if !more {
            self.state = match self.trailers {
                Trailers::None => State::Done,
                _ => State::Trailers,
            };
        }
        Ok(())
    }

    fn body_encoder(&mut self) -> Result<&mut BodyEncoder, SendError> {
        match &mut self.state {
            State::Idle | State::Head => Err(SendError("Response not started".into())),
            State::Trailers | State::Done => {
                Err(SendError("Response body already complete".into()))
            }
            State::Body(encoder) => Ok(encoder),
        }
    }

    /// Frames `len` body bytes that the caller sends itself right after
    /// `out` (a file the driver writes): a chunk header when chunked, and
    /// counted against the Content-Length. Returns what must follow those
    /// bytes (the chunk's CRLF), or `None` when the body is discarded
    /// (HEAD, 204, 304) and the bytes must not be sent. The response stays
    /// open: end it with `body(b"", more, ..)`.
    pub fn external_body(
        &mut self,
        len: u64,
        out: &mut Vec<u8>,
    ) -> Result<Option<&'static [u8]>, SendError> {
        match self.body_encoder()? {
            BodyEncoder::Discard => Ok(None),
            BodyEncoder::Length(remaining) => {
                if len > *remaining {
                    return Err(SendError(
                        "Response content longer than Content-Length".into(),
                    ));
                }
                *remaining -= len;
                Ok(Some(b""))
            }
            BodyEncoder::Chunked if len == 0 => Ok(Some(b"")),
            BodyEncoder::Chunked => {
                push_hex(len, out);
                out.extend_from_slice(b"\r\n");
                Ok(Some(b"\r\n"))
            }
            BodyEncoder::UntilClose => Ok(Some(b"")),
        }
    }

    /// One trailer field after the body (`announce_trailers`): checked as
    /// a header plus the trailer rules, then written or dropped.
    pub fn trailer(
        &mut self,
        name: &[u8],
        value: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        self.check_trailers_due()?;
        check_response_field(name, value)?;
        check_trailer_name(name)?;
        if self.trailers == Trailers::Send {
            push_field(out, name, value);
        }
        Ok(())
    }

    /// Ends the trailers unless `more`: the response is then complete.
    pub fn end_trailers(&mut self, more: bool, out: &mut Vec<u8>) -> Result<(), SendError> {
        self.check_trailers_due()?;
        if !more {
            if self.trailers == Trailers::Send {
                out.extend_from_slice(b"\r\n");
            }
            self.state = State::Done;
        }
        Ok(())
    }

    fn check_trailers_due(&self) -> Result<(), SendError> {
        match (self.state, self.trailers) {
            (State::Trailers, _) => Ok(()),
            (_, Trailers::None) => Err(SendError(
                "Trailers sent without 'trailers': True in the response start".into(),
            )),
            (State::Done, _) => Err(SendError("Response already complete".into())),
            _ => Err(SendError("Trailers sent before the end of the body".into())),
        }
    }
}

/// The complete response for a rejected request: status line, `content-type:
/// text/plain; charset=utf-8`, `content-length`, `connection: close`, and the
/// reason followed by a newline as the body.
pub fn error_response(err: &ProtocolError, out: &mut Vec<u8>) {
    // A status outside the three-digit range would make a broken status line.
    let status = if (100..=999).contains(&err.status) {
        err.status
    } else {
        500
    };
    write_status_line(status, out);
    out.extend_from_slice(b"content-type: text/plain; charset=utf-8\r\ncontent-length: ");
    push_decimal(err.reason.len() as u64 + 1, out);
    out.extend_from_slice(b"\r\nconnection: close\r\n\r\n");
    out.extend_from_slice(err.reason.as_bytes());
    out.push(b'\n');
}
