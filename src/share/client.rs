//! `rgetty-share connect`: the client side.
//!
//! - **Virtual COM port**: a pty whose slave gets a stable symlink (`--link`). The master runs
//!   in packet mode with `EXTPROC` on the slave, so when the local program changes the speed,
//!   data size, parity, stop bits or flow control, a `TIOCPKT_IOCTL` packet arrives and the
//!   change is forwarded as RFC 2217 SET-* requests. Setting the speed to 0 (hang up) drops
//!   DTR on the server's device, any other speed raises it again. The slave is kept open by us
//!   too, so the port outlives the program using it, and across reconnects.
//! - **Device bridge** (remserial's `-r host DEVICE`): a local tty, UUCP-locked, made raw,
//!   joined end to end with the server's device.
//!
//! The connection is re-established with exponential back-off.

use std::io::{self, ErrorKind};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::share::conf::PortMode;
use crate::share::transport::{Conn, TlsRole};
use crate::sys::lock::LockDir;
use crate::sys::tty;

mod handshake;
mod link;
mod local;
use link::session;
use local::open_local;

/// What the client presents locally.
#[derive(Debug, Clone)]
pub enum Local {
    /// A pty whose slave is reachable through `link`.
    Pty {
        /// The symlink to create (replaced if it is a symlink already).
        link: PathBuf,
        /// Owner, group and mode of the pty slave (`--owner`, `--group`, `--mode`).
        access: Access,
    },
    /// A real local device.
    Device {
        /// The device path.
        path: PathBuf,
        /// stty words applied after making it raw.
        stty: String,
    },
}

/// Who may open the virtual port: each `None` keeps what the pty got (the caller, group
/// `tty`, mode 0620). A setuid-uucp `cu` needs `--owner uucp` or a group and mode it is in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Access {
    /// Owner of the pty slave.
    pub uid: Option<nix::unistd::Uid>,
    /// Group of the pty slave.
    pub gid: Option<nix::unistd::Gid>,
    /// Mode of the pty slave.
    pub mode: Option<u32>,
}

/// Everything `connect` needs.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `HOST:PORT`.
    pub server: String,
    /// Raw or RFC 2217.
    pub mode: PortMode,
    /// The local side.
    pub local: Local,
    /// Lock directory for a local device.
    pub lock_dir: LockDir,
    /// Give up after this many failed connects in a row (0 = never).
    pub retries: u32,
    /// Longest wait between connect attempts.
    pub max_backoff: Duration,
    /// Exit when the server closes the connection.
    pub once: bool,
    /// Connect with TLS.
    pub tls: Option<TlsRole>,
}

/// A client failure.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A tty operation failed.
    #[error("{0}")]
    Tty(#[from] tty::Error),
    /// The local device is locked.
    #[error("{path} is {by}")]
    Locked {
        /// The device.
        path: PathBuf,
        /// Who holds it ([`crate::sys::lock::Holder::locked_by`]).
        by: String,
    },
    /// Locking failed.
    #[error("lock for {path}: {msg}")]
    Lock {
        /// The device.
        path: PathBuf,
        /// Why.
        msg: String,
    },
    /// The symlink could not be made.
    #[error("cannot create link {path}")]
    Link {
        /// The link path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The server could not be reached often enough.
    #[error("cannot connect to {server}: {msg}")]
    Connect {
        /// `HOST:PORT`.
        server: String,
        /// The last error.
        msg: String,
    },
    /// The local side failed.
    #[error("local side: {0}")]
    LocalIo(io::Error),
}

/// Run the client until SIGTERM (`term`), or until the retries are used up.
pub fn run(opts: &ConnectOptions, term: &AtomicBool) -> Result<(), ClientError> {
    let mut local = open_local(opts)?;
    let mut failures = 0u32;
    let mut backoff = Duration::from_secs(1);
    // The last failure logged: the same one again is not repeated.
    let mut last_failure = String::new();
    while !term.load(Ordering::Relaxed) {
        // A TLS handshake that fails or stalls is a failed attempt like a refused connect.
        let attempt = connect(&opts.server).and_then(|sock| {
            let mut c = Conn::new(OwnedFd::from(sock), opts.tls.as_ref())?;
            handshake::finish(&mut c)?;
            Ok(c)
        });
        match attempt {
            Ok(sock) => {
                last_failure.clear();
                failures = 0;
                backoff = Duration::from_secs(1);
                log::info!("connected to {}", opts.server);
                match session(opts, &mut local, sock, term) {
                    Ok(()) => log::info!("{}: connection closed", opts.server),
                    Err(SessionEnd::Local(e)) => return Err(ClientError::LocalIo(e)),
                    Err(SessionEnd::Net(e)) => log::warn!("{}: {e}", opts.server),
                }
                if opts.once {
                    return Ok(());
                }
            }
            Err(e) => {
                failures += 1;
                let msg = handshake::describe(&e, &opts.server);
                if opts.retries > 0 && failures >= opts.retries {
                    // The caller prints this one; a reason already logged is not repeated.
                    let msg = if msg == last_failure {
                        format!("{failures} failed attempts, the last as above")
                    } else {
                        msg
                    };
                    return Err(ClientError::Connect {
                        server: opts.server.clone(),
                        msg,
                    });
                }
                if msg != last_failure {
                    log::warn!("cannot connect to {}: {msg}", opts.server);
                    last_failure = msg;
                }
            }
        }
        let until = Instant::now() + backoff;
        while Instant::now() < until && !term.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        backoff = (backoff * 2).min(opts.max_backoff);
    }
    Ok(())
}

/// A TCP connection to `server` (`host:port`): each of its addresses in turn, 10 s each.
pub(crate) fn connect(server: &str) -> io::Result<TcpStream> {
    let mut last = io::Error::new(ErrorKind::NotFound, "no address");
    for a in server.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, Duration::from_secs(10)) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

enum SessionEnd {
    Local(io::Error),
    Net(io::Error),
}
