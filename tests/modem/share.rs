//! `rgetty-share modem`, the real binary: a DTE on its pty (opened raw, as a getty would) and
//! TCP callers and peers on the other side.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::dte::{Dte, T};
use common::{SHARE, free_port, have};
use regex::bytes::Regex;

/// A running `rgetty-share modem` with its symlink in a temp dir.
struct Share {
    child: Child,
    dir: tempfile::TempDir,
    link: PathBuf,
    port: u16,
}

impl Share {
    fn start(extra: &[&str]) -> Share {
        let dir = tempfile::tempdir().unwrap();
        Share::start_in(dir, extra)
    }

    fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Share {
        let link = dir.path().join("ttyVM");
        let port = free_port();
        let err = std::fs::File::create(dir.path().join("stderr")).unwrap();
        let mut child = Command::new(SHARE)
            .args(["modem", "--link"])
            .arg(&link)
            .args(["-p", &port.to_string(), "--ring-interval", "0.3"])
            // the peers of these tests listen on loopback, which dials reach only when allowed
            .args(["--dial-allow", "127.0.0.1"])
            .args(extra)
            .stderr(err)
            .spawn()
            .unwrap();
        let end = Instant::now() + Duration::from_secs(10);
        while link.symlink_metadata().is_err() {
            if let Ok(Some(st)) = child.try_wait() {
                panic!("modem exited {st}: {}", read(&dir.path().join("stderr")));
            }
            assert!(Instant::now() < end, "no link");
            std::thread::sleep(Duration::from_millis(20));
        }
        Share {
            child,
            dir,
            link,
            port,
        }
    }

