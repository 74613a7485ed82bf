//! The Prometheus text exposition format, version 0.0.4 (pure): a small writer, and the
//! metrics of `rgetty status --prometheus` (for node_exporter's textfile collector).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::calllog::{CallRecord, Outcome};
use super::state::LineState;

/// The content type of the text format, for an HTTP answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Goes up and down.
    Gauge,
    /// Only goes up (the sample name ends in `_total`).
    Counter,
}

/// Builds an exposition text: families with `# HELP` and `# TYPE`, then their samples.
#[derive(Debug, Default, Clone)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// An empty text.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Start a family: its `# HELP` (escaped) and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: MetricType, help: &str) -> &mut Self {
        debug_assert!(valid_name(name), "{name}");
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let kind = match kind {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
        };
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self
    }

    /// One sample: `name{label="value",...} value`, label values escaped.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
        self
    }

    /// The text.
    pub fn finish(&self) -> String {
        self.out.clone()
    }
}

/// A label value with `\`, `"` and newline escaped.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// A sample value: integers without a fraction, `NaN`, `+Inf`, `-Inf`.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The states every `rgetty_lines` series is written for (others are added when seen):
/// every state rgetty(8) lists, so a dashboard sees each one at 0 before it first happens.
pub const STATES: [&str; 14] = [
    "starting",
    "waiting",
    "checking",
    "dialout",
    "ringing",
    "refusing",
    "blocked",
    "nologin",
    "answering",
    "login",
    "dispatch",
    "session",
    "stopped",
    super::state::DOWN,
];

/// The metrics of `rgetty status --prometheus`: lines by state, each line's state, calls by
/// outcome, and the time of the last call per line. `lines` pairs each state file with the
/// state shown (`down` for a dead pid).
pub fn status_metrics(lines: &[(LineState, String)], calls: &[CallRecord]) -> String {
    let mut e = Exposition::new();
    let mut by_state: BTreeMap<&str, u32> = STATES.iter().map(|s| (*s, 0)).collect();
    for (_, st) in lines {
        *by_state.entry(st.as_str()).or_default() += 1;
    }
    e.family("rgetty_lines", MetricType::Gauge, "Lines by state.");
    for (st, n) in &by_state {
        e.sample("rgetty_lines", &[("state", st)], f64::from(*n));
    }
    e.family(
        "rgetty_line_state",
        MetricType::Gauge,
        "1 for the state each line is in.",
    );
    for (l, st) in lines {
        e.sample(
            "rgetty_line_state",
            &[("line", &l.line), ("state", st)],
            1.0,
        );
    }
    e.family(
        "rgetty_line_state_since_seconds",
        MetricType::Gauge,
        "When each line entered its state (Unix time).",
    );
    for (l, _) in lines {
        e.sample(
            "rgetty_line_state_since_seconds",
            &[("line", &l.line)],
            l.since as f64,
        );
    }
    let mut by_outcome: BTreeMap<Outcome, u64> = Outcome::ALL.iter().map(|o| (*o, 0)).collect();
    let mut last: BTreeMap<&str, i64> = BTreeMap::new();
    for c in calls {
        *by_outcome.entry(c.outcome).or_default() += 1;
        let t = last.entry(c.line.as_str()).or_insert(c.start);
        *t = (*t).max(c.start);
    }
    e.family(
        "rgetty_calls_total",
        MetricType::Counter,
        "Calls in the call log by outcome.",
    );
    for (o, n) in &by_outcome {
        e.sample("rgetty_calls_total", &[("outcome", o.as_str())], *n as f64);
    }
    e.family(
        "rgetty_last_call_timestamp_seconds",
        MetricType::Gauge,
        "Start of the last call per line (Unix time).",
    );
    for (line, t) in &last {
        e.sample(
            "rgetty_last_call_timestamp_seconds",
            &[("line", line)],
            *t as f64,
        );
    }
    e.finish()
}

