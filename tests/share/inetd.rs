//! The man page's inetd example under Debian's real openbsd-inetd and tcpd.
//!
//! Each test runs `/usr/sbin/inetd -d` in a private mount namespace (`unshare --mount`) with
//! an inetd.conf built from the example line of man/rgetty-share.8, changing only what a test
//! machine needs: inetd listens on 127.0.0.1 only, the binary is the one built, the device is
//! the test's pty (never a real serial port), the UUCP locks go to a temp dir. /etc/services
//! (which names the service), /etc/hosts.allow, /etc/hosts.deny and /run (inetd's pid file)
//! are private bind mounts in the namespace; the real ones are never touched.
//! Skipped, with the reason, without root, `unshare --mount`, inetd or tcpd.
//!
//! What the man page promises: the line serves the pty at 115200 raw; tcpd's refusal leaves
//! the device untouched; rgetty-share's own host list applies only when `--allow` is given,
//! and then to the connection inetd hands over exactly as to an accepted one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::share_util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::termios::{InputFlags, LocalFlags};
use rgetty::sys::tty;
use share_util::{
    BIN, Dev, Proc, connect, connect_from, dev, lock_files, man_inetd_line, read_to_eof, tmpdir,
    wait_for,
};

const INETD: &str = "/usr/sbin/inetd";
const TCPD: &str = "/usr/sbin/tcpd";

/// Root, `unshare --mount`, inetd, tcpd and the files to bind over; else why not.
fn why_not() -> Option<String> {
    if !nix::unistd::getuid().is_root() {
        return Some("needs root (for unshare --mount)".into());
    }
    if !share_util::can_unshare_mount() {
        return Some("`unshare --mount` missing or not permitted".into());
    }
    [
        INETD,
        TCPD,
        "/etc/services",
        "/etc/hosts.allow",
        "/etc/hosts.deny",
    ]
    .iter()
    .find(|p| !Path::new(p).exists())
    .map(|p| format!("{p} is missing"))
}

fn skip() -> bool {
    let why = why_not();
    if let Some(w) = &why {
        println!("SKIP: {w}");
    }
    why.is_some()
}

/// The example line with only the test machine's changes: listen on 127.0.0.1, the built
/// binary, `--lock-dir` and `extra` before the device, the pty instead of the serial port.
fn conf_line(lock: &Path, extra: &[&str], pty: &Path) -> String {
    let mut w = man_inetd_line();
    assert_eq!(w[1..5], ["stream", "tcp", "nowait", "root"], "{w:?}");
    assert_eq!(w[5], TCPD, "tcpd stays in the chain: {w:?}");
    assert!(w[6].ends_with("/rgetty-share"), "{w:?}");
    let device = w.pop().unwrap();
    assert!(device.starts_with("/dev/tty"), "{device}");
    w[0] = format!("127.0.0.1:{}", w[0]);
    w[6] = BIN.into();
    w.extend(["--lock-dir".into(), lock.display().to_string()]);
    w.extend(extra.iter().map(ToString::to_string));
    w.push(pty.display().to_string());
    w.join(" ")
}

/// Whether something listens on 127.0.0.1:`port` (read from /proc: a test connection would
/// start the service).
fn listening(port: u16) -> bool {
    let local = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| {
        t.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1] == local && f[3] == "0A"
        })
    })
}

/// inetd in its namespace, and the address of the service.
struct Inetd {
    _proc: Proc,
    addr: SocketAddr,
}

/// Start inetd with the example line for `pty` (`extra` words added to rgetty-share's) and
/// tcpd's host files `allow` and `deny`.
fn inetd(tmp: &Path, pty: &Path, extra: &[&str], allow: &str, deny: &str) -> Inetd {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let lock = tmp.join("lock");
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::create_dir_all(tmp.join("run")).unwrap();
    let service = &man_inetd_line()[0];
    std::fs::write(tmp.join("services"), format!("{service} {port}/tcp\n")).unwrap();
    std::fs::write(tmp.join("hosts.allow"), allow).unwrap();
    std::fs::write(tmp.join("hosts.deny"), deny).unwrap();
    let conf = conf_line(&lock, extra, pty);
    std::fs::write(tmp.join("inetd.conf"), format!("{conf}\n")).unwrap();
    let log = std::fs::File::create(tmp.join("inetd.log")).unwrap();
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(
            "for f in services hosts.allow hosts.deny; do \
               mount --bind \"$0/$f\" /etc/$f || exit 97; done; \
             mount --bind \"$0/run\" /run || exit 97; \
             exec \"$1\" -d \"$0/inetd.conf\"",
        )
        .arg(tmp)
        .arg(INETD)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut p = Proc { child };
    wait_for("inetd to listen", || {
        if let Some(s) = p.child.try_wait().unwrap() {
            let log = std::fs::read_to_string(tmp.join("inetd.log")).unwrap_or_default();
            panic!("inetd exited ({s}): {log}");
        }
        listening(port)
    });
    Inetd {
        _proc: p,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

/// Opens of the pty and files created in the lock dir, from inotify: what an outsider sees
/// of a server touching the device.
struct Touches {
    ino: Inotify,
}

impl Touches {
    fn watch(d: &Dev, lock: &Path) -> Touches {
        let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).unwrap();
        ino.add_watch(&d.path, AddWatchFlags::IN_OPEN).unwrap();
        ino.add_watch(lock, AddWatchFlags::IN_CREATE).unwrap();
        Touches { ino }
    }

    /// How many opens and creations happened since the last call.
    fn count(&self) -> usize {
        let mut n = 0;
        while let Ok(ev) = self.ino.read_events() {
            if ev.is_empty() {
                break;
            }
            n += ev.len();
        }
        n
    }
}

/// A temp dir with a lock dir, a pty, and a watch on both.
fn watched() -> (tempfile::TempDir, Dev, Touches) {
    let tmp = tmpdir();
    let d = dev();
    std::fs::create_dir_all(tmp.path().join("lock")).unwrap();
    let touches = Touches::watch(&d, &tmp.path().join("lock"));
    (tmp, d, touches)
}

/// Bytes flow both ways between `c` and the pty.
fn exchange(c: &mut TcpStream, d: &mut Dev) {
    c.write_all(b"ping").unwrap();
    assert_eq!(d.read_n(4), b"ping");
    d.write_all(b"pong");
    let mut back = [0u8; 4];
    c.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"pong");
}

