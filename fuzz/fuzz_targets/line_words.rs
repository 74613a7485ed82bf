//! The words that set up a line: `proto::speed::{parse, parse_any, atoi}`, `proto::stty::parse`
//! (`stty=`, `init-stty`), `proto::rs485::parse` and `describe`, `proto::sanitize`. A speed
//! parsed is one the tty layer can set, `stty` is all or nothing, an RS-485 setting's delays
//! stay within `MAX_DELAY_MS` and its description parses back to it, and sanitised text is
//! printable (and, for an argv, never starts with `-`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgetty::proto::{rs485, sanitize, speed, stty};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(bps) = speed::parse(&text) {
        assert!(speed::is_valid(bps));
    }
    if let Some(bps) = speed::parse_any(&text) {
        assert!((1..=speed::MAX_ANY).contains(&bps));
        assert_eq!(bps.to_string(), text.trim_start_matches('0'));
    }
    let _ = speed::atoi(&text);
    match stty::parse(&text) {
        Ok(words) => assert_eq!(words.len(), text.split_whitespace().count()),
        Err(bad) => assert!(text.split_whitespace().any(|w| w == bad)),
    }
    if let Ok(r) = rs485::parse(&text) {
        assert!(r.delay_before <= rs485::MAX_DELAY_MS && r.delay_after <= rs485::MAX_DELAY_MS);
        assert_eq!(rs485::parse(&rs485::describe(&r)), Ok(r));
    }
    let p = sanitize::printable(&text);
    assert!(!p.chars().any(char::is_control), "{p:?}");
    let a = sanitize::argv_value(&text);
    assert!(
        !a.chars().any(char::is_control) && !a.starts_with('-'),
        "{a:?}"
    );
});
