//! Peer names for host lists, found off the event loop.
//!
//! The lookups (`sys::names::verified_name`: reverse, then forward to confirm) block in the C
//! library for as long as DNS takes, so they run on [`WORKERS`] threads of our own (no async
//! resolver crate: glibc's resolver is what honours nsswitch.conf and /etc/hosts, and two
//! threads that wait are cheaper than a runtime). The loop hands a peer address over with
//! [`Resolver::request`] and learns of answers through a socket it polls ([`Resolver::fd`]);
//! [`Resolver::answers`] collects them. Answers, "no name" included, are cached for [`TTL`];
//! the cache holds at most [`CACHE_MAX`] addresses. A lookup that does not answer in time is
//! the caller's to refuse ([`LOOKUP_TIME`]), and is cached as "no name".

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Lookup threads.
pub const WORKERS: usize = 2;
/// How long an answer is reused.
pub const TTL: Duration = Duration::from_secs(30);
/// How long a connection waits for its peer's name before it is refused.
pub const LOOKUP_TIME: Duration = Duration::from_secs(5);
/// Addresses remembered at most.
pub const CACHE_MAX: usize = 1024;

/// A name lookup: the peer's verified host name, or `None`.
pub type Lookup = Arc<dyn Fn(IpAddr) -> Option<String> + Send + Sync>;

/// The worker threads, the answers' channel and the cache.
pub struct Resolver {
    requests: Sender<IpAddr>,
    results: Receiver<(IpAddr, Option<String>)>,
    wake: UnixStream,
    cache: HashMap<IpAddr, (Option<String>, Instant)>,
    asked: HashSet<IpAddr>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("cached", &self.cache.len())
            .field("asked", &self.asked.len())
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// Start the workers with the system's lookup (`sys::names::verified_name`).
    pub fn new() -> io::Result<Resolver> {
        Resolver::with_lookup(Arc::new(crate::sys::names::verified_name))
    }

    /// Start the workers with `lookup` (tests pass a fake one).
    pub fn with_lookup(lookup: Lookup) -> io::Result<Resolver> {
        let (req_tx, req_rx) = mpsc::channel::<IpAddr>();
        let (res_tx, res_rx) = mpsc::channel();
        let (wake, poke) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        poke.set_nonblocking(true)?;
        let req_rx = Arc::new(Mutex::new(req_rx));
        let poke = Arc::new(poke);
        for i in 0..WORKERS {
            let (rx, tx, poke, lookup) =
                (req_rx.clone(), res_tx.clone(), poke.clone(), lookup.clone());
            std::thread::Builder::new()
                .name(format!("resolve{i}"))
                .spawn(move || worker(&rx, &tx, &poke, &*lookup))?;
        }
        Ok(Resolver {
            requests: req_tx,
            results: res_rx,
            wake,
            cache: HashMap::new(),
            asked: HashSet::new(),
        })
    }

    /// The fd that becomes readable when answers are waiting.
    pub fn fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    /// The cached answer for `ip`: `Some(name)` (itself `None` for "no name"), or `None` when
    /// it must be looked up.
    pub fn cached(&mut self, ip: IpAddr, now: Instant) -> Option<Option<String>> {
        match self.cache.get(&ip) {
            Some((name, at)) if now.duration_since(*at) < TTL => Some(name.clone()),
            _ => None,
        }
    }

    /// Have `ip` looked up (once, however many connections wait for it). While
    /// [`CACHE_MAX`] lookups are outstanding (a resolver that stopped answering) no more are
    /// queued: the waiting connection's deadline refuses it.
    pub fn request(&mut self, ip: IpAddr) {
        if self.asked.len() >= CACHE_MAX {
            return;
        }
        if self.asked.insert(ip) && self.requests.send(ip).is_err() {
            // The workers are gone (cannot happen while we hold the receiver's other end):
            // the caller's deadline refuses the connection.
            log::error!("name lookup threads are gone");
        }
    }

    /// Remember `name` for `ip` (a lookup's answer, or `None` for one that took too long).
    pub fn remember(&mut self, ip: IpAddr, name: Option<String>, now: Instant) {
        if self.cache.len() >= CACHE_MAX && !self.cache.contains_key(&ip) {
            self.cache
                .retain(|_, (_, at)| now.duration_since(*at) < TTL);
            if self.cache.len() >= CACHE_MAX {
                self.cache.clear();
            }
        }
        self.cache.insert(ip, (name, now));
    }

