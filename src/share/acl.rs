//! Host access lists for exported ports: addresses, CIDR networks, `*`, and host or domain
//! names (`host.example.org`, `.example.org`, `*.example.org`; see [`names`]).
//!
//! Pure: no I/O. Addresses are matched here; a name entry matches the peer's verified host
//! name, which `share::resolve` looks up off the event loop only when no address entry
//! admits the peer. A port without a list admits loopback peers only.

pub mod names;
pub use names::NamePattern;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One allow rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `*`: every peer.
    Any,
    /// An address and a prefix length (`10.0.0.0/8`, `::1/128`; a bare address is a /32 or
    /// /128).
    Net {
        /// The network address.
        addr: IpAddr,
        /// Prefix length in bits.
        prefix: u8,
    },
}

/// An invalid ACL entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    /// Not an address, a CIDR, `*` or a host name.
    #[error("bad host entry {0:?} (want an IP address, ADDR/BITS, a host name, .domain or *)")]
    BadEntry(String),
    /// The prefix is longer than the address.
    #[error("bad prefix length in {0:?}")]
    BadPrefix(String),
    /// The list has no entries.
    #[error("empty host list")]
    Empty,
    /// A host name where only addresses are taken ([`Acl::parse_addresses`]).
    #[error("host name {0:?} not accepted here (want an IP address, ADDR/BITS or *)")]
    NameHere(String),
}

/// An allow list. The peer is admitted when any rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    rules: Vec<Rule>,
    /// Host and domain names (matched against the peer's verified name).
    names: Vec<NamePattern>,
}

impl Default for Acl {
    fn default() -> Self {
        Acl::loopback_only()
    }
}

impl Acl {
    /// The default list: `127.0.0.0/8` and `::1`.
    pub fn loopback_only() -> Self {
        Acl {
            rules: vec![
                Rule::Net {
                    addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
                    prefix: 8,
                },
                Rule::Net {
                    addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
                    prefix: 128,
                },
            ],
            names: Vec::new(),
        }
    }

    /// A list that admits everybody.
    pub fn any() -> Self {
        Acl {
            rules: vec![Rule::Any],
            names: Vec::new(),
        }
    }

    /// Parse entries; each may itself be a comma-separated list (Masqdialer's hostlist
    /// column, `10.0.0.0/8,192.168.1.7`). Empty items between commas are ignored, but at least
    /// one entry is required.
    ///
    /// ```
    /// use rgetty::share::acl::Acl;
    /// let acl = Acl::parse(&["192.168.1.0/24,10.1.2.3"]).unwrap();
    /// assert!(acl.allows("192.168.1.77".parse().unwrap()));
    /// assert!(!acl.allows("127.0.0.1".parse().unwrap()));
    /// ```
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, AclError> {
        let mut rules = Vec::new();
        let mut names = Vec::new();
        for e in entries {
            for item in e.as_ref().split(',') {
                let item = item.trim();
                if item.is_empty() {
                    continue;
                }
                match (parse_rule(item), NamePattern::parse(item)) {
                    (Ok(r), _) => rules.push(r),
                    (Err(AclError::BadEntry(_)), Some(n)) => names.push(n),
                    (Err(e), _) => return Err(e),
                }
            }
        }
        if rules.is_empty() && names.is_empty() {
            return Err(AclError::Empty);
        }
        Ok(Acl { rules, names })
    }

    /// [`Acl::parse`] for lists that are matched by address alone (the metrics listener, the
    /// virtual modem): a host or domain name is an error.
    pub fn parse_addresses<S: AsRef<str>>(entries: &[S]) -> Result<Self, AclError> {
        let acl = Acl::parse(entries)?;
        match acl.names.first() {
            Some(n) => Err(AclError::NameHere(n.to_string())),
            None => Ok(acl),
        }
    }

    /// The host and domain names, in order.
    pub fn names(&self) -> &[NamePattern] {
        &self.names
    }

    /// True when the verified host name `name` matches a name entry.
    pub fn allows_name(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.matches(name))
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// True when `peer` is admitted by an address entry (name entries need the peer's verified
    /// name: [`Acl::allows_name`]). IPv4-mapped IPv6 peers are matched as IPv4.
    pub fn allows(&self, peer: IpAddr) -> bool {
        let peer = canonical(peer);
        self.rules.iter().any(|r| match *r {
            Rule::Any => true,
            Rule::Net { addr, prefix } => in_net(peer, addr, prefix),
        })
    }

