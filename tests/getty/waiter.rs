//! The idle wait in `rgetty-wait` (§4.3): the same pid waits in the small waiter and comes
//! back as rgetty for the line, its own lock file, SIGUSR1/SIGUSR2/SIGTERM; other lines' lock
//! files leave it asleep; without the waiter rgetty waits itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::*;
use nix::sys::signal::Signal;

fn harness() -> Harness {
    // later lines win: one ring answers
    let h = call_harness("rings 1\n");
    h.login_config("* - - /bin/false @\n");
    h
}

fn exe(pid: i32) -> PathBuf {
    fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default()
}

fn spawn_in_waiter() -> Harness {
    let mut h = harness();
    h.spawn_waiting(&[]);
    h.wait_in_waiter();
    h
}

/// The waiting getty is rgetty-wait under the same pid, named `rgetty` with its title; a
/// RING brings rgetty back (same pid), which answers; after the call it waits there again.
#[test]
fn the_waiting_getty_is_the_waiter_and_a_ring_brings_rgetty_back() {
    let mut h = spawn_in_waiter();
    let pid = h.pid();
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "rgetty");
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let title = String::from_utf8_lossy(cmdline.split(|&b| b == 0).next().unwrap()).to_string();
    assert_eq!(title, format!("rgetty: {} waiting", h.device));
    h.modem.set_caller(vmodem::type_at_prompt("\x04", s(10.0)));
    h.modem.ring(1, s(0.5), None);
    h.modem.wait_to_modem("ATA\r", s(15.0)).expect("ATA");
    assert_eq!(h.pid(), pid);
    assert_eq!(exe(pid).file_name().unwrap(), "rgetty", "{}", h.explain());
    // ^D at the prompt: the getty exits 0 (init restarts it); one start line in the log.
    assert_eq!(h.wait_exit(s(20.0)), Some(0), "{}", h.explain());
    assert_eq!(h.log().matches("start dev=").count(), 1, "{}", h.log());
}

/// The pause before ATA counts from the RING's arrival, which the waiter saw (its wake-up
/// time and the bytes then queued): the exec back overlaps the pause, and the modem still
/// gets at least the 50 ms of quiet after its RING that mgetty gives it.
#[test]
fn the_pause_before_ata_counts_from_the_ring_the_waiter_saw() {
    let h = spawn_in_waiter();
    h.modem.set_caller(vmodem::type_at_prompt("\x04", s(10.0)));
    let before = h.modem.to_modem_len();
    h.modem.ring(1, s(0.5), None);
    h.modem
        .wait_to_modem_after(before, "ATA\r", s(15.0))
        .expect("ATA");
    let t = h.modem.transcript();
    let ring = t
        .entries
        .iter()
        .rfind(|e| e.dir == vmodem::Dir::ToDte && e.bytes.windows(4).any(|w| w == b"RING"))
        .map(|e| e.at)
        .expect("a RING");
    let ata = t
        .entries
        .iter()
        .find(|e| e.dir == vmodem::Dir::ToModem && e.at > ring && e.bytes.starts_with(b"A"))
        .map(|e| e.at)
        .expect("ATA after the RING");
    assert!(
        ata - ring >= s(0.05),
        "ATA {:?} after the RING\n{}",
        ata - ring,
        h.explain()
    );
    // the waiter told rgetty what had come in when it woke: the whole RING line
    let log = h.log();
    let woke = regex::Regex::new(r"woke rgetty-wait .* ago with (\d+) bytes in").unwrap();
    let bytes: usize = woke
        .captures(&log)
        .unwrap_or_else(|| panic!("no wake-up backlog logged\n{log}"))[1]
        .parse()
        .unwrap();
    assert!(bytes >= b"RING\r\n".len(), "{bytes} bytes\n{log}");
    assert!(log.contains("quiet for"), "{log}");
}

/// SIGUSR1 in the waiter is a virtual ring: answered at once.
#[test]
fn sigusr1_in_the_waiter_is_a_virtual_ring() {
    let h = spawn_in_waiter();
    h.modem.set_caller(vec![CallerStep::Sleep(s(5.0))]);
    h.signal(Signal::SIGUSR1);
    h.modem.wait_to_modem("ATA\r", s(15.0)).expect("answered");
}

/// SIGTERM in the waiter ends the getty as in rgetty: exit 10, logged with the signal, the
/// pid file removed.
#[test]
fn sigterm_in_the_waiter_ends_the_getty() {
    let mut h = spawn_in_waiter();
    let pid_file = h.path(&format!("run/mgetty.pid.{}", h.dev_id()));
    assert!(pid_file.exists());
    h.signal(Signal::SIGTERM);
    assert_eq!(h.wait_exit(s(15.0)), Some(10), "{}", h.explain());
    assert!(h.log().contains("got signal 15"), "{}", h.log());
    assert!(!pid_file.exists());
}

