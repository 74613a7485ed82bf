//! Line ownership against the real dial-out programs (issue 9): Debian's `cu` and `minicom`
//! (both insist on /var/lock: they run in a private mount namespace with the test's lock dir
//! bound over /run/lock), `picocom` and flock(2) holders, every lock name (`LCK..<given>`,
//! `LCK..<real basename>`, `LCK..<path below /dev>`, `LK.x.y.z`), the device given as a
//! symlink and as its real path, with `rgetty` and `rgetty-share` on the virtual modem.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use common::have;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rgetty::sys::tty;

// ------------------------------------------------------------------ peers and holders

/// Root with `unshare --mount`: needed to give cu and minicom our lock dir as /var/lock.
fn can_ns() -> bool {
    let ok = can_unshare_mount();
    if !ok {
        println!("SKIP: needs root and unshare --mount");
    }
    ok
}

/// `argv` in a private mount namespace where /run/lock (and /var/lock) is `lockdir`.
fn in_ns(lockdir: &Path, argv: &[&str]) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--mount", "--", "sh", "-c"])
        .arg(
            "mount --bind \"$0\" /run/lock || exit 97; \
             [ -L /var/lock ] || mount --bind \"$0\" /var/lock || exit 97; exec \"$@\"",
        )
        .arg(lockdir)
        .args(argv)
        .stdin(Stdio::null());
    c
}

/// What a dial-out program made of the line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Probe {
    /// It said the line is in use / locked.
    Refused,
    /// It got the line.
    Got,
    /// Something else (the output).
    Other(String),
}

fn output(mut c: Command) -> (Option<i32>, String) {
    let o = c
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.code(), text)
}

/// `cu -l DEV` for one second (as uucp, Debian's setuid cu).
fn cu(lockdir: &Path, dev: &Path) -> Probe {
    let (_, out) = output(in_ns(
        lockdir,
        &[
            "sh",
            "-c",
            "sleep 3 | timeout 1 cu -l \"$0\" 2>&1",
            dev.to_str().unwrap(),
        ],
    ));
    if out.contains("Line in use") && !out.contains("open (") {
        Probe::Refused
    } else if out.contains("Connected") {
        Probe::Got
    } else {
        Probe::Other(out)
    }
}

/// `minicom -D DEV` for one second with a private HOME.
fn minicom(lockdir: &Path, home: &Path, dev: &Path) -> Probe {
    let (_, out) = output(in_ns(
        lockdir,
        &[
            "sh",
            "-c",
            "sleep 3 | TERM=vt100 HOME=\"$1\" MINICOM= timeout 1 minicom -D \"$0\" 2>&1",
            dev.to_str().unwrap(),
            home.to_str().unwrap(),
        ],
    ));
    if out.contains("is locked") {
        Probe::Refused
    } else if out.contains("Welcome to minicom") && !out.contains("Cannot open") {
        Probe::Got
    } else {
        Probe::Other(out)
    }
}

/// `picocom DEV` (flock(2) only, no lock files) for one second.
fn picocom(dev: &Path) -> Probe {
    let mut c = Command::new("sh");
    c.args([
        "-c",
        "sleep 3 | timeout 1 picocom -q \"$0\" 2>&1",
        dev.to_str().unwrap(),
    ]);
    let (_, out) = output(c);
    if out.to_lowercase().contains("cannot lock") {
        Probe::Refused
    } else if !out.contains("FATAL") {
        Probe::Got
    } else {
        Probe::Other(out)
    }
}

/// Another process's `flock(LOCK_EX|LOCK_NB)` on the device.
fn flock(dev: &Path) -> Probe {
    let mut c = Command::new("flock");
    c.args(["-n", "-E", "99"]).arg(dev).arg("true");
    match output(c) {
        (Some(99), _) => Probe::Refused,
        (Some(0), _) => Probe::Got,
        (_, out) => Probe::Other(out),
    }
}

