//! `rgetty-share console --control PATH PORT`: a console attached to a port through the
//! server's control socket (issue 19), driven through a pty like a lab admin's terminal, and
//! the `attach` request itself from a test client.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::lab::{Ctl, SPY_KEYS, console_on_pty, screen_bytes_until, screen_until};
use crate::share_util::*;

/// A server of `dev` on a free port with its control socket (`tmp/ctl`) and `extra` options
/// before the device: the server, the socket's path and the port number.
pub(crate) fn serve_ctl(tmp: &Path, dev: &Path, extra: &[&str]) -> (Server, PathBuf, String) {
    let ctl = tmp.join("ctl");
    let mut args = vec!["-p", "0", "--control", ctl.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(dev.to_str().unwrap());
    let srv = serve(tmp, &args);
    let port = srv.addrs[0].port().to_string();
    (srv, ctl, port)
}

/// What the server calls a console process attached through the control socket.
fn name_of(pid: i32) -> String {
    format!("control:uid={}:pid={pid}", nix::unistd::geteuid().as_raw())
}

/// `rgetty-share console ARGS…` (as user `uid`) that is expected to end at once: its status
/// and standard error.
fn console_fails(args: &[&str], uid: Option<u32>) -> (std::process::ExitStatus, String) {
    // as another user: a copy it can reach (the build tree may be below a private directory)
    let copy = uid.map(|_| crate::share_util::copy_for_any_user(BIN));
    let mut cmd = std::process::Command::new(copy.as_ref().map_or(Path::new(BIN), |c| &c.1));
    cmd.arg("console")
        .args(args)
        .stdin(std::process::Stdio::null());
    if let Some(u) = uid {
        cmd.uid(u);
    }
    let out = cmd.output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A raw `attach` request from a test client, with `extra` bytes in the same write; the
/// socket and the reply line.
fn attach(ctl: &Path, port: &str, mode: &str, extra: &[u8]) -> (UnixStream, String) {
    let mut s = UnixStream::connect(ctl).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut req = format!(r#"{{"cmd":"attach","port":"{port}","mode":"{mode}"}}"#).into_bytes();
    req.push(b'\n');
    req.extend_from_slice(extra);
    s.write_all(&req).unwrap();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while s.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    (s, String::from_utf8(line).unwrap())
}

/// The console through the control socket, on an RFC 2217 port: no TCP client anywhere.
/// Bytes go both ways raw (0xff neither doubled nor eaten: an attached client gets no telnet
/// layer); `~w` names this console by its uid and pid and marks it, `list` counts it; `~d`,
/// `~r`, `~b`, `~!NAME` go through control requests; `~p 1` replays; `~?` helps; `~s`
/// re-attaches as a watcher through the socket (the server then lists it as one, and what it
/// types is dropped). A subscriber sees it connect; `kick` by its name ends the console
/// (status 1) at once; the port log records its connects and disconnects by name.
#[test]
fn console_attaches_through_the_control_socket() {
    let tmp = tmpdir();
    let log = tmp.path().join("port.log");
    let mut d = dev();
    let log_s = log.to_str().unwrap();
    let (_srv, ctl, port) = serve_ctl(
        tmp.path(),
        &d.path,
        &[
            "--mode",
            "rfc2217",
            "--log-file",
            log_s,
            "--reset-seq",
            "pulse=rts=1; 5ms; rts=0",
        ],
    );
    let mut sub = Ctl::open(&ctl);
    sub.ask(r#"{"cmd":"subscribe"}"#);
    let (mut con, mut screen) = console_on_pty(&["--control", ctl.to_str().unwrap(), &port]);
    let me = name_of(con.pid());
    let ev = sub.line();
    assert!(
        ev.contains("\"event\":\"connect\"") && ev.contains(&format!("\"client\":\"{me}\"")),
        "{ev}"
    );
    screen.write_all(b"hi\xff\r").unwrap();
    assert_eq!(d.read_n(4), b"hi\xff\r");
    d.write_all(b"\xff\x01boot> \r\nline2\r\n");
    let s = screen_bytes_until(&mut screen, b"line2\r\n");
    assert!(s.windows(8).any(|w| w == b"\xff\x01boot> "), "{s:?}");
    screen.write_all(b"~w").unwrap();
    screen_until(&mut screen, &format!("attached: {me} (writer, you)"));
    screen.write_all(b"~d").unwrap();
    screen_until(&mut screen, "DTR off");
    screen.write_all(b"~r").unwrap();
    screen_until(&mut screen, "RTS off");
    let list = Ctl::open(&ctl).ask(r#"{"cmd":"list"}"#);
    for f in ["\"dtr\":false", "\"rts\":false", "\"clients\":1"] {
        assert!(list.contains(f), "no {f} in {list}");
    }
    screen.write_all(b"~b").unwrap();
    screen_until(&mut screen, "BREAK sent");
    screen.write_all(b"~!pulse\r").unwrap();
    screen_until(&mut screen, "reset pulse running");
    screen.write_all(b"~p 1\r").unwrap();
    screen_until(&mut screen, "the last 1 lines]\r\nline2\r\n");
    screen.write_all(b"~?").unwrap();
    screen_until(&mut screen, "~. disconnect");
    // ~s: a watcher now, through the socket (no watch port on this server)
    screen.write_all(b"~s").unwrap();
    screen_until(&mut screen, "(spy, read-only)");
    let mut c = Ctl::open(&ctl);
    let show = c.ask(&format!(r#"{{"cmd":"show","port":"{port}"}}"#));
    assert!(
        show.contains(&format!("\"client\":\"{me}\",\"role\":\"watcher\"")),
        "{show}"
    );
    assert!(!show.contains("\"role\":\"writer\""), "{show}");
    screen.write_all(b"typed by a spy\r~f").unwrap();
    screen_until(&mut screen, "a spy stays read-only");
    assert!(d.drain_for(Duration::from_millis(200)).is_empty());
    d.write_all(b"still watched\r\n");
    screen_until(&mut screen, "still watched");
    // kick by name: the console learns at once and exits 1
    let t0 = Instant::now();
    let r = c.ask(&format!(
        r#"{{"cmd":"kick","port":"{port}","client":"{me}"}}"#
    ));
    assert_eq!(r, "{\"ok\":true,\"kicked\":1}\n");
    screen_until(&mut screen, "connection closed by the server");
    let st = con.wait_exit(DEADLINE).expect("the console exits");
    eprintln!("kick to console exit: {:?}", t0.elapsed());
    assert_eq!(st.code(), Some(1), "{st}");
    wait_for("the kick in the port log", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("kicked"))
    });
    let text = std::fs::read_to_string(&log).unwrap();
    for l in [
        format!("[connect client {me}]"),
        format!("[disconnect client {me}: closed by peer]"),
        format!("[connect watcher {me}]"),
        format!("[disconnect watcher {me}: kicked (control socket)]"),
    ] {
        assert!(text.contains(&l), "no {l:?} in {text}");
    }
}

/// A spy through the control socket is never promoted: on a `--takeover` port with a TCP
/// writer, a `--spy` console types text and every escape, and a test client attached as a
/// spy writes bytes of its own; nothing reaches the device, the server keeps both watchers
/// and the TCP writer. A writer console then takes the line over (the TCP writer is told who
/// by name), `~f` re-attaches it as a writer again, and exactly one writer is listed.
#[test]
fn console_spy_through_the_control_socket_is_never_promoted() {
    let tmp = tmpdir();
    let mut d = dev();
    let (srv, ctl, port) = serve_ctl(tmp.path(), &d.path, &["--takeover"]);
    let mut w = connect(srv.addrs[0]);
    w.write_all(b"w").unwrap();
    assert_eq!(d.read_n(1), b"w");
    let ctl_s = ctl.to_str().unwrap();
    let (mut spy, mut spy_screen) = console_on_pty(&["--spy", "--control", ctl_s, &port]);
    for keys in [&b"abc\r~f"[..], b"~s"].iter().chain(SPY_KEYS) {
        spy_screen.write_all(keys).unwrap();
    }
    screen_until(&mut spy_screen, "a spy stays read-only");
    let (mut raw, reply) = attach(&ctl, &port, "spy", b"early spy bytes");
    assert!(reply.contains("\"role\":\"watcher\""), "{reply}");
    raw.write_all(b"more spy bytes\r\n").unwrap();
    let mut c = Ctl::open(&ctl);
    for req in [
        format!(r#"{{"cmd":"enable","port":"{port}"}}"#),
        format!(r#"{{"cmd":"set-control","port":"{port}","line":"dtr","state":"on"}}"#),
    ] {
        c.ask(&req);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(d.drain_for(Duration::from_millis(200)).is_empty());
    let show = c.ask(&format!(r#"{{"cmd":"show","port":"{port}"}}"#));
    assert_eq!(show.matches("\"role\":\"watcher\"").count(), 2, "{show}");
    assert_eq!(show.matches("\"role\":\"writer\"").count(), 1, "{show}");
    w.write_all(b"still writer").unwrap();
    assert_eq!(d.read_n(12), b"still writer");
    // a writer console takes the line over; ~f re-attaches it, taking over its old self
    let (mut wc, mut screen) = console_on_pty(&["--control", ctl_s, &port]);
    let me = name_of(wc.pid());
    let mut gone = Vec::new();
    let _ = w.read_to_end(&mut gone);
    let gone = String::from_utf8_lossy(&gone);
    assert!(gone.contains(&format!("taken over by {me}]")), "{gone}");
    screen.write_all(b"~f").unwrap();
    screen_until(&mut screen, "reattached to");
    screen.write_all(b"x").unwrap();
    assert_eq!(d.read_n(1), b"x");
    let show = c.ask(&format!(r#"{{"cmd":"show","port":"{port}"}}"#));
    assert_eq!(show.matches("\"role\":\"writer\"").count(), 1, "{show}");
    assert_eq!(show.matches("\"role\":\"watcher\"").count(), 2, "{show}");
    assert!(show.contains(&format!("\"client\":\"{me}\",\"role\":\"writer\"")));
    for (p, s) in [(&mut spy, &mut spy_screen), (&mut wc, &mut screen)] {
        s.write_all(b"\r~.").unwrap();
        assert!(p.wait_exit(DEADLINE).expect("exits").success());
    }
}

/// Refusals are one JSON line and the connection closes: an unknown port, a disabled port
/// (the console says so on one line and exits 1), a busy port without take-over; a bad mode
/// or an attach on a subscribed connection is an error on a connection that stays usable.
/// Input sent with the request reaches the device after the reply. `--local` takes the
/// port's listen address. A console without a host
/// or `--control` is told what to give; a console run by a user who is neither root nor the
/// server's is refused by its credentials (when the test runs as root).
#[test]
fn attach_refusals_are_one_line() {
    let tmp = tmpdir();
    let mut d = dev();
    let (_srv, ctl, port) = serve_ctl(tmp.path(), &d.path, &[]);
    let (mut s, reply) = attach(&ctl, "1", "write", b"");
    assert_eq!(reply, r#"{"ok":false,"error":"no port \"1\""}"#);
    assert_eq!(s.read(&mut [0u8; 16]).unwrap(), 0, "closed");
    let mut c = Ctl::open(&ctl);
    let r = c.ask(&format!(
        r#"{{"cmd":"attach","port":"{port}","mode":"rw"}}"#
    ));
    assert!(r.contains("\"ok\":false") && r.contains("mode"), "{r}");
    assert!(c.ask(r#"{"cmd":"list"}"#).starts_with("{\"ok\":true"));
    let mut sub = Ctl::open(&ctl);
    sub.ask(r#"{"cmd":"subscribe"}"#);
    let r = sub.ask(&format!(
        r#"{{"cmd":"attach","port":"{port}","mode":"spy"}}"#
    ));
    assert!(r.contains("subscribed connection"), "{r}");
    c.ask(&format!(r#"{{"cmd":"disable","port":"{port}"}}"#));
    let (mut s, reply) = attach(&ctl, &port, "spy", b"");
    assert_eq!(reply, r#"{"ok":false,"error":"port disabled"}"#);
    assert_eq!(s.read(&mut [0u8; 16]).unwrap(), 0, "closed");
    let (st, err) = console_fails(&["--control", ctl.to_str().unwrap(), &port], None);
    assert_eq!(st.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("cannot attach to {port}: port disabled")),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    c.ask(&format!(r#"{{"cmd":"enable","port":"{port}"}}"#));
    // input in the same write as the request: the reply first, then the device gets it
    let (mut s, reply) = attach(&ctl, &port, "write", b"early");
    assert!(
        reply.starts_with("{\"ok\":true,\"port\":\"127.0.0.1:"),
        "{reply}"
    );
    assert_eq!(d.read_n(5), b"early");
    // busy, no take-over: a second writer is refused, a spy is not
    let (_, reply) = attach(&ctl, &port, "write", b"");
    assert!(reply.contains("is in use by 1 client(s)"), "{reply}");
    let (_spy, reply) = attach(&ctl, &port, "spy", b"");
    assert!(reply.contains("\"role\":\"watcher\""), "{reply}");
    s.write_all(b"ok").unwrap();
    assert_eq!(d.read_n(2), b"ok");
    // --local names the port by its listen address; a spy is no writer, busy or not
    let addr = format!("127.0.0.1:{port}");
    let (mut con, mut screen) = console_on_pty(&[
        "--local",
        "--spy",
        "--control",
        ctl.to_str().unwrap(),
        &addr,
    ]);
    screen.write_all(b"~w").unwrap();
    let me = name_of(con.pid());
    screen_until(&mut screen, &format!("{me} (watcher, you)"));
    screen.write_all(b"~.").unwrap();
    assert!(con.wait_exit(DEADLINE).expect("exits").success());
    let (st, err) = console_fails(&["--control", ctl.to_str().unwrap(), "1"], None);
    assert!(err.contains("cannot attach to 1: no port \"1\""), "{err}");
    assert_eq!(
        (st.code(), err.trim_end().lines().count()),
        (Some(1), 1),
        "{err}"
    );
    let (st, err) = console_fails(&[&port], None);
    assert!(!st.success() && err.contains("--control PATH"), "{err}");
    if nix::unistd::geteuid().is_root() {
        std::fs::set_permissions(&ctl, std::fs::Permissions::from_mode(0o666)).unwrap();
        let (st, err) = console_fails(&["--control", ctl.to_str().unwrap(), &port], Some(65534));
        assert!(!st.success() && err.contains("not allowed"), "{err}");
        let show = c.ask(&format!(r#"{{"cmd":"show","port":"{port}"}}"#));
        assert!(!show.contains("uid=65534"), "{show}");
    }
}
