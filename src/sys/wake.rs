//! The one wake-up model of `rgetty` and `rgetty-ringd`: signals, timers and fds.
//!
//! Everything that can end a wait is turned into readiness of an fd, and every wait is one
//! `poll(2)` on those fds with the nearest deadline as its timeout:
//! - fds: the line, the inotify instance on the lock dir;
//! - signals: a handler (signal-hook) sets an atomic flag and writes one byte to a self-pipe;
//! - events that have no fd, from threads: the thread that blocks in `TIOCMIWAIT` (the only
//!   way to see RI edges) counts the edge and writes one byte to the same self-pipe
//!   ([`Waker`]);
//! - timers: the deadline of the poll (ring timeout, cadence silence, modem check).
//!
//! Nothing wakes while idle, and whoever waits checks the flags in a fixed order after each
//! wake-up: termination first, so a flood of rings can never delay SIGTERM.
//!
//! **Why a self-pipe and not signalfd.** signalfd only works if the signals are blocked in
//! every thread, and a blocked mask survives `fork` and `execve`: every child (the login
//! program, pppd, ring commands, cid-program) would start with SIGTERM, SIGHUP and SIGINT
//! blocked unless every spawn path remembered to unblock them, and a thread started before
//! the mask was set (or by a library) would still take the signal and kill us. The self-pipe
//! leaves the mask alone, needs no care at spawn time, and the same pipe also serves the
//! threads that wait where the kernel offers no fd (RI edges), so there is one model, not two.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, ppoll};
use nix::sys::time::TimeSpec;

/// Signal flags (set by handlers) and the self-pipe every wait polls.
#[derive(Debug, Default)]
pub struct Signals {
    /// SIGHUP (carrier loss once the line is our controlling tty; reload in rgetty-ringd).
    pub hup: Arc<AtomicBool>,
    /// SIGINT, SIGQUIT or SIGTERM: the number of the last one, 0 if none.
    pub term: Arc<AtomicUsize>,
    /// SIGUSR1: a virtual ring.
    pub usr1: Arc<AtomicBool>,
    /// SIGUSR2: exit when idle.
    pub usr2: Arc<AtomicBool>,
    /// SIGCHLD: a child ended (time to reap detached commands).
    pub chld: Arc<AtomicBool>,
    wake_r: Option<UnixStream>,
    wake_w: Option<UnixStream>,
}

/// Signals that end a process by default and end rgetty and rgetty-ringd cleanly here, like
/// SIGTERM: the current wait ends; the getty removes its lock, closes its utmp record and
/// exits 10; rgetty-ringd exits 0.
pub const TERM_SIGNALS: [i32; 7] = crate::sys::waitproto::TERM;

/// Signals that would end or stop the process by default but mean nothing to it (plus every
/// real-time signal but the thread interrupt of [`install_interrupt`]): caught by a handler
/// that does nothing. Unlike `SIG_IGN`, a caught signal is back to its default in every
/// program we exec. SIGKILL and SIGSTOP cannot be caught; SIGSEGV, SIGBUS, SIGILL, SIGFPE,
/// SIGTRAP and SIGSYS mean a bug or a debugger and keep their default (a core dump).
pub const IGNORED_SIGNALS: [i32; 9] = [
    libc::SIGALRM,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGPIPE,
    libc::SIGIO,
    libc::SIGSTKFLT,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
];

/// Wakes a [`Signals::wait`] from another thread (one byte on the self-pipe).
#[derive(Debug)]
pub struct Waker(UnixStream);

impl Waker {
    /// Wake the waiting thread. Never blocks: a full pipe already means "wake up".
    pub fn wake(&self) {
        let _ = (&self.0).write(b"w");
    }
}

/// What ended a [`Signals::wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEnd {
    /// A signal arrived or a [`Waker`] was used: check the flags.
    Woken,
    /// `fds[.0]` is ready with these events.
    Fd(usize, PollFlags),
    /// The deadline passed.
    Timeout,
}

/// The poll timeout until `deadline`, rounded up so a wait never ends a millisecond early and
/// spins.
pub fn timeout_until(deadline: Option<Instant>) -> PollTimeout {
    match deadline {
        None => PollTimeout::NONE,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            let ms = left.as_micros().div_ceil(1000);
            PollTimeout::try_from(u32::try_from(ms).unwrap_or(u32::MAX).min(i32::MAX as u32))
                .unwrap_or(PollTimeout::MAX)
        }
    }
}

