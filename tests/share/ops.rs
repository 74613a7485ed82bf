//! rgetty-share operated: `READY=1` and `STATUS=` to a fake NOTIFY_SOCKET, `GET /metrics`
//! parsed by the reference Prometheus parser, and hot-plugged devices (a symlink that appears,
//! disappears and changes target).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::prom;
use crate::share_util;
use prom::prom_parse;
use share_util::*;

/// `rgetty-share serve --config CONF` with `$NOTIFY_SOCKET` set to `notify` (locks in
/// `tmp/lock`).
fn serve_notified(tmp: &std::path::Path, conf: &std::path::Path, notify: &std::path::Path) -> Proc {
    std::fs::create_dir_all(tmp.join("lock")).unwrap();
    Proc {
        child: Command::new(BIN)
            .args(["serve", "--lock-dir"])
            .arg(tmp.join("lock"))
            .arg("--config")
            .arg(conf)
            .env("NOTIFY_SOCKET", notify)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    }
}

/// `GET /metrics` on `addr`: the body.
fn get_metrics(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    assert!(all.starts_with("HTTP/1.1 200 OK\r\n"), "{all}");
    assert!(
        all.contains("Content-Type: text/plain; version=0.0.4"),
        "{all}"
    );
    all.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// READY=1 comes once every listener is bound (a connect right after it succeeds), then
/// STATUS=; GET /metrics parses and counts a session and its bytes.
#[test]
fn ready_after_bind_status_and_metrics() {
    let tmp = tmpdir();
    let mut d = dev();
    let sock_path = tmp.path().join("notify");
    let notify = UnixDatagram::bind(&sock_path).unwrap();
    notify.set_read_timeout(Some(DEADLINE)).unwrap();
    let (p1, p2, pm) = (free_port(), free_port(), free_port());
    let conf = tmp.path().join("share.conf");
    std::fs::write(
        &conf,
        format!(
            "metrics=127.0.0.1:{pm}\n127.0.0.1:{p1} {} - *\n127.0.0.1:{p2} {}/absent - *\n",
            d.path.display(),
            tmp.path().display()
        ),
    )
    .unwrap();
    let _srv = serve_notified(tmp.path(), &conf, &sock_path);
    let mut buf = [0u8; 1024];
    let n = notify.recv(&mut buf).unwrap();
    let first = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(first.lines().any(|l| l == "READY=1"), "{first}");
    // READY=1 means bound: all three connect at once
    for p in [p1, p2, pm] {
        TcpStream::connect(("127.0.0.1", p)).unwrap();
    }
    assert!(
        first
            .lines()
            .any(|l| l.starts_with("STATUS=") && l.contains("2 ports")),
        "{first}"
    );

    assert!(
        first.contains("1 devices absent"),
        "the absent device is counted: {first}"
    );

    let mut c = connect(format!("127.0.0.1:{p1}").parse().unwrap());
    // a client changes the counts: one STATUS= line says so
    let n = notify.recv(&mut buf).unwrap();
    let status = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        status.starts_with("STATUS=") && status.contains("1 clients"),
        "{status}"
    );
    c.write_all(b"hello").unwrap();
    assert_eq!(d.read_n(5), b"hello");
    d.write_all(b"abc");
    let mut got = [0u8; 3];
    c.read_exact(&mut got).unwrap();
    let mut refused = connect(format!("127.0.0.1:{p2}").parse().unwrap());
    let msg = read_to_eof(&mut refused);
    assert!(msg.contains("absent"), "{msg:?}");

    let text = get_metrics(format!("127.0.0.1:{pm}").parse().unwrap());
    let Some(samples) = prom_parse(&text) else {
        return;
    };
    let port1 = format!("127.0.0.1:{p1}");
    let dev1 = d.path.display().to_string();
    let has = |kind: &str, name: &str, port: &str, extra: &str, v: &str| {
        let dev = if port == port1 {
            dev1.clone()
        } else {
            format!("{}/absent", tmp.path().display())
        };
        let want = format!("{kind} {name} {{'device': '{dev}', 'port': '{port}'{extra}}} {v}");
        assert!(samples.contains(&want), "{want}\n{samples:#?}");
    };
    has("gauge", "rgetty_share_clients", &port1, "", "1.0");
    has(
        "counter",
        "rgetty_share_bytes_to_device_total",
        &port1,
        "",
        "5.0",
    );
    has(
        "counter",
        "rgetty_share_bytes_from_device_total",
        &port1,
        "",
        "3.0",
    );
    // the READY check's connection may have had a session of its own
    let sessions = samples
        .iter()
        .find(|l| l.starts_with("counter rgetty_share_sessions_total ") && l.contains(&dev1))
        .unwrap();
    assert!(
        sessions.ends_with(" 1.0") || sessions.ends_with(" 2.0"),
        "{sessions}"
    );
    has("gauge", "rgetty_share_device_present", &port1, "", "1.0");
    has(
        "gauge",
        "rgetty_share_lock",
        &port1,
        ", 'state': 'ours'",
        "1.0",
    );
    let port2 = format!("127.0.0.1:{p2}");
    has("gauge", "rgetty_share_device_present", &port2, "", "0.0");
    // the READY check's connection and the client above
    has("counter", "rgetty_share_refusals_total", &port2, "", "2.0");
    has(
        "gauge",
        "rgetty_share_lock",
        &port2,
        ", 'state': 'free'",
        "1.0",
    );

    // the client leaves: one more STATUS=, then nothing while idle (no periodic lines)
    drop(c);
    let n = notify.recv(&mut buf).unwrap();
    let status = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(status.contains("0 clients"), "{status}");
    notify
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    assert!(notify.recv(&mut buf).is_err(), "a STATUS= while idle");
}

