//! Hayes AT command interpreter for the virtual modem ([`crate::modem`]) and the test bench.
//!
//! Pure: no I/O, no clock. The caller feeds the bytes the DTE (the getty) wrote, one at a time,
//! to [`At::input`] while the modem is in command state, and gets back [`AtEvent`]s: echo bytes,
//! informational text, final result codes, and the actions the caller must carry out (dial,
//! answer, hang up, go online, reset). While online, bytes go through [`At::online_input`], which
//! watches for the `+++` escape with its guard times; the caller calls [`At::poll`] at
//! [`At::escape_deadline`] so the interpreter never needs a clock of its own.
//!
//! What is covered (enough for mgetty-style init and probe chats, see docs/behaviour.md §3 and
//! §4 step 13): command-line editing (S5 backspace and DEL, S3 end of line, `AT`/`at` prefix,
//! `A/` repeats the last command line at once), `E`, `V`, `Q`, `X0`-`X4`, `H`, `Z`, `&F`,
//! `I0`-`I9`, `Sn=v`, `Sn?`, `A`, `D…`, `O`, `&V` (settings and S registers), `&D0`-`&D3` (what
//! a DTR drop does, [`At::dtr`]), any other `&x`, `\x`, `%x` and the usual single letters
//! (`L`, `M`, `B`, `N`, `P`, `T`, `W`, `Y`, `C`, `F`, `K`) with OK, `+FCLASS=?` answering `0` only
//! (data only: mgetty's fax probe then gives up), `+FCLASS=0`; every other `+` command is an
//! ERROR, as is any unknown command. Several commands may share a line (`ATS0=0Q0&D3&C1`); the
//! line stops at the first error, after which the commands before it have taken effect.
//!
//! Deliberate simplifications: backspace echoes `BS SP BS` (as many modems do) rather than the
//! bare `BS`; numeric `CONNECT <speed>` codes are vendor specific, so `V0` gives `1` for every
//! speed except 1200 (`5`) and 2400 (`10`); a line without `AT` (line noise, `+++` sent in
//! command state) gets no reply at all.

use std::time::Duration;

/// Highest S register number accepted (`S0`..`S99`).
const S_REGS: usize = 100;
/// Longest command line kept; longer lines are answered with ERROR.
const MAX_LINE: usize = 255;

/// S register: rings before auto-answer (0 = never).
pub const S_AUTO_ANSWER: usize = 0;
/// S register: ring counter.
pub const S_RING_COUNT: usize = 1;
/// S register: escape character (default 43, `+`; above 127 disables the escape).
pub const S_ESCAPE: usize = 2;
/// S register: end-of-line character (default 13, CR).
pub const S_CR: usize = 3;
/// S register: line-feed character (default 10, LF).
pub const S_LF: usize = 4;
/// S register: backspace character (default 8, BS).
pub const S_BS: usize = 5;
/// S register: seconds to wait for carrier after dialling (default 50).
pub const S_CARRIER_WAIT: usize = 7;
/// S register: escape guard time in 1/50 s (default 50 = 1 s).
pub const S_GUARD: usize = 12;
/// S1 restarts from 0 when a RING comes this long after the previous one.
pub const RING_RESET: Duration = Duration::from_secs(8);

/// A final result code, formatted by [`At::format`] according to `V`, `Q` and `X`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultCode {
    /// `OK` (0).
    Ok,
    /// `CONNECT` (1), with the speed shown from `X1` on.
    Connect(Option<u32>),
    /// `RING` (2).
    Ring,
    /// `NO CARRIER` (3).
    NoCarrier,
    /// `ERROR` (4).
    Error,
    /// `NO DIALTONE` (6); shown as `NO CARRIER` below `X2` and at `X3`.
    NoDialtone,
    /// `BUSY` (7); shown as `NO CARRIER` below `X3`.
    Busy,
    /// `NO ANSWER` (8).
    NoAnswer,
}

/// What the interpreter asks the caller to do or send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtEvent {
    /// Bytes to echo to the DTE (only with `E1`).
    Echo(Vec<u8>),
    /// A command line (from `AT` on, as typed after editing) is about to be executed.
    Command(String),
    /// A final result code; send [`At::format`] of it.
    Result(ResultCode),
    /// `D<number>`: dial. The string is the rest of the line with a leading `T`/`P` removed.
    /// The caller answers with `CONNECT`, `BUSY`, `NO CARRIER`….
    Dial(String),
    /// `A`: answer. The caller answers with `CONNECT` or `NO CARRIER`.
    Answer,
    /// `H`/`H0`: hang up (an `OK` result follows).
    Hangup,
    /// `H1`: go off-hook (a call blocker picks up a ringing call to drop it; `OK` follows).
    OffHook,
    /// `O`: return online. The caller answers with `CONNECT`, or `NO CARRIER` without a call.
    Online,
    /// `Z` or `&F`: the settings went back to their defaults (an `OK` follows).
    Reset,
    /// Information text, already framed for the current `V` setting.
    Info(Vec<u8>),
}

