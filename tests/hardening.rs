//! The hardening list (issue 13): a local attacker, or bad luck, against the real `rgetty`.
//!
//! 1. a line that is not a tty (a file, a symlink to one) is never chowned or chmodded;
//! 2. root-written files (pid file, failure counter, log, utmp, wtmp) never follow a symlink;
//! 3. a dial-out holder's command line reaches utmp without control characters;
//! 4. caller data substituted into argv never starts with `-`;
//! 6. every signal either ends the getty cleanly (lock removed, utmp record closed) or is
//!    ignored.
//!
//! And issue 23, from the network side of rgetty-share:
//! 1. a port that ran out of fds accepts again once they come back (its backlog was full);
//! 2. idle connections cannot hold the metrics listener shut, and refusals are rate-limited;
//! 6. `+++` from the caller never switches the virtual modem to command mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod share_util;

use std::fs;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use rgetty::sys::utmp::{RecordType, read_records};

/// A file only root may read, that a getty must never touch.
fn victim(dir: &Path) -> PathBuf {
    let v = dir.join("victim");
    fs::write(&v, "root:secret\n").unwrap();
    fs::set_permissions(&v, fs::Permissions::from_mode(0o600)).unwrap();
    v
}

fn assert_untouched(v: &Path) {
    let meta = fs::metadata(v).unwrap();
    assert_eq!(
        meta.mode() & 0o7777,
        0o600,
        "mode of {} changed",
        v.display()
    );
    assert_eq!(meta.uid(), 0, "owner of {} changed", v.display());
    assert_eq!(
        fs::read_to_string(v).unwrap(),
        "root:secret\n",
        "{} written",
        v.display()
    );
}

/// Run rgetty on `line` with the harness's paths; (exit code, stderr).
fn run_on(h: &Harness, line: &Path) -> (Option<i32>, String) {
    let out = Command::new(RGETTY)
        .args(h.args())
        .arg(line)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Item 1: `rgetty FILE` and `rgetty SYMLINK-TO-FILE` with port-owner nobody, mode 0666: the
/// file keeps owner and mode, stderr has one line naming the line and the cause, no lock stays.
#[test]
fn a_line_that_is_a_file_or_a_symlink_to_one_is_left_alone() {
    let h = call_harness("port-owner nobody\nport-group nogroup\nport-mode 0666\n");
    let file = victim(h.dir.path());
    let link = h.path("fakeline");
    symlink(&file, &link).unwrap();
    for line in [&file, &link] {
        let (code, err) = run_on(&h, line);
        assert_untouched(&file);
        assert_ne!(code, Some(0));
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "stderr: {err:?}");
        assert!(lines[0].contains(&line.display().to_string()), "{err}");
        assert!(lines[0].contains("not a tty"), "{err}");
        let name = line.file_name().unwrap().to_string_lossy();
        assert!(!h.path("lock").join(format!("LCK..{name}")).exists());
    }
}

