//! Ring cadence matcher: follows xringd-style patterns over ring timestamps.
//!
//! Pure: no clock, no I/O. The caller feeds ring times as [`Duration`]s since any fixed epoch
//! (an `Instant` taken at start-up works) and sleeps until [`Matcher::next_deadline`], then
//! calls [`Matcher::poll`]. Behaviour follows xringd 1.20 as observed (`docs/behaviour.md`
//! §R2); where it does not say, xringd 1.20 itself was run with its RI ioctls faked:
//!
//! - all patterns are followed at once from the first ring;
//! - a ring whose gap fits no live pattern **resets** the machine: that ring is dropped (it does
//!   not start a new sequence) and the init time starts again from it (xringd does the same:
//!   with `-t 3`, rings at 0, 1, 3.5 give a reset at 1 and ignore the ring at 3.5);
//! - a ring that arrives during a pattern's silence cancels that pattern (other live patterns
//!   may still take it, e.g. `R 2-4 R 5` and `R 2-4 R 2-4 R 5` sharing a prefix);
//! - a pattern fires when its last ring is followed by its full silence; the earliest such
//!   deadline wins, file order breaks ties; a match resets the machine (with the init time);
//! - when every live pattern has waited longer than its largest allowed gap with no pattern
//!   waiting out its silence, the machine resets (xringd's "max wait" alarm), with the init time;
//! - the init time (`-t`): rings before `epoch + init` are ignored; every reset (start,
//!   [`Matcher::reset`], a mismatch, a match, a max-wait expiry) restarts it;
//! - the merge window (`-i`): a ring closer than the window to the previous ring that was not
//!   itself merged is dropped (double-beep countries).
//!
//! Deliberate difference: xringd measures gaps with `time(2)` in whole seconds, so two rings
//! 0.4 s apart have a gap of 0, and a gap of 0 passes any range check (`0, 0.4` fired
//! `R 2-4 R 5`). Times here are millisecond-exact, so that cadence resets instead. A single
//! number `n` as a gap is widened to `n ± 0.5 s` by the parser (see [`crate::config::xringd`]).

use std::time::Duration;

use crate::config::Location;
use crate::config::xringd::Cadence;

/// The step used to wake up just after a gap window closes (windows are closed intervals).
const TICK: Duration = Duration::from_millis(1);

/// Timing options of the matcher (`-t` and `-i` of xringd).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MatcherOptions {
    /// After start or any reset, ignore rings for this long (xringd `-t`, default 15 s there).
    pub init: Duration,
    /// Rings closer than this to the previous ring count as one (xringd `-i`); zero = off.
    pub merge: Duration,
}

/// A pattern that matched: run its command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// Index of the pattern in the slice the matcher was built from.
    pub index: usize,
    /// The pattern's command (admin text for `/bin/sh -c`).
    pub command: String,
    /// Where the pattern was defined.
    pub loc: Location,
    /// When the silence ended (the time the pattern fired), on the caller's clock.
    pub at: Duration,
    /// Times of the matched rings since the first one (the first is zero).
    pub ring_times: Vec<Duration>,
}

impl Fired {
    /// Number of rings that made up the match.
    pub fn ring_count(&self) -> usize {
        self.ring_times.len()
    }

    /// The ring times formatted for the `RING_TIMES` environment variable.
    pub fn ring_times_env(&self) -> String {
        format_ring_times(&self.ring_times)
    }
}

/// What a ring did to the matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingOutcome {
    /// Closer than the merge window to the previous ring: taken as part of it, nothing else.
    Merged,
    /// Arrived during the init time: ignored (the per-ring `-a` command still runs, as in xringd).
    Ignored,
    /// Counted as ring `count` (1-based) of the current sequence.
    Counted {
        /// Rings in the sequence so far, this one included.
        count: usize,
    },
    /// Fit no live pattern: the machine was reset and the init time restarted.
    Reset,
}

impl RingOutcome {
    /// Whether this was a ring in its own right (not merged into the previous one): the per-ring
    /// command runs for these.
    pub fn is_ring(&self) -> bool {
        !matches!(self, RingOutcome::Merged)
    }
}

