//! The NCID server protocol's lines (pure), as the NCID API document describes them for a
//! server with Feature Set 1: the greeting, the call log replay and one line per call.
//!
//! ```text
//! 200 Server: rgetty (NCID) 0.1.0
//! 210 API 1.0 Feature Set 1
//! CIDLOG: *DATE*12062026*TIME*2114*LINE*ttyS0*NMBR*5551234*MESG*NONE*NAME*JOHN DOE*
//! 250 End of call log
//! 300 End of connection startup
//! CID: *DATE*12062026*TIME*2115*LINE*ttyS0*NMBR*0900555*MESG*NONE*NAME*NO NAME*
//! ```
//!
//! Every line ends in CR LF. A call rgetty picked up and hung up on (a block list `block`
//! entry, outcome `blocked`) is a `HUP:` line ("blacklisted call hangup"); a call screening
//! refused without answering (dialin.config, a block list `ignore` entry, a broken screening
//! file) is a `BLK:` line ("blacklisted call blocked"); any other call with caller ID is a
//! `CID:` line. The replay labels them `CIDLOG:`, `HUPLOG:` and `BLKLOG:`.
//!
//! [`Tracker`] decides, from the state files the gettys write, when a call's line is due.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::calllog::{CallRecord, Outcome};
use super::state::LineState;
use crate::proto::issue::LocalTime;

/// The call log replay ends with this.
pub const LOG_END: &str = "250 End of call log";
/// Sent instead of the replay when the call log has no call with caller ID.
pub const LOG_EMPTY: &str = "252 Call log empty";
/// Sent instead of the replay when there is no call log.
pub const NO_LOG: &str = "253 No Call log";
/// The end of the connection start-up.
pub const END_STARTUP: &str = "300 End of connection startup";

/// The greeting lines (200, 210) with CR LF.
pub fn greeting(version: &str) -> String {
    format!("200 Server: rgetty (NCID) {version}\r\n210 API 1.0 Feature Set 1\r\n")
}

/// Which line a call gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// An incoming call.
    Cid,
    /// Picked up and hung up on (block list `block`).
    Hup,
    /// Refused by screening without answering.
    Blk,
}

impl MessageType {
    /// The label, live (`CID`) or in the replay (`CIDLOG`).
    pub fn label(self, log: bool) -> &'static str {
        match (self, log) {
            (MessageType::Cid, false) => "CID",
            (MessageType::Cid, true) => "CIDLOG",
            (MessageType::Hup, false) => "HUP",
            (MessageType::Hup, true) => "HUPLOG",
            (MessageType::Blk, false) => "BLK",
            (MessageType::Blk, true) => "BLKLOG",
        }
    }

    /// The kind for a state file's state (`blocked`, `refusing`, anything else).
    pub fn of_state(state: &str) -> MessageType {
        match state {
            "blocked" => MessageType::Hup,
            "refusing" => MessageType::Blk,
            _ => MessageType::Cid,
        }
    }

    /// The kind for a call record: `blocked`, a screening refusal, anything else.
    pub fn of_record(r: &CallRecord) -> MessageType {
        let screened = [
            "ignored by ",
            "screening fails closed",
            "dialin.config denies",
        ];
        match r.outcome {
            Outcome::Blocked => MessageType::Hup,
            Outcome::Refused if screened.iter().any(|p| r.reason.starts_with(p)) => {
                MessageType::Blk
            }
            _ => MessageType::Cid,
        }
    }
}

/// A field's data: no `*` (the separator) and no control characters.
fn field(s: &str) -> String {
    s.chars()
        .map(|c| if c == '*' || c.is_control() { '?' } else { c })
        .collect()
}

/// NMBR for a caller ID: the special names for mgetty's `none`, `P` and `O`.
pub fn number(cid: &str) -> String {
    match cid.trim() {
        "" | "none" => "NO-NUMBER".into(),
        "P" => "PRIVATE".into(),
        "O" => "OUT-OF-AREA".into(),
        n => field(n),
    }
}

