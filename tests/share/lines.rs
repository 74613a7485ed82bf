//! Line options of rgetty-share (issue 19): any integer speed through termios2 (`BOTHER`),
//! from the command line's stty words and from an RFC 2217 client's SET-BAUDRATE; RS-485
//! mode (`--rs485`, `rs485=`) through TIOCSRS485 and its read-back.

use std::io::{BufRead, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::share_util;
use share_util::*;

/// The pty's output speed as the kernel keeps it, read with TCGETS2 (`c_ospeed`), and whether
/// `c_cflag` holds `BOTHER`.
pub(crate) fn speed2(d: &Dev) -> (u32, bool) {
    // SAFETY: termios2 is plain data, valid when zeroed.
    let mut t: libc::termios2 = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd and a termios2 that outlives the call.
    let r = unsafe { libc::ioctl(d.slave.as_raw_fd(), libc::TCGETS2, &mut t) };
    assert_eq!(r, 0, "TCGETS2");
    (t.c_ospeed, t.c_cflag & libc::CBAUD == libc::BOTHER)
}

/// `-s 250000` (no B* constant) reaches the device as BOTHER with c_ospeed 250000; a
/// standard speed in the same place stays a B* constant.
#[test]
fn stty_speed_250000_is_set_with_bother() {
    for (word, bother) in [("250000", true), ("115200", false)] {
        let (_tmp, mut d, srv) = serve_dev(&["-s", word]);
        let mut c = connect(srv.addrs[0]);
        c.write_all(b"ping").unwrap();
        assert_eq!(d.read_n(4), b"ping");
        assert_eq!(speed2(&d), (word.parse().unwrap(), bother), "{word}");
        assert_eq!(
            rgetty::sys::tty::get_speed(&d.slave).unwrap(),
            word.parse::<u32>().unwrap()
        );
    }
}

/// pyserial over `rfc2217://` opens at 250000, then switches to 74880 (ESP8266's boot rate)
/// and back to 9600: after each SET-BAUDRATE the pty's termios2 speed is the one asked for,
/// and pyserial, which checks the server's reply, reports no error.
#[test]
fn rfc2217_set_baudrate_takes_any_integer() {
    if !have("python3") || !crate::engine::python_has_serial() {
        assert!(std::env::var_os("CI").is_none(), "python3-serial missing");
        return;
    }
    let (_tmp, d, srv) = serve_dev(&["--mode", "rfc2217"]);
    let script = format!(
        "import serial, sys\n\
         s = serial.serial_for_url('rfc2217://127.0.0.1:{}', baudrate=250000, timeout=1)\n\
         print('set', s.baudrate, flush=True)\n\
         for b in (74880, 9600):\n\
         \x20   sys.stdin.readline()\n\
         \x20   s.baudrate = b\n\
         \x20   print('set', s.baudrate, flush=True)\n\
         sys.stdin.readline()\n\
         s.close()\n",
        srv.addrs[0].port()
    );
    let (mut py, mut out) = python(&script, &[]);
    let mut input = py.stdin.take().unwrap();
    for (want, bother) in [(250_000, true), (74880, true), (9600, false)] {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), format!("set {want}"));
        // pyserial waits for the server's reply to SET-BAUDRATE, which follows the ioctl.
        wait_for("the speed", || speed2(&d).0 == want);
        assert_eq!(speed2(&d), (want, bother));
        input.write_all(b"\n").unwrap();
    }
    assert!(py.wait().unwrap().success());
}

/// Serve `d` with `args` (and `env`), connect once and pass a byte; the server's log.
fn session_log(d: &mut Dev, args: &[&str], env: &[(&str, &Path)]) -> String {
    let tmp = tmpdir();
    let log = tmp.path().join("server.log");
    let mut all = vec!["-p", "0"];
    all.extend_from_slice(args);
    all.push(d.path.to_str().unwrap());
    let err = std::fs::File::create(&log).unwrap();
    let srv = serve_env(tmp.path(), &all, Stdio::from(err), env);
    let mut c = connect(srv.addrs[0]);
    c.write_all(b"ping").unwrap();
    assert_eq!(d.read_n(4), b"ping");
    drop(c);
    drop(srv);
    std::fs::read_to_string(&log).unwrap()
}

/// `--rs485 on,rts-on-send,delay-before=3,delay-after=7` hands the driver exactly that
/// `struct serial_rs485` (flags 3 = ENABLED|RTS_ON_SEND, delays 3 and 7, padding zero: the
/// shim records TIOCSRS485) and logs the read-back; a driver that drops a flag (the shim's
/// TIOCGRS485 masks it) is reported as such, and a real pty, which has no RS-485, is logged
/// as refused while the session still works.
#[test]
fn rs485_struct_reaches_the_driver_and_is_read_back() {
    let tmp = tmpdir();
    let Some(shim) = crate::lab::modem_shim(tmp.path()) else {
        return;
    };
    let spec = "on,rts-on-send,delay-before=3,delay-after=7";
    for keep in [None, Some("0x11")] {
        let mut d = dev();
        let path = d.path.clone();
        let rlog = tmp.path().join("rs485.log");
        let _ = std::fs::remove_file(&rlog);
        let mut env = vec![
            ("LD_PRELOAD", shim.as_path()),
            ("MODEM_DEV", path.as_path()),
            ("RS485_LOG", rlog.as_path()),
        ];
        if let Some(k) = keep {
            env.push(("RS485_KEEP", Path::new(k)));
        }
        let log = session_log(&mut d, &["--rs485", spec], &env);
        let calls = std::fs::read_to_string(&rlog).unwrap();
        assert_eq!(calls.lines().next(), Some("3 3 7 0"), "{calls}");
        let want = match keep {
            None => format!("rs485 {spec}"),
            Some(_) => {
                format!("rs485 {spec} asked, the driver kept on,delay-before=3,delay-after=7")
            }
        };
        assert!(log.contains(&want), "{want:?} in {log}");
    }
    let mut d = dev();
    let log = session_log(&mut d, &["--rs485", "on,rx-during-tx"], &[]);
    assert!(
        log.contains("rs485 on,rx-during-tx,delay-before=0,delay-after=0: the driver refused"),
        "{log}"
    );
    let mut d = dev();
    let log = session_log(&mut d, &[], &[]);
    assert!(!log.contains("rs485"), "{log}");
}

/// A bad `--rs485` is a clear start-up error.
#[test]
fn rs485_bad_spec_is_refused_at_start() {
    let out = Command::new(BIN)
        .args(["serve", "--rs485", "on,rts-sometimes", "/dev/null"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--rs485: unknown rs485 item \"rts-sometimes\""),
        "{err}"
    );
}
