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
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{ControlFlags, InputFlags};

use crate::lock::{Lock, LockDir, LockError};
use crate::share::conf::Mode;
use crate::share::transport::{Conn, TlsRole};
use crate::telnet::{self, ComPort, Decoder, Event, Options, opt, rfc2217};
use crate::tty;

/// What the client presents locally.
#[derive(Debug, Clone)]
pub enum Local {
    /// A pty whose slave is reachable through `link`.
    Pty {
        /// The symlink to create (replaced if it is a symlink already).
        link: PathBuf,
    },
    /// A real local device.
    Device {
        /// The device path.
        path: PathBuf,
        /// stty words applied after making it raw.
        stty: String,
    },
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
    #[error("cannot create link {path}: {source}")]
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

/// The local end, opened once for the whole run.
struct LocalEnd {
    /// The fd we read and write (pty master or device).
    file: std::fs::File,
    /// The pty slave we hold open (pty mode).
    _slave: Option<OwnedFd>,
    packet: bool,
    link: Option<PathBuf>,
    saved: Option<nix::sys::termios::Termios>,
    _lock: Option<Lock>,
}

impl Drop for LocalEnd {
    fn drop(&mut self) {
        if let Some(l) = &self.link {
            let _ = std::fs::remove_file(l);
        }
        if let Some(t) = &self.saved {
            let _ = tty::set_termios(&self.file, t);
        }
    }
}

fn make_link(target: &Path, link: &Path) -> Result<(), ClientError> {
    let err = |source| ClientError::Link {
        path: link.to_path_buf(),
        source,
    };
    if let Ok(m) = std::fs::symlink_metadata(link) {
        if !m.file_type().is_symlink() {
            return Err(err(io::Error::new(
                ErrorKind::AlreadyExists,
                "exists and is not a symlink",
            )));
        }
    }
    let tmp = link.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(err)?;
    std::fs::rename(&tmp, link).map_err(err)
}

fn open_local(opts: &ConnectOptions) -> Result<LocalEnd, ClientError> {
    match &opts.local {
        Local::Pty { link } => {
            let pty = tty::openpty()?;
            tty::set_extproc(&pty.slave, true)?;
            tty::set_packet_mode(&pty.master, true)?;
            tty::set_nonblocking(&pty.master, true)?;
            make_link(&pty.slave_path, link)?;
            log::info!(
                "virtual port {} -> {}",
                link.display(),
                pty.slave_path.display()
            );
            Ok(LocalEnd {
                file: std::fs::File::from(pty.master),
                _slave: Some(pty.slave),
                packet: true,
                link: Some(link.clone()),
                saved: None,
                _lock: None,
            })
        }
        Local::Device { path, stty } => {
            let lock = match opts.lock_dir.acquire(path) {
                Ok(l) => l,
                Err(LockError::Held { holder, .. }) => {
                    return Err(ClientError::Locked {
                        path: path.clone(),
                        pid: holder.pid,
                    });
                }
                Err(e) => {
                    return Err(ClientError::Lock {
                        path: path.clone(),
                        msg: e.to_string(),
                    });
                }
            };
            let fd = tty::open_line(path, false)?;
            let saved = tty::get_termios(&fd).ok();
            tty::set_raw(&fd)?;
            if !stty.is_empty() {
                tty::apply_stty(&fd, stty)?;
            }
            tty::set_nonblocking(&fd, true)?;
            log::info!("bridging {}", path.display());
            Ok(LocalEnd {
                file: std::fs::File::from(fd),
                _slave: None,
                packet: false,
                link: None,
                saved,
                _lock: Some(lock),
            })
        }
    }
}

/// The settings last sent to the server, to forward changes only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    params: tty::SerialParams,
    flow: u8,
    hangup: bool,
}

fn local_settings(fd: impl AsFd) -> Option<Sent> {
    let fd = fd.as_fd();
    let t = tty::get_termios(fd).ok()?;
    let params = tty::get_params(fd).ok()?;
    let flow = if t.control_flags.contains(ControlFlags::CRTSCTS) {
        rfc2217::CONTROL_FLOW_HARDWARE
    } else if t.input_flags.contains(InputFlags::IXON) && t.input_flags.contains(InputFlags::IXOFF)
    {
        rfc2217::CONTROL_FLOW_XONXOFF
    } else {
        rfc2217::CONTROL_FLOW_NONE
    };
    Some(Sent {
        hangup: params.baud == 0,
        params,
        flow,
    })
}

