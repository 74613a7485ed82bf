//! Integration tests of the I/O shell: logging (file, syslog), exec, utmp.
//! Everything uses temp dirs and temp sockets; nothing touches /var/log, /dev/log or utmp.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rgetty::sys::logging::{self, LogSetup};

/// The logger is process-global: logging tests run one at a time.
static LOG_LOCK: Mutex<()> = Mutex::new(());

fn log_lock() -> MutexGuard<'static, ()> {
    LOG_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn setup(file: Option<PathBuf>, socket: &Path) -> LogSetup {
    LogSetup {
        file,
        level: 4,
        infix: "s/1".to_string(),
        ident: "rgetty-test".to_string(),
        stderr: false,
        syslog: true,
        syslog_socket: socket.to_path_buf(),
    }
}

fn receiver(path: &Path) -> UnixDatagram {
    let r = UnixDatagram::bind(path).unwrap();
    r.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    r
}

fn recv(r: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = r.recv(&mut buf).expect("syslog datagram");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn assert_nothing_more(r: &UnixDatagram) {
    r.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    if let Ok(n) = r.recv(&mut buf) {
        panic!("unexpected: {:?}", String::from_utf8_lossy(&buf[..n]));
    }
}

#[test]
fn log_file_gets_separator_and_lines() {
    let _g = log_lock();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ttyS1.log");
    logging::init(setup(Some(file.clone()), &dir.path().join("nosock")));
    log::info!("waiting...");
    log::debug!("got: x");
    log::trace!("not shown at level 4");
    log::warn!(target: logging::AUDIT, "data dev=pts/1, pid=1");
    log::info!("bad\x1b[1mbyte");
    logging::set_level(6);
    log::trace!("tick");
    logging::set_level(4);
    let text = fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines[0], "", "{text:?}");
    assert_eq!(lines[1], "--", "{text:?}");
    let rest: Vec<&str> = lines[2..]
        .iter()
        .map(|l| l.get(15..).unwrap_or(l))
        .collect();
    assert_eq!(
        rest,
        [
            "s/1  waiting...",
            "##### data dev=pts/1, pid=1",
            "s/1  bad_[1mbyte",
            "s/1    tick",
            ""
        ],
        "{text:?}"
    );
    // MM/DD hh:mm:ss prefix.
    let stamp = &lines[2][..15];
    assert_eq!(&stamp[2..3], "/");
    assert_eq!(&stamp[5..6], " ");
    assert_eq!(&stamp[8..9], ":");
    // Only the first open in a process writes the separator.
    let other = dir.path().join("other.log");
    logging::set_file(Some(other.clone()));
    log::info!("second");
    let text = fs::read_to_string(&other).unwrap();
    assert!(
        text.ends_with(" s/1  second\n") && !text.contains("--"),
        "{text:?}"
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&other).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o644 & !umask());
    logging::set_file(None);
}

fn umask() -> u32 {
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    nix::sys::stat::umask(old);
    old.bits()
}

#[test]
fn unwritable_log_file_is_reported_once_and_never_panics() {
    let _g = log_lock();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("log.sock");
    let r = receiver(&sock);
    // A missing directory, then a directory in place of the file.
    logging::init(setup(Some(dir.path().join("missing/x.log")), &sock));
    log::info!("one");
    log::info!("two");
    logging::set_file(Some(dir.path().to_path_buf()));
    log::info!("three");
    let got = recv(&r);
    assert!(
        got.contains("rgetty-test[")
            && got.contains("s/1: cannot write log file")
            && got.contains("missing/x.log"),
        "{got:?}"
    );
    assert!(got.starts_with("<35>"), "LOG_AUTH|LOG_ERR: {got:?}");
    assert_nothing_more(&r);
    logging::set_file(None);
}

#[test]
fn syslog_gets_warnings_errors_and_audit_but_not_info() {
    let _g = log_lock();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("log.sock");
    let r = receiver(&sock);
    logging::init(setup(None, &sock));
    log::info!("info line");
    log::debug!("debug line");
    log::warn!("a warning");
    log::error!("an error");
    log::warn!(target: logging::AUDIT, "failed dev=pts/1, pid=1, got signal 15, exiting");
    let pid = std::process::id();
    let got: Vec<String> = (0..3).map(|_| recv(&r)).collect();
    assert!(
        got[0].starts_with("<36>")
            && got[0].ends_with(&format!(" rgetty-test[{pid}]: s/1: a warning")),
        "{got:?}"
    );
    assert!(
        got[1].starts_with("<35>") && got[1].ends_with("]: s/1: an error"),
        "{got:?}"
    );
    assert!(
        got[2].starts_with("<37>")
            && got[2].ends_with("]: s/1: failed dev=pts/1, pid=1, got signal 15, exiting"),
        "{got:?}"
    );
    // "<PRI>Mmm dd hh:mm:ss "
    let ts = &got[0][4..20];
    assert_eq!(ts.as_bytes()[3], b' ');
    assert_eq!(ts.as_bytes()[9], b':');
    assert_nothing_more(&r);
    // syslog off: nothing.
    let mut s = setup(None, &sock);
    s.syslog = false;
    logging::init(s);
    log::error!("quiet");
    assert_nothing_more(&r);
}

