//! Waiting in a small process (§4.3): for the plain idle wait rgetty execs `rgetty-wait`
//! (installed next to it) in the same process, and is exec'd back with `--resume` when
//! something happens. The pid, the pid file, the state file, utmp, the line (its fd stays
//! open) and the lock dir's inotify watch all carry over; what the waiting line privately
//! owns while idle is the waiter's few pages instead of rgetty's heap, stack and relocated
//! data (bench/getty). The protocol is in [`crate::sys::waitproto`].
//!
//! Only the plain wait goes there: not with `blocking`, not while ring commands still run
//! (their exit must be reaped) or an RI edge is still on its way to rgetty. A line with an RI
//! pin hands the waiter the RI count rgetty has accounted for (`-ri=COUNT`).
//! If the waiter is missing or cannot be exec'd, one line is logged and rgetty waits itself.
//! Signals are blocked across both execs (mask and pending signals survive `execve`; a
//! caught signal would be back to its default there): none is lost, none is fatal.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::sys::inotify::Inotify;
use nix::sys::stat::Mode;

use crate::sys::tty;
use crate::sys::waitproto::{self, Reason, Resume};

use super::common::Getty;
use super::exit;
use super::line::{Line, Wake};

/// The waiter's file name, looked up next to rgetty's own executable.
pub const WAITER: &str = "rgetty-wait";

/// rgetty's own command line, without a `--resume` (set once by `main_with`).
static ARGS: OnceLock<Vec<String>> = OnceLock::new();
/// The waiter could not be exec'd once: wait in-process for the rest of this run.
static UNAVAILABLE: AtomicBool = AtomicBool::new(false);

/// Remember rgetty's command line for the waiter to exec it again with (a `--resume` the
/// waiter put after `argv[0]` is left out).
pub(super) fn remember_args(args: &[String]) {
    let mut v = args.to_vec();
    if v.get(1).is_some_and(|a| a.starts_with(waitproto::RESUME)) {
        v.remove(1);
    }
    let _ = ARGS.set(v);
}

/// `deadline` as absolute `CLOCK_MONOTONIC` ms (the clock of [`Instant`] on Linux), rounded up.
fn to_mono_ms(deadline: Instant) -> u64 {
    let left = deadline.saturating_duration_since(Instant::now());
    waitproto::now_ms() + u64::try_from(left.as_micros().div_ceil(1000)).unwrap_or(u64::MAX / 2)
}

/// A `CLOCK_MONOTONIC` time in µs ([`waitproto::now_us`]), past or future, as an [`Instant`].
fn mono_instant(us: u64) -> Instant {
    let (now_us, now) = (waitproto::now_us(), Instant::now());
    if us >= now_us {
        now + Duration::from_micros(us - now_us)
    } else {
        now.checked_sub(Duration::from_micros(now_us - us))
            .unwrap_or(now)
    }
}

/// Absolute monotonic ms as an [`Instant`].
fn from_mono_ms(ms: u64) -> Instant {
    mono_instant(ms.saturating_mul(1000))
}

fn set_cloexec(fd: BorrowedFd<'_>, on: bool) -> nix::Result<()> {
    let flags = if on {
        FdFlag::FD_CLOEXEC
    } else {
        FdFlag::empty()
    };
    fcntl(fd, FcntlArg::F_SETFD(flags)).map(drop)
}

/// The waiter next to our executable.
fn waiter_path() -> Option<PathBuf> {
    let exe = std::fs::read_link("/proc/self/exe").ok()?;
    Some(exe.parent()?.join(WAITER))
}

impl Getty {
    /// The deadline of the modem check for this wait: the one carried over a resume, or
    /// `modem-check-time` from now (none on direct lines or when it is off).
    pub(super) fn wait_deadline(&self, resumed: Option<&Resume>) -> Option<Instant> {
        if let Some(r) = resumed {
            return r.deadline_ms.map(from_mono_ms);
        }
        let check_modem = self.settings.modem_check_time_s >= 0 && !self.settings.direct;
        check_modem.then(|| {
            Instant::now() + Duration::from_secs(self.settings.modem_check_time_s.unsigned_abs())
        })
    }

