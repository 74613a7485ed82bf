//! rgetty answering a line of `rgetty-share modem`: a TCP caller → the virtual modem → rgetty →
//! the login program, three real binaries. Caller ID in each format reaches dialin.config,
//! `CALLER_ID` and `\Y`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// rgetty on a `rgetty-share modem` line, idle and waiting for calls. It answers at the second
/// RING: caller ID comes between the first and the second, as on a telephone line.
struct Line {
    h: Harness,
    port: u16,
    _getty: Kill,
    _modem: Kill,
}

fn line(caller_id: &str, dialin: Option<&str>) -> Line {
    line_with(caller_id, dialin, None)
}

/// [`line`] with a block list (`block-list blocks`) when `blocks` is given.
fn line_with(caller_id: &str, dialin: Option<&str>, blocks: Option<&str>) -> Line {
    let extra = if blocks.is_some() {
        "block-list blocks\n"
    } else {
        ""
    };
    let h = Harness::new(
        vmodem::Config::default(),
        &format!("{BASE_CONFIG}init-chat \"\" ATZ OK\nrings 2\n{extra}"),
    );
    if let Some(b) = blocks {
        std::fs::write(h.path("etc/blocks"), b).unwrap();
    }
    let rec = h.recorder("rec");
    h.login_config(&format!("* nobody - {} @ \\Y\n", rec.display()));
    if let Some(d) = dialin {
        std::fs::write(h.path("etc/dialin.config"), d).unwrap();
    }
    let port = free_port();
    let link = h.path("modem");
    let modem = share_modem(
        &link,
        &[
            "-p",
            &port.to_string(),
            "--caller-id",
            caller_id,
            "--ring-interval",
            "0.5",
        ],
    );
    let getty = Kill(
        Command::new(RGETTY)
            .args(h.args())
            .args(["--ring-timeout", "3"])
            .arg(&link)
            .stderr(std::fs::File::create(h.path("getty.err")).unwrap())
            .spawn()
            .unwrap(),
    );
    let l = Line {
        h,
        port,
        _getty: getty,
        _modem: modem,
    };
    l.wait_log("waiting...");
    l
}

