//! Chat engine: mgetty's expect/send scripts, as data plus a byte-fed matcher.
//!
//! Pure: no I/O, no clock. Implements `docs/behaviour.md` §3 (and §9.1 for the transcript
//! format). The driver (getty) runs a [`Script`] like this:
//!
//! * for [`Step::Expect`]: if the expect string is empty, go on at once; otherwise build an
//!   [`Expecter`] with the abort list of the chat ([`INIT_ABORTS`], [`answer_aborts`], or none),
//!   read bytes with the chat timeout (init 20 s, post-init/get-cnd 10 s, answer
//!   `answer-chat-timeout`) and feed them one at a time until it reports a result; every byte
//!   also goes to a [`LineSplitter`] whose lines go to the caller-ID parser
//!   (`callerid::CallInfo::feed_line`);
//! * for [`Step::Send`]: carry out the pieces in order, sleeping for each [`SendPiece::Delay`]
//!   and writing each [`SendPiece::Bytes`]. The first piece of every send step is always the
//!   fixed [`SEND_DELAY`] pause.
//!
//! # Tokeniser (§3.1)
//! [`parse_chat`] splits on unquoted single spaces; `"` toggles quoting and is removed (`""` is
//! an empty element); the escapes `\r` `\n` `\t` `\\` `\"` are replaced at parse time anywhere,
//! also inside quotes; any other `\x` is kept as the two characters for the send stage. The
//! same function serves config values (already whitespace-normalised by the config reader) and
//! the `-m` option (not normalised, so two spaces give an empty element). Elements alternate
//! expect, send, expect, send… starting with expect.
//!
//! # Send stage (§3.2)
//! Before every send a fixed 50 ms pause; `\d` → 500 ms pause; `\c` → no command suffix; any
//! other `\X` → the byte `X` itself (so `\s` sends `s`, Q10); the suffix `\r` is appended unless
//! `\c` appeared, so a `\r` escape in the string yields CR CR.
//!
//! # Expect stage (§3.3)
//! Each non-empty expect string is a case-sensitive substring of the raw byte stream, checked
//! after every byte against a 500-byte window; abort ("action") strings are checked the same
//! way after the expect string (expect wins a tie on the same byte).
//!
//! # Deliberate differences from mgetty
//! * mgetty writes the send bytes one at a time; a driver may write a whole
//!   [`SendPiece::Bytes`] at once (same bytes, same pauses).
//! * The expect window is a true sliding window of the last [`WINDOW`] bytes. mgetty's 500-byte
//!   buffer drops its older half when nearly full, so it only reliably matches expect strings
//!   up to about 245 bytes; ours matches up to 500. Expect strings longer than the window can
//!   never match (the chat then times out, as in mgetty).
//! * Empty abort strings are ignored (mgetty would "find" them on the first byte); the
//!   built-in lists contain none.
//! * [`LineSplitter`] keeps the byte that overflows a 97-byte line as the start of the next
//!   line; mgetty drops it.
//! * A trailing lone `\` in a send string is sent as `\` (mgetty would read past the end of the
//!   string).
//! * [`INIT_ABORTS`] is exactly mgetty's list (no `NO DIALTONE`/`NO ANSWER`): an init chat never
//!   dials, and adding words would change which failures count as "timeout", the only case
//!   that triggers `force-init-chat`.

use std::collections::VecDeque;
use std::time::Duration;

/// Fixed pause before every send string (mgetty's `DO_CHAT_SEND_DELAY`).
pub const SEND_DELAY: Duration = Duration::from_millis(50);
/// Pause for each `\d` in a send string.
pub const BACKSLASH_D_DELAY: Duration = Duration::from_millis(500);
/// Command suffix appended to every send string unless it contains `\c` (`MODEM_CMD_SUFFIX`).
pub const CMD_SUFFIX: &[u8] = b"\r";
/// Per-expect timeout of the init and force-init chats.
pub const INIT_CHAT_TIMEOUT: Duration = Duration::from_secs(20);
/// Per-expect timeout of `post-init-chat`, `get-cnd-chat` and `statistics-chat`.
pub const AUX_CHAT_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of one `mdm_command` exchange (modem check, `ATH0`), see [`mdm_command_reply`].
pub const MDM_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Size of the expect window in bytes.
pub const WINDOW: usize = 500;
/// Longest line [`LineSplitter`] returns (mgetty's 100-byte buffer minus 3).
pub const MAX_LINE: usize = 97;

