//! An admin's first hour: `--version` everywhere, one line on stderr for every fatal start-up
//! error, `--check` that looks users and programs up, a logged unknown port-group, no DTR
//! toggle on a line without modem lines, and `rgetty-share connect --link` with an owner,
//! group and mode for the virtual port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BASE_CONFIG, Harness, RGETTY, vmodem};

#[test]
fn version_in_all_three_binaries() {
    for (bin, name) in [
        (env!("CARGO_BIN_EXE_rgetty"), "rgetty"),
        (env!("CARGO_BIN_EXE_rgetty-ringd"), "rgetty-ringd"),
        (env!("CARGO_BIN_EXE_rgetty-share"), "rgetty-share"),
    ] {
        let out = Command::new(bin).arg("--version").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name} --version: {out:?}");
        let first = text.lines().next().unwrap_or_default();
        assert_eq!(first, format!("{name} {}", env!("CARGO_PKG_VERSION")));
    }
}

/// `connect --link` with `--owner`, `--group` and `--link-mode`: the pty behind the link gets
/// them, so a setuid-uucp cu (or a dialout group member) can open the virtual port.
#[test]
fn connect_link_owner_group_mode() {
    if !nix::unistd::geteuid().is_root() {
        println!("SKIP connect --link --owner: needs root to give the pty away");
        return;
    }
    let Some(nobody) = nix::unistd::User::from_name("nobody").unwrap() else {
        println!("SKIP connect --link --owner: no user nobody");
        return;
    };
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("vcom");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rgetty-share"))
        .args(["connect", &addr.to_string(), "--link"])
        .arg(&link)
        .args([
            "--owner",
            "nobody",
            "--group",
            "12345",
            "--link-mode",
            "0660",
        ])
        .arg("--lock-dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !link.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let meta = std::fs::metadata(&link);
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let meta =
        meta.unwrap_or_else(|e| panic!("no link: {e}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(meta.uid(), nobody.uid.as_raw());
    assert_eq!(meta.gid(), 12345);
    assert_eq!(meta.mode() & 0o7777, 0o660);

    let bad = Command::new(env!("CARGO_BIN_EXE_rgetty-share"))
        .args(["connect", &addr.to_string(), "--link"])
        .arg(dir.path().join("vcom2"))
        .args(["--owner", "nosuchuser-rgetty"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nosuchuser-rgetty"));
}

fn stderr_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A fake syslogd for `--syslog-socket`: the harness's arguments with it in place of the
/// harness's dead socket, and the socket (writable by anyone, for the non-root run).
fn with_syslog(h: &Harness) -> (Vec<String>, UnixDatagram) {
    let path = h.path("syslog.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
    let mut args = h.args();
    let i = args.iter().position(|a| a == "--syslog-socket").unwrap();
    args[i + 1] = path.to_string_lossy().into_owned();
    (args, sock)
}

/// Every datagram syslog got until it is quiet for a while.
fn syslog_text(sock: &UnixDatagram) -> String {
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        text.push('\n');
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
    }
    text
}

/// `rgetty /dev/nonexistent`: one line on stderr naming the device and the cause, and the
/// same in syslog.
#[test]
fn missing_line_prints_one_line_naming_device_and_cause() {
    let h = Harness::new(vmodem::Config::default(), BASE_CONFIG);
    let (args, syslog) = with_syslog(&h);
    let out = Command::new(RGETTY)
        .args(args)
        .arg("/dev/nonexistent-rgetty-line")
        .output()
        .unwrap();
    let lines = stderr_lines(&out);
    assert_eq!(out.status.code(), Some(30));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("/dev/nonexistent-rgetty-line"),
        "{lines:?}"
    );
    assert!(lines[0].contains("No such file"), "{lines:?}");
    let logged = syslog_text(&syslog);
    assert!(
        logged.contains("cannot open /dev/nonexistent-rgetty-line"),
        "{logged}"
    );
}

/// rgetty as uid 65534: one line that says it must run as root, nothing written.
#[test]
fn non_root_says_it_must_run_as_root() {
    if !nix::unistd::geteuid().is_root() {
        println!("SKIP non-root start: the test needs root to drop to uid 65534");
        return;
    }
    let h = Harness::new(vmodem::Config::default(), BASE_CONFIG);
    let (args, syslog) = with_syslog(&h);
    let (_bin_dir, bin) = crate::common::copy_for_any_user(RGETTY);
    let out = Command::new(&bin)
        .args(args)
        .arg(h.modem.slave_path())
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let lines = stderr_lines(&out);
    assert_eq!(out.status.code(), Some(30));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("must run as root"), "{lines:?}");
    assert!(syslog_text(&syslog).contains("must run as root"));
    assert!(!h.lock_path().exists());
    assert!(
        fs::read_dir(h.path("log")).unwrap().next().is_none(),
        "log written"
    );
    assert!(
        fs::read_dir(h.path("run")).unwrap().next().is_none(),
        "pid file written"
    );
}

pub(crate) fn check_dir(login_config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("mgetty.config"), "speed 38400\n").unwrap();
    let lc = dir.path().join("login.config");
    fs::write(&lc, login_config).unwrap();
    fs::set_permissions(&lc, fs::Permissions::from_mode(0o600)).unwrap();
    dir
}

pub(crate) fn run_check(dir: &std::path::Path) -> std::process::Output {
    Command::new(RGETTY)
        .args(["--check", "--config-dir"])
        .arg(dir)
        .output()
        .unwrap()
}

/// `--check` looks up login.config's users and programs (file:line, exit 2), fails on a
/// missing config dir, and says `ok: N files` when all is well.
#[test]
fn check_looks_up_users_and_programs() {
    let dir = check_dir(
        "# users\n/AutoPPP/ - a_ppp /usr/sbin/pppd auth\nfoo nosuchuser - /bin/login @\nbar - - /no/such/program\n* - - /bin/login @\n",
    );
    let out = run_check(dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    let lc = dir.path().join("login.config");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:3: user \"nosuchuser\"", lc.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}:4: program /no/such/program", lc.display())),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let dir = check_dir("* - - /bin/login @\n");
    let out = run_check(dir.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "ok: 2 files: {0}/mgetty.config, {0}/login.config\n",
            dir.path().display()
        )
    );

    let out = run_check(&dir.path().join("missing"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such directory"));
}

/// An unknown port-group is logged; on a pty (no modem lines) there is no "lowering DTR".
#[test]
fn unknown_port_group_is_logged_and_no_dtr_toggle_without_modem_lines() {
    let mut h = Harness::new(
        vmodem::Config::default(),
        "port-owner root\nport-group nosuchgroup-rgetty\nport-mode 0660\ninit-chat \"\" ATZ OK\n",
    );
    h.spawn_waiting(&[]);
    let log = h.log();
    assert!(
        log.contains("port-group \"nosuchgroup-rgetty\" unknown"),
        "{log}"
    );
    assert!(log.contains("no modem control lines"), "{log}");
    assert!(!log.contains("lowering DTR"), "{log}");
}

/// mgetty.config names programs run as root (`cnd-program`, `cid-program`, `issue-file !cmd`):
/// one that group or others can write is refused by `--check` (exit 2, naming the file) and
/// not used at run time (the programs it names never run).
#[test]
fn a_mgetty_config_others_can_write_is_refused() {
    let dir = check_dir("* - - /bin/login @\n");
    let mc = dir.path().join("mgetty.config");
    fs::write(&mc, "cnd-program /bin/true\n").unwrap();
    fs::set_permissions(&mc, fs::Permissions::from_mode(0o664)).unwrap();
    let out = run_check(dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&mc.display().to_string()), "{err}");
    assert!(err.contains("writable"), "{err}");
    fs::set_permissions(&mc, fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_check(dir.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