#[test]
fn syslog_never_blocks() {
    let _g = log_lock();
    let dir = tempfile::tempdir().unwrap();
    // No socket at all.
    logging::init(setup(None, &dir.path().join("absent.sock")));
    let start = Instant::now();
    for i in 0..2000 {
        log::warn!("nobody listens {i}");
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // A socket nobody reads: its queue fills up, then messages are dropped.
    let sock = dir.path().join("full.sock");
    let _r = UnixDatagram::bind(&sock).unwrap();
    logging::init(setup(None, &sock));
    let start = Instant::now();
    for i in 0..5000 {
        log::warn!("queue full {i}");
    }
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    // A plain file where the socket should be.
    let plain = dir.path().join("plain");
    fs::write(&plain, "").unwrap();
    logging::init(setup(None, &plain));
    log::error!("not a socket");
}

#[test]
fn syslog_reconnects_after_restart() {
    let _g = log_lock();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("log.sock");
    let r = receiver(&sock);
    logging::init(setup(None, &sock));
    log::warn!("before");
    assert!(recv(&r).ends_with("s/1: before"));
    // syslogd goes away ...
    drop(r);
    fs::remove_file(&sock).unwrap();
    log::warn!("while down");
    // ... and comes back at the same path.
    let r = receiver(&sock);
    log::warn!("after");
    assert!(recv(&r).ends_with("s/1: after"));
    log::error!("again");
    assert!(recv(&r).ends_with("s/1: again"));
}

// ---------------------------------------------------------------------------------------
// exec

use rgetty::sys::exec::{self, ExecError, ExecSpec};

/// Fork; the child points stdout+stderr at `out`, runs `prepare`, then `exec::exec(spec)`;
/// if that returns, the error text goes to `out` and the child exits 99.
/// Returns the child's exit code (the test fails after a 20 s deadline).
fn fork_exec(spec: &ExecSpec, out: &Path, prepare: fn()) -> i32 {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    use nix::unistd::{ForkResult, fork};
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let file = fs::File::create(out).unwrap();
    fs::set_permissions(out, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    // SAFETY: (test) the child only does dup2, signal setup and exec::exec (which, with glibc,
    // may allocate after fork), then exits.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            // SAFETY: dup2 on fds we own.
            unsafe {
                libc::dup2(file.as_raw_fd(), 1);
                libc::dup2(file.as_raw_fd(), 2);
            }
            prepare();
            let e = exec::exec(spec);
            let _ = writeln!(std::io::stderr(), "EXEC ERROR: {e}");
            // SAFETY: leave the forked test process without running destructors.
            unsafe { libc::_exit(99) }
        }
        ForkResult::Parent { child } => {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                match waitpid(child, Some(WaitPidFlag::WNOHANG)).unwrap() {
                    WaitStatus::Exited(_, code) => return code,
                    WaitStatus::StillAlive => {}
                    other => panic!("child: {other:?}"),
                }
                if Instant::now() > deadline {
                    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                    let _ = waitpid(child, None);
                    panic!("exec'd child did not finish");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn no_prepare() {}

#[test]
fn exec_as_nobody_with_argv_and_env() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let spec = ExecSpec {
        program: PathBuf::from("/bin/sh"),
        argv: vec![
            "sh".into(),
            "-c".into(),
            "id -u; id -g; id -G; echo \"$FOO\"; echo \"$HOME\"; echo \"$PATH\"; echo \"$0|$1\""
                .into(),
            "zero arg".into(),
            "root -f".into(),
        ],
        env: vec![
            ("FOO".into(), "bar baz".into()),
            ("HOME".into(), "/over ridden".into()),
        ],
        user: Some("nobody".into()),
    };
    let code = fork_exec(&spec, &out, no_prepare);
    let text = fs::read_to_string(&out).unwrap();
    assert_eq!(code, 0, "{text}");
    let nobody = exec::lookup_user("nobody").unwrap();
    let name = std::ffi::CString::new("nobody").unwrap();
    let mut groups: Vec<String> = nix::unistd::getgrouplist(&name, nobody.gid)
        .unwrap()
        .iter()
        .map(|g| g.as_raw().to_string())
        .collect();
    groups.sort();
    groups.dedup();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], nobody.uid.as_raw().to_string(), "{text}");
    assert_eq!(lines[1], nobody.gid.as_raw().to_string(), "{text}");
    let mut got_groups: Vec<String> = lines[2].split(' ').map(str::to_string).collect();
    got_groups.sort();
    got_groups.dedup();
    assert_eq!(
        got_groups, groups,
        "supplementary groups are nobody's, not root's: {text}"
    );
    assert_eq!(lines[3], "bar baz");
    assert_eq!(lines[4], "/over ridden");
    assert_eq!(lines[5], std::env::var("PATH").unwrap(), "inherited");
    assert_eq!(lines[6], "zero arg|root -f");
}

#[test]
fn exec_unknown_user_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let spec = ExecSpec {
        program: PathBuf::from("/bin/touch"),
        argv: vec!["touch".into(), marker.display().to_string()],
        env: vec![],
        user: Some("no-such-user-rgetty".into()),
    };
    // In-process: an unknown user fails before anything is changed or exec'd.
    match exec::exec(&spec) {
        ExecError::UnknownUser(u) => assert_eq!(u, "no-such-user-rgetty"),
        other => panic!("{other}"),
    }
    assert!(!marker.exists());
    // A numeric name is not a uid.
    let spec = ExecSpec {
        user: Some("0".into()),
        ..spec
    };
    assert!(matches!(exec::exec(&spec), ExecError::UnknownUser(_)));
    assert!(!marker.exists());
    // A missing program names the program.
    let spec = ExecSpec {
        program: dir.path().join("nope"),
        argv: vec!["nope".into()],
        env: vec![],
        user: None,
    };
    let out = dir.path().join("out");
    assert_eq!(fork_exec(&spec, &out, no_prepare), 99);
    let text = fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("cannot exec") && text.contains("/nope"),
        "{text}"
    );
}

