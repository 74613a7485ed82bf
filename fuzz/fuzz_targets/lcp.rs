//! The AutoPPP frame-start detector: state stays in range, and a clean frame start is found
//! after a reset whatever came before.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgetty::proto::lcp::{Detector, Progress};

const FRAME_START: [u8; 5] = [0x7e, 0xff, 0x03, 0xc0, 0x21];
const ESCAPED_START: [u8; 7] = [0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21, 0x7e];

fuzz_target!(|data: &[u8]| {
    let mut d = Detector::new();
    for &b in data {
        let p = d.feed(b);
        assert!(d.level() <= 4);
        match p {
            Progress::Detected => assert_eq!(d.level(), 0),
            Progress::Partial => assert!(d.level() > 0),
            Progress::Idle => assert_eq!(d.level(), 0),
        }
        assert_ne!(d.progress(), Progress::Detected);
    }
    // whatever the line said, a frame start after one plain byte (which also ends a pending
    // escape) is detected
    let mut e = d.clone();
    let _ = e.feed(0x00);
    let last = FRAME_START.iter().map(|&b| e.feed(b)).last();
    assert_eq!(last, Some(Progress::Detected), "after {data:02x?}");
    d.reset();
    assert_eq!(d.progress(), Progress::Idle);
    let seen: Vec<Progress> = ESCAPED_START.iter().map(|&b| d.feed(b)).collect();
    assert_eq!(seen[5], Progress::Detected);
});
