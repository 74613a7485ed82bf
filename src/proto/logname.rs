//! Login-name editor: raw input bytes in, echo bytes and a result out.
//!
//! Pure: no I/O, no clock. Implements `docs/behaviour.md` §5.3 (`getlogname`), the AutoPPP
//! integration of §5.5 and the hardening notes of §11, in rgetty's safe variant.
//!
//! The getty puts the line in raw mode (no driver echo), writes the issue and `\r\n` + prompt,
//! then for every byte read calls [`Editor::feed`], writes [`Edit::echo`] to the line, and acts
//! on [`Edit::outcome`]:
//!
//! * [`NameOutcome::Name`]: write `terminator.extra_echo()`, set the final mode
//!   ([`Terminator::map_cr`]: ICRNL+ONLCR for CR), dispatch the name. A name equal to
//!   `NO CARRIER` or `ERROR` ([`is_modem_error`]) means a misconfigured modem: exit 0 (§5.3).
//! * [`NameOutcome::Empty`]: write `terminator.extra_echo()`, then re-issue (issue file + prompt).
//! * [`NameOutcome::Reprompt`]: re-send `\r\n` + prompt (not the issue).
//! * [`NameOutcome::Eof`]: exit 0.
//! * [`NameOutcome::AutoPpp`]: dispatch the name `/AutoPPP/` ([`AUTOPPP_NAME`]) with the line in raw
//!   mode; nothing is echoed.
//!
//! After [`NameOutcome::Empty`] or [`NameOutcome::Reprompt`] the driver must call [`Editor::resume`]
//! until it returns `None` (after writing the new prompt): bytes that were held back as a
//! possible PPP frame start and turned out not to be one may still be queued behind the byte
//! that produced the outcome.
//!
//! # Rules kept from mgetty (§5.3)
//! Raw bytes 0x00 and 0x01 are ignored; the rest is stripped to 7 bits; ^\ (0x1C) → exit;
//! ^D (0x04) → exit when the buffer is empty, else ignored; ^U (0x15) or ^C (0x03) → discard the
//! buffer and re-prompt; XON/XOFF ignored; DEL (0x7F) or BS (0x08) erase one character with
//! `\b \b` (nothing when empty); ESC ignored; CR or LF ends the name and is echoed. Any other
//! byte is echoed, and refused with `\b \b` after the echo if it is a leading space, a leading
//! `-` (no `login -froot`, §11) or the buffer is full.
//!
//! # Deliberate differences from mgetty (rgetty hardening)
//! * Control characters not listed above (TAB, ^A..^Z others, NUL/^A produced by stripping
//!   0x80/0x81, …) are refused silently: not echoed, not stored. mgetty stores them.
//! * 8-bit bytes are stripped to 7 bits as in mgetty (callers with 7E1/7O1 terminals set the
//!   top bit as parity), and the stripped byte then passes the same filters, so a name never
//!   holds a byte ≥ 0x80 or a control character.
//! * The name is at most [`EditorConfig::max_len`] bytes (default [`DEFAULT_MAX_LEN`] = 64,
//!   never above [`HARD_MAX_LEN`] = 1024, mgetty's limit); further characters are refused with
//!   the mgetty echo `c\b \b`. CR/LF always end the name (mgetty, with a full buffer, refused the
//!   CR's storage and then cut the last character off the name).
//! * Every returned name satisfies [`is_safe_name`].
//! * AutoPPP: bytes that may be the start of a PPP frame (from a 0x7E on) are not echoed while
//!   the match is in progress; if it fails they go through the normal rules then. On detection
//!   nothing at all is echoed (mgetty echoes `~\b \b}#@` and `\r\n` into the peer's PPP stack).
//! * No FIDO/EMSI support (0xAE/0xF1 are ordinary 8-bit bytes, `**EMSI_` is an ordinary name).

use std::collections::VecDeque;

use crate::proto::lcp::{self, Detector, Progress};

