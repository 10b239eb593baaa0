//! Percent-decoding of the request path for ASGI's `path`.

/// Percent-decodes a request path for ASGI's `path` (invalid UTF-8 becomes
/// U+FFFD, as Python's `urllib.parse.unquote` does). A `%` not followed by
/// two hex digits is kept as it is, again like `unquote`.
pub fn decode_path(raw_path: &[u8]) -> String {
    if !raw_path.contains(&b'%') {
        return String::from_utf8_lossy(raw_path).into_owned();
    }
    let mut bytes = Vec::with_capacity(raw_path.len());
    let mut i = 0;
    while i < raw_path.len() {
        let b = raw_path[i];
        if b == b'%' {
            if let (Some(hi), Some(lo)) = (
                raw_path.get(i + 1).and_then(|&c| hex_value(c)),
                raw_path.get(i + 2).and_then(|&c| hex_value(c)),
            ) {
                bytes.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        bytes.push(b);
        i += 1;
    }
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::decode_path;

    #[test]
    fn decodes_like_unquote() {
        assert_eq!(decode_path(b"/plain"), "/plain");
        assert_eq!(decode_path(b"/a%20b"), "/a b");
        assert_eq!(decode_path(b"/%E2%82%AC"), "/\u{20ac}");
        assert_eq!(decode_path(b"/%e2%82%ac"), "/\u{20ac}");
        assert_eq!(decode_path(b"/%2F"), "//");
        assert_eq!(decode_path(b"/100%"), "/100%");
        assert_eq!(decode_path(b"/%zz%4"), "/%zz%4");
        assert_eq!(decode_path(b"/%FF"), "/\u{fffd}");
        assert_eq!(decode_path(b"/\xc3\xa0%20k"), "/\u{e0} k");
        assert_eq!(decode_path(b"/\xff"), "/\u{fffd}");
        assert_eq!(decode_path(b""), "");
    }
}