/// `--metrics PORT` (a bare port) binds loopback only.
#[test]
fn bare_metrics_port_is_loopback() {
    let tmp = tmpdir();
    let d = dev();
    let pm = free_port();
    let _srv = serve(
        tmp.path(),
        &[
            "-p",
            "0",
            "--metrics",
            &pm.to_string(),
            d.path.to_str().unwrap(),
        ],
    );
    let text = get_metrics(format!("127.0.0.1:{pm}").parse().unwrap());
    assert!(text.contains("rgetty_share_clients{"), "{text}");
    let ss = Command::new("ss").args(["-Hltn"]).output();
    if let Ok(out) = ss {
        let out = String::from_utf8_lossy(&out.stdout).into_owned();
        let ours: Vec<&str> = out
            .lines()
            .filter(|l| l.contains(&format!(":{pm} ")))
            .collect();
        assert!(
            !ours.is_empty() && ours.iter().all(|l| l.contains(&format!("127.0.0.1:{pm} "))),
            "{ours:?}"
        );
    }
}

/// The metrics listener answers other paths with 404 and refuses non-GET.
#[test]
fn metrics_only_serves_get_metrics() {
    let tmp = tmpdir();
    let d = dev();
    let pm = free_port();
    let metrics = format!("127.0.0.1:{pm}");
    let _srv = serve(
        tmp.path(),
        &["-p", "0", "--metrics", &metrics, d.path.to_str().unwrap()],
    );
    wait_for("metrics", || TcpStream::connect(&metrics).is_ok());
    let mut s = TcpStream::connect(&metrics).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert!(read_to_eof(&mut s).starts_with("HTTP/1.1 404"));
    let mut s = TcpStream::connect(&metrics).unwrap();
    s.write_all(b"DELETE /metrics HTTP/1.0\r\n\r\n").unwrap();
    assert!(read_to_eof(&mut s).starts_with("HTTP/1.1 405"));
}

/// Connect until a session opens (no refusal line within 100 ms); the time it took.
fn served_after(addr: SocketAddr, since: Instant) -> (Duration, TcpStream) {
    loop {
        let mut c = connect(addr);
        let at = since.elapsed();
        c.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut probe = [0u8; 256];
        match c.read(&mut probe) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&probe[..n]).into_owned();
                assert!(n == 0 || msg.contains("absent"), "{msg:?}");
            }
            Err(_) => return (at, c), // nothing back: the session is open
        }
        assert!(since.elapsed() < DEADLINE, "never served");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A device absent at start: the port refuses with one line and the metrics say absent; once