impl Signals {
    /// Install the handlers: SIGHUP, SIGUSR1, SIGUSR2 and SIGCHLD set their flags,
    /// [`TERM_SIGNALS`] set the termination flag, [`IGNORED_SIGNALS`] and the real-time
    /// signals are caught and ignored. A handler only sets its flag and writes one byte to the
    /// self-pipe.
    pub fn install() -> io::Result<Signals> {
        use signal_hook::consts::{SIGCHLD, SIGHUP, SIGUSR1, SIGUSR2};
        let (r, w) = UnixStream::pair()?;
        r.set_nonblocking(true)?;
        w.set_nonblocking(true)?;
        let s = Signals {
            wake_r: Some(r),
            wake_w: Some(w.try_clone()?),
            ..Signals::default()
        };
        signal_hook::flag::register(SIGHUP, Arc::clone(&s.hup))?;
        signal_hook::flag::register(SIGUSR1, Arc::clone(&s.usr1))?;
        signal_hook::flag::register(SIGUSR2, Arc::clone(&s.usr2))?;
        signal_hook::flag::register(SIGCHLD, Arc::clone(&s.chld))?;
        for sig in TERM_SIGNALS {
            signal_hook::flag::register_usize(
                sig,
                Arc::clone(&s.term),
                sig.unsigned_abs() as usize,
            )?;
        }
        let own = [SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD];
        for sig in own.into_iter().chain(TERM_SIGNALS) {
            signal_hook::low_level::pipe::register(sig, w.try_clone()?)?;
        }
        let realtime = libc::SIGRTMIN()..=libc::SIGRTMAX();
        for sig in IGNORED_SIGNALS.into_iter().chain(realtime) {
            if sig != interrupt_signal() {
                catch_and_ignore(sig)?;
            }
        }
        Ok(s)
    }

    /// A [`Waker`] for a thread that has an event but no fd (the RI watcher).
    pub fn waker(&self) -> io::Result<Waker> {
        match &self.wake_w {
            Some(w) => Ok(Waker(w.try_clone()?)),
            None => Err(io::Error::other("signal handlers are not installed")),
        }
    }

    /// The termination signal received, if any.
    pub fn term_signal(&self) -> Option<i32> {
        match self.term.load(Ordering::SeqCst) {
            0 => None,
            n => i32::try_from(n).ok(),
        }
    }

    /// Whether SIGHUP arrived.
    pub fn hangup(&self) -> bool {
        self.hup.load(Ordering::SeqCst)
    }

    /// Whether SIGHUP arrives within `d` (or has already): when a tty is hung up the kernel
    /// wakes its readers with end of file a moment before it sends the session SIGHUP, so a
    /// reader that saw end of file waits this long to tell a hang-up from a plain end of input.
    pub fn wait_hangup(&self, d: Duration) -> bool {
        self.wait_while(d, || !self.hangup());
        self.hangup()
    }

    /// Forget an earlier SIGHUP (it is ignored while waiting).
    pub fn clear_hangup(&self) {
        self.hup.store(false, Ordering::SeqCst);
    }

    /// Whether SIGHUP arrived since the last call (and forget it).
    pub fn take_hangup(&self) -> bool {
        self.hup.swap(false, Ordering::SeqCst)
    }

    /// Whether SIGUSR1 (virtual ring) arrived.
    pub fn virtual_ring(&self) -> bool {
        self.usr1.load(Ordering::SeqCst)
    }

    /// Whether SIGUSR1 arrived since the last call (and forget it).
    pub fn take_virtual_ring(&self) -> bool {
        self.usr1.swap(false, Ordering::SeqCst)
    }

    /// Forget a virtual ring once its call is over, so that the next wait is not woken by it.
    pub fn clear_virtual_ring(&self) {
        self.usr1.store(false, Ordering::SeqCst);
    }

    /// Whether SIGCHLD arrived since the last call (and forget it).
    pub fn take_child_ended(&self) -> bool {
        self.chld.swap(false, Ordering::SeqCst)
    }

    /// Whether SIGUSR2 arrived.
    pub fn usr2(&self) -> bool {
        self.usr2.load(Ordering::SeqCst)
    }

    /// The read end of the self-pipe.
    pub fn wake_fd(&self) -> Option<BorrowedFd<'_>> {
        self.wake_r.as_ref().map(AsFd::as_fd)
    }

    /// Empty the self-pipe (the flags say what happened).
    pub fn drain_wake(&self) {
        if let Some(mut r) = self.wake_r.as_ref() {
            let mut b = [0u8; 64];
            while matches!(r.read(&mut b), Ok(n) if n > 0) {}
        }
    }

    /// Wait until one of `fds` is ready for `POLLIN`, a signal or a [`Waker`] wakes us, or the
    /// deadline passes. A wake-up wins over ready fds, so flags are always looked at first.
    pub fn wait(&self, fds: &[BorrowedFd<'_>], deadline: Option<Instant>) -> io::Result<WaitEnd> {
        loop {
            let mut pfds: Vec<PollFd<'_>> = fds
                .iter()
                .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
                .collect();
            let wake_idx = self.wake_fd().map(|w| {
                pfds.push(PollFd::new(w, PollFlags::POLLIN));
                pfds.len() - 1
            });
            // ppoll: the timeout to the nanosecond (poll's whole milliseconds, rounded up,
            // made every pause up to 1 ms long; the 50 ms before ATA is one, §4.3)
            let timeout =
                deadline.map(|d| TimeSpec::from(d.saturating_duration_since(Instant::now())));
            match ppoll(&mut pfds, timeout, None) {
                Err(Errno::EINTR) => {}
                Err(e) => return Err(io::Error::from(e)),
                Ok(0) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(WaitEnd::Timeout);
                    }
                }
                Ok(_) => {
                    let rev = |i: usize| pfds[i].revents().unwrap_or(PollFlags::empty());
                    if wake_idx.is_some_and(|i| !rev(i).is_empty()) {
                        self.drain_wake();
                        return Ok(WaitEnd::Woken);
                    }
                    if let Some(i) = (0..fds.len()).find(|&i| !rev(i).is_empty()) {
                        return Ok(WaitEnd::Fd(i, rev(i)));
                    }
                }
            }
        }
    }

    /// Sleep for `d` unless a termination signal arrives first.
    pub fn sleep(&self, d: Duration) {
        self.wait_while(d, || true);
    }

    /// Wait on the self-pipe for at most `d` while `pending()` holds and no termination
    /// signal has come.
    fn wait_while(&self, d: Duration, pending: impl Fn() -> bool) {
        let end = Instant::now() + d;
        while pending() && self.term_signal().is_none() && Instant::now() < end {
            if self.wait(&[], Some(end)).is_err() {
                return;
            }
        }
    }
}