/// Every dial-out program, under every name, finds the line taken.
fn all_refuse(lockdir: &Path, home: &Path, names: &[&Path], when: &str) {
    for dev in names {
        assert_eq!(
            cu(lockdir, dev),
            Probe::Refused,
            "cu -l {} {when}",
            dev.display()
        );
        assert_eq!(
            minicom(lockdir, home, dev),
            Probe::Refused,
            "minicom -D {} {when}",
            dev.display()
        );
        if have("picocom") {
            assert_eq!(
                picocom(dev),
                Probe::Refused,
                "picocom {} {when}",
                dev.display()
            );
        }
        assert_eq!(flock(dev), Probe::Refused, "flock {} {when}", dev.display());
    }
}

fn peers_present() -> bool {
    can_ns() && have("cu") && have("minicom") && have("flock")
}

/// Something owning the line in the test: a lock file naming a live `sleep`, or an flock.
struct Held {
    child: Child,
    file: Option<PathBuf>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(f) = &self.file {
            let _ = fs::remove_file(f);
        }
    }
}

/// Who holds the line: a lock file under this name, or an flock on the device.
#[derive(Debug, Clone)]
enum Hold {
    File(String),
    Flock,
}

fn hold(h: &Hold, lockdir: &Path, dev: &Path) -> Held {
    match h {
        Hold::File(name) => {
            let child = Command::new("sleep").arg("60").spawn().unwrap();
            let file = lockdir.join(name);
            fs::write(&file, format!("{:>10}\n", child.id())).unwrap();
            Held {
                child,
                file: Some(file),
            }
        }
        Hold::Flock => {
            // A process that flocks the device and never reads it (picocom would race the
            // getty for the RING bytes).
            let child = Command::new("python3")
                .args([
                    "-c",
                    "import fcntl,os,sys,time\n\
                     f=os.open(sys.argv[1],os.O_RDONLY|os.O_NOCTTY|os.O_NONBLOCK)\n\
                     fcntl.flock(f,fcntl.LOCK_EX|fcntl.LOCK_NB)\n\
                     time.sleep(60)",
                ])
                .arg(dev)
                .spawn()
                .unwrap();
            let end = Instant::now() + s(10.0);
            while !tty::flock_busy(dev).unwrap() {
                assert!(Instant::now() < end, "the flock helper did not lock");
                std::thread::sleep(s(0.02));
            }
            Held { child, file: None }
        }
    }
}

/// The holders of the acceptance list for a device given as `given` (a symlink to `real`, or
/// `real` itself).
fn holders(given: &Path, real: &Path) -> Vec<Hold> {
    let m = fs::metadata(real).unwrap();
    let below = real
        .strip_prefix("/dev")
        .unwrap()
        .to_string_lossy()
        .into_owned();
    vec![
        Hold::File(format!(
            "LCK..{}",
            given.file_name().unwrap().to_string_lossy()
        )),
        Hold::File(format!(
            "LCK..{}",
            real.file_name().unwrap().to_string_lossy()
        )),
        Hold::File(format!("LCK..{}", below.replace('/', "_"))),
        Hold::File(format!(
            "LK.{:03}.{:03}.{:03}",
            libc::major(m.dev()),
            libc::major(m.rdev()),
            libc::minor(m.rdev())
        )),
        Hold::Flock,
    ]
}

// ------------------------------------------------------------------ the getty

const GETTY_CONFIG: &str = "port-owner root\nport-group root\nport-mode 0666\n\
issue-file Welcome\nlogin-prompt @ login:\\040\nprompt-waittime 50\n\
init-chat \"\" ATZ OK\nrings 2\n";

/// A getty harness whose lock dir is world-writable (cu runs as uucp) and a symlink
/// `<dir>/modem` to the modem's line.
fn getty_harness(extra: &str) -> (Harness, PathBuf, PathBuf) {
    let h = Harness::new(vmodem::Config::default(), &format!("{GETTY_CONFIG}{extra}"));
    fs::set_permissions(h.path("lock"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::set_permissions(h.modem.slave_path(), fs::Permissions::from_mode(0o666)).unwrap();
    let real = h.modem.slave_path().to_path_buf();
    let link = h.path("modem");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    (h, link, real)
}

/// Start rgetty on `dev` exactly as given.
fn spawn_on(h: &mut Harness, dev: &Path, extra: &[&str]) {
    let mut cmd = Command::new(RGETTY);
    cmd.args(h.args())
        .args(extra)
        .arg(dev)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    h.child = Some(cmd.spawn().unwrap());
}

/// Whether process `pid` has `dev` open.
fn has_open(pid: i32, dev: &Path) -> bool {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .any(|e| fs::read_link(e.path()).is_ok_and(|t| t == dev))
        })
        .unwrap_or(false)
}