fn ignore_and_block() {
    use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, signal, sigprocmask};
    // SAFETY: (test) SIG_IGN installs no handler code.
    unsafe {
        signal(Signal::SIGHUP, SigHandler::SigIgn).unwrap();
        signal(Signal::SIGINT, SigHandler::SigIgn).unwrap();
    }
    let mut set = SigSet::empty();
    set.add(Signal::SIGUSR1);
    set.add(Signal::SIGTERM);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).unwrap();
}

fn status_field(text: &str, key: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("{key} in {text}"));
    u64::from_str_radix(line[key.len()..].trim(), 16).unwrap()
}

#[test]
fn exec_resets_signal_dispositions_and_mask() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("status");
    let spec = ExecSpec {
        program: PathBuf::from("/bin/cat"),
        argv: vec!["cat".into(), "/proc/self/status".into()],
        env: vec![],
        user: None,
    };
    assert_eq!(fork_exec(&spec, &out, ignore_and_block), 0);
    let text = fs::read_to_string(&out).unwrap();
    assert_eq!(status_field(&text, "SigIgn:"), 0, "{text}");
    assert_eq!(status_field(&text, "SigBlk:"), 0, "{text}");
}

#[test]
fn run_program_status_and_timeout() {
    let argv = |s: &str| exec::split_command(s);
    let sh = |script: &str| vec!["/bin/sh".to_string(), "-c".into(), script.into()];
    let st = exec::run_program(&sh("exit 3"), &[], Duration::from_secs(20))
        .unwrap()
        .unwrap();
    assert_eq!(st.code(), Some(3));
    let st = exec::run_program(
        &[
            "/bin/sh".into(),
            "-c".into(),
            "test \"$CALLER_ID\" = \"0 1; rm\"".into(),
        ],
        &[("CALLER_ID".into(), "0 1; rm".into())],
        Duration::from_secs(20),
    )
    .unwrap()
    .unwrap();
    assert!(st.success());
    // stdin is /dev/null: cat ends at once.
    let st = exec::run_program(&argv("/bin/cat"), &[], Duration::from_secs(20))
        .unwrap()
        .unwrap();
    assert!(st.success());
    // Timeout: the whole group is killed (including the grandchild sleep).
    let start = Instant::now();
    let got = exec::run_program(
        &["/bin/sh".into(), "-c".into(), "sleep 30 & sleep 30".into()],
        &[],
        Duration::from_millis(300),
    )
    .unwrap();
    assert!(got.is_none());
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(exec::run_program(&[], &[], Duration::from_secs(1)).is_err());
    assert!(exec::run_program(&argv("/nonexistent/prog"), &[], Duration::from_secs(1)).is_err());
}

// ---------------------------------------------------------------------------------------
// utmp

use rgetty::sys::utmp::{self, Record, RecordType, UtmpFiles};

fn utmp_files(dir: &Path) -> UtmpFiles {
    UtmpFiles {
        utmp: dir.join("utmp"),
        wtmp: dir.join("wtmp"),
    }
}

fn our_pid() -> i32 {
    i32::try_from(std::process::id()).unwrap()
}