/// a symlink to a pty appears a client is served within 1 s; when it goes, clients are refused
/// again; re-created towards another pty, the next session uses the new target.
#[test]
fn hotplugged_device_absent_appears_and_moves() {
    let tmp = tmpdir();
    let by_id = tmp.path().join("serial/by-id");
    let link = by_id.join("usb-modem");
    let pm = free_port();
    let metrics: SocketAddr = format!("127.0.0.1:{pm}").parse().unwrap();
    let srv = serve(
        tmp.path(),
        &[
            "-p",
            "0",
            "--metrics",
            &pm.to_string(),
            link.to_str().unwrap(),
        ],
    );
    let addr = srv.addrs[0];
    let absent = |what: &str| {
        let mut c = connect(addr);
        let msg = read_to_eof(&mut c);
        assert!(
            msg.contains("is absent") && msg.ends_with("\r\n") && msg.lines().count() == 1,
            "{what}: {msg:?}"
        );
    };
    let present = || {
        let text = get_metrics(metrics);
        let line = text
            .lines()
            .find(|l| l.starts_with("rgetty_share_device_present{"))
            .unwrap()
            .to_string();
        line.ends_with(" 1")
    };
    absent("at start");
    assert!(!present());

    // plugged in: the by-id directory and the link appear
    let mut a = dev();
    std::fs::create_dir_all(&by_id).unwrap();
    symlink(&a.path, &link).unwrap();
    let (after, mut c) = served_after(addr, Instant::now());
    assert!(
        after < Duration::from_secs(1),
        "served {after:?} after the device appeared"
    );
    c.write_all(b"ping").unwrap();
    assert_eq!(a.read_n(4), b"ping");
    assert!(present());
    drop(c);
    wait_for("the lock to go", || lock_files(tmp.path()).is_empty());

    // unplugged: refused again, reported absent (inotify, not a scrape-time look)
    std::fs::remove_file(&link).unwrap();
    absent("after unplug");
    assert!(!present());

    // re-plugged as another device: the link is re-created towards pty b
    let mut b = dev();
    let tmp_link = by_id.join(".new");
    symlink(&b.path, &tmp_link).unwrap();
    std::fs::rename(&tmp_link, &link).unwrap();
    let (_, mut c) = served_after(addr, Instant::now());
    c.write_all(b"pong").unwrap();
    assert_eq!(b.read_n(4), b"pong");
    assert!(a.drain_for(Duration::from_millis(200)).is_empty());
    drop(c);
    wait_for("the lock to go", || lock_files(tmp.path()).is_empty());

    // re-pointed in place from pty b back to pty a: the next session follows
    let tmp_link = by_id.join(".new");
    symlink(&a.path, &tmp_link).unwrap();
    std::fs::rename(&tmp_link, &link).unwrap();
    let (_, mut c) = served_after(addr, Instant::now());
    c.write_all(b"back").unwrap();
    assert_eq!(a.read_n(4), b"back");
    assert!(b.drain_for(Duration::from_millis(200)).is_empty());
}

/// A device named directly that is present at start (`/dev/ttyUSB0`; here a file in a temp
/// dir) is watched too: unplugging it sends a new `STATUS=` at once, and so does plugging it
/// back in.
#[test]
fn unplugging_a_directly_named_device_updates_the_status() {
    let tmp = tmpdir();
    let usb = tmp.path().join("ttyUSB0");
    std::fs::write(&usb, b"").unwrap();
    let sock_path = tmp.path().join("notify");
    let notify = UnixDatagram::bind(&sock_path).unwrap();
    notify.set_read_timeout(Some(DEADLINE)).unwrap();
    let conf = tmp.path().join("share.conf");
    let port = free_port();
    std::fs::write(&conf, format!("127.0.0.1:{port} {} - *\n", usb.display())).unwrap();
    let _srv = serve_notified(tmp.path(), &conf, &sock_path);
    let mut buf = [0u8; 1024];
    let mut next = || {
        let n = notify.recv(&mut buf).expect("a STATUS= line");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let first = next();
    assert!(
        first.contains("READY=1") && !first.contains("absent"),
        "{first}"
    );
    std::fs::remove_file(&usb).unwrap();
    let gone = next();
    assert!(gone.contains("1 devices absent"), "{gone}");
    std::fs::write(&usb, b"").unwrap();
    let back = next();
    assert!(
        back.starts_with("STATUS=") && !back.contains("absent"),
        "{back}"
    );
}
