//! `rgetty-share serve --mode rfc2217` polls a device's modem lines only while a client asked
//! for modem-state notifications (telnet COM-PORT enabled and a modem-state mask not zero).
//!
//! ptys have no modem-control lines, so the real binary runs under an LD_PRELOAD shim
//! (tests/modem_shim.c) whose TIOCMGET on the device returns the bits in a file the test writes
//! and counts every call in another file. The telnet and RFC 2217 bytes are written by hand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use crate::share_util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use share_util::{DEADLINE, connect, dev, serve_env, tmpdir, wait_for};

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;
const WILL: u8 = 251;
const COM_PORT: u8 = 44;
/// SET-MODEMSTATE-MASK, client to server (the server's reply is 100 more).
const SET_MODEMSTATE_MASK: u8 = 11;
/// NOTIFY-MODEMSTATE, server to client.
const NOTIFY_MODEMSTATE: u8 = 107;
/// RFC 2217 modem-state bits: carrier detect and its delta.
const MS_DCD: u8 = 0x80;
const MS_DELTA_DCD: u8 = 0x08;

/// TIOCM_* bits the shim reports: CD, DSR and CTS on, then CD off.
const LINES_UP: i32 = libc::TIOCM_CAR | libc::TIOCM_DSR | libc::TIOCM_CTS;
const CD_DROPPED: i32 = libc::TIOCM_DSR | libc::TIOCM_CTS;

/// How long the test watches a quiet server: seven poll periods (200 ms each) and more.
const QUIET: Duration = Duration::from_millis(1500);

/// TIOCMGET calls the shim saw so far.
fn calls(counter: &Path) -> u64 {
    std::fs::metadata(counter).map_or(0, |m| m.len())
}

/// Replace the shim's modem-line state (atomically: the shim may read it at any time).
fn set_lines(state: &Path, bits: i32) {
    let tmp = state.with_extension("new");
    std::fs::write(&tmp, format!("{bits:#x}\n")).unwrap();
    std::fs::rename(&tmp, state).unwrap();
}

/// The values of every NOTIFY-MODEMSTATE (`IAC SB 44 107 v IAC SE`) in `stream`.
fn notifies(stream: &[u8]) -> Vec<u8> {
    stream
        .windows(7)
        .filter(|w| w[..4] == [IAC, SB, COM_PORT, NOTIFY_MODEMSTATE] && w[5..] == [IAC, SE])
        .map(|w| w[4])
        .collect()
}

/// Append what `s` sends within `d` to `into`.
fn read_for(s: &mut TcpStream, d: Duration, into: &mut Vec<u8>) {
    let end = Instant::now() + d;
    let mut b = [0u8; 512];
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(n) => into.extend_from_slice(&b[..n]),
            Err(_) => {}
        }
    }
    s.set_read_timeout(Some(DEADLINE)).unwrap();
}

/// `IAC SB COM-PORT cmd value IAC SE`, a 255 value doubled.
fn com_port(cmd: u8, value: u8) -> Vec<u8> {
    let mut v = vec![IAC, SB, COM_PORT, cmd, value];
    if value == IAC {
        v.push(IAC);
    }
    v.extend([IAC, SE]);
    v
}

/// `IAC WILL COM-PORT` and `SET-MODEMSTATE-MASK mask`, as one write.
fn ask_notifications(c: &mut TcpStream, mask: u8) {
    let mut req = vec![IAC, WILL, COM_PORT];
    req.extend(com_port(SET_MODEMSTATE_MASK, mask));
    c.write_all(&req).unwrap();
}

/// Read from `c` until the server confirmed the mask.
fn await_mask_reply(c: &mut TcpStream, mask: u8, seen: &mut Vec<u8>) {
    let want = com_port(SET_MODEMSTATE_MASK + 100, mask);
    let end = Instant::now() + DEADLINE;
    while !seen.windows(want.len()).any(|w| w == want) {
        assert!(Instant::now() < end, "no mask reply in {seen:?}");
        read_for(c, Duration::from_millis(100), seen);
    }
}

