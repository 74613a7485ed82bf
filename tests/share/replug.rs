//! `hold-session` on an RFC 2217 port with a real client: pyserial's `rfc2217://` sets speed,
//! framing, flow control, DTR and RTS; the board is unplugged and plugged in again (a fresh
//! pty behind a by-id style link); pyserial stays connected and everything it set is on the
//! new device.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::Stdio;

use nix::sys::termios::{ControlFlags as C, tcgetattr};

use crate::lab::{lines_after, pyserial_and_shim, shim_env, shim_log};
use crate::share_util;
use rgetty::sys::tty;
use share_util::*;

/// pyserial: 250000 (no `B*` constant: termios2's BOTHER), the framing given (7E2 or 8N2),
/// RTS/CTS, DTR and RTS off, each change waiting for the server's answer as pyserial does.
/// Mode `away`: once told the device is unplugged, it reads the notice and asks for 115200
/// and RTS on while the device is away. Then, told the device is back, it reads until the
/// device's greeting and answers.
const CLIENT: &str = r#"
import sys, time, serial
ser = serial.serial_for_url('rfc2217://127.0.0.1:%s' % sys.argv[1], baudrate=250000,
    bytesize=int(sys.argv[2]), parity=sys.argv[3], stopbits=2, rtscts=True, timeout=0.2)
ser.dtr = False
ser.rts = False
print('set', flush=True)
sys.stdin.readline()
got, end = b'', time.monotonic() + 20
def until(what):
    global got
    while what not in got and time.monotonic() < end:
        got += ser.read(256)
if sys.argv[4] == 'away':
    until(b'holding the session')
    ser.baudrate = 115200
    ser.rts = True
    print('away', flush=True)
    sys.stdin.readline()
until(b'boot')
print(repr(got), flush=True)
ser.write(b'after')
ser.flush()
sys.stdin.readline()
ser.close()
"#;

/// Whether this kernel's ptys take 7 data bits and parity (some sandboxes' do not: the test
/// then asks for 8N2, and only the stop bits show the framing).
fn ptys_take_parity() -> bool {
    tty::apply_stty(&dev().slave, "cs7 parenb").is_ok()
}

/// The termios words the client asked for, as seen on the device.
fn framing(fd: &std::os::fd::OwnedFd) -> (u32, C) {
    let t = tcgetattr(fd).unwrap();
    let want = C::CSIZE | C::PARENB | C::PARODD | C::CSTOPB | C::CRTSCTS;
    (tty::get_speed(fd).unwrap(), t.control_flags & want)
}

/// pyserial through an unplug and an immediate replug: it is not disconnected, reads the
/// notice lines and the new device's first bytes, and its speed (250000, a BOTHER speed),
/// framing (7E2, or 8N2 where ptys take no parity), flow control (RTS/CTS) and DTR/RTS (both
/// off) are on the new pty, which came up at 9600 8N1 without flow control and with both
/// lines raised by the open (the TIOCM shim records the calls).
#[test]
fn pyserial_keeps_its_settings_through_a_replug() {
    replug_with_pyserial(false);
}

/// pyserial changes the speed and RTS while the device is away: each change is answered at
/// once (pyserial would fail after 3 s), and both are carried out when the device is back.
#[test]
fn pyserial_settings_while_away_apply_on_return() {
    replug_with_pyserial(true);
}

fn replug_with_pyserial(away: bool) {
    let Some((tmp, shim)) = pyserial_and_shim() else {
        return;
    };
    let log = tmp.path().join("tiocm.log");
    let link = tmp.path().join("by-id-board");
    let d = dev();
    std::os::unix::fs::symlink(&d.path, &link).unwrap();
    let env = shim_env(&shim, Path::new("/dev/pts/*"), &log);
    let args = ["-p", "0", "--mode", "rfc2217", "--hold-session"];
    let mut all = args.to_vec();
    all.push(link.to_str().unwrap());
    let srv = serve_env(tmp.path(), &all, Stdio::inherit(), &env);
    let parity = ptys_take_parity();
    let (bits, par) = if parity { ("7", "E") } else { ("8", "N") };
    let port = srv.addrs[0].port().to_string();
    let mode = if away { "away" } else { "fast" };
    let (mut py, mut out) = python(CLIENT, &[&port, bits, par, mode]);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "set\n");
    let frame = if parity { C::CS7 | C::PARENB } else { C::CS8 };
    let want = (250_000, frame | C::CSTOPB | C::CRTSCTS);
    assert_eq!(framing(&d.slave), want);
    let before = shim_log(&log);
    let (dtr, rts, _) = lines_after(&before, 0x6);
    assert!(!dtr && !rts, "{before:?}");

    // unplugged, and plugged in again as a fresh pty in the pty's default state
    drop(d);
    std::fs::remove_file(&link).unwrap();
    if away {
        py.stdin.as_mut().unwrap().write_all(b"gone\n").unwrap();
        line.clear();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "away\n");
    }
    let mut d = dev();
    tty::apply_stty(&d.slave, "9600 cs8 -parenb -cstopb -crtscts").unwrap();
    d.write_all(b"boot\r\n");
    let tmp_link = link.with_extension("new");
    std::os::unix::fs::symlink(&d.path, &tmp_link).unwrap();
    std::fs::rename(&tmp_link, &link).unwrap();
    py.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(
        line.contains("is gone; holding the session")
            && line.contains("is back after")
            && line.contains("boot"),
        "{line}"
    );
    assert_eq!(d.read_n(5), b"after");
    let want = if away { (115_200, want.1) } else { want };
    assert_eq!(framing(&d.slave), want);
    // The open raised both lines (as a UART's does); DTR was dropped again, RTS too unless
    // the client asked for it while the device was away.
    let (dtr, rts, calls) = lines_after(&shim_log(&log)[before.len()..], 0x6);
    assert!(
        !dtr && rts == away && calls > 0,
        "{:?}",
        &shim_log(&log)[before.len()..]
    );
    py.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    assert!(py.wait().unwrap().success());
}
