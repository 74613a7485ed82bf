//! The runtime state of one line, as rgetty records it in its state file (pure).
//!
//! The file is one flat JSON object (see [`LineState::to_json`]); `rgetty status` reads it
//! back with [`LineState::from_json`] and shows a line whose pid is gone as [`DOWN`].

use super::json::{ObjWriter, parse_object};

/// The state `rgetty status` shows for a line whose recorded process is gone.
pub const DOWN: &str = "down";

/// What one state file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineState {
    /// The line as mgetty names it (`ttyS0`, `pts/3`).
    pub line: String,
    /// The state's name (`starting`, `waiting`, `dialout`, `ringing`, `answering`, `login`,
    /// `session`, ...).
    pub state: String,
    /// When this state began, seconds since the epoch.
    pub since: i64,
    /// rgetty's pid (after the exec, the login program's: the same process).
    pub pid: i32,
    /// The process's start time in clock ticks after boot (`/proc/PID/stat` field 22), so a
    /// reused pid is not mistaken for ours.
    pub start_ticks: Option<u64>,
    /// While dialed out: the lock holder's pid.
    pub holder_pid: Option<i32>,
    /// While dialed out: the lock holder's command line.
    pub holder_cmd: Option<String>,
    /// The call's caller ID.
    pub caller_id: Option<String>,
    /// The caller's name.
    pub caller_name: Option<String>,
    /// The CONNECT string.
    pub connect: Option<String>,
    /// The login name (or `/AutoPPP/`).
    pub user: Option<String>,
    /// Free text for the status table (`rings=2`, `exit 0`).
    pub detail: Option<String>,
}

impl LineState {
    /// The same facts apart from `since` (a state file is rewritten only when they change).
    pub fn same_facts(&self, other: &LineState) -> bool {
        LineState {
            since: other.since,
            ..self.clone()
        } == *other
    }

    /// One JSON object, no newline. `effective` replaces the recorded state (status output
    /// shows `down` and keeps the recorded one as `recorded_state`).
    pub fn to_json_as(&self, effective: Option<&str>) -> String {
        let mut w = ObjWriter::new();
        w.str("line", &self.line);
        match effective {
            Some(e) => w.str("state", e).str("recorded_state", &self.state),
            None => w.str("state", &self.state),
        };
        w.str("since", &super::time::rfc3339(self.since))
            .int("since_unix", self.since)
            .int("pid", i64::from(self.pid))
            .opt_int(
                "start_ticks",
                self.start_ticks.and_then(|t| i64::try_from(t).ok()),
            )
            .opt_int("holder_pid", self.holder_pid.map(i64::from))
            .opt_str("holder_cmd", self.holder_cmd.as_deref())
            .opt_str("caller_id", self.caller_id.as_deref())
            .opt_str("caller_name", self.caller_name.as_deref())
            .opt_str("connect", self.connect.as_deref())
            .opt_str("user", self.user.as_deref())
            .opt_str("detail", self.detail.as_deref());
        w.finish()
    }

    /// The state file's text (one JSON object and a newline).
    pub fn to_json(&self) -> String {
        self.to_json_as(None) + "\n"
    }

    /// Read a state file's text back; `None` if it is not a state file.
    pub fn from_json(text: &str) -> Option<LineState> {
        let o = parse_object(text.trim()).ok()?;
        let s = |k: &str| o.str(k).map(str::to_string);
        Some(LineState {
            line: s("line")?,
            state: s("state")?,
            since: o.int("since_unix")?,
            pid: i32::try_from(o.int("pid")?).ok()?,
            start_ticks: o.int("start_ticks").and_then(|t| u64::try_from(t).ok()),
            holder_pid: o.int("holder_pid").and_then(|p| i32::try_from(p).ok()),
            holder_cmd: s("holder_cmd"),
            caller_id: s("caller_id"),
            caller_name: s("caller_name"),
            connect: s("connect"),
            user: s("user"),
            detail: s("detail"),
        })
    }

    /// The detail column of `rgetty status`: holder, caller, CONNECT, user, free text.
    pub fn detail_text(&self) -> String {
        let mut parts = Vec::new();
        if let Some(pid) = self.holder_pid {
            let cmd = self.holder_cmd.as_deref().unwrap_or("");
            parts.push(format!("holder pid {pid} ({cmd})"));
        }
        if let Some(c) = &self.caller_id {
            match &self.caller_name {
                Some(n) if !n.is_empty() => parts.push(format!("caller {c} ({n})")),
                _ => parts.push(format!("caller {c}")),
            }
        }
        if let Some(c) = &self.connect {
            parts.push(format!("CONNECT {c}"));
        }
        if let Some(u) = &self.user {
            parts.push(format!("user {u}"));
        }
        if let Some(d) = &self.detail {
            parts.push(d.clone());
        }
        printable(&parts.join(", "))
    }
}

/// Control characters become `?` (caller-controlled text must not drive the terminal).
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The start time (field 22) from the text of `/proc/PID/stat`; the command name (field 2)
/// may contain blanks and parentheses, so fields are counted after the last `)`.
pub fn stat_start_ticks(stat: &str) -> Option<u64> {
    stat_field(stat, 22)?.parse().ok()
}

/// Field `n` (1-based, as in proc(5)) of a `/proc/PID/stat` text, for `n >= 3`.
pub fn stat_field(stat: &str, n: usize) -> Option<&str> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_ascii_whitespace().nth(n.checked_sub(3)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LineState {
        LineState {
            line: "pts/3".into(),
            state: "login".into(),
            since: 1_796_130_184,
            pid: 42,
            start_ticks: Some(12345),
            caller_id: Some("555\"1234\n".into()),
            caller_name: Some("Ann".into()),
            connect: Some("33600/ARQ".into()),
            ..LineState::default()
        }
    }

    #[test]
    fn round_trip() {
        let s = sample();
        let text = s.to_json();
        assert!(text.ends_with("}\n") && text.matches('\n').count() == 1);
        assert!(text.contains(r#""since":"2026-12-01T13:03:04Z""#), "{text}");
        assert_eq!(LineState::from_json(&text), Some(s.clone()));
        let d = LineState {
            holder_pid: Some(7),
            holder_cmd: Some("cu -l pts/3".into()),
            user: Some("bob".into()),
            ..s
        };
        assert_eq!(LineState::from_json(&d.to_json()), Some(d));
        assert_eq!(LineState::from_json("{}"), None);
        assert_eq!(LineState::from_json("garbage"), None);
    }

    #[test]
    fn facts_and_detail() {
        let a = sample();
        let b = LineState {
            since: 1,
            ..a.clone()
        };
        assert!(a.same_facts(&b));
        assert!(!a.same_facts(&LineState {
            state: "waiting".into(),
            ..a.clone()
        }));
        assert_eq!(
            a.detail_text(),
            "caller 555\"1234? (Ann), CONNECT 33600/ARQ"
        );
        let j = a.to_json_as(Some(DOWN));
        assert!(
            j.contains(r#""state":"down","recorded_state":"login""#),
            "{j}"
        );
    }

    #[test]
    fn proc_stat() {
        let stat =
            "42 (rg (x) y) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200";
        assert_eq!(stat_field(stat, 3), Some("S"));
        assert_eq!(stat_start_ticks(stat), Some(987_654));
        assert_eq!(stat_start_ticks("garbage"), None);
    }
}