/// The RFC 2217 requests that take the server from `old` (None = unknown) to `new`.
fn settings_requests(old: Option<Sent>, new: Sent, out: &mut Vec<u8>) {
    let changed = |f: &dyn Fn(&Sent) -> bool| old.is_none_or(|o| f(&o) != f(&new));
    let p = new.params;
    if p.baud != 0 && old.is_none_or(|o| o.params.baud != p.baud) {
        ComPort::SetBaudrate(p.baud).encode(false, out);
    }
    if old.is_none_or(|o| o.params.data_bits != p.data_bits) {
        ComPort::SetDatasize(p.data_bits).encode(false, out);
    }
    if old.is_none_or(|o| o.params.parity != p.parity) {
        ComPort::SetParity(rfc2217::parity_code(p.parity)).encode(false, out);
    }
    if old.is_none_or(|o| o.params.stop_bits != p.stop_bits) {
        ComPort::SetStopsize(rfc2217::stop_code(p.stop_bits)).encode(false, out);
    }
    if old.is_none_or(|o| o.flow != new.flow) {
        ComPort::SetControl(new.flow).encode(false, out);
    }
    if changed(&|s: &Sent| s.hangup) {
        let v = if new.hangup {
            rfc2217::CONTROL_DTR_OFF
        } else {
            rfc2217::CONTROL_DTR_ON
        };
        ComPort::SetControl(v).encode(false, out);
        if old.is_none() {
            ComPort::SetControl(rfc2217::CONTROL_RTS_ON).encode(false, out);
        }
    }
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
    let mut to_net: Vec<u8> = Vec::new();
    let mut to_local: Vec<u8> = Vec::new();
    let mut dec = Decoder::new();
    let mut tn = Options::new(
        &[opt::BINARY, opt::SGA, opt::COM_PORT],
        &[opt::BINARY, opt::SGA, opt::ECHO, opt::COM_PORT],
    );
    let mut sent: Option<Sent> = None;
    if rfc {
        tn.start(&mut to_net);
        if let Some(s) = local_settings(&local.file) {
            settings_requests(None, s, &mut to_net);
            sent = Some(s);
        }
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut data = Vec::new();
    let mut events = Vec::new();
    loop {
        if term.load(Ordering::Relaxed) {
            return Ok(());
        }
        let (lr, nr) = {
            let mut lev = PollFlags::empty();
            if to_net.len() < BUF_LIMIT {
                lev |= PollFlags::POLLIN;
            }
            if !to_local.is_empty() {
                lev |= PollFlags::POLLOUT;
            }
            let mut nev = PollFlags::empty();
            if to_local.len() < BUF_LIMIT {
                nev |= PollFlags::POLLIN;
            }
            if !to_net.is_empty() {
                nev |= PollFlags::POLLOUT;
            }
            let mut fds = [
                PollFd::new(local.file.as_fd(), lev),
                PollFd::new(sock.as_fd(), nev),
            ];
            let wait = if sock.has_buffered() { 0u16 } else { 500 };
            match nix::poll::poll(&mut fds, PollTimeout::from(wait)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(SessionEnd::Local(e.into())),
            }
            let mut nr = fds[1].revents().unwrap_or(PollFlags::empty());
            if sock.has_buffered() && to_local.len() < BUF_LIMIT {
                nr |= PollFlags::POLLIN;
            }
            (fds[0].revents().unwrap_or(PollFlags::empty()), nr)
        };
        if to_net.len() > NET_CAP {
            // A hostile server: negotiation faster than we may answer it.
            return Err(SessionEnd::Net(io::Error::other(format!(
                "more than {NET_CAP} bytes of replies waiting (server not reading), dropped"
            ))));
        }
        // Local → net.
        if lr.intersects(PollFlags::POLLIN | PollFlags::POLLERR | PollFlags::POLLHUP) {
            let room = BUF_LIMIT.saturating_sub(to_net.len()).min(buf.len());
            match local.file.read(&mut buf[..room.max(1)]) {
                Ok(0) => return Err(SessionEnd::Local(io::Error::other("end of file"))),
                Ok(n) => {
                    let (status, payload) = if local.packet {
                        (buf[0], &buf[1..n])
                    } else {
                        (0, &buf[..n])
                    };
                    if status & tty::PKT_IOCTL != 0 && rfc {
                        if let Some(s) = local_settings(&local.file) {
                            if sent != Some(s) {
                                log::info!(
                                    "local settings changed: {} baud, {} bits, {:?}, {:?}",
                                    s.params.baud,
                                    s.params.data_bits,
                                    s.params.parity,
                                    s.params.stop_bits
                                );
                                settings_requests(sent, s, &mut to_net);
                                sent = Some(s);
                            }
                        }
                    }
                    if rfc && status & (PKT_FLUSHREAD | PKT_FLUSHWRITE) != 0 {
                        // The local program flushed its queues (tcflush): purge the remote's.
                        let v = match (status & PKT_FLUSHREAD != 0, status & PKT_FLUSHWRITE != 0) {
                            (true, true) => rfc2217::PURGE_BOTH,
                            (true, false) => rfc2217::PURGE_RX,
                            _ => rfc2217::PURGE_TX,
                        };
                        ComPort::Purge(v).encode(false, &mut to_net);
                    }
                    if status == 0 {
                        if rfc {
                            telnet::escape_into(payload, &mut to_net);
                        } else {
                            to_net.extend_from_slice(payload);
                        }
                    }
                }
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(SessionEnd::Local(e)),
            }
        }
        // Net → local.
        if nr.intersects(PollFlags::POLLIN | PollFlags::POLLERR | PollFlags::POLLHUP) {
            match sock.read(&mut buf) {
                Ok(0) => {
                    flush_local(local, &mut to_local);
                    return Ok(());
                }
                Ok(n) => {
                    if rfc {
                        data.clear();
                        events.clear();
                        dec.feed(&buf[..n], &mut data, &mut events);
                        to_local.extend_from_slice(&data);
                        for ev in events.drain(..) {
                            match ev {
                                Event::Negotiate(v, o) => tn.handle(v, o, &mut to_net),
                                Event::Sub {
                                    option: opt::COM_PORT,
                                    payload,
                                    ..
                                } => {
                                    if let Ok((m, true)) = ComPort::parse(&payload) {
                                        log::debug!("server: {m:?}");
                                    }
                                }
                                _ => {}
                            }
                        }
                    } else {
                        to_local.extend_from_slice(&buf[..n]);
                    }
                }
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(SessionEnd::Net(e)),
            }
        }
        sock.flush().map_err(SessionEnd::Net)?;
        if !to_net.is_empty() {
            match sock.write(&to_net) {
                Ok(n) => {
                    to_net.drain(..n);
                }
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(SessionEnd::Net(e)),
            }
        }
        if !to_local.is_empty() {
            match local.file.write(&to_local) {
                Ok(n) => {
                    to_local.drain(..n);
                }
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(SessionEnd::Local(e)),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(baud: u32) -> Sent {
        Sent {
            params: tty::SerialParams {
                baud,
                data_bits: 8,
                parity: tty::Parity::None,
                stop_bits: tty::StopBits::One,
            },
            flow: rfc2217::CONTROL_FLOW_NONE,
            hangup: baud == 0,
        }
    }

    fn decode(b: &[u8]) -> Vec<ComPort> {
        let mut d = Decoder::new();
        let (mut data, mut ev) = (Vec::new(), Vec::new());
        d.feed(b, &mut data, &mut ev);
        ev.into_iter()
            .filter_map(|e| match e {
                Event::Sub { payload, .. } => ComPort::parse(&payload).ok().map(|x| x.0),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn requests_only_for_changes() {
        let mut out = Vec::new();
        settings_requests(None, sent(9600), &mut out);
        assert_eq!(
            decode(&out),
            vec![
                ComPort::SetBaudrate(9600),
                ComPort::SetDatasize(8),
                ComPort::SetParity(1),
                ComPort::SetStopsize(1),
                ComPort::SetControl(1),
                ComPort::SetControl(8),
                ComPort::SetControl(11),
            ]
        );
        out.clear();
        settings_requests(Some(sent(9600)), sent(115_200), &mut out);
        assert_eq!(decode(&out), vec![ComPort::SetBaudrate(115_200)]);
        out.clear();
        settings_requests(Some(sent(9600)), sent(0), &mut out);
        assert_eq!(decode(&out), vec![ComPort::SetControl(9)]);
    }
}