/// What [`At::poll`] reports while online.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscapePoll {
    /// The `+++` escape completed: the modem is in command state now; send these events
    /// (an `OK` result).
    Escape(Vec<AtEvent>),
    /// Escape characters held back turned out to be data: pass them on.
    Release(Vec<u8>),
}

#[derive(Debug, Clone, Default)]
struct Escape {
    /// Escape characters seen so far (0-3), all held back.
    count: u8,
    /// When the last byte that was not part of an escape attempt passed.
    last_data: Duration,
    /// When the last escape character arrived.
    last_plus: Duration,
    /// When the remote end last sent an escape character to the DTE.
    remote_plus: Option<Duration>,
}

/// The AT interpreter: settings, S registers and the command line being typed.
#[derive(Debug, Clone)]
pub struct At {
    s: [u8; S_REGS],
    echo: bool,
    verbose: bool,
    quiet: bool,
    x: u8,
    default_echo: bool,
    line: Vec<u8>,
    overflow: bool,
    last: Vec<u8>,
    esc: Escape,
    dtr: Dtr,
    last_ring: Option<Duration>,
}

/// What the modem does when the DTE drops DTR (`&D`; on a pty: the last fd of the slave closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtr {
    /// `&D0`: ignore DTR.
    Ignore,
    /// `&D1`: go to command state, keep the call.
    Command,
    /// `&D2` (the default): hang up.
    Hangup,
    /// `&D3`: hang up and reset (like `ATZ`).
    Reset,
}

impl Dtr {
    fn from_digit(d: u8) -> Dtr {
        match d {
            0 => Dtr::Ignore,
            1 => Dtr::Command,
            3 => Dtr::Reset,
            _ => Dtr::Hangup,
        }
    }

    fn digit(self) -> u8 {
        match self {
            Dtr::Ignore => 0,
            Dtr::Command => 1,
            Dtr::Hangup => 2,
            Dtr::Reset => 3,
        }
    }
}

impl Default for At {
    fn default() -> Self {
        At::new(true)
    }
}

fn default_s() -> [u8; S_REGS] {
    let mut s = [0u8; S_REGS];
    s[S_ESCAPE] = 43;
    s[S_CR] = 13;
    s[S_LF] = 10;
    s[S_BS] = 8;
    s[6] = 2;
    s[S_CARRIER_WAIT] = 50;
    s[8] = 2;
    s[9] = 6;
    s[10] = 14;
    s[11] = 95;
    s[S_GUARD] = 50;
    s
}

impl At {
    /// A modem with factory settings; `echo` is the power-on `E` setting (`E1` = true).
    pub fn new(echo: bool) -> At {
        At {
            s: default_s(),
            echo,
            verbose: true,
            quiet: false,
            x: 4,
            default_echo: echo,
            line: Vec::new(),
            overflow: false,
            last: Vec::new(),
            esc: Escape::default(),
            dtr: Dtr::Hangup,
            last_ring: None,
        }
    }

    /// A RING at `now`: count it in S1 (which restarts after [`RING_RESET`] without a RING).
    /// True when S0 says to answer now (S0 > 0 and S1 has just reached it).
    pub fn ring(&mut self, now: Duration) -> bool {
        if self
            .last_ring
            .is_none_or(|t| now.saturating_sub(t) >= RING_RESET)
        {
            self.s[S_RING_COUNT] = 0;
        }
        self.s[S_RING_COUNT] = self.s[S_RING_COUNT].saturating_add(1);
        self.last_ring = Some(now);
        let s0 = self.s[S_AUTO_ANSWER];
        s0 > 0 && self.s[S_RING_COUNT] == s0
    }

    /// Whether a RING came less than [`RING_RESET`] before `now` (and the call was not
    /// answered since).
    pub fn ringing(&self, now: Duration) -> bool {
        self.last_ring
            .is_some_and(|t| now.saturating_sub(t) < RING_RESET)
    }

    /// The call was answered or the rings stopped: S1 back to 0.
    pub fn clear_rings(&mut self) {
        self.s[S_RING_COUNT] = 0;
        self.last_ring = None;
    }

    /// The `&D` setting: what a DTR drop does.
    pub fn dtr(&self) -> Dtr {
        self.dtr
    }

    /// The `&V` text: the settings and the S registers the modem uses.
    fn settings(&self) -> String {
        let mut s = format!(
            "E{} Q{} V{} X{} &D{}",
            u8::from(self.echo),
            u8::from(self.quiet),
            u8::from(self.verbose),
            self.x,
            self.dtr.digit()
        );
        let regs: Vec<String> = [0, 1, 2, 3, 4, 5, 7, 12]
            .iter()
            .map(|&n| format!("S{n:02}:{:03}", self.s[n]))
            .collect();
        s.push_str("\r\n");
        s.push_str(&regs.join(" "));
        s
    }

    /// Value of S register `n` (0 for numbers out of range).
    pub fn s_reg(&self, n: usize) -> u8 {
        self.s.get(n).copied().unwrap_or(0)
    }

