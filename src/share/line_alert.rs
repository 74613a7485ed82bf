//! Alerts on control-line changes: `alert PORT dcd|dsr|cts rise|fall COMMAND` (config) or
//! `--alert 'dcd rise COMMAND'`.
//!
//! The lines are read (TIOCMGET) on the session's modem poll, every 200 ms while the port
//! has such an alert and a session is open (ptys and most USB UARTs have no TIOCMIWAIT
//! worth using, and a poll keeps to the engine's timers); a change between two reads fires
//! the alerts on that edge, under the same rate limit as regex alerts
//! ([`crate::share::alert::BURST`] in a row, then one per
//! [`crate::share::alert::REFILL`]).

use std::time::Instant;

use crate::share::alert::Limit;

/// The input lines an alert can watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Data Carrier Detect.
    Dcd,
    /// Data Set Ready.
    Dsr,
    /// Clear To Send.
    Cts,
}

impl Signal {
    /// Its name in the config and in `LINE`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Dcd => "dcd",
            Signal::Dsr => "dsr",
            Signal::Cts => "cts",
        }
    }
}

/// One control-line alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineAlertDef {
    /// The line watched.
    pub signal: Signal,
    /// On its rise (else its fall).
    pub rise: bool,
    /// The command (`/bin/sh -c`).
    pub command: String,
}

/// Parse `dcd|dsr|cts rise|fall COMMAND`; `None` when the text is not of that form's first
/// word (a regex alert).
pub fn parse_def(text: &str) -> Option<Result<LineAlertDef, String>> {
    let mut w = text.trim().splitn(3, char::is_whitespace);
    let signal = match w.next()? {
        "dcd" => Signal::Dcd,
        "dsr" => Signal::Dsr,
        "cts" => Signal::Cts,
        _ => return None,
    };
    let rise = match w.next() {
        Some("rise") => true,
        Some("fall") => false,
        _ => return Some(Err(format!("bad alert {text:?} (LINE rise|fall COMMAND)"))),
    };
    let command = w.next().map(str::trim).unwrap_or_default().to_string();
    if command.is_empty() {
        return Some(Err(format!("alert {text:?} has no command")));
    }
    Some(Ok(LineAlertDef {
        signal,
        rise,
        command,
    }))
}

/// A control-line alert that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineHit {
    /// Which alert.
    pub alert: usize,
    /// Edges dropped by the rate limit since it last ran.
    pub suppressed: u64,
}

/// The control-line alerts of one port and the lines last read.
#[derive(Debug)]
pub struct LineAlerts {
    defs: Vec<LineAlertDef>,
    last: Option<[bool; 3]>,
    limits: Vec<Limit>,
}

impl LineAlerts {
    /// The alerts; `None` when there are none.
    pub fn new(defs: &[LineAlertDef]) -> Option<LineAlerts> {
        let now = Instant::now();
        (!defs.is_empty()).then(|| LineAlerts {
            defs: defs.to_vec(),
            last: None,
            limits: defs.iter().map(|_| Limit::new(now)).collect(),
        })
    }

    /// Alert `i`.
    pub fn def(&self, i: usize) -> Option<&LineAlertDef> {
        self.defs.get(i)
    }

    /// The lines as read now (DCD, DSR, CTS); the alerts of the edges since the last read go
    /// to `hits` (the first read only sets the baseline).
    pub fn feed(&mut self, now_lines: [bool; 3], now: Instant, hits: &mut Vec<LineHit>) {
        let Some(last) = self.last.replace(now_lines) else {
            return;
        };
        for (i, d) in self.defs.iter().enumerate() {
            let k = d.signal as usize;
            if last[k] != now_lines[k] && now_lines[k] == d.rise {
                if let Some(suppressed) = self.limits[i].allow(now) {
                    hits.push(LineHit {
                        alert: i,
                        suppressed,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_edges() {
        assert!(parse_def("/PANIC/ x").is_none());
        assert!(parse_def("dcd up x").unwrap().is_err());
        assert!(parse_def("cts rise").unwrap().is_err());
        let d = parse_def("dcd rise logger carrier").unwrap().unwrap();
        assert_eq!(
            (d.signal, d.rise, d.command.as_str()),
            (Signal::Dcd, true, "logger carrier")
        );
        let f = parse_def("cts fall x").unwrap().unwrap();
        let mut a = LineAlerts::new(&[d, f]).unwrap();
        let (t, mut hits) = (Instant::now(), Vec::new());
        a.feed([true, false, true], t, &mut hits);
        assert!(hits.is_empty(), "the first read is the baseline");
        a.feed([false, false, true], t, &mut hits);
        a.feed([true, false, false], t, &mut hits);
        let which: Vec<usize> = hits.iter().map(|h| h.alert).collect();
        assert_eq!(which, [0, 1]);
        hits.clear();
        for _ in 0..20 {
            a.feed([false, false, true], t, &mut hits);
            a.feed([true, false, true], t, &mut hits);
        }
        assert_eq!(hits.len(), 4, "the rate limit: 5 in a row");
    }
}