    /// The answers that arrived (each also cached); call when [`Resolver::fd`] is readable.
    pub fn answers(&mut self, now: Instant) -> Vec<(IpAddr, Option<String>)> {
        let mut b = [0u8; 64];
        while matches!((&self.wake).read(&mut b), Ok(n) if n > 0) {}
        let got: Vec<_> = self.results.try_iter().collect();
        for (ip, name) in &got {
            self.asked.remove(ip);
            self.remember(*ip, name.clone(), now);
        }
        got
    }
}

/// `--check`'s warnings for host names that do not resolve (`resolves` is the forward lookup;
/// domains cannot be checked that way): `FILE:LINE: host name NAME does not resolve`, the line
/// being the first of `text` that lists the name.
pub fn unresolved_names(
    file: &std::path::Path,
    text: &str,
    acls: &[&crate::share::acl::Acl],
    resolves: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for n in acls.iter().flat_map(|a| a.names()) {
        let crate::share::acl::NamePattern::Host(h) = n else {
            continue;
        };
        if !seen.insert(h.clone()) || resolves(h) {
            continue;
        }
        let line = text
            .lines()
            .position(|l| {
                l.split([' ', '\t', ','])
                    .any(|w| w.trim_end_matches('.').eq_ignore_ascii_case(h))
            })
            .map_or(String::new(), |i| format!(":{}", i + 1));
        out.push(format!(
            "{}{line}: host name {h} does not resolve",
            file.display()
        ));
    }
    out
}

fn worker(
    rx: &Mutex<Receiver<IpAddr>>,
    tx: &Sender<(IpAddr, Option<String>)>,
    poke: &UnixStream,
    lookup: &(dyn Fn(IpAddr) -> Option<String> + Send + Sync),
) {
    loop {
        let ip = match rx.lock().unwrap_or_else(PoisonError::into_inner).recv() {
            Ok(ip) => ip,
            Err(_) => return,
        };
        if tx.send((ip, lookup(ip))).is_err() {
            return;
        }
        // A full socket already has a wake-up pending.
        let _ = (&*poke).write(&[1]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn wait_answers(r: &mut Resolver) -> Vec<(IpAddr, Option<String>)> {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let got = r.answers(Instant::now());
            if !got.is_empty() || Instant::now() > end {
                return got;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn answers_are_cached_and_asked_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let mut r = Resolver::with_lookup(Arc::new(move |a: IpAddr| {
            c.fetch_add(1, Ordering::SeqCst);
            (a == ip("10.0.0.1")).then(|| "pc.lan.test".to_string())
        }))
        .unwrap();
        let now = Instant::now();
        assert_eq!(r.cached(ip("10.0.0.1"), now), None);
        r.request(ip("10.0.0.1"));
        r.request(ip("10.0.0.1"));
        let got = wait_answers(&mut r);
        assert_eq!(got, [(ip("10.0.0.1"), Some("pc.lan.test".to_string()))]);
        let now = Instant::now();
        assert_eq!(
            r.cached(ip("10.0.0.1"), now),
            Some(Some("pc.lan.test".into()))
        );
        assert_eq!(r.cached(ip("10.0.0.1"), now + TTL), None);
        r.request(ip("10.0.0.2"));
        assert_eq!(wait_answers(&mut r), [(ip("10.0.0.2"), None)]);
        assert_eq!(r.cached(ip("10.0.0.2"), Instant::now()), Some(None));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn check_names_the_line() {
        let text = "# ports\n5800 /dev/a 9600 *.lan.test,gone.test\n5801 /dev/b 9600 ok.test\n";
        let a = crate::share::acl::Acl::parse(&["*.lan.test,gone.test"]).unwrap();
        let b = crate::share::acl::Acl::parse(&["ok.test"]).unwrap();
        let w = unresolved_names(std::path::Path::new("s.conf"), text, &[&a, &b], |h| {
            h == "ok.test"
        });
        assert_eq!(w, ["s.conf:2: host name gone.test does not resolve"]);
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut r = Resolver::with_lookup(Arc::new(|_| None)).unwrap();
        let now = Instant::now();
        for i in 0..(CACHE_MAX as u32 + 10) {
            r.remember(IpAddr::from(i.to_be_bytes()), None, now);
        }
        assert!(r.cache.len() <= CACHE_MAX);
        r.remember(ip("1.2.3.4"), Some("x".into()), now);
        assert_eq!(r.cached(ip("1.2.3.4"), now), Some(Some("x".into())));
    }
}