    /// Set S register `n` (ignored when out of range), e.g. the power-on auto-answer count.
    pub fn set_s_reg(&mut self, n: usize, v: u8) {
        if let Some(r) = self.s.get_mut(n) {
            *r = v;
        }
    }

    /// Whether `E1` is in effect.
    pub fn echo(&self) -> bool {
        self.echo
    }

    /// Whether `V1` (verbose results) is in effect.
    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// Whether `Q1` (no results) is in effect.
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// The `X` level (0-4).
    pub fn x_level(&self) -> u8 {
        self.x
    }

    /// The escape guard time (S12, in 1/50 s).
    pub fn guard_time(&self) -> Duration {
        Duration::from_millis(u64::from(self.s[S_GUARD]) * 20)
    }

    fn reset(&mut self) {
        self.s = default_s();
        self.echo = self.default_echo;
        self.verbose = true;
        self.quiet = false;
        self.x = 4;
        self.dtr = Dtr::Hangup;
    }

    fn cr(&self) -> u8 {
        self.s[S_CR]
    }

    fn lf(&self) -> u8 {
        self.s[S_LF]
    }

    /// The bytes for result `code` under the current `V`/`Q`/`X` settings (empty with `Q1`):
    /// verbose `\r\nOK\r\n`, numeric `0\r`.
    pub fn format(&self, code: ResultCode) -> Vec<u8> {
        if self.quiet {
            return Vec::new();
        }
        let code = match (code, self.x) {
            (ResultCode::Connect(_), 0) => ResultCode::Connect(None),
            (ResultCode::Busy, 0..=2) => ResultCode::NoCarrier,
            (ResultCode::NoDialtone, 0 | 1 | 3) => ResultCode::NoCarrier,
            (c, _) => c,
        };
        let (num, text): (u32, String) = match code {
            ResultCode::Ok => (0, "OK".into()),
            ResultCode::Connect(None) => (1, "CONNECT".into()),
            ResultCode::Connect(Some(speed)) => (
                match speed {
                    1200 => 5,
                    2400 => 10,
                    _ => 1,
                },
                format!("CONNECT {speed}"),
            ),
            ResultCode::Ring => (2, "RING".into()),
            ResultCode::NoCarrier => (3, "NO CARRIER".into()),
            ResultCode::Error => (4, "ERROR".into()),
            ResultCode::NoDialtone => (6, "NO DIALTONE".into()),
            ResultCode::Busy => (7, "BUSY".into()),
            ResultCode::NoAnswer => (8, "NO ANSWER".into()),
        };
        let mut out = Vec::new();
        if self.verbose {
            out.extend_from_slice(&[self.cr(), self.lf()]);
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(&[self.cr(), self.lf()]);
        } else {
            out.extend_from_slice(num.to_string().as_bytes());
            out.push(self.cr());
        }
        out
    }

    /// Information text framed for the current `V` setting: `\r\ntext\r\n` or `text\r\n`.
    pub fn format_info(&self, text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        if self.verbose {
            out.extend_from_slice(&[self.cr(), self.lf()]);
        }
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(&[self.cr(), self.lf()]);
        out
    }

    /// Feed one byte the DTE sent in command state.
    pub fn input(&mut self, byte: u8) -> Vec<AtEvent> {
        let mut ev = Vec::new();
        let c = byte & 0x7f;
        if c == self.cr() {
            if self.echo {
                ev.push(AtEvent::Echo(vec![byte]));
            }
            let line = std::mem::take(&mut self.line);
            let overflow = std::mem::replace(&mut self.overflow, false);
            self.execute(&line, overflow, &mut ev);
            return ev;
        }
        if c == self.s[S_BS] || c == 0x7f {
            if self.line.pop().is_some() && self.echo {
                ev.push(AtEvent::Echo(vec![0x08, b' ', 0x08]));
            }
            return ev;
        }
        if self.echo {
            ev.push(AtEvent::Echo(vec![byte]));
        }
        if c == b'/' && self.line.len() == 1 && self.line[0].eq_ignore_ascii_case(&b'a') {
            self.line.clear();
            let last = self.last.clone();
            self.execute(&last, false, &mut ev);
            return ev;
        }
        if c < 0x20 {
            return ev; // LF and other control characters are not part of a command
        }
        if self.line.len() < MAX_LINE {
            self.line.push(c);
        } else {
            self.overflow = true;
        }
        ev
    }

    fn execute(&mut self, line: &[u8], overflow: bool, ev: &mut Vec<AtEvent>) {
        let Some(start) = line
            .windows(2)
            .position(|w| w[0].eq_ignore_ascii_case(&b'a') && w[1].eq_ignore_ascii_case(&b't'))
        else {
            return; // no AT: noise, ignored like a real modem does
        };
        let cmd = &line[start..];
        self.last = cmd.to_vec();
        ev.push(AtEvent::Command(String::from_utf8_lossy(cmd).into_owned()));
        if overflow {
            ev.push(AtEvent::Result(ResultCode::Error));
            return;
        }
        match self.run(&cmd[2..], ev) {
            Ok(true) => ev.push(AtEvent::Result(ResultCode::Ok)),
            Ok(false) => {}
            Err(()) => ev.push(AtEvent::Result(ResultCode::Error)),
        }
    }