    fn dte(&self) -> Dte {
        let mut d = Dte::open(&self.link);
        d.cmd("AT", "OK\r\n");
        d
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn call(&self) -> TcpStream {
        TcpStream::connect(self.addr()).unwrap()
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Read from a TCP stream until `re` matches (or panic after T).
fn tcp_expect(s: &mut TcpStream, re: &str) -> Vec<u8> {
    tcp_expect_for(s, re, T)
}

fn tcp_expect_for(s: &mut TcpStream, re: &str, t: Duration) -> Vec<u8> {
    let rx = Regex::new(re).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + t;
    let mut got = Vec::new();
    while !rx.is_match(&got) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {re:?}; got {:?}",
            String::from_utf8_lossy(&got)
        );
        let mut buf = [0u8; 1024];
        match s.read(&mut buf) {
            Ok(0) => assert!(rx.is_match(&got), "EOF before {re:?}; got {got:?}"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    got
}

/// Wait for EOF (or a reset) on a TCP stream; returns what came before it.
fn tcp_eof(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + T;
    let mut got = Vec::new();
    loop {
        let mut buf = [0u8; 1024];
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return got,
        }
        assert!(Instant::now() < deadline, "no EOF; got {got:?}");
    }
}

/// Read whatever the DTE gets for `d`.
fn dte_drain(dte: &mut Dte, d: Duration) -> Vec<u8> {
    let _ = dte.read_for(d);
    std::mem::take(&mut dte.got)
}

/// Answer a ringing call at the DTE.
fn answer(dte: &mut Dte) {
    dte.expect("RING\r\n");
    dte.send(b"ATA\r");
    dte.expect("CONNECT 38400\r\n");
}

#[test]
fn incoming_call_caller_id_busy_and_no_carrier() {
    let m = Share::start(&[]);
    let mut dte = m.dte();
    let mut caller = m.call();
    let got = dte.expect("(?s)RING.*NMBR = 127.0.0.1\r\nNAME = [-.:_A-Za-z0-9]+\r\n.*RING\r\n");
    assert!(
        Regex::new(r"DATE = \d{4}\r\nTIME = \d{4}\r\n")
            .unwrap()
            .is_match(&got)
    );
    dte.send(b"ATA\r");
    dte.expect("CONNECT 38400\r\n");
    caller.write_all(b"hello dte").unwrap();
    dte.expect("hello dte");
    // a second caller is told the line is busy and closed; the first call goes on
    let mut second = m.call();
    assert_eq!(tcp_eof(&mut second), b"BUSY\r\n");
    dte.send(b"hello caller");
    tcp_expect(&mut caller, "hello caller");
    caller.write_all(b"still here").unwrap();
    dte.expect("still here");
    // the caller hangs up: NO CARRIER, the carrier drop, and a new pty behind the link
    let first_pty = std::fs::read_link(&m.link).unwrap();
    drop(caller);
    dte.expect("NO CARRIER\r\n");
    let deadline = Instant::now() + T;
    loop {
        match dte.read_for(Duration::from_millis(100)) {
            Ok(true) | Err(_) => break,
            Ok(false) => assert!(Instant::now() < deadline, "no hangup"),
        }
    }
    let deadline = Instant::now() + T;
    while std::fs::read_link(&m.link).unwrap() == first_pty {
        assert!(Instant::now() < deadline, "link not re-pointed");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut dte2 = m.dte();
    dte2.cmd("ATS1?", "OK\r\n");
}

#[test]
fn caller_id_formats() {
    let m = Share::start(&["--caller-id", "clip"]);
    let mut dte = m.dte();
    let _c = m.call();
    let got = dte.expect("(?s)RING\r\n.*RING\r\n");
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("\r\n+CLIP: \"127.0.0.1\",129,,,\""),
        "{text:?}"
    );
    assert!(!text.contains("NMBR"), "{text:?}");
    let m = Share::start(&["--caller-id", "off"]);
    let mut dte = m.dte();
    let _c = m.call();
    let got = dte.expect("(?s)RING\r\n.*RING\r\n.*RING\r\n");
    assert_eq!(
        String::from_utf8_lossy(&got).replace("RING", "").trim(),
        "",
        "nothing but RINGs"
    );
}

#[test]
fn auto_answer_and_dtr_drop() {
    let m = Share::start(&["--rings", "2"]);
    let mut dte = m.dte();
    let mut caller = m.call();
    caller.write_all(b"early bytes").unwrap();
    dte.expect("(?s)RING.*RING.*CONNECT 38400\r\nearly bytes");
    // the DTE closes the line (DTR drop, &D2): the caller is disconnected
    drop(dte);
    tcp_eof(&mut caller);
    let mut dte = m.dte();
    dte.cmd("ATO", "NO CARRIER\r\n");
}

#[test]
fn and_d0_keeps_the_call_when_the_dte_closes() {
    let m = Share::start(&[]);
    let mut dte = m.dte();
    dte.cmd("AT&D0", "OK\r\n");
    let mut caller = m.call();
    answer(&mut dte);
    drop(dte);
    std::thread::sleep(Duration::from_millis(300));
    let mut dte = Dte::open(&m.link);
    caller.write_all(b"after reopen").unwrap();
    dte.expect("after reopen");
    dte.send(b"back");
    tcp_expect(&mut caller, "back");
}

#[test]
fn caller_gives_up_while_ringing() {
    let m = Share::start(&[]);
    let mut dte = m.dte();
    let caller = m.call();
    dte.expect("RING");
    drop(caller);
    std::thread::sleep(Duration::from_millis(300));
    dte.cmd("ATA", "NO CARRIER\r\n");
    // the line is free again
    let _c2 = m.call();
    dte.expect("RING");
}

/// Wait `d`, then send `+++` and wait for the modem's OK (the guard times of S12 = `d`).
fn escape(dte: &mut Dte, d: Duration) {
    std::thread::sleep(d);
    dte.send(b"+++");
    dte.expect("\r\nOK\r\n");
}

#[test]
fn dial_out_results_escape_ato_and_ath() {
    let m = Share::start(&[]);
    let remote = TcpListener::bind("127.0.0.1:0").unwrap();
    let raddr = remote.local_addr().unwrap();
    let closed = free_port();
    let mut dte = m.dte();
    dte.cmd(&format!("ATD127.0.0.1:{closed}"), "BUSY\r\n");
    dte.cmd("ATDT nonsense", "NO CARRIER\r\n");
    dte.cmd("ATX2D127.0.0.1:1", "NO CARRIER\r\n"); // BUSY shows as NO CARRIER below X3
    dte.cmd("ATX4", "OK\r\n");
    dte.send(format!("ATD {raddr}\r").as_bytes());
    let (mut peer, _) = remote.accept().unwrap();
    dte.expect("CONNECT 38400\r\n");
    peer.write_all(b"login: ").unwrap();
    dte.expect("login: ");
    // `a+++b` without guard time is data, both ways
    dte.send(b"a+++b");
    tcp_expect(&mut peer, "a\\+\\+\\+b");
    peer.write_all(b"c+++d").unwrap();
    dte.expect("c\\+\\+\\+d");
    let quiet = dte_drain(&mut dte, Duration::from_millis(1500));
    assert!(!String::from_utf8_lossy(&quiet).contains("OK"), "{quiet:?}");
    // `+++` with a 1 s guard before and after: OK, command state; ATO resumes
    escape(&mut dte, Duration::from_millis(1100));
    peer.write_all(b"held while escaped").unwrap();
    let s12 = dte.cmd("ATS12?", "050\r\n\r\nOK\r\n");
    assert!(!s12.contains("held"), "{s12:?}");
    dte.cmd("ATO", "CONNECT 38400\r\n");
    dte.expect("held while escaped");
    dte.send(b"resumed");
    tcp_expect(&mut peer, "resumed");
    // while escaped the caller's bytes wait; ATH hangs up; the peer never saw a `+++`
    escape(&mut dte, Duration::from_millis(1100));
    dte.cmd("ATH", "OK\r\n");
    let rest = tcp_eof(&mut peer);
    assert!(!String::from_utf8_lossy(&rest).contains("+++"), "{rest:?}");
    // the peer hanging up while the DTE is in command state: NO CARRIER at once
    dte.send(format!("ATD {raddr}\r").as_bytes());
    let (peer, _) = remote.accept().unwrap();
    dte.expect("CONNECT 38400\r\n");
    escape(&mut dte, Duration::from_millis(1100));
    drop(peer);
    dte.expect("NO CARRIER\r\n");
    std::thread::sleep(Duration::from_millis(800)); // the carrier drop
    let mut dte = m.dte();
    // ATD while a call is ringing: NO DIALTONE
    let _c = m.call();
    dte.expect("RING");
    dte.cmd(&format!("ATD{raddr}"), "NO DIALTONE\r\n");
}

#[test]
fn s_registers_and_commands() {
    let m = Share::start(&[]);
    let mut dte = m.dte();
    let i = dte.cmd("ATI", "OK\r\n");
    assert!(i.contains("RGETTY VIRTUAL MODEM"), "{i:?}");
    for (reg, v) in [(0, "000"), (2, "043"), (7, "050"), (12, "050")] {
        let got = dte.cmd(&format!("ATS{reg}?"), "OK\r\n");
        assert!(got.contains(&format!("\r\n{v}\r\n")), "S{reg}: {got:?}");
    }
    dte.cmd("ATS0=3S2=42S7=5S12=10", "OK\r\n");
    let v = dte.cmd("AT&V", "OK\r\n");
    assert!(
        v.contains(
            "E1 Q0 V1 X4 &D2\r\nS00:003 S01:000 S02:042 S03:013 S04:010 S05:008 S07:005 S12:010"
        ),
        "{v:?}"
    );
    // S2 = 42: `***` escapes now, after S12 = 0.2 s of guard
    let remote = TcpListener::bind("127.0.0.1:0").unwrap();
    dte.send(format!("ATD{}\r", remote.local_addr().unwrap()).as_bytes());
    let (mut peer, _) = remote.accept().unwrap();
    dte.expect("CONNECT");
    dte.send(b"x+++y");
    tcp_expect(&mut peer, "x\\+\\+\\+y");
    std::thread::sleep(Duration::from_millis(400));
    dte.send(b"***");
    dte.expect("\r\nOK\r\n");
    dte.cmd("ATZ", "OK\r\n"); // hangs up, factory settings
    tcp_eof(&mut peer);
    dte.cmd("ATS2?", "043\r\n\r\nOK\r\n");
    dte.cmd("AT&F", "OK\r\n");
    // E0, V0, Q1
    dte.cmd("ATE0", "OK\r\n");
    dte.send(b"ATV0\r");
    dte.expect("^0\r$");
    dte.send(b"ATQ1\r");
    dte.send(b"ATH\r");
    dte.send(b"ATQ0V1\r");
    assert_eq!(dte.expect("OK\r\n"), b"\r\nOK\r\n", "Q1 says nothing");
    dte.cmd("ATO", "NO CARRIER\r\n");
    dte.cmd("ATA", "NO CARRIER\r\n");
    dte.cmd("ATJ", "ERROR\r\n");
}

#[test]
fn phonebook_and_dial_rules() {
    let bbs = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = bbs.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let pb = dir.path().join("phonebook");
    std::fs::write(&pb, format!("# test\nbbs 127.0.0.1:{port} raw\n")).unwrap();
    let m = Share::start_in(
        dir,
        &[
            "--phonebook",
            pb.to_str().unwrap(),
            "--dial-rule",
            r"/^555(\d+)$/ 127.0.0.1:$1",
        ],
    );
    let mut dte = m.dte();
    dte.send(b"ATDTbbs\r");
    let (mut peer, _) = bbs.accept().unwrap();
    dte.expect("CONNECT 38400\r\n");
    peer.write_all(b"welcome to the bbs").unwrap();
    dte.expect("welcome to the bbs");
    drop(peer);
    dte.expect("NO CARRIER\r\n");
    std::thread::sleep(Duration::from_millis(800)); // the carrier drop
    let mut dte = m.dte();
    dte.send(format!("ATDT555-{port}\r").as_bytes());
    let (_peer, _) = bbs.accept().unwrap();
    dte.expect("CONNECT 38400\r\n");
    // phonebook errors name file:line and stop the modem from starting
    let dir = tempfile::tempdir().unwrap();
    let pb = dir.path().join("pb");
    std::fs::write(&pb, "ok 127.0.0.1:1\nbroken\n").unwrap();
    let out = Command::new(SHARE)
        .args(["modem", "--link"])
        .arg(dir.path().join("l"))
        .args(["-p", "1", "--phonebook"])
        .arg(&pb)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:2: expected", pb.display())),
        "{err}"
    );
}

#[test]
fn throttle_paces_both_directions_at_the_connect_speed() {
    let m = Share::start(&["--throttle", "--speed", "2400", "--rings", "1"]);
    let mut dte = m.dte();
    let mut caller = m.call();
    dte.expect("CONNECT 2400\r\n");
    let data: Vec<u8> = (0..1200u32).map(|i| b'a' + (i % 26) as u8).collect();
    let t0 = Instant::now();
    caller.write_all(&data).unwrap();
    let up = std::thread::spawn(move || {
        let mut got = Vec::new();
        caller
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        while got.len() < 1200 {
            let mut buf = [0u8; 512];
            match caller.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        (got.len(), t0.elapsed(), caller)
    });
    dte.send(&data);
    let deadline = Instant::now() + Duration::from_secs(20);
    while dte.got.len() < 1200 {
        assert!(Instant::now() < deadline, "got {}", dte.got.len());
        dte.read_for(Duration::from_millis(100)).unwrap();
    }
    let down = t0.elapsed();
    assert_eq!(&dte.got[..1200], &data[..]);
    assert!(
        down >= Duration::from_secs(4),
        "1200 bytes to the pty in {down:?}"
    );
    let (n, up, _caller) = up.join().unwrap();
    assert_eq!(n, 1200);
    assert!(
        up >= Duration::from_secs(4),
        "1200 bytes to the caller in {up:?}"
    );
}

#[test]
fn telnet_calls_negotiate_binary_and_escape_iac() {
    let m = Share::start(&["--telnet"]);
    let mut dte = m.dte();
    let mut caller = m.call();
    // WILL BINARY, WILL ECHO, WILL SGA, DO BINARY, DO SGA
    let opening = tcp_expect(&mut caller, "(?-u)\\xff\\xfd\x03$");
    assert_eq!(
        opening,
        b"\xff\xfb\x00\xff\xfb\x01\xff\xfb\x03\xff\xfd\x00\xff\xfd\x03"
    );
    caller.write_all(b"\xff\xfd\x00\xff\xfb\x00").unwrap(); // DO BINARY, WILL BINARY
    answer(&mut dte);
    caller.write_all(b"x\xff\xffy").unwrap();
    dte.expect("(?-u)x\\xffy");
    dte.send(b"p\xffq");
    tcp_expect(&mut caller, "(?-u)p\\xff\\xffq");
    // a raw phonebook entry dials out raw even with --telnet
    drop(caller);
    dte.expect("NO CARRIER");
}

#[test]
fn raw_calls_pass_iac_unchanged() {
    // `--raw`: a first IAC and verb would otherwise make the call telnet (detection)
    let m = Share::start(&["--raw"]);
    let mut dte = m.dte();
    let mut caller = m.call();
    answer(&mut dte);
    caller.write_all(b"\xff\xfd\x00").unwrap();
    dte.expect("(?-u)\\xff\\xfd\\x00");
    dte.send(b"\xff");
    assert_eq!(tcp_expect(&mut caller, "(?-u)\\xff"), b"\xff");
}

#[test]
fn a_bot_calling_20_times_in_2_s_gets_the_cooldown() {
    let m = Share::start(&["--cooldown", "30"]);
    let mut dte = m.dte();
    let mut cooled = 0;
    let t0 = Instant::now();
    for _ in 0..20 {
        // connect and hang up at once, as bots do; the modem answers each one and closes
        let mut s = m.call();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let got = String::from_utf8_lossy(&tcp_eof(&mut s)).into_owned();
        if got.starts_with("COOL-DOWN: try again in ") {
            cooled += 1;
        }
    }
    eprintln!("20 calls in {:?}", t0.elapsed());
    assert!(cooled >= 19, "{cooled} of 20 calls cooled down");
    let got = dte_drain(&mut dte, Duration::from_millis(1000));
    let rings = String::from_utf8_lossy(&got).matches("RING").count();
    assert!(rings <= 1, "{rings} RINGs: {got:?}");
    // another address is not affected: the line is free (ATA: nobody calling)
    dte.cmd("ATA", "NO CARRIER\r\n");
}

#[test]
fn answer_delay_keeps_short_calls_off_the_line() {
    let m = Share::start(&["--answer-delay", "1.5"]);
    let mut dte = m.dte();
    let quick = m.call();
    std::thread::sleep(Duration::from_millis(500));
    drop(quick);
    let got = dte_drain(&mut dte, Duration::from_millis(1500));
    assert!(!String::from_utf8_lossy(&got).contains("RING"), "{got:?}");
    let t0 = Instant::now();
    let _c = m.call();
    dte.expect("RING\r\n");
    assert!(
        t0.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
fn link_replaces_only_its_own_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyVM");
    std::fs::write(&link, "precious").unwrap();
    let other = dir.path().join("other");
    std::os::unix::fs::symlink("/etc/hostname", &other).unwrap();
    for path in [&link, &other] {
        let out = Command::new(SHARE)
            .args(["modem", "--link"])
            .arg(path)
            .args(["-p", &free_port().to_string()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{path:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not replacing"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(read(&link), "precious");
    assert_eq!(
        std::fs::read_link(&other).unwrap(),
        Path::new("/etc/hostname")
    );
    // its own earlier symlink (into /dev/pts) is replaced
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/dev/pts/9999", &link).unwrap();
    let m = Share::start_in(dir, &[]);
    let deadline = Instant::now() + T;
    while std::fs::read_link(&m.link).unwrap() == Path::new("/dev/pts/9999") {
        assert!(Instant::now() < deadline, "link not replaced");
        std::thread::sleep(Duration::from_millis(20));
    }
    m.dte();
}

#[test]
fn two_virtual_modems_call_each_other() {
    let a = Share::start(&[]);
    let b = Share::start(&[]);
    let mut da = a.dte();
    let mut db = b.dte();
    da.send(format!("ATDT{}\r", b.addr()).as_bytes());
    da.expect("CONNECT 38400\r\n");
    da.send(b"hello from a");
    answer(&mut db);
    db.expect("hello from a");
    db.send(b"hello from b");
    da.expect("hello from b");
    // b hangs up: a gets NO CARRIER
    escape(&mut db, Duration::from_millis(1100));
    db.cmd("ATH", "OK\r\n");
    da.expect("NO CARRIER\r\n");
}

// ---- real clients ----

/// Collects a child's stdout in the background.
struct Output(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Output {
    fn of(child: &mut Child) -> Output {
        let mut out = child.stdout.take().unwrap();
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let b = buf.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 1024];
            while let Ok(n) = out.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                b.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        Output(buf)
    }

    fn wait_for(&self, want: &str) -> String {
        let deadline = Instant::now() + T;
        loop {
            let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
            if text.contains(want) {
                return text;
            }
            assert!(Instant::now() < deadline, "no {want:?} in {text:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A client program calling the modem (`prog 127.0.0.1 PORT`): the DTE answers, bytes flow
/// both ways.
fn client_calls_in(prog: &str, extra: &[&str]) {
    let m = Share::start(extra);
    let mut dte = m.dte();
    let mut child = Command::new(prog)
        .args(["127.0.0.1", &m.port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = Output::of(&mut child);
    answer(&mut dte);
    dte.send(b"hello client\r\n");
    out.wait_for("hello client");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"typed in the client\n").unwrap();
    let got = dte.expect("typed in the client");
    assert!(
        !got.contains(&0xff),
        "no telnet commands reach the DTE: {got:?}"
    );
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn nc_calls_in() {
    if have("nc") {
        client_calls_in("nc", &[]);
    }
}

#[test]
fn telnet_calls_in() {
    if have("telnet") {
        client_calls_in("telnet", &["--telnet"]);
    }
}

/// A TCP peer that says `hello` and reports what it receives until EOF.
fn peer(hello: &'static [u8]) -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.write_all(hello).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        got
    });
    (port, h)
}

#[test]
fn cu_dials_out() {
    if !have("cu") || !have("unshare") {
        return;
    }
    let m = Share::start(&[]);
    let (port, remote) = peer(b"hello cu\r\n");
    // cu runs as uucp: let it open the line
    let slave = std::fs::read_link(&m.link).unwrap();
    std::fs::set_permissions(&slave, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    // cu insists on /var/lock: a private one in a private mount namespace
    let script = format!(
        "mount -t tmpfs none /var/lock && exec cu -l {} -s 38400 2>&1",
        slave.display()
    );
    let mut cu = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = Output::of(&mut cu);
    let mut stdin = cu.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(1500)); // cu opens the line
    stdin
        .write_all(format!("ATD127.0.0.1:{port}\r").as_bytes())
        .unwrap();
    out.wait_for("CONNECT 38400");
    out.wait_for("hello cu");
    stdin.write_all(b"typed in cu\r").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    stdin.write_all(b"\r~.\r").unwrap();
    let _ = cu.wait();
    let got = remote.join().unwrap();
    assert!(
        String::from_utf8_lossy(&got).contains("typed in cu"),
        "{got:?}"
    );
}

#[test]
fn chat_dials_the_phonebook_entry() {
    if !have("chat") {
        return;
    }
    let (port, remote) = peer(b"");
    let dir = tempfile::tempdir().unwrap();
    let pb = dir.path().join("phonebook");
    std::fs::write(&pb, format!("bbs 127.0.0.1:{port}\n")).unwrap();
    let m = Share::start_in(dir, &["--phonebook", pb.to_str().unwrap()]);
    let _dte = m.dte(); // keeps the line open between chat's redirections
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec chat -t 10 '' ATZ OK ATDTbbs CONNECT <{l} >{l}",
            l = m.link.display()
        ))
        .status()
        .unwrap();
    assert!(st.success(), "chat: {st}; {}", read(&m.path("stderr")));
    drop(m);
    remote.join().unwrap();
}

#[test]
fn zmodem_transfer_of_plus_and_ff_arrives_intact() {
    if !have("sz") || !have("rz") {
        return;
    }
    let m = Share::start(&[]);
    // the file: runs of `+++`, 0xFF, IAC sequences and pseudo-random bytes
    let mut data = Vec::new();
    let mut x: u32 = 1;
    for i in 0..4000u32 {
        data.extend_from_slice(b"+++");
        data.extend_from_slice(&[0xff, 0xff, 0xfd, 0x00]);
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        data.extend_from_slice(&x.to_le_bytes());
        if i % 100 == 0 {
            data.extend_from_slice(b"\r\nATH\r\n+++ATH0\r");
        }
    }
    let send_dir = tempfile::tempdir().unwrap();
    let recv_dir = tempfile::tempdir().unwrap();
    let file = send_dir.path().join("blob.bin");
    std::fs::write(&file, &data).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let rdir = recv_dir.path().to_path_buf();
    let receiver = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let fd = std::os::fd::OwnedFd::from(s);
        Command::new("rz")
            .args(["-y", "-q"])
            .current_dir(rdir)
            .stdin(Stdio::from(fd.try_clone().unwrap()))
            .stdout(Stdio::from(fd))
            .stderr(Stdio::null())
            .status()
            .unwrap()
    });
    let mut dte = m.dte();
    dte.send(format!("ATD127.0.0.1:{port}\r").as_bytes());
    dte.expect("CONNECT 38400\r\n");
    // sz needs a blocking line
    let line = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&m.link)
        .unwrap();
    let st = Command::new("sz")
        .args(["-q"])
        .arg(&file)
        .stdin(Stdio::from(line.try_clone().unwrap()))
        .stdout(Stdio::from(line))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "sz: {st}");
    assert!(receiver.join().unwrap().success(), "rz");
    let got = std::fs::read(recv_dir.path().join("blob.bin")).unwrap();
    assert!(got == data, "{} bytes of {} differ", got.len(), data.len());
}

/// `rgetty-share modem` with Debian's mgetty on the line and a TCP caller: the product use.
#[test]
fn real_mgetty_behind_share_modem() {
    if let Some(why) = common::real_mgetty::RealMgetty::skip_reason() {
        println!("SKIP real mgetty: {why}");
        return;
    }
    let m = Share::start(&["--rings", "1"]);
    let slave = std::fs::read_link(&m.link).unwrap();
    let mg = common::real_mgetty::RealMgetty::start(&slave);
    // mgetty is idle in WAITING once its init chat is done
    let deadline = Instant::now() + Duration::from_secs(20);
    while !mg.log().contains("waiting...") {
        assert!(
            Instant::now() < deadline,
            "no init; mgetty log:\n{}",
            mg.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut caller = m.call();
    tcp_expect_for(&mut caller, "login: ", Duration::from_secs(20));
    caller.write_all(b"tcpuser\r").unwrap();
    tcp_expect_for(&mut caller, "LOGGED-IN tcpuser", Duration::from_secs(20));
    // the login program exits: mgetty's line closes = DTR drop: the caller is hung up
    tcp_eof(&mut caller);
}

#[test]
fn only_loopback_calls_unless_allowed() {
    use rgetty::modem::{ModemServer as Server, line::ModemSettings as Settings};
    let dir = tempfile::tempdir().unwrap();
    let set = |name: &str| Settings {
        speed: 38400,
        rings: 0,
        ring_interval: Duration::from_secs(2),
        answer_delay: Duration::ZERO,
        cooldown: Duration::ZERO,
        telnet: false,
        raw: false,
        throttle: false,
        caller_id: rgetty::modem::cid::Format::Mgetty,
        phonebook: rgetty::modem::dial::Phonebook::default(),
        link: dir.path().join(name),
        access: Default::default(),
        dial: Default::default(),
        dial_limit: 0,
    };
    let any = "127.0.0.1:0".parse().unwrap();
    let s = Server::bind(set("a"), any, None).unwrap();
    assert!(s.admits("127.0.0.1".parse().unwrap()));
    assert!(s.admits("::1".parse().unwrap()));
    assert!(!s.admits("10.1.2.3".parse().unwrap()));
    let acl = rgetty::share::acl::Acl::parse(&["10.0.0.0/8"]).unwrap();
    let s = Server::bind(set("b"), any, Some(acl)).unwrap();
    assert!(s.admits("10.1.2.3".parse().unwrap()));
    assert!(s.admits("::ffff:10.1.2.3".parse().unwrap()));
    assert!(!s.admits("192.0.2.1".parse().unwrap()));
}
