//! Reset sequences: `reset_seq::parse` and `parse_named` on any text return at most
//! `MAX_STEPS` steps with waits of at most `MAX_WAIT_MS`; `esp_reset::Recogniser` fed any
//! stream of RFC 2217 DTR/RTS SET-CONTROLs at any pace never panics (what it recognises is
//! checked by the unit tests of `esp_reset`).
//!
//! Input: for the recogniser, one byte per SET-CONTROL (bit 0: DTR, else RTS; bit 1: on; the
//! other bits: milliseconds since the one before, times 8); the same bytes as lossy UTF-8 for
//! the parsers.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use rgetty::proto::esp_reset::Recogniser;
use rgetty::proto::reset_seq::{MAX_STEPS, MAX_WAIT_MS, Phase, parse, parse_named};

fn check(phases: &[Phase]) {
    assert!(phases.len() <= MAX_STEPS);
    for p in phases {
        if let Phase::Wait(d) = p {
            assert!(*d <= Duration::from_millis(MAX_WAIT_MS));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = parse(&text) {
        check(&p);
    }
    if let Ok((name, p)) = parse_named(&text) {
        assert!(!name.is_empty());
        check(&p);
    }
    let mut r = Recogniser::default();
    let mut now = Instant::now();
    for &b in data {
        now += Duration::from_millis(u64::from(b >> 2) * 8);
        let _ = r.feed(b & 1 != 0, b & 2 != 0, now);
    }
});