impl Line {
    /// The getty's log (whatever file it chose in the log dir) and its stderr.
    fn log(&self) -> String {
        let mut s: String = std::fs::read_dir(self.h.path("log"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        s.push_str(&std::fs::read_to_string(self.h.path("getty.err")).unwrap_or_default());
        s
    }

    fn wait_log(&self, want: &str) {
        let end = Instant::now() + s(20.0);
        while !self.log().contains(want) {
            assert!(
                Instant::now() < end,
                "log never showed {want:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn call(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).unwrap()
    }
}

/// Everything the caller receives within `d` (or until `want` shows).
fn read_until(s: &mut TcpStream, want: &str, d: Duration) -> String {
    let end = Instant::now() + d;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while Instant::now() < end && !String::from_utf8_lossy(&got).contains(want) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn denied(caller_id: &str, dialin: &str) {
    let l = line(caller_id, Some(dialin));
    let mut c = l.call();
    l.wait_log("denied caller");
    let seen = read_until(&mut c, "login:", s(3.0));
    assert!(!seen.contains("login:"), "{seen:?}");
    assert!(!l.log().contains("send: ATA"), "{}", l.log());
}

#[test]
fn dialin_config_denying_127_0_0_1_leaves_the_call_unanswered() {
    denied("mgetty", "!127.0.0.1\nall\n");
}

#[test]
fn dialin_config_denies_unknown_callers_without_caller_id() {
    // --caller-id off: rgetty sees the caller ID `none`
    denied("off", "!none\nall\n");
}

fn answered(caller_id: &str, want_cid: &str) -> Vec<String> {
    let l = line(caller_id, Some("!10.\nall\n"));
    let mut c = l.call();
    let seen = read_until(&mut c, "login: ", s(20.0));
    assert!(seen.contains("login: "), "{seen:?}\n{}", l.log());
    c.write_all(b"eve\r").unwrap();
    let r = l.h.recorded("rec", s(20.0));
    assert!(has_env(&r, &format!("CALLER_ID={want_cid}")), "{r:?}");
    assert_eq!(field(&r, "argv2"), Some(want_cid), "\\Y: {r:?}");
    r
}

#[test]
fn all_allowed_the_login_program_sees_caller_id_127_0_0_1() {
    let r = answered("mgetty", "127.0.0.1");
    // NAME = the reverse-DNS name (or the address)
    assert!(
        r.iter()
            .any(|l| l.starts_with("env:CALLER_NAME=") && l.len() > 16),
        "{r:?}"
    );
}

#[test]
fn clip_caller_id_reaches_the_login_program() {
    // `+CLIP: "127.0.0.1",129,,,"NAME"`: the number is the quoted first field (mgetty kept
    // ` 127.0.0.1 ,129,,, NAME `), the name the fifth.
    let r = answered("clip", "127.0.0.1");
    assert!(
        r.iter()
            .any(|l| l.starts_with("env:CALLER_NAME=") && l.len() > 16),
        "{r:?}"
    );
}

#[test]
fn dialin_config_denying_127_0_0_1_in_clip_format() {
    denied("clip", "!127.0.0.1\nall\n");
}

#[test]
fn a_plus_plus_plus_b_reaches_the_getty_and_a_second_caller_is_busy() {
    let l = line("mgetty", None);
    let mut c = l.call();
    let seen = read_until(&mut c, "login: ", s(20.0));
    assert!(seen.contains("login: "), "{seen:?}\n{}", l.log());
    let mut second = l.call();
    assert_eq!(read_until(&mut second, "\n", s(5.0)), "BUSY\r\n");
    c.write_all(b"a+++b\r").unwrap();
    let r = l.h.recorded("rec", s(20.0));
    assert_eq!(field(&r, "argv1"), Some("a+++b"), "{r:?}");
}

/// A blocked caller of the virtual modem: picked up (`ATH1`) and dropped (`ATH0`) right after
/// the caller ID, before the second RING; the TCP caller sees its connection closed and never
/// a login prompt.
fn blocked(caller_id: &str) {
    let l = line_with(
        caller_id,
        None,
        Some("block 127.0.0.* loopback robocaller\n"),
    );
    let t0 = Instant::now();
    let mut c = l.call();
    let seen = read_until(&mut c, "login:", s(20.0));
    let took = t0.elapsed();
    assert!(!seen.contains("login:"), "{seen:?}");
    l.wait_log("blocked: on-hook again");
    let log = l.log();
    assert!(!log.contains("send: ATA"), "{log}");
    let ms: u64 = regex::Regex::new(r"on-hook again (\d+) ms")
        .unwrap()
        .captures(&log)
        .unwrap()[1]
        .parse()
        .unwrap();
    eprintln!("{caller_id}: on-hook {ms} ms after the caller ID; caller dropped after {took:?}");
    assert!(ms <= 1000, "{ms} ms");
    // dropped before the answer at the second RING (0.5 s apart) would have come
    assert!(took < s(15.0), "{took:?}");
    let end = Instant::now() + s(20.0);
    let calls = loop {
        let text = std::fs::read_to_string(l.h.path("log/calls.jsonl")).unwrap_or_default();
        if !text.is_empty() || Instant::now() > end {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(calls.contains("\"outcome\":\"blocked\""), "{calls}");
    assert!(
        calls.contains("blocks:1 (block 127.0.0.* \\\"loopback robocaller\\\")"),
        "{calls}"
    );
    assert!(calls.contains("\"caller_name\":\""), "{calls}");
}

#[test]
fn block_list_drops_a_caller_in_mgetty_format() {
    blocked("mgetty");
}

#[test]
fn block_list_drops_a_caller_in_clip_format() {
    blocked("clip");
}