/// Every log file of the harness (the DevID depends on the name given).
fn logs(h: &Harness) -> String {
    let mut out = String::new();
    for e in fs::read_dir(h.path("log")).unwrap().flatten() {
        out.push_str(&fs::read_to_string(e.path()).unwrap_or_default());
    }
    out
}

fn wait_logs(h: &Harness, re: &str, timeout: Duration) {
    let re = regex::Regex::new(re).unwrap();
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if re.is_match(&logs(h)) {
            return;
        }
        std::thread::sleep(s(0.02));
    }
    panic!(
        "log never matched {re}\nlog:\n{}\ntranscript:\n{}",
        logs(h),
        h.modem.transcript().printable()
    );
}

fn started_while_held(symlink: bool) {
    for who in 0..5 {
        let (mut h, link, real) = getty_harness("");
        let dev = if symlink { &link } else { &real };
        let what = holders(dev, &real)[who].clone();
        let held = hold(&what, &h.path("lock"), &real);
        spawn_on(&mut h, dev, &["--dialout-grace", "0.2"]);
        wait_logs(&h, "dialout in progress", s(15.0));
        if matches!(what, Hold::Flock) {
            // The flock's holder is found in /proc/locks and named like a lock's.
            wait_logs(&h, "dialout in progress: \"[^\"]*python3", s(1.0));
        }
        std::thread::sleep(s(0.5));
        assert!(
            !has_open(h.pid(), &real),
            "{what:?}: rgetty has the line open"
        );
        assert!(
            h.modem.transcript().to_modem_bytes().is_empty(),
            "{what:?}: bytes sent"
        );
        assert!(h.wait_exit(s(0.1)).is_none(), "{what:?}: did not wait");
        drop(held);
        assert_eq!(h.wait_exit(s(15.0)), Some(0), "{what:?}\n{}", logs(&h));
        assert!(
            h.modem.transcript().to_modem_bytes().is_empty(),
            "{what:?}: bytes sent"
        );
    }
}

#[test]
fn rgetty_started_while_any_name_or_flock_is_held_stays_off_the_line_symlink() {
    started_while_held(true);
}

#[test]
fn rgetty_started_while_any_name_or_flock_is_held_stays_off_the_line_real_path() {
    started_while_held(false);
}

fn waiting_sees_holder(symlink: bool) {
    for who in 0..5 {
        let (mut h, link, real) = getty_harness("");
        let dev = if symlink { &link } else { &real };
        let what = holders(dev, &real)[who].clone();
        spawn_on(&mut h, dev, &["--dialout-grace", "0.2"]);
        wait_logs(&h, r"waiting\.\.\.", s(20.0));
        let held = hold(&what, &h.path("lock"), &real);
        h.modem.ring(2, s(0.5), None);
        wait_logs(&h, "dialout in progress", s(15.0));
        std::thread::sleep(s(1.5));
        assert!(
            !h.modem.commands().iter().any(|c| c.starts_with("ATA")),
            "{what:?}: answered\n{}",
            logs(&h)
        );
        assert!(h.wait_exit(s(0.1)).is_none(), "{what:?}: did not wait");
        drop(held);
        assert_eq!(h.wait_exit(s(15.0)), Some(0), "{what:?}\n{}", logs(&h));
    }
}

#[test]
fn waiting_rgetty_steps_aside_for_any_name_or_flock_and_does_not_answer_symlink() {
    waiting_sees_holder(true);
}

#[test]
fn waiting_rgetty_steps_aside_for_any_name_or_flock_and_does_not_answer_real_path() {
    waiting_sees_holder(false);
}