/// One call line with CR LF: `CID: *DATE*mmddyyyy*TIME*hhmm*LINE*…*NMBR*…*MESG*NONE*NAME*…*`.
pub fn call_line(
    kind: MessageType,
    log: bool,
    t: &LocalTime,
    line: &str,
    cid: &str,
    name: &str,
) -> String {
    let name = if name.trim().is_empty() {
        "NO NAME".to_string()
    } else {
        field(name)
    };
    let line = if line.is_empty() {
        "-".to_string()
    } else {
        field(line)
    };
    format!(
        "{}: *DATE*{:02}{:02}{:04}*TIME*{:02}{:02}*LINE*{line}*NMBR*{}*MESG*NONE*NAME*{name}*\r\n",
        kind.label(log),
        t.month,
        t.day,
        t.year,
        t.hour,
        t.minute,
        number(cid),
    )
}

/// The replay for these records (oldest first): the last `max` calls that had caller ID
/// data, then 250; 252 when there is none.
pub fn replay(records: &[CallRecord], max: usize, local: impl Fn(i64) -> LocalTime) -> String {
    let calls: Vec<&CallRecord> = records.iter().filter(|r| !r.caller_id.is_empty()).collect();
    if calls.is_empty() {
        return format!("{LOG_EMPTY}\r\n");
    }
    let mut out = String::new();
    for r in &calls[calls.len().saturating_sub(max)..] {
        let kind = MessageType::of_record(r);
        out.push_str(&call_line(
            kind,
            true,
            &local(r.start),
            &r.line,
            &r.caller_id,
            &r.caller_name,
        ));
    }
    out.push_str(LOG_END);
    out.push_str("\r\n");
    out
}

/// How long a caller ID waits for its name (the NAME line follows NMBR) and for screening's
/// verdict before its line goes out.
pub const SETTLE: Duration = Duration::from_millis(60);
/// The longest wait for a name that does not come.
pub const NAME_WAIT: Duration = Duration::from_millis(150);

/// States in which a line's state file describes a call coming in.
fn ringing(state: &str) -> bool {
    matches!(
        state,
        "ringing" | "refusing" | "blocked" | "nologin" | "answering"
    )
}

#[derive(Debug, Default)]
struct Track {
    /// When the caller ID of the call in progress was first seen.
    seen: Option<Instant>,
    /// Its line went out.
    sent: bool,
    /// The latest state file.
    last: Option<LineState>,
}

/// Which calls' lines are due, one entry per line (keyed by the state file's `line`).
#[derive(Debug, Default)]
pub struct Tracker {
    lines: HashMap<String, Track>,
}

impl Tracker {
    /// Take a state file's contents as read at `now`.
    pub fn observe(&mut self, s: LineState, now: Instant) {
        let t = self.lines.entry(s.line.clone()).or_default();
        let has_cid = s
            .caller_id
            .as_deref()
            .is_some_and(|c| c != "none" && !c.is_empty());
        if !ringing(&s.state) || !has_cid {
            if !ringing(&s.state) {
                t.seen = None;
                t.sent = false;
            }
        } else if t.seen.is_none() {
            t.seen = Some(now);
        }
        t.last = Some(s);
    }

    /// The lines due at `now` (kind and state), each once per call.
    pub fn due(&mut self, now: Instant) -> Vec<(MessageType, LineState)> {
        let mut out = Vec::new();
        for t in self.lines.values_mut() {
            let (Some(seen), Some(s), false) = (t.seen, t.last.as_ref(), t.sent) else {
                continue;
            };
            let named = s.caller_name.as_deref().is_some_and(|n| !n.is_empty());
            let wait = if named { SETTLE } else { NAME_WAIT };
            if now >= seen + wait || s.state == "blocked" {
                t.sent = true;
                out.push((MessageType::of_state(&s.state), s.clone()));
            }
        }
        out
    }

