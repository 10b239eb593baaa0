//! The PROXY protocol (HAProxy's, versions 1 and 2) as a sans-IO parser:
//! the bytes read so far in, a verdict out. The driver runs it before the
//! HTTP protocol sees any byte of a connection from a trusted peer, when
//! `--proxy-protocol` is on.
//!
//! <https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A version 1 header is at most 107 bytes with its CRLF.
const V1_MAX: usize = 107;
const V1_PREFIX: &[u8] = b"PROXY ";
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The most a version 2 header may take, TLVs included. The format allows
/// 64 KiB; what load balancers send (addresses, a few TLVs: AWS's VPC
/// endpoint ID, Azure's link ID, GCP's PSC data) fits easily.
pub const V2_MAX: usize = 4096;

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Not enough bytes yet to decide.
    Incomplete,
    /// A complete header of `consumed` bytes. `source` is the original
    /// client, or `None` when the header names none (v1 `UNKNOWN`, v2
    /// `LOCAL` health checks, non-TCP families): keep the real peer.
    Done {
        consumed: usize,
        source: Option<SocketAddr>,
    },
    /// Not a PROXY protocol header, or a malformed one: close.
    Invalid(&'static str),
}

pub fn parse(buf: &[u8]) -> Parsed {
    if buf.is_empty() {
        return Parsed::Incomplete;
    }
    if buf[0] == b'P' {
        return parse_v1(buf);
    }
    if buf[0] == b'\r' {
        return parse_v2(buf);
    }
    Parsed::Invalid("no PROXY protocol header")
}

fn parse_v1(buf: &[u8]) -> Parsed {
    let head = &buf[..buf.len().min(V1_PREFIX.len())];
    if head != &V1_PREFIX[..head.len()] {
        return Parsed::Invalid("no PROXY protocol header");
    }
    let Some(end) = buf[..buf.len().min(V1_MAX)]
        .windows(2)
        .position(|w| w == b"\r\n")
    else {
        if buf.len() >= V1_MAX {
            return Parsed::Invalid("PROXY v1 header too long");
        }
        return Parsed::Incomplete;
    };
    let Ok(line) = std::str::from_utf8(&buf[V1_PREFIX.len()..end]) else {
        return Parsed::Invalid("PROXY v1 header is not ASCII");
    };
    let consumed = end + 2;
    let fields: Vec<&str> = line.split(' ').collect();
    let v6 = match fields[0] {
        "UNKNOWN" => {
            return Parsed::Done {
                consumed,
                source: None,
            }
        }
        "TCP4" => false,
        "TCP6" => true,
        _ => return Parsed::Invalid("PROXY v1 header with an unknown protocol"),
    };
    let [_, src, dst, sport, dport] = fields[..] else {
        return Parsed::Invalid("PROXY v1 header with the wrong number of fields");
    };
    let (Some(addr), Some(_), Some(port), Some(_)) =
        (ip(src, v6), ip(dst, v6), port(sport), port(dport))
    else {
        return Parsed::Invalid("PROXY v1 header with a bad address or port");
    };
    Parsed::Done {
        consumed,
        source: Some(SocketAddr::new(addr, port)),
    }
}

/// An address of the family the header names.
fn ip(text: &str, v6: bool) -> Option<IpAddr> {
    if v6 {
        text.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    } else {
        text.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    }
}

