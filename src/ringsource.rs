//! One RingSource: every way a ring reaches `rgetty` or `rgetty-ringd`, behind one interface.
//!
//! Sources: modem text read from the line (`RING`, distinctive `RING n`, caller-ID lines;
//! classified by [`crate::callerid::RingReader`]), edges of the RI pin of a real UART
//! ([`RiWatcher`]: `TIOCMIWAIT`/`TIOCGICOUNT`, see [`crate::tty`]) and SIGUSR1 (xringd's and
//! mgetty's simulated ring). A [`RingSource`] turns them into [`RingEvent`]s; the getty's ring
//! states and rgetty-ringd's loop only see those, so tests can inject a source (ptys have no
//! RI pin). Which source's rings count for a call is decided in [`crate::ring::SourceLock`].
//!
//! Waiting follows [`crate::wake`]: the RI watcher thread is the only thread (the kernel has
//! no fd for RI edges); it stamps each edge and wakes the poll through the self-pipe.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::callerid::{ModemAction, RingKind};
pub use crate::ring::Via;
use crate::tty;
use crate::wake::{Signals, Waker};

/// One thing a ring source saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingEvent {
    /// A ring, stamped when it was seen.
    Ring {
        /// When it was seen.
        at: Instant,
        /// Where it came from.
        via: Via,
        /// A ring of the phone, or a caller-ID line that mgetty counts as a ring.
        kind: RingKind,
        /// The distinctive-ring number (0 = none).
        dist: i32,
    },
    /// A modem result that ends the ring wait (CONNECT, NO CARRIER, a fax answer, …).
    Action(ModemAction),
    /// The line hung up (EOF).
    Hangup,
    /// A signal arrived: the caller looks at its flags (termination first).
    Signal,
}

/// A source of ring events.
pub trait RingSource {
    /// Wait for the next event until `deadline` (`None`: no limit). `Ok(None)` when the
    /// deadline passed first.
    fn next_event(&mut self, deadline: Option<Instant>) -> io::Result<Option<RingEvent>>;
}

/// RI edges kept while nobody takes them; older ones are dropped (a flapping RI pin).
pub const MAX_PENDING_EDGES: usize = 64;

#[derive(Debug, Default)]
struct RiShared {
    edges: Mutex<VecDeque<Instant>>,
    stop: AtomicBool,
    ended: Mutex<Option<String>>,
}

/// A thread blocked in `TIOCMIWAIT` on the RI pin of a line: each new trailing edge counted
/// by `TIOCGICOUNT` is stamped, queued and announced through a [`Waker`]. Stopped (and its
/// dup of the line closed) by [`RiWatcher::stop`] or on drop.
#[derive(Debug)]
pub struct RiWatcher {
    shared: Arc<RiShared>,
    thread: Option<JoinHandle<()>>,
}

impl RiWatcher {
    /// Watch the RI pin of `fd`. `Ok(None)` when the device has none (a pty).
    pub fn start(fd: impl AsFd, waker: Waker) -> io::Result<Option<RiWatcher>> {
        let Some(count) = tty::icount(&fd).map_err(io::Error::other)? else {
            return Ok(None);
        };
        crate::wake::install_interrupt()?;
        let watch = fd.as_fd().try_clone_to_owned()?;
        let shared = Arc::new(RiShared::default());
        let mine = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("ri-watch".into())
            .spawn(move || {
                let why = watch_ri(&watch, count.rng, &mine, &waker);
                *mine.ended.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
                waker.wake();
            })?;
        Ok(Some(RiWatcher {
            shared,
            thread: Some(thread),
        }))
    }

    /// The edges seen since the last call, oldest first.
    pub fn take(&self) -> Vec<Instant> {
        let mut q = self
            .shared
            .edges
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        q.drain(..).collect()
    }

    /// Why the watcher ended on its own, if it did.
    pub fn ended(&self) -> Option<String> {
        self.shared
            .ended
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stop the thread and wait (at most 2 s) until it has closed its fd.
    pub fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(2);
        // Repeat: the signal may land just before the thread enters the ioctl.
        while !thread.is_finished() && Instant::now() < deadline {
            crate::wake::interrupt(&thread);
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        } else {
            log::warn!("the RI watcher did not stop");
        }
    }
}

