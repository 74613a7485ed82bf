//! pyserial as an RFC 2217 client, the way a lab script drives a board: `dtr`/`rts`
//! assignments, `send_break`, a BOTHER speed and data both ways, each checked on the device
//! side (the TIOCM shim's log of what the server asked the driver, the BREAK shim's count,
//! the pty's termios2).

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::Stdio;

use crate::lab::{lines_after, pyserial_and_shim, shim_env, shim_log};
use crate::lines::speed2;
use crate::share_util;
use share_util::*;

/// Each step prints its name and waits for a line on stdin before the next, so the test can
/// look at the device in between.
const CLIENT: &str = r#"
import sys, serial
s = serial.serial_for_url('rfc2217://127.0.0.1:%s' % sys.argv[1], baudrate=9600, timeout=5)
def step(name):
    print(name, flush=True)
    sys.stdin.readline()
s.dtr = False; s.rts = False; step('both-low')
s.dtr = True; step('dtr-high')
s.rts = True; step('rts-high')
s.dtr = False; step('dtr-low')
s.send_break(0.2); step('break')
s.baudrate = 250000; step('250000')
s.write(b'ping'); step('written')
print(s.read(4).decode(), flush=True)
s.close()
"#;

#[test]
fn pyserial_sets_dtr_rts_break_and_bother_speed() {
    let Some((tmp, modem)) = pyserial_and_shim() else {
        return;
    };
    let brk = crate::common::build_shim(tmp.path(), "break_shim", include_str!("../break_shim.c"))
        .expect("cc builds the break shim");
    let mut d = dev();
    let (log, breaks) = (tmp.path().join("tiocm.log"), tmp.path().join("breaks"));
    // Both shims: the BREAK shim's ioctl passes on to the TIOCM shim's (RTLD_NEXT).
    let preload = format!("{} {}", brk.display(), modem.display());
    let mut env = shim_env(Path::new(&preload), &d.path, &log).to_vec();
    env.push(("BREAK_COUNT", &breaks));
    let args = ["-p", "0", "--mode", "rfc2217", d.path.to_str().unwrap()];
    let srv = serve_env(tmp.path(), &args, Stdio::inherit(), &env);
    let (mut py, mut out) = python(CLIENT, &[&srv.addrs[0].port().to_string()]);
    let mut input = py.stdin.take().unwrap();
    let mut next = |want: &str| {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim_end(), want);
    };
    let count = || std::fs::read(&breaks).map_or(0, |b| b.len());
    // pyserial waits for the server's acknowledgement of each SET-CONTROL and SET-BAUDRATE,
    // which the server sends after the ioctl: the device is already set when a step prints.
    for (step, want) in [
        ("both-low", (false, false)),
        ("dtr-high", (true, false)),
        ("rts-high", (true, true)),
        ("dtr-low", (false, true)),
    ] {
        next(step);
        // the open raised both lines
        let (dtr, rts, _) = lines_after(&shim_log(&log), libc::TIOCM_DTR | libc::TIOCM_RTS);
        assert_eq!((dtr, rts), want, "after {step}");
        input.write_all(b"\n").unwrap();
    }
    next("break");
    wait_for("a BREAK on the line", || count() >= 1);
    input.write_all(b"\n").unwrap();
    next("250000");
    wait_for("the BOTHER speed", || speed2(&d) == (250_000, true));
    input.write_all(b"\n").unwrap();
    next("written");
    assert_eq!(d.read_n(4), b"ping");
    d.write_all(b"pong");
    input.write_all(b"\n").unwrap();
    next("pong");
    assert!(py.wait().unwrap().success());
}
