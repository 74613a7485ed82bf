//! Issue file and login prompt: mgetty's escapes, rendered into bytes.
//!
//! Pure: no I/O, no clock, no uname. Implements `docs/behaviour.md` §5.1 and §5.2 (Q7, Q8,
//! Q17). The getty gathers the [`Facts`] (uname, device, caller ID, CONNECT string, number of
//! logged-in users, port speed, local time from `localtime_r`), reads the issue file if there is
//! one, and writes the bytes returned here. Rendering never changes terminal modes: the issue
//! is written with ONLCR off, which is why file lines end in `\n\r` (the `\r` is added here).
//!
//! The escapes are mgetty's, not agetty's (Q8): `@` is the node name, `\n` is a newline.
//!
//! | Escape | Output |
//! |---|---|
//! | `@` | node name |
//! | `\n` `\r` `\t` `\g` `\b` `\v` `\f` | LF, CR, TAB, BEL, BS, VT, FF |
//! | `\s` `\m` `\R` `\V` | uname sysname, machine, release, version |
//! | `\P` `\L` | device (`ttyS0`, `pts/4`) |
//! | `\Y` | caller ID (`none` if unknown) |
//! | `\I` | CONNECT string |
//! | `\N` `\U` | number of logged-in users |
//! | `\S` | port speed |
//! | `\C` | ctime() without newline: `Sun Nov 22 19:51:12 2026` |
//! | `\D` | `M/D/YYYY`, unpadded (Q7) |
//! | `\T` | `HH:MM:SS` |
//! | `\<digits>` | one byte, C `strtol` base 0: `\065` octal, `\0x41` hex, `\65` decimal |
//! | `\<other>` | that character (`\q` → `q`, `\\` → `\`, `\@` → `@`) |
//!
//! Output is capped at [`MAX_EXPANSION`] bytes.
//!
//! # The `!command` form
//! An `issue-file` value starting with `!` is a shell command whose output goes to the line
//! unprocessed (Q17). Running it is I/O and belongs to the getty: it runs as root with the line
//! as stdout, so it is exactly as trusted as the config file that names it — an admin-configured
//! command, never something a caller can influence.
//!
//! # Deliberate differences from mgetty
//! * A NUL byte (from `\0`, `\00`, … or in the text itself) ends the expansion, as it ends
//!   mgetty's C string; for file lines the line terminator is still written.
//! * An over-long file line is truncated to [`MAX_EXPANSION`] bytes but keeps its newline
//!   (mgetty loses the newline with the truncated tail, so the next line overprints it).
//! * A lone `\` at the end of the template produces nothing (mgetty reads past the string).
//! * The cap is applied to the whole output; mgetty skips an escape whose value does not fit
//!   (and prints `(x)` for `\D`/`\T`), so near the limit the truncation point may differ.

use std::path::PathBuf;

/// Most bytes one expansion (the prompt, or one issue-file line) produces.
pub const MAX_EXPANSION: usize = 300;

/// mgetty reads the issue file with `fgets` into a 1024-byte buffer: longer lines are
/// processed in chunks of this many bytes.
pub const FILE_CHUNK: usize = 1023;

/// Broken-down local time, as filled from `localtime_r` by the getty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalTime {
    /// Full year, e.g. 2026.
    pub year: i32,
    /// Month, 1..=12.
    pub month: u32,
    /// Day of the month, 1..=31.
    pub day: u32,
    /// Hour, 0..=23.
    pub hour: u32,
    /// Minute, 0..=59.
    pub minute: u32,
    /// Second, 0..=60.
    pub second: u32,
    /// Day of the week, 0 = Sunday.
    pub weekday: u32,
}

