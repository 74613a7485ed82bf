//! Direct lines (`-r` / `direct y`): no modem chat, no RING wait; the first byte from the
//! terminal leads straight to the issue and the login prompt, with CONNECT = DIRECT.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::*;

/// Read the pty master until `want` shows or `timeout` passes; everything read.
pub(crate) fn read_until(m: &mut fs::File, want: &str, timeout: Duration) -> String {
    let end = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    rgetty::sys::tty::set_nonblocking(&*m, true).unwrap();
    while Instant::now() < end {
        match m.read(&mut buf) {
            Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
        if String::from_utf8_lossy(&got).contains(want) {
            break;
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn direct_line_goes_straight_to_the_prompt() {
    // A plain pty: the test is the terminal on the master side.
    let pty = rgetty::sys::tty::openpty().unwrap();
    let h = Harness::new(vmodem::Config::default(), BASE_CONFIG);
    let rec = h.recorder("rec");
    h.login_config(&format!("* - - {} @ \\I\n", rec.display()));
    fs::set_permissions(h.dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let mut child = std::process::Command::new(RGETTY)
        .args(h.args())
        .arg("-r")
        .arg(&pty.slave_path)
        .spawn()
        .unwrap();
    drop(pty.slave);
    let mut m = fs::File::from(pty.master);
    // Nothing is sent to a direct line before the caller types.
    std::thread::sleep(Duration::from_millis(1500));
    let quiet = read_until(&mut m, "\u{0}", Duration::from_millis(300));
    assert!(
        quiet.is_empty(),
        "no modem chat on a direct line: {quiet:?}"
    );
    m.write_all(b"\r").unwrap();
    let seen = read_until(&mut m, "login: ", Duration::from_secs(10));
    assert!(seen.contains("Welcome to"), "{seen:?}");
    m.write_all(b"carol\r").unwrap();
    let r = h.recorded("rec", Duration::from_secs(20));
    assert_eq!(field(&r, "argv1"), Some("carol"));
    assert_eq!(field(&r, "argv2"), Some("DIRECT"), "\\I is DIRECT");
    assert!(has_env(&r, "CONNECT=DIRECT"));
    let _ = child.kill();
    let _ = child.wait();
}
