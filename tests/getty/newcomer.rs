//! Small things a newcomer hit (issue #21): `--help` names the subcommands, `--check` warns
//! about legal but suspect values and prints each error once and in line order, and the log
//! directory rgetty creates has the mode `make install` gives it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::RGETTY;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

fn check(mgetty_config: &str, login_config: Option<&str>, extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("mgetty.config"), mgetty_config).unwrap();
    if let Some(text) = login_config {
        let lc = dir.path().join("login.config");
        fs::write(&lc, text).unwrap();
        fs::set_permissions(&lc, fs::Permissions::from_mode(0o600)).unwrap();
    }
    Command::new(RGETTY)
        .args(["--check", "--config-dir"])
        .arg(dir.path())
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_lists_status_and_calls_and_cites_no_section_numbers() {
    let out = Command::new(RGETTY).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("\n  status  "), "{text}");
    assert!(text.contains("\n  calls   "), "{text}");
    assert!(
        text.contains("rgetty status [--json | --prometheus]"),
        "{text}"
    );
    assert!(
        !text.contains('§'),
        "help cites a § the reader cannot look up: {text}"
    );
}

#[test]
fn check_warns_about_legal_but_suspect_values() {
    let out = check(
        "speed 38400x\ndirect 1\nrings 08\nport-mode 0660\n",
        None,
        &[],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "warnings only: {err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning:")).collect();
    assert_eq!(warnings.len(), 3, "{err}");
    assert!(
        warnings[0].ends_with(
            "mgetty.config:1: speed \"38400x\" is read as 38400 (C strtol: the rest is ignored)"
        ),
        "{err}"
    );
    assert!(
        warnings[1].contains("mgetty.config:2: direct \"1\" means no"),
        "{err}"
    );
    assert!(
        warnings[2].contains("mgetty.config:3: rings \"08\" is read as 0"),
        "{err}"
    );
}

#[test]
fn an_invalid_speed_is_reported_once() {
    let out = check("speed 12345\n", None, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(err.matches("invalid port speed").count(), 1, "{err}");
    assert!(
        err.contains("mgetty.config:1: invalid port speed \"12345\""),
        "{err}"
    );
    // A different speed on the command line is a second, separate problem.
    let out = check("speed 12345\n", None, &["-s", "1234"]);
    assert_eq!(stderr(&out).matches("invalid port speed").count(), 2);
}

#[test]
fn login_config_errors_come_in_line_order() {
    let out = check(
        "speed 38400\n",
        Some(
            "# x\nfoo no_such_user_xyz - /bin/login @\n/AutoPPP/ -\nbar - - /no/such/program\n* - - /bin/login @\n",
        ),
        &[],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let lines: Vec<usize> = err
        .lines()
        .filter_map(|l| l.split("login.config:").nth(1))
        .filter_map(|rest| rest.split(':').next()?.parse().ok())
        .collect();
    assert!(lines.len() >= 3, "{err}");
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "{err}");
}

#[test]
fn log_dir_is_created_with_make_installs_mode() {
    if !nix::unistd::geteuid().is_root() {
        println!("SKIP log dir mode: rgetty creates its log dir only as root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("var/log/rgetty");
    let p = |r: &str| dir.path().join(r).to_string_lossy().into_owned();
    let _ = Command::new(RGETTY)
        .args(["--log-dir", &log.to_string_lossy()])
        .args([
            "--config-dir",
            &p("etc"),
            "--lock-dir",
            &p("lock"),
            "--pid-dir",
            &p("run"),
        ])
        .args([
            "--utmp",
            &p("utmp"),
            "--wtmp",
            &p("wtmp"),
            "--nologin-dir",
            &p("etc"),
        ])
        .args([
            "--syslog-socket",
            &p("no-syslog"),
            "/dev/rgetty-test-no-such-tty",
        ])
        .output()
        .unwrap();
    let mode = fs::metadata(&log)
        .expect("log dir created")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o750, "Makefile: install -d -m 750 $(LOGDIR)");
}

#[test]
fn check_refuses_bad_issue_escapes_and_term_size() {
    let out = check("issue-escapes bsd\n", None, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid issue-escapes \"bsd\": mgetty, agetty or auto"),
        "{}",
        stderr(&out)
    );
    let out = check("term-size 50\n", None, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid term-size \"50\""),
        "{}",
        stderr(&out)
    );
    let out = check("issue-escapes agetty\nterm-size probe\n", None, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