impl Drop for RiWatcher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The watcher thread's loop; returns why it ended.
fn watch_ri(fd: &OwnedFd, mut last: u32, shared: &RiShared, waker: &Waker) -> String {
    let ri = tty::ModemMask {
        ri: true,
        ..Default::default()
    };
    while !shared.stop.load(Ordering::SeqCst) {
        match tty::wait_modem_change(fd, ri) {
            Ok(Some(true)) => {}
            Ok(Some(false)) => continue,
            Ok(None) => return "TIOCMIWAIT is not supported".into(),
            Err(e) => return e.to_string(),
        }
        let at = Instant::now();
        match tty::icount(fd) {
            Ok(Some(count)) if count.rng != last => {
                last = count.rng;
                let mut q = shared.edges.lock().unwrap_or_else(PoisonError::into_inner);
                if q.len() >= MAX_PENDING_EDGES {
                    q.pop_front();
                }
                q.push_back(at);
                drop(q);
                waker.wake();
            }
            Ok(Some(_)) => {}
            Ok(None) => return "TIOCGICOUNT is not supported".into(),
            Err(e) => return e.to_string(),
        }
    }
    "stopped".into()
}

/// The ring source of rgetty-ringd: RI edges and SIGUSR1. SIGHUP and termination signals end
/// a wait as [`RingEvent::Signal`] before any queued ring is handed out.
#[derive(Debug)]
pub struct SignalRings<'a> {
    sig: &'a Signals,
    ri: Option<&'a RiWatcher>,
    queued: VecDeque<Instant>,
}

impl<'a> SignalRings<'a> {
    /// Rings from `sig` (SIGUSR1) and, when given, an RI watcher.
    pub fn new(sig: &'a Signals, ri: Option<&'a RiWatcher>) -> Self {
        SignalRings {
            sig,
            ri,
            queued: VecDeque::new(),
        }
    }
}

impl RingSource for SignalRings<'_> {
    fn next_event(&mut self, deadline: Option<Instant>) -> io::Result<Option<RingEvent>> {
        loop {
            if self.sig.term_signal().is_some() || self.sig.hangup() || self.sig.usr2() {
                return Ok(Some(RingEvent::Signal));
            }
            if self.queued.is_empty() {
                self.queued
                    .extend(self.ri.map(RiWatcher::take).unwrap_or_default());
            }
            let ring = |at, via| RingEvent::Ring {
                at,
                via,
                kind: RingKind::Phone,
                dist: 0,
            };
            if let Some(at) = self.queued.pop_front() {
                return Ok(Some(ring(at, Via::Ri)));
            }
            if self.sig.take_virtual_ring() {
                return Ok(Some(ring(Instant::now(), Via::Signal)));
            }
            if self.ri.and_then(RiWatcher::ended).is_some() {
                return Ok(Some(RingEvent::Signal));
            }
            if self.sig.wait(&[], deadline)? == crate::wake::Ready::Timeout {
                return Ok(None);
            }
        }
    }
}

/// A scripted ring source for tests: events at given offsets from a start time.
#[derive(Debug)]
pub struct Scripted {
    start: Instant,
    events: VecDeque<(Duration, RingEvent)>,
}

impl Scripted {
    /// RI edges at `offsets` after `start` (phone rings, dist 0).
    pub fn ri_edges(start: Instant, offsets: &[Duration]) -> Scripted {
        let events = offsets
            .iter()
            .map(|&d| {
                let ev = RingEvent::Ring {
                    at: start + d,
                    via: Via::Ri,
                    kind: RingKind::Phone,
                    dist: 0,
                };
                (d, ev)
            })
            .collect();
        Scripted { start, events }
    }

    /// Add an event at `offset` (events must be added in time order).
    pub fn push(&mut self, offset: Duration, event: RingEvent) {
        self.events.push_back((offset, event));
    }
}

impl RingSource for Scripted {
    /// Sleeps until the next event is due (or the deadline, whichever is first).
    fn next_event(&mut self, deadline: Option<Instant>) -> io::Result<Option<RingEvent>> {
        let due = self.events.front().map(|(d, _)| self.start + *d);
        let wake = match (due, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let Some(wake) = wake else {
            return Ok(Some(RingEvent::Hangup));
        };
        if let Some(left) = wake.checked_duration_since(Instant::now()) {
            std::thread::sleep(left);
        }
        if due.is_some_and(|d| d <= wake) {
            return Ok(self.events.pop_front().map(|(_, ev)| ev));
        }
        Ok(None)
    }
}
