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

use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::share::conf::Mode;
use crate::share::engine::{Engine, Handler, Ready, Token};
use crate::share::stack::comport::control_of;
use crate::share::stack::{Control, LayerArgs, Side};
use crate::share::transport::{Conn, TlsRole};
use crate::sys::lock::LockDir;
use crate::sys::tty;

mod local;
use local::{LocalEnd, Sent, local_settings, open_local, settings_requests};

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
    pub mode: Mode,
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
    #[error("{path} is locked by pid {pid}")]
    Locked {
        /// The device.
        path: PathBuf,
        /// The holder.
        pid: i32,
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

const BUF_LIMIT: usize = 64 * 1024;
/// Replies and data queued towards the server before the connection counts as hostile.
const NET_CAP: usize = 256 * 1024;
/// Packet-mode status: the slave's input queue was flushed (`TIOCPKT_FLUSHREAD`).
const PKT_FLUSHREAD: u8 = 0x01;
/// Packet-mode status: the slave's output queue was flushed (`TIOCPKT_FLUSHWRITE`).
const PKT_FLUSHWRITE: u8 = 0x02;

/// Run the client until SIGTERM (`term`), or until the retries are used up.
pub fn run(opts: &ConnectOptions, term: &AtomicBool) -> Result<(), ClientError> {
    let mut local = open_local(opts)?;
    let mut failures = 0u32;
    let mut backoff = Duration::from_secs(1);
    while !term.load(Ordering::Relaxed) {
        match connect(&opts.server) {
            Ok(sock) => {
                let sock = match Conn::new(OwnedFd::from(sock), opts.tls.as_ref()) {
                    Ok(c) => c,
                    Err(e) => return Err(ClientError::LocalIo(e)),
                };
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
                log::warn!("cannot connect to {}: {e}", opts.server);
                if opts.retries > 0 && failures >= opts.retries {
                    return Err(ClientError::Connect {
                        server: opts.server.clone(),
                        msg: e.to_string(),
                    });
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

fn connect(server: &str) -> io::Result<TcpStream> {
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

/// Move bytes until the connection ends.
fn session(
    opts: &ConnectOptions,
    local: &mut LocalEnd,
    mut sock: Conn,
    term: &AtomicBool,
) -> Result<(), SessionEnd> {
    let rfc = opts.mode == Mode::Rfc2217;
    if rfc {
        let args = LayerArgs {
            side: Side::Client,
            tls: None,
        };
        sock.push("telnet", &args).map_err(SessionEnd::Net)?;
        sock.push("rfc2217", &args).map_err(SessionEnd::Net)?;
        sock.start().map_err(SessionEnd::Net)?;
    }
    let mut eng = Engine::new().map_err(SessionEnd::Local)?;
    eng.register(local.file.as_raw_fd(), LOCAL)
        .map_err(SessionEnd::Local)?;
    eng.register(sock.fd(), NET).map_err(SessionEnd::Net)?;
    let mut link = Link {
        rfc,
        local,
        sock,
        term,
        to_net: Vec::new(),
        to_local: Vec::new(),
        events: Vec::new(),
        sent: None,
        buf: vec![0u8; 64 * 1024],
        ready: [Ready {
            readable: true,
            writable: true,
            closed: false,
        }; 2],
        end: None,
    };
    if link.rfc {
        if let Some(s) = local_settings(&link.local.file) {
            link.send_settings(None, s);
            link.sent = Some(s);
        }
    }
    eng.add_timer(Instant::now(), 0);
    eng.run(&mut link).map_err(SessionEnd::Local)?;
    link.end.unwrap_or(Ok(()))
}

const LOCAL: Token = Token(0);
const NET: Token = Token(1);
/// How often `connect` looks at the stop flag.
const TERM_CHECK: Duration = Duration::from_millis(500);

/// One connection of `connect`: the local end and the server, on the engine.
struct Link<'a> {
    rfc: bool,
    local: &'a mut LocalEnd,
    sock: Conn,
    term: &'a AtomicBool,
    to_net: Vec<u8>,
    to_local: Vec<u8>,
    /// Control events of the last read from the server (logged by its RFC 2217 layer).
    events: Vec<Control>,
    sent: Option<Sent>,
    buf: Vec<u8>,
    /// Cached readiness of the local end and the socket.
    ready: [Ready; 2],
    end: Option<Result<(), SessionEnd>>,
}

impl Handler for Link<'_> {
    fn ready(&mut self, _eng: &mut Engine, t: Token, r: Ready) {
        let k = &mut self.ready[t.0.min(1)];
        k.readable |= r.readable;
        k.writable |= r.writable;
        k.closed |= r.closed;
    }

    fn timer(&mut self, eng: &mut Engine, key: u64) {
        eng.add_timer(Instant::now() + TERM_CHECK, key);
    }

    fn tick(&mut self, _eng: &mut Engine) -> bool {
        while self.end.is_none() && self.step() {}
        self.end.is_none() && !self.term.load(Ordering::Relaxed)
    }
}

/// Would block, or was interrupted: try again later.
fn again(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted)
}

impl Link<'_> {
    /// One round both ways; true when something moved.
    fn step(&mut self) -> bool {
        let mut moved = false;
        if self.ready[0].readable && self.to_net.len() < BUF_LIMIT {
            moved |= self.read_local();
        }
        if (self.ready[1].readable || self.sock.has_buffered()) && self.to_local.len() < BUF_LIMIT {
            moved |= self.read_net();
        }
        if self.to_net.len() + self.sock.held() > NET_CAP {
            // A hostile server: negotiation faster than we may answer it.
            self.end = Some(Err(SessionEnd::Net(io::Error::other(format!(
                "more than {NET_CAP} bytes of replies waiting (server not reading), dropped"
            )))));
            return false;
        }
        if let Err(e) = self.sock.flush() {
            self.end = Some(Err(SessionEnd::Net(e)));
            return false;
        }
        if self.ready[1].writable && !self.to_net.is_empty() {
            match self.sock.write(&self.to_net) {
                Ok(n) => {
                    self.to_net.drain(..n);
                    moved = true;
                }
                Err(e) if again(&e) => self.ready[1].writable = false,
                Err(e) => self.end = Some(Err(SessionEnd::Net(e))),
            }
        }
        if self.ready[0].writable && !self.to_local.is_empty() {
            match self.local.file.write(&self.to_local) {
                Ok(n) => {
                    self.to_local.drain(..n);
                    moved = true;
                }
                Err(e) if again(&e) => self.ready[0].writable = false,
                Err(e) => self.end = Some(Err(SessionEnd::Local(e))),
            }
        }
        moved
    }

    /// Local → net: data, and (packet mode) settings changes and flushes as RFC 2217.
    fn read_local(&mut self) -> bool {
        let room = BUF_LIMIT
            .saturating_sub(self.to_net.len())
            .min(self.buf.len());
        let n = match self.local.file.read(&mut self.buf[..room.max(1)]) {
            Ok(0) => {
                self.end = Some(Err(SessionEnd::Local(io::Error::other("end of file"))));
                return false;
            }
            Ok(n) => n,
            Err(e) if again(&e) => {
                self.ready[0].readable = false;
                return false;
            }
            Err(e) => {
                self.end = Some(Err(SessionEnd::Local(e)));
                return false;
            }
        };
        let (status, payload) = if self.local.packet {
            (self.buf[0], &self.buf[1..n])
        } else {
            (0, &self.buf[..n])
        };
        if status == 0 {
            self.to_net.extend_from_slice(payload);
        } else if self.rfc {
            self.local_status(status);
        }
        true
    }

    fn local_status(&mut self, status: u8) {
        if status & tty::PKT_IOCTL != 0 {
            if let Some(s) = local_settings(&self.local.file) {
                if self.sent != Some(s) {
                    log::info!(
                        "local settings changed: {} baud, {} bits, {:?}, {:?}",
                        s.params.baud,
                        s.params.data_bits,
                        s.params.parity,
                        s.params.stop_bits
                    );
                    self.send_settings(self.sent, s);
                    self.sent = Some(s);
                }
            }
        }
        if status & (PKT_FLUSHREAD | PKT_FLUSHWRITE) != 0 {
            // The local program flushed its queues (tcflush): purge the remote's.
            let q = match (status & PKT_FLUSHREAD != 0, status & PKT_FLUSHWRITE != 0) {
                (true, true) => tty::Queue::Both,
                (true, false) => tty::Queue::Input,
                _ => tty::Queue::Output,
            };
            self.control(Control::Purge(q));
        }
    }

    /// Send a control event to the server; a failure ends the connection.
    fn control(&mut self, c: Control) {
        if let Err(e) = self.sock.control(c) {
            self.end = Some(Err(SessionEnd::Net(e)));
        }
    }

    /// Forward the local settings that changed as RFC 2217 requests.
    fn send_settings(&mut self, old: Option<Sent>, new: Sent) {
        let mut reqs = Vec::new();
        settings_requests(old, new, &mut reqs);
        for m in &reqs {
            if let Some(c) = control_of(m) {
                self.control(c);
            }
        }
    }

    /// Net → local: data (its stack answers telnet negotiation and logs COM-PORT replies).
    fn read_net(&mut self) -> bool {
        self.events.clear();
        match self.sock.read_events(&mut self.buf, &mut self.events) {
            Ok(0) => {
                flush_local(self.local, &mut self.to_local);
                self.end = Some(Ok(()));
                false
            }
            Ok(n) => {
                self.to_local.extend_from_slice(&self.buf[..n]);
                true
            }
            // Only negotiation this time.
            Err(e) if e.kind() == ErrorKind::Interrupted => true,
            Err(e) if again(&e) => {
                self.ready[1].readable = false;
                false
            }
            Err(e) => {
                self.end = Some(Err(SessionEnd::Net(e)));
                false
            }
        }
    }
}

/// Best effort: hand what the server sent last to the local side before reconnecting.
fn flush_local(local: &mut LocalEnd, to_local: &mut Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !to_local.is_empty() && Instant::now() < deadline {
        match local.file.write(to_local) {
            Ok(n) => {
                to_local.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => break,
        }
    }
}
