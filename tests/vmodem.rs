//! Tests of the virtual modem (`rgetty::vmodem`) and `rgetty-share modem` (`rgetty::share::modem`),
//! driving the slave side the way a getty does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use regex::bytes::Regex;
use rgetty::vmodem::{
    CallerId, CallerStatus, CallerStep, Config, Dir, InitReply, LCP_TAIL, State, VModem,
};

const T: Duration = Duration::from_secs(5);

/// The DTE side: the slave opened raw, as a getty would.
struct Dte {
    f: File,
    got: Vec<u8>,
}

impl Dte {
    fn open(path: &Path) -> Dte {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(path)
            .unwrap();
        let mut t = nix::sys::termios::tcgetattr(&f).unwrap();
        nix::sys::termios::cfmakeraw(&mut t);
        nix::sys::termios::tcsetattr(&f, nix::sys::termios::SetArg::TCSANOW, &t).unwrap();
        Dte { f, got: Vec::new() }
    }

    fn send(&mut self, b: &[u8]) {
        self.f.write_all(b).unwrap();
    }

    /// Read for up to `d`; returns Err(errno) on a read error, Ok(true) on EOF.
    fn read_for(&mut self, d: Duration) -> Result<bool, std::io::Error> {
        let deadline = Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            let mut fds = [PollFd::new(self.f.as_fd(), PollFlags::POLLIN)];
            let ms = u16::try_from(left.as_millis().min(1000)).unwrap();
            poll(&mut fds, PollTimeout::from(ms)).unwrap();
            let mut buf = [0u8; 4096];
            match self.f.read(&mut buf) {
                Ok(0) => return Ok(true),
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Wait until the unconsumed bytes match `re`; consume and return them up to the match end.
    fn expect(&mut self, re: &str) -> Vec<u8> {
        let rx = Regex::new(re).unwrap();
        let deadline = Instant::now() + T;
        loop {
            if let Some(m) = rx.find(&self.got) {
                let end = m.end();
                return self.got.drain(..end).collect();
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {re:?}; got {:?}",
                String::from_utf8_lossy(&self.got)
            );
            self.read_for(Duration::from_millis(50)).unwrap();
        }
    }

    /// Send a command line and wait for its final result.
    fn cmd(&mut self, line: &str, result: &str) -> String {
        self.send(format!("{line}\r").as_bytes());
        String::from_utf8_lossy(&self.expect(result)).into_owned()
    }
}

fn start(cfg: Config) -> (VModem, Dte) {
    let vm = VModem::start(cfg).unwrap();
    let dte = Dte::open(vm.slave_path());
    vm.wait_slave_open(T).unwrap();
    (vm, dte)
}

#[test]
fn at_ok_with_echo() {
    let (vm, mut dte) = start(Config::default());
    assert_eq!(dte.cmd("AT", "OK\r\n"), "AT\r\r\nOK\r\n");
    assert_eq!(dte.cmd("ATQ0V1H0", "OK\r\n"), "ATQ0V1H0\r\r\nOK\r\n");
    assert_eq!(
        dte.cmd("ATS0=0Q0&D3&C1", "OK\r\n"),
        "ATS0=0Q0&D3&C1\r\r\nOK\r\n"
    );
    assert_eq!(dte.cmd("ATE0", "OK\r\n"), "ATE0\r\r\nOK\r\n");
    assert_eq!(dte.cmd("ATX9", "ERROR\r\n"), "\r\nERROR\r\n");
    assert_eq!(
        vm.commands(),
        ["AT", "ATQ0V1H0", "ATS0=0Q0&D3&C1", "ATE0", "ATX9"]
    );
    vm.wait_to_modem(r"ATQ0V1H0\r", T).unwrap();
    vm.wait_to_dte(r"(?s)OK.*ERROR", T).unwrap();
    let t = vm.transcript();
    assert!(t.to_modem_bytes().starts_with(b"AT\r"));
    assert!(
        t.printable().contains("to-modem AT[0d]"),
        "{}",
        t.printable()
    );
}

#[test]
fn ati_and_fclass_probe() {
    let (_vm, mut dte) = start(Config {
        echo: false,
        ..Config::default()
    });
    assert_eq!(
        dte.cmd("ATI", "OK\r\n"),
        "\r\nRGETTY VIRTUAL MODEM\r\n\r\nOK\r\n"
    );
    assert_eq!(dte.cmd("AT+FCLASS=?", "OK\r\n"), "\r\n0\r\n\r\nOK\r\n");
    assert_eq!(dte.cmd("AT+FCLASS=2.0", "ERROR\r\n"), "\r\nERROR\r\n");
    assert_eq!(dte.cmd("AT+FCLASS=2", "ERROR\r\n"), "\r\nERROR\r\n");
    assert_eq!(dte.cmd("AT+FCLASS=0", "OK\r\n"), "\r\nOK\r\n");
    assert_eq!(dte.cmd("ATV0", "0\r"), "0\r");
}

#[test]
fn wait_timeout_shows_transcript() {
    let (vm, mut dte) = start(Config::default());
    dte.cmd("AT", "OK\r\n");
    let e = vm
        .wait_to_modem("NEVER", Duration::from_millis(200))
        .unwrap_err()
        .to_string();
    assert!(e.contains("NEVER") && e.contains("to-modem AT[0d]"), "{e}");
}

#[test]
fn answer_then_caller_script_and_lcp() {
    let (vm, mut dte) = start(Config::default());
    vm.set_caller(vec![
        CallerStep::Send(b"hello from caller\r\n".to_vec()),
        CallerStep::Expect {
            re: "login: $".into(),
            timeout: T,
        },
        CallerStep::Send(b"user\r".to_vec()),
        CallerStep::Expect {
            re: "Password".into(),
            timeout: T,
        },
        CallerStep::SendLcp,
    ]);
    vm.ring(1, Duration::from_secs(1), None);
    dte.expect("\r\nRING\r\n");
    vm.wait_state(State::Ringing, T).unwrap();
    dte.send(b"ATA\r");
    dte.expect("CONNECT 38400\r\n");
    vm.wait_state(State::Online, T).unwrap();
    dte.expect("hello from caller\r\n");
    dte.send(b"login: ");
    dte.expect("user\r");
    dte.send(b"Password:");
    let got = dte.expect(&format!(
        "{}$",
        regex::escape(std::str::from_utf8(LCP_TAIL).unwrap())
    ));
    assert!(
        got.starts_with(&[0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21]),
        "{got:02x?}"
    );
    vm.wait_caller(T).unwrap();
    assert_eq!(vm.caller_status(), CallerStatus::Done);
}

#[test]
fn caller_expect_timeout_fails() {
    let (vm, mut dte) = start(Config::default());
    vm.set_caller(vec![CallerStep::Expect {
        re: "never".into(),
        timeout: Duration::from_millis(300),
    }]);
    dte.send(b"ATA\r");
    dte.expect("CONNECT");
    let e = vm.wait_caller(T).unwrap_err().to_string();
    assert!(e.contains("never"), "{e}");
    assert!(matches!(vm.caller_status(), CallerStatus::Failed(_)));
}

#[test]
fn caller_hangup_gives_no_carrier() {
    let (vm, mut dte) = start(Config::default());
    vm.set_caller(vec![
        CallerStep::Send(b"hi".to_vec()),
        CallerStep::Sleep(Duration::from_millis(100)),
        CallerStep::Hangup,
    ]);
    dte.send(b"ATDT5551234\r");
    dte.expect("(?s)CONNECT 38400\r\nhi\r\nNO CARRIER\r\n");
    vm.wait_state(State::Command, T).unwrap();
    dte.cmd("AT", "OK\r\n");
}

#[test]
fn ring_schedule_with_caller_id() {
    let (vm, mut dte) = start(Config::default());
    let cid = CallerId {
        date: "1122".into(),
        time: "1951".into(),
        number: "5551234".into(),
        name: Some("JOHN DOE".into()),
    };
    let t0 = vm.now();
    vm.ring_at(
        &[
            Duration::ZERO,
            Duration::from_millis(400),
            Duration::from_millis(1200),
        ],
        Some(cid),
    );
    let got = dte.expect("(?s)(RING.*){3}");
    assert_eq!(
        String::from_utf8_lossy(&got),
        "\r\nRING\r\n\r\nDATE = 1122\r\nTIME = 1951\r\nNMBR = 5551234\r\nNAME = JOHN DOE\r\n\r\nRING\r\n\r\nRING\r\n"
    );
    let rings: Vec<Duration> = vm
        .transcript()
        .entries
        .iter()
        .filter(|e| e.dir == Dir::ToDte && e.bytes.starts_with(b"\r\nRING"))
        .map(|e| e.at - t0)
        .collect();
    assert_eq!(rings.len(), 3);
    let gap1 = rings[1] - rings[0];
    let gap2 = rings[2] - rings[1];
    assert!(
        gap1 >= Duration::from_millis(350) && gap1 < Duration::from_millis(1000),
        "{gap1:?}"
    );
    assert!(
        gap2 >= Duration::from_millis(700) && gap2 < Duration::from_millis(1500),
        "{gap2:?}"
    );
}

#[test]
fn auto_answer_after_s0_rings() {
    let (vm, mut dte) = start(Config::default());
    dte.cmd("ATS0=2", "OK\r\n");
    vm.ring(3, Duration::from_millis(300), None);
    dte.expect("(?s)RING.*RING.*CONNECT 38400\r\n");
    vm.wait_state(State::Online, T).unwrap();
    // no third RING once online
    dte.read_for(Duration::from_millis(500)).unwrap();
    assert!(!dte.got.windows(4).any(|w| w == b"RING"), "{:?}", dte.got);
}

#[test]
fn escape_and_return_online() {
    let (vm, mut dte) = start(Config::default());
    dte.cmd("ATS12=10", "OK\r\n"); // 0.2 s guard time
    vm.set_caller(vec![CallerStep::Expect {
        re: "data".into(),
        timeout: T,
    }]);
    dte.send(b"ATA\r");
    dte.expect("CONNECT");
    dte.send(b"data");
    vm.wait_caller(T).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    dte.send(b"+++");
    dte.expect("\r\nOK\r\n");
    vm.wait_state(State::Command, T).unwrap();
    dte.cmd("ATO", "CONNECT 38400\r\n");
    vm.wait_state(State::Online, T).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    dte.send(b"+++");
    dte.expect("\r\nOK\r\n");
    dte.cmd("ATH0", "OK\r\n");
    dte.cmd("ATO", "NO CARRIER\r\n");
}

#[test]
fn drop_carrier_gives_eof_or_eio() {
    let (vm, mut dte) = start(Config::default());
    dte.cmd("AT", "OK\r\n");
    vm.drop_carrier();
    vm.wait_state(State::Dead, T).unwrap();
    let deadline = Instant::now() + T;
    loop {
        match dte.read_for(Duration::from_millis(100)) {
            Ok(true) => break,
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
                break;
            }
            Ok(false) => assert!(Instant::now() < deadline, "no hangup seen"),
        }
    }
}

#[test]
fn output_discarded_while_slave_closed() {
    let vm = VModem::start(Config::default()).unwrap();
    // leave the slave with ECHO on (as a fresh pty has it), then close it
    {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(vm.slave_path())
            .unwrap();
        let mut t = nix::sys::termios::tcgetattr(&f).unwrap();
        t.local_flags |= nix::sys::termios::LocalFlags::ECHO;
        nix::sys::termios::tcsetattr(&f, nix::sys::termios::SetArg::TCSANOW, &t).unwrap();
        vm.wait_slave_open(T).unwrap();
    }
    vm.wait_state(State::Command, T).unwrap();
    let deadline = Instant::now() + T;
    while vm.slave_open() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    vm.send_raw(b"AT\r");
    vm.ring(2, Duration::from_millis(100), None);
    std::thread::sleep(Duration::from_millis(600));
    let t = vm.transcript();
    assert!(
        t.to_modem_bytes().is_empty(),
        "echo loop: {}",
        t.printable()
    );
    assert!(t.to_dte_bytes().is_empty(), "{}", t.printable());
    assert!(
        t.notes().iter().any(|n| n.starts_with("discarded")),
        "{}",
        t.printable()
    );
    // the next opener sees none of it
    let mut dte = Dte::open(vm.slave_path());
    dte.read_for(Duration::from_millis(300)).unwrap();
    assert!(dte.got.is_empty(), "{:?}", dte.got);
    dte.cmd("AT", "OK\r\n");
}

#[test]
fn init_reply_error_and_silent() {
    let (vm, mut dte) = start(Config {
        init_reply: InitReply::Error,
        ..Config::default()
    });
    assert_eq!(dte.cmd("ATQ0V1H0", "ERROR\r\n"), "ATQ0V1H0\r\r\nERROR\r\n");
    vm.set_init_reply(InitReply::Silent);
    dte.send(b"ATQ0V1H0\r");
    dte.read_for(Duration::from_millis(400)).unwrap();
    assert!(dte.got.is_empty(), "{:?}", dte.got);
    vm.wait_to_modem("(?s)ATQ0V1H0.*ATQ0V1H0", T).unwrap();
    let deadline = Instant::now() + T;
    while vm.commands().len() < 2 {
        assert!(Instant::now() < deadline, "{:?}", vm.commands());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(vm.commands(), ["ATQ0V1H0", "ATQ0V1H0"]);
    vm.set_init_reply(InitReply::Ok);
    dte.cmd("AT", "OK\r\n");
    drop(vm);
    let (_vm2, mut dte2) = start(Config {
        init_reply: InitReply::Silent,
        ..Config::default()
    });
    dte2.send(b"AT\r");
    dte2.read_for(Duration::from_millis(400)).unwrap();
    assert!(dte2.got.is_empty());
}

#[test]
fn link_and_many_in_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let link = dir.path().join(format!("ttyV{i}"));
            std::thread::spawn(move || {
                let vm = VModem::start(Config {
                    link: Some(link.clone()),
                    ..Config::default()
                })
                .unwrap();
                assert_eq!(std::fs::read_link(&link).unwrap(), vm.slave_path());
                let mut dte = Dte::open(&link);
                for _ in 0..5 {
                    dte.cmd("AT", "OK\r\n");
                }
                drop(vm);
                assert!(
                    std::fs::symlink_metadata(&link).is_err(),
                    "link left behind"
                );
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn reopen_on_drop_repoints_link() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyV");
    let vm = VModem::start(Config {
        link: Some(link.clone()),
        reopen_on_drop: true,
        ..Config::default()
    })
    .unwrap();
    let first = vm.slave_path().to_path_buf();
    let mut dte = Dte::open(&link);
    dte.cmd("AT", "OK\r\n");
    vm.drop_carrier();
    let deadline = Instant::now() + T;
    while vm.current_slave_path() == first {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(std::fs::read_link(&link).unwrap(), vm.current_slave_path());
    let mut dte2 = Dte::open(&link);
    dte2.cmd("AT", "OK\r\n");
}

// ---- rgetty-share modem (run in-process) ----

use rgetty::share::modem::{ModemServer, Options};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};

fn share_opts(dir: &Path) -> Options {
    Options {
        link: dir.join("ttyVM"),
        listen: "127.0.0.1:0".parse().unwrap(),
        allow: None,
        rings: 0,
        speed: 19200,
        ring_interval: Duration::from_millis(300),
        keep_transcript: true,
    }
}

/// Read from a TCP stream until `re` matches (or panic after T).
fn tcp_expect(s: &mut TcpStream, re: &str) -> Vec<u8> {
    let rx = Regex::new(re).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + T;
    let mut got = Vec::new();
    while !rx.is_match(&got) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {re:?}; got {:?}",
            String::from_utf8_lossy(&got)
        );
        let mut buf = [0u8; 1024];
        match s.read(&mut buf) {
            Ok(0) => {
                assert!(rx.is_match(&got), "EOF before {re:?}; got {got:?}");
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    got
}

/// Wait for EOF (or a reset) on a TCP stream.
fn tcp_eof(s: &mut TcpStream) {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + T;
    loop {
        let mut buf = [0u8; 1024];
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
        assert!(Instant::now() < deadline, "no EOF");
    }
}

fn with_server(opts: Options, f: impl FnOnce(&ModemServer)) {
    let server = ModemServer::bind(&opts).unwrap();
    let stop = AtomicBool::new(false);
    /// Stops the server even when the test body panics (else the scope would never end).
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    std::thread::scope(|sc| {
        let h = sc.spawn(|| server.run(&stop).unwrap());
        let guard = StopOnDrop(&stop);
        f(&server);
        drop(guard);
        h.join().unwrap();
    });
}

#[test]
fn share_incoming_call() {
    let dir = tempfile::tempdir().unwrap();
    let opts = share_opts(dir.path());
    let link = opts.link.clone();
    with_server(opts, |server| {
        let addr = server.local_addr().unwrap();
        let mut dte = Dte::open(&link);
        server.vmodem().wait_slave_open(T).unwrap();
        dte.cmd("ATQ0V1H0", "OK\r\n");
        let mut caller = TcpStream::connect(addr).unwrap();
        let got = dte.expect("(?s)RING.*NMBR = 127.0.0.1\r\n.*RING\r\n");
        assert!(String::from_utf8_lossy(&got).contains("DATE = "));
        // a second caller is told the line is busy
        let mut second = TcpStream::connect(addr).unwrap();
        tcp_expect(&mut second, "^BUSY\r\n$");
        tcp_eof(&mut second);
        dte.send(b"ATA\r");
        dte.expect("CONNECT 19200\r\n");
        caller.write_all(b"hello dte").unwrap();
        dte.expect("hello dte");
        dte.send(b"hello caller");
        tcp_expect(&mut caller, "hello caller");
        // the caller hangs up: NO CARRIER, then carrier drop, and a new pty behind the link
        drop(caller);
        server.vmodem().wait_to_dte("NO CARRIER\r\n", T).unwrap();
        dte.expect("NO CARRIER\r\n");
        let deadline = Instant::now() + T;
        loop {
            match dte.read_for(Duration::from_millis(100)) {
                Ok(true) | Err(_) => break,
                Ok(false) => assert!(Instant::now() < deadline, "no hangup"),
            }
        }
        let deadline = Instant::now() + T;
        while std::fs::read_link(&link).unwrap() == server.vmodem().slave_path() {
            assert!(Instant::now() < deadline, "link not re-pointed");
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut dte2 = Dte::open(&link);
        dte2.cmd("AT", "OK\r\n");
    });
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "link left behind"
    );
}

#[test]
fn share_auto_answer_and_dtr_drop() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = share_opts(dir.path());
    opts.rings = 2;
    opts.keep_transcript = false; // as the daemon runs
    let link = opts.link.clone();
    with_server(opts, |server| {
        let addr = server.local_addr().unwrap();
        let mut dte = Dte::open(&link);
        server.vmodem().wait_slave_open(T).unwrap();
        let mut caller = TcpStream::connect(addr).unwrap();
        caller.write_all(b"early bytes").unwrap();
        dte.expect("(?s)RING.*RING.*CONNECT 19200\r\nearly bytes");
        // the DTE closes the line (DTR drop): the caller is disconnected
        drop(dte);
        tcp_eof(&mut caller);
        server.vmodem().wait_state(State::Command, T).unwrap();
    });
}

#[test]
fn share_caller_gives_up_while_ringing() {
    let dir = tempfile::tempdir().unwrap();
    let opts = share_opts(dir.path());
    let link = opts.link.clone();
    with_server(opts, |server| {
        let addr = server.local_addr().unwrap();
        let mut dte = Dte::open(&link);
        server.vmodem().wait_slave_open(T).unwrap();
        let caller = TcpStream::connect(addr).unwrap();
        dte.expect("RING");
        server.vmodem().wait_state(State::Ringing, T).unwrap();
        drop(caller);
        let deadline = Instant::now() + T;
        while server.vmodem().busy() {
            assert!(Instant::now() < deadline, "still busy");
            std::thread::sleep(Duration::from_millis(10));
        }
        dte.cmd("ATA", "NO CARRIER\r\n");
    });
}

#[test]
fn share_dial_out() {
    let dir = tempfile::tempdir().unwrap();
    let opts = share_opts(dir.path());
    let link = opts.link.clone();
    let remote = TcpListener::bind("127.0.0.1:0").unwrap();
    let raddr = remote.local_addr().unwrap();
    // a port with nothing listening
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    with_server(opts, |server| {
        let mut dte = Dte::open(&link);
        server.vmodem().wait_slave_open(T).unwrap();
        dte.cmd(&format!("ATD{closed}"), "BUSY\r\n");
        dte.cmd("ATDT nonsense", "NO CARRIER\r\n");
        dte.send(format!("ATDT{raddr}\r").as_bytes());
        let (mut peer, _) = remote.accept().unwrap();
        dte.expect("CONNECT 19200\r\n");
        peer.write_all(b"login: ").unwrap();
        dte.expect("login: ");
        dte.send(b"me\r");
        tcp_expect(&mut peer, "me\r");
        // escape, then hang up: the peer sees EOF
        std::thread::sleep(Duration::from_millis(1200));
        dte.send(b"+++");
        dte.expect("\r\nOK\r\n");
        dte.cmd("ATH", "OK\r\n");
        // the peer sees EOF, and the +++ never reached it
        peer.set_read_timeout(Some(T)).unwrap();
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest).unwrap();
        assert!(!rest.contains(&b'+'), "{rest:?}");
        assert!(!server.vmodem().busy());
    });
}

#[test]
fn share_refuses_foreign_peers_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = share_opts(dir.path());
    let server = ModemServer::bind(&opts).unwrap();
    assert!(server.admits("127.0.0.1".parse().unwrap()));
    assert!(server.admits("::1".parse().unwrap()));
    assert!(!server.admits("10.1.2.3".parse().unwrap()));
    drop(server);
    opts.allow = Some(rgetty::share::acl::Acl::parse(&["10.0.0.0/8"]).unwrap());
    let server = ModemServer::bind(&opts).unwrap();
    assert!(server.admits("10.1.2.3".parse().unwrap()));
    assert!(server.admits("::ffff:10.1.2.3".parse().unwrap()));
    assert!(!server.admits("192.0.2.1".parse().unwrap()));
}

#[test]
fn drop_carrier_sends_sighup_to_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let vm = VModem::start(Config::default()).unwrap();
    let flag = dir.path().join("hup");
    // a session leader that takes the slave as its controlling tty, like a getty
    let script = format!(
        "trap 'echo hup > {}; exit 0' HUP; exec 3<>{}; while :; do sleep 0.05; done",
        flag.display(),
        vm.slave_path().display()
    );
    let mut child = std::process::Command::new("setsid")
        .arg("sh")
        .arg("-c")
        .arg(&script)
        .spawn()
        .unwrap();
    vm.wait_slave_open(T).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    vm.drop_carrier();
    let deadline = Instant::now() + T;
    while !flag.exists() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no SIGHUP; {}", vm.transcript().printable());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.wait();
}

