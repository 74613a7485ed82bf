//! rgetty-share for labs (issue 19): sessions that survive the device (`hold-session`) and
//! the control socket.

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::{common, share_util};
use rgetty::proto::telnet::{ComPort, Decoder, Event};
use rgetty::sys::tty;
use share_util::*;

/// Read from `c` until the text read so far contains `pat`; returns it.
fn read_until(c: &mut TcpStream, pat: &str) -> String {
    let end = Instant::now() + DEADLINE;
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    while !String::from_utf8_lossy(&got).contains(pat) {
        assert!(
            Instant::now() < end,
            "timed out waiting for {pat:?}; got {:?}",
            String::from_utf8_lossy(&got)
        );
        match c.read(&mut b) {
            Ok(0) => panic!("closed; got {:?}", String::from_utf8_lossy(&got)),
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Point `link` at `target` in one step (as udev re-creates a by-id link).
fn repoint(link: &Path, target: &Path) {
    let tmp = link.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}

/// A fresh device behind `link` and a `--hold-session` server (port 0) on the link, with the
/// options `extra`.
fn serve_held(tmp: &Path, link: &Path, extra: &[&str]) -> (Dev, Server) {
    let d = dev();
    repoint(link, &d.path);
    let mut args = vec!["-p", "0", "--hold-session"];
    args.extend_from_slice(extra);
    args.push(link.to_str().unwrap());
    (d, serve(tmp, &args))
}

/// A temp dir, its control socket path `ctl`, a device, and a server on the device (port 0)
/// serving that control socket, with the options `extra`.
fn serve_ctl(extra: &[&str]) -> (tempfile::TempDir, PathBuf, Dev, Server) {
    let tmp = tmpdir();
    let d = dev();
    let (srv, ctl, _) = crate::attach::serve_ctl(tmp.path(), &d.path, extra);
    (tmp, ctl, d, srv)
}

/// A free port for `--metrics` and its address on loopback.
fn metrics_port() -> (u16, SocketAddr) {
    let pm = free_port();
    (pm, format!("127.0.0.1:{pm}").parse().unwrap())
}

/// The value of the metric line starting with `name{` (the whole text fetched once).
fn metric(addr: SocketAddr, name: &str) -> f64 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .unwrap_or_else(|| panic!("no {name} in {text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// `hold-session`: a client stays connected through 20 unplug/replug cycles of a by-id style
/// symlink re-pointed at fresh ptys. Each time it gets one notice line, its input typed while
/// the device is away reaches the new device, and the new device's first bytes reach it soon
/// after the link is back (inotify, measured; the bound is generous for a loaded CI machine).
/// While the device is away the server makes no system call (strace, 2 s). The port log and
/// the metrics count the 20 gaps.
#[test]
fn hold_session_survives_twenty_replugs() {
    let tmp = tmpdir();
    let by_id = tmp.path().join("serial/by-id");
    std::fs::create_dir_all(&by_id).unwrap();
    let link = by_id.join("usb-board");
    let log = tmp.path().join("port.log");
    let (pm, metrics) = metrics_port();
    let (mut d, srv) = serve_held(
        tmp.path(),
        &link,
        &[
            "--log-file",
            log.to_str().unwrap(),
            "--metrics",
            &pm.to_string(),
        ],
    );
    let mut c = connect(srv.addrs[0]);
    c.write_all(b"hi").unwrap();
    assert_eq!(d.read_n(2), b"hi");
    let traces = tmpdir();
    let mut lat = Vec::new();
    for i in 0..20 {
        drop(d); // unplugged: the pty goes, then udev removes the link
        std::fs::remove_file(&link).unwrap();
        let notice = read_until(&mut c, "]\r\n");
        assert!(
            notice.contains("is gone; holding the session") && notice.matches("\r\n").count() == 2,
            "cycle {i}: {notice:?}"
        );
        if i == 0 && !have("strace") {
            assert!(std::env::var_os("CI").is_none(), "CI: strace is missing");
        }
        if i == 0 && have("strace") {
            let out = traces.path().join("strace.txt");
            if let Some(st) = strace_attach(srv.proc.pid(), &[], &out) {
                std::thread::sleep(Duration::from_secs(2));
                strace_detach(st);
                let calls = completed_calls(&out);
                assert!(calls.is_empty(), "absent and idle: {calls:#?}");
            }
        }
        let typed = format!("typed-{i}");
        c.write_all(typed.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        // plugged in again: a fresh pty, which talks at once
        d = dev();
        let said = format!("boot-{i}\r\n");
        d.write_all(said.as_bytes());
        let t0 = Instant::now();
        repoint(&link, &d.path);
        let got = read_until(&mut c, &said);
        lat.push(t0.elapsed());
        assert!(got.contains("is back after"), "cycle {i}: {got:?}");
        assert_eq!(d.read_n(typed.len()), typed.as_bytes(), "cycle {i}");
    }
    lat.sort();
    eprintln!(
        "first byte after the link is back: median {:?}, max {:?}",
        lat[lat.len() / 2],
        lat[lat.len() - 1]
    );
    assert!(lat[lat.len() / 2] < Duration::from_millis(100), "{lat:?}");
    assert!(lat[lat.len() - 1] < Duration::from_secs(2), "{lat:?}");
    c.write_all(b"still").unwrap();
    assert_eq!(d.read_n(5), b"still");
    assert_eq!(metric(metrics, "rgetty_share_device_gaps_total"), 20.0);
    assert_eq!(metric(metrics, "rgetty_share_clients"), 1.0);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("device gone, session held").count(), 20);
    assert_eq!(text.matches("device back after").count(), 20);
}

/// Input typed while the device is away is kept up to 4,096 bytes; the rest is dropped and
/// counted in the metrics. A control-socket subscriber gets `device-gone` and `device-back`.
#[test]
fn hold_session_keeps_input_up_to_the_cap() {
    let tmp = tmpdir();
    let ctl_dir = tmpdir(); // not next to the link: that directory is watched
    let ctl_path = ctl_dir.path().join("ctl");
    let link = tmp.path().join("by-id-board");
    let (pm, metrics) = metrics_port();
    let (mut d, srv) = serve_held(
        tmp.path(),
        &link,
        &[
            "--metrics",
            &pm.to_string(),
            "--control",
            ctl_path.to_str().unwrap(),
        ],
    );
    let mut c = connect(srv.addrs[0]);
    c.write_all(b"a").unwrap();
    assert_eq!(d.read_n(1), b"a");
    let mut sub = Ctl::open(&ctl_path);
    sub.ask(r#"{"cmd":"subscribe"}"#);
    drop(d);
    std::fs::remove_file(&link).unwrap();
    read_until(&mut c, "holding the session");
    let ev = sub.line();
    assert!(
        ev.contains("\"event\":\"device-gone\"") && ev.contains("\"held\":true"),
        "{ev}"
    );
    let typed = pattern(10_000, 7);
    c.write_all(&typed).unwrap();
    wait_for("the drop to be counted", || {
        metric(metrics, "rgetty_share_held_input_dropped_bytes_total") == 5904.0
    });
    let mut d = dev();
    repoint(&link, &d.path);
    read_until(&mut c, "is back");
    assert!(sub.line().contains("\"event\":\"device-back\""));
    assert_eq!(d.read_n(4096), &typed[..4096]);
    assert!(d.drain_for(Duration::from_millis(200)).is_empty());
    // without hold-session nothing changed: covered by the hot-plug tests in ops_share
}

/// Telnet-decode what `c` sends until `done` says the data and COM-PORT messages so far are
/// enough; returns them.
pub(crate) fn read_rfc2217(
    c: &mut TcpStream,
    done: impl Fn(&str, &[ComPort]) -> bool,
) -> (String, Vec<ComPort>) {
    let mut dec = Decoder::new();
    let (mut data, mut ev, mut msgs) = (Vec::new(), Vec::new(), Vec::new());
    let end = Instant::now() + DEADLINE;
    let mut b = [0u8; 4096];
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    while !done(&String::from_utf8_lossy(&data), &msgs) {
        assert!(Instant::now() < end, "timed out: {data:?} {msgs:?}");
        if let Ok(n) = c.read(&mut b) {
            assert!(n > 0, "closed: {data:?} {msgs:?}");
            dec.feed(&b[..n], &mut data, &mut ev);
        }
        for e in ev.drain(..) {
            if let Event::Sub { payload, .. } = e {
                msgs.push(ComPort::parse(&payload).unwrap().0);
            }
        }
    }
    (String::from_utf8_lossy(&data).into_owned(), msgs)
}

/// `hold-session` on an RFC 2217 port: the client's speed survives the replug (the new pty,
/// at 9600, is set to the 57600 the client asked for), and the client is told the modem
/// lines dropped (NOTIFY-MODEMSTATE with the delta bits) and came back. The replug comes
/// right after the notice (a fresh pty that usually gets the old pty's number, the link
/// re-created), so the server often reads the link's removal and re-creation in one batch.
#[test]
fn hold_session_reapplies_rfc2217_settings_and_notifies() {
    let tmp = tmpdir();
    let link = tmp.path().join("by-id-board");
    let (d, srv) = serve_held(tmp.path(), &link, &["--mode", "rfc2217"]);
    let mut c = connect(srv.addrs[0]);
    std::thread::sleep(Duration::from_millis(200));
    // as a real client (pyserial) does: agree to COM-PORT first
    let mut req = vec![0xff, 0xfb, 44];
    ComPort::SetBaudrate(57600).encode(false, &mut req);
    c.write_all(&req).unwrap();
    let set = ComPort::SetBaudrate(57600);
    read_rfc2217(&mut c, |_, m| m.contains(&set));
    assert_eq!(tty::get_speed(&d.master).unwrap(), 57600);
    drop(d);
    std::fs::remove_file(&link).unwrap();
    let gone = ComPort::NotifyModemstate(0x0b);
    let (text, _) = read_rfc2217(&mut c, |t, m| t.contains("holding") && m.contains(&gone));
    assert!(text.contains("is gone"), "{text:?}");
    let d = dev();
    tty::set_speed(&d.slave, 9600).unwrap();
    repoint(&link, &d.path);
    let back = ComPort::NotifyModemstate(0xbb);
    read_rfc2217(&mut c, |t, m| t.contains("is back") && m.contains(&back));
    assert_eq!(tty::get_speed(&d.master).unwrap(), 57600);
}

/// A control-socket client: one JSON request line, one reply line.
pub(crate) struct Ctl {
    pub(crate) r: std::io::BufReader<UnixStream>,
}

impl Ctl {
    pub(crate) fn open(path: &Path) -> Ctl {
        let s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        Ctl {
            r: std::io::BufReader::new(s),
        }
    }
    /// The next line the server sends.
    pub(crate) fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        assert!(l.ends_with('\n'), "{l:?}");
        l
    }
    pub(crate) fn ask(&mut self, req: &str) -> String {
        self.r
            .get_mut()
            .write_all(format!("{req}\n").as_bytes())
            .unwrap();
        self.line()
    }
}

/// The control socket: mode 0600; `list`, `show` (by port number), a subscriber's connect and
/// disconnect events, `kick` (the client is gone well within the 100 ms target), `disable`
/// (new clients refused with one line) and `enable`, `break`, `reset` of an unknown sequence,
/// bad requests answered with an error line on a connection that stays usable, and a peer
/// that is neither root nor the server's user refused by its credentials.
#[test]
fn control_socket_lists_kicks_and_streams_events() {
    use std::os::unix::fs::PermissionsExt;
    let (_tmp, ctl_path, mut d, srv) = serve_ctl(&[]);
    let port = srv.addrs[0].port().to_string();
    let mode = std::fs::metadata(&ctl_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let mut sub = Ctl::open(&ctl_path);
    assert_eq!(
        sub.ask(r#"{"cmd":"subscribe"}"#),
        "{\"ok\":true,\"subscribed\":true}\n"
    );
    let mut ctl = Ctl::open(&ctl_path);
    let list = ctl.ask(r#"{"cmd":"list"}"#);
    assert!(
        list.starts_with("{\"ok\":true,\"ports\":[{\"port\":\"127.0.0.1:"),
        "{list}"
    );
    assert!(list.contains("\"clients\":0"), "{list}");
    let mut c = connect(srv.addrs[0]);
    c.write_all(b"x").unwrap();
    assert_eq!(d.read_n(1), b"x");
    let me = c.local_addr().unwrap().to_string();
    let ev = sub.line();
    assert!(
        ev.starts_with("{\"event\":\"connect\"") && ev.contains(&me) && ev.contains("writer"),
        "{ev}"
    );
    let show = ctl.ask(&format!(r#"{{"cmd":"show","port":"{port}"}}"#));
    assert!(show.contains(&format!("\"client\":\"{me}\"")), "{show}");
    let brk = ctl.ask(&format!(r#"{{"cmd":"break","port":"{port}","ms":50}}"#));
    assert_eq!(brk, "{\"ok\":true,\"break_ms\":50}\n");
    let reset = ctl.ask(&format!(
        r#"{{"cmd":"reset","port":"{port}","name":"esp"}}"#
    ));
    assert!(
        reset.contains("\"ok\":false") && reset.contains("no reset sequence"),
        "{reset}"
    );
    for bad in ["list", r#"{"cmd":"nope"}"#, r#"{"cmd":"show","port":"1"}"#] {
        let r = ctl.ask(bad);
        assert!(r.starts_with("{\"ok\":false,\"error\":"), "{bad}: {r}");
    }
    // kick: the client sees end of file at once
    let t0 = Instant::now();
    let r = ctl.ask(&format!(
        r#"{{"cmd":"kick","port":"{port}","client":"{me}"}}"#
    ));
    assert_eq!(r, "{\"ok\":true,\"kicked\":1}\n");
    c.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    let took = t0.elapsed();
    eprintln!("kick to end of file: {took:?}");
    assert!(took < Duration::from_millis(500), "{took:?}");
    let ev = sub.line();
    assert!(
        ev.contains("\"event\":\"disconnect\"") && ev.contains("kicked"),
        "{ev}"
    );
    // disable: refused with one line; enable: served again
    let r = ctl.ask(&format!(r#"{{"cmd":"disable","port":"{port}"}}"#));
    assert!(r.starts_with("{\"ok\":true,\"enabled\":false"), "{r}");
    let mut c = connect(srv.addrs[0]);
    assert_eq!(read_to_eof(&mut c), "port disabled\r\n");
    ctl.ask(&format!(r#"{{"cmd":"enable","port":"{port}"}}"#));
    let mut c = connect(srv.addrs[0]);
    c.write_all(b"y").unwrap();
    assert_eq!(d.read_n(1), b"y");
    // a peer that is neither root nor the server's user (only when the test runs as root):
    // told so at once, before it sends anything
    if nix::unistd::geteuid().is_root() && have("python3") {
        std::fs::set_permissions(&ctl_path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let out = std::process::Command::new("python3")
            .args(["-c", "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print(s.recv(4096).decode())"])
            .arg(&ctl_path)
            .uid(65534)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("\"ok\":false") && text.contains("not allowed"),
            "{text} {out:?}"
        );
    }
}

/// The port log escapes device text: a device that prints a line looking like a connect event,
/// an ANSI escape and a BEL leaves a log where only the real events start with `[` after the
/// time stamp, and no control character is written.
#[test]
fn port_log_escapes_device_text_so_events_cannot_be_forged() {
    let tmp = tmpdir();
    let mut d = dev();
    let log = tmp.path().join("port.log");
    let srv = serve_logged(tmp.path(), &d.path, &log);
    let mut c = connect(srv.addrs[0]);
    c.write_all(b"x").unwrap();
    assert_eq!(d.read_n(1), b"x");
    let forged = b"[connect client 6.6.6.6:666]\r\n\x1b[2J\x1b]0;pwned\x07 ok\r\n";
    d.write_all(forged);
    read_until(&mut c, "ok\r\n");
    drop(c);
    wait_for("the disconnect line", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("[disconnect client"))
    });
    let text = std::fs::read_to_string(&log).unwrap();
    let event = regex::Regex::new(r"(?m)^\S+ \S+ \[(\S+) ").unwrap();
    let events: Vec<&str> = event
        .captures_iter(&text)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert_eq!(events, ["connect", "disconnect"], "{text}");
    assert!(text.contains(" \\[connect client 6.6.6.6:666]\n"), "{text}");
    assert!(text.contains(" \\x1b[2J\\x1b]0;pwned\\x07 ok\n"), "{text}");
    assert!(!text.bytes().any(|b| b < 0x20 && b != b'\n'), "{text:?}");
}

/// `--replay-clear-on-disconnect`: the next client does not get the previous writer's output;
/// without it, it does.
#[test]
fn replay_clear_on_disconnect_hides_the_previous_users_output() {
    for clear in [false, true] {
        let tmp = tmpdir();
        let mut d = dev();
        let mut args = vec!["-p", "0", "--replay", "4096", d.path.to_str().unwrap()];
        if clear {
            args.insert(0, "--replay-clear-on-disconnect");
        }
        let srv = serve(tmp.path(), &args);
        let mut a = connect(srv.addrs[0]);
        a.write_all(b"x").unwrap();
        assert_eq!(d.read_n(1), b"x");
        d.write_all(b"password: hunter2\r\n");
        read_until(&mut a, "hunter2");
        drop(a);
        wait_for("the session to close", || lock_files(tmp.path()).is_empty());
        let mut b = connect(srv.addrs[0]);
        b.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut got = vec![0u8; 256];
        let n = b.read(&mut got).unwrap_or(0);
        let seen = String::from_utf8_lossy(&got[..n]).contains("hunter2");
        assert_eq!(seen, !clear, "clear={clear}: {:?}", &got[..n]);
    }
}

/// `rgetty-share console ARGS…` on a fresh pty: the process and the pty's master (the
/// keyboard and screen), once the console said it is connected.
pub(crate) fn console_on_pty(args: &[&str]) -> (Proc, std::fs::File) {
    let p = tty::openpty().unwrap();
    tty::set_nonblocking(&p.master, true).unwrap();
    let slave = std::fs::File::from(p.slave);
    let child = std::process::Command::new(BIN)
        .arg("console")
        .args(args)
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    let mut screen = std::fs::File::from(p.master);
    screen_until(&mut screen, "connected to");
    (Proc { child }, screen)
}

/// Read the console's screen until `pat` shows; what was read.
pub(crate) fn screen_until(screen: &mut std::fs::File, pat: &str) -> String {
    String::from_utf8_lossy(&screen_bytes_until(screen, pat.as_bytes())).into_owned()
}

/// Read the screen until its bytes contain `pat` (not empty); what was read.
pub(crate) fn screen_bytes_until(screen: &mut std::fs::File, pat: &[u8]) -> Vec<u8> {
    let end = Instant::now() + DEADLINE;
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    while !got.windows(pat.len()).any(|w| w == pat) {
        assert!(
            Instant::now() < end,
            "no {:?} on the screen: {:?}",
            String::from_utf8_lossy(pat),
            String::from_utf8_lossy(&got)
        );
        match screen.read(&mut b) {
            Ok(n) if n > 0 => got.extend_from_slice(&b[..n]),
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    got
}

/// The console driven through a pty on an RFC 2217 port: typed text reaches the device, an
/// escape in mid-line is plain text, `~?` shows the help, `~p 2` replays the last two lines,
/// `~w` lists who is attached, `~d` turns DTR off (the control socket shows it), `~b` sends a
/// BREAK, `~!NAME` runs the server's reset sequence, `~.` ends the console with status 0.
#[test]
fn console_escapes_through_a_pty() {
    let (_tmp, ctl, mut d, srv) = serve_ctl(&[
        "--mode",
        "rfc2217",
        "--reset-seq",
        "pulse=rts=1; 5ms; rts=0",
    ]);
    let addr = srv.addrs[0].to_string();
    let (mut con, mut screen) = console_on_pty(&[
        &addr,
        "--mode",
        "rfc2217",
        "--control",
        ctl.to_str().unwrap(),
    ]);
    screen.write_all(b"hello\r").unwrap();
    assert_eq!(d.read_n(6), b"hello\r");
    screen.write_all(b"x~.y\r").unwrap();
    assert_eq!(d.read_n(5), b"x~.y\r");
    d.write_all(b"line1\r\nline2\r\nline3\r\n");
    screen_until(&mut screen, "line3");
    screen.write_all(b"~?").unwrap();
    screen_until(&mut screen, "~. disconnect");
    screen.write_all(b"~p 2\r").unwrap();
    let s = screen_until(&mut screen, "line3\r\n");
    assert!(
        s.contains("the last 2 lines]\r\nline2\r\nline3\r\n"),
        "{s:?}"
    );
    screen.write_all(b"~w").unwrap();
    screen_until(&mut screen, "(writer)");
    screen.write_all(b"~d").unwrap();
    screen_until(&mut screen, "DTR off");
    let show = Ctl::open(&ctl).ask(r#"{"cmd":"list"}"#);
    assert!(
        show.contains("\"dtr\":false") && show.contains("\"rts\":true"),
        "{show}"
    );
    screen.write_all(b"~b").unwrap();
    screen_until(&mut screen, "BREAK sent");
    screen.write_all(b"~!pulse\r").unwrap();
    screen_until(&mut screen, "reset pulse running");
    screen.write_all(b"~!nope\r").unwrap();
    screen_until(&mut screen, "no reset sequence");
    screen.write_all(b"~.").unwrap();
    let st = con.wait_exit(DEADLINE).expect("the console exits");
    assert!(st.success(), "{st}");
    assert!(d.drain_for(Duration::from_millis(100)).is_empty());
}

/// What a spy types to try to write: every escape that writes or re-attaches, in and out of
/// line start, and plain text.
pub(crate) const SPY_KEYS: &[&[u8]] = &[
    b"~f", b"~d", b"~r", b"~b", b"~p\r", b"~~f\r", b"\r~f", b"~!x\r", b"xyz\r",
];

/// A spy is never promoted to writer: whatever it types, escapes included (`~f` force, `~s`,
/// `~d`, `~r`, `~b`), and whatever control requests are made, nothing it sends reaches the
/// device and the server keeps it a watcher, while the writer's input still does.
#[test]
fn console_spy_is_never_promoted() {
    let (_tmp, ctl, mut d, srv) = serve_ctl(&["--watch-port", "0", "--takeover"]);
    let (main, watch) = (srv.addrs[0], srv.addrs[1]);
    let mut w = connect(main);
    w.write_all(b"w").unwrap();
    assert_eq!(d.read_n(1), b"w");
    let (mut con, mut screen) = console_on_pty(&[
        &main.to_string(),
        "--spy",
        "--watch-port",
        &watch.port().to_string(),
        "--control",
        ctl.to_str().unwrap(),
    ]);
    screen.write_all(b"abc\r~f").unwrap();
    screen_until(&mut screen, "a spy stays read-only");
    screen.write_all(b"~s").unwrap();
    screen_until(&mut screen, "reattached");
    for keys in SPY_KEYS {
        screen.write_all(keys).unwrap();
    }
    let mut c = Ctl::open(&ctl);
    let port = main.port().to_string();
    for req in [
        format!(r#"{{"cmd":"set-control","port":"{port}","line":"dtr","state":"on"}}"#),
        format!(r#"{{"cmd":"enable","port":"{port}"}}"#),
        format!(r#"{{"cmd":"break","port":"{port}","ms":10}}"#),
    ] {
        c.ask(&req);
    }
    screen.write_all(b"more\r").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(d.drain_for(Duration::from_millis(200)).is_empty());
    let show = c.ask(&format!(r#"{{"cmd":"show","port":"{port}"}}"#));
    assert_eq!(show.matches("\"role\":\"watcher\"").count(), 1, "{show}");
    assert_eq!(show.matches("\"role\":\"writer\"").count(), 1, "{show}");
    w.write_all(b"still writer").unwrap();
    assert_eq!(d.read_n(12), b"still writer");
    screen.write_all(b"~.").unwrap();
    assert!(con.wait_exit(DEADLINE).expect("exits").success());
}

/// The TIOCM shim built in `dir`; `None` (a failure in CI) without a C compiler.
pub(crate) fn modem_shim(dir: &Path) -> Option<std::path::PathBuf> {
    let shim = common::build_shim(dir, "modem_shim", include_str!("../modem_shim.c"));
    assert!(
        shim.is_some() || std::env::var_os("CI").is_none(),
        "no C compiler for the shim"
    );
    shim
}

/// The start of a pyserial test with the TIOCM shim: a temporary directory and the shim
/// built in it; `None` (the test is skipped) without pyserial or a C compiler.
pub(crate) fn pyserial_and_shim() -> Option<(tempfile::TempDir, PathBuf)> {
    use crate::ser2net::{need, python_has};
    if !need(python_has("serial.rfc2217"), "python3 with pyserial") {
        return None;
    }
    let tmp = tmpdir();
    let shim = modem_shim(tmp.path())?;
    Some((tmp, shim))
}

/// The environment of a server under the TIOCM shim: `preload` (the shim, or shims), the
/// devices it acts on (`dev`, a glob pattern allowed), its log and tracked lines.
pub(crate) fn shim_env<'a>(
    preload: &'a Path,
    dev: &'a Path,
    log: &'a Path,
) -> [(&'static str, &'a Path); 4] {
    [
        ("LD_PRELOAD", preload),
        ("MODEM_DEV", dev),
        ("MODEM_LOG", log),
        ("MODEM_TRACK", Path::new("1")),
    ]
}

/// What the TIOCM shim logged (`NANOSECONDS OP BITS` lines).
pub(crate) fn shim_log(path: &Path) -> Vec<(u64, String, i32)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].parse().unwrap(),
                f[1].to_string(),
                f[2].parse().unwrap(),
            )
        })
        .collect()
}

/// DTR and RTS as the shim's TIOCMBIS/TIOCMBIC/TIOCMSET calls left them (from `bits`), and
/// how many calls that took.
pub(crate) fn lines_after(ops: &[(u64, String, i32)], mut bits: i32) -> (bool, bool, usize) {
    for (_, op, b) in ops {
        bits = match op.as_str() {
            "bis" => bits | b,
            "bic" => bits & !b,
            "set" => *b,
            _ => bits,
        };
    }
    let n = ops.iter().filter(|(_, op, _)| op != "hupcl-close").count();
    (bits & libc::TIOCM_DTR != 0, bits & libc::TIOCM_RTS != 0, n)
}

/// How many times the shim saw DTR dropped: TIOCMBIC or TIOCMSET without it, or a close with
/// `hupcl` set.
fn dtr_drops(log: &[(u64, String, i32)]) -> usize {
    log.iter()
        .filter(|(_, op, bits)| match op.as_str() {
            "bic" => bits & libc::TIOCM_DTR != 0,
            "set" => bits & libc::TIOCM_DTR == 0,
            "hupcl-close" => true,
            _ => false,
        })
        .count()
}

/// `n` connects, one session each (the previous one closed before the next connect).
fn connect_n(srv: &Server, tmp: &Path, n: usize) {
    let until = |what: &str, f: &dyn Fn() -> bool| {
        let end = Instant::now() + DEADLINE;
        while !f() {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    for _ in 0..n {
        let c = connect(srv.addrs[0]);
        until("the session to open", &|| !lock_files(tmp).is_empty());
        drop(c);
        until("the session to close", &|| lock_files(tmp).is_empty());
    }
}

/// `--dtr keep`: 1,000 connects (a session each) cause no DTR drop at all (the LD_PRELOAD
/// shim records every TIOCMBIS/TIOCMBIC/TIOCMSET and every close with `hupcl` set), where
/// the default drops it at each close; `--dtr off` drops it at each open, and
/// `--hangup-when-done` at each close.
#[test]
fn dtr_keep_makes_no_edge_in_a_thousand_connects() {
    let tmp = tmpdir();
    let Some(shim) = modem_shim(tmp.path()) else {
        return;
    };
    let run = |args: &[&str], n: usize| {
        // Its own pty, with hupcl on as a serial port has it (a pty starts without; `keep`
        // leaves it off).
        let d = dev();
        tty::apply_stty(&d.slave, "hupcl").unwrap();
        let t = tmpdir();
        let log = t.path().join("tiocm.log");
        let env = [
            ("LD_PRELOAD", shim.as_path()),
            ("MODEM_DEV", d.path.as_path()),
            ("MODEM_LOG", log.as_path()),
        ];
        let mut all = vec!["-p", "0"];
        all.extend_from_slice(args);
        all.push(d.path.to_str().unwrap());
        let srv = serve_env(t.path(), &all, Stdio::null(), &env);
        connect_n(&srv, t.path(), n);
        drop(srv);
        shim_log(&log)
    };
    let keep = run(&["--dtr", "keep"], 1000);
    assert_eq!(dtr_drops(&keep), 0, "{keep:?}");
    let default = run(&[], 20);
    // the lock's flock check opens and closes the device too: two drops per connect
    assert!(dtr_drops(&default) >= 20, "{default:?}");
    let off = run(&["--dtr", "off", "--rts", "keep"], 5);
    assert_eq!(
        off.iter()
            .filter(|(_, op, b)| op == "bic" && *b == libc::TIOCM_DTR)
            .count(),
        5
    );
    assert!(dtr_drops(&off) >= 5, "{off:?}");
    let hang = run(&["--dtr", "keep", "--hangup-when-done"], 5);
    let hangups = hang
        .iter()
        .filter(|(_, op, b)| op == "bic" && *b == libc::TIOCM_DTR);
    assert_eq!(hangups.count(), 5, "{hang:?}");
}

/// A named reset sequence run by the server (`reset` on the control socket): each step sets
/// DTR and RTS in one TIOCMSET (both edges at the same instant) and the phases keep their
/// 100 ms and 50 ms (shim-recorded timestamps; the bound is generous for a loaded machine,
/// the measured figures are printed). The client's network delay plays no part: the server
/// times the steps.
#[test]
fn reset_sequence_runs_with_local_timing() {
    let tmp = tmpdir();
    let Some(shim) = modem_shim(tmp.path()) else {
        return;
    };
    let d = dev();
    let (log, ctl) = (tmp.path().join("tiocm.log"), tmp.path().join("ctl"));
    let env = [
        ("LD_PRELOAD", shim.as_path()),
        ("MODEM_DEV", d.path.as_path()),
        ("MODEM_LOG", log.as_path()),
    ];
    let args = [
        "-p",
        "0",
        "--control",
        ctl.to_str().unwrap(),
        "--reset-seq",
        "esp=dtr=0 rts=1; 100ms; dtr=1 rts=0; 50ms; dtr=0",
        d.path.to_str().unwrap(),
    ];
    let srv = serve_env(tmp.path(), &args, Stdio::inherit(), &env);
    let _c = connect(srv.addrs[0]);
    wait_for("the session", || !lock_files(tmp.path()).is_empty());
    let port = srv.addrs[0].port();
    let mut ctl = Ctl::open(&ctl);
    let r = ctl.ask(&format!(
        r#"{{"cmd":"reset","port":"{port}","name":"esp"}}"#
    ));
    assert_eq!(r, "{\"ok\":true,\"reset\":\"esp\",\"steps\":5}\n");
    let r = ctl.ask(&format!(
        r#"{{"cmd":"reset","port":"{port}","name":"nope"}}"#
    ));
    assert!(r.contains("no reset sequence"), "{r}");
    let sets = || -> Vec<(u64, i32)> {
        shim_log(&log)
            .into_iter()
            .filter(|(_, op, _)| op == "set")
            .map(|(t, _, b)| (t, b & (libc::TIOCM_DTR | libc::TIOCM_RTS)))
            .collect()
    };
    wait_for("three TIOCMSET", || sets().len() == 3);
    let s = sets();
    let (dtr, rts) = (libc::TIOCM_DTR, libc::TIOCM_RTS);
    assert_eq!([s[0].1, s[1].1, s[2].1], [rts, dtr, 0]);
    let ms = |a: u64, b: u64| (b - a) as f64 / 1e6;
    let (p1, p2) = (ms(s[0].0, s[1].0), ms(s[1].0, s[2].0));
    eprintln!("reset phases: {p1:.2} ms (100), {p2:.2} ms (50)");
    assert!((95.0..130.0).contains(&p1), "{p1}");
    assert!((45.0..80.0).contains(&p2), "{p2}");
}

/// Alerts: a regex split across two device writes matches; the command runs with `PORT`,
/// `MATCH` and `LINE` (control characters escaped) in its environment; 1,000 matches in about
/// a second run no more commands than the rate limit's burst (5, the first match's one
/// included), and the next run after a refill (10 s) logs that every other one of the 1,000
/// was seen and held back.
#[test]
fn alert_runs_a_command_on_a_match_within_the_rate_limit() {
    let tmp = tmpdir();
    let out = tmp.path().join("alerts.txt");
    let mut d = dev();
    let cmd = format!(
        r#"/PANIC: \w+/ printf '%s|%s|%s\n' "$PORT" "$MATCH" "$LINE" >> {}"#,
        out.display()
    );
    let started = Instant::now();
    let srv = serve(
        tmp.path(),
        &["-p", "0", "--alert", &cmd, d.path.to_str().unwrap()],
    );
    let mut c = connect(srv.addrs[0]);
    c.write_all(b"x").unwrap();
    assert_eq!(d.read_n(1), b"x");
    d.write_all(b"boot\r\nkernel PAN");
    read_until(&mut c, "PAN");
    d.write_all(b"IC: oops \x1b[1m\r\n");
    read_until(&mut c, "oops");
    let lines = || std::fs::read_to_string(&out).unwrap_or_default();
    wait_for("the alert command", || lines().lines().count() == 1);
    let port = srv.addrs[0].to_string();
    assert_eq!(
        lines(),
        format!("{port}|PANIC: oops|kernel PANIC: oops \\x1b[1m\n")
    );
    let t0 = Instant::now();
    for i in 0..1000 {
        d.write_all(format!("PANIC: again{i}\r\n").as_bytes());
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(90));
        }
    }
    read_until(&mut c, "again999");
    let burst = t0.elapsed();
    eprintln!("1000 matches in {burst:?}");
    std::thread::sleep(Duration::from_millis(500));
    let n = lines().lines().count();
    // The limit refills one command per 10 s from the server's start: within that, the
    // burst is all there is.
    let bound = if started.elapsed() < Duration::from_secs(10) {
        5
    } else {
        6
    };
    assert!((2..=bound).contains(&n), "{n} commands ran: {}", lines());
    std::thread::sleep(Duration::from_secs(10));
    d.write_all(b"PANIC: late\r\n");
    wait_for("the command after a refill", || {
        lines().lines().count() == n + 1
    });
    // Each of the 1,000 matches either ran its command or was counted as held back, and
    // the count is logged with the alert's next run.
    let log = std::fs::read_to_string(tmp.path().join("server.log")).unwrap();
    assert!(log.contains("matched \"PANIC: late\" ("), "{log}");
    let held: usize = log
        .lines()
        .filter_map(|l| {
            l.split_once("\" (")?
                .1
                .split_once(" earlier matches")?
                .0
                .parse::<usize>()
                .ok()
        })
        .sum();
    assert_eq!(held, 1000 - (n - 1), "{log}");
}