/// The signal that interrupts a thread blocked in an ioctl (a real-time signal nobody else
/// uses, with a handler that does nothing and no `SA_RESTART`, so the ioctl returns EINTR).
fn interrupt_signal() -> libc::c_int {
    libc::SIGRTMIN() + 2
}

extern "C" fn ignore_interrupt(_: libc::c_int) {}

/// Catch `sig` with a handler that does nothing (SA_RESTART): ignored by us, but back to the
/// default in a program we exec. A plain `sigaction`, not signal-hook: its registry keeps a
/// slot per signal for the whole run (18 kB of heap for the 40 signals here, issue #21).
fn catch_and_ignore(sig: libc::c_int) -> io::Result<()> {
    // SAFETY: a zeroed sigaction is valid; the handler is async-signal-safe (does nothing).
    let r = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = ignore_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut())
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Install the handler of the thread-interrupt signal (idempotent).
pub fn install_interrupt() -> io::Result<()> {
    // SAFETY: a zeroed sigaction is valid; the handler is async-signal-safe (does nothing);
    // sa_flags has no SA_RESTART on purpose, so a blocked ioctl returns EINTR.
    let r = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = ignore_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(interrupt_signal(), &sa, std::ptr::null_mut())
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Interrupt `thread` if it is blocked in a system call ([`install_interrupt`] first).
pub fn interrupt(thread: &std::thread::JoinHandle<()>) {
    use std::os::unix::thread::JoinHandleExt;
    // SAFETY: the handle is live (not joined), so its pthread_t is valid.
    unsafe {
        libc::pthread_kill(thread.as_pthread_t(), interrupt_signal());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every signal whose default action ends or stops a process has exactly one fate: a
    /// meaning of its own, a clean end, ignored, uncatchable, or a fault (core dump).
    #[test]
    fn every_signal_has_one_fate() {
        let own = [libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2];
        let uncatchable = [libc::SIGKILL, libc::SIGSTOP];
        let faults = [
            libc::SIGILL,
            libc::SIGTRAP,
            libc::SIGBUS,
            libc::SIGFPE,
            libc::SIGSEGV,
            libc::SIGSYS,
        ];
        let harmless = [libc::SIGCHLD, libc::SIGCONT, libc::SIGURG, libc::SIGWINCH];
        for sig in 1..32 {
            let fates = [
                own.contains(&sig),
                TERM_SIGNALS.contains(&sig),
                IGNORED_SIGNALS.contains(&sig),
                uncatchable.contains(&sig),
                faults.contains(&sig),
                harmless.contains(&sig),
            ];
            assert_eq!(fates.iter().filter(|&&f| f).count(), 1, "signal {sig}");
        }
    }

    /// The waiter (`rgetty-wait`) ends the wait for the same signals, and every signal
    /// caught here is blocked across its execs.
    #[test]
    fn the_waiter_agrees_on_the_signals() {
        let own = [libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2];
        for sig in own.into_iter().chain(TERM_SIGNALS).chain(IGNORED_SIGNALS) {
            assert!(crate::sys::waitproto::caught(sig), "signal {sig}");
        }
        assert!(crate::sys::waitproto::caught(interrupt_signal()));
    }

    #[test]
    fn a_waker_ends_a_wait_and_a_deadline_ends_it_too() {
        let (r, w) = UnixStream::pair().unwrap();
        r.set_nonblocking(true).unwrap();
        let s = Signals {
            wake_r: Some(r),
            wake_w: Some(w),
            ..Signals::default()
        };
        let waker = s.waker().unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            waker.wake();
        });
        let ready = s.wait(&[], Some(Instant::now() + Duration::from_secs(10)));
        assert_eq!(ready.unwrap(), WaitEnd::Woken);
        t.join().unwrap();
        let t0 = Instant::now();
        let ready = s.wait(&[], Some(t0 + Duration::from_millis(30)));
        assert_eq!(ready.unwrap(), WaitEnd::Timeout);
        assert!(t0.elapsed() >= Duration::from_millis(30));
    }
}