/// Result of [`Matcher::ring`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingReport {
    /// A pattern whose silence had already ended before this ring (the caller polled late);
    /// it is reported first, then the ring is handled against the reset machine.
    pub fired: Option<Fired>,
    /// What the ring itself did.
    pub outcome: RingOutcome,
}

/// Follows every pattern at once over a stream of ring times.
#[derive(Debug, Clone)]
pub struct Matcher {
    patterns: Vec<Cadence>,
    opts: MatcherOptions,
    /// Rings before this time are ignored.
    init_until: Duration,
    /// The last ring that was not merged (reference for the merge window).
    last_ring: Option<Duration>,
    /// Absolute times of the rings in the current sequence (empty = idle).
    seq: Vec<Duration>,
    /// Indices of the patterns that still fit the sequence, ascending.
    live: Vec<usize>,
}

impl Matcher {
    /// A matcher over copies of `patterns`, started at `now` (the init time runs from here).
    pub fn new(patterns: &[Cadence], opts: MatcherOptions, now: Duration) -> Self {
        Matcher {
            patterns: patterns.to_vec(),
            opts,
            init_until: now.saturating_add(opts.init),
            last_ring: None,
            seq: Vec::new(),
            live: Vec::new(),
        }
    }

    /// The patterns being followed, in file order.
    pub fn patterns(&self) -> &[Cadence] {
        &self.patterns
    }

    /// Forget the current sequence and restart the init time at `now` (xringd's SIGHUP reset).
    pub fn reset(&mut self, now: Duration) {
        self.reset_at(now);
        self.last_ring = None;
    }

    /// Reset the sequence with the init time running from `at`.
    fn reset_at(&mut self, at: Duration) {
        self.seq.clear();
        self.live.clear();
        self.init_until = at.saturating_add(self.opts.init);
    }

    /// Feed one ring seen at `at`. Times must not go backwards (an earlier time is treated as
    /// equal to the latest one seen).
    pub fn ring(&mut self, at: Duration) -> RingReport {
        let at = self.seq.last().map_or(at, |last| at.max(*last));
        let fired = self.poll(at);
        let outcome = self.take_ring(at);
        RingReport { fired, outcome }
    }

    fn take_ring(&mut self, at: Duration) -> RingOutcome {
        let merged = self
            .last_ring
            .is_some_and(|prev| at.saturating_sub(prev) < self.opts.merge);
        if merged {
            return RingOutcome::Merged;
        }
        self.last_ring = Some(at);
        if at < self.init_until {
            return RingOutcome::Ignored;
        }
        let Some(&last) = self.seq.last() else {
            if self.patterns.is_empty() {
                self.reset_at(at);
                return RingOutcome::Reset;
            }
            self.seq.push(at);
            self.live = (0..self.patterns.len()).collect();
            return RingOutcome::Counted { count: 1 };
        };
        let gap = at.saturating_sub(last);
        let gap_index = self.seq.len() - 1;
        let patterns = &self.patterns;
        // A pattern whose gaps are all used up is waiting out its silence: this ring breaks it.
        self.live.retain(|&i| {
            patterns[i]
                .gaps
                .get(gap_index)
                .is_some_and(|range| range.contains(gap))
        });
        if self.live.is_empty() {
            self.reset_at(at);
            return RingOutcome::Reset;
        }
        self.seq.push(at);
        RingOutcome::Counted {
            count: self.seq.len(),
        }
    }

    /// Advance the clock to `now`: fire a pattern whose silence has ended, drop patterns whose
    /// next gap can no longer be met, and reset when none is left. Call it at
    /// [`Matcher::next_deadline`] (calling it more often is harmless).
    pub fn poll(&mut self, now: Duration) -> Option<Fired> {
        let &last = self.seq.last()?;
        let n = self.seq.len();
        let due = self
            .live
            .iter()
            .filter(|&&i| self.patterns[i].gaps.len() + 1 == n)
            .map(|&i| (last.saturating_add(self.patterns[i].silence), i))
            .filter(|(deadline, _)| *deadline <= now)
            .min();
        if let Some((deadline, index)) = due {
            let pattern = &self.patterns[index];
            let first = self.seq[0];
            let fired = Fired {
                index,
                command: pattern.command.clone(),
                loc: pattern.loc.clone(),
                at: deadline,
                ring_times: self.seq.iter().map(|t| t.saturating_sub(first)).collect(),
            };
            self.reset_at(deadline);
            return Some(fired);
        }
        let patterns = &self.patterns;
        let mut expired_at = last;
        self.live.retain(|&i| match patterns[i].gaps.get(n - 1) {
            // Waiting out its silence: stays until it fires or a ring breaks it.
            None => true,
            Some(range) => {
                let close = last.saturating_add(range.max);
                if now > close {
                    expired_at = expired_at.max(close);
                    false
                } else {
                    true
                }
            }
        });
        if self.live.is_empty() {
            self.reset_at(expired_at);
        }
        None
    }

