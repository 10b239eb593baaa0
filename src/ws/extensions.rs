//! The `Sec-WebSocket-Extensions` header (RFC 6455 §9.1): the elements a
//! client offers, parsed into names and parameters. Both the handshake check
//! and the permessage-deflate negotiation read them.

use crate::http1::syntax::is_tchar;

/// One `Sec-WebSocket-Extensions` element: a name and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    pub name: String,
    /// Parameter names as sent; values with quoted-string quoting removed.
    pub params: Vec<(String, Option<String>)>,
}

/// Parses one `Sec-WebSocket-Extensions` value (RFC 6455 §9.1) onto `out`;
/// `None` if malformed. Empty list elements are tolerated.
pub(super) fn parse_extensions(value: &[u8], out: &mut Vec<Extension>) -> Option<()> {
    let mut p = Cursor { s: value, i: 0 };
    loop {
        p.skip_ows();
        match p.peek() {
            None => return Some(()),
            Some(b',') => {
                p.i += 1;
                continue;
            }
            Some(_) => {}
        }
        let name = p.token()?;
        let mut params = Vec::new();
        loop {
            p.skip_ows();
            match p.peek() {
                None | Some(b',') => break,
                Some(b';') => {
                    p.i += 1;
                    p.skip_ows();
                    let pname = p.token()?;
                    p.skip_ows();
                    let pvalue = if p.peek() == Some(b'=') {
                        p.i += 1;
                        p.skip_ows();
                        Some(if p.peek() == Some(b'"') {
                            p.quoted()?
                        } else {
                            p.token()?
                        })
                    } else {
                        None
                    };
                    params.push((pname, pvalue));
                }
                Some(_) => return None,
            }
        }
        out.push(Extension { name, params });
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        let t = self.s.get(start..self.i).filter(|t| !t.is_empty())?;
        Some(String::from_utf8_lossy(t).into_owned())
    }
    /// A quoted-string, unescaped.
    fn quoted(&mut self) -> Option<String> {
        self.i += 1; // the opening quote
        let mut v = Vec::new();
        loop {
            let b = self.peek()?;
            self.i += 1;
            match b {
                b'"' => return Some(String::from_utf8_lossy(&v).into_owned()),
                b'\\' => {
                    let e = self
                        .peek()
                        .filter(|&e| e == b'\t' || e >= b' ' && e != 0x7f)?;
                    self.i += 1;
                    v.push(e);
                }
                b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff => v.push(b),
                _ => return None,
            }
        }
    }
}