/// Debian's mgetty on `slave` (`/dev/pts/N`) in a private mount namespace, with temp dirs
/// bound over /run (locks, utmp), /var/log/mgetty and /etc/mgetty, so nothing of the system's
/// is touched. login.config runs `/bin/echo LOGGED-IN <name>`. Needs root and `unshare`.
struct RealMgetty {
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl RealMgetty {
    /// Why Debian's mgetty cannot run here, if it cannot (the test then prints it and passes).
    fn skip_reason() -> Option<String> {
        if !nix::unistd::geteuid().is_root() {
            return Some("not root (mgetty runs in a private mount namespace)".into());
        }
        if !Path::new("/sbin/mgetty").exists() {
            return Some("/sbin/mgetty missing (apt-get install mgetty)".into());
        }
        let unshare = std::process::Command::new("unshare")
            .args(["--mount", "true"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if !unshare.is_ok_and(|s| s.success()) {
            return Some("`unshare --mount` missing or not permitted".into());
        }
        None
    }

    fn start(slave: &Path) -> RealMgetty {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        for d in ["run/lock", "log", "etc"] {
            std::fs::create_dir_all(t.join(d)).unwrap();
        }
        std::fs::write(
            t.join("etc/mgetty.config"),
            "port-owner root\nport-group root\nport-mode 0600\ndata-only yes\nrings 1\n\
             issue-file /etc/mgetty/issue\n",
        )
        .unwrap();
        std::fs::write(t.join("etc/issue"), "vmodem test\n").unwrap();
        let lc = t.join("etc/login.config");
        std::fs::write(&lc, "* - - /bin/echo LOGGED-IN @\n").unwrap();
        std::fs::set_permissions(&lc, std::fs::Permissions::from_mode(0o600)).unwrap();
        let dev = slave
            .strip_prefix("/dev")
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let script = format!(
            "set -e; mount --bind {t}/run /run; mount --bind {t}/log /var/log/mgetty; \
             mount --bind {t}/etc /etc/mgetty; exec /sbin/mgetty -x 9 {dev}",
            t = t.display()
        );
        let child = std::process::Command::new("unshare")
            .args(["-m", "sh", "-c", &script])
            .spawn()
            .unwrap();
        RealMgetty { dir, child }
    }

    fn log(&self) -> String {
        std::fs::read_dir(self.dir.path().join("log"))
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
            .collect()
    }
}

impl Drop for RealMgetty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's real mgetty against the virtual modem: init chat, RING, ATA, CONNECT, login prompt,
/// login.config dispatch. Skipped (with the reason) without root, unshare or mgetty.
#[test]
fn real_mgetty_against_the_vmodem() {
    if let Some(why) = RealMgetty::skip_reason() {
        println!("SKIP real mgetty: {why}");
        return;
    }
    let vm = VModem::start(Config::default()).unwrap();
    let mg = RealMgetty::start(vm.slave_path());
    let result = (|| -> Result<(), String> {
        vm.wait_to_modem(r"ATQ0V1H0\r", Duration::from_secs(20))
            .map_err(|e| e.to_string())?;
        // mgetty is idle in WAITING once it stops talking to the modem
        std::thread::sleep(Duration::from_secs(2));
        vm.set_caller(vec![
            CallerStep::Expect {
                re: "login: ".into(),
                timeout: Duration::from_secs(20),
            },
            CallerStep::Send(b"user\r".to_vec()),
            CallerStep::Expect {
                re: "LOGGED-IN user".into(),
                timeout: Duration::from_secs(20),
            },
        ]);
        vm.ring(1, Duration::from_secs(5), None);
        vm.wait_to_modem(r"ATA\r", Duration::from_secs(20))
            .map_err(|e| e.to_string())?;
        vm.wait_caller(Duration::from_secs(30))
            .map_err(|e| e.to_string())
    })();
    if let Err(e) = result {
        panic!("{e}\nmgetty log:\n{}", mg.log());
    }
    assert_eq!(vm.commands()[0], "ATQ0V1H0");
    eprintln!("{}", vm.transcript().printable());
}

/// `rgetty-share modem` with Debian's mgetty on the line and a TCP caller: the product use.
#[test]
fn real_mgetty_behind_share_modem() {
    if let Some(why) = RealMgetty::skip_reason() {
        println!("SKIP real mgetty: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let opts = share_opts(dir.path());
    with_server(opts, |server| {
        let mg = RealMgetty::start(server.vmodem().slave_path());
        let vm = server.vmodem();
        let ok = vm
            .wait_to_modem(r"ATQ0V1H0\r", Duration::from_secs(20))
            .is_ok();
        assert!(ok, "no init; mgetty log:\n{}", mg.log());
        std::thread::sleep(Duration::from_secs(2));
        let mut caller = TcpStream::connect(server.local_addr().unwrap()).unwrap();
        tcp_expect(&mut caller, "login: ");
        caller.write_all(b"tcpuser\r").unwrap();
        tcp_expect(&mut caller, "LOGGED-IN tcpuser");
        // the login program exits: mgetty's line closes = DTR drop: the caller is hung up
        tcp_eof(&mut caller);
        eprintln!("{}", vm.transcript().printable());
    });
}