/// Item 2: symlinks planted at the pid file, the log, utmp and wtmp never redirect a write.
#[test]
fn root_written_files_never_follow_a_symlink() {
    let mut h = call_harness("");
    let v = victim(h.dir.path());
    let pid_file = h.path("run").join(format!("mgetty.pid.{}", h.dev_id()));
    for p in [&pid_file, &h.log_path(), &h.path("utmp"), &h.path("wtmp")] {
        let _ = fs::remove_file(p);
        symlink(&v, p).unwrap();
    }
    h.login_config("* - - /bin/false @\n");
    h.spawn(&[]);
    // No log file to wait on: the init chat done and the lock released mean it waits.
    h.modem.wait_to_modem("ATZ", s(20.0)).unwrap();
    let deadline = std::time::Instant::now() + s(20.0);
    while std::time::Instant::now() < deadline && h.lock_path().exists() {
        std::thread::sleep(s(0.05));
    }
    std::thread::sleep(s(0.5));
    h.modem.set_caller(vec![CallerStep::Sleep(s(30.0))]);
    h.modem.ring(2, s(0.3), None);
    h.modem.wait_to_modem("login: ", s(20.0)).unwrap();
    let meta = fs::symlink_metadata(&pid_file).unwrap();
    assert!(meta.file_type().is_file(), "pid file still a symlink");
    assert_eq!(meta.mode() & 0o777, 0o644);
    h.signal(Signal::SIGTERM);
    assert_eq!(h.wait_exit(s(10.0)), Some(10));
    assert_untouched(&v);
    // Removed on exit (issue 23 item 11), the victim still untouched.
    assert!(fs::symlink_metadata(&pid_file).is_err(), "pid file left");
    assert!(
        fs::symlink_metadata(h.path("utmp"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

/// Item 2: the failure counter is replaced, not written through a symlink.
#[test]
fn failure_counter_never_follows_a_symlink() {
    let mut h = Harness::new(
        vmodem::Config {
            init_reply: InitReply::Silent,
            ..vmodem::Config::default()
        },
        &format!("{BASE_CONFIG}{CALL_CONFIG}"),
    );
    let v = victim(h.dir.path());
    let counter = h.path("run").join(format!("rgetty.fail.{}", h.dev_id()));
    symlink(&v, &counter).unwrap();
    h.spawn(&["--init-chat-timeout", "1", "--backoff-after", "100"]);
    assert_eq!(h.wait_exit(s(30.0)), Some(1), "{}", h.explain());
    assert_untouched(&v);
    assert_eq!(fs::read_to_string(&counter).unwrap().trim(), "1");
}

/// Item 3: a dial-out program whose command line holds ESC and BEL: utmp's ut_host gets `?`.
#[test]
fn dialout_holder_command_line_is_cleaned_for_utmp() {
    let mut h = call_harness("");
    h.spawn_waiting(&["--dialout-grace", "0.2"]);
    let mut holder = Command::new("sleep")
        .arg0("cu\u{1b}]0;pwned\u{7}\u{1b}[2J")
        .arg("30")
        .spawn()
        .unwrap();
    // spawn returns once exec has begun; /proc/PID/cmdline is empty until it is done.
    let cmdline = format!("/proc/{}/cmdline", holder.id());
    let deadline = std::time::Instant::now() + s(10.0);
    while fs::read(&cmdline).unwrap_or_default().is_empty() && std::time::Instant::now() < deadline
    {
        std::thread::sleep(s(0.01));
    }
    fs::write(h.lock_path(), format!("{:>10}\n", holder.id())).unwrap();
    h.wait_log("dialout in progress", s(15.0));
    // The utmp record follows the log line.
    let deadline = std::time::Instant::now() + s(10.0);
    let dialout = |r: &rgetty::sys::utmp::Record| r.pid == h.pid() && r.user == "dialout";
    let mut records = Vec::new();
    while std::time::Instant::now() < deadline && !records.iter().any(dialout) {
        std::thread::sleep(s(0.05));
        records = read_records(&h.path("utmp")).unwrap_or_default();
    }
    let _ = holder.kill();
    let _ = holder.wait();
    let rec = records
        .iter()
        .find(|r| dialout(r))
        .unwrap_or_else(|| panic!("no dialout record: {records:?}"));
    assert!(
        !rec.host.chars().any(char::is_control),
        "{records:?}\n{}",
        h.log()
    );
    assert!(
        rec.host.starts_with("cu?]0;pwned??[2J 30"),
        "{records:?}\n{}",
        h.log()
    );
    assert!(!h.log().contains('\u{1b}'), "ESC in the log");
}

/// Item 4: `NMBR=-froot` with `login -h \Y`: the login program gets `_-froot`, no option.
#[test]
fn caller_id_starting_with_a_dash_never_becomes_an_option() {
    let mut h = call_harness("");
    let rec = h.recorder("rec");
    h.login_config(&format!("* - - {} -h \\Y -i \\I @\n", rec.display()));
    h.call(
        vmodem::type_at_prompt("alice\r", s(10.0)),
        2,
        s(0.5),
        Some(CallerId {
            date: "1122".into(),
            time: "1951".into(),
            number: "-froot".into(),
            name: None,
        }),
    );
    let r = h.recorded("rec", s(20.0));
    assert_eq!(field(&r, "argv1"), Some("-h"));
    assert_eq!(field(&r, "argv2"), Some("_-froot"), "{r:?}");
    assert_eq!(field(&r, "argv5"), Some("alice"));
}

/// utmp records of process `pid` that are still open (LOGIN or USER).
fn open_records(h: &Harness, pid: i32) -> Vec<rgetty::sys::utmp::Record> {
    read_records(&h.path("utmp"))
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.pid == pid && matches!(r.kind, RecordType::Login | RecordType::User))
        .collect()
}

/// A getty at the login prompt (its LOGIN utmp record written).
fn at_prompt(h: &mut Harness) {
    h.login_config("* - - /bin/false @\n");
    h.call(vec![CallerStep::Sleep(s(30.0))], 2, s(0.3), None);
    h.modem.wait_to_modem("login: ", s(10.0)).unwrap();
    let deadline = std::time::Instant::now() + s(5.0);
    while open_records(h, h.pid()).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(s(0.05));
    }
}

/// Item 6: timer, profiling, I/O and real-time signals are ignored (the getty keeps waiting
/// and still answers); SIGTERM afterwards ends it cleanly.
#[test]
fn stray_signals_are_ignored() {
    let mut h = call_harness("");
    h.spawn_waiting(&[]);
    let rt = nix::libc::SIGRTMIN();
    let ignored = [
        Signal::SIGALRM,
        Signal::SIGVTALRM,
        Signal::SIGPROF,
        Signal::SIGPIPE,
        Signal::SIGIO,
        Signal::SIGSTKFLT,
        Signal::SIGTSTP,
        Signal::SIGTTIN,
        Signal::SIGTTOU,
    ];
    for sig in ignored {
        h.signal(sig);
    }
    for n in [rt, rt + 5, nix::libc::SIGRTMAX()] {
        // nix has no Signal for real-time numbers: kill(2) directly.
        // SAFETY: kill(2) only takes integers.
        assert_eq!(unsafe { nix::libc::kill(h.pid(), n) }, 0);
    }
    std::thread::sleep(s(1.0));
    assert_eq!(
        h.wait_exit(s(0.1)),
        None,
        "a stray signal ended rgetty\n{}",
        h.explain()
    );
    let st = fs::read_to_string(format!("/proc/{}/stat", h.pid())).unwrap();
    let state = st[st.rfind(')').unwrap() + 2..].chars().next().unwrap();
    assert_ne!(state, 'T', "rgetty was stopped");
    h.login_config("* - - /bin/false @\n");
    h.modem.set_caller(vec![CallerStep::Sleep(s(30.0))]);
    h.modem.ring(2, s(0.3), None);
    h.modem.wait_to_modem("login: ", s(10.0)).unwrap();
    h.signal(Signal::SIGTERM);
    assert_eq!(h.wait_exit(s(10.0)), Some(10));
    assert!(!h.lock_path().exists());
}

/// Item 6: signals that end a process by default end the getty cleanly: exit 10, lock
/// removed, its LOGIN utmp record closed.
#[test]
fn terminating_signals_end_cleanly() {
    for sig in [
        Signal::SIGTERM,
        Signal::SIGXCPU,
        Signal::SIGPWR,
        Signal::SIGABRT,
    ] {
        let mut h = call_harness("");
        at_prompt(&mut h);
        let pid = h.pid();
        assert!(
            !open_records(&h, pid).is_empty(),
            "no LOGIN record\n{}",
            h.explain()
        );
        h.signal(sig);
        let code = h.wait_exit(s(10.0));
        assert_eq!(code, Some(10), "{sig}: exit {code:?}\n{}", h.explain());
        assert!(!h.lock_path().exists(), "{sig}: lock left");
        assert!(
            open_records(&h, pid).is_empty(),
            "{sig}: utmp record left open: {:?}",
            open_records(&h, pid)
        );
    }
}

/// A line outside /dev (a symlink to the modem's pty): after the call ends without exec, no
/// LOGIN record stays in utmp.
#[test]
fn line_outside_dev_leaves_no_stale_login_record() {
    let mut h = call_harness("");
    let line = h.path("modem");
    symlink(h.modem.slave_path(), &line).unwrap();
    h.login_config("* - - /bin/false @\n");
    let mut cmd = Command::new(RGETTY);
    cmd.args(h.args())
        .arg(&line)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    h.child = Some(cmd.spawn().unwrap());
    h.modem.set_caller(vec![CallerStep::Sleep(s(30.0))]);
    let log = h.path("log").join(format!(
        "{}.log",
        line.display()
            .to_string()
            .trim_start_matches('/')
            .replace('/', "-")
    ));
    let deadline = std::time::Instant::now() + s(20.0);
    while !fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("waiting...")
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(s(0.05));
    }
    h.modem.ring(2, s(0.3), None);
    h.modem.wait_to_modem("login: ", s(20.0)).unwrap();
    let pid = h.pid();
    assert!(!open_records(&h, pid).is_empty(), "no LOGIN record written");
    h.signal(Signal::SIGTERM);
    assert_eq!(h.wait_exit(s(10.0)), Some(10));
    assert!(
        open_records(&h, pid).is_empty(),
        "stale record: {:?}",
        open_records(&h, pid)
    );
}

/// `rgetty-share serve` of a fresh pty, up to 64 writers sharing it, with fds limited
/// to `nofile`, its log in `<tmp>/serve.log`: the server and its address.
fn serve_limited(
    tmp: &Path,
    dev: &Path,
    nofile: u64,
    extra: &[&str],
) -> (share_util::Proc, SocketAddr) {
    let pf = tmp.join("ports");
    fs::create_dir_all(tmp.join("lock")).unwrap();
    let log = fs::File::create(tmp.join("serve.log")).unwrap();
    let mut cmd = Command::new(share_util::BIN);
    cmd.args(["serve", "--port", "0", "--max", "64", "--lock-dir"])
        .arg(tmp.join("lock"))
        .arg("--port-file")
        .arg(&pf)
        .args(extra)
        .arg(dev)
        .stdin(Stdio::null())
        .stderr(log);
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: nofile,
                rlim_max: nofile,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut p = share_util::Proc {
        child: cmd.spawn().unwrap(),
    };
    share_util::wait_for("the port file", || {
        assert!(p.child.try_wait().unwrap().is_none(), "server exited");
        fs::read_to_string(&pf).is_ok_and(|s| s.ends_with('\n'))
    });
    let addr = fs::read_to_string(&pf)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (p, addr)
}

/// Issue 23 item 1: with RLIMIT_NOFILE 64, a flood of connections fills the fds and then the
/// listen backlog; once the flood goes, the port serves a new client within 1 s (accept is
/// retried on a timer while fds are short), and the accept failures are logged a few times,
/// not once per try.
#[test]
fn a_port_accepts_again_within_a_second_after_fd_exhaustion() {
    let tmp = share_util::tmpdir();
    let mut d = share_util::dev();
    let (_srv, addr) = serve_limited(tmp.path(), &d.path, 64, &[]);
    // Connect until the backlog is full too: three attempts in a row time out.
    let mut flood = Vec::new();
    let mut timeouts = 0;
    while timeouts < 3 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(c) => {
                flood.push(c);
                timeouts = 0;
            }
            Err(_) => timeouts += 1,
        }
        assert!(flood.len() < 10_000, "the backlog never filled");
    }
    assert!(flood.len() > 64, "only {} connections made", flood.len());
    // Let the server hit the limit, then take the load away.
    std::thread::sleep(Duration::from_millis(500));
    drop(flood);
    let gone = Instant::now();
    let served = loop {
        if let Ok(mut c) = TcpStream::connect_timeout(&addr, Duration::from_millis(150)) {
            if c.write_all(b"ping").is_ok() {
                break c;
            }
        }
        assert!(
            gone.elapsed() < Duration::from_secs(10),
            "the port never accepted again:\n{}",
            fs::read_to_string(tmp.path().join("serve.log")).unwrap()
        );
    };
    let took = gone.elapsed();
    let got = d.drain_for(Duration::from_millis(300));
    drop(served);
    assert!(
        got.windows(4).any(|w| w == b"ping"),
        "the new client's bytes never reached the device: {got:?}"
    );
    assert!(took < Duration::from_secs(1), "serving again took {took:?}");
    let log = fs::read_to_string(tmp.path().join("serve.log")).unwrap();
    let fails = log
        .lines()
        .filter(|l| l.contains("accept: Too many open files") && !l.contains("repeated"))
        .count();
    assert!(
        (1..=10).contains(&fails),
        "{fails} accept failures logged:\n{log}"
    );
}

