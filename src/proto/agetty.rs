//! agetty's issue escapes, os-release, terminal-size replies: pure, for direct and console
//! lines (docs/behaviour.md §5.6).
//!
//! mgetty and agetty give the same backslash letters different meanings (`\n` is a newline to
//! mgetty and the node name to agetty), so a file is rendered in one dialect
//! ([`Dialect`]): Debian's stock `/etc/issue`, `Debian GNU/Linux 12 \n \l`, needs agetty's.
//! The getty gathers the facts ([`Facts`], plus [`Extra`]: addresses and os-release) and
//! decides the dialect; nothing here reads a file or the clock.
//!
//! | Escape | Output |
//! |---|---|
//! | `\s` `\m` `\r` `\v` | uname sysname, machine, release, version |
//! | `\n` | node name (empty with `nohostname`) |
//! | `\l` | device (`ttyS0`) |
//! | `\b` | port speed |
//! | `\d` | date, `Sun Dec 06 2026` |
//! | `\t` | time, `HH:MM:SS` |
//! | `\u` | number of logged-in users |
//! | `\U` | `1 user`, `3 users` |
//! | `\4` `\6`, `\4{if}` `\6{if}` | first IPv4/IPv6 address (of interface `if`) |
//! | `\S`, `\S{VAR}` | os-release `PRETTY_NAME` (else `NAME`, else `Linux`), or `VAR` |
//! | `\e` | ESC |
//! | `\\` | `\` |
//! | `\<other>` | nothing (as agetty) |
//!
//! Lines end in `\r\n` (the issue is written with ONLCR off). Output per line is capped at
//! [`MAX_EXPANSION`] bytes like mgetty's.

use super::issue::{Facts, LocalTime, MAX_EXPANSION};

/// Whose escapes an issue text uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// mgetty's (`proto::issue`): `@`, `\n` newline, `\L` device, `\D` date.
    Mgetty,
    /// agetty's (this module): `\n` node name, `\l` device, `\d` date.
    Agetty,
}

impl Dialect {
    /// The `issue-escapes` setting: `mgetty`, `agetty`, or `auto`/empty (agetty on `direct`
    /// lines, mgetty on modem lines). `None` for anything else.
    ///
    /// ```
    /// use rgetty::proto::agetty::Dialect;
    /// assert_eq!(Dialect::from_setting("auto", true), Some(Dialect::Agetty));
    /// assert_eq!(Dialect::from_setting("", false), Some(Dialect::Mgetty));
    /// assert_eq!(Dialect::from_setting("mgetty", true), Some(Dialect::Mgetty));
    /// assert_eq!(Dialect::from_setting("bsd", true), None);
    /// ```
    pub fn from_setting(value: &str, direct: bool) -> Option<Dialect> {
        match value {
            "mgetty" => Some(Dialect::Mgetty),
            "agetty" => Some(Dialect::Agetty),
            "" | "auto" if direct => Some(Dialect::Agetty),
            "" | "auto" => Some(Dialect::Mgetty),
            _ => None,
        }
    }
}

/// What agetty's escapes show beyond mgetty's [`Facts`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extra {
    /// `(interface, address)` of the IPv4 addresses, loopback excluded, in system order.
    pub ipv4: Vec<(String, String)>,
    /// The same for IPv6 (link-local excluded).
    pub ipv6: Vec<(String, String)>,
    /// os-release's `KEY=value` pairs ([`parse_os_release`]).
    pub os_release: Vec<(String, String)>,
}

impl Extra {
    /// `VAR` from os-release.
    fn os(&self, key: &str) -> Option<&str> {
        self.os_release
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first address of `list`, or the first of interface `iface`.
    fn addr<'a>(list: &'a [(String, String)], iface: Option<&str>) -> &'a str {
        list.iter()
            .find(|(i, _)| iface.is_none_or(|want| want == i))
            .map_or("", |(_, a)| a.as_str())
    }
}

/// os-release's lines `KEY=value` or `KEY="value"` (single quotes too; `\"`, `\\`, `\$`, `` \` ``
/// unescaped inside double quotes); comments, blank and malformed lines are skipped.
///
/// ```
/// use rgetty::proto::agetty::parse_os_release;
/// let v = parse_os_release("# x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n");
/// assert_eq!(v, vec![("PRETTY_NAME".into(), "Debian GNU/Linux 12 (bookworm)".into()), ("ID".into(), "debian".into())]);
/// ```
pub fn parse_os_release(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        out.push((k.to_string(), unquote(v)));
    }
    out
}