impl LocalTime {
    /// `ctime()` format without the trailing newline: `Sun Nov 22 19:51:12 2026`.
    ///
    /// ```
    /// let t = rgetty::proto::issue::LocalTime { year: 2026, month: 11, day: 2, hour: 9, minute: 5, second: 1, weekday: 1 };
    /// assert_eq!(t.ctime(), "Mon Nov  2 09:05:01 2026");
    /// ```
    pub fn ctime(&self) -> String {
        const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let wd = usize::try_from(self.weekday)
            .ok()
            .and_then(|i| DAYS.get(i))
            .unwrap_or(&"???");
        let mo = usize::try_from(self.month)
            .ok()
            .and_then(|m| m.checked_sub(1))
            .and_then(|i| MONTHS.get(i))
            .unwrap_or(&"???");
        format!(
            "{wd} {mo}{:3} {:02}:{:02}:{:02} {}",
            self.day, self.hour, self.minute, self.second, self.year
        )
    }

    /// `\D`: `M/D/YYYY` without padding (Q7), e.g. `11/22/2026`.
    pub fn mdy(&self) -> String {
        format!("{}/{}/{}", self.month, self.day, self.year)
    }

    /// `\T`: `HH:MM:SS`.
    pub fn hms(&self) -> String {
        format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
    }
}

/// Everything the escapes can show, gathered by the getty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// uname node name (`@`).
    pub nodename: String,
    /// uname sysname (`\s`).
    pub sysname: String,
    /// uname machine (`\m`).
    pub machine: String,
    /// uname release (`\R`).
    pub release: String,
    /// uname version (`\V`).
    pub version: String,
    /// Device, `/dev/` removed (`\P`, `\L`).
    pub device: String,
    /// Caller ID, `none` if unknown (`\Y`).
    pub caller_id: String,
    /// CONNECT string (`\I`).
    pub connect: String,
    /// Number of USER_PROCESS utmp entries (`\N`, `\U`).
    pub users: usize,
    /// Current port speed (`\S`).
    pub speed: u32,
    /// Local time (`\C`, `\D`, `\T`).
    pub now: LocalTime,
}

/// Result of [`expand_with_status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// The expanded bytes (at most [`MAX_EXPANSION`]).
    pub bytes: Vec<u8>,
    /// True when output was cut at [`MAX_EXPANSION`] (mgetty logs a warning).
    pub truncated: bool,
}

/// C `strtol(s, &end, 0)` on a string that starts with a digit: the value and the number of
/// bytes used. Saturates like strtol (LONG_MAX).
fn strtol0(s: &[u8]) -> (i64, usize) {
    let (radix, start) = match s {
        [b'0', b'x' | b'X', h, ..] if h.is_ascii_hexdigit() => (16, 2),
        [b'0', ..] => (8, 0),
        _ => (10, 0),
    };
    let mut v: i64 = 0;
    let mut n = start;
    while let Some(d) = s.get(n).and_then(|&c| char::from(c).to_digit(radix)) {
        v = v
            .saturating_mul(i64::from(radix))
            .saturating_add(i64::from(d));
        n += 1;
    }
    (v, n)
}