    /// Execute the commands after `AT`. `Ok(true)`: send OK; `Ok(false)`: the caller answers
    /// (A, D, O); `Err`: ERROR.
    fn run(&mut self, body: &[u8], ev: &mut Vec<AtEvent>) -> Result<bool, ()> {
        let mut p = Parser { b: body, i: 0 };
        while let Some(c) = p.next_cmd() {
            match c {
                b'E' => self.echo = p.flag()?,
                b'V' => self.verbose = p.flag()?,
                b'Q' => self.quiet = p.flag()?,
                b'X' => self.x = p.digit_upto(4)?,
                // the guard reads the digit: H/H0 hang up, H1 goes off-hook
                b'H' if p.digit_upto(1)? == 0 => ev.push(AtEvent::Hangup),
                b'H' => ev.push(AtEvent::OffHook),
                b'Z' => {
                    p.digit_upto(9)?;
                    self.reset();
                    ev.push(AtEvent::Reset);
                }
                b'I' => {
                    let n = p.digit_upto(9)?;
                    let text = match n {
                        0 => Some("RGETTY VIRTUAL MODEM".to_string()),
                        1 => Some("000".to_string()),
                        2 => None,
                        3 => Some(format!("rgetty vmodem {}", env!("CARGO_PKG_VERSION"))),
                        n => Some(format!("I{n}: no information")),
                    };
                    if let Some(t) = text {
                        ev.push(AtEvent::Info(self.format_info(&t)));
                    }
                }
                b'S' => {
                    let n = usize::try_from(p.number().ok_or(())?).map_err(|_| ())?;
                    if n >= S_REGS {
                        return Err(());
                    }
                    match p.peek() {
                        Some(b'=') => {
                            p.i += 1;
                            let v = p.number().unwrap_or(0);
                            self.s[n] = u8::try_from(v).map_err(|_| ())?;
                        }
                        Some(b'?') => {
                            p.i += 1;
                            ev.push(AtEvent::Info(
                                self.format_info(&format!("{:03}", self.s[n])),
                            ));
                        }
                        _ => return Err(()),
                    }
                }
                b'A' => {
                    ev.push(AtEvent::Answer);
                    return Ok(false);
                }
                b'D' => {
                    let rest = String::from_utf8_lossy(&body[p.i..]).trim().to_string();
                    let num = match rest.chars().next() {
                        Some('T' | 't' | 'P' | 'p') => rest[1..].trim().to_string(),
                        _ => rest,
                    };
                    ev.push(AtEvent::Dial(num));
                    return Ok(false);
                }
                b'O' => {
                    p.digit_upto(1)?;
                    ev.push(AtEvent::Online);
                    return Ok(false);
                }
                b'L' | b'M' | b'B' | b'N' | b'P' | b'T' | b'W' | b'Y' | b'C' | b'F' | b'K' => {
                    p.number();
                }
                b'&' | b'\\' | b'%' => self.extended(c, &mut p, ev)?,
                b'+' => self.plus(&mut p, ev)?,
                _ => return Err(()),
            }
        }
        Ok(true)
    }

    /// `&x`, `\\x`, `%x` (`c` is the prefix): `&F`, `&D`, `&V` act, the others are accepted.
    fn extended(&mut self, c: u8, p: &mut Parser<'_>, ev: &mut Vec<AtEvent>) -> Result<(), ()> {
        let letter = p.next_cmd().ok_or(())?;
        if !letter.is_ascii_uppercase() {
            return Err(());
        }
        match (c, letter) {
            (b'&', b'F') => {
                p.number();
                self.reset();
                ev.push(AtEvent::Reset);
            }
            (b'&', b'D') => self.dtr = Dtr::from_digit(p.digit_upto(3)?),
            (b'&', b'V') => {
                p.number();
                ev.push(AtEvent::Info(self.format_info(&self.settings())));
            }
            _ => {
                p.number();
            }
        }
        Ok(())
    }

    /// A `+` command, up to the next `;`: only `+FCLASS` (data only).
    fn plus(&mut self, p: &mut Parser<'_>, ev: &mut Vec<AtEvent>) -> Result<(), ()> {
        let body = p.b;
        let end = body[p.i..]
            .iter()
            .position(|&b| b == b';')
            .map_or(body.len(), |k| p.i + k);
        let ext: String = String::from_utf8_lossy(&body[p.i..end])
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        p.i = (end + 1).min(body.len());
        match ext.as_str() {
            "FCLASS=?" | "FCLASS?" => ev.push(AtEvent::Info(self.format_info("0"))),
            "FCLASS=0" => {}
            _ => return Err(()),
        }
        Ok(())
    }

