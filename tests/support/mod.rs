//! The few helpers both test support modules (`tests/common`, `tests/share_util`) need:
//! included by each with `#[path]`, so that neither has its own copy.
#![allow(dead_code)]

use std::process::{Command, Stdio};

/// Whether `prog` is installed; if not, the test prints why (and then passes).
pub fn have(prog: &str) -> bool {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {prog}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("SKIP: {prog} is not installed");
    }
    ok
}

/// A loopback TCP port that was free a moment ago (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
