//! Host lists with names: a connection that no address entry admits waits, off the loop, for
//! its peer's verified name (`share::resolve`); everything else goes on meanwhile. The
//! answer (or [`LOOKUP_TIME`] without one, which counts as "no name") sends the connection
//! through the host list again, where the cached answer decides.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

use super::{ShareServer, Slot, T_NAMES, key};
use crate::share::engine::{Engine, Token};
use crate::share::resolve::{LOOKUP_TIME, Resolver};
use crate::share::session::Role;

/// Connections that may wait for names at once; more are judged by address alone (refused).
const MAX_WAITING: usize = 256;

/// A connection waiting for its peer's name.
#[derive(Debug)]
struct Parked {
    port: usize,
    fd: OwnedFd,
    ip: IpAddr,
    role: Role,
    until: Instant,
}

/// The resolver (started when a name is first needed) and the connections waiting for it.
#[derive(Debug, Default)]
pub(super) struct Names {
    resolver: Option<(Resolver, Token)>,
    parked: Vec<Parked>,
}

impl Names {
    /// Connections waiting for a name.
    pub(super) fn waiting(&self) -> usize {
        self.parked.len()
    }
}

fn peer_ip(fd: &OwnedFd) -> Option<IpAddr> {
    use nix::sys::socket::{SockaddrStorage, getpeername};
    let sa = getpeername::<SockaddrStorage>(fd.as_raw_fd()).ok()?;
    if let Some(v4) = sa.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    let v6 = sa.as_sockaddr_in6()?.ip();
    Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
}

impl ShareServer {
    /// How a new connection passes its port's host list: `Some((fd, check))` goes on, with
    /// the address check when `check` (false once the peer's verified name admitted it);
    /// `None`: it waits for its peer's name.
    pub(super) fn by_name(
        &mut self,
        eng: &mut Engine,
        pi: usize,
        fd: OwnedFd,
        role: Role,
        check_acl: bool,
    ) -> Option<(OwnedFd, bool)> {
        let Some(Some(port)) = self.ports.get(pi) else {
            return Some((fd, check_acl));
        };
        let acl = &port.cfg.acl;
        if !check_acl || acl.names().is_empty() {
            return Some((fd, check_acl));
        }
        let ip = match peer_ip(&fd) {
            Some(ip) if !acl.allows(ip) => ip,
            _ => return Some((fd, true)),
        };
        let now = Instant::now();
        let cached = self
            .names
            .resolver
            .as_mut()
            .and_then(|r| r.0.cached(ip, now));
        if let Some(name) = cached {
            let ok = name.as_deref().is_some_and(|n| acl.allows_name(n));
            log::debug!(
                "port {}: {ip} is {}: {}",
                port.addr,
                name.as_deref().unwrap_or("(no verified name)"),
                if ok {
                    "in the host list"
                } else {
                    "not in the host list"
                }
            );
            return Some((fd, !ok));
        }
        if self.names.parked.len() >= MAX_WAITING {
            log::warn!(
                "port {}: {MAX_WAITING} connections wait for names already",
                port.addr
            );
            return Some((fd, true));
        }
        let Some(t) = self.start_resolver(eng) else {
            return Some((fd, true));
        };
        if let Some((r, _)) = self.names.resolver.as_mut() {
            r.request(ip);
        }
        let until = now + LOOKUP_TIME;
        eng.add_timer(until, key(T_NAMES, t));
        self.names.parked.push(Parked {
            port: pi,
            fd,
            ip,
            role,
            until,
        });
        None
    }

    /// The resolver's token, starting it (threads, the wake-up fd) on first use.
    fn start_resolver(&mut self, eng: &mut Engine) -> Option<Token> {
        if let Some((_, t)) = &self.names.resolver {
            return Some(*t);
        }
        let r = match Resolver::new() {
            Ok(r) => r,
            Err(e) => {
                log::error!("cannot start name lookups: {e}");
                return None;
            }
        };
        let t = self.slot(Slot::Names);
        if let Err(e) = eng.register_read(r.fd(), t) {
            log::error!("epoll: {e}");
            self.release(eng, t, r.fd());
            return None;
        }
        self.names.resolver = Some((r, t));
        Some(t)
    }

    /// Answers arrived: their connections go through the host list again.
    pub(super) fn names_ready(&mut self, eng: &mut Engine) {
        let Some((r, _)) = self.names.resolver.as_mut() else {
            return;
        };
        let answered: Vec<IpAddr> = r.answers(Instant::now()).into_iter().map(|a| a.0).collect();
        self.resume(eng, |p| answered.contains(&p.ip));
    }

    /// Lookups past [`LOOKUP_TIME`] count as "no name".
    pub(super) fn names_timeout(&mut self, eng: &mut Engine) {
        let now = Instant::now();
        let Some((r, _)) = self.names.resolver.as_mut() else {
            return;
        };
        for p in self.names.parked.iter().filter(|p| p.until <= now) {
            if r.cached(p.ip, now).is_none() {
                log::warn!("no name for {} within {LOOKUP_TIME:?}", p.ip);
                r.remember(p.ip, None, now);
            }
        }
        self.resume(eng, |p| p.until <= now);
    }

    fn resume(&mut self, eng: &mut Engine, done: impl Fn(&Parked) -> bool) {
        let (ready, waiting) = std::mem::take(&mut self.names.parked)
            .into_iter()
            .partition(|p| done(p));
        self.names.parked = waiting;
        for p in ready {
            self.incoming(eng, p.port, p.fd, p.role, true);
        }
    }
}
