//! The event engine shared by `serve`, `connect` and `modem`: epoll (through mio) plus timers in
//! a binary heap.
//!
//! - **Readiness**: register any fd with a [`Token`] ([`Engine::register`]); the engine reports
//!   it to [`Handler::ready`]. Registration is edge-triggered (mio's model): read or write until
//!   `WouldBlock` (or a short read/write on a socket, pipe or tty, which the kernel re-signals
//!   when more data or room arrives) and remember the readiness yourself.
//! - **Timers**: [`Engine::add_timer`] with a deadline and a `u64` key of your choosing; due
//!   timers go to [`Handler::timer`]. [`Engine::cancel_timer`] drops one. Nothing is polled
//!   periodically: with no timer due the engine sleeps in `epoll_wait` without a timeout.
//! - **The loop**: [`Engine::run`] waits, dispatches the events, then the due timers, then calls
//!   [`Handler::tick`], which returns `false` to stop. A handler with leftover work calls
//!   [`Engine::wake_soon`] so the next wait does not block.
//!
//! The cost of one event is the cost of the handler's work for that token: nothing in the
//! engine depends on how many fds are registered.
//!
//! ```no_run
//! use rgetty::share::engine::{Engine, Handler, Ready, Token};
//! use std::time::{Duration, Instant};
//!
//! struct Echo;
//! impl Handler for Echo {
//!     fn ready(&mut self, _eng: &mut Engine, _t: Token, _r: Ready) {}
//!     fn timer(&mut self, eng: &mut Engine, key: u64) {
//!         eng.add_timer(Instant::now() + Duration::from_secs(1), key);
//!     }
//!     fn tick(&mut self, _eng: &mut Engine) -> bool { true }
//! }
//! let mut eng = Engine::new().unwrap();
//! eng.register(0, Token(1)).unwrap();
//! eng.add_timer(Instant::now(), 7);
//! eng.run(&mut Echo).unwrap();
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll};

pub use mio::Token;

/// What an fd is ready for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ready {
    /// Reading will not block (data, end of file or an error is waiting).
    pub readable: bool,
    /// Writing will not block (room, or an error is waiting).
    pub writable: bool,
    /// The peer hung up or an error is pending: read until `WouldBlock` or end of file (a
    /// short read no longer means the buffer is empty for good).
    pub closed: bool,
}

/// A timer handle for [`Engine::cancel_timer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId(u64);

/// What the engine calls.
pub trait Handler {
    /// `token`'s fd became ready.
    fn ready(&mut self, eng: &mut Engine, token: Token, ready: Ready);
    /// The timer added with `key` is due.
    fn timer(&mut self, eng: &mut Engine, key: u64);
    /// Called after each batch of events and timers; return `false` to leave [`Engine::run`].
    fn tick(&mut self, eng: &mut Engine) -> bool;
}

/// epoll plus a timer heap.
pub struct Engine {
    poll: Poll,
    events: Events,
    timers: BinaryHeap<Reverse<(Instant, u64, u64)>>,
    live: HashSet<u64>,
    next_id: u64,
    soon: bool,
    /// The events of the current turn (kept to reuse its allocation).
    batch: Vec<(Token, Ready)>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("timers", &self.live.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// A new epoll instance with no fds and no timers.
    pub fn new() -> io::Result<Self> {
        Ok(Engine {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            timers: BinaryHeap::new(),
            live: HashSet::new(),
            next_id: 1,
            soon: false,
            batch: Vec::new(),
        })
    }

    /// Watch `fd` for reading and writing (edge-triggered), reported under `token`.
    pub fn register(&self, fd: RawFd, token: Token) -> io::Result<()> {
        self.poll.registry().register(
            &mut SourceFd(&fd),
            token,
            Interest::READABLE | Interest::WRITABLE,
        )
    }

    /// Watch `fd` for reading only (listeners, signal pipes).
    pub fn register_read(&self, fd: RawFd, token: Token) -> io::Result<()> {
        self.poll
            .registry()
            .register(&mut SourceFd(&fd), token, Interest::READABLE)
    }

    /// Stop watching `fd` (do this before closing it).
    pub fn deregister(&self, fd: RawFd) {
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
    }

    /// Call [`Handler::timer`] with `key` once `at` has come.
    pub fn add_timer(&mut self, at: Instant, key: u64) -> TimerId {
        let id = self.next_id;
        self.next_id += 1;
        self.timers.push(Reverse((at, id, key)));
        self.live.insert(id);
        TimerId(id)
    }

    /// Forget a timer (no effect when it already fired).
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.live.remove(&id.0);
    }

    /// The next wait returns at once (the handler has more work queued).
    pub fn wake_soon(&mut self) {
        self.soon = true;
    }

    fn timeout(&mut self) -> Option<Duration> {
        if std::mem::take(&mut self.soon) {
            return Some(Duration::ZERO);
        }
        while let Some(Reverse((at, id, _))) = self.timers.peek() {
            if self.live.contains(id) {
                return Some(at.saturating_duration_since(Instant::now()));
            }
            self.timers.pop();
        }
        None
    }

    /// One wait and dispatch. `Ok(false)` when the handler asked to stop.
    pub fn turn(&mut self, h: &mut impl Handler) -> io::Result<bool> {
        let timeout = self.timeout();
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(h.tick(self)),
            Err(e) => return Err(e),
        }
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        batch.extend(self.events.iter().map(|e| {
            let bad = e.is_error() || e.is_read_closed() || e.is_write_closed();
            (
                e.token(),
                Ready {
                    readable: e.is_readable() || bad,
                    writable: e.is_writable() || bad,
                    closed: bad,
                },
            )
        }));
        for &(t, r) in &batch {
            h.ready(self, t, r);
        }
        self.batch = batch;
        let now = Instant::now();
        while let Some(&Reverse((at, id, key))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if self.live.remove(&id) {
                h.timer(self, key);
            }
        }
        Ok(h.tick(self))
    }

    /// Run until [`Handler::tick`] returns `false`.
    pub fn run(&mut self, h: &mut impl Handler) -> io::Result<()> {
        while self.turn(h)? {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[derive(Default)]
    struct Rec {
        ready: Vec<usize>,
        timers: Vec<u64>,
        ticks: usize,
    }

    impl Handler for Rec {
        fn ready(&mut self, _eng: &mut Engine, t: Token, _r: Ready) {
            self.ready.push(t.0);
        }
        fn timer(&mut self, _eng: &mut Engine, key: u64) {
            self.timers.push(key);
        }
        fn tick(&mut self, _eng: &mut Engine) -> bool {
            self.ticks += 1;
            self.timers.len() < 2 && self.ticks < 10
        }
    }

    #[test]
    fn timers_fire_in_order_and_cancelled_ones_do_not() {
        let mut eng = Engine::new().unwrap();
        let t = Instant::now();
        eng.add_timer(t + Duration::from_millis(20), 2);
        eng.add_timer(t, 1);
        let c = eng.add_timer(t, 9);
        eng.cancel_timer(c);
        let mut h = Rec::default();
        eng.run(&mut h).unwrap();
        assert_eq!(h.timers, vec![1, 2]);
        assert!(
            eng.timeout().is_none(),
            "no timer left: wait without timeout"
        );
    }

    #[test]
    fn readiness_carries_the_token() {
        let mut eng = Engine::new().unwrap();
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        eng.register(a.as_raw_fd(), Token(42)).unwrap();
        b.write_all(b"x").unwrap();
        let mut h = Rec::default();
        eng.turn(&mut h).unwrap();
        assert!(h.ready.contains(&42));
    }
}
