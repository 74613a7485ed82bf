//! `rgetty status`, `rgetty calls` and the metrics, run as an admin would: the real binary
//! against state files and call logs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const RGETTY: &str = env!("CARGO_BIN_EXE_rgetty");

/// Run `rgetty ARGS`; (exit code, stdout, stderr).
fn rgetty(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(RGETTY).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Parse Prometheus text with the reference Python parser
/// (`prometheus_client.parser.text_string_to_metric_families`, Debian package
/// python3-prometheus-client); one `name {labels} value` line per sample, or `None` (with a
/// note) when the parser is not installed.
pub fn prom_parse(text: &str) -> Option<Vec<String>> {
    const SCRIPT: &str = "import sys\n\
        from prometheus_client.parser import text_string_to_metric_families as p\n\
        for f in p(sys.stdin.read()):\n\
        \x20   for s in f.samples:\n\
        \x20       print(f.type, s.name, dict(sorted(s.labels.items())), s.value)\n";
    // Debian's package installs for the system python, which a pyenv shim may hide.
    let python = ["/usr/bin/python3", "python3"].into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import prometheus_client"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let Some(python) = python else {
        println!("SKIP: python3-prometheus-client is not installed: metrics not parsed");
        return None;
    };
    let mut child = Command::new(python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser rejected:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

fn state_file(dir: &Path, dev_id: &str, json: &str) {
    fs::write(dir.join(format!("rgetty.state.{dev_id}")), json).unwrap();
}

fn my_start_ticks() -> u64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split_whitespace().nth(19).unwrap().parse().unwrap()
}

const CALLS: &str = r#"{"start":"2026-11-30T10:00:00Z","end":"2026-11-30T10:00:30Z","line":"ttyS0","caller_id":"5551234","caller_name":null,"connect":"33600","outcome":"answered","reason":null,"user":"bob","program":"/bin/login"}
{"start":"2026-11-30T11:00:00Z","end":"2026-11-30T11:00:09Z","line":"ttyS1","caller_id":"5550000","caller_name":"Spam \"Inc\"","connect":null,"outcome":"refused","reason":"dialin.config denies 5550000","user":null,"program":null}
{"start":"2026-11-30T12:00:00Z","end":"2026-11-30T12:00:09Z","line":"ttyS0","caller_id":"none","caller_name":null,"connect":null,"outcome":"nologin","reason":"nologin.ttyS0 exists","user":null,"program":null}
"#;

/// A live pid (ours, with our start time) shows its state; a dead one shows `down`; the table,
/// the JSON and the Prometheus text agree.
#[test]
fn status_live_and_dead_lines() {
    let dir = tempfile::tempdir().unwrap();
    let me = std::process::id();
    state_file(
        dir.path(),
        "ttyS0",
        &format!(
            r#"{{"line":"ttyS0","state":"waiting","since_unix":1796000000,"pid":{me},"start_ticks":{}}}"#,
            my_start_ticks()
        ),
    );
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    state_file(
        dir.path(),
        "ttyS1",
        &format!(
            r#"{{"line":"ttyS1","state":"login","since_unix":1796000000,"pid":{dead_pid},"caller_id":"555","connect":"33600"}}"#
        ),
    );
    fs::write(dir.path().join("calls.jsonl"), CALLS).unwrap();
    let pid_dir = dir.path().to_str().unwrap();
    let log = dir.path().join("calls.jsonl");
    let log = log.to_str().unwrap();

    let (code, out, err) = rgetty(&["status", "--pid-dir", pid_dir, "--call-log", log]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = out.lines().collect();
    assert!(
        rows[0].starts_with("LINE") && rows[0].contains("DETAIL"),
        "{out}"
    );
    assert!(
        rows[1].starts_with("ttyS0") && rows[1].contains("waiting"),
        "{out}"
    );
    assert!(rows[1].contains(&me.to_string()));
    assert!(rows[2].contains("down (was login)"), "{out}");
    assert!(rows[2].contains("caller 555, CONNECT 33600"), "{out}");

    let (code, out, _) = rgetty(&["status", "--json", "--pid-dir", pid_dir]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with('[') && out.trim_end().ends_with(']'),
        "{out}"
    );
    assert!(out.contains(&format!(r#""state":"waiting","recorded_state":"waiting","since":"2026-11-30T00:53:20Z","since_unix":1796000000,"pid":{me}"#)), "{out}");
    assert!(
        out.contains(r#""state":"down","recorded_state":"login""#),
        "{out}"
    );

    let (code, out, err) = rgetty(&[
        "status",
        "--prometheus",
        "--pid-dir",
        pid_dir,
        "--call-log",
        log,
    ]);
    assert_eq!(code, 0, "{err}");
    let Some(samples) = prom_parse(&out) else {
        return;
    };
    let has = |s: &str| samples.iter().any(|l| l == s);
    assert!(
        has("gauge rgetty_lines {'state': 'waiting'} 1.0"),
        "{samples:#?}"
    );
    assert!(
        has("gauge rgetty_lines {'state': 'down'} 1.0"),
        "{samples:#?}"
    );
    assert!(has(
        "gauge rgetty_line_state {'line': 'ttyS1', 'state': 'down'} 1.0"
    ));
    assert!(
        has("counter rgetty_calls_total {'outcome': 'answered'} 1.0"),
        "{samples:#?}"
    );
    assert!(has("counter rgetty_calls_total {'outcome': 'refused'} 1.0"));
    assert!(has("counter rgetty_calls_total {'outcome': 'cadence'} 0.0"));
    assert!(
        has("gauge rgetty_last_call_timestamp_seconds {'line': 'ttyS0'} 1796040000.0"),
        "{samples:#?}"
    );
}

/// `rgetty calls` prints the log as a table, filtered by time and line.
#[test]
fn calls_table_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.jsonl");
    fs::write(&log, CALLS).unwrap();
    let log = log.to_str().unwrap();
    let (code, out, err) = rgetty(&["calls", "--call-log", log]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(out.contains("bob -> /bin/login"), "{out}");
    assert!(out.contains("5550000 (Spam \"Inc\")") && out.contains("dialin.config denies 5550000"));
    let (_, out, _) = rgetty(&["calls", "--call-log", log, "--line", "/dev/ttyS0"]);
    assert_eq!(out.lines().count(), 3, "{out}");
    let (_, out, _) = rgetty(&["calls", "--call-log", log, "--since", "2026-11-30T10:30"]);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(!out.contains("answered"));
    let (_, out, _) = rgetty(&["calls", "--call-log", log, "--json", "--line", "ttyS1"]);
    assert_eq!(out.lines().count(), 1);
    assert!(out.contains(r#""caller_name":"Spam \"Inc\"""#), "{out}");
    let (code, _, err) = rgetty(&["calls", "--call-log", log, "--since", "yesterday-ish"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a time"), "{err}");
    // the call log named in mgetty.config is used when --call-log is not given
    fs::create_dir(dir.path().join("etc")).unwrap();
    fs::write(
        dir.path().join("etc/mgetty.config"),
        format!("call-log {log}\n"),
    )
    .unwrap();
    let etc = dir.path().join("etc");
    let (_, out, _) = rgetty(&["calls", "--config-dir", etc.to_str().unwrap()]);
    assert_eq!(out.lines().count(), 4, "{out}");
}