/// The number of TIOCMGET calls once it has stayed put for `QUIET`.
fn settled_calls(counter: &Path) -> u64 {
    let end = Instant::now() + DEADLINE;
    loop {
        let before = calls(counter);
        std::thread::sleep(QUIET);
        let after = calls(counter);
        if after == before {
            return after;
        }
        assert!(Instant::now() < end, "TIOCMGET calls never stopped");
    }
}

#[test]
fn modem_lines_are_polled_only_while_a_client_asked_for_notifications() {
    let tmp = tmpdir();
    let Some(shim) = common::build_shim(tmp.path(), "modem_shim", include_str!("../modem_shim.c"))
    else {
        println!("SKIP: no C compiler to build the TIOCMGET shim");
        return;
    };
    let mut d = dev();
    let (state, counter) = (tmp.path().join("lines"), tmp.path().join("calls"));
    set_lines(&state, LINES_UP);
    let env = [
        ("LD_PRELOAD", shim.as_path()),
        ("MODEM_DEV", d.path.as_path()),
        ("MODEM_STATE", state.as_path()),
        ("MODEM_COUNT", counter.as_path()),
    ];
    let dev_arg = d.path.to_str().unwrap().to_owned();
    let args = ["-p", "0", "--mode", "rfc2217", "-m", "3", &dev_arg];
    let srv = serve_env(tmp.path(), &args, Stdio::inherit(), &env);

    // A plain client (no COM-PORT, no mask): the session opens and data flows, the lines are
    // read when the device opens (and once for the connect-time notification), then no more.
    let mut plain = connect(srv.addrs[0]);
    plain.write_all(b"at").unwrap();
    assert_eq!(d.read_n(2), b"at");
    wait_for("the shim's first TIOCMGET", || calls(&counter) > 0);
    let quiet = settled_calls(&counter);
    std::thread::sleep(QUIET);
    assert_eq!(calls(&counter), quiet, "polled with no client asking");

    // COM-PORT enabled but a zero mask is no request either.
    let mut asker = connect(srv.addrs[0]);
    let mut seen = Vec::new();
    ask_notifications(&mut asker, 0);
    await_mask_reply(&mut asker, 0, &mut seen);
    let quiet = settled_calls(&counter);
    std::thread::sleep(QUIET);
    assert_eq!(calls(&counter), quiet, "polled for a zero mask");

    // The same client asks for every modem-state bit: the lines are polled periodically...
    ask_notifications(&mut asker, 0xff);
    await_mask_reply(&mut asker, 0xff, &mut seen);
    let start = calls(&counter);
    wait_for("periodic TIOCMGET calls", || calls(&counter) >= start + 5);
    // ...and carrier loss reaches it as NOTIFY-MODEMSTATE (CD off, delta CD on).
    let before = notifies(&seen).len();
    set_lines(&state, CD_DROPPED);
    let end = Instant::now() + DEADLINE;
    let dropped = loop {
        read_for(&mut asker, Duration::from_millis(100), &mut seen);
        let n = notifies(&seen);
        if let Some(&v) = n[before..].iter().find(|&&v| v & MS_DELTA_DCD != 0) {
            break v;
        }
        assert!(
            Instant::now() < end,
            "no carrier-loss notification in {seen:?}"
        );
    };
    assert_eq!(dropped & MS_DCD, 0, "{dropped:#x}");
    // The plain client, which never asked, gets no such notification.
    let mut other = Vec::new();
    read_for(&mut plain, Duration::from_millis(300), &mut other);
    assert!(
        notifies(&other).iter().all(|v| v & MS_DELTA_DCD == 0),
        "{other:?}"
    );

    // The asking client leaves; the plain client keeps the session open, unpolled.
    drop(asker);
    let quiet = settled_calls(&counter);
    std::thread::sleep(QUIET);
    assert_eq!(calls(&counter), quiet, "still polled after the client left");
    plain.write_all(b"z").unwrap();
    assert_eq!(d.read_n(1), b"z", "the session stayed open");
}