/// `GET /metrics` on `addr`: the whole answer ("" when the connection was closed unanswered).
fn scrape(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    share_util::read_to_eof(&mut s)
}

/// Issue 23 item 2: idle connections cannot hold the metrics listener shut (the oldest is
/// dropped beyond 16, and each is closed after 5 s), and refused peers are logged under the
/// rate limit.
#[test]
fn idle_connections_cannot_hold_the_metrics_listener_shut() {
    let tmp = share_util::tmpdir();
    let d = share_util::dev();
    let metrics = format!("127.0.0.1:{}", share_util::free_port());
    let extra = ["--metrics", &metrics, "--metrics-allow", "127.0.0.1"];
    let (_srv, _) = serve_limited(tmp.path(), &d.path, 1024, &extra);
    let idle: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(&metrics).unwrap())
        .collect();
    let t = Instant::now();
    let text = scrape(&metrics);
    assert!(
        text.starts_with("HTTP/1.1 200 OK") && text.contains("rgetty_share_clients"),
        "scrape behind 40 idle connections: {text:?}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "scrape took {:?}",
        t.elapsed()
    );
    // The newest idle connection is closed after its 5 s.
    let mut last = idle.into_iter().last().unwrap();
    last.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let t = Instant::now();
    assert_eq!(share_util::read_to_eof(&mut last), "");
    let waited = t.elapsed();
    assert!(
        waited > Duration::from_secs(3) && waited < Duration::from_secs(10),
        "idle connection closed after {waited:?}"
    );
    for _ in 0..200 {
        drop(share_util::connect_from(
            "127.0.0.2",
            metrics.parse().unwrap(),
        ));
    }
    assert!(scrape(&metrics).starts_with("HTTP/1.1 200 OK"));
    let log = fs::read_to_string(tmp.path().join("serve.log")).unwrap();
    let counted = |what: &str| {
        log.lines()
            .filter(|l| l.contains(what) && !l.contains("repeated"))
            .count()
    };
    assert!(counted("metrics: refused 127.0.0.2") <= 5, "{log}");
    assert!(counted("the oldest dropped") <= 5, "{log}");
}

