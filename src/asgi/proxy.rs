//! What a trusted proxy says about its client: `X-Forwarded-For`,
//! `X-Forwarded-Proto` and RFC 7239 `Forwarded`, read the way uvicorn's
//! `ProxyHeadersMiddleware` reads them. Pure functions over header pairs;
//! the handler calls them only for a connection whose peer is trusted.
//!
//! - The client is the nearest untrusted hop: the list of hops is walked
//!   from the right (each proxy appends the address it received from), and
//!   the first address not in `--forwarded-allow-ips` is the client. When
//!   every hop is trusted, the leftmost one is.
//! - `Forwarded`, when present and well-formed, wins over `X-Forwarded-*`.
//!   The chosen hop's `proto=` gives the scheme.
//! - `X-Forwarded-Proto`: when it lists as many values as
//!   `X-Forwarded-For` has hops, the chosen hop's value; otherwise the last.
//! - Only `http`, `https`, `ws` and `wss` (any case) change the scheme.

use crate::net::TrustedProxies;

/// What the headers changed; both `None` when they say nothing usable.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Forwarded {
    /// `(host, port)`; the port is 0 when the header gives none.
    pub client: Option<(String, u16)>,
    /// `Some(true)` for https/wss, `Some(false)` for http/ws.
    pub secure: Option<bool>,
}

/// Reads the proxy headers among `headers` (names in lowercase, as the
/// parser gives them). Several lines of one header count as one list.
pub fn interpret<'h>(
    headers: impl Iterator<Item = (&'h [u8], &'h [u8])>,
    trusted: &TrustedProxies,
) -> Forwarded {
    let mut forwarded: Option<String> = None;
    let mut xff: Option<String> = None;
    let mut xfp: Option<String> = None;
    for (name, value) in headers {
        let slot = match name {
            b"forwarded" => &mut forwarded,
            b"x-forwarded-for" => &mut xff,
            b"x-forwarded-proto" => &mut xfp,
            _ => continue,
        };
        let Ok(value) = std::str::from_utf8(value) else {
            continue;
        };
        match slot {
            Some(joined) => {
                joined.push(',');
                joined.push_str(value);
            }
            None => *slot = Some(value.to_owned()),
        }
    }
    if let Some(elements) = forwarded.as_deref().and_then(parse_forwarded) {
        if !elements.is_empty() {
            return from_forwarded(&elements, trusted);
        }
    }
    from_x_forwarded(xff.as_deref(), xfp.as_deref(), trusted)
}

fn from_x_forwarded(xff: Option<&str>, xfp: Option<&str>, trusted: &TrustedProxies) -> Forwarded {
    let protos: Vec<&str> = xfp
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let hops: Vec<&str> = xff
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if hops.is_empty() {
        return Forwarded {
            client: None,
            secure: protos.last().and_then(|p| secure(p)),
        };
    }
    let chosen = nearest_untrusted(hops.iter().map(|hop| node(hop).0), trusted);
    let proto = match protos.len() == hops.len() {
        true => protos.get(chosen),
        false => protos.last(),
    };
    let (host, port) = node(hops[chosen]);
    Forwarded {
        client: Some((host.to_owned(), port)),
        secure: proto.and_then(|p| secure(p)),
    }
}

fn from_forwarded(elements: &[Element], trusted: &TrustedProxies) -> Forwarded {
    // An element without `for=` is a hop we cannot vouch for.
    let chosen = nearest_untrusted(
        elements
            .iter()
            .map(|e| e.for_.as_deref().map_or("", |f| node(f).0)),
        trusted,
    );
    let element = &elements[chosen];
    Forwarded {
        client: element.for_.as_deref().map(|f| {
            let (host, port) = node(f);
            (host.to_owned(), port)
        }),
        secure: element.proto.as_deref().and_then(secure),
    }
}

/// Index of the rightmost hop that is not trusted, or 0 when all are.
fn nearest_untrusted<'a>(
    hosts: impl DoubleEndedIterator<Item = &'a str> + ExactSizeIterator,
    trusted: &TrustedProxies,
) -> usize {
    if trusted.trusts_all() {
        return 0;
    }
    let count = hosts.len();
    hosts
        .rev()
        .position(|host| !trusted.trusts_host(host))
        .map_or(0, |from_right| count - 1 - from_right)
}

