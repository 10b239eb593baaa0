//! What may follow or precede a response besides its head and body: the
//! fields allowed in a trailer section, and `103 Early Hints`.

use super::syntax::{check_response_field, push_field};
use super::SendError;

/// Fields a sender must not put in trailers (RFC 9110 §6.5.1): message
/// framing, routing, request modifiers, authentication, response control
/// data and content description, which a recipient has already acted on
/// when the trailers arrive.
const FORBIDDEN_TRAILERS: &[&[u8]] = &[
    b"content-length",
    b"transfer-encoding",
    b"host",
    b"connection",
    b"keep-alive",
    b"upgrade",
    b"te",
    b"trailer",
    b"content-encoding",
    b"content-type",
    b"content-range",
    b"cache-control",
    b"expect",
    b"max-forwards",
    b"pragma",
    b"range",
    b"authorization",
    b"proxy-authorization",
    b"www-authenticate",
    b"proxy-authenticate",
    b"set-cookie",
    b"age",
    b"expires",
    b"date",
    b"location",
    b"retry-after",
    b"vary",
];

pub(crate) fn check_trailer_name(name: &[u8]) -> Result<(), SendError> {
    if FORBIDDEN_TRAILERS
        .iter()
        .any(|forbidden| name.eq_ignore_ascii_case(forbidden))
    {
        return Err(SendError(format!(
            "Field {:?} is not allowed in trailers (RFC 9110 §6.5.1)",
            String::from_utf8_lossy(name)
        )));
    }
    Ok(())
}

/// Checks one `Link` value of an early hint: a valid field value, not
/// empty.
pub(crate) fn check_link(value: &[u8]) -> Result<(), SendError> {
    if value.iter().all(|b| *b == b' ' || *b == b'\t') {
        return Err(SendError("An early hint link must not be empty".into()));
    }
    check_response_field(b"link", value)
}

/// `HTTP/1.1 103 Early Hints` with one `link` field per value (checked).
pub(crate) fn write_early_hints(links: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 103 Early Hints\r\n");
    for link in links {
        push_field(out, b"link", link);
    }
    out.extend_from_slice(b"\r\n");
}