#[test]
fn dial_out_programs_get_a_free_line() {
    // The probes themselves: with nobody on the line every program gets it.
    if !peers_present() {
        return;
    }
    let (h, link, real) = getty_harness("");
    for dev in [&link, &real] {
        assert_eq!(
            cu(&h.path("lock"), dev),
            Probe::Got,
            "cu -l {}",
            dev.display()
        );
        assert_eq!(
            minicom(&h.path("lock"), &h.path("run"), dev),
            Probe::Got,
            "minicom {}",
            dev.display()
        );
        if have("picocom") {
            assert_eq!(picocom(dev), Probe::Got, "picocom {}", dev.display());
        }
        assert_eq!(flock(dev), Probe::Got, "flock {}", dev.display());
    }
}

#[test]
fn while_rgetty_inits_every_program_and_name_is_refused() {
    if !peers_present() {
        return;
    }
    let h0 = Harness::new(
        vmodem::Config {
            init_reply: vmodem::InitReply::Silent,
            ..vmodem::Config::default()
        },
        GETTY_CONFIG,
    );
    let mut h = h0;
    fs::set_permissions(h.path("lock"), fs::Permissions::from_mode(0o1777)).unwrap();
    let real = h.modem.slave_path().to_path_buf();
    let link = h.path("modem");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    spawn_on(&mut h, &link, &["--init-chat-timeout", "60"]);
    h.modem.wait_to_modem("ATZ\r", s(15.0)).expect("init chat");
    all_refuse(
        &h.path("lock"),
        &h.path("run"),
        &[&link, &real],
        "during init",
    );
    assert!(
        !h.modem.commands().iter().any(|c| c != "ATZ"),
        "a dial-out program wrote to the line: {:?}",
        h.modem.commands()
    );
}

#[test]
fn while_rgetty_waits_for_rings_every_program_and_name_is_refused() {
    if !peers_present() {
        return;
    }
    for given_link in [true, false] {
        let (mut h, link, real) = getty_harness("rings 9\n");
        let (given, names): (&Path, Vec<&Path>) = if given_link {
            (&link, vec![&link, &real])
        } else {
            // Given the real path, rgetty cannot know of a symlink elsewhere.
            (&real, vec![&real])
        };
        spawn_on(&mut h, given, &["--ring-timeout", "60"]);
        wait_logs(&h, r"waiting\.\.\.", s(20.0));
        h.modem.ring(1, s(0.5), None);
        wait_logs(&h, r"RING #1", s(15.0));
        all_refuse(&h.path("lock"), &h.path("run"), &names, "while ringing");
    }
}

#[test]
fn during_a_call_every_program_and_name_is_refused() {
    if !peers_present() {
        return;
    }
    let (mut h, link, real) = getty_harness("");
    h.login_config("* - - /bin/sleep 60\n");
    spawn_on(&mut h, &link, &[]);
    wait_logs(&h, r"waiting\.\.\.", s(20.0));
    h.modem.set_caller(vec![
        CallerStep::login_prompt(s(10.0)),
        CallerStep::Send(b"alice\r".to_vec()),
        CallerStep::Sleep(s(60.0)),
    ]);
    h.modem.ring(2, s(0.5), None);
    let pid = h.pid();
    let end = Instant::now() + s(20.0);
    while rgetty::sys::lock::cmdline(pid) != "sleep 60" {
        assert!(Instant::now() < end, "no call\n{}", logs(&h));
        std::thread::sleep(s(0.05));
    }
    all_refuse(
        &h.path("lock"),
        &h.path("run"),
        &[&link, &real],
        "in a call",
    );
}

// ------------------------------------------------------------------ rgetty-share

/// A pty whose master is the far end; the share server opens the slave.
struct Dev {
    master: fs::File,
    _slave: OwnedFd,
    path: PathBuf,
}