/// Abort strings of the init and force-init chats: any of them fails the chat (no force-init).
pub const INIT_ABORTS: &[&[u8]] = &[b"ERROR", b"BUSY", b"NO CARRIER"];

/// Abort strings of the answer chat that mean failure (exit 1).
pub const ANSWER_ABORTS: &[&[u8]] = &[b"NO CARRIER", b"BUSY", b"ERROR", b"+FHS:", b"+FHNG:"];

/// Abort strings of the answer chat that mean "this is a fax call" (§3.3, Q3).
///
/// mgetty matches these even in data-only mode, so `CONNECT 2400/FAX` is taken for a fax and the
/// call is dropped (exit 0). rgetty's decision (Q3): the driver passes `fax = false` to
/// [`answer_aborts`] in data-only mode (`data-only`, `-D`, `modem-type data`), so there a `FAX`
/// in the CONNECT line is a data call; otherwise the list is mgetty's.
pub const ANSWER_FAX: &[&[u8]] = &[b"+FCON", b"+FCO\r", b"FAX"];

/// The abort list of the answer chat: [`ANSWER_ABORTS`], followed by [`ANSWER_FAX`] when `fax`
/// is true. An [`ExpectResult::Abort`] index `>= ANSWER_ABORTS.len()` is a fax call.
pub fn answer_aborts(fax: bool) -> Vec<&'static [u8]> {
    let mut v: Vec<&'static [u8]> = ANSWER_ABORTS.to_vec();
    if fax {
        v.extend_from_slice(ANSWER_FAX);
    }
    v
}

/// A parsed chat script: steps alternating expect, send, expect, … starting with expect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    /// The steps in order.
    pub steps: Vec<Step>,
}

/// One element of a chat script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Wait until these bytes appear in the input (empty: no wait).
    Expect(Vec<u8>),
    /// Carry out these pieces in order.
    Send(Vec<SendPiece>),
}

/// Part of a send step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendPiece {
    /// Write these bytes to the modem.
    Bytes(Vec<u8>),
    /// Pause this long.
    Delay(Duration),
}

impl Script {
    /// True when the script has no steps.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Count `quiet` (how long the line has already been silent) towards the [`SEND_DELAY`]
    /// pause of the first send, when nothing is expected before it. The pause is there so
    /// that the modem has been quiet that long before a command; time it already was quiet
    /// (the exec back from the waiter after a RING, §4.3) need not be waited again. A send
    /// after a real expect keeps its whole pause (the expected bytes end the quiet).
    pub fn credit_quiet(&mut self, quiet: Duration) {
        for step in &mut self.steps {
            match step {
                Step::Expect(e) if e.is_empty() => {}
                Step::Expect(_) => return,
                Step::Send(pieces) => {
                    if let Some(SendPiece::Delay(d)) = pieces.first_mut() {
                        *d = d.saturating_sub(quiet);
                    }
                    return;
                }
            }
        }
    }

    /// The bytes all send steps write, in order, ignoring the pauses (for tests and logs).
    pub fn sent_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for step in &self.steps {
            if let Step::Send(pieces) = step {
                for p in pieces {
                    if let SendPiece::Bytes(b) = p {
                        out.extend_from_slice(b);
                    }
                }
            }
        }
        out
    }
}

