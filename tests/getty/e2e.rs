//! End to end: a TCP caller → `rgetty-share modem` (virtual modem on a pty) → `rgetty` →
//! the login program. Three real binaries, nothing simulated in-process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn read_until(s: &mut TcpStream, want: &str, timeout: Duration) -> String {
    let end = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while Instant::now() < end && !String::from_utf8_lossy(&got).contains(want) {
        if let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn tcp_caller_through_the_virtual_modem_reaches_the_login_program() {
    let h = Harness::new(
        vmodem::Config::default(),
        &format!("{BASE_CONFIG}init-chat \"\" ATZ OK\nrings 1\n"),
    );
    let rec = h.recorder("rec");
    h.login_config(&format!("* nobody - {} @ \\I \\Y\n", rec.display()));
    let port = free_port();
    let link = h.path("modem");
    let _modem = share_modem(&link, &["-p", &port.to_string()]);
    let _getty = Kill(
        Command::new(RGETTY)
            .args(h.args())
            .arg(&link)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Wait until rgetty is idle (its log says so), then call.
    let end = Instant::now() + Duration::from_secs(20);
    let log = || {
        std::fs::read_dir(h.path("log"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<String>()
    };
    while !log().contains("waiting...") && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(log().contains("waiting..."), "{}", log());
    let mut caller = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let seen = read_until(&mut caller, "login: ", Duration::from_secs(20));
    assert!(seen.contains("Welcome to"), "{seen:?}\n{}", log());
    caller.write_all(b"eve\r").unwrap();
    let r = h.recorded("rec", Duration::from_secs(20));
    assert_eq!(field(&r, "argv1"), Some("eve"));
    assert_eq!(field(&r, "argv2"), Some("38400"), "\\I = CONNECT speed");
    assert_eq!(
        field(&r, "argv3"),
        Some("127.0.0.1"),
        "\\Y = the caller's address"
    );
    assert_eq!(field(&r, "devtty"), Some("ok"));
}