/// An os-release value without its quotes.
fn unquote(v: &str) -> String {
    if let Some(inner) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return inner.to_string();
    }
    let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return v.to_string();
    };
    let mut s = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some(n @ ('"' | '\\' | '$' | '`'))) => {
                s.push(n);
                chars.next();
            }
            _ => s.push(c),
        }
    }
    s
}

/// `\d`: agetty's date, `%a %b %d %Y`, e.g. `Sun Dec 06 2026`.
fn date(t: &LocalTime) -> String {
    let c = t.ctime(); // "Sun Dec  6 09:05:01 2026"
    let (wd, mo) = (c.get(0..3).unwrap_or("???"), c.get(4..7).unwrap_or("???"));
    format!("{wd} {mo} {:02} {}", t.day, t.year)
}

/// `{name}` right after an escape: the name and the bytes it used.
fn braced(rest: &[u8]) -> Option<(&str, usize)> {
    let body = rest.strip_prefix(b"{")?;
    let end = body.iter().position(|&b| b == b'}')?;
    let name = std::str::from_utf8(&body[..end]).ok()?;
    Some((name, end + 2))
}

/// One escape letter `e` (after `\`), with what follows it: the bytes and the bytes of
/// `rest` its `{...}` argument used.
fn escape(e: u8, rest: &[u8], f: &Facts, x: &Extra) -> (Vec<u8>, usize) {
    let arg = braced(rest);
    let used = arg.map_or(0, |(_, n)| n);
    let name = arg.map(|(a, _)| a);
    let s = |v: &str| (v.as_bytes().to_vec(), 0);
    match e {
        b's' => s(&f.sysname),
        b'm' => s(&f.machine),
        b'r' => s(&f.release),
        b'v' => s(&f.version),
        b'n' => s(&f.nodename),
        b'l' => s(&f.device),
        b'b' => s(&f.speed.to_string()),
        b'd' => s(&date(&f.now)),
        b't' => s(&f.now.hms()),
        b'u' => s(&f.users.to_string()),
        b'U' if f.users == 1 => s("1 user"),
        b'U' => s(&format!("{} users", f.users)),
        b'e' => s("\x1b"),
        b'\\' => s("\\"),
        b'4' => (Extra::addr(&x.ipv4, name).as_bytes().to_vec(), used),
        b'6' => (Extra::addr(&x.ipv6, name).as_bytes().to_vec(), used),
        b'S' => {
            let v = match name {
                Some(var) => x.os(var).unwrap_or(""),
                None => x.os("PRETTY_NAME").or(x.os("NAME")).unwrap_or("Linux"),
            };
            (v.as_bytes().to_vec(), used)
        }
        _ => (Vec::new(), 0),
    }
}

/// Expand agetty's escapes in one line of text (no newline in it); at most
/// [`MAX_EXPANSION`] bytes.
///
/// ```
/// use rgetty::proto::agetty::{expand, Extra};
/// use rgetty::proto::issue::Facts;
/// let f = Facts { nodename: "box".into(), device: "ttyS0".into(), ..Facts::default() };
/// assert_eq!(expand(b"Debian GNU/Linux 12 \\n \\l", &f, &Extra::default()), b"Debian GNU/Linux 12 box ttyS0");
/// ```
pub fn expand(line: &[u8], f: &Facts, x: &Extra) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() && out.len() < MAX_EXPANSION {
        let c = line[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = line.get(i) else { break };
        i += 1;
        let (bytes, used) = escape(e, &line[i..], f, x);
        i += used;
        out.extend_from_slice(&bytes);
    }
    out.truncate(MAX_EXPANSION);
    out
}