/// Split a chat string into its raw elements (§3.1), applying the parse-time escapes.
///
/// ```
/// let e = rgetty::proto::chat::split_elements(r#""" \dATQ0V1H0 OK"#);
/// assert_eq!(e, vec![b"".to_vec(), b"\\dATQ0V1H0".to_vec(), b"OK".to_vec()]);
/// ```
pub fn split_elements(s: &str) -> Vec<Vec<u8>> {
    let b = s.as_bytes();
    let mut elems = Vec::new();
    let mut cur = Vec::new();
    let mut quote = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' {
            quote = !quote;
        } else if c == b' ' && !quote {
            elems.push(std::mem::take(&mut cur));
        } else if c == b'\\' && i + 1 < b.len() {
            i += 1;
            match b[i] {
                b'r' => cur.push(b'\r'),
                b'n' => cur.push(b'\n'),
                b't' => cur.push(b'\t'),
                x @ (b'\\' | b'"') => cur.push(x),
                x => {
                    cur.push(b'\\');
                    cur.push(x);
                }
            }
        } else {
            cur.push(c);
        }
        i += 1;
    }
    elems.push(cur);
    elems
}

/// Turn one send element (after the parse stage) into send pieces (§3.2).
///
/// The result starts with the [`SEND_DELAY`] pause and ends with [`CMD_SUFFIX`] unless `\c`
/// appeared.
///
/// ```
/// use rgetty::proto::chat::{send_pieces, SendPiece, SEND_DELAY};
/// use std::time::Duration;
/// assert_eq!(send_pieces(b"\\dAT"), vec![
///     SendPiece::Delay(SEND_DELAY),
///     SendPiece::Delay(Duration::from_millis(500)),
///     SendPiece::Bytes(b"AT\r".to_vec()),
/// ]);
/// ```
pub fn send_pieces(elem: &[u8]) -> Vec<SendPiece> {
    let mut pieces = vec![SendPiece::Delay(SEND_DELAY)];
    let mut bytes = Vec::new();
    let mut suffix = true;
    let mut i = 0;
    while i < elem.len() {
        let c = elem[i];
        if c == b'\\' && i + 1 < elem.len() {
            i += 1;
            match elem[i] {
                b'd' => {
                    if !bytes.is_empty() {
                        pieces.push(SendPiece::Bytes(std::mem::take(&mut bytes)));
                    }
                    pieces.push(SendPiece::Delay(BACKSLASH_D_DELAY));
                }
                b'c' => suffix = false,
                x => bytes.push(x),
            }
        } else {
            bytes.push(c);
        }
        i += 1;
    }
    if suffix {
        bytes.extend_from_slice(CMD_SUFFIX);
    }
    if !bytes.is_empty() {
        pieces.push(SendPiece::Bytes(bytes));
    }
    pieces
}

/// Parse a chat string (config value or `-m` argument) into a [`Script`] (§3.1, §3.2).
///
/// ```
/// use rgetty::proto::chat::{parse_chat, Step};
/// let s = parse_chat(r#""" ATZ OK"#);
/// assert_eq!(s.steps.len(), 3);
/// assert_eq!(s.steps[0], Step::Expect(Vec::new()));
/// assert_eq!(s.sent_bytes(), b"ATZ\r");
/// ```
pub fn parse_chat(s: &str) -> Script {
    let steps = split_elements(s)
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            if i % 2 == 0 {
                Step::Expect(e)
            } else {
                Step::Send(send_pieces(&e))
            }
        })
        .collect();
    Script { steps }
}

/// Outcome of feeding a byte to an [`Expecter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectResult {
    /// The expect string has arrived.
    Found,
    /// The abort string with this index (into the list given to [`Expecter::new`]) arrived.
    Abort(usize),
}

/// Matches one expect string and an abort list against the incoming byte stream (§3.3).
#[derive(Debug, Clone)]
pub struct Expecter {
    expect: Vec<u8>,
    aborts: Vec<Vec<u8>>,
    window: VecDeque<u8>,
}

impl Expecter {
    /// A matcher for `expect` with the abort strings `aborts` (checked in order, after `expect`).
    pub fn new(expect: &[u8], aborts: &[&[u8]]) -> Self {
        Expecter {
            expect: expect.to_vec(),
            aborts: aborts.iter().map(|a| a.to_vec()).collect(),
            window: VecDeque::with_capacity(WINDOW),
        }
    }

    /// True when the expect string is empty: the step succeeds without reading anything.
    pub fn is_trivially_found(&self) -> bool {
        self.expect.is_empty()
    }

