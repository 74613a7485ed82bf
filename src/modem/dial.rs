//! What `ATD<number>` connects to: the phonebook, dial rules and plain `host:port`.
//!
//! Pure: [`Phonebook::parse`] takes the text of a `--phonebook FILE`; errors name `file:line`.
//! Each line is `name target [raw|telnet]`; blank lines and lines starting with `#` are
//! skipped:
//!
//! ```text
//! # name        host:port             mode
//! bbs           bbs.example.org:23    telnet
//! local         127.0.0.1:2323        raw
//! /^1(\d{3})$/  10.0.0.$1:23          telnet
//! ```
//!
//! A name between slashes is a dial rule: a regex matched against the dialled number (with
//! blanks, `-`, `(` and `)` removed); `$1`… in the target are its captures. `--dial-rule` takes
//! the same line syntax. [`Phonebook::resolve`] tries, in order: a phonebook name (ignoring
//! case), the rules in file order, then the number itself when it is `host:port`. The mode
//! chooses per call between telnet (IAC processing, BINARY negotiated) and raw bytes; without
//! one the modem's `--telnet` setting applies.

use regex::Regex;

/// How the bytes of a call travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialMode {
    /// Bytes as they are.
    Raw,
    /// Telnet: IAC escaped, options negotiated (BINARY both ways).
    Telnet,
}

/// Where a dialled number leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port`.
    pub addr: String,
    /// The entry's mode, if it named one.
    pub mode: Option<DialMode>,
    /// It came from a phonebook name or dial rule (not a `host:port` typed after `ATD`).
    pub listed: bool,
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    target: String,
    mode: Option<DialMode>,
}

#[derive(Debug, Clone)]
struct Rule {
    re: Regex,
    target: String,
    mode: Option<DialMode>,
}

/// A phonebook line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}: {msg}")]
pub struct ParseError {
    /// The file (or `--dial-rule`).
    pub origin: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

/// Phonebook entries and dial rules.
#[derive(Debug, Clone, Default)]
pub struct Phonebook {
    entries: Vec<Entry>,
    rules: Vec<Rule>,
}

/// Whether `s` is `host:port` with a sane host (letters, digits, `.-_`, or `[v6]`) and a
/// port 1-65535.
pub fn is_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !v6.is_empty()
            && v6
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
    } else {
        !host.is_empty()
            && !host.starts_with('-')
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
    };
    host_ok && port.parse::<u16>().is_ok_and(|p| p > 0)
}

fn strip_number(n: &str) -> String {
    n.chars().filter(|c| !" -()".contains(*c)).collect()
}

impl Phonebook {
    /// Parse phonebook text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Phonebook, ParseError> {
        let mut pb = Phonebook::default();
        for (i, line) in text.lines().enumerate() {
            pb.add_line(line, origin, i + 1)?;
        }
        Ok(pb)
    }

    /// Add one line (`name target [mode]`, or a `/regex/` rule); blank and `#` lines are
    /// skipped.
    pub fn add_line(&mut self, line: &str, origin: &str, n: usize) -> Result<(), ParseError> {
        let err = |msg: String| ParseError {
            origin: origin.to_string(),
            line: n,
            msg,
        };
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            return Ok(());
        }
        let words: Vec<&str> = t.split_whitespace().collect();
        let (name, target) = match words.as_slice() {
            [name, target, ..] if words.len() <= 3 => (*name, *target),
            _ => return Err(err("expected: name host:port [raw|telnet]".into())),
        };
        let mode = match words.get(2) {
            None => None,
            Some(&"raw") => Some(DialMode::Raw),
            Some(&"telnet") => Some(DialMode::Telnet),
            Some(m) => return Err(err(format!("unknown mode {m:?} (raw or telnet)"))),
        };
        if let Some(pat) = name.strip_prefix('/').and_then(|p| p.strip_suffix('/')) {
            let re = Regex::new(pat).map_err(|e| err(format!("bad regex {pat:?}: {e}")))?;
            self.rules.push(Rule {
                re,
                target: target.to_string(),
                mode,
            });
            return Ok(());
        }
        if !is_host_port(target) {
            return Err(err(format!("{target:?} is not host:port")));
        }
        self.entries.push(Entry {
            name: name.to_string(),
            target: target.to_string(),
            mode,
        });
        Ok(())
    }

    /// Where `number` (what followed `ATD`, `T`/`P` removed) leads, if anywhere.
    pub fn resolve(&self, number: &str) -> Option<Target> {
        let number = number.trim().trim_end_matches(';').trim();
        if number.is_empty() {
            return None;
        }
        if let Some(e) = self
            .entries
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(number))
        {
            return Some(Target {
                addr: e.target.clone(),
                mode: e.mode,
                listed: true,
            });
        }
        let digits = strip_number(number);
        for r in &self.rules {
            if let Some(caps) = r.re.captures(&digits) {
                let mut addr = String::new();
                caps.expand(&r.target, &mut addr);
                return is_host_port(&addr).then_some(Target {
                    addr,
                    mode: r.mode,
                    listed: true,
                });
            }
        }
        is_host_port(number).then(|| Target {
            addr: number.to_string(),
            mode: None,
            listed: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phonebook_and_rules() {
        let pb = Phonebook::parse(
            "# comment\n\nbbs 127.0.0.1:2323 raw\nBoard bbs.example.org:23 telnet\n\
             /^1(\\d{3})$/ 10.0.0.$1:23 telnet\n/^9(\\d+)$/ bad$1 raw\nplain host:99\n",
            "pb",
        )
        .unwrap();
        let t = |a: &str, m| {
            Some(Target {
                addr: a.into(),
                mode: m,
                listed: true,
            })
        };
        let typed = |a: &str| {
            Some(Target {
                addr: a.into(),
                mode: None,
                listed: false,
            })
        };
        assert_eq!(pb.resolve("bbs"), t("127.0.0.1:2323", Some(DialMode::Raw)));
        assert_eq!(
            pb.resolve(" BBS; "),
            t("127.0.0.1:2323", Some(DialMode::Raw))
        );
        assert_eq!(
            pb.resolve("board"),
            t("bbs.example.org:23", Some(DialMode::Telnet))
        );
        assert_eq!(
            pb.resolve("1-234"),
            t("10.0.0.234:23", Some(DialMode::Telnet))
        );
        assert_eq!(pb.resolve("plain"), t("host:99", None));
        assert_eq!(pb.resolve("912"), None, "a rule giving no host:port");
        assert_eq!(pb.resolve("x.org:23"), typed("x.org:23"));
        assert_eq!(pb.resolve("[::1]:23"), typed("[::1]:23"));
        assert_eq!(pb.resolve("5551234"), None);
        assert_eq!(pb.resolve(""), None);
        assert_eq!(pb.resolve("-x:23"), None);
        assert_eq!(pb.resolve("a b:23"), None);
        assert_eq!(pb.resolve("x:0"), None);
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = |text: &str| Phonebook::parse(text, "/etc/pb").unwrap_err().to_string();
        assert_eq!(
            e("ok 1.2.3.4:5\nbad\n"),
            "/etc/pb:2: expected: name host:port [raw|telnet]"
        );
        assert_eq!(
            e("a b:1 c d"),
            "/etc/pb:1: expected: name host:port [raw|telnet]"
        );
        assert_eq!(
            e("a b:1 ssh"),
            "/etc/pb:1: unknown mode \"ssh\" (raw or telnet)"
        );
        assert_eq!(e("\n\na nohost"), "/etc/pb:3: \"nohost\" is not host:port");
        assert!(e("/(/ a:1").starts_with("/etc/pb:1: bad regex \"(\""));
    }
}