    /// What ended the wait in the waiter, as the in-process wait would have seen it (the
    /// signal flags are set for the signals).
    pub(super) fn resumed_wake(&mut self, r: &Resume) -> Wake {
        match r.reason {
            Reason::Line => Wake::Readable,
            Reason::Ri => {
                // the edge that woke the waiter, at the time it did: a ring
                let at = r
                    .backlog
                    .map_or_else(Instant::now, |b| mono_instant(b.woke_us));
                self.rings.push_edge(at);
                Wake::Signal
            }
            Reason::Lock => Wake::Extra,
            Reason::Check => Wake::Timeout,
            Reason::Ring => {
                self.sig.usr1.store(true, Ordering::SeqCst);
                Wake::Signal
            }
            Reason::Exit => {
                self.sig.usr2.store(true, Ordering::SeqCst);
                Wake::Signal
            }
            Reason::Signal(n) => {
                self.sig
                    .term
                    .store(n.unsigned_abs() as usize, Ordering::SeqCst);
                Wake::Signal
            }
        }
    }

    /// Exec the waiter for this wait when it is the plain one; returns only when it is not
    /// used (then rgetty waits itself).
    pub(super) fn exec_waiter(&mut self, inotify: Option<&Inotify>, deadline: Option<Instant>) {
        // An RI edge queued, or (below) still on its way to the queue: wait here this time.
        if UNAVAILABLE.load(Ordering::SeqCst)
            || self.rings.commands.running() > 0
            || self.rings.ri_pending()
        {
            return;
        }
        let (Some(args), Some(path), Ok(line)) = (ARGS.get(), waiter_path(), self.line()) else {
            return;
        };
        // With an RI pin the waiter watches it from the count rgetty has accounted for.
        let ri = match &self.rings.ri {
            None => None,
            Some(w) => match tty::icount(line) {
                Ok(Some(c)) if c.rng == w.seen_count() => Some(c.rng),
                _ => return,
            },
        };
        let Ok(exe) = nix::fcntl::open("/proc/self/exe", OFlag::O_PATH, Mode::empty()) else {
            return;
        };
        let fds = (line.as_fd(), inotify.map(AsFd::as_fd), exe.as_fd());
        let argv = self.waiter_argv(fds, deadline, ri, args);
        let (Some(argv), Ok(cpath)) = (argv, CString::new(path.as_os_str().as_encoded_bytes()))
        else {
            return;
        };
        waitproto::mask_caught(libc::SIG_BLOCK);
        let flagged =
            self.sig.term_signal().is_some() || self.sig.usr2() || self.sig.virtual_ring();
        let kept = [Some(line.as_fd()), inotify.map(AsFd::as_fd)];
        let err = if flagged {
            None
        } else {
            for f in kept.iter().flatten() {
                let _ = set_cloexec(*f, false);
            }
            Some(nix::unistd::execv(&cpath, &argv).err())
        };
        // Still here: the waiter is not used; everything back as it was.
        for f in kept.iter().flatten() {
            let _ = set_cloexec(*f, true);
        }
        drop(exe);
        waitproto::mask_caught(libc::SIG_UNBLOCK);
        if let Some(e) = err.flatten() {
            log::warn!(
                "cannot run {}: {e}; waiting in rgetty itself",
                path.display()
            );
            UNAVAILABLE.store(true, Ordering::SeqCst);
        }
    }