    /// When the next line falls due, if one is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.lines
            .values()
            .filter(|t| !t.sent)
            .filter_map(|t| {
                let named = t
                    .last
                    .as_ref()
                    .and_then(|s| s.caller_name.as_deref())
                    .is_some_and(|n| !n.is_empty());
                Some(t.seen? + if named { SETTLE } else { NAME_WAIT })
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> LocalTime {
        LocalTime {
            year: 2026,
            month: 12,
            day: 6,
            hour: 9,
            minute: 5,
            ..LocalTime::default()
        }
    }

    fn state(st: &str, cid: Option<&str>, name: Option<&str>) -> LineState {
        LineState {
            line: "ttyS0".into(),
            state: st.into(),
            caller_id: cid.map(Into::into),
            caller_name: name.map(Into::into),
            ..LineState::default()
        }
    }

    #[test]
    fn lines() {
        assert_eq!(
            call_line(
                MessageType::Cid,
                false,
                &t(),
                "ttyS0",
                "5551234",
                "JOHN*DOE"
            ),
            "CID: *DATE*12062026*TIME*0905*LINE*ttyS0*NMBR*5551234*MESG*NONE*NAME*JOHN?DOE*\r\n"
        );
        assert_eq!(
            call_line(MessageType::Hup, true, &t(), "", "P", ""),
            "HUPLOG: *DATE*12062026*TIME*0905*LINE*-*NMBR*PRIVATE*MESG*NONE*NAME*NO NAME*\r\n"
        );
        assert!(call_line(MessageType::Blk, false, &t(), "x", "none", "\x1b").starts_with("BLK: "));
        assert!(greeting("1.2").starts_with("200 Server: rgetty (NCID) 1.2\r\n210 "));
    }

    #[test]
    fn replay_labels_and_limits() {
        let rec = |o: Outcome, cid: &str, reason: &str| CallRecord {
            start: 0,
            end: 0,
            line: "ttyS0".into(),
            caller_id: cid.into(),
            caller_name: String::new(),
            connect: String::new(),
            outcome: o,
            reason: reason.into(),
            user: String::new(),
            program: String::new(),
        };
        let recs = [
            rec(Outcome::Dialout, "", "line used by pid 7"),
            rec(Outcome::Answered, "111", ""),
            rec(Outcome::Blocked, "222", "blocked by b:1 (block 2*)"),
            rec(Outcome::Refused, "333", "ignored by b:2 (ignore 3*)"),
            rec(Outcome::Refused, "444", "user x does not exist"),
        ];
        let r = replay(&recs, 10, |_| t());
        let labels: Vec<&str> = r.lines().map(|l| l.split(':').next().unwrap()).collect();
        assert_eq!(
            labels,
            [
                "CIDLOG",
                "HUPLOG",
                "BLKLOG",
                "CIDLOG",
                "250 End of call log"
            ]
        );
        assert_eq!(replay(&recs, 1, |_| t()).lines().count(), 2);
        assert_eq!(replay(&recs[..1], 10, |_| t()), "252 Call log empty\r\n");
    }

    #[test]
    fn tracker_waits_for_the_name_and_the_verdict() {
        let mut tr = Tracker::default();
        let t0 = Instant::now();
        tr.observe(state("ringing", Some("none"), None), t0);
        assert!(tr.due(t0 + NAME_WAIT).is_empty() && tr.next_deadline().is_none());
        tr.observe(state("ringing", Some("555"), None), t0);
        assert_eq!(tr.next_deadline(), Some(t0 + NAME_WAIT));
        assert!(tr.due(t0 + SETTLE).is_empty());
        tr.observe(state("ringing", Some("555"), Some("ANN")), t0 + SETTLE / 2);
        let d = tr.due(t0 + SETTLE);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, MessageType::Cid);
        assert!(tr.due(t0 + NAME_WAIT * 2).is_empty(), "once per call");
        tr.observe(state("answering", Some("555"), Some("ANN")), t0);
        assert!(tr.due(t0 + NAME_WAIT * 2).is_empty());
        // next call: blocked goes out at once, as HUP
        tr.observe(state("waiting", None, None), t0);
        tr.observe(state("blocked", Some("0900"), None), t0);
        assert_eq!(tr.due(t0)[0].0, MessageType::Hup);
        tr.observe(state("waiting", None, None), t0);
        tr.observe(state("refusing", Some("444"), Some("X")), t0);
        assert_eq!(tr.due(t0 + SETTLE)[0].0, MessageType::Blk);
    }
}