fn secure(proto: &str) -> Option<bool> {
    let proto = proto.trim();
    if proto.eq_ignore_ascii_case("https") || proto.eq_ignore_ascii_case("wss") {
        Some(true)
    } else if proto.eq_ignore_ascii_case("http") || proto.eq_ignore_ascii_case("ws") {
        Some(false)
    } else {
        None
    }
}

/// A node as RFC 7239 writes it (`192.0.2.1`, `192.0.2.1:8080`,
/// `[2001:db8::1]`, `[2001:db8::1]:8080`, `unknown`, `_hidden`), or a bare
/// IPv6 address as `X-Forwarded-For` often has it: `(host, port or 0)`.
fn node(text: &str) -> (&str, u16) {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
            return (host, port.unwrap_or(0));
        }
        return (text, 0);
    }
    match text.split_once(':') {
        Some((host, port)) if !port.contains(':') => (host, port.parse().unwrap_or(0)),
        _ => (text, 0),
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Element {
    for_: Option<String>,
    proto: Option<String>,
}

/// `Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43, for="[::1]:80"`
/// into elements; `None` when malformed (then it is ignored).
fn parse_forwarded(value: &str) -> Option<Vec<Element>> {
    let mut elements = vec![Element::default()];
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            break;
        }
        let (key, after) = rest.split_once('=')?;
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(is_tchar) {
            return None;
        }
        let (val, after) = if let Some(quoted) = after.strip_prefix('"') {
            unquote(quoted)?
        } else {
            let end = after.find([';', ',', ' ', '\t']).unwrap_or(after.len());
            let token = &after[..end];
            if token.is_empty() || !token.bytes().all(|b| is_tchar(b) || b == b':') {
                return None;
            }
            (token.to_owned(), &after[end..])
        };
        let element = elements.last_mut()?;
        if key.eq_ignore_ascii_case("for") {
            element.for_ = Some(val);
        } else if key.eq_ignore_ascii_case("proto") {
            element.proto = Some(val);
        }
        rest = after.trim_start_matches([' ', '\t']);
        match rest.as_bytes().first() {
            None => break,
            Some(b';') => rest = &rest[1..],
            Some(b',') => {
                rest = &rest[1..];
                elements.push(Element::default());
            }
            Some(_) => return None,
        }
    }
    // A trailing or empty element ("a=b,") carries nothing.
    elements.retain(|e| *e != Element::default());
    Some(elements)
}