/// Default longest login name.
pub const DEFAULT_MAX_LEN: usize = 64;
/// Upper bound for [`EditorConfig::max_len`] (mgetty's 1024-character buffer).
pub const HARD_MAX_LEN: usize = 1024;
/// The login name that AutoPPP detection stands for (matched in login.config).
pub const AUTOPPP_NAME: &str = "/AutoPPP/";
/// What the editor echoes to erase one character, and after refusing one.
pub const ERASE: &[u8] = b"\x08 \x08";
/// Held-back bytes are released once this many pile up (a run of escaped flags).
const MAX_HELD: usize = 64;

/// Settings of the [`Editor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EditorConfig {
    /// Longest name accepted (clamped to 1..=[`HARD_MAX_LEN`]).
    pub max_len: usize,
}

impl Default for EditorConfig {
    fn default() -> Self {
        EditorConfig {
            max_len: DEFAULT_MAX_LEN,
        }
    }
}

/// The key that ended the name; decides the final line-ending mode (§5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminator {
    /// Carriage return: the final mode maps CR→NL on input and NL→CRNL on output.
    Cr,
    /// Line feed: no CR mapping.
    Lf,
}

impl Terminator {
    /// What the getty writes after the echo, before the mode change: `\n` after CR (the caller
    /// sees `name\r\n`), `\r` after LF (`name\n\r`).
    pub fn extra_echo(self) -> &'static [u8] {
        match self {
            Terminator::Cr => b"\n",
            Terminator::Lf => b"\r",
        }
    }

    /// True when the final mode gets ICRNL and ONLCR (terminated by CR).
    pub fn map_cr(self) -> bool {
        self == Terminator::Cr
    }
}

/// How a name-reading attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameOutcome {
    /// A login name (always [`is_safe_name`]) and the key that ended it.
    Name {
        /// The name, without the terminator.
        name: String,
        /// CR or LF.
        terminator: Terminator,
    },
    /// Just Enter: write `terminator.extra_echo()` and re-issue (issue file and prompt).
    Empty {
        /// CR or LF.
        terminator: Terminator,
    },
    /// ^U or ^C: re-send `\r\n` + prompt, not the issue.
    Reprompt,
    /// ^D on an empty line, or ^\: exit 0.
    Eof,
    /// A PPP frame start was seen: dispatch [`AUTOPPP_NAME`], echo nothing.
    AutoPpp {
        /// Bytes swallowed without echo for the frame start (they are lost; the peer
        /// retransmits its Configure-Request).
        consumed: usize,
    },
}

/// The result of one [`Editor::feed`] or [`Editor::resume`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edit {
    /// Bytes to write to the line, in order (only printable ASCII, CR, LF and BS).
    pub echo: Vec<u8>,
    /// Set when the attempt ended.
    pub outcome: Option<NameOutcome>,
}

/// True when `name` is safe to hand to a login program as one argument: non-empty, at most
/// [`HARD_MAX_LEN`] bytes, printable ASCII only (so no NUL and no control characters), and not
/// starting with `-` or a space.
///
/// ```
/// use rgetty::proto::logname::is_safe_name;
/// assert!(is_safe_name("root"));
/// assert!(is_safe_name("john doe"));
/// assert!(!is_safe_name("-froot"));
/// assert!(!is_safe_name(" root"));
/// assert!(!is_safe_name("ro\x1bot"));
/// assert!(!is_safe_name(""));
/// ```
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= HARD_MAX_LEN
        && !name.starts_with('-')
        && !name.starts_with(' ')
        && name.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// True for the names `NO CARRIER` and `ERROR`: a modem result read as a login name because
/// DCD is misconfigured; mgetty logs `failed dev=…, got modem error '…'` and exits 0.
pub fn is_modem_error(name: &str) -> bool {
    name == "NO CARRIER" || name == "ERROR"
}

/// The login-name line editor with the AutoPPP detector (see the module docs).
#[derive(Debug, Clone)]
pub struct Editor {
    max_len: usize,
    buf: Vec<u8>,
    detector: Detector,
    /// Raw bytes withheld while the detector is in a partial match.
    held: Vec<u8>,
    /// Raw bytes cleared by the detector, waiting for the name rules.
    queue: VecDeque<u8>,
}