/// Expand the escapes of §5.2; see [`expand`].
pub fn expand_with_status(template: &[u8], facts: &Facts) -> Expansion {
    let mut out: Vec<u8> = Vec::with_capacity(template.len().min(MAX_EXPANSION));
    let mut i = 0;
    'outer: while i < template.len() {
        let c = template[i];
        i += 1;
        let piece: Vec<u8> = match c {
            b'@' => facts.nodename.as_bytes().to_vec(),
            b'\\' => {
                let Some(&e) = template.get(i) else {
                    break;
                };
                i += 1;
                match e {
                    b'n' => vec![b'\n'],
                    b'r' => vec![b'\r'],
                    b't' => vec![b'\t'],
                    b'g' => vec![0x07],
                    b'b' => vec![0x08],
                    b'v' => vec![0x0b],
                    b'f' => vec![0x0c],
                    b's' => facts.sysname.as_bytes().to_vec(),
                    b'm' => facts.machine.as_bytes().to_vec(),
                    b'R' => facts.release.as_bytes().to_vec(),
                    b'V' => facts.version.as_bytes().to_vec(),
                    b'P' | b'L' => facts.device.as_bytes().to_vec(),
                    b'Y' => facts.caller_id.as_bytes().to_vec(),
                    b'I' => facts.connect.as_bytes().to_vec(),
                    b'N' | b'U' => facts.users.to_string().into_bytes(),
                    b'S' => facts.speed.to_string().into_bytes(),
                    b'C' => facts.now.ctime().into_bytes(),
                    b'D' => facts.now.mdy().into_bytes(),
                    b'T' => facts.now.hms().into_bytes(),
                    d if d.is_ascii_digit() => {
                        let (v, used) = strtol0(&template[i - 1..]);
                        i = i - 1 + used;
                        // C stores the long into a char: the low byte
                        vec![v.to_le_bytes()[0]]
                    }
                    other => vec![other],
                }
            }
            other => vec![other],
        };
        for b in piece {
            if b == 0 {
                break 'outer;
            }
            if out.len() == MAX_EXPANSION {
                return Expansion {
                    bytes: out,
                    truncated: true,
                };
            }
            out.push(b);
        }
    }
    Expansion {
        bytes: out,
        truncated: false,
    }
}

/// Expand the prompt/issue escapes of §5.2 in `template`; at most [`MAX_EXPANSION`] bytes.
///
/// ```
/// use rgetty::proto::issue::{expand, Facts};
/// let f = Facts { nodename: "box".into(), device: "ttyS0".into(), ..Facts::default() };
/// assert_eq!(expand(b"@ \\L login: ", &f), b"box ttyS0 login: ");
/// assert_eq!(expand(b"\\065\\0x41\\65\\q", &f), b"5AAq");
/// ```
pub fn expand(template: &[u8], facts: &Facts) -> Vec<u8> {
    expand_with_status(template, facts).bytes
}

/// What the `issue-file` setting means (§5.1, Q17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueSource {
    /// `!cmd`: run `cmd` (without the `!`) with `/bin/sh -c`, output straight to the line. The
    /// getty runs it; see the module docs on trust.
    Command(String),
    /// Not an absolute path: the value itself is the text ([`render_literal`]); an empty value
    /// prints an empty line.
    Literal(String),
    /// Absolute path: a file rendered line by line ([`render_file_lines`]); a missing file
    /// prints nothing.
    File(PathBuf),
}

impl IssueSource {
    /// Interpret an `issue-file` value.
    ///
    /// ```
    /// use rgetty::proto::issue::IssueSource;
    /// assert_eq!(IssueSource::from_setting("!/usr/games/fortune"), IssueSource::Command("/usr/games/fortune".into()));
    /// assert_eq!(IssueSource::from_setting("/etc/issue.mgetty"), IssueSource::File("/etc/issue.mgetty".into()));
    /// assert_eq!(IssueSource::from_setting("Welcome to @"), IssueSource::Literal("Welcome to @".into()));
    /// ```
    pub fn from_setting(value: &str) -> IssueSource {
        if let Some(cmd) = value.strip_prefix('!') {
            IssueSource::Command(cmd.to_string())
        } else if value.starts_with('/') {
            IssueSource::File(PathBuf::from(value))
        } else {
            IssueSource::Literal(value.to_string())
        }
    }
}

