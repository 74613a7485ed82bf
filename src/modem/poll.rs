//! The modem's wait for I/O: a list of (token, fd, interest) and one `poll(2)` over it.
//!
//! The engine ([`super::line::ModemLine`]) only says what it wants ([`Registry::add`]) and when it
//! must next run ([`super::line::ModemLine::deadline`]); the driver ([`super::ModemServer::run`]) calls
//! [`Registry::poll`] and hands the readiness back. Swapping `poll(2)` for another event engine
//! touches only this file and the driver.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// Which fd became ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFd {
    /// The listening socket.
    Listener,
    /// The pty master.
    Master,
    /// The TCP connection of the call.
    Call,
    /// A caller waiting for the answer.
    Incoming,
    /// The wake-up socket (a dial or a name look-up finished).
    Wake,
}

/// What the engine wants from an fd.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Interest {
    /// Wake when readable.
    pub read: bool,
    /// Wake when writable.
    pub write: bool,
}

impl Interest {
    /// Readable only.
    pub const READ: Interest = Interest {
        read: true,
        write: false,
    };
}

/// What happened on an fd.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ready {
    /// Readable (or EOF).
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Hang-up or error (reported even without interest).
    pub hangup: bool,
}

/// The fds to wait on this round.
#[derive(Debug, Default)]
pub struct Registry<'a> {
    fds: Vec<(LineFd, BorrowedFd<'a>, Interest)>,
}

impl<'a> Registry<'a> {
    /// Wait on `fd` for `interest` (an empty interest still reports hang-ups).
    pub fn add(&mut self, token: LineFd, fd: BorrowedFd<'a>, interest: Interest) {
        self.fds.push((token, fd, interest));
    }

    /// Wait until an fd is ready or `timeout` passes (capped at 1 s); EINTR is no error.
    pub fn poll(&self, timeout: Duration) -> io::Result<Vec<(LineFd, Ready)>> {
        let mut fds: Vec<PollFd<'_>> = self
            .fds
            .iter()
            .map(|(_, fd, i)| {
                let mut f = PollFlags::empty();
                f.set(PollFlags::POLLIN, i.read);
                f.set(PollFlags::POLLOUT, i.write);
                PollFd::new(*fd, f)
            })
            .collect();
        let ms = u16::try_from(timeout.as_millis().min(1000)).unwrap_or(1000);
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        }
        let mut out = Vec::new();
        for (f, (token, _, _)) in fds.iter().zip(&self.fds) {
            let r = f.revents().unwrap_or(PollFlags::empty());
            if r.is_empty() {
                continue;
            }
            out.push((
                *token,
                Ready {
                    read: r.contains(PollFlags::POLLIN),
                    write: r.contains(PollFlags::POLLOUT),
                    hangup: r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR),
                },
            ));
        }
        Ok(out)
    }
}
