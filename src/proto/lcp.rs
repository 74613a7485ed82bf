//! AutoPPP detector: recognises the start of a PPP LCP frame in the raw login-name input.
//!
//! Pure: no I/O. Implements `docs/behaviour.md` §5.5. A caller's PPP stack starts by sending an
//! LCP Configure-Request, which on the wire (RFC 1662 HDLC-like framing) begins with
//! `7E FF 03 C0 21`: flag, all-stations address, UI control, protocol 0xC021 (LCP). Most peers
//! escape the control byte 0x03 with the async control character map, giving
//! `7E FF 7D 23 C0 21`.
//!
//! The state machine is mgetty's, byte for byte:
//! * byte 0x7D sets the "escaped" flag; the next byte is XOR 0x20 before it is classified;
//! * 0x7E → level 1, always, from any level;
//! * 0xFF at level 1 → 2; 0x03 at level 2 → 3; 0xC0 at level 3 → 4; 0x21 at level 4 → detected;
//! * any other byte → level 0 and the escaped flag is cleared.
//!
//! So any escaped variant is accepted (`7D DF` for 0xFF, `7D E0` for 0xC0, ...). The detector
//! is fed **raw** bytes (before any 7-bit stripping). Its state is meant to persist across
//! re-prompts within one process, like mgetty's static variables; after a detection it starts
//! afresh.
//!
//! ```
//! use rgetty::proto::lcp::{Detector, Progress};
//! let mut d = Detector::new();
//! let seen: Vec<Progress> = [0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21].iter().map(|&b| d.feed(b)).collect();
//! assert_eq!(seen.last(), Some(&Progress::Detected));
//! ```

/// HDLC flag byte that opens a frame.
pub const FLAG: u8 = 0x7E;
/// HDLC control-escape byte: the next byte is XOR [`ESCAPE_XOR`].
pub const ESCAPE: u8 = 0x7D;
/// Value XORed into the byte that follows [`ESCAPE`].
pub const ESCAPE_XOR: u8 = 0x20;

/// What the detector knows after one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Not inside a possible frame start (level 0). An escape flag may still be pending.
    Idle,
    /// Inside a possible frame start (level 1 to 4): the bytes since the last 0x7E may be PPP.
    Partial,
    /// The frame start `7E FF 03 C0 21` (possibly escaped) is complete.
    Detected,
}

/// The AutoPPP state machine of §5.5 (levels 0..4 plus the escape flag).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detector {
    /// 0 = idle, 1 = after 7E, 2 = after FF, 3 = after 03, 4 = after C0.
    level: u8,
    /// The previous byte was 0x7D.
    escaped: bool,
}

impl Detector {
    /// A detector at level 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Classify one raw input byte and report the progress.
    pub fn feed(&mut self, byte: u8) -> Progress {
        let b = if self.escaped {
            self.escaped = false;
            byte ^ ESCAPE_XOR
        } else {
            byte
        };
        match (b, self.level) {
            (ESCAPE, _) => self.escaped = true,
            (FLAG, _) => self.level = 1,
            (0xFF, 1) => self.level = 2,
            (0x03, 2) => self.level = 3,
            (0xC0, 3) => self.level = 4,
            (0x21, 4) => {
                *self = Self::default();
                return Progress::Detected;
            }
            _ => *self = Self::default(),
        }
        self.progress()
    }

    /// The current progress without feeding anything ([`Progress::Detected`] is never
    /// returned here: the detector resets itself after a detection).
    pub fn progress(&self) -> Progress {
        if self.level == 0 {
            Progress::Idle
        } else {
            Progress::Partial
        }
    }