/// Lock state of a shared port's device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    /// No UUCP lock.
    Free,
    /// rgetty-share holds it (a session is open).
    Ours,
    /// Another process (a getty, a dialer) holds it.
    Foreign,
}

impl LockState {
    /// Every state, as labels.
    pub const ALL: [LockState; 3] = [LockState::Free, LockState::Ours, LockState::Foreign];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            LockState::Free => "free",
            LockState::Ours => "ours",
            LockState::Foreign => "foreign",
        }
    }
}

/// What `rgetty-share serve --metrics` reports per port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMetrics {
    /// The port's name (its listen address, `127.0.0.1:7000`).
    pub port: String,
    /// The device path as configured.
    pub device: String,
    /// Clients connected now.
    pub clients: u64,
    /// Bytes from clients to the device, ever.
    pub bytes_to_device: u64,
    /// Bytes from the device to clients, ever (counted once per byte read).
    pub bytes_from_device: u64,
    /// Device sessions opened, ever.
    pub sessions: u64,
    /// Clients refused (ACL, busy, device absent or unusable), ever.
    pub refusals: u64,
    /// Whether the device exists now.
    pub device_present: bool,
    /// Times the device went away under a held session, ever.
    pub device_gaps: u64,
    /// Client input dropped while the device was away, ever (bytes).
    pub held_input_dropped: u64,
    /// The device's UUCP lock.
    pub lock: LockState,
}