    /// True when a pending virtual ring (SIGUSR1) satisfies this expect at once: its expect
    /// string begins with `RING` (§3.3).
    pub fn satisfied_by_virtual_ring(&self) -> bool {
        self.expect.starts_with(b"RING")
    }

    /// The expect string (for log messages such as "waiting for ``OK''").
    pub fn expect(&self) -> &[u8] {
        &self.expect
    }

    /// Take one received byte; `Some` once the expect string or an abort string has arrived.
    pub fn feed(&mut self, byte: u8) -> Option<ExpectResult> {
        if self.expect.is_empty() {
            return Some(ExpectResult::Found);
        }
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(byte);
        if self.tail_is(&self.expect) {
            return Some(ExpectResult::Found);
        }
        self.aborts
            .iter()
            .position(|a| !a.is_empty() && self.tail_is(a))
            .map(ExpectResult::Abort)
    }

    fn tail_is(&self, pat: &[u8]) -> bool {
        let n = pat.len();
        n <= self.window.len() && self.window.range(self.window.len() - n..).eq(pat.iter())
    }
}

/// Cuts the received byte stream into complete lines for the caller-ID parser (§3.3).
///
/// CR or LF ends a line; the terminator is not part of the line; empty lines are dropped; a line
/// longer than [`MAX_LINE`] bytes is returned in pieces of [`MAX_LINE`] bytes.
#[derive(Debug, Clone, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
}

impl LineSplitter {
    /// An empty splitter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Take one byte; returns a line when one is complete.
    pub fn feed(&mut self, byte: u8) -> Option<Vec<u8>> {
        if byte == b'\r' || byte == b'\n' {
            return (!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf));
        }
        if self.buf.len() >= MAX_LINE {
            let line = std::mem::replace(&mut self.buf, vec![byte]);
            return Some(line);
        }
        self.buf.push(byte);
        None
    }

    /// The bytes of the unfinished line so far.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Drop the unfinished line.
    pub fn clear(&mut self) {
        self.buf.clear();
    }
}

/// Judge one complete line read after an `mdm_command` (§3.4: send `cmd\r` after
/// [`SEND_DELAY`], then read lines until one is `OK` or `ERROR`, [`MDM_COMMAND_TIMEOUT`]):
/// `Some(true)` for `OK`, `Some(false)` for `ERROR`, `None` to keep reading. Surrounding
/// whitespace is ignored.
///
/// ```
/// assert_eq!(rgetty::proto::chat::mdm_command_reply(b"OK"), Some(true));
/// assert_eq!(rgetty::proto::chat::mdm_command_reply(b"AT"), None);
/// ```
pub fn mdm_command_reply(line: &[u8]) -> Option<bool> {
    match line.trim_ascii() {
        b"OK" => Some(true),
        b"ERROR" => Some(false),
        _ => None,
    }
}