    /// Reset the escape detector when the modem goes online at time `now`.
    pub fn enter_online(&mut self, now: Duration) {
        self.esc = Escape {
            count: 0,
            last_data: now,
            last_plus: now,
            remote_plus: None,
        };
    }

    /// Bytes from the remote end were passed to the DTE at time `now`. An escape character
    /// the DTE sends within one guard time of the remote's is its echo (a tty echoing at a
    /// login prompt): data, never the start or part of an escape. Only the local DTE's own
    /// `+++` escapes, as on a real modem, whose DTE does not echo the line.
    pub fn remote_output(&mut self, bytes: &[u8], now: Duration) {
        if bytes.contains(&self.s[S_ESCAPE]) {
            self.esc.remote_plus = Some(now);
        }
    }

    /// Feed one byte the DTE sent while online at time `now`. Returns the bytes to pass to the
    /// remote end, or `None` while escape characters are held back (the remote never sees a
    /// successful `+++`). Call [`At::poll`] at [`At::escape_deadline`] first.
    pub fn online_input(&mut self, byte: u8, now: Duration) -> Option<Vec<u8>> {
        let g = self.guard_time();
        let esc = self.s[S_ESCAPE];
        let mut out = Vec::new();
        if self.esc.count > 0 && now.saturating_sub(self.esc.last_plus) >= g {
            // the attempt timed out (poll was not called): the held characters were data
            out.extend(std::iter::repeat_n(esc, usize::from(self.esc.count)));
            self.esc.count = 0;
            self.esc.last_data = self.esc.last_plus;
        }
        let echo = self
            .esc
            .remote_plus
            .is_some_and(|t| now.saturating_sub(t) < g);
        if esc <= 127 && byte == esc && !echo {
            let starts = self.esc.count == 0 && now.saturating_sub(self.esc.last_data) >= g;
            let continues = (1..3).contains(&self.esc.count);
            if starts || continues {
                self.esc.count += 1;
                self.esc.last_plus = now;
                return if out.is_empty() { None } else { Some(out) };
            }
        }
        out.extend(std::iter::repeat_n(esc, usize::from(self.esc.count)));
        self.esc.count = 0;
        out.push(byte);
        self.esc.last_data = now;
        Some(out)
    }

    /// When [`At::poll`] must next be called while online, if escape characters are pending.
    pub fn escape_deadline(&self) -> Option<Duration> {
        (self.esc.count > 0).then(|| self.esc.last_plus + self.guard_time())
    }

    /// Check the escape guard times at `now` while online.
    pub fn poll(&mut self, now: Duration) -> Option<EscapePoll> {
        let deadline = self.escape_deadline()?;
        if now < deadline {
            return None;
        }
        let count = std::mem::take(&mut self.esc.count);
        self.esc.last_data = self.esc.last_plus;
        if count == 3 {
            self.line.clear();
            Some(EscapePoll::Escape(vec![AtEvent::Result(ResultCode::Ok)]))
        } else {
            Some(EscapePoll::Release(vec![
                self.s[S_ESCAPE];
                usize::from(count)
            ]))
        }
    }
}

