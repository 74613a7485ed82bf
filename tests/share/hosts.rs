//! Host and domain names in host lists, as Masqdialer's mserver.conf line of the Modem
//! Sharing mini-HOWTO has them: `5800 /dev/ttyS1 115200,8,N,1 <hosts>` "can be connected via
//! port 5800 from anywhere in the domain and from host …; any other hosts are rejected".
//!
//! rgetty-share runs in a private mount namespace (`unshare --mount`) with its own /etc/hosts
//! (glibc reads it for both the reverse and the forward lookup, `hosts: files` in the bound
//! nsswitch.conf) and resolv.conf; the peers are loopback addresses (127.0.0.x) with names
//! there. The device is a pty behind a symlink named like the HOWTO's (never a real serial
//! port); port 5800 becomes a free one when taken. Skipped without root or `unshare --mount`
//! (a failure under CI=true).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::share_util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::termios::{BaudRate, cfgetospeed};
use rgetty::sys::tty;
use share_util::{BIN, Dev, Proc, connect_from, dev, free_port, read_to_eof, tmpdir, wait_for};

/// The names the namespace's /etc/hosts gives the peers.
const HOSTS: &str = "127.0.0.1 localhost\n\
    127.0.0.3 pc7.lan.test\n\
    127.0.0.4 modem-user.other.test\n\
    127.0.0.2 stranger.elsewhere.test\n";
/// A resolver that never answers (a UDP socket nobody reads), for lookups that hang.
const SILENT_DNS: &str = "127.0.0.99";

/// The tests share port 5800 (and the silent resolver's address): one at a time.
fn one() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The namespace's files in `t`: hosts, nsswitch.conf (`files`, then `dns` when `dns`), and a
/// resolv.conf naming the silent resolver.
fn etc(t: &Path, dns: bool) {
    std::fs::write(t.join("hosts"), HOSTS).unwrap();
    let ns = if dns {
        "hosts: files dns\n"
    } else {
        "hosts: files\n"
    };
    std::fs::write(t.join("nsswitch.conf"), ns).unwrap();
    std::fs::write(
        t.join("resolv.conf"),
        format!("nameserver {SILENT_DNS}\noptions timeout:30 attempts:1\n"),
    )
    .unwrap();
    std::fs::create_dir_all(t.join("lock")).unwrap();
}

/// rgetty-share with `args` in the namespace; its stderr goes to `t/err`.
fn ns_command(t: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(
            "for f in hosts nsswitch.conf resolv.conf; do \
               mount --bind \"$0/$f\" /etc/$f || exit 97; done; \
             exec \"$@\"",
        )
        .arg(t)
        .arg(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(t.join("err")).unwrap());
    c
}

/// The HOWTO's line for a pty behind `t/ttyS1`, on port 5800 (or a free one).
fn masqdialer_conf(t: &Path, hosts: &str) -> (Dev, u16) {
    let d = dev();
    std::os::unix::fs::symlink(&d.path, t.join("ttyS1")).unwrap();
    let port = if TcpListener::bind("0.0.0.0:5800").is_ok() {
        5800
    } else {
        free_port()
    };
    let line = format!(
        "{port} {}/ttyS1      115200,8,N,1    {hosts}\n",
        t.display()
    );
    std::fs::write(t.join("mserver.conf"), line).unwrap();
    (d, port)
}

fn serve(t: &Path, port: u16) -> Proc {
    let conf = t.join("mserver.conf");
    let lock = t.join("lock");
    let args = [
        "serve",
        "-v",
        "--config",
        conf.to_str().unwrap(),
        "--lock-dir",
        lock.to_str().unwrap(),
    ];
    let p = Proc {
        child: ns_command(t, &args).spawn().unwrap(),
    };
    listening(port);
    p
}

/// Wait until something listens on `port` (read from /proc: a connection would be a peer).
fn listening(port: u16) {
    wait_for("the port", || {
        std::fs::read_to_string("/proc/net/tcp")
            .is_ok_and(|s| s.contains(&format!(":{port:04X} 00000000:0000 0A")))
    });
}

fn to(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A peer the list admits: its bytes reach the device and the device's come back.
fn admitted(from: &str, port: u16, d: &mut Dev) {
    let mut c = connect_from(from, to(port));
    let msg = format!("ATDT from {from}\r");
    c.write_all(msg.as_bytes()).unwrap();
    assert_eq!(d.read_n(msg.len()), msg.as_bytes());
    d.write_all(b"CONNECT\r\n");
    let mut b = [0u8; 9];
    c.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"CONNECT\r\n");
    let t = tty::get_termios(&d.slave).unwrap();
    assert_eq!(cfgetospeed(&t), BaudRate::B115200);
}

