//! The open line plus the signal wake-up pipe: timed reads, writes and drains.
//!
//! Every wait is a `poll(2)` on the line and the signal pipe with a deadline, so a signal
//! (SIGTERM, SIGUSR1, carrier loss) ends any wait at once and nothing wakes up while idle.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// Flags set by signal handlers (signal-hook), read by the getty.
#[derive(Debug, Default)]
pub struct Signals {
    /// SIGHUP (carrier loss once the line is our controlling tty).
    pub hup: Arc<AtomicBool>,
    /// SIGINT, SIGQUIT or SIGTERM: the number of the last one, 0 if none.
    pub term: Arc<std::sync::atomic::AtomicUsize>,
    /// SIGUSR1: virtual ring (never cleared, as in mgetty).
    pub usr1: Arc<AtomicBool>,
    /// SIGUSR2: exit when idle.
    pub usr2: Arc<AtomicBool>,
    wake_r: Option<UnixStream>,
}

/// Signals that end a process by default and end the getty cleanly here, like SIGTERM: the
/// current wait ends, the lock is removed, the utmp record closed, exit 10.
pub const TERM_SIGNALS: [i32; 7] = [
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    libc::SIGPWR,
    libc::SIGABRT,
];

/// Signals that would end or stop the getty by default but mean nothing to it (plus every
/// real-time signal): caught by a handler that does nothing. Unlike `SIG_IGN`, a caught
/// signal is back to its default in every program the getty execs. SIGKILL and SIGSTOP
/// cannot be caught; SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP and SIGSYS mean a bug or a
/// debugger and keep their default (a core dump).
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

impl Signals {
    /// Install the handlers. SIGHUP only sets a flag: it is ignored while waiting, as in mgetty.
    /// [`TERM_SIGNALS`] end the getty cleanly, [`IGNORED_SIGNALS`] and the real-time signals
    /// are ignored.
    pub fn install() -> io::Result<Signals> {
        use signal_hook::consts::{SIGHUP, SIGUSR1, SIGUSR2};
        let (r, w) = UnixStream::pair()?;
        r.set_nonblocking(true)?;
        w.set_nonblocking(true)?;
        let s = Signals {
            wake_r: Some(r),
            ..Signals::default()
        };
        signal_hook::flag::register(SIGHUP, Arc::clone(&s.hup))?;
        signal_hook::flag::register(SIGUSR1, Arc::clone(&s.usr1))?;
        signal_hook::flag::register(SIGUSR2, Arc::clone(&s.usr2))?;
        for sig in TERM_SIGNALS {
            signal_hook::flag::register_usize(
                sig,
                Arc::clone(&s.term),
                sig.unsigned_abs() as usize,
            )?;
        }
        for sig in [SIGHUP, SIGUSR1, SIGUSR2].into_iter().chain(TERM_SIGNALS) {
            signal_hook::low_level::pipe::register(sig, w.try_clone()?)?;
        }
        let ignored = Arc::new(AtomicBool::new(false));
        let realtime = libc::SIGRTMIN()..=libc::SIGRTMAX();
        for sig in IGNORED_SIGNALS.into_iter().chain(realtime) {
            signal_hook::flag::register(sig, Arc::clone(&ignored))?;
        }
        Ok(s)
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

    /// Forget an earlier SIGHUP (it is ignored while waiting).
    pub fn clear_hangup(&self) {
        self.hup.store(false, Ordering::SeqCst);
    }

    /// Whether SIGUSR1 (virtual ring) arrived.
    pub fn virtual_ring(&self) -> bool {
        self.usr1.load(Ordering::SeqCst)
    }

    /// Forget a virtual ring once its call is over, so that the next wait is not woken by it.
    pub fn clear_virtual_ring(&self) {
        self.usr1.store(false, Ordering::SeqCst);
    }

    /// Whether SIGUSR2 arrived.
    pub fn usr2(&self) -> bool {
        self.usr2.load(Ordering::SeqCst)
    }

    fn wake_fd(&self) -> Option<BorrowedFd<'_>> {
        self.wake_r.as_ref().map(AsFd::as_fd)
    }

    fn drain_wake(&self) {
        if let Some(mut r) = self.wake_r.as_ref() {
            let mut b = [0u8; 64];
            while matches!(r.read(&mut b), Ok(n) if n > 0) {}
        }
    }
}

/// What ended a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The line has data.
    Readable,
    /// The line hung up (POLLHUP/POLLERR).
    Hangup,
    /// A signal arrived.
    Signal,
    /// An extra fd became readable.
    Extra,
    /// The deadline passed.
    Timeout,
}

/// The open line.
#[derive(Debug)]
pub struct Line {
    fd: OwnedFd,
}