fn dev() -> Dev {
    let p = tty::openpty().unwrap();
    tty::set_raw(&p.master).unwrap();
    tty::set_nonblocking(&p.master, true).unwrap();
    fs::set_permissions(&p.slave_path, fs::Permissions::from_mode(0o666)).unwrap();
    Dev {
        master: fs::File::from(p.master),
        _slave: p.slave,
        path: p.slave_path,
    }
}

impl Dev {
    /// Whatever reaches the far end within `d`.
    fn drain_for(&mut self, d: Duration) -> Vec<u8> {
        let mut out = Vec::new();
        let end = Instant::now() + d;
        let mut b = [0u8; 4096];
        while Instant::now() < end {
            match self.master.read(&mut b) {
                Ok(n) if n > 0 => out.extend_from_slice(&b[..n]),
                _ => std::thread::sleep(s(0.01)),
            }
        }
        out
    }
}

/// A running rgetty-share, killed on drop.
struct Share {
    child: Child,
    addrs: Vec<SocketAddr>,
}

impl Drop for Share {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Share {
    fn exits_within(&mut self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(s(0.02));
        }
        false
    }
}

fn serve(tmp: &Path, args: &[&str]) -> Share {
    let pf = tmp.join("ports");
    let lock = tmp.join("lock");
    fs::create_dir_all(&lock).unwrap();
    fs::set_permissions(&lock, fs::Permissions::from_mode(0o1777)).unwrap();
    let child = Command::new(SHARE)
        .arg("serve")
        .arg("--lock-dir")
        .arg(&lock)
        .arg("--port-file")
        .arg(&pf)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut sh = Share {
        child,
        addrs: Vec::new(),
    };
    let end = Instant::now() + s(20.0);
    while !pf.exists() {
        assert!(sh.child.try_wait().unwrap().is_none(), "server exited");
        assert!(Instant::now() < end, "no port file");
        std::thread::sleep(s(0.02));
    }
    sh.addrs = fs::read_to_string(&pf)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    sh
}

fn connect(a: SocketAddr) -> TcpStream {
    let c = TcpStream::connect(a).unwrap();
    c.set_read_timeout(Some(s(20.0))).unwrap();
    c
}

fn read_to_eof(c: &mut TcpStream) -> String {
    let mut v = Vec::new();
    let _ = c.read_to_end(&mut v);
    String::from_utf8_lossy(&v).into_owned()
}

fn share_refuses_busy_line(symlink: bool) {
    for who in 0..5 {
        let tmp = tempfile::tempdir().unwrap();
        let mut d = dev();
        let link = tmp.path().join("modem");
        std::os::unix::fs::symlink(&d.path, &link).unwrap();
        let given = if symlink { &link } else { &d.path };
        let what = holders(given, &d.path)[who].clone();
        let srv = serve(tmp.path(), &["-p", "0", given.to_str().unwrap()]);
        let held = hold(&what, &tmp.path().join("lock"), &d.path);
        let mut c = connect(srv.addrs[0]);
        let _ = c.write_all(b"ATDT123\r");
        let msg = read_to_eof(&mut c);
        assert!(msg.contains("line busy"), "{what:?}: {msg:?}");
        assert!(
            d.drain_for(s(0.5)).is_empty(),
            "{what:?}: bytes reached the device"
        );
        drop(held);
        let mut c = connect(srv.addrs[0]);
        c.write_all(b"hi").unwrap();
        let end = Instant::now() + s(10.0);
        let mut got = Vec::new();
        while got.len() < 2 && Instant::now() < end {
            got.extend(d.drain_for(s(0.1)));
        }
        assert_eq!(got, b"hi", "{what:?}: free line not served");
    }
}

#[test]
fn share_refuses_a_client_while_any_name_or_flock_is_held_symlink() {
    share_refuses_busy_line(true);
}

#[test]
fn share_refuses_a_client_while_any_name_or_flock_is_held_real_path() {
    share_refuses_busy_line(false);
}