/// Render bytes for the log like mgetty's `lputc`: printable ASCII as is, anything else as
/// `[xx]` in lowercase hex (§9.1: `got: [0d][0a]RING[0d]`).
///
/// ```
/// assert_eq!(rgetty::proto::chat::printable(b"\r\nRING\r"), "[0d][0a]RING[0d]");
/// ```
pub fn printable(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("[{b:02x}]"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> SendPiece {
        SendPiece::Delay(Duration::from_millis(n))
    }
    fn by(b: &[u8]) -> SendPiece {
        SendPiece::Bytes(b.to_vec())
    }

    #[test]
    fn tokenizer_table() {
        let cases: &[(&str, &[&[u8]])] = &[
            ("", &[b""]),
            ("OK", &[b"OK"]),
            (r#""" ATZ OK"#, &[b"", b"ATZ", b"OK"]),
            // quotes toggle and are removed, also in the middle of an element
            (r#"a"b c"d e"#, &[b"ab cd", b"e"]),
            (r#""a b" c"#, &[b"a b", b"c"]),
            // parse-time escapes, also inside quotes
            (r#"\r\n\t\\\""#, &[b"\r\n\t\\\""]),
            (r#""\r x""#, &[b"\r x"]),
            // other escapes stay as two characters
            (r"\d\c\s\q", &[b"\\d\\c\\s\\q"]),
            // `\ ` keeps the space inside the element
            (r"a\ b c", &[b"a\\ b", b"c"]),
            // a trailing lone backslash is kept
            ("a\\", &[b"a\\"]),
            // -m with two spaces: an empty element in between
            ("a  b", &[b"a", b"", b"b"]),
            // leading and trailing space give empty elements
            (" a ", &[b"", b"a", b""]),
            // an escaped quote does not toggle quoting
            (r#"\"a b"#, &[b"\"a", b"b"]),
        ];
        for (input, want) in cases {
            let got = split_elements(input);
            let want: Vec<Vec<u8>> = want.iter().map(|w| w.to_vec()).collect();
            assert_eq!(got, want, "input {input:?}");
        }
    }

    #[test]
    fn send_stage_table() {
        let cases: &[(&[u8], Vec<SendPiece>)] = &[
            (b"AT", vec![ms(50), by(b"AT\r")]),
            (b"", vec![ms(50), by(b"\r")]),
            (b"\\c", vec![ms(50)]),
            (b"ATA\\c", vec![ms(50), by(b"ATA")]),
            (b"\\c ATA", vec![ms(50), by(b" ATA")]),
            (b"\\dATQ0", vec![ms(50), ms(500), by(b"ATQ0\r")]),
            (
                b"AT\\d\\dZ",
                vec![ms(50), by(b"AT"), ms(500), ms(500), by(b"Z\r")],
            ),
            // Q10: \s sends 's', \\ (already one backslash) sends the next char
            (b"AT\\s", vec![ms(50), by(b"ATs\r")]),
            (b"\\Q", vec![ms(50), by(b"Q\r")]),
            (b"\\\\", vec![ms(50), by(b"\\\r")]),
            // a CR from the parse stage plus the suffix: CR CR
            (b"AT\r", vec![ms(50), by(b"AT\r\r")]),
            (b"x\\", vec![ms(50), by(b"x\\\r")]),
        ];
        for (input, want) in cases {
            assert_eq!(&send_pieces(input), want, "input {:?}", printable(input));
        }
    }

    #[test]
    fn q10_backslashes_end_to_end() {
        // config `\\Q` → parse stage `\Q` → sends `Q`
        assert_eq!(parse_chat(r"x \\Q").sent_bytes(), b"Q\r");
        // a literal backslash needs four in the file
        assert_eq!(parse_chat(r"x \\\\").sent_bytes(), b"\\\r");
        // \s → s
        assert_eq!(parse_chat(r"x AT\s").sent_bytes(), b"ATs\r");
        // \r → CR CR
        assert_eq!(parse_chat(r"x AT\r").sent_bytes(), b"AT\r\r");
        // \n → LF then the CR suffix
        assert_eq!(parse_chat(r"x AT\n").sent_bytes(), b"AT\n\r");
    }

    #[test]
    fn default_chats() {
        let init = parse_chat(r#""" \dATQ0V1H0 OK AT OK"#);
        assert_eq!(
            init.steps,
            vec![
                Step::Expect(vec![]),
                Step::Send(vec![ms(50), ms(500), by(b"ATQ0V1H0\r")]),
                Step::Expect(b"OK".to_vec()),
                Step::Send(vec![ms(50), by(b"AT\r")]),
                Step::Expect(b"OK".to_vec()),
            ]
        );
        // answer-chat `"" ATA CONNECT \c \n` (normalised config; \n is a real LF)
        let ans = parse_chat(r#""" ATA CONNECT \c \n"#);
        assert_eq!(
            ans.steps,
            vec![
                Step::Expect(vec![]),
                Step::Send(vec![ms(50), by(b"ATA\r")]),
                Step::Expect(b"CONNECT".to_vec()),
                Step::Send(vec![ms(50)]),
                Step::Expect(b"\n".to_vec()),
            ]
        );
        // -m with two spaces: "" AT  OK → expect "", send AT, expect "", send OK
        let m = parse_chat(r#""" AT  OK"#);
        assert_eq!(
            m.steps,
            vec![
                Step::Expect(vec![]),
                Step::Send(vec![ms(50), by(b"AT\r")]),
                Step::Expect(vec![]),
                Step::Send(vec![ms(50), by(b"OK\r")]),
            ]
        );
    }

    fn run(e: &mut Expecter, input: &[u8]) -> Option<(usize, ExpectResult)> {
        input
            .iter()
            .enumerate()
            .find_map(|(i, &b)| e.feed(b).map(|r| (i, r)))
    }

    type ExpectCase<'a> = (
        &'a [u8],
        &'a [&'a [u8]],
        &'a [u8],
        Option<(usize, ExpectResult)>,
    );

    #[test]
    fn expecter_table() {
        let cases: &[ExpectCase] = &[
            (
                b"OK",
                INIT_ABORTS,
                b"\r\nOK\r\n",
                Some((3, ExpectResult::Found)),
            ),
            (
                b"OK",
                INIT_ABORTS,
                b"ATZ\r\r\nERROR\r\n",
                Some((10, ExpectResult::Abort(0))),
            ),
            (
                b"OK",
                INIT_ABORTS,
                b"NO CARRIER",
                Some((9, ExpectResult::Abort(2))),
            ),
            // case-sensitive
            (b"OK", INIT_ABORTS, b"ok\r\n", None),
            // substring anywhere, not just at line start
            (b"OK", &[], b"xxOKxx", Some((3, ExpectResult::Found))),
            // expect wins a tie on the same byte
            (
                b"ERROR",
                INIT_ABORTS,
                b"ERROR",
                Some((4, ExpectResult::Found)),
            ),
            // first abort in list order wins a tie between aborts
            (
                b"zz",
                &[b"BC", b"ABC"],
                b"ABC",
                Some((2, ExpectResult::Abort(0))),
            ),
            // fax words in the answer chat
            (b"CONNECT", &[], b"x", None),
        ];
        for (expect, aborts, input, want) in cases {
            let mut e = Expecter::new(expect, aborts);
            assert_eq!(
                run(&mut e, input),
                *want,
                "expect {expect:?} input {input:?}"
            );
        }
        let aborts = answer_aborts(true);
        let mut e = Expecter::new(b"CONNECT", &aborts);
        assert_eq!(
            run(&mut e, b"\r\n+FCON\r\n"),
            Some((6, ExpectResult::Abort(ANSWER_ABORTS.len())))
        );
        // Q3: in data-only mode the FAX words are not in the list
        let aborts = answer_aborts(false);
        let mut e = Expecter::new(b"\n", &aborts);
        assert_eq!(
            run(&mut e, b"CONNECT 2400/FAX\r\n"),
            Some((17, ExpectResult::Found))
        );
        let aborts = answer_aborts(true);
        let mut e = Expecter::new(b"\n", &aborts);
        assert_eq!(
            run(&mut e, b"CONNECT 2400/FAX\r\n"),
            Some((15, ExpectResult::Abort(ANSWER_ABORTS.len() + 2)))
        );
    }

    #[test]
    fn empty_expect_and_empty_abort() {
        let mut e = Expecter::new(b"", INIT_ABORTS);
        assert!(e.is_trivially_found());
        assert_eq!(e.feed(b'x'), Some(ExpectResult::Found));
        let mut e = Expecter::new(b"OK", &[b""]);
        assert!(!e.is_trivially_found());
        assert_eq!(e.feed(b'x'), None);
    }

    #[test]
    fn window_edge() {
        // a 500-byte expect string matches when it is exactly the window
        let pat = vec![b'a'; WINDOW];
        let mut e = Expecter::new(&pat, &[]);
        assert_eq!(
            run(&mut e, &vec![b'a'; WINDOW]),
            Some((WINDOW - 1, ExpectResult::Found))
        );
        // one byte longer than the window never matches
        let pat = vec![b'a'; WINDOW + 1];
        let mut e = Expecter::new(&pat, &[]);
        assert_eq!(run(&mut e, &vec![b'a'; 3 * WINDOW]), None);
        // a match straddling old data long after the start
        let mut e = Expecter::new(b"OK", INIT_ABORTS);
        let mut input = vec![b'.'; 10_000];
        input.extend_from_slice(b"O");
        assert_eq!(run(&mut e, &input), None);
        assert_eq!(e.feed(b'K'), Some(ExpectResult::Found));
    }

    #[test]
    fn line_splitter() {
        let mut s = LineSplitter::new();
        let lines: Vec<Vec<u8>> = b"\r\nRING\r\n\r\nNMBR = 123\rCONNECT 2400\n"
            .iter()
            .filter_map(|&b| s.feed(b))
            .collect();
        assert_eq!(
            lines,
            vec![
                b"RING".to_vec(),
                b"NMBR = 123".to_vec(),
                b"CONNECT 2400".to_vec()
            ]
        );
        assert!(s.pending().is_empty());
        // long line: pieces of 97
        let long = [b'x'; 200];
        let lines: Vec<Vec<u8>> = long
            .iter()
            .chain(b"\n")
            .filter_map(|&b| s.feed(b))
            .collect();
        assert_eq!(
            lines.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![97, 97, 6]
        );
        s.feed(b'a');
        s.clear();
        assert_eq!(s.feed(b'\n'), None);
    }

    #[test]
    fn virtual_ring_and_mdm_command() {
        assert!(Expecter::new(b"RING", &[]).satisfied_by_virtual_ring());
        assert!(Expecter::new(b"RING\r", &[]).satisfied_by_virtual_ring());
        assert!(!Expecter::new(b"OK", &[]).satisfied_by_virtual_ring());
        assert_eq!(mdm_command_reply(b" OK\r"), Some(true));
        assert_eq!(mdm_command_reply(b"ERROR"), Some(false));
        assert_eq!(mdm_command_reply(b"OKAY"), None);
        assert_eq!(mdm_command_reply(b""), None);
    }

    #[test]
    fn printable_table() {
        assert_eq!(printable(b""), "");
        assert_eq!(printable(b"AT\r"), "AT[0d]");
        assert_eq!(printable(&[0x00, 0x7f, 0xff, b' ', b'~']), "[00][7f][ff] ~");
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let script = parse_chat(&s);
            prop_assert!(!script.steps.is_empty());
            prop_assert!(matches!(script.steps[0], Step::Expect(_)));
        }

        #[test]
        fn plain_words_round_trip(words in proptest::collection::vec("[A-Za-z0-9+&=]{0,8}", 1..8)) {
            let s = words.join(" ");
            let elems = split_elements(&s);
            let want: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
            prop_assert_eq!(elems, want);
        }

        #[test]
        fn expecter_finds_any_embedded_pattern(
            pre in proptest::collection::vec(any::<u8>(), 0..1000),
            pat in proptest::collection::vec(any::<u8>(), 1..50),
        ) {
            let mut e = Expecter::new(&pat, &[]);
            let mut input = pre;
            input.extend_from_slice(&pat);
            prop_assert!(run(&mut e, &input).is_some());
        }
    }

    #[test]
    fn quiet_counts_towards_the_first_pause_only() {
        let ms = Duration::from_millis;
        let ata = |pause| {
            Step::Send(vec![
                SendPiece::Delay(ms(pause)),
                SendPiece::Bytes(b"ATA\r".to_vec()),
            ])
        };
        let mut s = parse_chat(r#""" ATA CONNECT \c"#);
        s.credit_quiet(ms(30));
        assert_eq!(s.steps[1], ata(20));
        let mut s = parse_chat(r#""" ATA"#);
        s.credit_quiet(ms(80));
        assert_eq!(s.steps[1], ata(0));
        // a real expect first: the pause stays whole, and so do later sends' pauses
        let mut s = parse_chat("OK ATA CONNECT ATO");
        let before = s.clone();
        s.credit_quiet(ms(30));
        assert_eq!(s, before);
        let mut s = parse_chat(r#""" ATA CONNECT ATO"#);
        s.credit_quiet(ms(30));
        assert_eq!(s.steps[3], before.steps[3]);
    }
}