    /// The current level (0..=4), for logging.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// Forget any partial match.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(d: &mut Detector, bytes: &[u8]) -> Option<usize> {
        for (i, &b) in bytes.iter().enumerate() {
            if d.feed(b) == Progress::Detected {
                return Some(i);
            }
        }
        None
    }

    #[test]
    fn table() {
        let cases: &[(&[u8], Option<usize>)] = &[
            (&[0x7e, 0xff, 0x03, 0xc0, 0x21], Some(4)),
            (&[0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21], Some(5)),
            // 0xFF escaped as 7D DF, 0xC0 as 7D E0, 0x21 as 7D 01
            (
                &[0x7e, 0x7d, 0xdf, 0x7d, 0x23, 0x7d, 0xe0, 0x7d, 0x01],
                Some(8),
            ),
            // garbage first
            (b"hello\x7e\xff\x03\xc0\x21", Some(9)),
            // 7E restarts from any level
            (&[0x7e, 0xff, 0x03, 0x7e, 0xff, 0x03, 0xc0, 0x21], Some(7)),
            // escaped 7E (7D 5E) is a flag too
            (&[0x7d, 0x5e, 0xff, 0x03, 0xc0, 0x21], Some(5)),
            // broken sequences
            (&[0x7e, 0xff, 0x04, 0xc0, 0x21], None),
            (&[0x7e, 0x03, 0xc0, 0x21], None),
            (&[0xff, 0x03, 0xc0, 0x21], None),
            (&[0x7e, 0xff, 0x03, 0xc0, 0x20], None),
            (b"~}#@!", None),
            (b"", None),
        ];
        for (input, want) in cases {
            let mut d = Detector::new();
            assert_eq!(run(&mut d, input), *want, "input {input:02x?}");
        }
    }

    #[test]
    fn progress_reports() {
        let mut d = Detector::new();
        assert_eq!(d.feed(b'a'), Progress::Idle);
        assert_eq!(d.feed(0x7e), Progress::Partial);
        assert_eq!(d.level(), 1);
        assert_eq!(d.feed(0xff), Progress::Partial);
        assert_eq!(d.feed(0x7d), Progress::Partial);
        assert_eq!(d.feed(0x23), Progress::Partial);
        assert_eq!(d.level(), 3);
        assert_eq!(d.feed(b'x'), Progress::Idle);
        assert_eq!(d.level(), 0);
        // an escape at level 0 keeps the detector idle
        assert_eq!(d.feed(0x7d), Progress::Idle);
        d.reset();
        assert_eq!(d.progress(), Progress::Idle);
    }

    #[test]
    fn split_across_feeds_and_reset_after_detection() {
        let mut d = Detector::new();
        assert_eq!(run(&mut d, &[0x7e, 0xff]), None);
        assert_eq!(run(&mut d, b"\x7d"), None);
        assert_eq!(run(&mut d, &[0x23, 0xc0]), None);
        assert_eq!(run(&mut d, &[0x21]), Some(0));
        assert_eq!(d.level(), 0);
        // the next 0x21 alone does nothing
        assert_eq!(run(&mut d, &[0x21]), None);
    }

    const STARTS: &[&[u8]] = &[
        &[0x7e, 0xff, 0x03, 0xc0, 0x21],
        &[0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21],
        &[0x7e, 0x7d, 0xdf, 0x7d, 0x23, 0xc0, 0x21],
    ];

    proptest! {
        #[test]
        fn any_string_containing_a_start_is_detected(
            pre in proptest::collection::vec(any::<u8>(), 0..200),
            post in proptest::collection::vec(any::<u8>(), 0..50),
            which in 0..STARTS.len(),
        ) {
            let mut d = Detector::new();
            let mut input = pre.clone();
            // a pending 0x7D at the end of `pre` would escape the flag; real peers never
            // split an escape from its byte, and the detector needs the flag unescaped
            if input.last() == Some(&ESCAPE) {
                input.push(b'x');
            }
            input.extend_from_slice(STARTS[which]);
            input.extend_from_slice(&post);
            prop_assert!(run(&mut d, &input).is_some());
        }

        #[test]
        fn text_without_flag_is_never_detected(
            input in proptest::collection::vec(any::<u8>().prop_filter("no flag", |b| *b != FLAG && *b != 0x5e), 0..400),
        ) {
            // without 0x7E (nor 0x5E, which becomes 0x7E after an escape) level 1 is unreachable
            let mut d = Detector::new();
            prop_assert_eq!(run(&mut d, &input), None);
        }

        #[test]
        fn printable_text_is_never_detected(input in "[ -~]{0,400}") {
            let mut d = Detector::new();
            let bytes = input.as_bytes();
            if !bytes.contains(&FLAG) {
                prop_assert_eq!(run(&mut d, bytes), None);
            }
        }
    }
}
