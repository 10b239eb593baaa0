//! Character classes of RFC 9110 §5.6 shared by the request parser, the
//! chunked decoder and the response encoder.

use super::SendError;

/// `tchar`: the characters of a token (method, field name, coding, ...).
const fn tchar_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    t
}

static TCHAR: [bool; 256] = tchar_table();

pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[b as usize]
}

/// A non-empty run of `tchar`.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Checks a response field the application supplies: the name must be a
/// token and the value free of CR, LF and NUL, so that nothing it sends can
/// split the head or smuggle a field in.
pub(crate) fn check_response_field(name: &[u8], value: &[u8]) -> Result<(), SendError> {
    if !is_token(name) {
        return Err(SendError(format!(
            "Invalid header name {:?}: must be an RFC 9110 token",
            String::from_utf8_lossy(name)
        )));
    }
    if value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(SendError(format!(
            "Invalid value for header {:?}: contains CR, LF or NUL",
            String::from_utf8_lossy(name)
        )));
    }
    Ok(())
}

/// Appends `name: value` and CRLF.
pub(crate) fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A byte allowed inside a field value: `field-vchar`, SP or HTAB. This
/// excludes every other CTL, DEL included (RFC 9110 §5.5).
pub(crate) fn is_field_value_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

pub(crate) fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The bounds of `s[start..end]` with optional whitespace removed from both ends.
pub(crate) fn trim_ows(s: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    while start < end && is_ows(s[start]) {
        start += 1;
    }
    while end > start && is_ows(s[end - 1]) {
        end -= 1;
    }
    (start, end)
}

/// Elements of a comma-separated list (`#element`), trimmed, empty ones
/// skipped as RFC 9110 §5.6.1.2 asks of recipients.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').filter_map(|item| {
        let (s, e) = trim_ows(item, 0, item.len());
        (s < e).then(|| &item[s..e])
    })
}

/// Parses a non-empty run of ASCII digits (a Content-Length); `None` when
/// anything else is present or the value does not fit in a `u64`.
pub(crate) fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(is_token(b"GET"));
        assert!(is_token(b"X.Custom|Pipe"));
        assert!(is_token(b"-blargh"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a b"));
        assert!(!is_token(b"a:b"));
        assert!(!is_token(b"a\"b"));
        assert!(!is_token(b"\xc3\x9f"));
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"007"), Some(7));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        for bad in [
            &b""[..],
            b"+1",
            b"-0",
            b"1 ",
            b" 1",
            b"0x1",
            b"1_0",
            b"5, 5",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lists() {
        let v: Vec<&[u8]> = list_elements(b" a ,, b\t,c ,").collect();
        assert_eq!(v, vec![&b"a"[..], b"b", b"c"]);
    }
}
