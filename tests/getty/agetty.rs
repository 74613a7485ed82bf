//! agetty and systemd practice on direct lines (docs/behaviour.md §5.6), with the real binary
//! on a pty: issue.d and agetty's escapes, credential-driven autologin (and its refusal on a
//! modem line), the session's terminal size, and a missing login program.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

use super::direct::read_until;

/// A direct line on a fresh pty with `config` as mgetty.config: the harness, the child and
/// the terminal (master side).
fn direct(config: &str, env: &[(&str, &Path)], extra: &[&str]) -> (Harness, Child, fs::File) {
    let pty = rgetty::sys::tty::openpty().unwrap();
    let h = Harness::new(vmodem::Config::default(), BASE_CONFIG);
    fs::write(h.path("etc/mgetty.config"), config).unwrap();
    let child = Command::new(RGETTY)
        .envs(env.iter().copied())
        .args(h.args())
        .args(extra)
        .arg("-r")
        .arg(&pty.slave_path)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(pty.slave);
    (h, child, fs::File::from(pty.master))
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn nodename() -> String {
    nix::sys::utsname::uname()
        .unwrap()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

const PORT: &str = "port-owner root\nport-group root\nport-mode 0660\nprompt-waittime 50\n";

#[test]
fn issue_d_after_the_issue_file_with_agetty_escapes() {
    let d = tempfile::tempdir().unwrap();
    let issue = d.path().join("issue");
    fs::write(&issue, "Debian GNU/Linux 12 \\n \\l\n\n").unwrap();
    fs::create_dir(d.path().join("issue.d")).unwrap();
    fs::write(d.path().join("issue.d/b.issue"), "second \\S{ID}\n").unwrap();
    fs::write(d.path().join("issue.d/a.issue"), "first \\S\n").unwrap();
    fs::write(d.path().join("issue.d/c.txt"), "not an issue file\n").unwrap();
    let osr = d.path().join("os-release");
    fs::write(&osr, "PRETTY_NAME=\"Test OS 9\"\nID=testos\n").unwrap();
    let config = format!(
        "{PORT}issue-file {}\nlogin-prompt login:\\040\n",
        issue.display()
    );
    let osr_arg = osr.to_string_lossy().into_owned();
    let (_h, child, mut m) = direct(&config, &[], &["--os-release", &osr_arg]);
    std::thread::sleep(Duration::from_millis(800));
    m.write_all(b"\r").unwrap();
    let seen = read_until(&mut m, "login: ", Duration::from_secs(10));
    stop(child);
    let tty = seen
        .split_whitespace()
        .nth(4)
        .unwrap_or_default()
        .to_string();
    let want = format!(
        "Debian GNU/Linux 12 {} {tty}\r\n\r\nfirst Test OS 9\r\nsecond testos\r\n",
        nodename()
    );
    assert!(tty.starts_with("pts/"), "\\l is the device: {seen:?}");
    assert!(seen.contains(&want), "want {want:?} in {seen:?}");
    assert!(!seen.contains(" l\r"), "no stray ` l`: {seen:?}");
    assert!(!seen.contains("not an issue file"), "{seen:?}");
}

#[test]
fn mgetty_escapes_stay_on_modem_lines_and_can_be_chosen() {
    let d = tempfile::tempdir().unwrap();
    let issue = d.path().join("issue.mgetty");
    fs::write(&issue, "a\\tb \\L\n").unwrap();
    let config = format!(
        "{PORT}issue-file {}\nissue-escapes mgetty\nlogin-prompt login:\\040\n",
        issue.display()
    );
    let (_h, child, mut m) = direct(&config, &[], &[]);
    std::thread::sleep(Duration::from_millis(800));
    m.write_all(b"\r").unwrap();
    let seen = read_until(&mut m, "login: ", Duration::from_secs(10));
    stop(child);
    assert!(seen.contains("a\tb pts/"), "mgetty's \\t and \\L: {seen:?}");
}

/// A credentials directory as systemd's `ImportCredential=` would make it.
fn credentials(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (name, value) in files {
        fs::write(d.path().join(name), value).unwrap();
    }
    d
}

#[test]
fn autologin_credential_logs_in_on_a_direct_line() {
    let creds = credentials(&[("agetty.autologin", "alice\n"), ("agetty.noissue", "")]);
    let config = format!("{PORT}issue-file Welcome to \\P\nlogin-prompt @ login:\\040\n");
    let (h, child, mut m) = direct(&config, &[("CREDENTIALS_DIRECTORY", creds.path())], &[]);
    // The recorder is called `login`: an automatic login gets `-f` as agetty passes it.
    let rec = h.recorder("login");
    h.login_config(&format!("* - - {} @\n", rec.display()));
    fs::set_permissions(h.dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    m.write_all(b"\r").unwrap();
    let seen = read_until(&mut m, "(automatic login)", Duration::from_secs(10));
    let r = h.recorded("login", Duration::from_secs(20));
    stop(child);
    assert_eq!(field(&r, "argv1"), Some("-f"), "{r:?}");
    assert_eq!(field(&r, "argv2"), Some("alice"), "{r:?}");
    assert!(seen.contains("login: alice (automatic login)"), "{seen:?}");
    assert!(!seen.contains("Welcome"), "noissue credential: {seen:?}");
}

#[test]
fn autologin_credential_is_refused_on_a_modem_line() {
    let creds = credentials(&[("agetty.autologin", "alice\n")]);
    let mut h = Harness::new(
        vmodem::Config::default(),
        &format!("{BASE_CONFIG}init-chat \"\" ATZ OK\nrings 1\n"),
    );
    let rec = h.recorder("login");
    h.login_config(&format!("* - - {} @\n", rec.display()));
    h.spawn_env(&[], &[("CREDENTIALS_DIRECTORY", creds.path())]);
    h.wait_log(r"waiting\.\.\.", s(15.0));
    h.modem.set_caller(vmodem::type_at_prompt("bob\r", s(10.0)));
    h.modem.ring(1, s(0.5), None);
    let r = h.recorded("login", s(20.0));
    assert_eq!(field(&r, "argv1"), Some("bob"), "{r:?}");
    assert_eq!(field(&r, "argc"), Some("2"), "no -f: {r:?}");
    assert!(
        h.log()
            .contains("credential autologin ignored: not a direct line"),
        "{}",
        h.log()
    );
}

/// A login program that writes what `stty size` says in the session to `<dir>/size.out`.
fn stty_size_program(h: &Harness) -> std::path::PathBuf {
    let p = h.path("size.sh");
    let out = h.path("size.out");
    fs::write(
        &p,
        format!(
            "#!/bin/sh\nstty size > {}.tmp\nmv {0}.tmp {0}\n",
            out.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn session_size(config: &str, env: &[(&str, &Path)], answer: Option<&[u8]>) -> String {
    let (h, child, mut m) = direct(config, env, &[]);
    let prog = stty_size_program(&h);
    h.login_config(&format!("* - - {} @\n", prog.display()));
    std::thread::sleep(Duration::from_millis(800));
    m.write_all(b"\r").unwrap();
    if let Some(a) = answer {
        let asked = read_until(&mut m, "\x1b[6n", Duration::from_secs(10));
        assert!(asked.contains("\x1b[999;999H\x1b[6n"), "{asked:?}");
        m.write_all(a).unwrap();
    }
    let _ = read_until(&mut m, "login: ", Duration::from_secs(10));
    m.write_all(b"carol\r").unwrap();
    let end = Instant::now() + Duration::from_secs(20);
    let out = h.path("size.out");
    while !out.exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop(child);
    fs::read_to_string(out).unwrap_or_else(|_| panic!("no size.out"))
}

#[test]
fn term_size_keyword_reaches_stty_size_in_the_session() {
    let config = format!("{PORT}issue-file x\nlogin-prompt login:\\040\nterm-size 50x132\n");
    assert_eq!(session_size(&config, &[], None).trim(), "50 132");
}

#[test]
fn lines_and_columns_from_the_unit_environment() {
    let config = format!("{PORT}issue-file x\nlogin-prompt login:\\040\n");
    let env = [("LINES", Path::new("40")), ("COLUMNS", Path::new("100"))];
    assert_eq!(session_size(&config, &env, None).trim(), "40 100");
}

#[test]
fn term_size_probe_asks_the_terminal() {
    let config = format!("{PORT}issue-file x\nlogin-prompt login:\\040\nterm-size probe\n");
    let got = session_size(&config, &[], Some(b"\x1b[33;111R"));
    assert_eq!(got.trim(), "33 111");
}

#[test]
fn missing_login_program_says_so_and_backs_off() {
    let config = format!("{PORT}issue-file x\nlogin-prompt login:\\040\n");
    let (h, mut child, mut m) = direct(&config, &[], &["--backoff-max", "3"]);
    h.login_config("* - - /nonexistent/bin/login @\n");
    std::thread::sleep(Duration::from_millis(800));
    m.write_all(b"\r").unwrap();
    let _ = read_until(&mut m, "login: ", Duration::from_secs(10));
    m.write_all(b"carol\r").unwrap();
    let t0 = Instant::now();
    let seen = read_until(&mut m, "logins.", Duration::from_secs(10));
    assert!(
        seen.contains("\r\nThis system does not permit logins.\r\n"),
        "{seen:?}"
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        child.try_wait().unwrap().is_none(),
        "backs off, no quick exit"
    );
    let end = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        assert!(Instant::now() < end, "never exited");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        t0.elapsed() >= Duration::from_millis(2500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(code, Some(1));
    let logs: String = fs::read_dir(h.path("log"))
        .unwrap()
        .flatten()
        .map(|e| fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(logs.contains("does not exist"), "{logs}");
}

#[test]
fn term_size_probe_is_never_sent_on_a_modem_line() {
    let mut h = Harness::new(
        vmodem::Config::default(),
        &format!("{BASE_CONFIG}init-chat \"\" ATZ OK\nrings 1\nterm-size probe\n"),
    );
    let rec = h.recorder("rec");
    h.login_config(&format!("* - - {} @\n", rec.display()));
    h.call(vmodem::type_at_prompt("bob\r", s(10.0)), 1, s(0.5), None);
    let r = h.recorded("rec", s(20.0));
    assert_eq!(field(&r, "argv1"), Some("bob"), "{r:?}");
    let sent = h.modem.transcript().to_modem_bytes();
    let sent = String::from_utf8_lossy(&sent);
    assert!(sent.contains("login: "), "{sent:?}");
    assert!(
        !sent.contains("\x1b[6n"),
        "no size probe to a caller: {sent:?}"
    );
}