    /// When [`Matcher::poll`] next has something to do: the earliest end of a silence or of a
    /// gap window. `None` when idle (no sequence under way).
    pub fn next_deadline(&self) -> Option<Duration> {
        let &last = self.seq.last()?;
        let n = self.seq.len();
        self.live
            .iter()
            .map(|&i| match self.patterns[i].gaps.get(n - 1) {
                None => last.saturating_add(self.patterns[i].silence),
                Some(range) => last.saturating_add(range.max).saturating_add(TICK),
            })
            .min()
    }

    /// Whether some pattern still fits the rings seen so far (a sequence is under way).
    pub fn could_still_match(&self) -> bool {
        !self.live.is_empty()
    }

    /// Number of rings in the current sequence (0 when idle).
    pub fn ring_count(&self) -> usize {
        self.seq.len()
    }

    /// Times of the rings in the current sequence since its first ring.
    pub fn ring_times(&self) -> Vec<Duration> {
        let first = self.seq.first().copied().unwrap_or_default();
        self.seq.iter().map(|t| t.saturating_sub(first)).collect()
    }

    /// Whether a ring at `at` would be ignored because the init time is still running.
    pub fn in_init(&self, at: Duration) -> bool {
        at < self.init_until
    }
}

/// Format ring times as `RING_TIMES` wants them: seconds with one decimal, space separated
/// (`"0.0 3.0 6.1"`).
pub fn format_ring_times(times: &[Duration]) -> String {
    times
        .iter()
        .map(|t| format!("{:.1}", t.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Patterns that can never fire when the getty answers at ring `rings_threshold`: a pattern of
/// N rings needs silence after its Nth ring, and the getty picks up on that ring instead, so
/// every pattern with `rings() >= rings_threshold` is unreachable. For `rgetty --check`.
pub fn unreachable_patterns(patterns: &[Cadence], rings_threshold: u32) -> Vec<&Cadence> {
    let threshold = usize::try_from(rings_threshold).unwrap_or(usize::MAX);
    patterns.iter().filter(|p| p.rings() >= threshold).collect()
}

/// Where a ring came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Modem text on the line (`RING`, caller-ID lines).
    Text,
    /// An edge of the RI pin.
    Ri,
    /// SIGUSR1 (a simulated ring).
    Signal,
}

impl Via {
    /// The source's name for the log.
    pub fn name(self) -> &'static str {
        match self {
            Via::Text => "RING",
            Via::Ri => "RI",
            Via::Signal => "SIGUSR1",
        }
    }
}

/// Which source's phone rings count in one call.
///
/// A modem may report a ring twice, as `RING` text and as a pulse on the RI pin, or only on
/// the pin. The first source that delivers a phone ring in a call becomes that call's source;
/// phone rings from the other source are then left out, so no ring counts twice. SIGUSR1 (a
/// simulated ring) always counts. Start a new lock for every call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceLock(Option<Via>);

impl SourceLock {
    /// Whether a phone ring from `via` counts (and lock the call to `via` if it is the first).
    pub fn admit(&mut self, via: Via) -> bool {
        if via == Via::Signal {
            return true;
        }
        *self.0.get_or_insert(via) == via
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::xringd::{GapRange, parse};
    use proptest::prelude::*;
    use std::path::{Path, PathBuf};

    #[test]
    fn the_first_source_of_a_call_wins() {
        let mut lock = SourceLock::default();
        assert!(lock.admit(Via::Signal));
        assert!(lock.admit(Via::Text));
        assert!(!lock.admit(Via::Ri), "the RI pulse of the same ring");
        assert!(lock.admit(Via::Text) && lock.admit(Via::Signal));
        let mut lock = SourceLock::default();
        assert!(lock.admit(Via::Ri));
        assert!(!lock.admit(Via::Text));
        assert!(lock.admit(Via::Ri));
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// The manual's example scaled 4x down, as in docs/behaviour.md §R2.
    const TABLE_CONF: &str = "R 2-4 R 5 : TWO\nR 2-4 R 2-4 R 5 : THREE\nR 8-12 R 5 : SLOW\n";

    fn patterns(text: &str) -> Vec<Cadence> {
        let (f, errs) = parse(text, Path::new("t.conf"));
        assert!(errs.is_empty(), "{errs:?}");
        f.patterns
    }

    /// Drive a matcher like an event loop would: before each ring, poll at every deadline that
    /// falls before it; after the last ring, poll until idle. Returns (command, fire time ms).
    fn drive(m: &mut Matcher, rings_ms: &[u64]) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let mut record = |f: Fired| out.push((f.command, f.at.as_millis() as u64));
        for &r in rings_ms {
            while let Some(d) = m.next_deadline().filter(|d| *d < ms(r)) {
                if let Some(f) = m.poll(d) {
                    record(f);
                }
            }
            let ev = m.ring(ms(r));
            assert_eq!(ev.fired, None, "late fire at ring {r}");
        }
        let mut guard = 0;
        while let Some(d) = m.next_deadline() {
            if let Some(f) = m.poll(d) {
                record(f);
            }
            guard += 1;
            assert!(guard < 100, "no progress");
        }
        out
    }

    fn run(conf: &str, opts: MatcherOptions, rings_ms: &[u64]) -> Vec<(String, u64)> {
        let mut m = Matcher::new(&patterns(conf), opts, Duration::ZERO);
        drive(&mut m, rings_ms)
    }

    #[test]
    fn observed_table() {
        // docs/behaviour.md §R2, times in ms; the 0/0.4 row is the fixed bug.
        type Row = (&'static [u64], &'static [(&'static str, u64)]);
        let table: &[Row] = &[
            (&[0, 3000], &[("TWO", 8000)]),
            (&[0, 3000, 6000], &[("THREE", 11_000)]),
            (&[0, 10_000], &[("SLOW", 15_000)]),
            (&[0], &[]),
            (&[0, 1000], &[]),
            (&[0, 3000, 6000, 9000], &[]),
            (&[0, 400], &[]),
        ];
        for (rings, want) in table {
            let got = run(TABLE_CONF, MatcherOptions::default(), rings);
            let want: Vec<(String, u64)> = want.iter().map(|(c, t)| (c.to_string(), *t)).collect();
            assert_eq!(got, want, "rings {rings:?}");
        }
    }

    #[test]
    fn ring_outcomes_and_counts() {
        let mut m = Matcher::new(&patterns(TABLE_CONF), MatcherOptions::default(), ms(0));
        assert_eq!(m.ring(ms(0)).outcome, RingOutcome::Counted { count: 1 });
        assert!(m.could_still_match());
        assert_eq!(m.next_deadline(), Some(ms(4001)));
        assert_eq!(m.ring(ms(3000)).outcome, RingOutcome::Counted { count: 2 });
        assert_eq!(m.ring_count(), 2);
        assert_eq!(m.ring_times(), vec![ms(0), ms(3000)]);
        // TWO waits out its silence (8 s), THREE waits for a ring until 7 s: THREE expires first.
        assert_eq!(m.next_deadline(), Some(ms(7001)));
        assert_eq!(m.poll(ms(7001)), None);
        assert!(m.could_still_match());
        assert_eq!(m.next_deadline(), Some(ms(8000)));
        assert_eq!(m.poll(ms(7999)), None);
        let f = m.poll(ms(8000)).unwrap();
        assert_eq!((f.index, f.command.as_str(), f.ring_count()), (0, "TWO", 2));
        assert_eq!(f.ring_times_env(), "0.0 3.0");
        assert_eq!(f.loc.to_string(), "t.conf:1");
        assert!(!m.could_still_match());
        assert_eq!(m.ring_count(), 0);
        assert_eq!(m.next_deadline(), None);
    }

    #[test]
    fn shared_prefix() {
        // Both start alike; the third ring drops TWO (its silence is broken), THREE goes on.
        let conf = "R 2-4 R 5 : TWO\nR 2-4 R 2-4 R 5 : THREE\n";
        assert_eq!(
            run(conf, MatcherOptions::default(), &[0, 2500, 6000]),
            vec![("THREE".to_string(), 11_000)]
        );
        // Same rings, but the shorter pattern's silence ends before the longer one's next gap
        // could: the earliest deadline wins and the match resets the machine.
        let conf = "R 2-4 R 1 : SHORT\nR 2-4 R 2-4 R 5 : LONG\n";
        assert_eq!(
            run(conf, MatcherOptions::default(), &[0, 3000]),
            vec![("SHORT".to_string(), 4000)]
        );
        // Identical cadences: file order breaks the tie, only one fires.
        let conf = "R 2-4 R 5 : FIRST\nR 2-4 R 5 : SECOND\n";
        assert_eq!(
            run(conf, MatcherOptions::default(), &[0, 3000]),
            vec![("FIRST".to_string(), 8000)]
        );
    }

    #[test]
    fn ring_during_silence_cancels() {
        // TWO waits 5 s after the ring at 3: a ring at 7 breaks it and fits nothing else.
        let got = run(TABLE_CONF, MatcherOptions::default(), &[0, 3000, 7500]);
        assert_eq!(got, vec![]);
        let mut m = Matcher::new(
            &patterns("R 2-4 R 5 : TWO\n"),
            MatcherOptions::default(),
            ms(0),
        );
        m.ring(ms(0));
        m.ring(ms(3000));
        assert_eq!(m.ring(ms(7999)).outcome, RingOutcome::Reset);
        assert_eq!(m.poll(ms(20_000)), None);
    }

    #[test]
    fn late_poll_fires_before_the_ring() {
        let mut m = Matcher::new(&patterns(TABLE_CONF), MatcherOptions::default(), ms(0));
        m.ring(ms(0));
        m.ring(ms(3000));
        // Nobody polled at 8 s; the ring at exactly 8 s comes after the full silence.
        let ev = m.ring(ms(8000));
        assert_eq!(ev.fired.map(|f| f.command), Some("TWO".to_string()));
        assert_eq!(ev.outcome, RingOutcome::Counted { count: 1 });
    }

    #[test]
    fn merge_window() {
        let opts = MatcherOptions {
            merge: ms(500),
            ..Default::default()
        };
        // Double beeps 300 ms apart count as one ring each.
        assert_eq!(
            run(TABLE_CONF, opts, &[0, 300, 3000, 3300]),
            vec![("TWO".to_string(), 8000)]
        );
        // Without merging, the 300 ms gap resets the machine.
        assert_eq!(
            run(TABLE_CONF, MatcherOptions::default(), &[0, 300, 3000, 3300]),
            vec![]
        );
        let mut m = Matcher::new(&patterns(TABLE_CONF), opts, ms(0));
        assert_eq!(m.ring(ms(0)).outcome, RingOutcome::Counted { count: 1 });
        assert_eq!(m.ring(ms(499)).outcome, RingOutcome::Merged);
        assert!(!RingOutcome::Merged.is_ring());
        // The window runs from the last ring that counted, not from the merged one.
        assert_eq!(m.ring(ms(900)).outcome, RingOutcome::Reset);
    }

    #[test]
    fn init_time() {
        let opts = MatcherOptions {
            init: ms(2000),
            ..Default::default()
        };
        // Rings before 2 s are ignored; 2.5 and 5.5 make TWO.
        assert_eq!(
            run(TABLE_CONF, opts, &[0, 1000, 2500, 5500]),
            vec![("TWO".to_string(), 10_500)]
        );
        let mut m = Matcher::new(&patterns(TABLE_CONF), opts, ms(0));
        assert_eq!(m.ring(ms(1999)).outcome, RingOutcome::Ignored);
        assert!(RingOutcome::Ignored.is_ring());
        assert_eq!(m.ring(ms(2000)).outcome, RingOutcome::Counted { count: 1 });
        // A reset (SIGHUP) restarts the init time.
        m.reset(ms(10_000));
        assert!(m.in_init(ms(11_999)));
        assert_eq!(m.ring(ms(11_000)).outcome, RingOutcome::Ignored);
        assert_eq!(
            m.ring(ms(12_000)).outcome,
            RingOutcome::Counted { count: 1 }
        );
        // A mismatch resets too (xringd: rings 0, 1, 3.5 with -t 3 fire nothing).
        let opts3 = MatcherOptions {
            init: ms(3000),
            ..Default::default()
        };
        assert_eq!(run(TABLE_CONF, opts3, &[3000, 4000, 6500, 9500]), vec![]);
        // ... and so does the max-wait expiry (xringd: rings 0, 4.5, 7.5 with -t 2 and only
        // `R 2-4 R 5`: the reset at 4 s hides the ring at 4.5 s).
        let opts2 = MatcherOptions {
            init: ms(2000),
            ..Default::default()
        };
        assert_eq!(run("R 2-4 R 5 : TWO\n", opts2, &[2000, 6500, 9500]), vec![]);
        // With no init time the ring at 6.5 s starts a new sequence after the expiry.
        assert_eq!(
            run(
                "R 2-4 R 5 : TWO\n",
                MatcherOptions::default(),
                &[2000, 6500, 9500]
            ),
            vec![("TWO".to_string(), 14_500)]
        );
    }

    #[test]
    fn reset_after_match() {
        // Two full TWO cadences back to back: the match resets and the next one fires again.
        let got = run(
            TABLE_CONF,
            MatcherOptions::default(),
            &[0, 3000, 9000, 12_000],
        );
        assert_eq!(
            got,
            vec![("TWO".to_string(), 8000), ("TWO".to_string(), 17_000)]
        );
        // With an init time the second cadence starts too soon after the match and is lost
        // in part: the ring at 11 s is ignored (init until 12 s), 14 s is a lone ring.
        let opts = MatcherOptions {
            init: ms(2000),
            ..Default::default()
        };
        let got = run(TABLE_CONF, opts, &[2000, 5000, 11_000, 14_000]);
        assert_eq!(got, vec![("TWO".to_string(), 10_000)]);
    }

    #[test]
    fn decimals_and_exact_numbers() {
        let conf = "R 0.5-1.5 R 0.8 : FAST\nR 3 R 2 : EXACT\n";
        assert_eq!(
            run(conf, MatcherOptions::default(), &[0, 1200]),
            vec![("FAST".to_string(), 2000)]
        );
        assert_eq!(run(conf, MatcherOptions::default(), &[0, 400]), vec![]);
        assert_eq!(run(conf, MatcherOptions::default(), &[0, 1600]), vec![]);
        // `3` alone means 2.5 ..= 3.5 s.
        for (gap, fires) in [
            (2499, false),
            (2500, true),
            (3000, true),
            (3500, true),
            (3501, false),
        ] {
            let got = run(conf, MatcherOptions::default(), &[0, gap]);
            assert_eq!(!got.is_empty(), fires, "gap {gap}");
        }
    }

    #[test]
    fn single_ring_pattern_and_zero_silence() {
        let conf = "R 4 : ONE\nR 2-3 R 0 : NOW\n";
        assert_eq!(
            run(conf, MatcherOptions::default(), &[0]),
            vec![("ONE".to_string(), 4000)]
        );
        assert_eq!(
            run(conf, MatcherOptions::default(), &[0, 2000]),
            vec![("NOW".to_string(), 2000)]
        );
    }

    #[test]
    fn times_going_backwards_do_not_panic() {
        let mut m = Matcher::new(&patterns(TABLE_CONF), MatcherOptions::default(), ms(5000));
        m.ring(ms(5000));
        let ev = m.ring(ms(1000));
        assert_eq!(ev.outcome, RingOutcome::Reset);
        assert_eq!(m.poll(Duration::ZERO), None);
        let opts = MatcherOptions {
            init: ms(1000),
            merge: ms(1000),
        };
        let mut m = Matcher::new(&patterns(TABLE_CONF), opts, Duration::MAX);
        assert_eq!(m.ring(ms(0)).outcome, RingOutcome::Ignored);
        let mut m = Matcher::new(
            &patterns("R 1-2 R 86400 : x\n"),
            MatcherOptions::default(),
            ms(0),
        );
        m.ring(Duration::MAX - ms(1500));
        m.ring(Duration::MAX);
        assert_eq!(m.next_deadline(), Some(Duration::MAX));
        let mut m = Matcher::new(&[], MatcherOptions::default(), ms(0));
        assert_eq!(m.ring(ms(0)).outcome, RingOutcome::Reset);
        assert_eq!(m.next_deadline(), None);
    }

    #[test]
    fn ring_times_format() {
        assert_eq!(format_ring_times(&[]), "");
        assert_eq!(
            format_ring_times(&[ms(0), ms(3040), ms(6060)]),
            "0.0 3.0 6.1"
        );
    }

    #[test]
    fn unreachable() {
        let pats = patterns(TABLE_CONF);
        let names = |t: u32| -> Vec<&str> {
            unreachable_patterns(&pats, t)
                .iter()
                .map(|p| p.command.as_str())
                .collect()
        };
        assert_eq!(names(4), Vec::<&str>::new());
        assert_eq!(names(3), vec!["THREE"]);
        assert_eq!(names(2), vec!["TWO", "THREE", "SLOW"]);
    }

    // ---- property tests ----

    fn pat(index: usize, gaps: Vec<GapRange>, silence: Duration) -> Cadence {
        Cadence {
            loc: Location {
                path: PathBuf::from("p.conf"),
                line: index + 1,
            },
            gaps,
            silence,
            command: format!("P{index}"),
        }
    }

    /// Patterns of 2..=4 rings; every gap range of pattern i lies in band i
    /// ([20 s * i + 1 s, 20 s * i + 19 s]), so a gap inside one pattern's range fits no other.
    fn pattern_set() -> impl Strategy<Value = Vec<Cadence>> {
        proptest::collection::vec(
            (
                proptest::collection::vec((0u64..10_000, 0u64..8_000), 1..4),
                0u64..20_000,
            ),
            1..6,
        )
        .prop_map(|specs| {
            specs
                .into_iter()
                .enumerate()
                .map(|(i, (gaps, silence))| {
                    let band = 20_000 * i as u64 + 1000;
                    let gaps = gaps
                        .into_iter()
                        .map(|(lo, w)| GapRange {
                            min: ms(band + lo),
                            max: ms(band + lo + w),
                        })
                        .collect();
                    pat(i, gaps, ms(silence))
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn cadence_of_p_fires_exactly_p(
            pats in pattern_set(),
            pick in any::<proptest::sample::Index>(),
            fractions in proptest::collection::vec(0u64..=1000, 4),
            start in 0u64..100_000,
        ) {
            let p = pick.get(&pats);
            let mut rings = vec![start];
            for (range, f) in p.gaps.iter().zip(&fractions) {
                let (lo, hi) = (range.min.as_millis() as u64, range.max.as_millis() as u64);
                let gap = lo + (hi - lo) * f / 1000;
                rings.push(rings.last().unwrap() + gap);
            }
            let last = *rings.last().unwrap();
            let mut m = Matcher::new(&pats, MatcherOptions::default(), Duration::ZERO);
            let got = drive(&mut m, &rings);
            let want = (p.command.clone(), last + p.silence.as_millis() as u64);
            prop_assert_eq!(got, vec![want]);
        }

        #[test]
        fn random_rings_fire_only_real_matches(
            pats in pattern_set(),
            gaps in proptest::collection::vec(0u64..70_000, 0..8),
            merge in 0u64..600,
            init in 0u64..3000,
        ) {
            let opts = MatcherOptions { init: ms(init), merge: ms(merge) };
            let mut m = Matcher::new(&pats, opts, Duration::ZERO);
            let mut t = 0;
            let mut fired = Vec::new();
            for g in gaps {
                t += g;
                while let Some(d) = m.next_deadline().filter(|d| *d < ms(t)) {
                    fired.extend(m.poll(d));
                }
                fired.extend(m.ring(ms(t)).fired);
            }
            while let Some(d) = m.next_deadline() {
                fired.extend(m.poll(d));
            }
            for f in fired {
                let p = &pats[f.index];
                prop_assert_eq!(f.ring_count(), p.rings());
                for (w, range) in f.ring_times.windows(2).zip(&p.gaps) {
                    prop_assert!(range.contains(w[1] - w[0]));
                }
            }
        }
    }
}
