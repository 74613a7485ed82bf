//! Two processes race for the same UUCP lock 1000 times: exactly one wins each round; and two
//! processes that name the same device differently (a symlink and its real path, the
//! upstream and the Debian scheme, a single-name dialer like cu or lockdev) never both win.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork, pipe};
use rgetty::sys::lock::{Lock, LockDir, LockError, Naming};

fn child(
    take: &dyn Fn() -> Result<Lock, LockError>,
    go: OwnedFd,
    res: OwnedFd,
    done: OwnedFd,
) -> ! {
    let mut go = std::fs::File::from(go);
    let mut res = std::fs::File::from(res);
    let mut done = std::fs::File::from(done);
    let mut b = [0u8; 1];
    let _ = go.read(&mut b);
    let code = match take() {
        Ok(l) => {
            l.keep();
            b'W'
        }
        Err(LockError::Held { .. }) => b'L',
        Err(_) => b'E',
    };
    let _ = res.write_all(&[code]);
    // Stay alive (holding the lock) until the parent has both answers.
    let _ = done.read(&mut b);
    // SAFETY: _exit in a forked child avoids running the test harness's atexit handlers.
    unsafe { libc::_exit(0) }
}

/// One round: both takers start at once; their answers, sorted (`b"LW"`, `b"LL"`, ...).
fn round(takers: [&dyn Fn() -> Result<Lock, LockError>; 2]) -> [u8; 2] {
    let (go_r, go_w) = pipe().unwrap();
    let (res_r, res_w) = pipe().unwrap();
    let (done_r, done_w) = pipe().unwrap();
    let mut pids = Vec::new();
    for take in takers {
        // SAFETY: the child only does file operations and _exit()s; it never returns
        // into the test harness.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => child(
                take,
                go_r.try_clone().unwrap(),
                res_w.try_clone().unwrap(),
                done_r.try_clone().unwrap(),
            ),
            ForkResult::Parent { child } => pids.push(child),
        }
    }
    // Every child inherits every pipe end, so the protocol uses bytes, never EOF.
    drop((go_r, res_w, done_r));
    // Release both children at once.
    std::fs::File::from(go_w).write_all(b"gg").unwrap();
    let mut answers = [0u8; 2];
    std::fs::File::from(res_r).read_exact(&mut answers).unwrap();
    answers.sort_unstable();
    std::fs::File::from(done_w).write_all(b"dd").unwrap();
    for p in pids {
        waitpid(p, None).unwrap();
    }
    answers
}

#[test]
fn two_processes_one_winner_each_round() {
    let d = tempfile::tempdir().unwrap();
    let ld = LockDir::new(d.path(), Naming::Debian);
    let lockf = d.path().join("LCK..race");
    let take = || ld.acquire_path(lockf.clone());
    for round_no in 0..1000 {
        let answers = round([&take, &take]);
        assert_eq!(&answers, b"LW", "round {round_no}: exactly one winner");
        std::fs::remove_file(&lockf).unwrap();
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            0,
            "no temp files left"
        );
    }
}

#[test]
fn two_processes_with_different_names_never_both_own_the_line() {
    let d = tempfile::tempdir().unwrap();
    let pty = rgetty::sys::tty::openpty().unwrap();
    let link = d.path().join("modem");
    std::os::unix::fs::symlink(&pty.slave_path, &link).unwrap();
    let locks = d.path().join("lock");
    std::fs::create_dir(&locks).unwrap();
    let up = LockDir::new(&locks, Naming::Upstream);
    let deb = LockDir::new(&locks, Naming::Debian);
    let svr4 = up
        .lock_names_for(&pty.slave_path)
        .into_iter()
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("LK."))
        .unwrap();
    // rgetty on the symlink (upstream) against pppd on the real path (Debian).
    let getty = || up.acquire(&link);
    let pppd = || deb.acquire(&pty.slave_path);
    // cu -l /dev/modem: one name only; lockdev: LK.x.y.z only.
    let cu = || up.acquire_path(locks.join("LCK..modem"));
    let lockdev = || up.acquire_path(svr4.clone());
    let ours_on_real = || deb.acquire(&pty.slave_path);
    let pairs: [[&dyn Fn() -> Result<Lock, LockError>; 2]; 3] =
        [[&getty, &pppd], [&cu, &getty], [&lockdev, &ours_on_real]];
    let mut wins = [0u32; 3];
    for round_no in 0..1000 {
        let which = round_no % 3;
        let answers = round(pairs[which]);
        assert_ne!(
            &answers, b"WW",
            "round {round_no} (pair {which}): two owners"
        );
        assert!(!answers.contains(&b'E'), "round {round_no}: error");
        if answers.contains(&b'W') {
            wins[which] += 1;
        }
        for e in std::fs::read_dir(&locks).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
    }
    // Somebody gets the line in most rounds of every pairing (both backing off is allowed).
    assert!(wins.iter().all(|&w| w > 0), "wins per pair: {wins:?}");
}
