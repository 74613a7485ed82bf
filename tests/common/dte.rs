//! The DTE side of a pty, opened raw as a getty would, for the virtual-modem tests.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use regex::bytes::Regex;

/// The usual time-out of an expectation.
pub const T: Duration = Duration::from_secs(5);

/// The DTE side: the slave opened raw, as a getty would.
pub struct Dte {
    pub f: File,
    pub got: Vec<u8>,
}

impl Dte {
    pub fn open(path: &Path) -> Dte {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(path)
            .unwrap();
        let mut t = nix::sys::termios::tcgetattr(&f).unwrap();
        nix::sys::termios::cfmakeraw(&mut t);
        nix::sys::termios::tcsetattr(&f, nix::sys::termios::SetArg::TCSANOW, &t).unwrap();
        Dte { f, got: Vec::new() }
    }

    pub fn send(&mut self, b: &[u8]) {
        self.f.write_all(b).unwrap();
    }

    /// Read for up to `d`; returns Err(errno) on a read error, Ok(true) on EOF.
    pub fn read_for(&mut self, d: Duration) -> Result<bool, std::io::Error> {
        let deadline = Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            let mut fds = [PollFd::new(self.f.as_fd(), PollFlags::POLLIN)];
            let ms = u16::try_from(left.as_millis().min(1000)).unwrap();
            poll(&mut fds, PollTimeout::from(ms)).unwrap();
            let mut buf = [0u8; 4096];
            match self.f.read(&mut buf) {
                Ok(0) => return Ok(true),
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Wait until the unconsumed bytes match `re`; consume and return them up to the match end.
    pub fn expect(&mut self, re: &str) -> Vec<u8> {
        let rx = Regex::new(re).unwrap();
        let deadline = Instant::now() + T;
        loop {
            if let Some(m) = rx.find(&self.got) {
                let end = m.end();
                return self.got.drain(..end).collect();
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {re:?}; got {:?}",
                String::from_utf8_lossy(&self.got)
            );
            self.read_for(Duration::from_millis(50)).unwrap();
        }
    }

    /// Send a command line and wait for its final result.
    pub fn cmd(&mut self, line: &str, result: &str) -> String {
        self.send(format!("{line}\r").as_bytes());
        String::from_utf8_lossy(&self.expect(result)).into_owned()
    }
}
