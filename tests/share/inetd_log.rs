//! Under `--inetd` the log names the port the connection arrived on (the socket's local
//! address), not the configured default `0.0.0.0:23000`.
//!
//! rgetty-share logs to syslog under inetd; the test runs it in a private mount namespace
//! (`unshare --mount`) whose /run is a tmpfs with the test's own datagram socket bound over
//! systemd's journal socket, and reads the records there. Skipped without root or
//! `unshare --mount` (a failure under CI=true).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::share_util;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use share_util::{BIN, DEADLINE, Proc, dev, tmpdir};

#[test]
fn inetd_log_names_the_port_the_connection_came_in_on() {
    if share_util::skip_without_mount_ns() {
        return;
    }
    let tmp = tmpdir();
    let t = tmp.path();
    std::fs::create_dir_all(t.join("lock")).unwrap();
    let journal = UnixDatagram::bind(t.join("journal.sock")).unwrap();
    journal
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut d = dev();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (conn, _) = l.accept().unwrap();
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(
            "mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && \
             : >/run/systemd/journal/socket && \
             mount --bind \"$0/journal.sock\" /run/systemd/journal/socket || exit 97; \
             exec \"$1\" serve --inetd -v --lock-dir \"$0/lock\" \"$2\"",
        )
        .arg(t)
        .arg(BIN)
        .arg(&d.path)
        .stdin(std::os::fd::OwnedFd::from(conn))
        .spawn()
        .unwrap();
    let _proc = Proc { child };
    client.write_all(b"hi").unwrap();
    assert_eq!(d.read_n(2), b"hi");
    let want = format!("port 127.0.0.1:{port}: connect from 127.0.0.1:");
    let mut seen = Vec::new();
    let end = Instant::now() + DEADLINE;
    let mut b = vec![0u8; 65536];
    while Instant::now() < end {
        if let Ok(n) = journal.recv(&mut b) {
            seen.push(String::from_utf8_lossy(&b[..n]).into_owned());
            if seen.last().unwrap().contains(&want) {
                break;
            }
        }
    }
    let all = seen.join("\n---\n");
    assert!(all.contains(&want), "{want:?} not in:\n{all}");
    assert!(!all.contains("0.0.0.0:23000"), "{all}");
}
