//! The Hayes AT interpreter of the virtual modem: command state bytes through `At::input`,
//! online bytes through `online_input` with the `+++` escape and its guard times.
//!
//! Input: bytes the DTE sends. In command state every byte is typed; `ATA`, `ATD` and `ATO`
//! take the modem online, where 10 ms pass per byte and 0xFE stands for a 1.1 s pause.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use rgetty::proto::at::{At, AtEvent, EscapePoll, ResultCode};

const PAUSE: u8 = 0xfe;

fuzz_target!(|data: &[u8]| {
    let mut at = At::new(true);
    let mut now = Duration::from_secs(1);
    let mut online = false;
    // online data accounting: every byte fed is passed on, or held, or part of an escape
    let (mut fed, mut passed, mut escapes) = (0usize, 0usize, 0usize);

    for &b in data {
        now += Duration::from_millis(10);
        if !online {
            for ev in at.input(b) {
                match ev {
                    AtEvent::Command(c) => {
                        assert!(c.len() >= 2 && c[..2].eq_ignore_ascii_case("at"), "{c:?}")
                    }
                    AtEvent::Result(code) => {
                        let text = at.format(code);
                        assert_eq!(text.is_empty(), at.quiet());
                    }
                    AtEvent::Answer | AtEvent::Dial(_) | AtEvent::Online => {
                        let _ = at.format(ResultCode::Connect(Some(33600)));
                        at.enter_online(now);
                        online = true;
                    }
                    AtEvent::Info(v) | AtEvent::Echo(v) => assert!(!v.is_empty()),
                    AtEvent::Hangup | AtEvent::OffHook | AtEvent::Reset => {}
                }
            }
            assert!(at.x_level() <= 4);
            continue;
        }
        if b == PAUSE {
            now += Duration::from_millis(1100);
        }
        while let Some(d) = at.escape_deadline().filter(|d| *d <= now) {
            match at.poll(d) {
                Some(EscapePoll::Escape(ev)) => {
                    assert_eq!(ev, vec![AtEvent::Result(ResultCode::Ok)]);
                    escapes += 1;
                    online = false;
                }
                Some(EscapePoll::Release(v)) => passed += v.len(),
                None => panic!("poll at its own deadline {d:?} did nothing"),
            }
        }
        if !online || b == PAUSE {
            continue;
        }
        fed += 1;
        if let Some(out) = at.online_input(b, now) {
            passed += out.len();
        }
    }
    if online {
        // flush what is held back
        if let Some(d) = at.escape_deadline() {
            match at.poll(d) {
                Some(EscapePoll::Escape(_)) => escapes += 1,
                Some(EscapePoll::Release(v)) => passed += v.len(),
                None => panic!("poll at its own deadline did nothing"),
            }
        }
    }
    assert_eq!(fed, passed + 3 * escapes, "online bytes lost or duplicated");
});
