//! xringd.conf: `config::xringd::parse`, then `ring::Matcher` fed each parsed pattern's own
//! cadence (it must fire that pattern) and a ring sequence taken from the input.
//!
//! Input: file text, optionally followed by a NUL and ring gaps (two bytes each, in 10 ms).
#![no_main]

use std::path::Path;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use rgetty::config::xringd::{Cadence, parse};
use rgetty::proto::ring::{Matcher, MatcherOptions, RingOutcome, format_ring_times};

/// Each pattern alone, rung exactly in the middle of its gap windows: counted ring by ring, and
/// it fires once its silence has passed, with the ring times it was given.
fn own_cadence(p: &Cadence) {
    let mut m = Matcher::new(
        std::slice::from_ref(p),
        MatcherOptions::default(),
        Duration::ZERO,
    );
    let start = Duration::from_secs(1);
    let mut t = start;
    let mut expect_times = vec![Duration::ZERO];
    let ev = m.ring(t);
    assert_eq!(ev.fired, None);
    assert_eq!(ev.outcome, RingOutcome::Counted { count: 1 });
    for (i, g) in p.gaps.iter().enumerate() {
        t += (g.min + g.max) / 2;
        expect_times.push(t - start);
        let ev = m.ring(t);
        assert_eq!(ev.fired, None, "{p:?}");
        assert_eq!(ev.outcome, RingOutcome::Counted { count: i + 2 }, "{p:?}");
    }
    let fired = m
        .poll(t + p.silence)
        .expect("a pattern fires on its own cadence");
    assert_eq!(fired.index, 0);
    assert_eq!(fired.ring_times, expect_times);
    assert_eq!(fired.at, t + p.silence);
    let _ = fired.ring_times_env();
}

fuzz_target!(|data: &[u8]| {
    let (text, gaps) = match data.iter().position(|&b| b == 0) {
        Some(p) => (&data[..p], &data[p + 1..]),
        None => (data, &[][..]),
    };
    let text = String::from_utf8_lossy(text);
    let (file, errors) = parse(&text, Path::new("/etc/xringd.conf"));
    let lines = text.lines().count();
    for e in &errors {
        assert!((1..=lines).contains(&e.loc.line), "{e}");
    }
    for p in &file.patterns {
        assert!(p.gaps.iter().all(|g| g.min <= g.max));
        assert!(!p.command.is_empty());
        own_cadence(p);
    }

    // all patterns at once, driven like the daemon's event loop
    let opts = MatcherOptions {
        init: file.options.init.unwrap_or_default(),
        merge: file.options.merge.unwrap_or_default(),
    };
    let mut m = Matcher::new(&file.patterns, opts, Duration::ZERO);
    let mut now = Duration::ZERO;
    for pair in gaps.chunks(2) {
        let step = u64::from(pair[0]) << 8 | u64::from(*pair.get(1).unwrap_or(&0));
        now += Duration::from_millis(step * 10);
        while let Some(d) = m.next_deadline().filter(|d| *d < now) {
            if let Some(f) = m.poll(d) {
                assert!(f.index < file.patterns.len());
                assert_eq!(f.ring_count(), file.patterns[f.index].rings());
            }
        }
        let ev = m.ring(now);
        if let Some(f) = ev.fired {
            assert!(f.index < file.patterns.len());
        }
        assert!(m.ring_count() <= file.patterns.iter().map(Cadence::rings).max().unwrap_or(0));
        let _ = format_ring_times(&m.ring_times());
    }
    while let Some(d) = m.next_deadline() {
        if let Some(f) = m.poll(d) {
            assert_eq!(f.ring_count(), file.patterns[f.index].rings());
        }
        now = d;
    }
    let _ = now;
    assert!(!m.could_still_match());
});
