//! Tests of the test bench's virtual modem (`tests/common/vmodem.rs`), driving the slave side
//! the way a getty does. `rgetty-share modem` is tested in tests/modem/share.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use common::dte::{Dte, T};
use common::real_mgetty::RealMgetty;
use common::vmodem::{
    CallerId, CallerStatus, CallerStep, Config, Dir, InitReply, LCP_TAIL, State, VModem,
};

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

/// Debian's real mgetty against the virtual modem: init chat, RING, ATA, CONNECT, login prompt,
/// login.config dispatch. Skipped (with the reason) without root, unshare or mgetty.
#[test]
fn real_mgetty_against_the_vmodem() {
    if let Some(why) = common::real_mgetty::RealMgetty::skip_reason() {
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
