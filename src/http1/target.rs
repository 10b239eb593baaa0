//! The four forms of request-target (RFC 9112 §3.2), reduced to the path and
//! query an application sees.

use super::ProtocolError;
use std::ops::Range;

fn bad(reason: &'static str) -> ProtocolError {
    ProtocolError {
        status: 400,
        reason,
    }
}

/// Path and query of `line[target]`, as ranges into `line`.
///
/// - origin-form `/path?query`: as is;
/// - absolute-form `http(s)://authority/path?query`: scheme and authority are
///   dropped (RFC 9112 §3.2.2: the server must accept it; Host is still
///   required and is what the application sees);
/// - asterisk-form `*`: only for OPTIONS; the path is "*";
/// - authority-form `host:port` (CONNECT) and anything else: 400, since this
///   server is not a proxy.
pub(crate) fn split_target(
    line: &[u8],
    method: Range<usize>,
    target: Range<usize>,
) -> Result<(Range<usize>, Range<usize>), ProtocolError> {
    let t = &line[target.clone()];
    let method = &line[method];
    if method == b"CONNECT" {
        return Err(bad("CONNECT is not supported"));
    }
    if t.contains(&b'#') {
        return Err(bad("Fragment in request target"));
    }
    if t == b"*" {
        if method == b"OPTIONS" {
            return Ok((target.clone(), target.end..target.end));
        }
        return Err(bad("Asterisk-form target is only allowed with OPTIONS"));
    }
    if t.first() == Some(&b'/') {
        return Ok(path_and_query(target.start, t));
    }
    let scheme_len = if starts_with_ignore_case(t, b"http://") {
        7
    } else if starts_with_ignore_case(t, b"https://") {
        8
    } else {
        return Err(bad("Invalid request target"));
    };
    let rest = &t[scheme_len..];
    let authority_len = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    if authority_len == 0 {
        return Err(bad("Absolute-form target without authority"));
    }
    let path_start = target.start + scheme_len + authority_len;
    let tail = &rest[authority_len..];
    if tail.first() == Some(&b'/') {
        return Ok(path_and_query(path_start, tail));
    }
    // "http://host" or "http://host?q": the path is "/" (RFC 9112 §3.2.1).
    // Point it at the scheme's second slash so that it stays a slice of the
    // head like every other part.
    let slash = target.start + scheme_len - 1;
    let query = if tail.is_empty() {
        path_start..path_start
    } else {
        path_start + 1..target.end
    };
    Ok((slash..slash + 1, query))
}

fn path_and_query(start: usize, t: &[u8]) -> (Range<usize>, Range<usize>) {
    match t.iter().position(|&b| b == b'?') {
        Some(q) => (start..start + q, start + q + 1..start + t.len()),
        None => (start..start + t.len(), start + t.len()..start + t.len()),
    }
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Result<(String, String), u16> {
        let b = line.as_bytes();
        let sp = line.find(' ').unwrap();
        split_target(b, 0..sp, sp + 1..b.len())
            .map(|(p, q)| (line[p].to_string(), line[q].to_string()))
            .map_err(|e| e.status)
    }

    #[test]
    fn forms() {
        assert_eq!(split("GET /a/b?x=1&y"), Ok(("/a/b".into(), "x=1&y".into())));
        assert_eq!(split("GET /"), Ok(("/".into(), "".into())));
        assert_eq!(split("GET /?"), Ok(("/".into(), "".into())));
        assert_eq!(split("GET ///x"), Ok(("///x".into(), "".into())));
        assert_eq!(split("GET http://h/p?q"), Ok(("/p".into(), "q".into())));
        assert_eq!(split("GET HTTPS://h:1/p"), Ok(("/p".into(), "".into())));
        assert_eq!(
            split("GET http://u:p@h:8/p?q=1"),
            Ok(("/p".into(), "q=1".into()))
        );
        assert_eq!(split("GET http://[::1]:8/p"), Ok(("/p".into(), "".into())));
        assert_eq!(split("GET http://h"), Ok(("/".into(), "".into())));
        assert_eq!(split("GET http://h?a=b"), Ok(("/".into(), "a=b".into())));
        assert_eq!(split("OPTIONS *"), Ok(("*".into(), "".into())));
    }

    #[test]
    fn rejections() {
        assert_eq!(split("GET *"), Err(400));
        assert_eq!(split("GET example.com:443"), Err(400));
        assert_eq!(split("CONNECT example.com:443"), Err(400));
        assert_eq!(split("GET foo/bar"), Err(400));
        assert_eq!(split("GET /a#frag"), Err(400));
        assert_eq!(split("GET http:///p"), Err(400));
        assert_eq!(split("GET ftp://h/p"), Err(400));
    }
}