#[test]
fn man_page_example_under_inetd_and_tcpd_serves_the_pty() {
    if skip() {
        return;
    }
    let (tmp, mut d, touches) = watched();
    let allow = "rgetty-share: 127.0.0.1\n";
    let srv = inetd(tmp.path(), &d.path, &[], allow, "ALL: ALL\n");
    let mut c = connect(srv.addr);
    exchange(&mut c, &mut d);
    // `-s 115200,raw` from the man page, the lock held while connected.
    assert_eq!(tty::get_speed(&d.slave).unwrap(), 115_200);
    let t = tty::get_termios(&d.slave).unwrap();
    assert!(!t.local_flags.contains(LocalFlags::ICANON));
    assert!(!t.local_flags.contains(LocalFlags::ECHO));
    assert!(!t.input_flags.contains(InputFlags::ICRNL));
    assert!(
        !lock_files(tmp.path()).is_empty(),
        "no lock while connected"
    );
    assert!(
        touches.count() >= 2,
        "the watcher sees the open and the lock"
    );
    // One connection, one server: it hangs up, the session ends, the lock goes.
    drop(c);
    wait_for("the lock to go", || lock_files(tmp.path()).is_empty());
}

#[test]
fn tcpd_refusal_never_reaches_the_device() {
    if skip() {
        return;
    }
    let (tmp, mut d, touches) = watched();
    let srv = inetd(tmp.path(), &d.path, &[], "", "ALL: ALL\n");
    let mut c = connect(srv.addr);
    let _ = c.write_all(b"ping");
    // EOF: every holder of the socket (inetd's child, tcpd) is gone, nothing was exec'd.
    assert_eq!(read_to_eof(&mut c), "");
    assert_eq!(touches.count(), 0, "the device was opened or locked");
    assert!(lock_files(tmp.path()).is_empty());
    assert!(
        d.drain_for(std::time::Duration::from_millis(200))
            .is_empty()
    );
}

#[test]
fn allow_list_applies_to_connections_inetd_hands_over() {
    if skip() {
        return;
    }
    let (tmp, mut d, touches) = watched();
    // tcpd admits both loopback addresses; rgetty-share's own list only 127.0.0.1.
    let allow = "rgetty-share: 127.0.0.1 127.0.0.2\n";
    let extra = ["--allow", "127.0.0.1"];
    let srv = inetd(tmp.path(), &d.path, &extra, allow, "ALL: ALL\n");
    let mut c = connect_from("127.0.0.2", srv.addr);
    let msg = read_to_eof(&mut c);
    assert!(msg.contains("access denied for 127.0.0.2"), "{msg:?}");
    assert_eq!(
        touches.count(),
        0,
        "a refused peer opened or locked the device"
    );
    assert!(lock_files(tmp.path()).is_empty());
    // The listed peer is served.
    let mut c = connect_from("127.0.0.1", srv.addr);
    exchange(&mut c, &mut d);
    assert!(touches.count() >= 2);
}

/// An IPv4 address of this machine outside 127/8 (connections from it to 127.0.0.1 still go
/// over the loopback device), if it has one.
fn non_loopback_ip() -> Option<String> {
    nix::ifaddrs::getifaddrs()
        .ok()?
        .filter_map(|i| Some(i.address?.as_sockaddr_in()?.ip()))
        .find(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .map(|ip| ip.to_string())
}

#[test]
fn without_allow_only_tcpd_decides() {
    if skip() {
        return;
    }
    let Some(ip) = non_loopback_ip() else {
        println!("SKIP: no IPv4 address outside 127/8");
        return;
    };
    let tmp = tmpdir();
    let mut d = dev();
    // As written (no --allow), a peer outside loopback that tcpd admits is served: a
    // standalone server's default list (loopback only) does not apply to inetd connections.
    let allow = format!("rgetty-share: {ip}\n");
    let srv = inetd(tmp.path(), &d.path, &[], &allow, "ALL: ALL\n");
    let mut c = connect_from(&ip, srv.addr);
    exchange(&mut c, &mut d);
    drop(c);
    // tcpd still decides: 127.0.0.1 is not in hosts.allow.
    let mut c = connect(srv.addr);
    let _ = c.write_all(b"ping");
    assert_eq!(read_to_eof(&mut c), "");
    assert!(
        d.drain_for(std::time::Duration::from_millis(200))
            .is_empty()
    );
}