/// The rest of a quoted-string after its opening quote: its value and
/// what follows the closing quote.
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 1..])),
            '\\' => value.push(chars.next()?.1),
            c => value.push(c),
        }
    }
    None
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list.split(',')).unwrap()
    }

    fn read(headers: &[(&str, &str)], list: &str) -> Forwarded {
        interpret(
            headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
            &trusted(list),
        )
    }

    fn client(host: &str, port: u16) -> Option<(String, u16)> {
        Some((host.to_owned(), port))
    }

    #[test]
    fn nothing_to_do() {
        assert_eq!(read(&[("host", "x")], "127.0.0.1"), Forwarded::default());
    }

    #[test]
    fn x_forwarded_for_nearest_untrusted_hop() {
        let list = "127.0.0.1,10.0.0.0/8";
        let got = read(&[("x-forwarded-for", "1.2.3.4")], list);
        assert_eq!(got.client, client("1.2.3.4", 0));
        let got = read(&[("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.5")], list);
        assert_eq!(
            got.client,
            client("1.2.3.4", 0),
            "spoofed left part ignored"
        );
        let got = read(&[("x-forwarded-for", "10.1.1.1, 10.0.0.5")], list);
        assert_eq!(got.client, client("10.1.1.1", 0), "all trusted: leftmost");
        let got = read(&[("x-forwarded-for", "6.6.6.6, 1.2.3.4")], "*");
        assert_eq!(got.client, client("6.6.6.6", 0), "'*': leftmost");
        let got = read(
            &[
                ("x-forwarded-for", "6.6.6.6"),
                ("x-forwarded-for", "1.2.3.4, 10.0.0.1"),
            ],
            list,
        );
        assert_eq!(got.client, client("1.2.3.4", 0), "lines joined");
        let got = read(&[("x-forwarded-for", "2001:db8::1")], list);
        assert_eq!(got.client, client("2001:db8::1", 0));
        let got = read(&[("x-forwarded-for", "[2001:db8::1]:4000")], list);
        assert_eq!(got.client, client("2001:db8::1", 4000));
        let got = read(&[("x-forwarded-for", "1.2.3.4:5678")], list);
        assert_eq!(got.client, client("1.2.3.4", 5678));
        assert_eq!(
            read(&[("x-forwarded-for", " , ")], list),
            Forwarded::default()
        );
    }

    #[test]
    fn x_forwarded_proto() {
        let list = "127.0.0.1";
        for (value, secure) in [
            ("https", Some(true)),
            ("HTTPS", Some(true)),
            ("wss", Some(true)),
            ("http", Some(false)),
            ("ws", Some(false)),
            ("gopher", None),
            ("", None),
            ("http, https", Some(true)),
        ] {
            let got = read(&[("x-forwarded-proto", value)], list);
            assert_eq!(
                got,
                Forwarded {
                    client: None,
                    secure
                },
                "{value}"
            );
        }
        // As many protos as hops: the chosen hop's.
        let got = read(
            &[
                ("x-forwarded-for", "1.2.3.4, 127.0.0.1"),
                ("x-forwarded-proto", "https, http"),
            ],
            list,
        );
        assert_eq!(got.client, client("1.2.3.4", 0));
        assert_eq!(got.secure, Some(true));
    }

    #[test]
    fn forwarded_rfc7239() {
        let list = "127.0.0.1,::1";
        let got = read(
            &[("forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43")],
            list,
        );
        assert_eq!(
            got,
            Forwarded {
                client: client("192.0.2.60", 0),
                secure: Some(true)
            }
        );
        let got = read(
            &[("forwarded", r#"For="[2001:db8:cafe::17]:4711";Proto=http"#)],
            list,
        );
        assert_eq!(
            got,
            Forwarded {
                client: client("2001:db8:cafe::17", 4711),
                secure: Some(false)
            }
        );
        let got = read(
            &[(
                "forwarded",
                r#"for=1.2.3.4;proto=https, for="[::1]";proto=http"#,
            )],
            list,
        );
        assert_eq!(
            got,
            Forwarded {
                client: client("1.2.3.4", 0),
                secure: Some(true)
            }
        );
        let got = read(&[("forwarded", "for=unknown, for=127.0.0.1")], list);
        assert_eq!(got.client, client("unknown", 0));
        let got = read(&[("forwarded", r#"for="_gazonk""#)], list);
        assert_eq!(got.client, client("_gazonk", 0));
        let got = read(&[("forwarded", "proto=https")], list);
        assert_eq!(
            got,
            Forwarded {
                client: None,
                secure: Some(true)
            }
        );
        let got = read(&[("forwarded", r#"for="1.2.3.4:80", for=5.6.7.8"#)], list);
        assert_eq!(got.client, client("5.6.7.8", 0), "nearest untrusted");
        let got = read(&[("forwarded", r#"for="a\"b""#)], list);
        assert_eq!(got.client, client("a\"b", 0));
    }

    #[test]
    fn forwarded_wins_and_malformed_falls_back() {
        let list = "127.0.0.1";
        let got = read(
            &[("x-forwarded-for", "1.1.1.1"), ("forwarded", "for=2.2.2.2")],
            list,
        );
        assert_eq!(got.client, client("2.2.2.2", 0));
        for bad in [
            "for",
            "for=",
            r#"for="1.2.3.4"#,
            "for=1.2.3.4 proto=http",
            "=x",
            "f r=1",
        ] {
            let got = read(&[("x-forwarded-for", "1.1.1.1"), ("forwarded", bad)], list);
            assert_eq!(got.client, client("1.1.1.1", 0), "{bad}");
        }
    }

    #[test]
    fn not_utf8_is_ignored() {
        let headers: [(&[u8], &[u8]); 1] = [(b"x-forwarded-for", b"\xff1.2.3.4")];
        let got = interpret(headers.into_iter(), &trusted("*"));
        assert_eq!(got, Forwarded::default());
    }
}