    /// True when only loopback peers can match (used to pick a loopback listen address).
    pub fn loopback_only_rules(&self) -> bool {
        self.names.is_empty()
            && self.rules.iter().all(|r| match *r {
                Rule::Any => false,
                Rule::Net { addr, prefix } => match addr {
                    IpAddr::V4(a) => a.octets()[0] == 127 && prefix >= 8,
                    IpAddr::V6(a) => a == Ipv6Addr::LOCALHOST && prefix == 128,
                },
            })
    }
}

fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

fn parse_rule(item: &str) -> Result<Rule, AclError> {
    if item == "*" {
        return Ok(Rule::Any);
    }
    let (a, p) = match item.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (item, None),
    };
    let addr: IpAddr = a
        .parse()
        .map_err(|_| AclError::BadEntry(item.to_string()))?;
    let addr = canonical(addr);
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        None => max,
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|&n| n <= max)
            .ok_or_else(|| AclError::BadPrefix(item.to_string()))?,
    };
    Ok(Rule::Net { addr, prefix })
}

fn in_net(peer: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (peer, net) {
        (IpAddr::V4(p), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(p) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(p), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(p) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "8.8.8.8", true),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("10.0.0.0/8", "10.255.1.1", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("0.0.0.0/0", "1.2.3.4", true),
            ("0.0.0.0/0", "::1", false),
            ("192.168.1.0/24", "::ffff:192.168.1.9", true),
            ("::1", "::1", true),
            ("fe80::/10", "fe80::1", true),
            ("fe80::/10", "fec0::1", false),
            (",,10.1.1.1,", "10.1.1.1", true),
        ];
        for (list, peer, want) in cases {
            let acl = Acl::parse(&[*list]).unwrap();
            assert_eq!(acl.allows(ip(peer)), *want, "{list} {peer}");
        }
    }

    #[test]
    fn default_is_loopback() {
        let acl = Acl::default();
        assert!(acl.allows(ip("127.0.0.1")));
        assert!(acl.allows(ip("127.3.0.1")));
        assert!(acl.allows(ip("::1")));
        assert!(acl.allows(ip("::ffff:127.0.0.1")));
        assert!(!acl.allows(ip("192.168.0.1")));
        assert!(acl.loopback_only_rules());
        assert!(!Acl::any().loopback_only_rules());
    }

    #[test]
    fn errors() {
        assert_eq!(
            Acl::parse(&["host_example.com"]),
            Err(AclError::BadEntry("host_example.com".into()))
        );
        assert_eq!(
            Acl::parse(&["10.0.0"]),
            Err(AclError::BadEntry("10.0.0".into()))
        );
        assert_eq!(
            Acl::parse(&["10.0.0.0/33"]),
            Err(AclError::BadPrefix("10.0.0.0/33".into()))
        );
        assert_eq!(Acl::parse(&[","]), Err(AclError::Empty));
        let none: [&str; 0] = [];
        assert_eq!(Acl::parse(&none), Err(AclError::Empty));
    }

    #[test]
    fn names_beside_addresses() {
        let acl = Acl::parse(&["10.1.1.1,*.lan.test", "ok.other.test"]).unwrap();
        assert_eq!(acl.rules().len(), 1);
        assert_eq!(
            acl.names(),
            [
                NamePattern::Domain(".lan.test".into()),
                NamePattern::Host("ok.other.test".into())
            ]
        );
        assert!(acl.allows(ip("10.1.1.1")));
        assert!(!acl.allows(ip("127.0.0.1")));
        assert!(acl.allows_name("pc.lan.test"));
        assert!(acl.allows_name("OK.other.test"));
        assert!(!acl.allows_name("no.other.test"));
        assert!(!acl.loopback_only_rules());
        assert_eq!(
            Acl::parse_addresses(&["10.0.0.1", ".lan.test"]),
            Err(AclError::NameHere(".lan.test".into()))
        );
        assert!(Acl::parse_addresses(&["10.0.0.1"]).is_ok());
        let only_names = Acl::parse(&["localhost"]).unwrap();
        assert!(only_names.rules().is_empty());
        assert!(!only_names.allows(ip("127.0.0.1")));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = Acl::parse(&[s]);
        }
    }
}
