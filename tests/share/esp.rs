//! `--esp-reset`: esptool's classic and USB-JTAG reset sequences, sent by pyserial over
//! `rfc2217://` through a relay adding 25 ms each way (50 ms of round trip), are recognised
//! and carried out by the server with its own timers.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::lab::{pyserial_and_shim, shim_env, shim_log};
use crate::share_util;
use share_util::*;

/// A relay delaying each direction by 25 ms, and esptool's two resets as esptool's
/// reset.py sends them (`_setRTS(v)` is `setRTS(v)` and then `setDTR(dtr)` again).
const CLIENT: &str = r#"
import queue, socket, sys, threading, time, serial
target = ('127.0.0.1', int(sys.argv[1]))
lsn = socket.socket(); lsn.bind(('127.0.0.1', 0)); lsn.listen(1)
def pipe(a, b):
    q = queue.Queue()
    def send():
        while True:
            t, d = q.get()
            time.sleep(max(0, t + 0.025 - time.monotonic()))
            if not d:
                b.close(); return
            b.sendall(d)
    threading.Thread(target=send, daemon=True).start()
    while True:
        try:
            d = a.recv(4096)
        except OSError:
            d = b''
        q.put((time.monotonic(), d))
        if not d:
            return
def relay():
    c, _ = lsn.accept()
    s = socket.create_connection(target)
    threading.Thread(target=pipe, args=(c, s), daemon=True).start()
    threading.Thread(target=pipe, args=(s, c), daemon=True).start()
threading.Thread(target=relay, daemon=True).start()
ser = serial.serial_for_url('rfc2217://127.0.0.1:%d' % lsn.getsockname()[1], baudrate=115200, timeout=1)
def setRTS(v):
    ser.setRTS(v); ser.setDTR(ser.dtr)
# ClassicReset
ser.setDTR(False); setRTS(True); time.sleep(0.1)
ser.setDTR(True); setRTS(False); time.sleep(0.05)
ser.setDTR(False)
print('classic', flush=True)
time.sleep(0.5)
# USBJTAGSerialReset
setRTS(False); ser.setDTR(False); time.sleep(0.1)
ser.setDTR(True); setRTS(False); time.sleep(0.1)
setRTS(True); ser.setDTR(False); setRTS(True); time.sleep(0.1)
ser.setDTR(False); setRTS(False)
print('usb-jtag', flush=True)
ser.close()
"#;

/// Both resets reach the device as the server's own TIOCMSETs (DTR and RTS of a step in one
/// call: their edges at the same instant), with 100/50 ms and 100/100/100 ms phases whatever
/// the client's 50 ms round trip; the client's other SET-CONTROLs of a running sequence
/// never reach the device (no TIOCMBIS/TIOCMBIC while one runs or after the last).
#[test]
fn esptool_resets_from_pyserial_run_with_local_timing() {
    let Some((tmp, shim)) = pyserial_and_shim() else {
        return;
    };
    let d = dev();
    let log = tmp.path().join("tiocm.log");
    let env = shim_env(&shim, &d.path, &log);
    let args = [
        "-p",
        "0",
        "--mode",
        "rfc2217",
        "--esp-reset",
        d.path.to_str().unwrap(),
    ];
    let srv = serve_env(tmp.path(), &args, Stdio::inherit(), &env);
    let port = srv.addrs[0].port().to_string();
    let mut py = Command::new("python3")
        .args(["-c", CLIENT, &port])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out: Vec<String> = BufReader::new(py.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .collect();
    assert!(py.wait().unwrap().success());
    assert_eq!(out, ["classic", "usb-jtag"]);
    let ops = shim_log(&log);
    let sets: Vec<(usize, u64, i32)> = ops
        .iter()
        .enumerate()
        .filter(|(_, (_, op, _))| op == "set")
        .map(|(i, (t, _, b))| (i, *t, b & (libc::TIOCM_DTR | libc::TIOCM_RTS)))
        .collect();
    let (dtr, rts) = (libc::TIOCM_DTR, libc::TIOCM_RTS);
    let bits: Vec<i32> = sets.iter().map(|s| s.2).collect();
    assert_eq!(bits, [rts, dtr, 0, 0, dtr, rts, 0], "{ops:?}");
    let ms = |a: usize, b: usize| (sets[b].1 - sets[a].1) as f64 / 1e6;
    let phases = [ms(0, 1), ms(1, 2), ms(3, 4), ms(4, 5), ms(5, 6)];
    eprintln!(
        "esptool reset phases (ms): classic {:.2} {:.2} (100, 50); usb-jtag {:.2} {:.2} {:.2} (100 each)",
        phases[0], phases[1], phases[2], phases[3], phases[4]
    );
    for (p, want) in phases.iter().zip([100.0, 50.0, 100.0, 100.0, 100.0]) {
        assert!((want - 5.0..want + 30.0).contains(p), "{phases:?}");
    }
    let edges_between = |a: usize, b: usize| {
        ops[a..b]
            .iter()
            .filter(|(_, op, _)| op == "bis" || op == "bic")
            .count()
    };
    assert_eq!(edges_between(sets[0].0, sets[2].0), 0, "{ops:?}");
    assert_eq!(edges_between(sets[3].0, ops.len()), 0, "{ops:?}");
}