    /// The waiter's command line (`sys::waitproto`) for the line, inotify and exe fds,
    /// or `None` when the waiter would refuse it: then rgetty waits itself.
    fn waiter_argv(
        &self,
        (line, inotify, exe): (BorrowedFd<'_>, Option<BorrowedFd<'_>>, BorrowedFd<'_>),
        deadline: Option<Instant>,
        ri: Option<u32>,
        args: &[String],
    ) -> Option<Vec<CString>> {
        let names: Vec<String> = self
            .locks
            .lock_names_for(&self.tty.path)
            .iter()
            .filter_map(|p| Some(p.file_name()?.to_str()?.to_string()))
            .collect();
        if !waitproto::names_ok(names.iter().map(String::as_bytes))
            || args.len() >= waitproto::MAX_ARGS
        {
            return None;
        }
        let fd = |f: BorrowedFd<'_>| {
            let n = f.as_raw_fd();
            waitproto::fd_ok(n).then(|| n.to_string())
        };
        let mut argv = vec![
            crate::ops::title::line_title(&self.tty.device, "waiting"),
            fd(line)?,
            match inotify {
                Some(i) => fd(i)?,
                None => "-".into(),
            },
            fd(exe)?,
            deadline.map_or("-".into(), |d| to_mono_ms(d).to_string()),
        ];
        argv.extend(ri.map(|c| format!("-ri={c}")));
        argv.extend(names);
        argv.push("--".into());
        argv.extend(args.iter().cloned());
        argv.into_iter().map(|a| CString::new(a).ok()).collect()
    }

    /// Back from the waiter (`--resume`): take the line and the inotify fd it kept open,
    /// then let the signals that came meanwhile in (the handlers are installed). The state
    /// to go on with, or the exit code for a `--resume` rgetty's waiter did not write.
    pub(super) fn resume(&mut self, value: &str) -> Result<(), i32> {
        let bad = |why: &str| {
            log::error!("bad --resume {value:?}: {why}");
            super::cli::eprintln_safe(&format!("rgetty: bad --resume {value:?}: {why}"));
            exit::USAGE
        };
        let r = waitproto::parse_resume(value).ok_or_else(|| bad("not the waiter's"))?;
        // SAFETY: F_GETFD only reads the flags of the numbers the waiter passed.
        let open = |n: i32| unsafe { libc::fcntl(n, libc::F_GETFD) } >= 0;
        if !open(r.line_fd) || !r.inotify_fd.is_none_or(open) {
            return Err(bad("fd not open"));
        }
        // Open (checked), and nothing else in this process owns it: the waiter passed it, and
        // nothing here has opened anything under that number.
        let line = tty::adopt_fd(r.line_fd).ok_or_else(|| bad("fd not open"))?;
        // A character device; not isatty: a line hung up during the exec fails every tty
        // ioctl, and the states after the wait must see that hang-up.
        if !tty::is_char_device(&line) {
            std::mem::forget(line);
            return Err(bad("not a character device"));
        }
        let _ = set_cloexec(line.as_fd(), true);
        let line = Line::new(line);
        if let Some(b) = r.backlog {
            let woke = mono_instant(b.woke_us);
            let ago = woke.elapsed();
            log::debug!(
                "the line woke {WAITER} {ago:?} ago with {} bytes in",
                b.bytes
            );
            line.set_backlog(woke, b.bytes as usize);
        }
        // the exec ended the RI watcher thread: a modem line with an RI pin gets a new one
        if !self.settings.direct {
            self.rings.watch_ri(&line, &self.sig, true);
        }
        self.line = Some(line);
        // As for the line: open (checked above), and owned by nobody else here.
        if let Some(ino) = r.inotify_fd.and_then(tty::adopt_fd) {
            let _ = set_cloexec(ino.as_fd(), true);
            // SAFETY: rgetty's own inotify instance, passed through the waiter.
            self.inotify = Some(unsafe { Inotify::from_owned_fd(ino) });
        }
        waitproto::mask_caught(libc::SIG_UNBLOCK);
        log::debug!("back from {WAITER}: {}", r.reason.word());
        self.resumed = Some(r);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_cross_the_exec() {
        let d = Instant::now() + Duration::from_secs(900);
        let back = from_mono_ms(to_mono_ms(d));
        let diff = if back > d { back - d } else { d - back };
        assert!(diff < Duration::from_millis(50), "{diff:?}");
        assert!(from_mono_ms(0) <= Instant::now());
    }
}
