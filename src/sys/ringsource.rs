//! One RingSource: every way a ring reaches `rgetty` or `rgetty-ringd`, behind one interface.
//!
//! Sources: modem text read from the line (`RING`, distinctive `RING n`, caller-ID lines;
//! classified by [`crate::proto::callerid::RingReader`]), edges of the RI pin of a real UART
//! ([`RiWatcher`]: `TIOCMIWAIT`/`TIOCGICOUNT`, see [`crate::sys::tty`]) and SIGUSR1 (xringd's and
//! mgetty's simulated ring). A [`RingSource`] turns them into [`RingEvent`]s; the getty's ring
//! states and rgetty-ringd's loop only see those, so tests can inject a source (ptys have no
//! RI pin). Which source's rings count for a call is decided in [`crate::proto::ring::SourceLock`].
//!
//! Waiting follows [`crate::sys::wake`]: the RI watcher thread is the only thread (the kernel has
//! no fd for RI edges); it stamps each edge and wakes the poll through the self-pipe.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::xringd::PatternFile;
use crate::proto::callerid::{ModemAction, RingKind};
pub use crate::proto::ring::Via;
use crate::proto::ring::{Fired, Matcher, MatcherOptions, RingOutcome, SourceLock};
use crate::sys::tty;
use crate::sys::wake::{Signals, Waker};

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
    /// A caller-ID line that is not a ring brought a new number or name (only from sources
    /// asked to report them: the getty screens on it at once).
    CallerId,
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
    /// The RI count (TIOCGICOUNT `rng`) of the last edge queued, or at the start.
    seen: AtomicU32,
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
        crate::sys::wake::install_interrupt()?;
        let watch = fd.as_fd().try_clone_to_owned()?;
        let shared = Arc::new(RiShared::default());
        shared.seen.store(count.rng, Ordering::SeqCst);
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

    /// The RI count the watcher has accounted for: the line's count differs from it while an
    /// edge is still on its way to the queue.
    pub fn seen_count(&self) -> u32 {
        self.shared.seen.load(Ordering::SeqCst)
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
            crate::sys::wake::interrupt(&thread);
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
                shared.seen.store(last, Ordering::SeqCst);
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

/// The ring source of rgetty-ringd: RI edges and SIGUSR1. SIGHUP, SIGCHLD and termination
/// signals end a wait as [`RingEvent::Signal`] before any queued ring is handed out.
#[derive(Debug)]
pub struct SignalRings<'a> {
    sig: &'a Signals,
    ri: Option<&'a RiWatcher>,
    queued: &'a mut VecDeque<Instant>,
}

impl<'a> SignalRings<'a> {
    /// Rings from `sig` (SIGUSR1) and, when given, an RI watcher. `queued` keeps the edges
    /// taken from the watcher and not handed out yet, from one call to the next.
    pub fn new(
        sig: &'a Signals,
        ri: Option<&'a RiWatcher>,
        queued: &'a mut VecDeque<Instant>,
    ) -> Self {
        SignalRings { sig, ri, queued }
    }
}

impl RingSource for SignalRings<'_> {
    fn next_event(&mut self, deadline: Option<Instant>) -> io::Result<Option<RingEvent>> {
        loop {
            let chld = self.sig.chld.load(std::sync::atomic::Ordering::SeqCst);
            if self.sig.term_signal().is_some() || self.sig.hangup() || self.sig.usr2() || chld {
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
            if self.sig.wait(&[], deadline)? == crate::sys::wake::WaitEnd::Timeout {
                return Ok(None);
            }
        }
    }
}