#[test]
fn share_connect_refuses_a_local_device_held_under_any_name_or_flock() {
    for who in 0..5 {
        let tmp = tempfile::tempdir().unwrap();
        let d = dev();
        let link = tmp.path().join("modem");
        std::os::unix::fs::symlink(&d.path, &link).unwrap();
        let lock = tmp.path().join("lock");
        fs::create_dir(&lock).unwrap();
        let what = holders(&link, &d.path)[who].clone();
        let held = hold(&what, &lock, &d.path);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = Command::new(SHARE);
        c.args(["connect", "--once", "--retries", "1", "--lock-dir"])
            .arg(&lock)
            .arg(l.local_addr().unwrap().to_string())
            .arg(&link)
            .stdin(Stdio::null());
        let (code, out) = output(c);
        assert_ne!(code, Some(0), "{what:?}: {out}");
        assert!(out.contains("is locked by pid"), "{what:?}: {out}");
        drop(held);
    }
}

#[test]
fn while_share_serves_a_client_every_program_and_name_is_refused() {
    if !peers_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let mut d = dev();
    let link = tmp.path().join("modem");
    std::os::unix::fs::symlink(&d.path, &link).unwrap();
    let srv = serve(tmp.path(), &["-p", "0", link.to_str().unwrap()]);
    let mut c = connect(srv.addrs[0]);
    c.write_all(b"x").unwrap();
    let end = Instant::now() + s(10.0);
    while d.drain_for(s(0.1)).is_empty() {
        assert!(Instant::now() < end, "no session");
    }
    let home = tmp.path().join("home");
    fs::create_dir(&home).unwrap();
    all_refuse(
        &tmp.path().join("lock"),
        &home,
        &[&link, &d.path],
        "in a share session",
    );
}

// ------------------------------------------------------------------ hostile lock dirs

/// Make `path` as user nobody: a FIFO or a directory.
fn make_as_nobody(kind: &str, path: &Path) {
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let mut c = Command::new(if kind == "fifo" { "mkfifo" } else { "mkdir" });
    c.arg(path);
    c.uid(nobody.uid.as_raw()).gid(nobody.gid.as_raw());
    assert!(c.status().unwrap().success(), "{kind} as nobody");
}

#[test]
fn a_fifo_or_directory_named_like_a_lock_blocks_neither_rgetty_nor_sigterm() {
    for kind in ["fifo", "dir"] {
        // Present at start.
        let (mut h, link, _real) = getty_harness("");
        make_as_nobody(kind, &h.path("lock").join("LCK..modem"));
        spawn_on(&mut h, &link, &[]);
        wait_logs(&h, "not a lock file", s(15.0));
        assert!(h.modem.transcript().to_modem_bytes().is_empty());
        let t = Instant::now();
        h.signal(nix::sys::signal::Signal::SIGTERM);
        assert!(h.wait_exit(s(2.0)).is_some(), "{kind}: SIGTERM ignored");
        assert!(t.elapsed() < s(2.0));
        assert!(h.path("lock").join("LCK..modem").exists(), "{kind} removed");
        // Appearing while rgetty waits.
        let (mut h, _link, real2) = getty_harness("");
        spawn_on(&mut h, &real2, &[]);
        wait_logs(&h, r"waiting\.\.\.", s(20.0));
        let below = real2
            .strip_prefix("/dev")
            .unwrap()
            .to_string_lossy()
            .replace('/', "_");
        make_as_nobody(kind, &h.path("lock").join(format!("LCK..{below}")));
        wait_logs(&h, "dialout in progress", s(15.0));
        assert_eq!(
            logs(&h).matches("not a lock file").count(),
            1,
            "{kind}: one log line\n{}",
            logs(&h)
        );
        h.signal(nix::sys::signal::Signal::SIGTERM);
        assert!(h.wait_exit(s(2.0)).is_some(), "{kind}: SIGTERM ignored");
    }
}

