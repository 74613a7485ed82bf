//! Where the virtual modem may dial, and how often (pure: the caller resolves names, lists
//! this host's addresses and passes the time).
//!
//! Dials run with the server's identity: its network position, its firewall rules, its
//! access to services bound to loopback. So by default:
//!
//! * loopback, the unspecified address and every address of this host (which reach the same
//!   services as loopback: rgetty-share's metrics, a web UI, the modem's own port) are never
//!   dialled unless `--dial-allow` names them, even through the phonebook;
//! * a phonebook name or dial rule (written by the admin) may lead to any other address,
//!   private networks included;
//! * a number typed as `host:port` reaches public addresses only (no private, link-local,
//!   shared, multicast or reserved ranges) unless `--dial-allow` names them; with
//!   `--phonebook-only` it is refused outright.
//!
//! Every address a name resolves to is checked (a name cannot smuggle in loopback), and the
//! dial goes only to those that pass. [`DialLimit`] caps dials per minute (`--dial-limit`).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::share::acl::Acl;

/// Dials per minute unless `--dial-limit` says otherwise.
pub const DEFAULT_DIAL_LIMIT: u32 = 10;
/// The window of [`DialLimit`].
pub const DIAL_WINDOW: Duration = Duration::from_secs(60);

/// The dial policy of one modem.
#[derive(Debug, Clone, Default)]
pub struct DialPolicy {
    /// `--dial-allow`: addresses any dial may reach (loopback and this host's included).
    pub allow: Option<Acl>,
    /// `--phonebook-only`: a `host:port` typed after `ATD` is refused.
    pub phonebook_only: bool,
}

/// Why a dial (or one address of it) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `--phonebook-only` and the number is not in the phonebook.
    #[error("not in the phonebook (--phonebook-only)")]
    NotListed,
    /// Loopback, unspecified or this host's own address.
    #[error("{0} is this host (needs --dial-allow)")]
    ThisHost(IpAddr),
    /// A private, link-local, shared, multicast or reserved address typed as a number.
    #[error("{0} is not a public address (dial it through the phonebook, or --dial-allow)")]
    NotPublic(IpAddr),
}

impl DialPolicy {
    /// Whether a dial to `ip` may go. `listed`: the target came from a phonebook name or dial
    /// rule; `this_host`: whether `ip` is one of this host's addresses.
    pub fn check(&self, ip: IpAddr, listed: bool, this_host: bool) -> Result<(), Refusal> {
        let ip = ip.to_canonical();
        if self.phonebook_only && !listed {
            return Err(Refusal::NotListed);
        }
        if self.allow.as_ref().is_some_and(|a| a.allows(ip)) {
            return Ok(());
        }
        if this_host || ip.is_loopback() || ip.is_unspecified() {
            return Err(Refusal::ThisHost(ip));
        }
        if !listed && !is_public(ip) {
            return Err(Refusal::NotPublic(ip));
        }
        Ok(())
    }
}

/// Whether `ip` is a global unicast address (not private, link-local, shared, multicast,
/// documentation or otherwise reserved).
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let [b0, b1, b2, _] = a.octets();
    !(a.is_private()
        || a.is_loopback()
        || a.is_link_local()
        || a.is_multicast()
        || a.is_broadcast()
        || a.is_documentation()
        || a.is_unspecified()
        || b0 == 0
        || b0 >= 240
        || (b0 == 100 && (64..128).contains(&b1))
        || (b0 == 192 && b1 == 0 && b2 == 0)
        || (b0 == 198 && (18..20).contains(&b1)))
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    let s = a.segments();
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    let documentation = s[0] == 0x2001 && s[1] == 0x0db8;
    global_unicast && !documentation
}

/// At most `max` dials in any [`DIAL_WINDOW`] (0: no limit).
#[derive(Debug, Clone)]
pub struct DialLimit {
    max: u32,
    recent: VecDeque<Duration>,
    /// A refusal was logged in the current run of refusals.
    told: bool,
}

impl DialLimit {
    /// A limit of `max` dials a minute.
    pub fn new(max: u32) -> DialLimit {
        DialLimit {
            max,
            recent: VecDeque::new(),
            told: false,
        }
    }

    /// Count a dial at `now` if it is within the limit. `Err(first)`: refused; `first` is true
    /// for the first refusal since the last dial that went (log that one only).
    pub fn admit(&mut self, now: Duration) -> Result<(), bool> {
        if self.max == 0 {
            return Ok(());
        }
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= DIAL_WINDOW)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.max as usize {
            return Err(!std::mem::replace(&mut self.told, true));
        }
        self.told = false;
        self.recent.push_back(now);
        Ok(())
    }
}

impl Default for DialLimit {
    fn default() -> Self {
        DialLimit::new(DEFAULT_DIAL_LIMIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn public_addresses() {
        for p in ["8.8.8.8", "1.1.1.1", "2a00:1450::1", "::ffff:8.8.4.4"] {
            assert!(is_public(ip(p)), "{p}");
        }
        for n in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip(n)), "{n}");
        }
    }

    #[test]
    fn default_policy() {
        let p = DialPolicy::default();
        // loopback and this host: never, phonebook or not
        for listed in [false, true] {
            assert_eq!(
                p.check(ip("127.0.0.1"), listed, false),
                Err(Refusal::ThisHost(ip("127.0.0.1")))
            );
            assert_eq!(
                p.check(ip("::ffff:127.0.0.2"), listed, false),
                Err(Refusal::ThisHost(ip("127.0.0.2")))
            );
            assert!(p.check(ip("0.0.0.0"), listed, false).is_err());
            assert!(p.check(ip("203.0.113.9"), listed, true).is_err());
        }
        // private networks only through the phonebook
        assert_eq!(
            p.check(ip("10.0.0.5"), false, false),
            Err(Refusal::NotPublic(ip("10.0.0.5")))
        );
        assert_eq!(p.check(ip("10.0.0.5"), true, false), Ok(()));
        assert_eq!(p.check(ip("8.8.8.8"), false, false), Ok(()));
    }

    #[test]
    fn allow_list_and_phonebook_only() {
        let p = DialPolicy {
            allow: Acl::parse(&["127.0.0.1", "10.0.0.0/8"]).ok(),
            phonebook_only: false,
        };
        assert_eq!(p.check(ip("127.0.0.1"), false, true), Ok(()));
        assert_eq!(p.check(ip("10.9.9.9"), false, false), Ok(()));
        assert!(p.check(ip("127.0.0.2"), false, false).is_err());
        let p = DialPolicy {
            allow: Some(Acl::any()),
            phonebook_only: true,
        };
        assert_eq!(
            p.check(ip("8.8.8.8"), false, false),
            Err(Refusal::NotListed)
        );
        assert_eq!(p.check(ip("127.0.0.1"), true, true), Ok(()));
    }

    #[test]
    fn dial_limit_per_minute() {
        let s = Duration::from_secs;
        let mut l = DialLimit::new(3);
        for t in 0..3 {
            assert_eq!(l.admit(s(t)), Ok(()));
        }
        assert_eq!(l.admit(s(10)), Err(true), "the first refusal is logged");
        assert_eq!(l.admit(s(11)), Err(false), "later ones are not");
        assert_eq!(l.admit(s(60)), Ok(()), "the first dial left the window");
        assert_eq!(l.admit(s(61)), Ok(()));
        assert_eq!(l.admit(s(61)), Err(true));
        let mut off = DialLimit::new(0);
        assert!((0..1000).all(|_| off.admit(s(0)).is_ok()));
    }
}