/// Cursor over the command bytes after `AT`.
struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip_spaces(&mut self) {
        while self.b.get(self.i) == Some(&b' ') {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_spaces();
        self.b.get(self.i).copied()
    }

    /// The next command letter, upper-cased.
    fn next_cmd(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c.to_ascii_uppercase())
    }

    /// Optional decimal number (saturating).
    fn number(&mut self) -> Option<u32> {
        self.skip_spaces();
        let start = self.i;
        let mut v: u32 = 0;
        while let Some(d) = self.b.get(self.i).filter(|b| b.is_ascii_digit()) {
            v = v.saturating_mul(10).saturating_add(u32::from(d - b'0'));
            self.i += 1;
        }
        (self.i > start).then_some(v)
    }

    /// Optional digit (missing = 0) no greater than `max`.
    fn digit_upto(&mut self, max: u8) -> Result<u8, ()> {
        match self.number() {
            None => Ok(0),
            Some(v) if v <= u32::from(max) => Ok(u8::try_from(v).map_err(|_| ())?),
            Some(_) => Err(()),
        }
    }

    fn flag(&mut self) -> Result<bool, ()> {
        Ok(self.digit_upto(1)? == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feed a string; return (echo bytes, other events).
    fn feed(at: &mut At, s: &str) -> (Vec<u8>, Vec<AtEvent>) {
        let mut echo = Vec::new();
        let mut evs = Vec::new();
        for &b in s.as_bytes() {
            for e in at.input(b) {
                match e {
                    AtEvent::Echo(v) => echo.extend(v),
                    AtEvent::Command(_) => {}
                    e => evs.push(e),
                }
            }
        }
        (echo, evs)
    }

    fn replies(at: &mut At, s: &str) -> Vec<u8> {
        let (_, evs) = feed(at, s);
        let mut out = Vec::new();
        for e in evs {
            match e {
                AtEvent::Result(c) => out.extend(at.format(c)),
                AtEvent::Info(v) => out.extend(v),
                _ => {}
            }
        }
        out
    }

    fn ok() -> AtEvent {
        AtEvent::Result(ResultCode::Ok)
    }
    fn err() -> AtEvent {
        AtEvent::Result(ResultCode::Error)
    }

    #[test]
    fn command_lines() {
        let table: &[(&str, Vec<AtEvent>)] = &[
            ("AT\r", vec![ok()]),
            ("at\r", vec![ok()]),
            ("ATQ0V1H0\r", vec![AtEvent::Hangup, ok()]),
            ("ATS0=0Q0&D3&C1\r", vec![ok()]),
            ("ATH\r", vec![AtEvent::Hangup, ok()]),
            ("ATH1\r", vec![AtEvent::OffHook, ok()]),
            ("ATZ\r", vec![AtEvent::Reset, ok()]),
            ("AT&F\r", vec![AtEvent::Reset, ok()]),
            ("ATA\r", vec![AtEvent::Answer]),
            ("ATO\r", vec![AtEvent::Online]),
            ("ATDT5551234\r", vec![AtEvent::Dial("5551234".into())]),
            ("ATDP 123\r", vec![AtEvent::Dial("123".into())]),
            (
                "ATD127.0.0.1:2323\r",
                vec![AtEvent::Dial("127.0.0.1:2323".into())],
            ),
            (
                "ATD host.example:23\r",
                vec![AtEvent::Dial("host.example:23".into())],
            ),
            ("ATX3L1M0\r", vec![ok()]),
            ("AT&K3&S0\\N3%C0\r", vec![ok()]),
            ("AT+FCLASS=0\r", vec![ok()]),
            ("AT+FCLASS=1\r", vec![err()]),
            ("AT+FCLASS=2\r", vec![err()]),
            ("AT+FCLASS=2.0\r", vec![err()]),
            ("AT+FAA=1\r", vec![err()]),
            ("AT+FLID=\"x\"\r", vec![err()]),
            ("ATJ\r", vec![err()]),
            ("ATX5\r", vec![err()]),
            ("ATE2\r", vec![err()]),
            ("ATS100=1\r", vec![err()]),
            ("ATS7=256\r", vec![err()]),
            ("ATS7\r", vec![err()]),
            ("AT&\r", vec![err()]),
            ("ATH0J\r", vec![AtEvent::Hangup, err()]),
            ("hello\r", vec![]),
            ("\r", vec![]),
            ("\x10\x03+++\r", vec![]),
            ("xxAT\r", vec![ok()]),
            ("AT \r", vec![ok()]),
        ];
        for (input, want) in table {
            let mut at = At::new(true);
            let (_, got) = feed(&mut at, input);
            assert_eq!(&got, want, "input {input:?}");
        }
    }

    #[test]
    fn formatting_v_q_x() {
        let mut at = At::new(true);
        assert_eq!(replies(&mut at, "AT\r"), b"\r\nOK\r\n");
        assert_eq!(replies(&mut at, "ATV0\r"), b"0\r");
        assert_eq!(replies(&mut at, "ATJ\r"), b"4\r");
        assert_eq!(at.format(ResultCode::Connect(Some(2400))), b"10\r");
        assert_eq!(
            replies(&mut at, "ATI3\r"),
            format!("rgetty vmodem {}\r\n0\r", env!("CARGO_PKG_VERSION")).as_bytes()
        );
        assert_eq!(replies(&mut at, "ATQ1V1\r"), b"");
        assert_eq!(at.format(ResultCode::Ring), b"");
        assert_eq!(replies(&mut at, "ATQ0\r"), b"\r\nOK\r\n");
        assert_eq!(
            at.format(ResultCode::Connect(Some(38400))),
            b"\r\nCONNECT 38400\r\n"
        );
        assert_eq!(at.format(ResultCode::Busy), b"\r\nBUSY\r\n");
        replies(&mut at, "ATX0\r");
        assert_eq!(
            at.format(ResultCode::Connect(Some(38400))),
            b"\r\nCONNECT\r\n"
        );
        assert_eq!(at.format(ResultCode::Busy), b"\r\nNO CARRIER\r\n");
        replies(&mut at, "ATX2\r");
        assert_eq!(at.format(ResultCode::NoDialtone), b"\r\nNO DIALTONE\r\n");
        assert_eq!(at.format(ResultCode::Busy), b"\r\nNO CARRIER\r\n");
        replies(&mut at, "ATX3\r");
        assert_eq!(at.format(ResultCode::NoDialtone), b"\r\nNO CARRIER\r\n");
        assert_eq!(at.format(ResultCode::Busy), b"\r\nBUSY\r\n");
        // Z restores V1 Q0 X4
        assert_eq!(replies(&mut at, "ATV0Q1Z\r"), b"\r\nOK\r\n");
        assert_eq!(at.x_level(), 4);
    }

    #[test]
    fn info_and_s_registers() {
        let mut at = At::new(true);
        assert_eq!(replies(&mut at, "AT+FCLASS=?\r"), b"\r\n0\r\n\r\nOK\r\n");
        assert_eq!(replies(&mut at, "AT+FCLASS?\r"), b"\r\n0\r\n\r\nOK\r\n");
        assert_eq!(
            replies(&mut at, "ATI\r"),
            b"\r\nRGETTY VIRTUAL MODEM\r\n\r\nOK\r\n"
        );
        assert_eq!(replies(&mut at, "ATI2\r"), b"\r\nOK\r\n");
        for n in 0..=9 {
            assert!(replies(&mut at, &format!("ATI{n}\r")).ends_with(b"OK\r\n"));
        }
        assert_eq!(replies(&mut at, "ATS2?\r"), b"\r\n043\r\n\r\nOK\r\n");
        assert_eq!(replies(&mut at, "ATS0=2S0?\r"), b"\r\n002\r\n\r\nOK\r\n");
        assert_eq!(at.s_reg(S_AUTO_ANSWER), 2);
        assert_eq!(replies(&mut at, "ATS12=5\r"), b"\r\nOK\r\n");
        assert_eq!(at.guard_time(), Duration::from_millis(100));
        assert_eq!(replies(&mut at, "ATS0=\r"), b"\r\nOK\r\n");
        assert_eq!(at.s_reg(S_AUTO_ANSWER), 0);
        assert_eq!(at.s_reg(S_CARRIER_WAIT), 50);
        // S3 changes the end-of-line character
        replies(&mut at, "ATS3=33\r");
        assert_eq!(replies(&mut at, "AT!"), b"!\nOK!\n");
    }

    #[test]
    fn echo_and_editing() {
        let mut at = At::new(true);
        let (echo, evs) = feed(&mut at, "ATXX\x08\x08Z\r");
        assert_eq!(echo, b"ATXX\x08 \x08\x08 \x08Z\r");
        assert_eq!(evs, vec![AtEvent::Reset, ok()]);
        // DEL works too; backspace on an empty line echoes nothing
        let (echo, evs) = feed(&mut at, "\x7fATJ\x7f\r");
        assert_eq!(echo, b"ATJ\x08 \x08\r");
        assert_eq!(evs, vec![ok()]);
        // E0 stops the echo from the next byte on
        let (echo, _) = feed(&mut at, "ATE0\r");
        assert_eq!(echo, b"ATE0\r");
        let (echo, evs) = feed(&mut at, "AT\r");
        assert!(echo.is_empty());
        assert_eq!(evs, vec![ok()]);
        // power-on E0
        let mut at = At::new(false);
        assert!(feed(&mut at, "AT\r").0.is_empty());
        assert_eq!(feed(&mut at, "ATE1\r").0, b"");
        assert_eq!(feed(&mut at, "AT\r").0, b"AT\r");
        // S5 changes the backspace character
        feed(&mut at, "ATS5=35\r");
        assert_eq!(feed(&mut at, "ATX#\r").1, vec![ok()]);
        // LF is echoed but ignored
        assert_eq!(feed(&mut at, "\nAT\r").1, vec![ok()]);
    }

    #[test]
    fn a_slash_repeats() {
        let mut at = At::new(true);
        let (_, evs) = feed(&mut at, "ATS0?\r");
        assert_eq!(evs.len(), 2);
        let mut cmds = Vec::new();
        for &b in b"A/" {
            for e in at.input(b) {
                if let AtEvent::Command(c) = e {
                    cmds.push(c);
                }
            }
        }
        assert_eq!(cmds, vec!["ATS0?".to_string()]);
        // a/ works too, and repeats dialling
        feed(&mut at, "ATD123\r");
        assert_eq!(feed(&mut at, "a/").1, vec![AtEvent::Dial("123".into())]);
        // "A/" in the middle of a line is not a repeat
        assert_eq!(feed(&mut at, "ATA/\r").1, vec![AtEvent::Answer]);
    }

    #[test]
    fn overflow_is_error() {
        let mut at = At::new(false);
        let long = format!("AT{}\r", "L".repeat(400));
        assert_eq!(feed(&mut at, &long).1, vec![err()]);
        assert_eq!(feed(&mut at, "AT\r").1, vec![ok()]);
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn escape_with_guard_times() {
        let mut at = At::new(true);
        at.enter_online(ms(0));
        assert_eq!(at.online_input(b'x', ms(100)), Some(b"x".to_vec()));
        // too soon after data: '+' is data
        assert_eq!(at.online_input(b'+', ms(200)), Some(b"+".to_vec()));
        // proper escape: 1 s of silence, three '+' within 1 s, 1 s of silence
        assert_eq!(at.online_input(b'+', ms(1300)), None);
        assert_eq!(at.online_input(b'+', ms(1400)), None);
        assert_eq!(at.online_input(b'+', ms(1500)), None);
        assert_eq!(at.escape_deadline(), Some(ms(2500)));
        assert_eq!(at.poll(ms(2000)), None);
        assert_eq!(at.poll(ms(2500)), Some(EscapePoll::Escape(vec![ok()])));
        assert_eq!(at.poll(ms(9000)), None);
    }

    #[test]
    fn an_echo_of_the_remotes_escape_is_data() {
        let mut at = At::new(true);
        at.enter_online(ms(0));
        // the remote's `+++` reaches the DTE, which echoes it: data, no escape
        at.remote_output(b"+++", ms(1000));
        for t in [1010, 1020, 1030] {
            assert_eq!(at.online_input(b'+', ms(t)), Some(b"+".to_vec()));
        }
        assert_eq!(at.escape_deadline(), None);
        // remote output without the escape character changes nothing
        at.remote_output(b"login: ", ms(3000));
        for t in [4100, 4200, 4300] {
            assert_eq!(at.online_input(b'+', ms(t)), None);
        }
        assert_eq!(at.poll(ms(5300)), Some(EscapePoll::Escape(vec![ok()])));
    }

    #[test]
    fn escape_interrupted() {
        let mut at = At::new(true);
        at.enter_online(ms(0));
        assert_eq!(at.online_input(b'+', ms(1000)), None);
        assert_eq!(at.online_input(b'+', ms(1100)), None);
        // data before the third '+': everything passes through
        assert_eq!(at.online_input(b'a', ms(1200)), Some(b"++a".to_vec()));
        // three '+' then data within the guard time: no escape
        for t in [2300, 2400, 2500] {
            assert_eq!(at.online_input(b'+', ms(t)), None);
        }
        assert_eq!(at.online_input(b'b', ms(2600)), Some(b"+++b".to_vec()));
        // two '+' then silence: released by poll
        assert_eq!(at.online_input(b'+', ms(4000)), None);
        assert_eq!(at.online_input(b'+', ms(4100)), None);
        assert_eq!(at.poll(ms(5100)), Some(EscapePoll::Release(b"++".to_vec())));
        // a fourth '+' within the guard time cancels the escape
        at.enter_online(ms(10_000));
        for t in [11_000, 11_100, 11_200] {
            assert_eq!(at.online_input(b'+', ms(t)), None);
        }
        assert_eq!(at.online_input(b'+', ms(11_300)), Some(b"++++".to_vec()));
        // S2 > 127 disables the escape
        at.set_s_reg(S_ESCAPE, 200);
        at.enter_online(ms(20_000));
        assert_eq!(at.online_input(200, ms(22_000)), Some(vec![200]));
        // S12 sets the guard time
        at.set_s_reg(S_ESCAPE, 43);
        at.set_s_reg(S_GUARD, 10);
        at.enter_online(ms(30_000));
        for t in [30_200, 30_300, 30_400] {
            assert_eq!(at.online_input(b'+', ms(t)), None);
        }
        assert_eq!(at.poll(ms(30_600)), Some(EscapePoll::Escape(vec![ok()])));
    }

    #[test]
    fn and_v_and_and_d() {
        let mut at = At::new(true);
        assert_eq!(at.dtr(), Dtr::Hangup);
        assert_eq!(replies(&mut at, "AT&D1S0=2\r"), b"\r\nOK\r\n");
        assert_eq!(at.dtr(), Dtr::Command);
        assert_eq!(
            replies(&mut at, "AT&V\r"),
            b"\r\nE1 Q0 V1 X4 &D1\r\nS00:002 S01:000 S02:043 S03:013 S04:010 S05:008 \
              S07:050 S12:050\r\n\r\nOK\r\n"
        );
        replies(&mut at, "AT&D0\r");
        assert_eq!(at.dtr(), Dtr::Ignore);
        replies(&mut at, "AT&D3\r");
        assert_eq!(at.dtr(), Dtr::Reset);
        assert_eq!(replies(&mut at, "AT&D4\r"), b"\r\nERROR\r\n");
        replies(&mut at, "ATZ\r");
        assert_eq!(at.dtr(), Dtr::Hangup);
    }

    #[test]
    fn ring_counting() {
        let mut at = At::new(true);
        at.set_s_reg(S_AUTO_ANSWER, 2);
        assert!(!at.ringing(ms(0)));
        assert!(!at.ring(ms(0)));
        assert!(at.ringing(ms(7_999)));
        assert!(at.ring(ms(6_000)), "the second ring answers");
        assert_eq!(at.s_reg(S_RING_COUNT), 2);
        assert!(!at.ring(ms(12_000)));
        assert_eq!(at.s_reg(S_RING_COUNT), 3);
        // 8 s without a RING: S1 starts again
        assert!(!at.ringing(ms(20_000)));
        assert!(!at.ring(ms(20_000)));
        assert_eq!(at.s_reg(S_RING_COUNT), 1);
        at.clear_rings();
        assert_eq!(at.s_reg(S_RING_COUNT), 0);
        assert!(!at.ringing(ms(20_001)));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut at = At::new(true);
            for b in &bytes {
                at.input(*b);
            }
            at.enter_online(Duration::ZERO);
            for (i, b) in bytes.iter().enumerate() {
                let now = Duration::from_millis(i as u64 * 300);
                at.poll(now);
                at.online_input(*b, now);
            }
        }
    }
}
