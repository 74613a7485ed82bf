//! The open line: timed reads, writes and drains.
//!
//! Every wait is one [`Signals::wait`] on the line (and the lock dir's inotify fd while idle)
//! plus the self-pipe of [`crate::sys::wake`], with a deadline: a signal (SIGTERM, SIGUSR1, carrier
//! loss) or an RI edge ends any wait at once, and nothing wakes up while idle.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::PollFlags;

use crate::sys::wake::WaitEnd;
pub use crate::sys::wake::{IGNORED_SIGNALS, Signals, TERM_SIGNALS};

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
    /// Bytes that were already in when the waiter woke, and when that was (§4.3): they
    /// arrived no later than that, however late they are read.
    backlog: Cell<Option<(Instant, usize)>>,
    /// When the line last carried a byte either way (input: when it arrived, as far as known).
    last_io: Cell<Option<Instant>>,
}

impl AsFd for Line {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Line {
    /// Wrap an open tty fd.
    pub fn new(fd: OwnedFd) -> Line {
        Line {
            fd,
            backlog: Cell::new(None),
            last_io: Cell::new(None),
        }
    }

    /// The first `bytes` to be read arrived no later than `woke` (the waiter's wake-up).
    pub fn set_backlog(&self, woke: Instant, bytes: usize) {
        self.backlog.set((bytes > 0).then_some((woke, bytes)));
    }

    /// How long the line has carried nothing either way (`None`: nothing yet). The chat's
    /// pause before a send counts this time (§4.3).
    pub fn quiet_for(&self) -> Option<Duration> {
        self.last_io.get().map(|t| t.elapsed())
    }

    /// `n` bytes were read now: when the last of them arrived.
    fn note_read(&self, n: usize) {
        let now = Instant::now();
        let at = match self.backlog.get() {
            Some((woke, left)) if n <= left => {
                self.backlog.set((n < left).then_some((woke, left - n)));
                woke
            }
            _ => {
                self.backlog.set(None);
                now
            }
        };
        self.last_io.set(Some(at));
    }

    /// Give the fd back (for dup'ing onto stdio before exec).
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Wait until the line is readable, a signal (or an RI edge) wakes us, `extra` is
    /// readable, or the deadline passes. Nothing is read from the line.
    pub fn wait(
        &self,
        sig: &Signals,
        extra: Option<BorrowedFd<'_>>,
        deadline: Option<Instant>,
    ) -> io::Result<Wake> {
        // A terminating signal whose wake byte an earlier `sleep` drained (the prompt wait,
        // say) must still end this wait, not the login-time expiry minutes later.
        if sig.term_signal().is_some() {
            return Ok(Wake::Signal);
        }
        let mut fds = vec![self.fd.as_fd()];
        fds.extend(extra);
        Ok(match sig.wait(&fds, deadline)? {
            WaitEnd::Woken => Wake::Signal,
            WaitEnd::Timeout => Wake::Timeout,
            WaitEnd::Fd(0, ev) if ev.contains(PollFlags::POLLIN) => Wake::Readable,
            WaitEnd::Fd(0, _) => Wake::Hangup,
            WaitEnd::Fd(..) => Wake::Extra,
        })
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
                Ok(n) => {
                    if n > 0 {
                        self.note_read(n);
                    }
                    Ok(Some(n))
                }
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
                Ok(n) => {
                    bytes = &bytes[n..];
                    self.last_io.set(Some(Instant::now()));
                }
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
    sig.sleep(d);
}