/// What [`CallRings::next`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A ring event that counts towards `rings`: a ring of the phone from this call's source
    /// (fed to the cadence matcher) or a caller-ID line. `fired`: a pattern whose silence had
    /// ended before this ring was seen.
    Ring {
        /// Distinctive-ring number (0 = none).
        dist: i32,
        /// A phone ring or caller-ID data.
        kind: RingKind,
        /// Where it came from.
        via: Via,
        /// A pattern that matched just before this ring.
        fired: Option<Fired>,
        /// What the matcher made of the ring (`None`: no matcher, or not a phone ring).
        outcome: Option<RingOutcome>,
    },
    /// A pattern matched: its silence ended with no further ring.
    Fired(Fired),
    /// A modem result that ends the wait.
    Action(ModemAction),
    /// `timeout` passed with no ring and no cadence under way.
    Timeout,
    /// A signal arrived (the caller looks at its flags).
    Signal,
    /// The line hung up.
    Hangup,
    /// New caller-ID data that is not a ring ([`RingEvent::CallerId`]).
    CallerId,
}

/// The rings of one call in the getty: the cadence matcher (xringd's `-t` and `-i` stay off
/// for the getty), which source's phone rings count ([`SourceLock`]: a modem that pulses RI
/// and also sends `RING` is not counted twice) and when each phone ring came.
#[derive(Debug)]
pub struct CallRings {
    matcher: Option<Matcher>,
    lock: SourceLock,
    epoch: Instant,
    seen: Vec<Duration>,
}

impl CallRings {
    /// A new call; cadence matching when `patterns` is given.
    pub fn new(patterns: Option<&PatternFile>) -> CallRings {
        let epoch = Instant::now();
        CallRings {
            matcher: patterns
                .map(|f| Matcher::new(&f.patterns, MatcherOptions::default(), Duration::ZERO)),
            lock: SourceLock::default(),
            epoch,
            seen: Vec::new(),
        }
    }