fn refused(from: &str, port: u16) {
    let mut c = connect_from(from, to(port));
    assert_eq!(read_to_eof(&mut c), format!("access denied for {from}\r\n"));
}

/// The set-up of a test in the namespace (`None`: it cannot run here): the test lock, a temp
/// dir with the namespace's files (no DNS), and the masqdialer line for `hosts`.
fn lan_line(
    hosts: &str,
) -> Option<(
    std::sync::MutexGuard<'static, ()>,
    tempfile::TempDir,
    Dev,
    u16,
)> {
    if share_util::skip_without_mount_ns() {
        return None;
    }
    let one = one();
    let tmp = tmpdir();
    etc(tmp.path(), false);
    let (d, port) = masqdialer_conf(tmp.path(), hosts);
    Some((one, tmp, d, port))
}

#[test]
fn masqdialer_line_with_a_domain_and_a_host() {
    let Some((_one, tmp, mut d, port)) = lan_line("*.lan.test,modem-user.other.test") else {
        return;
    };
    let t = tmp.path();
    let _srv = serve(t, port);
    // Anywhere in the domain, and the host.
    admitted("127.0.0.3", port, &mut d);
    wait_for("the line to be free", || {
        std::fs::read_dir(t.join("lock")).unwrap().count() == 0
    });
    admitted("127.0.0.4", port, &mut d);
    // Any other host is rejected: a name outside the list, no name at all, and loopback
    // itself (the list names no address).
    refused("127.0.0.2", port);
    refused("127.0.0.8", port);
    refused("127.0.0.1", port);
    let err = std::fs::read_to_string(t.join("err")).unwrap();
    assert!(
        err.contains("127.0.0.2 is stranger.elsewhere.test: not in the host list"),
        "{err}"
    );
}

/// `--allow .lan.test` (tcp-wrappers' spelling) on the command line; a peer whose lookup hangs
/// is refused after a bounded time while others are served meanwhile.
#[test]
fn allow_a_domain_and_a_hanging_lookup_blocks_nobody() {
    if share_util::skip_without_mount_ns() {
        return;
    }
    let _one = one();
    let Ok(_dns) = UdpSocket::bind((SILENT_DNS, 53)) else {
        println!("SKIP: cannot bind {SILENT_DNS}:53");
        return;
    };
    let tmp = tmpdir();
    let t = tmp.path();
    etc(t, true);
    let (mut d, port) = masqdialer_conf(t, "-");
    let lock = t.join("lock");
    let p = port.to_string();
    let args = [
        "serve",
        "-v",
        "-p",
        &p,
        "-s",
        "115200",
        "--allow",
        ".lan.test",
        "--lock-dir",
    ];
    let mut cmd = ns_command(t, &args);
    cmd.arg(&lock).arg(t.join("ttyS1"));
    let _srv = Proc {
        child: cmd.spawn().unwrap(),
    };
    listening(port);
    // 127.0.0.9 has no line in /etc/hosts: its reverse lookup goes to the silent resolver.
    let start = Instant::now();
    let mut hanging = connect_from("127.0.0.9", to(port));
    std::thread::sleep(Duration::from_millis(300));
    admitted("127.0.0.3", port, &mut d);
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "served only after the lookup"
    );
    assert_eq!(read_to_eof(&mut hanging), "access denied for 127.0.0.9\r\n");
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(4), "{waited:?}");
    assert!(waited < Duration::from_secs(15), "{waited:?}");
    let err = std::fs::read_to_string(t.join("err")).unwrap();
    assert!(err.contains("no name for 127.0.0.9"), "{err}");
}

/// `--check` warns about a host name that does not resolve (and still passes the file).
#[test]
fn check_warns_on_a_name_that_does_not_resolve() {
    let Some((_one, tmp, _d, _port)) = lan_line("*.lan.test,pc7.lan.test,gone.lan.test") else {
        return;
    };
    let t = tmp.path();
    let conf = t.join("mserver.conf");
    let st = ns_command(t, &["serve", "--check", "--config", conf.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    let err = std::fs::read_to_string(t.join("err")).unwrap();
    let want = format!(
        "{}:1: host name gone.lan.test does not resolve",
        conf.display()
    );
    assert!(err.contains(&want), "{err}");
    assert!(!err.contains("pc7.lan.test does not"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