impl Editor {
    /// An editor with an empty name.
    pub fn new(cfg: EditorConfig) -> Self {
        Editor {
            max_len: cfg.max_len.clamp(1, HARD_MAX_LEN),
            buf: Vec::new(),
            detector: Detector::new(),
            held: Vec::new(),
            queue: VecDeque::new(),
        }
    }

    /// The longest name this editor accepts.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The name typed so far (printable ASCII).
    pub fn name_so_far(&self) -> &[u8] {
        &self.buf
    }

    /// True while bytes are held back as a possible PPP frame start.
    pub fn is_holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// Start a new name (e.g. after a timeout warning): the buffer, held and queued bytes are
    /// dropped; the AutoPPP detector keeps its state.
    pub fn reset_name(&mut self) {
        self.buf.clear();
        self.held.clear();
        self.queue.clear();
    }

    /// Take one raw byte from the line.
    pub fn feed(&mut self, byte: u8) -> Edit {
        match self.detector.feed(byte) {
            Progress::Detected => {
                let consumed = self.held.len() + 1;
                self.reset_name();
                Edit {
                    echo: Vec::new(),
                    outcome: Some(NameOutcome::AutoPpp { consumed }),
                }
            }
            Progress::Partial => {
                if (byte == lcp::FLAG || self.held.len() >= MAX_HELD) && !self.held.is_empty() {
                    // a new frame start: what was held before is not part of it
                    self.queue.extend(self.held.drain(..));
                }
                self.held.push(byte);
                self.process_queue()
            }
            Progress::Idle => {
                self.queue.extend(self.held.drain(..));
                self.queue.push_back(byte);
                self.process_queue()
            }
        }
    }

    /// Continue with bytes still queued after an [`NameOutcome::Empty`] or [`NameOutcome::Reprompt`];
    /// `None` when there are none.
    pub fn resume(&mut self) -> Option<Edit> {
        (!self.queue.is_empty()).then(|| self.process_queue())
    }

    fn process_queue(&mut self) -> Edit {
        let mut echo = Vec::new();
        while let Some(b) = self.queue.pop_front() {
            if let Some(outcome) = self.name_rules(b, &mut echo) {
                if matches!(outcome, NameOutcome::Name { .. } | NameOutcome::Eof) {
                    // the attempt is over; nothing more is read
                    self.queue.clear();
                    self.held.clear();
                }
                return Edit {
                    echo,
                    outcome: Some(outcome),
                };
            }
        }
        Edit {
            echo,
            outcome: None,
        }
    }