/// Render the contents of an issue file (§5.1): each line (and each [`FILE_CHUNK`]-byte piece
/// of a longer one) is expanded, capped at [`MAX_EXPANSION`] bytes, written with its newline,
/// and followed by `\r` — so `abc\n` goes out as `abc\n\r` (ONLCR is off).
///
/// ```
/// use rgetty::proto::issue::{render_file_lines, Facts};
/// assert_eq!(render_file_lines(b"abc\n@\n", &Facts { nodename: "h".into(), ..Facts::default() }), b"abc\n\rh\n\r");
/// ```
pub fn render_file_lines(contents: &[u8], facts: &Facts) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = contents;
    while !rest.is_empty() {
        let take = rest
            .iter()
            .take(FILE_CHUNK)
            .position(|&b| b == b'\n')
            .map_or(rest.len().min(FILE_CHUNK), |p| p + 1);
        let (chunk, tail) = rest.split_at(take);
        rest = tail;
        let (body, newline) = match chunk.strip_suffix(b"\n") {
            Some(body) => (body, true),
            None => (chunk, false),
        };
        out.extend_from_slice(&expand(body, facts));
        if newline {
            out.push(b'\n');
        }
        out.push(b'\r');
    }
    out
}

/// Render a literal `issue-file` value (not an absolute path): expanded, then `\r\n`.
pub fn render_literal(text: &str, facts: &Facts) -> Vec<u8> {
    let mut out = expand(text.as_bytes(), facts);
    out.extend_from_slice(b"\r\n");
    out
}