impl AsFd for Line {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn timeout_until(deadline: Option<Instant>) -> PollTimeout {
    match deadline {
        None => PollTimeout::NONE,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            // Round up so we never wake a millisecond early and spin.
            let ms = left.as_micros().div_ceil(1000);
            PollTimeout::try_from(u32::try_from(ms).unwrap_or(u32::MAX).min(i32::MAX as u32))
                .unwrap_or(PollTimeout::MAX)
        }
    }
}

impl Line {
    /// Wrap an open tty fd.
    pub fn new(fd: OwnedFd) -> Line {
        Line { fd }
    }

    /// Give the fd back (for dup'ing onto stdio before exec).
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Wait until the line is readable, a signal arrives, `extra` is readable, or the deadline
    /// passes. Nothing is read from the line.
    pub fn wait(
        &self,
        sig: &Signals,
        extra: Option<BorrowedFd<'_>>,
        deadline: Option<Instant>,
    ) -> io::Result<Wake> {
        loop {
            // On the stack: no allocation between the idle trim and the wait (see idle.rs).
            let line = PollFd::new(self.fd.as_fd(), PollFlags::POLLIN);
            let mut fds = [line.clone(), line.clone(), line];
            let mut n = 1;
            if let Some(w) = sig.wake_fd() {
                fds[n] = PollFd::new(w, PollFlags::POLLIN);
                n += 1;
            }
            let extra_idx = extra.map(|e| {
                fds[n] = PollFd::new(e, PollFlags::POLLIN);
                n += 1;
                n - 1
            });
            let fds = &mut fds[..n];
            match poll(fds, timeout_until(deadline)) {
                Err(Errno::EINTR) => {}
                Err(e) => return Err(io::Error::from(e)),
                Ok(0) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(Wake::Timeout);
                    }
                }
                Ok(_) => {
                    let rev = |i: usize| fds[i].revents().unwrap_or(PollFlags::empty());
                    if fds.len() > 1 && sig.wake_fd().is_some() && !rev(1).is_empty() {
                        sig.drain_wake();
                        return Ok(Wake::Signal);
                    }
                    let l = rev(0);
                    if l.contains(PollFlags::POLLIN) {
                        return Ok(Wake::Readable);
                    }
                    if l.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL) {
                        return Ok(Wake::Hangup);
                    }
                    if let Some(i) = extra_idx {
                        if !rev(i).is_empty() {
                            return Ok(Wake::Extra);
                        }
                    }
                }
            }
        }
    }

    /// Read what is there (at most `buf.len()` bytes) once the line is readable, waiting until
    /// the deadline. `Ok(None)` on timeout or signal; `Ok(Some(0))` on hang-up/EOF.
    pub fn read_until(
        &self,
        sig: &Signals,
        buf: &mut [u8],
        deadline: Option<Instant>,
    ) -> io::Result<Option<usize>> {
        match self.wait(sig, None, deadline)? {
            Wake::Readable => match nix::unistd::read(&self.fd, buf) {
                Ok(n) => Ok(Some(n)),
                Err(Errno::EAGAIN | Errno::EINTR) => Ok(None),
                Err(Errno::EIO) => Ok(Some(0)),
                Err(e) => Err(io::Error::from(e)),
            },
            Wake::Hangup => Ok(Some(0)),
            Wake::Signal | Wake::Timeout | Wake::Extra => Ok(None),
        }
    }

    /// Write all bytes (the line is in blocking mode).
    pub fn write_all(&self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match nix::unistd::write(&self.fd, bytes) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => bytes = &bytes[n..],
                Err(Errno::EINTR) => {}
                Err(e) => return Err(io::Error::from(e)),
            }
        }
        Ok(())
    }

    /// Read and discard input until the line has been silent for `silence` (mgetty's
    /// "clean line"), but at most until `max`. Returns the bytes discarded.
    pub fn drain_silence(&self, sig: &Signals, silence: Duration, max: Duration) -> Vec<u8> {
        let end = Instant::now() + max;
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        loop {
            let quiet_until = (Instant::now() + silence).min(end);
            match self.read_until(sig, &mut buf, Some(quiet_until)) {
                Ok(Some(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                Ok(None) if sig.term_signal().is_some() => return got,
                Ok(None) if Instant::now() < quiet_until => {} // a signal we ignore here
                _ => return got,
            }
            if Instant::now() >= end {
                return got;
            }
        }
    }
}

/// Sleep for `d` unless a termination signal arrives first.
pub fn sleep(sig: &Signals, d: Duration) {
    let end = Instant::now() + d;
    while sig.term_signal().is_none() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let mut fds = Vec::new();
        if let Some(w) = sig.wake_fd() {
            fds.push(PollFd::new(w, PollFlags::POLLIN));
        }
        let _ = poll(&mut fds, timeout_until(Some(end)));
        sig.drain_wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every signal whose default action ends or stops a process has exactly one fate in the
    /// getty: a meaning of its own, a clean end, ignored, uncatchable, or a fault (core dump).
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
}
