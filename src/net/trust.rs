//! Which peers may speak for their clients: `--forwarded-allow-ips`.
//!
//! A list of IP addresses, CIDR networks, `*` (everyone) and `unix:` (peers
//! on a Unix socket). The driver asks it whether to expect a PROXY protocol
//! header; the bridge whether to believe `X-Forwarded-*` and `Forwarded`.

use std::net::IpAddr;

/// Where a connection comes from, or where it was accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SockAddr {
    Inet(std::net::SocketAddr),
    /// A Unix socket: its path when it has one (a listener's), else `None`
    /// (a client's socket is usually unnamed).
    Unix(Option<std::rc::Rc<str>>),
}

impl SockAddr {
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            SockAddr::Inet(addr) => Some(addr.ip().to_canonical()),
            SockAddr::Unix(_) => None,
        }
    }
}

/// One network of the list: an address and how many leading bits count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    all: bool,
    unix: bool,
    networks: Vec<Network>,
}

impl TrustedProxies {
    /// Parses entries such as `127.0.0.1`, `::1`, `10.0.0.0/8`,
    /// `fd00::/8`, `*`, `unix:`; surrounding blanks and empty entries are
    /// ignored.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut trusted = TrustedProxies::default();
        for entry in entries {
            let entry = entry.trim();
            match entry {
                "" => continue,
                "*" => trusted.all = true,
                "unix:" => trusted.unix = true,
                _ => trusted.networks.push(parse_network(entry)?),
            }
        }
        Ok(trusted)
    }

    /// Trusts everyone (`*`).
    pub fn everyone() -> Self {
        TrustedProxies {
            all: true,
            ..Default::default()
        }
    }

    pub fn trusts_all(&self) -> bool {
        self.all
    }

    pub fn trusts_ip(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.all || self.networks.iter().any(|net| net.contains(ip))
    }

    /// A hop named in a header: an address, or a name (`unknown`, an
    /// obfuscated `_id`) that only `*` trusts.
    pub fn trusts_host(&self, host: &str) -> bool {
        self.all || host.parse::<IpAddr>().is_ok_and(|ip| self.trusts_ip(ip))
    }

    pub fn trusts(&self, peer: &SockAddr) -> bool {
        match peer {
            SockAddr::Inet(addr) => self.trusts_ip(addr.ip()),
            SockAddr::Unix(_) => self.all || self.unix,
        }
    }
}

fn parse_network(entry: &str) -> Result<Network, String> {
    let bad = || format!("not an IP address, network, '*' or 'unix:': {entry:?}");
    let (addr, prefix) = match entry.split_once('/') {
        Some((addr, bits)) => (addr, Some(bits)),
        None => (entry, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let addr = addr.to_canonical();
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(bits) => {
            let bits: u8 = if bits.bytes().all(|b| b.is_ascii_digit()) && !bits.is_empty() {
                bits.parse().map_err(|_| bad())?
            } else {
                return Err(bad());
            };
            // An IPv4-mapped network written in IPv6 keeps its IPv4 bits.
            let bits = if max == 32 && entry.contains(':') {
                bits.checked_sub(96).ok_or_else(bad)?
            } else {
                bits
            };
            if bits > max {
                return Err(bad());
            }
            bits
        }
    };
    Ok(Network { addr, prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &str) -> TrustedProxies {
        TrustedProxies::parse(s.split(',')).unwrap()
    }

    #[test]
    fn addresses_and_networks() {
        let t = list("127.0.0.1, ::1,10.0.0.0/8 ,fd00::/8");
        assert!(t.trusts_host("127.0.0.1"));
        assert!(!t.trusts_host("127.0.0.2"));
        assert!(t.trusts_host("::1"));
        assert!(t.trusts_host("10.255.1.2"));
        assert!(!t.trusts_host("11.0.0.1"));
        assert!(t.trusts_host("fd12::5"));
        assert!(!t.trusts_host("fe80::1"));
        assert!(t.trusts_host("::ffff:127.0.0.1"), "IPv4-mapped is IPv4");
        assert!(!t.trusts_host("unknown"));
        assert!(!t.trusts_host("_hidden"));
        assert!(!t.trusts(&SockAddr::Unix(None)));
    }

    #[test]
    fn everyone_and_unix() {
        let t = list("*");
        assert!(t.trusts_host("8.8.8.8") && t.trusts_host("unknown"));
        assert!(t.trusts(&SockAddr::Unix(None)));
        let t = list("unix:");
        assert!(t.trusts(&SockAddr::Unix(None)));
        assert!(!t.trusts_host("127.0.0.1"));
    }

    #[test]
    fn edges_of_prefixes() {
        assert!(list("0.0.0.0/0").trusts_host("1.2.3.4"));
        assert!(list("::/0").trusts_host("2001:db8::1"));
        assert!(!list("::/0").trusts_host("1.2.3.4"), "families apart");
        assert!(list("192.168.1.0/24").trusts_host("192.168.1.255"));
        assert!(!list("192.168.1.0/24").trusts_host("192.168.2.0"));
        assert!(list("::ffff:10.0.0.0/104").trusts_host("10.1.2.3"));
    }

    #[test]
    fn bad_entries() {
        for bad in [
            "localhost",
            "1.2.3.4/33",
            "::/129",
            "1.2.3.4/",
            "1.2.3.4/x",
            "unix",
        ] {
            assert!(TrustedProxies::parse([bad]).is_err(), "{bad}");
        }
        assert_eq!(
            TrustedProxies::parse(["", " "]).unwrap(),
            TrustedProxies::default()
        );
    }
}
