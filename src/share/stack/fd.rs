//! The bottom of every stack: one non-blocking fd. A socket (TCP, an inherited inetd or
//! systemd socket, a unix socket) is written with `send(MSG_NOSIGNAL)`, anything else (a pty
//! master, a device) with `write`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use super::{Control, Layer};

#[derive(Debug)]
enum Source {
    Socket(TcpStream),
    File(std::fs::File),
}

/// The bottom layer over one fd.
#[derive(Debug)]
pub struct FdLayer {
    src: Source,
    /// The last read returned less than asked: the kernel buffer was empty.
    short: bool,
}

impl FdLayer {
    /// Take `fd` over and make it non-blocking. A socket gets `TCP_NODELAY` where it applies.
    pub fn new(fd: OwnedFd) -> io::Result<FdLayer> {
        let is_socket = nix::sys::stat::fstat(&fd)
            .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFSOCK)
            .unwrap_or(false);
        let src = if is_socket {
            // SAFETY: `fd` is an owned, open descriptor; the stream takes over its ownership.
            let s = unsafe { TcpStream::from_raw_fd(fd.into_raw_fd()) };
            s.set_nonblocking(true)?;
            let _ = s.set_nodelay(true);
            Source::Socket(s)
        } else {
            crate::sys::tty::set_nonblocking(&fd, true).map_err(io::Error::other)?;
            Source::File(std::fs::File::from(fd))
        };
        Ok(FdLayer { src, short: false })
    }
}

impl Layer for FdLayer {
    fn name(&self) -> &'static str {
        "fd"
    }

    fn below(&self) -> Option<&dyn Layer> {
        None
    }

    fn below_mut(&mut self) -> Option<&mut dyn Layer> {
        None
    }

    fn read(&mut self, buf: &mut [u8], _events: &mut Vec<Control>) -> io::Result<usize> {
        let n = match &mut self.src {
            Source::Socket(s) => s.read(buf)?,
            Source::File(f) => f.read(buf)?,
        };
        self.short = n < buf.len();
        Ok(n)
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match &mut self.src {
            Source::Socket(s) => s.write(data),
            Source::File(f) => f.write(data),
        }
    }

    fn drained(&self) -> bool {
        self.short
    }

    fn shutdown(&mut self) {
        if let Source::Socket(s) = &self.src {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn fd(&self) -> RawFd {
        match &self.src {
            Source::Socket(s) => s.as_raw_fd(),
            Source::File(f) => f.as_raw_fd(),
        }
    }

    fn peer(&self) -> SocketAddr {
        match &self.src {
            Source::Socket(s) => s.peer_addr().ok(),
            Source::File(_) => None,
        }
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    fn direct(&self) -> bool {
        true
    }
}

/// Stands in for a moment while [`super::Conn::push`] moves the stack under a new top.
#[derive(Debug)]
pub(super) struct Placeholder;

impl Layer for Placeholder {
    fn name(&self) -> &'static str {
        "none"
    }
    fn below(&self) -> Option<&dyn Layer> {
        None
    }
    fn below_mut(&mut self) -> Option<&mut dyn Layer> {
        None
    }
    fn read(&mut self, _buf: &mut [u8], _events: &mut Vec<Control>) -> io::Result<usize> {
        Ok(0)
    }
    fn write(&mut self, _data: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::NotConnected.into())
    }
}
