//! The call log's records (pure): one JSON object per call, one line each, and the table
//! `rgetty calls` prints.

use std::fmt;

use super::json::{ObjWriter, parse_object};
use super::state::printable;
use super::time::{parse_datetime, rfc3339};

/// The default call log (keyword `call-log`).
pub const DEFAULT_CALL_LOG: &str = "/var/log/rgetty/calls.jsonl";

/// The call log in use: the `call-log` value (`None`: unset), else `calls.jsonl` in the log
/// directory; an empty value turns the log off (`None`).
pub fn call_log_path(
    setting: Option<&str>,
    log_dir: &std::path::Path,
) -> Option<std::path::PathBuf> {
    match setting {
        Some("") => None,
        Some(p) => Some(std::path::PathBuf::from(p)),
        None => Some(log_dir.join("calls.jsonl")),
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// A program was started for the caller (login, pppd, ...).
    Answered,
    /// Not answered on purpose (dialin.config, cid-program, login.config user, ...).
    Refused,
    /// Picked up and hung up on at once (a block list `block` entry).
    Blocked,
    /// `nologin.<tty>` exists: the RINGs were counted, not answered.
    Nologin,
    /// Ringback: the first call was dropped as intended, or the second one never came.
    Ringback,
    /// The modem answered but no carrier came (`NO CARRIER`, carrier lost).
    NoCarrier,
    /// A dial-out program took the line.
    Dialout,
    /// Nobody logged in in time, or the RINGs stopped before the answer.
    Timeout,
    /// A ring cadence ran its command instead of answering.
    Cadence,
    /// Something failed on our side.
    Error,
}

impl Outcome {
    /// Every outcome, in the order of the metrics.
    pub const ALL: [Outcome; 10] = [
        Outcome::Answered,
        Outcome::Refused,
        Outcome::Blocked,
        Outcome::Nologin,
        Outcome::Ringback,
        Outcome::NoCarrier,
        Outcome::Dialout,
        Outcome::Timeout,
        Outcome::Cadence,
        Outcome::Error,
    ];

    /// The word in the log (`answered`, `no-carrier`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Refused => "refused",
            Outcome::Blocked => "blocked",
            Outcome::Nologin => "nologin",
            Outcome::Ringback => "ringback",
            Outcome::NoCarrier => "no-carrier",
            Outcome::Dialout => "dialout",
            Outcome::Timeout => "timeout",
            Outcome::Cadence => "cadence",
            Outcome::Error => "error",
        }
    }

    /// The outcome named by `word`.
    pub fn parse(word: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == word)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// First RING (or activity), seconds since the epoch.
    pub start: i64,
    /// When the outcome was known.
    pub end: i64,
    /// The line (`ttyS0`).
    pub line: String,
    /// Caller ID (`none` when the modem reported none).
    pub caller_id: String,
    /// Caller name, if reported.
    pub caller_name: String,
    /// The CONNECT string, if the modem connected.
    pub connect: String,
    /// How the call ended.
    pub outcome: Outcome,
    /// Why, in words (`dialin.config denies 5551234`).
    pub reason: String,
    /// The login name (or `/AutoPPP/`), if one was given.
    pub user: String,
    /// The program started, if any.
    pub program: String,
}

impl CallRecord {
    /// The log line: one JSON object and `\n`. Empty strings are written as `null`.
    pub fn to_json_line(&self) -> String {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let mut w = ObjWriter::new();
        w.str("start", &rfc3339(self.start))
            .str("end", &rfc3339(self.end))
            .str("line", &self.line)
            .opt_str("caller_id", opt(&self.caller_id).as_deref())
            .opt_str("caller_name", opt(&self.caller_name).as_deref())
            .opt_str("connect", opt(&self.connect).as_deref())
            .str("outcome", self.outcome.as_str())
            .opt_str("reason", opt(&self.reason).as_deref())
            .opt_str("user", opt(&self.user).as_deref())
            .opt_str("program", opt(&self.program).as_deref());
        w.finish() + "\n"
    }

    /// Read one log line back; `None` if it is not a call record.
    pub fn from_json_line(line: &str) -> Option<CallRecord> {
        let o = parse_object(line.trim()).ok()?;
        let s = |k: &str| o.str(k).unwrap_or("").to_string();
        Some(CallRecord {
            start: parse_datetime(o.str("start")?)?,
            end: parse_datetime(o.str("end")?)?,
            line: o.str("line")?.to_string(),
            caller_id: s("caller_id"),
            caller_name: s("caller_name"),
            connect: s("connect"),
            outcome: Outcome::parse(o.str("outcome")?)?,
            reason: s("reason"),
            user: s("user"),
            program: s("program"),
        })
    }
}

