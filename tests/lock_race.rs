//! Two processes race for the same UUCP lock 1000 times: exactly one wins each round.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork, pipe};
use rgetty::lock::{LockDir, LockError, Naming};

fn child(ld: &LockDir, lockf: &std::path::Path, go: OwnedFd, res: OwnedFd, done: OwnedFd) -> ! {
    let mut go = std::fs::File::from(go);
    let mut res = std::fs::File::from(res);
    let mut done = std::fs::File::from(done);
    let mut b = [0u8; 1];
    let _ = go.read(&mut b);
    let code = match ld.acquire_path(lockf.to_path_buf()) {
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

#[test]
fn two_processes_one_winner_each_round() {
    let d = tempfile::tempdir().unwrap();
    let ld = LockDir::new(d.path(), Naming::Debian);
    let lockf = d.path().join("LCK..race");
    for round in 0..1000 {
        let (go_r, go_w) = pipe().unwrap();
        let (res_r, res_w) = pipe().unwrap();
        let (done_r, done_w) = pipe().unwrap();
        let mut pids = Vec::new();
        for _ in 0..2 {
            // SAFETY: the child only does file operations and _exit()s; it never returns
            // into the test harness.
            match unsafe { fork() }.unwrap() {
                ForkResult::Child => child(
                    &ld,
                    &lockf,
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
        assert_eq!(&answers, b"LW", "round {round}: exactly one winner");
        std::fs::File::from(done_w).write_all(b"dd").unwrap();
        for p in pids {
            waitpid(p, None).unwrap();
        }
        std::fs::remove_file(&lockf).unwrap();
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            0,
            "no temp files left"
        );
    }
}