#[test]
fn a_fifo_named_like_a_lock_leaves_other_share_ports_moving_and_sigterm_working() {
    for kind in ["fifo", "dir"] {
        let tmp = tempfile::tempdir().unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let (mut a, mut b) = (dev(), dev());
        let conf = tmp.path().join("share.conf");
        fs::write(
            &conf,
            format!(
                "127.0.0.1:{} {} 9600,8,N,1 127.0.0.1\n127.0.0.1:{} {} 9600,8,N,1 127.0.0.1\n",
                free_port(),
                a.path.display(),
                free_port(),
                b.path.display()
            ),
        )
        .unwrap();
        let lock = tmp.path().join("lock");
        fs::create_dir(&lock).unwrap();
        fs::set_permissions(&lock, fs::Permissions::from_mode(0o1777)).unwrap();
        let base = a.path.file_name().unwrap().to_string_lossy().into_owned();
        make_as_nobody(kind, &lock.join(format!("LCK..{base}")));
        let mut srv = serve(tmp.path(), &["--config", conf.to_str().unwrap()]);
        let mut ca = connect(srv.addrs[0]);
        let msg = read_to_eof(&mut ca);
        assert!(msg.contains("line busy"), "{kind}: {msg:?}");
        assert!(a.drain_for(s(0.2)).is_empty());
        let mut cb = connect(srv.addrs[1]);
        for i in 0..20u8 {
            cb.write_all(&[i; 64]).unwrap();
            let end = Instant::now() + s(10.0);
            let mut got = Vec::new();
            while got.len() < 64 && Instant::now() < end {
                got.extend(b.drain_for(s(0.02)));
            }
            assert_eq!(got, [i; 64], "{kind}: port 2 stalled");
        }
        let t = Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(srv.child.id()).unwrap()),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        assert!(srv.exits_within(s(2.0)), "{kind}: SIGTERM ignored");
        assert!(t.elapsed() < s(2.0));
        assert!(fs::symlink_metadata(lock.join(format!("LCK..{base}"))).is_ok());
    }
}

// ------------------------------------------------------------------ ACL on handed-over sockets

/// An inotify watch that tells whether anybody opened `path`.
struct OpenWatch(nix::sys::inotify::Inotify);

impl OpenWatch {
    fn new(path: &Path) -> OpenWatch {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).unwrap();
        ino.add_watch(path, AddWatchFlags::IN_OPEN).unwrap();
        OpenWatch(ino)
    }
    fn opened(&self) -> bool {
        self.0.read_events().is_ok_and(|e| !e.is_empty())
    }
}

/// A connection from 127.0.0.1: our end and the accepted end.
fn loopback_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = connect(l.local_addr().unwrap());
    let (s, _) = l.accept().unwrap();
    (c, s)
}

#[test]
fn inetd_connection_outside_the_allow_list_is_denied_and_the_device_never_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dev();
    let watch = OpenWatch::new(&d.path);
    let (mut c, sock) = loopback_pair();
    let mut child = Command::new(SHARE)
        .args(["serve", "--inetd", "--allow", "10.1.2.3", "--lock-dir"])
        .arg(tmp.path())
        .arg(&d.path)
        .stdin(Stdio::from(OwnedFd::from(sock.try_clone().unwrap())))
        .stdout(Stdio::from(OwnedFd::from(sock)))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let msg = read_to_eof(&mut c);
    assert!(msg.contains("access denied"), "{msg:?}");
    let end = Instant::now() + s(10.0);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < end, "inetd server did not exit");
        std::thread::sleep(s(0.02));
    }
    assert!(!watch.opened(), "the device was opened");
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0, "lock taken");
}

#[test]
fn systemd_accept_yes_connection_outside_the_allow_list_is_denied() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dev();
    let watch = OpenWatch::new(&d.path);
    let (mut c, sock) = loopback_pair();
    let fd = OwnedFd::from(sock);
    let raw = fd.as_raw_fd();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\"")
        .arg(SHARE)
        .args(["serve", "--inetd", "--allow", "10.1.2.3", "--lock-dir"])
        .arg(tmp.path())
        .arg(&d.path)
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: dup2 is async-signal-safe; `raw` stays open in the parent until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    drop(fd);
    let msg = read_to_eof(&mut c);
    assert!(msg.contains("access denied"), "{msg:?}");
    let end = Instant::now() + s(10.0);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < end, "server did not exit");
        std::thread::sleep(s(0.02));
    }
    assert!(!watch.opened(), "the device was opened");
}