/// Which records `rgetty calls` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only calls that started at or after this time.
    pub since: Option<i64>,
    /// Only calls on this line (`ttyS0` or `/dev/ttyS0`).
    pub line: Option<String>,
}

impl Filter {
    /// Whether `r` passes.
    pub fn matches(&self, r: &CallRecord) -> bool {
        self.since.is_none_or(|t| r.start >= t)
            && self
                .line
                .as_deref()
                .is_none_or(|l| l.strip_prefix("/dev/").unwrap_or(l) == r.line)
    }
}

/// The table `rgetty calls` prints: a header and one row per record, columns padded.
pub fn table(records: &[CallRecord]) -> String {
    let header = [
        "START", "END", "LINE", "CALLER", "CONNECT", "OUTCOME", "USER", "REASON",
    ];
    let rows: Vec<[String; 8]> = records
        .iter()
        .map(|r| {
            let caller = if r.caller_name.is_empty() {
                r.caller_id.clone()
            } else {
                format!("{} ({})", r.caller_id, r.caller_name)
            };
            let user = match (r.user.is_empty(), r.program.is_empty()) {
                (false, false) => format!("{} -> {}", r.user, r.program),
                (true, false) => r.program.clone(),
                _ => r.user.clone(),
            };
            [
                rfc3339(r.start),
                rfc3339(r.end),
                r.line.clone(),
                caller,
                r.connect.clone(),
                r.outcome.to_string(),
                user,
                r.reason.clone(),
            ]
            .map(|c| printable(&c))
        })
        .collect();
    render_table(&header, &rows)
}

/// Columns padded to their widest cell, two blanks apart, no trailing blanks.
pub fn render_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut emit = |cells: Vec<&str>| {
        let mut line = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(c);
            line.extend(std::iter::repeat_n(
                ' ',
                w.saturating_sub(c.chars().count()),
            ));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    emit(header.to_vec());
    for row in rows {
        emit(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(outcome: Outcome) -> CallRecord {
        CallRecord {
            start: 1_796_130_184,
            end: 1_796_130_190,
            line: "ttyS0".into(),
            caller_id: "5551234".into(),
            caller_name: String::new(),
            connect: String::new(),
            outcome,
            reason: "dialin.config denies 5551234".into(),
            user: String::new(),
            program: String::new(),
        }
    }

    #[test]
    fn log_path() {
        use std::path::Path;
        let d = Path::new("/var/log/rgetty");
        assert_eq!(call_log_path(None, d).unwrap(), Path::new(DEFAULT_CALL_LOG));
        assert_eq!(call_log_path(Some(""), d), None);
        assert_eq!(call_log_path(Some("/x/c"), d).unwrap(), Path::new("/x/c"));
    }

    #[test]
    fn outcomes() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
            let r = rec(o);
            assert_eq!(CallRecord::from_json_line(&r.to_json_line()), Some(r));
        }
        assert_eq!(Outcome::NoCarrier.to_string(), "no-carrier");
        assert_eq!(Outcome::parse("maybe"), None);
    }

    #[test]
    fn line_format() {
        let mut r = rec(Outcome::Answered);
        r.user = "bob\"\n".into();
        let line = r.to_json_line();
        assert_eq!(
            line,
            "{\"start\":\"2026-12-01T13:03:04Z\",\"end\":\"2026-12-01T13:03:10Z\",\
             \"line\":\"ttyS0\",\"caller_id\":\"5551234\",\"caller_name\":null,\"connect\":null,\
             \"outcome\":\"answered\",\"reason\":\"dialin.config denies 5551234\",\
             \"user\":\"bob\\\"\\n\",\"program\":null}\n"
        );
        assert_eq!(CallRecord::from_json_line(&line), Some(r));
        assert_eq!(CallRecord::from_json_line("{\"start\":1}"), None);
    }

    #[test]
    fn filter_and_table() {
        let mut a = rec(Outcome::Refused);
        let mut b = rec(Outcome::Answered);
        b.line = "pts/3".into();
        b.start += 100;
        b.user = "bob".into();
        b.program = "/bin/login".into();
        b.caller_name = "Ann\x1b".into();
        let f = Filter {
            since: Some(a.start + 1),
            line: None,
        };
        assert!(!f.matches(&a) && f.matches(&b));
        let f = Filter {
            since: None,
            line: Some("/dev/pts/3".into()),
        };
        assert!(!f.matches(&a) && f.matches(&b));
        a.reason.clear();
        let t = table(&[a, b]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("START "), "{t}");
        assert!(lines[1].contains("refused"));
        assert!(lines[2].contains("5551234 (Ann?)") && lines[2].contains("bob -> /bin/login"));
        assert_eq!(lines[0].find("LINE"), lines[2].find("pts/3"));
    }
}
