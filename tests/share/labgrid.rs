//! Real labgrid (PyPI, pinned in .ci/run) with rgetty-share as its `ser2net`: coordinator,
//! exporter and a client that acquires the place and talks to a pty through the exported
//! NetworkSerialPort (console round trip, a speed change, a purge), all on loopback. The
//! scenario is tests/labgrid/e2e.py.
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_rgetty-share");

#[test]
fn labgrid_exporter_runs_rgetty_share_as_ser2net() {
    let have = Command::new("python3")
        .args(["-c", "import labgrid, serial"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("sh")
            .args([
                "-c",
                "command -v labgrid-coordinator labgrid-exporter labgrid-client",
            ])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !have {
        assert!(std::env::var_os("CI").is_none(), "labgrid is missing in CI");
        println!("SKIP: labgrid is not installed");
        return;
    }
    let log = scenario(
        &["python3", "labgrid/e2e.py"],
        "labgrid: 3 passed, 0 failed",
        "labgrid.log",
    );
    // The exporter ran our binary with its -Y lines.
    assert!(log.contains("Starting ser2net with:"), "{log}");
    assert!(log.contains("telnet(rfc2217,mode=server)"), "{log}");
}

/// Run a scenario script of tests/ (`cmd` then the binary and a fresh work directory, at most
/// 120 s); it must succeed and print `summary`. Returns the work directory's `log`.
pub(crate) fn scenario(cmd: &[&str], summary: &str, log: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let (prog, rest) = cmd.split_last().unwrap();
    let script = format!("{}/tests/{prog}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("timeout")
        .arg("120")
        .args(rest)
        .arg(script)
        .arg(BIN)
        .arg(work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let text = std::fs::read_to_string(work.path().join(log)).unwrap_or_default();
    assert!(
        out.status.success() && stdout.contains(summary),
        "{stdout}\n{}\n--- {log} ---\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}