/// A decimal port: 1 to 5 digits, no sign, within 0..=65535.
fn port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_v2(buf: &[u8]) -> Parsed {
    let head = &buf[..buf.len().min(V2_SIGNATURE.len())];
    if head != &V2_SIGNATURE[..head.len()] {
        return Parsed::Invalid("no PROXY protocol header");
    }
    if buf.len() < 16 {
        return Parsed::Incomplete;
    }
    let version = buf[12] >> 4;
    let command = buf[12] & 0x0f;
    if version != 2 {
        return Parsed::Invalid("PROXY v2 header with an unknown version");
    }
    let length = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let consumed = 16 + length;
    if consumed > V2_MAX {
        return Parsed::Invalid("PROXY v2 header too long");
    }
    if buf.len() < consumed {
        return Parsed::Incomplete;
    }
    let body = &buf[16..consumed];
    match command {
        // LOCAL: the proxy's own connection (a health check).
        0 => {
            return Parsed::Done {
                consumed,
                source: None,
            }
        }
        1 => {}
        _ => return Parsed::Invalid("PROXY v2 header with an unknown command"),
    }
    let family = buf[13] >> 4;
    let transport = buf[13] & 0x0f;
    if transport > 2 || family > 3 {
        return Parsed::Invalid("PROXY v2 header with an unknown address family");
    }
    let source = match (family, transport) {
        // TCP over IPv4: source, destination, source port, destination port.
        (1, 1) => {
            if body.len() < 12 {
                return Parsed::Invalid("PROXY v2 address block too short");
            }
            let ip = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            let port = u16::from_be_bytes([body[8], body[9]]);
            Some(SocketAddr::new(IpAddr::V4(ip), port))
        }
        (2, 1) => {
            if body.len() < 36 {
                return Parsed::Invalid("PROXY v2 address block too short");
            }
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&body[..16]);
            let port = u16::from_be_bytes([body[32], body[33]]);
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port))
        }
        // UNSPEC, UDP, Unix sockets: nothing we can use as a client address.
        _ => None,
    };
    Parsed::Done { consumed, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(consumed: usize, source: &str) -> Parsed {
        Parsed::Done {
            consumed,
            source: Some(source.parse().unwrap()),
        }
    }

    #[test]
    fn v1_tcp4_and_tcp6() {
        let line = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n";
        assert_eq!(parse(line), done(45, "192.0.2.1:56324"));
        let line = b"PROXY TCP6 2001:db8::1 2001:db8::2 4242 80\r\n";
        assert_eq!(parse(line), done(line.len(), "[2001:db8::1]:4242"));
        let line = b"PROXY UNKNOWN whatever\r\n";
        assert_eq!(
            parse(line),
            Parsed::Done {
                consumed: line.len(),
                source: None
            }
        );
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Parsed::Done {
                consumed: 15,
                source: None
            }
        );
    }

    #[test]
    fn v1_every_prefix_is_incomplete() {
        let line = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
        for n in 0..line.len() {
            assert_eq!(parse(&line[..n]), Parsed::Incomplete, "{n}");
        }
    }

    #[test]
    fn v1_malformed() {
        for bad in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",
            b"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",
            b"PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 65536 1\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 -1 1\r\n",
            b"PROXY TCP4 192.0.2.1  198.51.100.2 1 1\r\n",
            b"PROXY UDP4 192.0.2.1 198.51.100.2 1 1\r\n",
            b"PROXY\r\n",
            b"PROXX TCP4",
        ] {
            assert!(matches!(parse(bad), Parsed::Invalid(_)), "{bad:?}");
        }
        let long = [b"PROXY UNKNOWN ".as_slice(), &[b'a'; 120]].concat();
        assert_eq!(parse(&long), Parsed::Invalid("PROXY v1 header too long"));
    }

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(0x20 | command);
        out.push(family);
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn v2_tcp4_tcp6_local_and_tlvs() {
        let mut body = vec![203, 0, 113, 7, 10, 0, 0, 1];
        body.extend_from_slice(&51000u16.to_be_bytes());
        body.extend_from_slice(&443u16.to_be_bytes());
        body.extend_from_slice(&[0x04, 0x00, 0x02, b'h', b'i']); // a TLV
        let mut header = v2(1, 0x11, &body);
        let len = header.len();
        header.extend_from_slice(b"GET /");
        assert_eq!(parse(&header), done(len, "203.0.113.7:51000"));
        for n in 0..len {
            assert_eq!(parse(&header[..n]), Parsed::Incomplete, "{n}");
        }

        let mut body = Vec::new();
        body.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        body.extend_from_slice(&[0; 16]);
        body.extend_from_slice(&[0x12, 0x34, 0, 80]);
        let header = v2(1, 0x21, &body);
        assert_eq!(parse(&header), done(header.len(), "[2001:db8::7]:4660"));

        let header = v2(0, 0x00, &[]);
        assert_eq!(
            parse(&header),
            Parsed::Done {
                consumed: 16,
                source: None
            }
        );
        let header = v2(1, 0x31, &[0; 216]);
        assert_eq!(
            parse(&header),
            Parsed::Done {
                consumed: header.len(),
                source: None
            }
        );
    }

    #[test]
    fn v2_malformed() {
        let mut wrong_version = v2(1, 0x11, &[0; 12]);
        wrong_version[12] = 0x11;
        assert!(matches!(parse(&wrong_version), Parsed::Invalid(_)));
        assert!(matches!(parse(&v2(2, 0x11, &[0; 12])), Parsed::Invalid(_)));
        assert!(matches!(parse(&v2(1, 0x11, &[0; 8])), Parsed::Invalid(_)));
        assert!(matches!(parse(&v2(1, 0x21, &[0; 12])), Parsed::Invalid(_)));
        assert!(matches!(parse(&v2(1, 0x41, &[0; 12])), Parsed::Invalid(_)));
        assert!(matches!(parse(b"\r\n\r\n\0\r\nQUIX\n"), Parsed::Invalid(_)));
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(parse(&huge), Parsed::Invalid("PROXY v2 header too long"));
    }
}