/// `rgetty-share modem` on a symlink in `dir`, calls taken on a free port: (the modem, the link,
/// the port).
fn vmodem(dir: &Path, extra: &[&str]) -> (share_util::Proc, PathBuf, u16) {
    let link = dir.join("ttyVM");
    let port = free_port();
    let err = fs::File::create(dir.join("modem.log")).unwrap();
    let child = Command::new(share_util::BIN)
        .args(["modem", "--link"])
        .arg(&link)
        .args(["-p", &port.to_string(), "--ring-interval", "0.3"])
        .args(extra)
        .stdin(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap();
    let mut p = share_util::Proc { child };
    share_util::wait_for("the modem's link", || {
        assert!(p.child.try_wait().unwrap().is_none(), "modem exited");
        link.symlink_metadata().is_ok()
    });
    (p, link, port)
}

/// Issue 23 item 6: a caller sends `+++` with a second of silence either side, and the
/// answering DTE echoes it (a tty with ECHO on, as at a login prompt): the echo is not the
/// local DTE's escape, so the modem stays online and the caller's next bytes arrive.
#[test]
fn a_callers_echoed_plus_plus_plus_never_escapes_the_modem() {
    let tmp = share_util::tmpdir();
    let (_m, link, port) = vmodem(tmp.path(), &[]);
    let mut dte = common::dte::Dte::open(&link);
    dte.cmd("AT", "OK\r\n");
    let mut caller = TcpStream::connect(("127.0.0.1", port)).unwrap();
    dte.expect("RING\r\n");
    dte.send(b"ATA\r");
    dte.expect("CONNECT 38400\r\n");
    // From here on the DTE's tty echoes what it receives.
    let mut t = nix::sys::termios::tcgetattr(&dte.f).unwrap();
    t.local_flags |= nix::sys::termios::LocalFlags::ECHO;
    nix::sys::termios::tcsetattr(&dte.f, nix::sys::termios::SetArg::TCSANOW, &t).unwrap();
    std::thread::sleep(s(1.2));
    caller.write_all(b"+++").unwrap();
    dte.expect(r"\+\+\+");
    std::thread::sleep(s(1.5));
    caller.write_all(b"still online\r").unwrap();
    let got = dte.expect("still online|OK");
    assert!(
        String::from_utf8_lossy(&got).contains("still online"),
        "the modem escaped to command state: {:?}",
        String::from_utf8_lossy(&got)
    );
}

/// What a program on a terminal (a fresh pty, cooked, echo on) shows: its screen.
struct Screen {
    master: fs::File,
    seen: Vec<u8>,
}

impl Screen {
    /// Run `cmd` with the terminal as its standard input, output and error.
    fn run(cmd: &mut Command) -> (Screen, share_util::Proc) {
        let pty = nix::pty::openpty(None, None).unwrap();
        let slave = fs::File::from(pty.slave);
        cmd.stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave);
        let child = cmd.spawn().unwrap();
        let master = fs::File::from(pty.master);
        rgetty::sys::tty::set_nonblocking(&master, true).unwrap();
        let screen = Screen {
            master,
            seen: Vec::new(),
        };
        (screen, share_util::Proc { child })
    }

    /// Wait until the screen shows `want`; everything shown so far.
    fn wait_for(&mut self, want: &str) -> String {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let text = String::from_utf8_lossy(&self.seen).into_owned();
            if text.contains(want) {
                return text;
            }
            assert!(Instant::now() < end, "no {want:?} on the screen: {text:?}");
            let mut b = [0u8; 1024];
            match std::io::Read::read(&mut self.master, &mut b) {
                Ok(n) if n > 0 => self.seen.extend_from_slice(&b[..n]),
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Type `keys`.
    fn type_keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }
}

/// Issue 23 item 5: Debian's telnet calling the virtual modem in its default call mode (it
/// sends nothing first and starts in line mode with local echo): after its first line the
/// modem negotiates WILL ECHO and WILL SGA, so the password typed at `Password:` is not shown.
#[test]
fn a_telnet_callers_password_is_not_shown_on_the_callers_screen() {
    if !share_util::have("telnet") {
        return;
    }
    let tmp = share_util::tmpdir();
    let (_m, link, port) = vmodem(tmp.path(), &[]);
    let mut dte = common::dte::Dte::open(&link);
    dte.cmd("AT", "OK\r\n");
    let (mut screen, _telnet) =
        Screen::run(Command::new("telnet").args(["127.0.0.1", &port.to_string()]));
    screen.wait_for("Escape character");
    dte.expect("RING\r\n");
    dte.send(b"ATA\r");
    dte.expect("CONNECT 38400\r\n");
    // The getty's prompt; the name is typed (telnet echoes it itself in line mode).
    dte.send(b"\r\nlogin: ");
    screen.wait_for("login: ");
    screen.type_keys(b"root\r");
    dte.expect("root\r\n");
    dte.send(b"root\r\nPassword: ");
    screen.wait_for("Password: ");
    screen.type_keys(b"s3cret\r");
    dte.expect("s3cret\r");
    dte.send(b"\r\nWelcome\r\n");
    let shown = screen.wait_for("Welcome");
    let after_prompt = shown.rsplit("Password: ").next().unwrap();
    assert!(
        !after_prompt.contains("s3cret"),
        "the password is shown: {shown:?}"
    );
}

/// Owner, group and permission bits of what `link` points at.
fn access_of(link: &Path) -> (u32, u32, u32) {
    let m = fs::metadata(link).unwrap();
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

/// Issue 23 item 4: `modem --owner/--group/--link-mode` (as connect has them) set the pty
/// slave's owner, group and mode, on the first pty and on the new one after a carrier drop, so
/// a setuid cu or a group member can open it without a chown after each start.
#[test]
fn modem_owner_group_and_link_mode_hold_for_every_pty() {
    let tmp = share_util::tmpdir();
    let extra = [
        "--owner",
        "nobody",
        "--group",
        "dialout",
        "--link-mode",
        "0660",
    ];
    let (_m, link, port) = vmodem(tmp.path(), &extra);
    let want = (65534, 20, 0o660);
    assert_eq!(access_of(&link), want);
    let first = fs::read_link(&link).unwrap();
    let mut dte = common::dte::Dte::open(&link);
    dte.cmd("AT", "OK\r\n");
    let caller = TcpStream::connect(("127.0.0.1", port)).unwrap();
    dte.expect("RING\r\n");
    dte.send(b"ATA\r");
    dte.expect("CONNECT 38400\r\n");
    drop(caller);
    dte.expect("NO CARRIER\r\n");
    share_util::wait_for("a new pty after the carrier drop", || {
        fs::read_link(&link).is_ok_and(|p| p != first)
    });
    assert_eq!(access_of(&link), want);
    // A name that does not exist is a usage error, before anything is created.
    let out = Command::new(share_util::BIN)
        .args([
            "modem",
            "-p",
            "0",
            "--owner",
            "no-such-user-rgetty",
            "--link",
        ])
        .arg(tmp.path().join("other"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--owner: no user \"no-such-user-rgetty\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!tmp.path().join("other").exists());
}

/// Issue 23 item 12: `connect --link` follows the modem's rule: a symlink that does not point
/// into /dev/pts (nor any other file) is neither replaced nor, later, deleted; the one-line
/// error says why, once.
#[test]
fn connect_link_never_replaces_a_symlink_that_is_not_a_pty() {
    let tmp = share_util::tmpdir();
    let file = victim(tmp.path());
    let link = tmp.path().join("vport");
    symlink(&file, &link).unwrap();
    let out = Command::new(share_util::BIN)
        .args(["connect", "127.0.0.1:1", "--retries", "1", "--link"])
        .arg(&link)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        fs::read_link(&link).unwrap(),
        file,
        "the symlink was replaced"
    );
    assert_untouched(&file);
    assert_eq!(
        err.matches("not a pty: not replacing it").count(),
        1,
        "{err}"
    );
}

/// Issue 23 item 7: by default the virtual modem never dials this host (loopback, its own
/// addresses), not even through the phonebook, unless `--dial-allow` names it; and dials are
/// limited per minute (`NO DIALTONE` beyond).
#[test]
fn the_modem_dials_this_host_only_when_allowed_and_not_too_often() {
    let service = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    service.set_nonblocking(true).unwrap();
    let target = service.local_addr().unwrap();
    let tmp = share_util::tmpdir();
    let pb = tmp.path().join("phonebook");
    fs::write(&pb, format!("local {target} raw\n")).unwrap();
    let (_m, link, _) = vmodem(tmp.path(), &["--phonebook", pb.to_str().unwrap()]);
    let mut dte = common::dte::Dte::open(&link);
    dte.cmd("ATX4", "OK\r\n");
    dte.cmd(&format!("ATD{target}"), "NO CARRIER\r\n");
    dte.cmd("ATDlocal", "NO CARRIER\r\n");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        service.accept().is_err(),
        "a refused dial reached the service"
    );
    let log = fs::read_to_string(tmp.path().join("modem.log")).unwrap();
    assert!(
        log.contains("refused: 127.0.0.1 is this host (needs --dial-allow)"),
        "{log}"
    );
    drop(dte);
    drop(_m);
    // Allowed explicitly: the dials go out (BUSY from a closed port); over the limit: NO
    // DIALTONE, without reaching out.
    let tmp = share_util::tmpdir();
    let closed = free_port();
    let extra = ["--dial-allow", "127.0.0.1", "--dial-limit", "3"];
    let (_m, link, _) = vmodem(tmp.path(), &extra);
    let mut dte = common::dte::Dte::open(&link);
    dte.cmd("ATX4", "OK\r\n");
    for _ in 0..3 {
        dte.cmd(&format!("ATD127.0.0.1:{closed}"), "BUSY\r\n");
    }
    for _ in 0..3 {
        dte.cmd(&format!("ATD{target}"), "NO DIALTONE\r\n");
    }
    assert!(service.accept().is_err(), "a dial over the limit went out");
    let log = fs::read_to_string(tmp.path().join("modem.log")).unwrap();
    assert_eq!(log.matches("over --dial-limit").count(), 1, "{log}");
}

/// Issue 23 item 3: `connect --tls` against a server whose certificate it does not trust:
/// each failed handshake counts as a failed attempt (it gives up after `--retries`, backing
/// off 1 s, 2 s), never logs "connected", and says whose certificate and why once.
#[test]
fn connect_tls_counts_a_rejected_certificate_as_a_failed_attempt() {
    let tmp = share_util::tmpdir();
    if !share_util::have("openssl") {
        return;
    }
    // Two self-signed certificates: the server's, and another the client trusts instead.
    let sh = "set -e; K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2'; \
              openssl req -x509 $K -keyout srv.key -out srv.pem -subj /CN=127.0.0.1 \
                -addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE; \
              openssl req -x509 $K -keyout other.key -out other.pem -subj /CN=other";
    let st = Command::new("sh")
        .args(["-c", sh])
        .current_dir(tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "openssl failed");
    let d = share_util::dev();
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    let (cert, key) = (p("srv.pem"), p("srv.key"));
    let args = ["--tls-cert", &cert, "--tls-key", &key];
    let (_srv, addr) = serve_limited(tmp.path(), &d.path, 1024, &args);
    let t = Instant::now();
    let mut cl = share_util::Proc {
        child: Command::new(share_util::BIN)
            .args([
                "connect",
                "--tls",
                "--tls-ca",
                &p("other.pem"),
                "--retries",
                "3",
            ])
            .arg("--link")
            .arg(tmp.path().join("vport"))
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .stderr(fs::File::create(tmp.path().join("connect.log")).unwrap())
            .spawn()
            .unwrap(),
    };
    let st = cl.wait_exit(Duration::from_secs(30));
    let took = t.elapsed();
    let err = fs::read_to_string(tmp.path().join("connect.log")).unwrap();
    assert_eq!(st.and_then(|s| s.code()), Some(1), "{err}");
    assert!(
        took >= Duration::from_millis(2900),
        "no back-off: {took:?}\n{err}"
    );
    let why =
        format!("the server certificate of {addr} is rejected: issued by a CA that is not trusted");
    assert_eq!(err.matches(&why).count(), 1, "{err}");
    assert!(!err.contains("connected to"), "{err}");
    assert!(
        err.contains("3 failed attempts, the last as above"),
        "{err}"
    );
}

/// `rgetty-share ARGS` run to its end: (exit code, standard output, standard error).
fn share_run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(share_util::BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// Issue 23 item 14: the messages a new user tripped on. A second client hears that the
/// device is in use (not a bind error); `--check` needs `--config` and says OK when the file
/// is; `--help` shows the default port; `serve pts/N` means /dev/pts/N, and a relative name
/// that is nowhere is refused at start.
#[test]
fn rgetty_share_messages_say_what_is_meant() {
    let tmp = share_util::tmpdir();
    let d = share_util::dev();
    let quiet = |args: &[&str]| share_util::serve_to(tmp.path(), args, Stdio::null());
    let srv = quiet(&["-p", "0", d.path.to_str().unwrap()]);
    let addr = srv.addrs[0];
    let _first = share_util::connect(addr);
    std::thread::sleep(Duration::from_millis(200));
    let mut second = share_util::connect(addr);
    let msg = share_util::read_to_eof(&mut second);
    let want = format!("device {} is in use by 1 client(s)\r\n", d.path.display());
    assert_eq!(msg, want);
    let (code, _, err) = share_run(&["serve", "--check"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("--check checks a configuration file: give --config FILE"),
        "{err}"
    );
    let conf = tmp.path().join("ok.conf");
    fs::write(
        &conf,
        "5800 ttyS9 9600 127.0.0.1\n5801 ttyS8 9600 127.0.0.1\n",
    )
    .unwrap();
    let (code, out, _) = share_run(&["serve", "--check", "--config", conf.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert_eq!(out, "ok: 2 ports\n");
    let (_, help, _) = share_run(&["serve", "--help"]);
    assert!(help.contains("default 23000"), "{help}");
    // `pts/N` is the pty below /dev: the client reaches it.
    let mut d2 = share_util::dev();
    let rel = d2
        .path
        .strip_prefix("/dev")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let srv2 = quiet(&["-p", "0", &rel]);
    let mut c = share_util::connect(srv2.addrs[0]);
    c.write_all(b"via pts").unwrap();
    assert_eq!(d2.read_n(7), b"via pts");
    let (code, _, err) = share_run(&["serve", "-p", "0", "pts/no-such-pty"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("no device pts/no-such-pty (nor /dev/pts/no-such-pty)"),
        "{err}"
    ); // `connect --retries`: the failure once, not once more when giving up.
    let link = tmp.path().join("vport");
    let server = format!("127.0.0.1:{}", free_port());
    let (code, _, err) = share_run(&[
        "connect",
        "--retries",
        "2",
        "--link",
        link.to_str().unwrap(),
        &server,
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(err.matches("Connection refused").count(), 1, "{err}");
}

/// Issue 23 item 9: `rgetty status` shows only state files written by root (or the user
/// running it) and says which it ignored; what it prints has no control characters.
#[test]
fn status_ignores_state_files_of_other_users_and_cleans_what_it_prints() {
    let dir = tempfile::tempdir().unwrap();
    let row = |line: &str, state: &str| {
        format!(r#"{{"line":"{line}","state":"{state}","since_unix":1796000000,"pid":1}}"#)
    };
    let ours = dir.path().join("rgetty.state.ttyS1");
    fs::write(&ours, row("ttyS1", r"waiting\u001b[2J\u0007")).unwrap();
    let forged = dir.path().join("rgetty.state.ttyS2");
    fs::write(&forged, row("ttyFORGED", "login")).unwrap();
    nix::unistd::chown(&forged, Some(65534.into()), Some(65534.into())).unwrap();
    let out = Command::new(RGETTY)
        .args(["status", "--pid-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let (text, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(text.contains("ttyS1"), "{text}");
    assert!(!text.contains("FORGED"), "a forged row is shown:\n{text}");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "control characters printed: {text:?}"
    );
    assert_eq!(
        err.trim_end(),
        format!(
            "rgetty status: ignoring {}: owned by uid 65534, not root",
            forged.display()
        )
    );
}

/// Issue 23 item 11: the pid file goes on every exit, also exit 30 (the line is not a tty).
#[test]
fn the_pid_file_is_removed_after_exit_30() {
    let h = call_harness("");
    let file = h.path("notatty");
    fs::write(&file, "").unwrap();
    let (code, err) = run_on(&h, &file);
    assert_eq!(code, Some(30), "{err}");
    let left: Vec<String> = fs::read_dir(h.path("run"))
        .unwrap()
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("mgetty.pid."))
        .collect();
    assert!(left.is_empty(), "pid file left: {left:?}\n{err}");
}

/// Issue 23 item 13: a FIFO named like the device's lock holds the line, and a client is
/// told what it is, not "locked by pid 0".
#[test]
fn a_fifo_named_like_a_lock_is_named_as_such() {
    let tmp = share_util::tmpdir();
    let d = share_util::dev();
    let srv = share_util::serve_to(
        tmp.path(),
        &["-p", "0", d.path.to_str().unwrap()],
        Stdio::null(),
    );
    let lock = share_util::lock_name(tmp.path(), &d.path);
    nix::unistd::mkfifo(&lock, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let mut c = share_util::connect(srv.addrs[0]);
    let msg = share_util::read_to_eof(&mut c);
    let base = lock.file_name().unwrap().to_string_lossy();
    assert_eq!(
        msg,
        format!("line busy (unreadable lock {base} (a FIFO))\r\n")
    );
}

/// The running demo script: ended with SIGTERM (its own clean-up) when dropped.
struct Demo(share_util::Proc);

impl Drop for Demo {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.pid());
        let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
        self.0.wait_exit(Duration::from_secs(20));
    }
}

/// `demo/run.sh ARGS` with this build's programs, calls on a free port, its temp dir under
/// `tmp`: the running script (its output in `<tmp>/demo.out`).
fn demo(tmp: &Path, port: u16, args: &[&str]) -> Demo {
    fs::create_dir_all(tmp.join("t")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = Path::new(RGETTY).parent().unwrap();
    let out = fs::File::create(tmp.join("demo.out")).unwrap();
    let child = Command::new("bash")
        .arg(root.join("demo/run.sh"))
        .args(args)
        .env("RGETTY_BIN", bin)
        .env("PORT", port.to_string())
        .env("TMPDIR", tmp.join("t"))
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    Demo(share_util::Proc { child })
}

/// What the demo left in its TMPDIR.
fn left_behind(tmp: &Path) -> Vec<String> {
    fs::read_dir(tmp.join("t"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Issue 23 item 15: `demo/run.sh --selftest` passes and removes its temp dir once done.
#[test]
fn the_demo_selftest_passes_and_leaves_nothing_behind() {
    if !share_util::have("nc") {
        return;
    }
    let tmp = share_util::tmpdir();
    let mut d = demo(tmp.path(), free_port(), &["--selftest"]);
    let st = d.0.wait_exit(Duration::from_secs(90));
    let out = fs::read_to_string(tmp.path().join("demo.out")).unwrap();
    assert_eq!(st.and_then(|s| s.code()), Some(0), "{out}");
    assert!(out.contains("selftest: ok"), "{out}");
    assert_eq!(left_behind(tmp.path()), Vec::<String>::new(), "{out}");
}

/// Issue 23 item 15: calling the demo with Debian's telnet, the login name typed is shown
/// once (the getty's echo), not twice (telnet's local echo too).
#[test]
fn the_demo_over_telnet_shows_the_login_name_once() {
    if !share_util::have("telnet") {
        return;
    }
    let tmp = share_util::tmpdir();
    let port = free_port();
    let mut d = demo(tmp.path(), port, &[]);
    share_util::wait_for("the demo's call hint", || {
        assert!(d.0.child.try_wait().unwrap().is_none(), "the demo exited");
        fs::read_to_string(tmp.path().join("demo.out")).is_ok_and(|o| o.contains("Call it"))
    });
    let (mut screen, _telnet) =
        Screen::run(Command::new("telnet").args(["127.0.0.1", &port.to_string()]));
    screen.wait_for("login: ");
    screen.type_keys(b"zed\r");
    let shown = screen.wait_for("Goodbye");
    assert_eq!(shown.matches("zed").count(), 2, "{shown:?}"); // the echo, and "Hello, zed."
    assert!(shown.contains("login: zed\r\n"), "{shown:?}");
    drop(d);
    assert_eq!(left_behind(tmp.path()), Vec::<String>::new());
}

/// Issue 23 item 15: rgetty(8)'s EXIT STATUS lists its codes with no paragraph between them,
/// and docs/packaging.md says what the package does about maintainer scripts, once.
#[test]
fn exit_status_and_packaging_docs_hold_together() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let man = fs::read_to_string(root.join("man/rgetty.8")).unwrap();
    let from = man.find(".SH EXIT STATUS").unwrap();
    let len = man[from + 1..].find("\n.SH ").unwrap();
    let section = &man[from..from + len];
    let last_code = section.rfind(".TP").unwrap();
    assert!(
        !section[..last_code].contains(".PP"),
        "a paragraph between the exit codes:\n{section}"
    );
    let cargo = fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let pkg = fs::read_to_string(root.join("docs/packaging.md")).unwrap();
    if !cargo.contains("maintainer-scripts") {
        assert!(
            !pkg.contains("adds the usual"),
            "packaging.md promises maintainer scripts"
        );
        assert!(pkg.contains("No maintainer scripts are generated"));
    }
}
