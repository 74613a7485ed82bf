//! One getty per line: a second rgetty on a line that one serves says so on stderr and
//! exits, without touching the first one's state file, lock or call log.

use crate::common;

use std::fs;
use std::process::{Command, Stdio};

use common::*;

#[test]
fn a_second_rgetty_on_the_line_exits_naming_the_first() {
    let mut h = Harness::new(
        vmodem::Config::default(),
        &format!("{BASE_CONFIG}init-chat \"\" ATZ OK\n"),
    );
    h.spawn_waiting(&[]);
    let state_path = h.path(&format!("run/rgetty.state.{}", h.dev_id()));
    let state = fs::read_to_string(&state_path).unwrap();
    let calls = h.path("log/calls.jsonl");
    let calls_before = fs::read(&calls).ok();
    let out = Command::new(RGETTY)
        .args(h.args())
        .arg(format!("/dev/{}", h.device))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(30), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("already served by rgetty pid {}", h.pid())),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&state_path).unwrap(), state);
    assert_eq!(fs::read(&calls).ok(), calls_before);
    assert!(!h.lock_path().exists(), "the idle getty's line is unlocked");
    // the first one still answers its line as before: no dial-out was seen
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!h.log().contains("dialout"), "{}", h.log());
    assert!(state.contains("\"state\":\"waiting\""), "{state}");
}