/// The text of `GET /metrics` for these ports.
pub fn share_metrics(ports: &[PortMetrics]) -> String {
    let mut e = Exposition::new();
    type Get = fn(&PortMetrics) -> f64;
    let families: [(&str, MetricType, &str, Get); 9] = [
        (
            "rgetty_share_clients",
            MetricType::Gauge,
            "Clients connected.",
            |p| p.clients as f64,
        ),
        (
            "rgetty_share_bytes_to_device_total",
            MetricType::Counter,
            "Bytes written from clients to the device.",
            |p| p.bytes_to_device as f64,
        ),
        (
            "rgetty_share_bytes_from_device_total",
            MetricType::Counter,
            "Bytes read from the device for clients.",
            |p| p.bytes_from_device as f64,
        ),
        (
            "rgetty_share_sessions_total",
            MetricType::Counter,
            "Device sessions opened.",
            |p| p.sessions as f64,
        ),
        (
            "rgetty_share_refusals_total",
            MetricType::Counter,
            "Clients refused.",
            |p| p.refusals as f64,
        ),
        (
            "rgetty_share_device_gaps_total",
            MetricType::Counter,
            "Times the device went away while its session was held.",
            |p| p.device_gaps as f64,
        ),
        (
            "rgetty_share_held_input_dropped_bytes_total",
            MetricType::Counter,
            "Client input dropped while the device was away.",
            |p| p.held_input_dropped as f64,
        ),
        (
            "rgetty_share_device_present",
            MetricType::Gauge,
            "1 if the device exists.",
            |p| f64::from(u8::from(p.device_present)),
        ),
        (
            "rgetty_share_lock",
            MetricType::Gauge,
            "1 for the lock state of the device.",
            |_| 0.0,
        ),
    ];
    for (name, kind, help, get) in families {
        // The text format's parsers want the `_total` on a counter's TYPE line too.
        e.family(name, kind, help);
        for p in ports {
            let labels = [("port", p.port.as_str()), ("device", p.device.as_str())];
            if name == "rgetty_share_lock" {
                for l in LockState::ALL {
                    let v = f64::from(u8::from(l == p.lock));
                    e.sample(name, &[labels[0], labels[1], ("state", l.as_str())], v);
                }
            } else {
                e.sample(name, &labels, get(p));
            }
        }
    }
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 23 item 15: every state rgetty(8) lists has its `rgetty_lines` series.
    #[test]
    fn every_state_of_the_man_page_is_a_series() {
        let man = include_str!("../../man/rgetty.8");
        let start = man.find("\n.B state\n").unwrap_or(0);
        let end = start + man[start..].find("\n.B since\n").unwrap_or(0);
        let listed: Vec<&str> = man[start..end]
            .lines()
            .filter_map(|l| {
                let w = l
                    .strip_prefix(".RB ( ")
                    .or_else(|| l.strip_prefix(".BR "))
                    .or_else(|| l.strip_prefix(".B "))?;
                w.split_whitespace().next()
            })
            .filter(|w| !["state", "detail"].contains(w))
            .collect();
        assert!(listed.len() >= 12, "{listed:?}");
        for s in listed {
            assert!(STATES.contains(&s), "{s} is not in STATES");
        }
    }

    #[test]
    fn writer() {
        let mut e = Exposition::new();
        e.family("a_b", MetricType::Counter, "x\\y\nz")
            .sample("a_b_total", &[("l", "q\"\\\n")], 3.0)
            .sample("a_b_total", &[], 0.5)
            .sample("a_b_total", &[], f64::NAN);
        assert_eq!(
            e.finish(),
            "# HELP a_b x\\\\y\\nz\n# TYPE a_b counter\na_b_total{l=\"q\\\"\\\\\\n\"} 3\n\
             a_b_total 0.5\na_b_total NaN\n"
        );
        assert!(valid_name("rgetty_lines") && !valid_name("1x") && !valid_name("a-b"));
    }

    #[test]
    fn share() {
        let p = PortMetrics {
            port: "127.0.0.1:7000".into(),
            device: "/dev/serial/by-id/usb-x".into(),
            clients: 2,
            bytes_to_device: 10,
            bytes_from_device: 20,
            sessions: 1,
            refusals: 3,
            device_present: true,
            device_gaps: 0,
            held_input_dropped: 0,
            lock: LockState::Ours,
        };
        let t = share_metrics(&[p]);
        let l = r#"port="127.0.0.1:7000",device="/dev/serial/by-id/usb-x""#;
        assert!(
            t.contains(&format!("rgetty_share_clients{{{l}}} 2\n")),
            "{t}"
        );
        assert!(t.contains("# TYPE rgetty_share_bytes_to_device_total counter\n"));
        assert!(t.contains(&format!("rgetty_share_bytes_from_device_total{{{l}}} 20\n")));
        assert!(t.contains(&format!("rgetty_share_lock{{{l},state=\"ours\"}} 1\n")));
        assert!(t.contains(&format!("rgetty_share_lock{{{l},state=\"free\"}} 0\n")));
        assert!(t.contains(&format!("rgetty_share_device_present{{{l}}} 1\n")));
    }

    #[test]
    fn status() {
        let l = LineState {
            line: "pts/3".into(),
            state: "waiting".into(),
            since: 100,
            pid: 1,
            ..LineState::default()
        };
        let one = CallRecord {
            start: 50,
            end: 60,
            line: "pts/3".into(),
            caller_id: "1".into(),
            caller_name: String::new(),
            connect: String::new(),
            outcome: Outcome::Refused,
            reason: String::new(),
            user: String::new(),
            program: String::new(),
        };
        let calls = [one.clone(), one];
        let t = status_metrics(&[(l, "down".into())], &calls);
        assert!(t.contains("rgetty_lines{state=\"down\"} 1\n"), "{t}");
        assert!(t.contains("rgetty_lines{state=\"waiting\"} 0\n"));
        assert!(t.contains("rgetty_line_state{line=\"pts/3\",state=\"down\"} 1\n"));
        assert!(t.contains("rgetty_calls_total{outcome=\"refused\"} 2\n"));
        assert!(t.contains("rgetty_calls_total{outcome=\"no-carrier\"} 0\n"));
        assert!(t.contains("rgetty_last_call_timestamp_seconds{line=\"pts/3\"} 50\n"));
    }
}
