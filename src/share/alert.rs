//! Alerts on device output: `alert PORT /REGEX/ COMMAND` lines (config) or `--alert
//! '/REGEX/ COMMAND'`.
//!
//! Output is cut into lines whatever the reads' sizes ([`crate::share::alert_scan`]: at LF,
//! a longer line in pieces of [`MAX_LINE`] bytes, trailing CRs removed), so a match split
//! across reads is found. A line that may match (it holds one of the literals the patterns
//! need, found by one search over each read) is tried against every alert's regex at once
//! (one [`regex::bytes::RegexSet`] pass); a match runs the alert's command detached
//! (`/bin/sh -c`, admin text) with `PORT`, `MATCH` and `LINE` in its environment (control
//! characters escaped), and logs a record with `PORT` and `MATCH` fields (journald) or a
//! line (syslog).
//!
//! Rate limit per alert: [`BURST`] commands, then one more per [`REFILL`]; matches over it
//! are counted and reported in the next record.

use std::time::{Duration, Instant};

use regex::bytes::{Regex, RegexSet};

pub use crate::share::alert_scan::MAX_LINE;
/// Commands an alert may run back to back.
pub const BURST: u32 = 5;
/// One more command allowed per this much time.
pub const REFILL: Duration = Duration::from_secs(10);

/// One alert: its regex and command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertDef {
    /// The regex source (between the slashes).
    pub regex: String,
    /// The command (`/bin/sh -c`).
    pub command: String,
}

/// Parse `/REGEX/ COMMAND` (a `/` inside the regex is written `\/`).
pub fn parse_def(text: &str) -> Result<AlertDef, String> {
    let t = text.trim();
    let body = t
        .strip_prefix('/')
        .ok_or_else(|| format!("bad alert {t:?} (/REGEX/ COMMAND)"))?;
    let mut end = None;
    let mut esc = false;
    for (i, c) in body.char_indices() {
        match c {
            '\\' if !esc => esc = true,
            '/' if !esc => {
                end = Some(i);
                break;
            }
            _ => esc = false,
        }
    }
    let end = end.ok_or_else(|| format!("bad alert {t:?}: no closing /"))?;
    let regex = body[..end].replace("\\/", "/");
    let command = body[end + 1..].trim().to_string();
    if command.is_empty() {
        return Err(format!("alert {t:?} has no command"));
    }
    Regex::new(&regex).map_err(|e| format!("bad alert regex {regex:?}: {e}"))?;
    Ok(AlertDef { regex, command })
}

/// What a line matched: the alert's index, the matched text and the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Which alert.
    pub alert: usize,
    /// The matched bytes.
    pub matched: Vec<u8>,
    /// The whole line (without CR/LF).
    pub line: Vec<u8>,
    /// Matches dropped by the rate limit since this alert last ran.
    pub suppressed: u64,
}

/// One alert's rate limit: [`BURST`] in a row, then one per [`REFILL`].
#[derive(Debug)]
pub(crate) struct Limit {
    tokens: u32,
    since: Instant,
    suppressed: u64,
}

impl Limit {
    /// A full limit.
    pub(crate) fn new(now: Instant) -> Limit {
        Limit {
            tokens: BURST,
            since: now,
            suppressed: 0,
        }
    }

    /// May the alert run now? `Some(matches suppressed since it last ran)`, or `None`.
    pub(crate) fn allow(&mut self, now: Instant) -> Option<u64> {
        let refills = (now.duration_since(self.since).as_secs() / REFILL.as_secs()) as u32;
        if refills > 0 {
            self.tokens = (self.tokens + refills).min(BURST);
            self.since = now;
        }
        if self.tokens == 0 {
            self.suppressed += 1;
            return None;
        }
        self.tokens -= 1;
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// The alerts of one port and the line being assembled.
#[derive(Debug)]
pub struct Alerts {
    defs: Vec<AlertDef>,
    set: RegexSet,
    each: Vec<Regex>,
    lines: crate::share::alert_scan::Lines,
    limits: Vec<Limit>,
}

impl Alerts {
    /// Matchers for these definitions (already checked by [`parse_def`]); `None` when empty.
    pub fn new(defs: &[AlertDef]) -> Option<Alerts> {
        if defs.is_empty() {
            return None;
        }
        let set = RegexSet::new(defs.iter().map(|d| &d.regex)).ok()?;
        let each = defs
            .iter()
            .map(|d| Regex::new(&d.regex))
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        let now = Instant::now();
        Some(Alerts {
            limits: defs.iter().map(|_| Limit::new(now)).collect(),
            defs: defs.to_vec(),
            set,
            each,
            lines: crate::share::alert_scan::Lines::new(
                &defs.iter().map(|d| &d.regex).collect::<Vec<_>>(),
            ),
        })
    }

    /// The command of alert `i`.
    pub fn command(&self, i: usize) -> &str {
        self.defs.get(i).map_or("", |d| d.command.as_str())
    }

    /// Feed device output; the hits allowed by the rate limits go to `hits`.
    pub fn feed(&mut self, b: &[u8], now: Instant, hits: &mut Vec<Hit>) {
        let (set, each, limits) = (&self.set, &self.each, &mut self.limits);
        self.lines
            .feed(b, &mut |line| check(set, each, limits, line, now, hits));
    }
}

/// Try one line against the alerts.
fn check(
    set: &RegexSet,
    each: &[Regex],
    limits: &mut [Limit],
    line: &[u8],
    now: Instant,
    hits: &mut Vec<Hit>,
) {
    if !set.is_match(line) {
        return;
    }
    for i in set.matches(line).into_iter() {
        let Some(suppressed) = limits[i].allow(now) else {
            continue;
        };
        let matched = each[i]
            .find(line)
            .map(|m| m.as_bytes().to_vec())
            .unwrap_or_default();
        hits.push(Hit {
            alert: i,
            matched,
            line: line.to_vec(),
            suppressed,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defs() {
        let d = parse_def(r"/PANIC: (\w+)/ logger -t board").unwrap();
        assert_eq!(
            (d.regex.as_str(), d.command.as_str()),
            (r"PANIC: (\w+)", "logger -t board")
        );
        let d = parse_def(r"/a\/b/ x").unwrap();
        assert_eq!(d.regex, "a/b");
        for bad in ["PANIC x", "/PANIC/", "/(/ x", "/abc x"] {
            assert!(parse_def(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matches_across_reads_and_limits() {
        let defs = [
            parse_def("/PANIC: \\w+/ x").unwrap(),
            parse_def("/login:/ y").unwrap(),
        ];
        let mut a = Alerts::new(&defs).unwrap();
        let t = Instant::now();
        let mut hits = Vec::new();
        a.feed(b"boot ok\r\nkernel PAN", t, &mut hits);
        assert!(hits.is_empty());
        a.feed(b"IC: oops\r\nlogin: ", t, &mut hits);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].matched, b"PANIC: oops");
        assert_eq!(hits[0].line, b"kernel PANIC: oops");
        hits.clear();
        for _ in 0..1000 {
            a.feed(b"PANIC: again\n", t, &mut hits);
        }
        // the first of them ends the "login: " line: alert 1 fires once too
        assert_eq!(
            hits.iter().filter(|h| h.alert == 0).count(),
            BURST as usize - 1
        );
        assert_eq!(hits.iter().filter(|h| h.alert == 1).count(), 1);
        hits.clear();
        a.feed(b"PANIC: later\n", t + REFILL, &mut hits);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].suppressed, 1000 - u64::from(BURST - 1));
    }
}
