//! What the header fields mean for the connection: body framing (RFC 9112
//! §6.3, the request-smuggling rules), Host (§3.2), keep-alive (§9.3) and
//! `Expect: 100-continue` (RFC 9110 §10.1.1).

use super::syntax::{is_token, list_elements, parse_decimal, trim_ows};
use super::{BodyFraming, Limits, ProtocolError, Version};
use std::ops::Range;

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Interpretation {
    pub framing: BodyFraming,
    pub keep_alive: bool,
    pub expect_continue: bool,
}

fn bad(reason: &'static str) -> ProtocolError {
    ProtocolError {
        status: 400,
        reason,
    }
}

/// `headers` are ranges into `raw` with names already lower-cased.
pub(crate) fn interpret(
    raw: &[u8],
    headers: &[(Range<usize>, Range<usize>)],
    version: Version,
    limits: &Limits,
) -> Result<Interpretation, ProtocolError> {
    let mut hosts = 0usize;
    let mut content_length: Option<u64> = None;
    let mut te = TransferCodings::default();
    let mut close = false;
    let mut keep_alive_token = false;
    let mut expect_continue = false;

    for (name, value) in headers {
        let value = &raw[value.clone()];
        match &raw[name.clone()] {
            b"host" => {
                hosts += 1;
                if !value.iter().all(|&b| is_host_byte(b)) {
                    return Err(bad("Invalid Host header"));
                }
            }
            b"content-length" => {
                // Digits only: no sign, no list ("5, 5"), no whitespace inside.
                let n = parse_decimal(value).ok_or(bad("Invalid Content-Length"))?;
                if content_length.is_some_and(|prev| prev != n) {
                    return Err(bad("Conflicting Content-Length values"));
                }
                content_length = Some(n);
            }
            b"transfer-encoding" => te.add(value)?,
            b"connection" => {
                for token in list_elements(value) {
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            // HTTP/1.0 clients do not know 100 Continue: RFC 9110 §10.1.1
            // says to ignore the expectation there. Other expectations are
            // ignored too (417 would be allowed, not required).
            b"expect" => {
                expect_continue |=
                    version == Version::Http11 && value.eq_ignore_ascii_case(b"100-continue")
            }
            _ => {}
        }
    }

    if hosts > 1 {
        return Err(bad("Multiple Host headers"));
    }
    if hosts == 0 && version == Version::Http11 {
        return Err(bad("Missing Host header"));
    }

    let framing = if te.seen {
        if version == Version::Http10 {
            // An HTTP/1.0 peer cannot mean chunked; RFC 9112 §6.1 says such a
            // message is faulty and the connection must close.
            return Err(bad("Transfer-Encoding in an HTTP/1.0 request"));
        }
        if content_length.is_some() {
            return Err(bad("Content-Length and Transfer-Encoding together"));
        }
        te.framing()?
    } else {
        match content_length {
            None | Some(0) => BodyFraming::Empty,
            Some(n) if limits.max_body.is_some_and(|max| n > max) => {
                return Err(ProtocolError {
                    status: 413,
                    reason: "Request body too large",
                })
            }
            Some(n) => BodyFraming::Length(n),
        }
    };

    let keep_alive = match version {
        Version::Http11 => !close,
        Version::Http10 => keep_alive_token && !close,
    };
    Ok(Interpretation {
        framing,
        keep_alive,
        expect_continue,
    })
}

/// The codings of every Transfer-Encoding field, in order, as far as they
/// matter: we only decode `chunked`, and it must be last and only once.
#[derive(Default)]
struct TransferCodings {
    seen: bool,
    any: bool,
    chunked: usize,
    last_is_chunked: bool,
    others: bool,
}

impl TransferCodings {
    fn add(&mut self, value: &[u8]) -> Result<(), ProtocolError> {
        self.seen = true;
        for element in list_elements(value) {
            // transfer-coding = token *( OWS ";" OWS transfer-parameter )
            let name_end = element
                .iter()
                .position(|&b| b == b';')
                .unwrap_or(element.len());
            let (s, e) = trim_ows(element, 0, name_end);
            let name = &element[s..e];
            if !is_token(name) {
                return Err(bad("Invalid Transfer-Encoding"));
            }
            self.any = true;
            if name.eq_ignore_ascii_case(b"chunked") {
                if name_end != element.len() {
                    return Err(bad("Invalid Transfer-Encoding"));
                }
                self.chunked += 1;
                self.last_is_chunked = true;
            } else {
                self.others = true;
                self.last_is_chunked = false;
            }
        }
        Ok(())
    }

    fn framing(&self) -> Result<BodyFraming, ProtocolError> {
        if !self.any {
            return Err(bad("Invalid Transfer-Encoding"));
        }
        if !self.last_is_chunked {
            // RFC 9112 §6.3 rule 4: the length cannot be determined.
            return Err(bad("Transfer-Encoding must end with chunked"));
        }
        if self.chunked > 1 {
            return Err(bad("Chunked applied more than once"));
        }
        if self.others {
            // Well-framed, but we do not decode gzip & co. (RFC 9112 §6.1).
            return Err(ProtocolError {
                status: 501,
                reason: "Unsupported transfer coding",
            });
        }
        Ok(BodyFraming::Chunked)
    }
}

/// Characters of `uri-host [ ":" port ]`: reg-name (unreserved, sub-delims,
/// pct-encoded), IP-literal brackets and the port colon. No userinfo, path
/// or whitespace.
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'%'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        version: Version,
        fields: &[(&str, &str)],
    ) -> Result<Interpretation, (u16, &'static str)> {
        let mut raw = Vec::new();
        let mut ranges = Vec::new();
        for (n, v) in fields {
            let ns = raw.len();
            raw.extend_from_slice(n.as_bytes());
            let vs = raw.len();
            raw.extend_from_slice(v.as_bytes());
            ranges.push((ns..vs, vs..raw.len()));
        }
        let limits = Limits {
            max_body: Some(1000),
            ..Limits::default()
        };
        interpret(&raw, &ranges, version, &limits).map_err(|e| (e.status, e.reason))
    }

    fn framing(fields: &[(&str, &str)]) -> Result<BodyFraming, u16> {
        let mut all = vec![("host", "h")];
        all.extend_from_slice(fields);
        run(Version::Http11, &all)
            .map(|i| i.framing)
            .map_err(|e| e.0)
    }

    #[test]
    fn framing_rules() {
        use BodyFraming::*;
        assert_eq!(framing(&[]), Ok(Empty));
        assert_eq!(framing(&[("content-length", "0")]), Ok(Empty));
        assert_eq!(framing(&[("content-length", "005")]), Ok(Length(5)));
        assert_eq!(
            framing(&[("content-length", "5"), ("content-length", "5")]),
            Ok(Length(5))
        );
        assert_eq!(framing(&[("transfer-encoding", "chunked")]), Ok(Chunked));
        assert_eq!(framing(&[("transfer-encoding", "CHUNKED")]), Ok(Chunked));
        assert_eq!(
            framing(&[("transfer-encoding", " , chunked ,")]),
            Ok(Chunked)
        );
        for (fields, status) in [
            (&[("content-length", "5"), ("content-length", "6")][..], 400),
            (&[("content-length", "5, 5")], 400),
            (&[("content-length", "+5")], 400),
            (&[("content-length", "-0")], 400),
            (&[("content-length", "")], 400),
            (&[("content-length", "99999999999999999999")], 400),
            (&[("content-length", "1001")], 413),
            (
                &[("content-length", "3"), ("transfer-encoding", "chunked")],
                400,
            ),
            (&[("transfer-encoding", "gzip")], 400),
            (&[("transfer-encoding", "chunked, gzip")], 400),
            (
                &[
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "identity"),
                ],
                400,
            ),
            (&[("transfer-encoding", "chunked, chunked")], 400),
            (&[("transfer-encoding", "chunked;a=b")], 400),
            (&[("transfer-encoding", "")], 400),
            (&[("transfer-encoding", "\"chunked\"")], 400),
            (&[("transfer-encoding", "gzip, chunked")], 501),
            (
                &[
                    ("transfer-encoding", "identity"),
                    ("transfer-encoding", "chunked"),
                ],
                501,
            ),
        ] {
            assert_eq!(framing(fields), Err(status), "{fields:?}");
        }
    }

    #[test]
    fn host_rules() {
        assert_eq!(
            run(Version::Http11, &[]).unwrap_err(),
            (400, "Missing Host header")
        );
        assert!(run(Version::Http10, &[]).is_ok());
        assert!(run(Version::Http11, &[("host", "")]).is_ok());
        assert!(run(Version::Http11, &[("host", "[::1]:8080")]).is_ok());
        assert_eq!(
            run(Version::Http11, &[("host", "a"), ("host", "a")])
                .unwrap_err()
                .0,
            400
        );
        assert_eq!(run(Version::Http11, &[("host", "a b")]).unwrap_err().0, 400);
        assert_eq!(run(Version::Http11, &[("host", "u@h")]).unwrap_err().0, 400);
        assert_eq!(run(Version::Http11, &[("host", "h/p")]).unwrap_err().0, 400);
    }

    #[test]
    fn http10_transfer_encoding_is_rejected() {
        assert_eq!(
            run(Version::Http10, &[("transfer-encoding", "chunked")])
                .unwrap_err()
                .0,
            400
        );
    }

    #[test]
    fn keep_alive_and_expect() {
        let ka = |v, f: &[(&str, &str)]| run(v, f).unwrap().keep_alive;
        assert!(ka(Version::Http11, &[("host", "h")]));
        assert!(!ka(
            Version::Http11,
            &[("host", "h"), ("connection", "Close")]
        ));
        assert!(!ka(
            Version::Http11,
            &[("host", "h"), ("connection", "keep-alive, close")]
        ));
        assert!(!ka(Version::Http10, &[]));
        assert!(ka(Version::Http10, &[("connection", "foo, Keep-Alive")]));
        assert!(!ka(
            Version::Http10,
            &[("connection", "keep-alive"), ("connection", "close")]
        ));
        let ex = |v, f: &[(&str, &str)]| run(v, f).unwrap().expect_continue;
        assert!(ex(
            Version::Http11,
            &[("host", "h"), ("expect", "100-Continue")]
        ));
        assert!(!ex(Version::Http11, &[("host", "h"), ("expect", "200-ok")]));
        assert!(!ex(Version::Http10, &[("expect", "100-continue")]));
    }
}