/// The bytes mgetty writes before reading a name: `\r\n` and the expanded prompt (§5.3).
pub fn render_prompt(prompt: &str, facts: &Facts) -> Vec<u8> {
    let mut out = b"\r\n".to_vec();
    out.extend_from_slice(&expand(prompt.as_bytes(), facts));
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Facts for escape tests (also `proto::agetty`'s).
    pub(crate) fn facts() -> Facts {
        Facts {
            nodename: "gate".into(),
            sysname: "Linux".into(),
            machine: "x86_64".into(),
            release: "6.18.0".into(),
            version: "#1 SMP".into(),
            device: "pts/4".into(),
            caller_id: "none".into(),
            connect: "33600/ARQ".into(),
            users: 3,
            speed: 38400,
            now: LocalTime {
                year: 2026,
                month: 11,
                day: 22,
                hour: 19,
                minute: 51,
                second: 2,
                weekday: 0,
            },
        }
    }

    #[test]
    fn escape_table() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"@ login: ", b"gate login: "),
            (b"@!login: ", b"gate!login: "),
            (b"\\n\\r\\t\\g\\b\\v\\f", b"\n\r\t\x07\x08\x0b\x0c"),
            (b"\\s \\m \\R \\V", b"Linux x86_64 6.18.0 #1 SMP"),
            (b"\\P=\\L", b"pts/4=pts/4"),
            (b"\\Y", b"none"),
            (b"[\\I]", b"[33600/ARQ]"),
            (b"\\N \\U", b"3 3"),
            (b"\\S", b"38400"),
            (b"\\C", b"Sun Nov 22 19:51:02 2026"),
            (b"\\D", b"11/22/2026"),
            (b"\\T", b"19:51:02"),
            // Q7: strtol base 0
            (b"\\065", b"5"),
            (b"\\0x41", b"A"),
            (b"\\0X41z", b"Az"),
            (b"\\65", b"A"),
            (b"\\101", b"e"),
            (b"\\040x", b" x"),
            (b"\\08", b""),
            (b"a\\0xg", b"a"),
            (b"\\9", b"\t"),
            (b"\\321", &[0x41]),
            (b"\\99999999999999999999999", &[0xff]),
            // other escapes: the character itself
            (b"\\q\\\\\\@\\\"", b"q\\@\""),
            // trailing backslash
            (b"ab\\", b"ab"),
            (b"", b""),
            // agetty-style escapes are not agetty's (Q8)
            (b"Debian 12 \\n \\l", b"Debian 12 \n l"),
            // NUL ends the text
            (b"a\0b", b"a"),
        ];
        let f = facts();
        for (input, want) in cases {
            assert_eq!(
                expand(input, &f),
                want.to_vec(),
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn cap_at_300() {
        let f = facts();
        let long = vec![b'x'; 1000];
        let e = expand_with_status(&long, &f);
        assert_eq!(e.bytes.len(), MAX_EXPANSION);
        assert!(e.truncated);
        let e = expand_with_status(&vec![b'x'; MAX_EXPANSION], &f);
        assert!(!e.truncated);
        let many_at = vec![b'@'; 200];
        assert_eq!(expand(&many_at, &f).len(), MAX_EXPANSION);
    }

    #[test]
    fn ctime_padding_and_bad_values() {
        let t = LocalTime {
            year: 2026,
            month: 1,
            day: 5,
            hour: 0,
            minute: 0,
            second: 0,
            weekday: 6,
        };
        assert_eq!(t.ctime(), "Sat Jan  5 00:00:00 2026");
        assert_eq!(t.mdy(), "1/5/2026");
        let bad = LocalTime {
            month: 13,
            weekday: 9,
            ..t
        };
        assert_eq!(bad.ctime(), "??? ???  5 00:00:00 2026");
        let zero = LocalTime::default();
        assert_eq!(zero.ctime(), "Sun ???  0 00:00:00 0");
    }

    #[test]
    fn sources() {
        assert_eq!(
            IssueSource::from_setting(""),
            IssueSource::Literal(String::new())
        );
        assert_eq!(
            IssueSource::from_setting("!"),
            IssueSource::Command(String::new())
        );
        assert_eq!(
            IssueSource::from_setting("etc/issue"),
            IssueSource::Literal("etc/issue".into())
        );
    }

    #[test]
    fn file_lines() {
        let f = facts();
        assert_eq!(render_file_lines(b"", &f), b"");
        assert_eq!(render_file_lines(b"abc\n", &f), b"abc\n\r");
        assert_eq!(render_file_lines(b"abc", &f), b"abc\r");
        assert_eq!(render_file_lines(b"\n\n", &f), b"\n\r\n\r");
        assert_eq!(render_file_lines(b"a\\nb\n", &f), b"a\nb\n\r");
        assert_eq!(render_file_lines(b"a\0z\nb\n", &f), b"a\n\rb\n\r");
        // a long line: truncated to 300, newline kept
        let mut long = vec![b'y'; 500];
        long.push(b'\n');
        let out = render_file_lines(&long, &f);
        assert_eq!(out.len(), MAX_EXPANSION + 2);
        assert!(out.ends_with(b"y\n\r"));
        // longer than the fgets buffer: processed in chunks
        let huge = vec![b'z'; FILE_CHUNK + 10];
        let out = render_file_lines(&huge, &f);
        let mut want = vec![b'z'; MAX_EXPANSION];
        want.push(b'\r');
        want.extend_from_slice(&[b'z'; 10]);
        want.push(b'\r');
        assert_eq!(out, want);
        // an escape is not split by a line end
        assert_eq!(render_file_lines(b"x\\\ny\n", &f), b"x\n\ry\n\r");
    }

    #[test]
    fn literal_and_prompt() {
        let f = facts();
        assert_eq!(render_literal("", &f), b"\r\n");
        assert_eq!(render_literal("Hi @", &f), b"Hi gate\r\n");
        assert_eq!(render_prompt("@ login: ", &f), b"\r\ngate login: ");
    }

    proptest! {
        #[test]
        fn expand_is_bounded_and_total(t in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let e = expand(&t, &facts());
            prop_assert!(e.len() <= MAX_EXPANSION);
            prop_assert!(!e.contains(&0));
        }

        #[test]
        fn plain_text_is_unchanged(t in "[a-zA-Z0-9 .,:!?-]{0,300}") {
            prop_assert_eq!(expand(t.as_bytes(), &facts()), t.as_bytes().to_vec());
        }

        #[test]
        fn file_render_total(t in proptest::collection::vec(any::<u8>(), 0..5000)) {
            let out = render_file_lines(&t, &facts());
            let lines = t.iter().filter(|&&b| b == b'\n').count();
            prop_assert!(out.iter().filter(|&&b| b == b'\r').count() >= lines);
        }
    }
}
