//! The real `rgetty` binary on a pty driven by the virtual modem: start-up, locks, waiting,
//! rings, answering, login dispatch and the exits of mgetty's table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::fs;

use common::*;
use nix::sys::signal::Signal;

fn cfg() -> vmodem::Config {
    vmodem::Config::default()
}

/// A harness whose init chat is quick.
fn quick(extra_config: &str) -> Harness {
    Harness::new(
        cfg(),
        &format!("{BASE_CONFIG}init-chat \"\" ATZ OK AT&F1 OK\n{extra_config}"),
    )
}

// ------------------------------------------------------------------ issue 2: start-up

#[test]
fn init_chat_bytes_are_sent_as_configured_and_lock_is_held_only_during_init() {
    let mut h = quick("");
    h.spawn(&[]);
    h.modem.wait_to_modem("ATZ\r", s(10.0)).expect("init chat");
    // The lock exists during init and names rgetty's pid.
    let content = fs::read_to_string(h.lock_path()).expect("lock during init");
    assert_eq!(content, format!("{:>10}\n", h.pid()));
    h.wait_log(r"waiting\.\.\.", s(10.0));
    assert!(!h.lock_path().exists(), "lock released while waiting");
    assert_eq!(h.modem.commands(), vec!["ATZ", "AT&F1"], "{}", h.explain());
    let to_modem = h.modem.transcript().to_modem_bytes();
    assert_eq!(to_modem, b"ATZ\rAT&F1\r", "{}", h.explain());
}

#[test]
fn default_upstream_init_chat() {
    let mut h = Harness::new(cfg(), BASE_CONFIG);
    h.spawn_waiting(&[]);
    assert_eq!(
        h.modem.commands(),
        vec!["ATQ0V1H0", "ATS0=0Q0&D3&C1"],
        "{}",
        h.explain()
    );
}

#[test]
fn waiting_costs_zero_bytes_zero_cpu_and_zero_wakeups() {
    let mut h = quick("modem-check-time -1\n");
    h.spawn_waiting(&[]);
    std::thread::sleep(s(0.5));
    let bytes = h.modem.to_modem_len();
    let before = cpu_and_switches(h.pid());
    std::thread::sleep(s(3.0));
    let after = cpu_and_switches(h.pid());
    assert_eq!(h.modem.to_modem_len(), bytes, "no bytes while waiting");
    assert_eq!(
        before, after,
        "no CPU time and no context switches while waiting"
    );
    assert!(h.wait_exit(s(0.1)).is_none());
}

#[test]
fn live_foreign_lock_at_start_line_untouched_then_exit_0() {
    let mut h = quick("");
    let mut holder = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    fs::write(h.lock_path(), format!("{:>10}\n", holder.id())).unwrap();
    h.spawn(&["--dialout-grace", "0.2"]);
    h.wait_log("dialout in progress", s(10.0));
    std::thread::sleep(s(1.0));
    assert!(!h.modem.slave_open(), "the line was opened");
    assert!(h.modem.transcript().to_modem_bytes().is_empty());
    assert!(
        h.wait_exit(s(0.1)).is_none(),
        "still waiting for the dial-out"
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(h.wait_exit(s(10.0)), Some(0), "{}", h.explain());
    assert!(!h.modem.slave_open());
}

#[test]
fn lock_removed_by_holder_ends_the_wait() {
    let mut h = quick("");
    fs::write(h.lock_path(), "         1\n").unwrap(); // pid 1 is alive
    h.spawn(&["--dialout-grace", "0.2"]);
    h.wait_log("dialout in progress", s(10.0));
    fs::remove_file(h.lock_path()).unwrap();
    assert_eq!(h.wait_exit(s(10.0)), Some(0), "{}", h.explain());
    assert!(h.modem.transcript().to_modem_bytes().is_empty());
}

#[test]
fn stale_lock_is_taken_over() {
    let mut h = quick("");
    fs::write(h.lock_path(), format!("{:>10}\n", i32::MAX - 7)).unwrap();
    h.spawn_waiting(&[]);
    assert_eq!(h.modem.commands(), vec!["ATZ", "AT&F1"], "{}", h.explain());
    assert!(!h.lock_path().exists());
}

#[test]
fn init_error_exits_1_with_lock_removed() {
    let mut h = Harness::new(
        vmodem::Config {
            init_reply: InitReply::Error,
            ..cfg()
        },
        &format!("{BASE_CONFIG}init-chat \"\" ATZ OK\n"),
    );
    h.spawn(&[]);
    assert_eq!(h.wait_exit(s(15.0)), Some(1), "{}", h.explain());
    assert!(!h.lock_path().exists());
    assert!(
        h.log().contains("failed in mg_init_data"),
        "{}",
        h.explain()
    );
}

#[test]
fn silent_modem_exits_1_after_force_init_with_lock_removed() {
    let mut h = Harness::new(
        vmodem::Config {
            init_reply: InitReply::Silent,
            ..cfg()
        },
        &format!("{BASE_CONFIG}init-chat \"\" ATZ OK\n"),
    );
    h.spawn(&["--init-chat-timeout", "1"]);
    assert_eq!(h.wait_exit(s(20.0)), Some(1), "{}", h.explain());
    assert!(!h.lock_path().exists());
    let log = h.log();
    assert!(log.contains("trying force-init-chat"), "{}", h.explain());
}

#[test]
fn unopenable_device_exits_30() {
    let dir = tempfile::tempdir().unwrap();
    let st = std::process::Command::new(RGETTY)
        .args(["--config-dir", &dir.path().to_string_lossy()])
        .args(["--lock-dir", &dir.path().to_string_lossy()])
        .args(["--log-dir", &dir.path().to_string_lossy()])
        .args(["--pid-dir", &dir.path().to_string_lossy()])
        .args(["--syslog-socket", "/nonexistent"])
        .arg(dir.path().join("no-such-tty"))
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(30));
}