/// SIGUSR2 in the waiter: exit 0 as while waiting in rgetty.
#[test]
fn sigusr2_in_the_waiter_exits_0() {
    let mut h = spawn_in_waiter();
    h.signal(Signal::SIGUSR2);
    assert_eq!(h.wait_exit(s(15.0)), Some(0), "{}", h.explain());
    assert!(h.log().contains("got signal USR2"), "{}", h.log());
}

/// Another line's lock file leaves the waiter asleep; this line's lock file (a live dial-out)
/// brings rgetty back, which steps aside for the dial-out.
#[test]
fn only_this_lines_lock_file_wakes_the_waiter() {
    let mut h = spawn_in_waiter();
    let pid = h.pid();
    let mut holder = Command::new("sleep")
        .arg("60")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    // A wrong wake-up would be back in the waiter within the second: count the resumes.
    let resumes = || h.log().matches("back from rgetty-wait").count();
    let before = resumes();
    let other = h.path("lock").join("LCK..ttyS99");
    fs::write(&other, format!("{:>10}\n", holder.id())).unwrap();
    std::thread::sleep(s(1.0));
    assert!(
        h.in_waiter() && resumes() == before,
        "woken by another line's lock\n{}",
        h.explain()
    );
    fs::write(h.lock_path(), format!("{:>10}\n", holder.id())).unwrap();
    h.wait_log("dialout in progress", s(15.0));
    assert!(
        resumes() > before,
        "the dial-out's lock did not resume rgetty"
    );
    assert_eq!(h.pid(), pid);
    holder.kill().unwrap();
    holder.wait().unwrap();
    let _ = fs::remove_file(h.lock_path());
    assert_eq!(h.wait_exit(s(20.0)), Some(0), "{}", h.explain());
}

/// Without rgetty-wait next to the binary, rgetty logs it once and waits itself: a ring is
/// answered.
#[test]
fn without_the_waiter_rgetty_waits_itself() {
    let mut h = harness();
    // a copy alone in its directory: no rgetty-wait next to it
    let (_bin, copy) = copy_for_any_user(RGETTY);
    h.spawn_prog(&copy, &[], &[]);
    h.wait_log(r"waiting\.\.\.", s(20.0));
    h.wait_log("cannot run .*rgetty-wait", s(5.0));
    std::thread::sleep(s(0.5));
    assert_eq!(exe(h.pid()), copy, "{}", h.explain());
    h.modem.set_caller(vmodem::type_at_prompt("\x04", s(10.0)));
    h.modem.ring(1, s(0.5), None);
    h.modem.wait_to_modem("ATA\r", s(15.0)).expect("ATA");
    assert_eq!(h.wait_exit(s(20.0)), Some(0), "{}", h.explain());
    assert_eq!(h.log().matches("cannot run").count(), 1, "{}", h.log());
}

/// SIGUSR1 sent in a tight loop from the moment the getty logs `waiting...` (it is then
/// usually in the waiter already) and across each exec back into rgetty: the getty is never
/// killed, and answers.
#[test]
fn sigusr1_storm_across_the_execs_never_kills_the_getty() {
    for _ in 0..3 {
        let mut h = harness();
        h.modem.set_caller(vec![CallerStep::Sleep(s(5.0))]);
        h.spawn_waiting(&[]);
        let pid = nix::unistd::Pid::from_raw(h.pid());
        let end = Instant::now() + s(1.5);
        while Instant::now() < end {
            let _ = nix::sys::signal::kill(pid, Signal::SIGUSR1);
            std::thread::sleep(s(0.0005));
        }
        h.modem.wait_to_modem("ATA\r", s(15.0)).expect("answered");
        let status = h.child.as_mut().unwrap().try_wait().unwrap();
        assert!(status.is_none(), "ended: {status:?}\n{}", h.explain());
        h.signal(Signal::SIGTERM);
        assert_eq!(h.wait_exit(s(15.0)), Some(10), "{}", h.explain());
    }
}

/// What a waiting line pays for (bench/getty): the waiter is `no_std` and links libc alone,
/// not libgcc_s (std's unwinder) or anything else; its checked `DT_NEEDED` entries, read with
/// `readelf -d`.
#[test]
fn the_waiter_links_libc_alone() {
    let waiter = env!("CARGO_BIN_EXE_rgetty-wait");
    let Ok(out) = Command::new("readelf").args(["-d", waiter]).output() else {
        println!("SKIP: readelf is not installed");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let needed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next())
        .collect();
    assert_eq!(needed, ["libc.so.6"], "{text}");
}