    /// Wait for the next step from `src`, at most `timeout` unless a cadence is under way:
    /// then until the pattern fires or can no longer match, so silences longer than the ring
    /// timeout work.
    pub fn next(&mut self, src: &mut dyn RingSource, timeout: Duration) -> io::Result<Heard> {
        // None: no deadline (a timeout too large for the clock).
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let mut until = deadline;
            let mut pending = false;
            if let Some(m) = self.matcher.as_mut() {
                if let Some(f) = m.poll(self.epoch.elapsed()) {
                    return Ok(Heard::Fired(f));
                }
                if let Some(d) = m.next_deadline() {
                    pending = true;
                    until = self.epoch.checked_add(d).or(deadline);
                }
            }
            match src.next_event(until)? {
                None => {
                    if !pending && deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(Heard::Timeout);
                    }
                }
                Some(RingEvent::Signal) => return Ok(Heard::Signal),
                Some(RingEvent::Hangup) => return Ok(Heard::Hangup),
                Some(RingEvent::Action(a)) => return Ok(Heard::Action(a)),
                Some(RingEvent::CallerId) => return Ok(Heard::CallerId),
                Some(RingEvent::Ring {
                    at,
                    via,
                    kind,
                    dist,
                }) => {
                    if let Some(step) = self.ring(at, via, kind, dist) {
                        return Ok(step);
                    }
                }
            }
        }
    }

    /// Count a ring event; `None` when it is the second report of a ring already counted.
    fn ring(&mut self, at: Instant, via: Via, kind: RingKind, dist: i32) -> Option<Heard> {
        let (mut fired, mut outcome) = (None, None);
        if kind == RingKind::Phone {
            if !self.lock.admit(via) {
                log::debug!(
                    "{} ring: this call's rings come from another source",
                    via.name()
                );
                return None;
            }
            let t = at.saturating_duration_since(self.epoch);
            self.seen.push(t);
            if let Some(m) = self.matcher.as_mut() {
                let event = m.ring(t);
                fired = event.fired;
                outcome = Some(event.outcome);
            }
        }
        Some(Heard::Ring {
            dist,
            kind,
            via,
            fired,
            outcome,
        })
    }

    /// The times of this call's phone rings since the first one (for `RING_TIMES`).
    pub fn ring_times(&self) -> Vec<Duration> {
        let first = self.seen.first().copied().unwrap_or_default();
        self.seen.iter().map(|t| t.saturating_sub(first)).collect()
    }

    /// The rings of the cadence under way, if one could still match.
    pub fn cadence_under_way(&self) -> Option<usize> {
        self.matcher
            .as_ref()
            .filter(|m| m.could_still_match())
            .map(Matcher::ring_count)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::path::Path;

    /// A scripted ring source for tests: events at given offsets from a start time.
    #[derive(Debug)]
    struct Scripted {
        start: Instant,
        events: VecDeque<(Duration, RingEvent)>,
    }

    impl Scripted {
        /// RI edges at `offsets` after `start` (phone rings, dist 0).
        fn ri_edges(start: Instant, offsets: &[Duration]) -> Scripted {
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
        fn push(&mut self, offset: Duration, event: RingEvent) {
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

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// TWO `R 0.2-0.6 R 0.5`, THREE `R 0.2-0.6 R 0.2-0.6 R 0.5` (the table, scaled down).
    fn patterns() -> PatternFile {
        let text = "R 0.2-0.6 R 0.5 : two\nR 0.2-0.6 R 0.2-0.6 R 0.5 : three\n";
        let (file, errors) = crate::config::xringd::parse(text, Path::new("p"));
        assert!(errors.is_empty(), "{errors:?}");
        file
    }

    /// Drive `src` the way the getty's ring state does, answering at `wanted` rings; returns
    /// the fired command (or "answer"/"timeout") and the rings counted.
    fn drive(src: &mut dyn RingSource, wanted: u32) -> (String, u32) {
        let file = patterns();
        let mut call = CallRings::new(Some(&file));
        let mut rings = 0;
        while rings < wanted {
            match call.next(src, Duration::from_secs(3)).unwrap() {
                Heard::Ring { fired: Some(f), .. } | Heard::Fired(f) => return (f.command, rings),
                Heard::Ring { .. } => rings += 1,
                other => return (format!("{other:?}"), rings),
            }
        }
        ("answer".into(), rings)
    }

    #[test]
    fn the_getty_matches_a_cadence_from_injected_ri_edges() {
        let mut src = Scripted::ri_edges(Instant::now(), &[ms(0), ms(400)]);
        assert_eq!(drive(&mut src, 5), ("two".into(), 2));
        let mut src = Scripted::ri_edges(Instant::now(), &[ms(0), ms(400), ms(800)]);
        assert_eq!(drive(&mut src, 5), ("three".into(), 3));
        // The threshold wins over a cadence under way.
        let mut src = Scripted::ri_edges(Instant::now(), &[ms(0), ms(400), ms(800)]);
        assert_eq!(drive(&mut src, 2), ("answer".into(), 2));
        // A gap that fits no pattern: no match, the phone stops ringing.
        let mut src = Scripted::ri_edges(Instant::now(), &[ms(0), ms(1500)]);
        let (end, _) = drive(&mut src, 5);
        assert!(end.contains("Hangup") || end.contains("Timeout"), "{end}");
    }

    #[test]
    fn a_modem_that_sends_ring_and_pulses_ri_counts_each_ring_once() {
        let t0 = Instant::now();
        let mut src = Scripted::ri_edges(t0, &[]);
        for (d, via) in [
            (0, Via::Text),
            (100, Via::Ri),
            (400, Via::Text),
            (500, Via::Ri),
        ] {
            let ev = RingEvent::Ring {
                at: t0 + ms(d),
                via,
                kind: RingKind::Phone,
                dist: 0,
            };
            src.push(ms(d), ev);
        }
        assert_eq!(drive(&mut src, 5), ("two".into(), 2));
    }

    #[test]
    fn caller_id_lines_count_but_are_not_rings_of_a_cadence() {
        let t0 = Instant::now();
        let mut src = Scripted::ri_edges(t0, &[ms(0)]);
        src.push(
            ms(200),
            RingEvent::Ring {
                at: t0 + ms(200),
                via: Via::Text,
                kind: RingKind::CallerId,
                dist: 0,
            },
        );
        src.push(
            ms(400),
            RingEvent::Ring {
                at: t0 + ms(400),
                via: Via::Ri,
                kind: RingKind::Phone,
                dist: 0,
            },
        );
        // Counted: 2 phone rings + 1 caller-ID line; the cadence is still TWO.
        assert_eq!(drive(&mut src, 5), ("two".into(), 3));
    }
}