#[test]
fn utmp_created_then_updated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let files = utmp_files(dir.path());
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Missing files are created.
    files
        .update(RecordType::Login, "LOGIN", "0301234", "pts/12")
        .unwrap();
    files
        .update(RecordType::User, "a_ppp", "CONNECT 31200", "pts/12")
        .unwrap();
    let u = utmp::read_records(&files.utmp).unwrap();
    assert_eq!(u.len(), 1, "{u:?}");
    let r = &u[0];
    assert_eq!(
        (
            r.kind,
            r.pid,
            r.line.as_str(),
            r.id.as_str(),
            r.user.as_str(),
            r.host.as_str()
        ),
        (
            RecordType::User,
            our_pid(),
            "pts/12",
            "s/12",
            "a_ppp",
            "CONNECT 31200"
        )
    );
    assert!(r.time_s >= before - 1 && r.time_s < before + 60, "{r:?}");
    let w = utmp::read_records(&files.wtmp).unwrap();
    assert_eq!(w.len(), 2, "{w:?}");
    assert_eq!(
        (w[0].kind, w[0].user.as_str(), w[0].host.as_str()),
        (RecordType::Login, "LOGIN", "0301234")
    );
    assert_eq!((w[1].kind, w[1].user.as_str()), (RecordType::User, "a_ppp"));
    assert!(
        w.iter()
            .all(|r| r.pid == our_pid() && r.line == "pts/12" && r.id == "s/12")
    );
    assert_eq!(files.count_users(), 1);
}

#[test]
fn utmp_keeps_init_id_and_other_records() {
    let dir = tempfile::tempdir().unwrap();
    let files = utmp_files(dir.path());
    let other = |pid, kind, line: &str, id: &str, user: &str| Record {
        kind,
        pid,
        line: line.into(),
        id: id.into(),
        user: user.into(),
        host: String::new(),
        time_s: 1_700_000_000,
    };
    utmp::append_record(
        &files.utmp,
        &other(1, RecordType::User, "tty1", "1", "alice"),
    )
    .unwrap();
    utmp::append_record(
        &files.utmp,
        &other(our_pid(), RecordType::Init, "", "X1", ""),
    )
    .unwrap();
    utmp::append_record(
        &files.utmp,
        &other(2, RecordType::User, "pts/0", "ts/0", "bob"),
    )
    .unwrap();
    assert_eq!(files.count_users(), 2);
    // A host longer than ut_host is cut to 255 bytes plus NUL.
    let long_host = "h".repeat(400);
    files
        .update(RecordType::Login, "LOGIN", &long_host, "ttyS1")
        .unwrap();
    let u = utmp::read_records(&files.utmp).unwrap();
    assert_eq!(u.len(), 3, "{u:?}");
    assert_eq!(u[0].user, "alice");
    assert_eq!(u[2].user, "bob");
    let r = &u[1];
    assert_eq!(
        (
            r.kind,
            r.pid,
            r.id.as_str(),
            r.line.as_str(),
            r.user.as_str()
        ),
        (RecordType::Login, our_pid(), "X1", "ttyS1", "LOGIN")
    );
    assert_eq!(r.host.len(), 255);
    files.update(RecordType::User, "uucp", "", "ttyS1").unwrap();
    assert_eq!(files.count_users(), 3);
    let w = utmp::read_records(&files.wtmp).unwrap();
    assert_eq!(w.len(), 2);
    assert!(w.iter().all(|r| r.id == "X1"));
    // Marking it DEAD ends the session.
    files.update(RecordType::Dead, "", "", "ttyS1").unwrap();
    assert_eq!(files.count_users(), 2);
}

#[test]
fn utmp_errors_and_missing_wtmp_dir() {
    // It logs a warning: keep it away from the logging tests' syslog receivers.
    let _g = log_lock();
    let dir = tempfile::tempdir().unwrap();
    // wtmp in a missing directory: utmp is still written, the wtmp failure only logged.
    let files = UtmpFiles {
        utmp: dir.path().join("utmp"),
        wtmp: dir.path().join("missing/wtmp"),
    };
    files
        .update(RecordType::Login, "LOGIN", "", "ttyS2")
        .unwrap();
    assert_eq!(utmp::read_records(&files.utmp).unwrap().len(), 1);
    // utmp in a missing directory is an error naming it.
    let files = UtmpFiles {
        utmp: dir.path().join("missing/utmp"),
        wtmp: dir.path().join("wtmp"),
    };
    let e = files
        .update(RecordType::Login, "LOGIN", "", "ttyS2")
        .unwrap_err();
    assert!(e.to_string().contains("missing/utmp"), "{e}");
    assert_eq!(files.count_users(), 0);
    assert!(utmp::read_records(&dir.path().join("nope")).is_err());
}