/// Render an issue file in agetty's dialect: each line expanded and ended with `\r\n`.
///
/// ```
/// use rgetty::proto::agetty::{render_file, Extra};
/// use rgetty::proto::issue::Facts;
/// let f = Facts { nodename: "h".into(), ..Facts::default() };
/// assert_eq!(render_file(b"a \\n\n\nb", &f, &Extra::default()), b"a h\r\n\r\nb\r\n");
/// ```
pub fn render_file(contents: &[u8], f: &Facts, x: &Extra) -> Vec<u8> {
    let mut out = Vec::new();
    for line in contents.split_inclusive(|&b| b == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        out.extend_from_slice(&expand(body, f, x));
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The terminal's answer to a cursor-position request (`ESC [ 6 n`) after moving to
/// 999;999: `ESC [ rows ; cols R` anywhere in `reply`, as `(rows, cols)`. `None` if there is
/// none or a value is 0 or over 9999.
///
/// ```
/// use rgetty::proto::agetty::parse_cursor_report;
/// assert_eq!(parse_cursor_report(b"x\x1b[50;132R"), Some((50, 132)));
/// assert_eq!(parse_cursor_report(b"\x1b[50;132"), None);
/// ```
pub fn parse_cursor_report(reply: &[u8]) -> Option<(u16, u16)> {
    let start = reply.windows(2).rposition(|w| w == b"\x1b[")?;
    let body = &reply[start + 2..];
    let end = body.iter().position(|&b| b == b'R')?;
    let text = std::str::from_utf8(&body[..end]).ok()?;
    let (r, c) = text.split_once(';')?;
    let (r, c) = (r.parse::<u16>().ok()?, c.parse::<u16>().ok()?);
    ((1..=9999).contains(&r) && (1..=9999).contains(&c)).then_some((r, c))
}

/// A terminal size `ROWSxCOLS` (`50x132`): the `term-size` setting and `LINES`/`COLUMNS`.
///
/// ```
/// use rgetty::proto::agetty::parse_size;
/// assert_eq!(parse_size("50x132"), Some((50, 132)));
/// assert_eq!(parse_size("0x80"), None);
/// ```
pub fn parse_size(value: &str) -> Option<(u16, u16)> {
    let (r, c) = value.trim().split_once(['x', 'X'])?;
    let (r, c) = (r.parse::<u16>().ok()?, c.parse::<u16>().ok()?);
    ((1..=9999).contains(&r) && (1..=9999).contains(&c)).then_some((r, c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn facts() -> Facts {
        crate::proto::issue::tests::facts()
    }

    fn extra() -> Extra {
        Extra {
            ipv4: vec![
                ("eth0".into(), "192.0.2.7".into()),
                ("wlan0".into(), "198.51.100.2".into()),
            ],
            ipv6: vec![("eth0".into(), "2001:db8::7".into())],
            os_release: parse_os_release("PRETTY_NAME=\"Debian GNU/Linux 12\"\nID=debian\n"),
        }
    }

    #[test]
    fn every_escape() {
        let out = expand(
            b"\\s \\m \\r \\v \\n \\l \\b \\d \\t \\u \\U \\4 \\4{wlan0} \\6 \\S \\S{ID} \\S{NOPE}. \\\\ \\q",
            &facts(),
            &extra(),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Linux x86_64 6.18.0 #1 SMP gate pts/4 38400 Sun Nov 22 2026 19:51:02 3 3 users \
             192.0.2.7 198.51.100.2 2001:db8::7 Debian GNU/Linux 12 debian . \\ "
        );
    }

    #[test]
    fn debian_stock_issue_has_no_stray_l() {
        let out = render_file(b"Debian GNU/Linux 12 \\n \\l\n\n", &facts(), &extra());
        assert_eq!(out, b"Debian GNU/Linux 12 gate pts/4\r\n\r\n");
    }

    #[test]
    fn one_user_and_no_os_release() {
        let f = Facts {
            users: 1,
            ..facts()
        };
        assert_eq!(
            expand(b"\\U \\S \\4{none}|", &f, &Extra::default()),
            b"1 user Linux |"
        );
    }

    #[test]
    fn quoting_in_os_release() {
        let v = parse_os_release("A='x y'\nB=\"a\\\"b\\\\c\"\nbad line\n-X=1\n");
        assert_eq!(
            v,
            vec![("A".into(), "x y".into()), ("B".into(), "a\"b\\c".into())]
        );
    }

    #[test]
    fn cursor_reports() {
        assert_eq!(parse_cursor_report(b"\x1b[24;80R"), Some((24, 80)));
        assert_eq!(parse_cursor_report(b"junk\x1b[0;80R"), None);
        assert_eq!(parse_cursor_report(b""), None);
        assert_eq!(parse_size(" 24x80 "), Some((24, 80)));
        assert_eq!(parse_size("24"), None);
    }

    proptest! {
        #[test]
        fn expansion_is_capped(t in prop::collection::vec(any::<u8>(), 0..2000)) {
            prop_assert!(expand(&t, &facts(), &extra()).len() <= MAX_EXPANSION);
            let _ = parse_cursor_report(&t);
        }
    }
}