    /// mgetty's per-byte rules (§5.3) plus rgetty's refusals.
    fn name_rules(&mut self, raw: u8, echo: &mut Vec<u8>) -> Option<NameOutcome> {
        if raw == 0x00 || raw == 0x01 {
            return None;
        }
        let c = raw & 0x7f;
        match c {
            0x1c => Some(NameOutcome::Eof),
            0x04 if self.buf.is_empty() => Some(NameOutcome::Eof),
            0x04 => None,
            0x15 | 0x03 => {
                self.buf.clear();
                Some(NameOutcome::Reprompt)
            }
            0x11 | 0x13 | 0x1b => None,
            0x7f | 0x08 => {
                if self.buf.pop().is_some() {
                    echo.extend_from_slice(ERASE);
                }
                None
            }
            b'\r' | b'\n' => {
                echo.push(c);
                let terminator = if c == b'\r' {
                    Terminator::Cr
                } else {
                    Terminator::Lf
                };
                let bytes = std::mem::take(&mut self.buf);
                if bytes.is_empty() {
                    return Some(NameOutcome::Empty { terminator });
                }
                match String::from_utf8(bytes) {
                    Ok(name) if is_safe_name(&name) && name.len() <= self.max_len => {
                        Some(NameOutcome::Name { name, terminator })
                    }
                    // cannot happen: only safe bytes are stored; refuse rather than pass it on
                    _ => Some(NameOutcome::Reprompt),
                }
            }
            c if c < 0x20 => None,
            c => {
                echo.push(c);
                let refuse = self.buf.len() >= self.max_len
                    || (self.buf.is_empty() && (c == b' ' || c == b'-'));
                if refuse {
                    echo.extend_from_slice(ERASE);
                } else {
                    self.buf.push(c);
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feed everything (resuming after re-prompts); collect echo and outcomes.
    fn run_with(cfg: EditorConfig, input: &[u8]) -> (Vec<u8>, Vec<NameOutcome>) {
        let mut e = Editor::new(cfg);
        let mut echo = Vec::new();
        let mut outs = Vec::new();
        for &b in input {
            let mut step = e.feed(b);
            loop {
                echo.extend_from_slice(&step.echo);
                let Some(o) = step.outcome.take() else { break };
                let terminal = matches!(
                    o,
                    NameOutcome::Name { .. } | NameOutcome::Eof | NameOutcome::AutoPpp { .. }
                );
                outs.push(o);
                if terminal {
                    return (echo, outs);
                }
                match e.resume() {
                    Some(s) => step = s,
                    None => break,
                }
            }
        }
        (echo, outs)
    }

    fn run(input: &[u8]) -> (Vec<u8>, Vec<NameOutcome>) {
        run_with(EditorConfig::default(), input)
    }

    fn name(n: &str, t: Terminator) -> NameOutcome {
        NameOutcome::Name {
            name: n.to_string(),
            terminator: t,
        }
    }

    #[test]
    fn mgetty_echo_table() {
        use Terminator::*;
        let cases: &[(&[u8], &[u8], &[NameOutcome])] = &[
            (b"root\r", b"root\r", &[name("root", Cr)]),
            (b"root\n", b"root\n", &[name("root", Lf)]),
            (b"-", b"-\x08 \x08", &[]),
            (b" ", b" \x08 \x08", &[]),
            (b"-root\r", b"-\x08 \x08root\r", &[name("root", Cr)]),
            (b"a-b c\r", b"a-b c\r", &[name("a-b c", Cr)]),
            (b"\x7f\x08", b"", &[]),
            (b"ab\x7fc\r", b"ab\x08 \x08c\r", &[name("ac", Cr)]),
            (
                b"ab\x08\x08\x08x\r",
                b"ab\x08 \x08\x08 \x08x\r",
                &[name("x", Cr)],
            ),
            (b"\r", b"\r", &[NameOutcome::Empty { terminator: Cr }]),
            (b"\n", b"\n", &[NameOutcome::Empty { terminator: Lf }]),
            (b"\x04", b"", &[NameOutcome::Eof]),
            (b"a\x04b\r", b"ab\r", &[name("ab", Cr)]),
            (b"ab\x1c", b"ab", &[NameOutcome::Eof]),
            (
                b"ab\x15cd\r",
                b"abcd\r",
                &[NameOutcome::Reprompt, name("cd", Cr)],
            ),
            (
                b"ab\x03x\r",
                b"abx\r",
                &[NameOutcome::Reprompt, name("x", Cr)],
            ),
            (b"a\x11\x13\x1bb\r", b"ab\r", &[name("ab", Cr)]),
            (b"\x00\x01a\r", b"a\r", &[name("a", Cr)]),
            // 7-bit strip: 0xE5 → 'e'; 0x8D → CR
            (b"\xe5\x8d", b"e\r", &[name("e", Cr)]),
            // Empty then a name: the editor continues
            (
                b"\rbob\r",
                b"\rbob\r",
                &[NameOutcome::Empty { terminator: Cr }, name("bob", Cr)],
            ),
        ];
        for (input, want_echo, want_out) in cases {
            let (echo, outs) = run(input);
            assert_eq!(echo, want_echo.to_vec(), "echo for {input:?}");
            assert_eq!(outs, want_out.to_vec(), "outcomes for {input:?}");
        }
    }

    #[test]
    fn hostile_corpus() {
        let corpus: &[&[u8]] = &[
            b"-\r",
            b"-froot\r",
            b"--\r",
            b" -froot\r",
            b"root\x00x\r",
            b"\x1b[2J\r",
            b"\x1b[2Jroot\r",
            b"ro\tot\r",
            b"\troot\r",
            b"\x80\x81\xff\x9broot\r",
            b"\xad\xadroot\r",
            b"\xa0root\r",
            b"r\x07\x0b\x0c\x0eoot\r",
            b"\x7e\x7e\x7e\r",
            b"\x7e-froot\r",
        ];
        for input in corpus {
            let (echo, outs) = run(input);
            for o in &outs {
                if let NameOutcome::Name { name, .. } = o {
                    assert!(is_safe_name(name), "unsafe {name:?} from {input:?}");
                }
            }
            assert!(echo_is_clean(&echo), "echo {echo:?} for {input:?}");
        }
        assert_eq!(run(b"-froot\r").1, vec![name("froot", Terminator::Cr)]);
        assert_eq!(run(b"root\x00x\r").1, vec![name("rootx", Terminator::Cr)]);
        assert_eq!(run(b"\x1b[2J\r").1, vec![name("[2J", Terminator::Cr)]);
        assert_eq!(run(b"ro\tot\r").1, vec![name("root", Terminator::Cr)]);
        // 0xAD strips to '-': refused when leading
        assert_eq!(run(b"\xad\xadroot\r").1, vec![name("root", Terminator::Cr)]);
        // 0xA0 strips to ' ': refused when leading
        assert_eq!(run(b"\xa0root\r").1, vec![name("root", Terminator::Cr)]);
        // only refusals → empty
        assert_eq!(
            run(b"---   \r").1,
            vec![NameOutcome::Empty {
                terminator: Terminator::Cr
            }]
        );
    }

    #[test]
    fn length_limits() {
        let mut input = vec![b'a'; 10 * 1024];
        input.push(b'\r');
        let (echo, outs) = run(&input);
        assert_eq!(
            outs,
            vec![name(&"a".repeat(DEFAULT_MAX_LEN), Terminator::Cr)]
        );
        // the 65th character: echoed then erased
        assert!(echo.starts_with(&[&vec![b'a'; 64][..], b"a\x08 \x08"].concat()));
        let (_, outs) = run_with(EditorConfig { max_len: 3 }, b"abcd\r");
        assert_eq!(outs, vec![name("abc", Terminator::Cr)]);
        assert_eq!(Editor::new(EditorConfig { max_len: 0 }).max_len(), 1);
        assert_eq!(
            Editor::new(EditorConfig { max_len: 1 << 20 }).max_len(),
            HARD_MAX_LEN
        );
        // full buffer: erase makes room again
        let (_, outs) = run_with(EditorConfig { max_len: 2 }, b"abc\x7fd\r");
        assert_eq!(outs, vec![name("ad", Terminator::Cr)]);
    }

    #[test]
    fn autoppp_detection_echoes_nothing() {
        for frame in [
            &[0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21][..],
            &[0x7e, 0xff, 0x03, 0xc0, 0x21][..],
            &[0x7e, 0x7d, 0xdf, 0x7d, 0x23, 0x7d, 0xe0, 0x21][..],
        ] {
            let (echo, outs) = run(frame);
            assert_eq!(echo, b"");
            assert_eq!(
                outs,
                vec![NameOutcome::AutoPpp {
                    consumed: frame.len()
                }]
            );
        }
        // after some typing: the typed part was echoed, the frame was not
        let mut input = b"ab".to_vec();
        input.extend_from_slice(&[0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21, b'x']);
        let (echo, outs) = run(&input);
        assert_eq!(echo, b"ab");
        assert_eq!(outs, vec![NameOutcome::AutoPpp { consumed: 6 }]);
    }

    #[test]
    fn failed_frame_is_released() {
        // `~` then a letter: both echoed when the letter arrives
        let mut e = Editor::new(EditorConfig::default());
        assert_eq!(e.feed(0x7e), Edit::default());
        assert!(e.is_holding());
        let s = e.feed(b'a');
        assert_eq!(s.echo, b"~a");
        assert!(!e.is_holding());
        assert_eq!(e.name_so_far(), b"~a");
        // held 7E FF then a letter: `~` echoed, FF (→ DEL) erases it, then the letter
        let (echo, outs) = run(&[0x7e, 0xff, b'z', b'\r']);
        assert_eq!(echo, b"~\x08 \x08z\r");
        assert_eq!(outs, vec![name("z", Terminator::Cr)]);
        // a second flag releases the first
        let mut e = Editor::new(EditorConfig::default());
        e.feed(0x7e);
        let s = e.feed(0x7e);
        assert_eq!(s.echo, b"~");
        assert!(e.is_holding());
        // the detector survives an Empty outcome and a reset_name
        let mut e = Editor::new(EditorConfig::default());
        assert_eq!(
            e.feed(b'\r').outcome,
            Some(NameOutcome::Empty {
                terminator: Terminator::Cr
            })
        );
        e.feed(0x7e);
        e.feed(0xff);
        e.reset_name();
        e.feed(0x03);
        e.feed(0xc0);
        assert_eq!(
            e.feed(0x21).outcome,
            Some(NameOutcome::AutoPpp { consumed: 3 })
        );
    }

    #[test]
    fn queued_bytes_after_reprompt() {
        // 7E FF 03 is held; 'x' fails the match; released: `~`, DEL, ^C (re-prompt), then `x`
        let mut e = Editor::new(EditorConfig::default());
        for b in [0x7e, 0xff, 0x03] {
            assert_eq!(e.feed(b), Edit::default());
        }
        let s = e.feed(b'x');
        assert_eq!(s.echo, b"~\x08 \x08");
        assert_eq!(s.outcome, Some(NameOutcome::Reprompt));
        let s = e.resume().expect("queued x");
        assert_eq!(s.echo, b"x");
        assert_eq!(s.outcome, None);
        assert_eq!(e.resume(), None);
        assert_eq!(e.name_so_far(), b"x");
    }

    #[test]
    fn terminators() {
        assert_eq!(Terminator::Cr.extra_echo(), b"\n");
        assert_eq!(Terminator::Lf.extra_echo(), b"\r");
        assert!(Terminator::Cr.map_cr());
        assert!(!Terminator::Lf.map_cr());
        assert!(is_modem_error("NO CARRIER") && is_modem_error("ERROR"));
        assert!(!is_modem_error("error"));
    }

    #[test]
    fn safe_name_predicate() {
        assert!(is_safe_name("a"));
        assert!(is_safe_name("/AutoPPP/"));
        assert!(is_safe_name("a-"));
        assert!(is_safe_name(&"a".repeat(HARD_MAX_LEN)));
        assert!(!is_safe_name(&"a".repeat(HARD_MAX_LEN + 1)));
        assert!(!is_safe_name("a\0"));
        assert!(!is_safe_name("a\x7f"));
        assert!(!is_safe_name("é"));
        assert!(!is_safe_name("-"));
    }

    fn echo_is_clean(echo: &[u8]) -> bool {
        echo.iter()
            .all(|&b| (0x20..0x7f).contains(&b) || b == b'\r' || b == b'\n' || b == 0x08)
    }

    proptest! {
        #[test]
        fn every_name_is_safe(input in proptest::collection::vec(any::<u8>(), 0..600), max in 1usize..100) {
            let mut e = Editor::new(EditorConfig { max_len: max });
            for b in input {
                let mut step = e.feed(b);
                loop {
                    prop_assert!(echo_is_clean(&step.echo), "echo {:?}", step.echo);
                    match step.outcome.take() {
                        Some(NameOutcome::Name { name, .. }) => {
                            prop_assert!(is_safe_name(&name), "unsafe {:?}", name);
                            prop_assert!(name.len() <= max);
                        }
                        Some(NameOutcome::Empty { .. } | NameOutcome::Reprompt) => {}
                        Some(NameOutcome::Eof | NameOutcome::AutoPpp { .. }) | None => {}
                    }
                    match e.resume() {
                        Some(s) => step = s,
                        None => break,
                    }
                }
            }
        }

        #[test]
        fn printable_names_round_trip(n in "[a-z][a-z0-9._ -]{0,40}") {
            let mut input = n.clone().into_bytes();
            input.push(b'\r');
            let (echo, outs) = run(&input);
            prop_assert_eq!(echo, input.clone());
            prop_assert_eq!(outs, vec![name(&n, Terminator::Cr)]);
        }
    }
}
