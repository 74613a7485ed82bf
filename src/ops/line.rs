//! What one rgetty process reports about its line (I/O): on each state change, and only
//! then, the state file, the process title and systemd's `STATUS=`; at the end of each call,
//! one call-log record. The getty calls [`Reporter::state`] and [`Reporter::call_end`]; no
//! timer is involved, so an idle line makes no syscalls for any of it.

use std::path::{Path, PathBuf};

use super::calllog::{CallRecord, Outcome};
use super::notify::{self, Notifier};
use super::state::LineState;
use super::store::{self, StateWriter};
use super::title;

/// The facts of the call in progress, as far as they are known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFacts {
    /// Caller ID (`none` when the modem reported none; empty before the first RING).
    pub caller_id: String,
    /// Caller name.
    pub caller_name: String,
    /// CONNECT string.
    pub connect: String,
    /// Login name or `/AutoPPP/`.
    pub user: String,
    /// Program to be started.
    pub program: String,
}

/// A state to report: its name, the dial-out holder if any, free text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report<'a> {
    /// `waiting`, `ringing`, `dialout`, ...
    pub state: &'a str,
    /// The lock holder (pid, command) while dialed out.
    pub holder: Option<(i32, &'a str)>,
    /// The call in progress.
    pub call: Option<&'a CallFacts>,
    /// Free text for the status table.
    pub detail: Option<String>,
}

/// The reporter of one line.
#[derive(Debug)]
pub struct Reporter {
    line: String,
    writer: StateWriter,
    notifier: Option<Notifier>,
    call_log: Option<PathBuf>,
    /// When the call in progress began.
    call_start: Option<i64>,
    /// A state file / call log failure was logged already.
    warned: bool,
}

/// Seconds since the epoch now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

impl Reporter {
    /// The reporter for `line` (mgetty's Device) with DevID `dev_id`; `call_log` `None` turns
    /// the call log off. `NOTIFY_SOCKET` is read once here.
    pub fn new(pid_dir: &Path, dev_id: &str, line: &str, call_log: Option<PathBuf>) -> Reporter {
        crate::sys::logging::set_journal_field("RGETTY_LINE", Some(line));
        Reporter {
            line: line.to_string(),
            writer: StateWriter::new(pid_dir, dev_id),
            notifier: Notifier::from_env(),
            call_log,
            call_start: None,
            warned: false,
        }
    }

    /// The state file's path.
    pub fn state_path(&self) -> &Path {
        self.writer.path()
    }

    /// Report a state; writes the state file, the title and `STATUS=` only if a fact changed.
    pub fn state(&mut self, r: &Report<'_>) {
        let call = r.call.cloned().unwrap_or_default();
        let next = LineState {
            line: self.line.clone(),
            state: r.state.to_string(),
            holder_pid: r.holder.map(|(p, _)| p),
            holder_cmd: r.holder.map(|(_, c)| c.to_string()),
            caller_id: opt(&call.caller_id),
            caller_name: opt(&call.caller_name),
            connect: opt(&call.connect),
            user: opt(&call.user),
            detail: r.detail.clone(),
            ..LineState::default()
        };
        let detail = next.detail_text();
        match self.writer.update(next, now()) {
            Ok(false) => return,
            Ok(true) => {}
            Err(e) => self.warn_once(&format!(
                "cannot write state file {}: {e}",
                self.writer.path().display()
            )),
        }
        title::set(&title::line_title(&self.line, r.state));
        if let Some(n) = &self.notifier {
            let text = if detail.is_empty() {
                format!("{} {}", self.line, r.state)
            } else {
                format!("{} {}: {detail}", self.line, r.state)
            };
            let _ = n.send(&notify::status_message(&text));
        }
    }

    /// Mark the start of a call (the first RING) if it is not marked yet.
    pub fn call_begin(&mut self) {
        self.call_start.get_or_insert_with(now);
    }

    /// The call is over: append its record (start = [`Reporter::call_begin`] or now).
    pub fn call_end(&mut self, call: &CallFacts, outcome: Outcome, reason: &str) {
        let end = now();
        let record = CallRecord {
            start: self.call_start.take().unwrap_or(end),
            end,
            line: self.line.clone(),
            caller_id: call.caller_id.clone(),
            caller_name: call.caller_name.clone(),
            connect: call.connect.clone(),
            outcome,
            reason: reason.to_string(),
            user: call.user.clone(),
            program: call.program.clone(),
        };
        // One audit line per call (file, syslog; the journal gets CALLER_ID and OUTCOME).
        log::warn!(
            target: crate::sys::logging::AUDIT,
            caller_id = call.caller_id.as_str(),
            outcome = outcome.as_str();
            "call dev={}, caller='{}', outcome={outcome}, reason='{reason}'",
            self.line,
            call.caller_id
        );
        if let Some(path) = self.call_log.clone() {
            if let Err(e) = store::append_call(&path, &record) {
                self.warn_once(&format!("cannot write call log {}: {e}", path.display()));
            }
        }
    }

    fn warn_once(&mut self, msg: &str) {
        if !std::mem::replace(&mut self.warned, true) {
            log::warn!("{msg}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_calls() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("calls.jsonl");
        let mut r = Reporter::new(dir.path(), "pts-9", "pts/9", Some(log.clone()));
        r.state(&Report {
            state: "waiting",
            ..Report::default()
        });
        let s = store::read_states(dir.path()).unwrap();
        assert_eq!(
            (s[0].line.as_str(), s[0].state.as_str()),
            ("pts/9", "waiting")
        );
        let call = CallFacts {
            caller_id: "5551234".into(),
            connect: "33600".into(),
            ..CallFacts::default()
        };
        r.state(&Report {
            state: "login",
            call: Some(&call),
            ..Report::default()
        });
        let s = &store::read_states(dir.path()).unwrap()[0];
        assert_eq!(s.caller_id.as_deref(), Some("5551234"));
        assert_eq!(s.connect.as_deref(), Some("33600"));
        r.call_end(&call, Outcome::Timeout, "no login name within 240 s");
        let (recs, bad) = store::read_calls(&log).unwrap();
        assert_eq!((recs.len(), bad), (1, 0));
        assert_eq!(recs[0].outcome, Outcome::Timeout);
        assert_eq!(recs[0].reason, "no login name within 240 s");
        assert!(recs[0].start <= recs[0].end);
    }
}
