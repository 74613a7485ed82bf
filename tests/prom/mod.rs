//! The reference Prometheus text parser, shared by tests/getty/ops.rs and tests/share/ops.rs.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};

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