#[test]
fn respawn_backoff_after_repeated_failures() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_string_lossy().into_owned();
    let run = || {
        let t = std::time::Instant::now();
        let st = std::process::Command::new(RGETTY)
            .args([
                "--config-dir",
                &d,
                "--lock-dir",
                &d,
                "--log-dir",
                &d,
                "--pid-dir",
                &d,
            ])
            .args(["--syslog-socket", "/nonexistent", "--backoff-after", "3"])
            .args(["--backoff-max", "1.5"])
            .arg(dir.path().join("no-such-tty"))
            .status()
            .unwrap();
        (st.code(), t.elapsed())
    };
    for _ in 0..2 {
        let (code, took) = run();
        assert_eq!(code, Some(30));
        assert!(took < s(1.0), "no back-off yet: {took:?}");
    }
    let (code, took) = run();
    assert_eq!(code, Some(30));
    assert!(took >= s(0.9), "third failure sleeps: {took:?}");
    let (_, took) = run();
    assert!(
        took >= s(1.4),
        "fourth failure sleeps longer (capped): {took:?}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let st = std::process::Command::new(RGETTY)
        .arg("-Z")
        .arg("ttyUSB9")
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(2));
    let st = std::process::Command::new(RGETTY).output().unwrap();
    assert_eq!(st.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&st.stderr).contains("no line given"));
}

#[test]
fn version_prints_paths() {
    let out = std::process::Command::new(RGETTY)
        .args([
            "-V",
            "--config-dir",
            "/x/cfg",
            "--lock-dir",
            "/x/lock",
            "pts/4",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("rgetty "));
    assert!(t.contains("/x/cfg/mgetty.config"));
    assert!(t.contains("/x/lock"));
    assert!(t.contains("/var/log/rgetty/pts-4.log"));
}

#[test]
fn check_reports_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("mgetty.config"),
        "# comment\nspeed 38400\nspeeed 9600\nport ttyS1\nrings abc\n",
    )
    .unwrap();
    let out = std::process::Command::new(RGETTY)
        .args(["--check", "--config-dir", &dir.path().to_string_lossy()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let p = dir.path().join("mgetty.config");
    assert!(err.contains(&format!("{}:3:", p.display())), "{err}");
    assert!(err.contains(&format!("{}:5:", p.display())), "{err}");
    fs::write(dir.path().join("mgetty.config"), "speed 38400\n").unwrap();
    let out = std::process::Command::new(RGETTY)
        .args(["--check", "--config-dir", &dir.path().to_string_lossy()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigterm_while_waiting_exits_10() {
    let mut h = quick("");
    h.spawn_waiting(&[]);
    h.signal(Signal::SIGTERM);
    assert_eq!(h.wait_exit(s(5.0)), Some(10));
}

#[test]
fn sigusr2_while_waiting_exits_0() {
    let mut h = quick("");
    h.spawn_waiting(&[]);
    h.signal(Signal::SIGUSR2);
    assert_eq!(h.wait_exit(s(5.0)), Some(0));
}

#[test]
fn modem_check_sends_at_while_idle_and_exits_30_when_the_modem_is_dead() {
    let mut h = quick("");
    h.spawn_waiting(&["--modem-check-interval", "1"]);
    let before = h.modem.to_modem_len();
    h.modem
        .wait_to_modem_after(before, "AT\r", s(5.0))
        .expect("modem check");
    h.wait_log(
        r"(?s)checking if modem is still alive.*waiting\.\.\.",
        s(10.0),
    );
    assert!(!h.lock_path().exists(), "lock released after the check");
    // The modem dies: the next check fails after two tries.
    h.modem.set_init_reply(InitReply::Silent);
    assert_eq!(h.wait_exit(s(40.0)), Some(30), "{}", h.explain());
    assert!(h.log().contains("doesn't react"));
}
