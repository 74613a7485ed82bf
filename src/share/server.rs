//! The `rgetty-share serve` event loop: every exported port, device and client in one
//! `poll(2)` loop.
//!
//! Life of a device session:
//! 1. a client connects; the ACL is checked before anything touches the device;
//! 2. the UUCP lock is taken on the device's real path (a getty or dialer holding it means
//!    "line busy"), the device is opened, its termios saved, made raw and the stty words
//!    applied;
//! 3. device output goes to every client (each with a bounded buffer: a client that overruns
//!    it is dropped, the others go on), client input is merged into one buffer to the device;
//! 4. when the last client leaves, the data still bound for the device is written and drained
//!    (bounded by the port's drain time, never flushed), the termios restored, the device
//!    closed and the lock removed. A client arriving meanwhile takes the session over.
//!
//! Buffers are allocated when a client connects; an idle port is a listener and its config.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{ControlFlags, InputFlags, Termios};

use crate::lock::{Lock, LockDir, LockError};
use crate::share::conf::{Mode, PortConfig};
use crate::telnet::{self, ComPort, Decoder, Event, Options, Verb, cmd, opt, rfc2217};
use crate::tty;

/// Largest single read from a device or a socket.
const SCRATCH: usize = 64 * 1024;
/// Bytes buffered towards one client before it counts as too slow and is dropped.
pub const CLIENT_BUFFER: usize = 256 * 1024;
/// Bytes buffered towards the device before clients stop being read.
const TO_DEV_LIMIT: usize = 64 * 1024;
/// How often modem lines are polled for NOTIFY-MODEMSTATE.
const MODEM_POLL: Duration = Duration::from_millis(200);
/// Clients are read again once this much fits into the device queue.
const READ_LOW_WATER: usize = 16 * 1024;
/// A device read at least this long suggests more data is waiting (see `read_dev`).
const BATCH_HINT: usize = 1024;
/// Poll interval while a closing session waits for the device's output queue to empty.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// A server failure (start-up only: at run time problems are logged and the loop goes on).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Any other I/O failure while setting up.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ServeError {
    let what = what.into();
    move |source| ServeError::Io { what, source }
}

/// Signals the loop reacts to; set from signal handlers, read by the loop.
#[derive(Debug, Default)]
pub struct Signals {
    /// SIGHUP: reload the config.
    pub hup: Arc<AtomicBool>,
    /// SIGTERM/SIGINT: stop.
    pub term: Arc<AtomicBool>,
}

/// Reloads the config on SIGHUP; returns the new port list or logs why it could not.
pub type Reloader = Box<dyn FnMut() -> Option<Vec<PortConfig>>>;

/// Server settings shared by every port.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Where UUCP locks live.
    pub lock_dir: LockDir,
    /// Buffer per client towards the network before it is dropped as too slow.
    pub client_buffer: usize,
}

/// A byte queue with a read offset (cheap consume from the front).
#[derive(Debug, Default)]
struct Buf {
    data: Vec<u8>,
    start: usize,
}

impl Buf {
    fn len(&self) -> usize {
        self.data.len() - self.start
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn as_slice(&self) -> &[u8] {
        &self.data[self.start..]
    }
    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.data.len() {
            self.data.clear();
            self.start = 0;
        }
    }
    fn extend(&mut self, b: &[u8]) {
        if self.start > 0 && self.data.len() + b.len() > self.data.capacity() {
            self.data.drain(..self.start);
            self.start = 0;
        }
        self.data.extend_from_slice(b);
    }
    fn clear(&mut self) {
        self.data.clear();
        self.start = 0;
    }
}

#[derive(Debug)]
struct Tn {
    dec: Decoder,
    opts: Options,
    linestate_mask: u8,
    modemstate_mask: u8,
}

#[derive(Debug)]
struct Client {
    sock: TcpStream,
    peer: SocketAddr,
    out: Buf,
    tn: Option<Box<Tn>>,
    last: Instant,
    since: Instant,
    rx: u64,
    tx: u64,
    dead: Option<String>,
    suspended: bool,
    eof: bool,
}

impl Client {
    /// Write as much of the out buffer as the socket takes.
    fn flush(&mut self, now: Instant) {
        while !self.out.is_empty() && self.dead.is_none() && !self.suspended {
            match self.sock.write(self.out.as_slice()) {
                Ok(0) => self.dead = Some("connection closed".into()),
                Ok(n) => {
                    self.out.consume(n);
                    self.tx += n as u64;
                    self.last = now;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => self.dead = Some(format!("write error: {e}")),
            }
        }
    }

    fn reply(&mut self, m: &ComPort) {
        let mut v = Vec::with_capacity(12);
        m.encode(true, &mut v);
        self.out.extend(&v);
    }
}

#[derive(Debug)]
struct Session {
    dev: std::fs::File,
    path: PathBuf,
    lock: Lock,
    saved: Option<Termios>,
    clients: Vec<Client>,
    to_dev: Buf,
    closing: Option<Instant>,
    has_modem_lines: bool,
    dtr: bool,
    rts: bool,
    brk: bool,
    modem_prev: Option<u8>,
    next_modem_poll: Instant,
    gone: Option<String>,
    to_dev_bytes: u64,
    from_dev_bytes: u64,
}

#[derive(Debug)]
struct Line {
    path: PathBuf,
    session: Option<Box<Session>>,
}

#[derive(Debug)]
struct Port {
    cfg: PortConfig,
    /// The bound address (differs from `cfg.listen` for port 0), for log lines.
    addr: SocketAddr,
    listener: Option<TcpListener>,
    lines: Vec<Line>,
    /// Replaced by a reload: takes no new clients, kept until its sessions end.
    retired: bool,
}

#[derive(Debug, Clone, Copy)]
enum Token {
    Signal,
    Listener(usize),
    Dev(usize, usize),
    Client(usize, usize, usize),
}

/// The server: ports, their sessions and the shared scratch buffers.
pub struct Server {
    ports: Vec<Port>,
    settings: ServerSettings,
    scratch: Vec<u8>,
    escaped: Vec<u8>,
    signals: Signals,
    wake: Option<UnixStream>,
    reloader: Option<Reloader>,
    exit_when_idle: bool,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("ports", &self.ports.len())
            .finish_non_exhaustive()
    }
}

/// Bind a listener for a port config (non-blocking).
pub fn bind(cfg: &PortConfig) -> Result<TcpListener, ServeError> {
    let l = TcpListener::bind(cfg.listen).map_err(|source| ServeError::Bind {
        addr: cfg.listen,
        source,
    })?;
    l.set_nonblocking(true)
        .map_err(io_err("set listener non-blocking"))?;
    Ok(l)
}

fn now() -> Instant {
    Instant::now()
}

impl Server {
    /// A server with no ports yet.
    pub fn new(settings: ServerSettings) -> Self {
        Server {
            ports: Vec::new(),
            settings,
            scratch: Vec::new(),
            escaped: Vec::new(),
            signals: Signals::default(),
            wake: None,
            reloader: None,
            exit_when_idle: false,
        }
    }

    /// Use these signal flags and the read end of a pipe the signal handlers write to.
    pub fn set_signals(&mut self, signals: Signals, wake: UnixStream) {
        let _ = wake.set_nonblocking(true);
        self.signals = signals;
        self.wake = Some(wake);
    }

    /// Call this on SIGHUP to get the new port list.
    pub fn set_reloader(&mut self, r: Reloader) {
        self.reloader = Some(r);
    }

    /// Stop the loop once no port has a listener and no session is left (inetd mode).
    pub fn exit_when_idle(&mut self, on: bool) {
        self.exit_when_idle = on;
    }

    /// Add a port, with its listener (or `None` for a port fed by [`Server::inject`]).
    /// Returns the port's index.
    pub fn add_port(&mut self, cfg: PortConfig, listener: Option<TcpListener>) -> usize {
        let lines = cfg
            .devices
            .iter()
            .map(|p| Line {
                path: p.clone(),
                session: None,
            })
            .collect();
        let addr = listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .unwrap_or(cfg.listen);
        self.ports.push(Port {
            cfg,
            addr,
            listener,
            lines,
            retired: false,
        });
        self.ports.len() - 1
    }

    /// The local addresses of all listeners, in port order.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.ports
            .iter()
            .filter_map(|p| p.listener.as_ref()?.local_addr().ok())
            .collect()
    }

    /// Hand an already accepted connection to port `port` (inetd, systemd `Accept=yes`).
    pub fn inject(&mut self, port: usize, sock: TcpStream) {
        let peer = sock
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        self.admit(port, sock, peer, true);
    }

    /// Run until SIGTERM/SIGINT (or, with [`Server::exit_when_idle`], until nothing is left).
    pub fn run(&mut self) -> Result<(), ServeError> {
        let mut tokens: Vec<Token> = Vec::new();
        let mut ready: Vec<(Token, PollFlags)> = Vec::new();
        loop {
            if self.signals.term.load(Ordering::Relaxed) {
                log::info!("terminating");
                self.shutdown();
                return Ok(());
            }
            if self.signals.hup.swap(false, Ordering::Relaxed) {
                self.reload();
            }
            if self.exit_when_idle
                && self
                    .ports
                    .iter()
                    .all(|p| p.listener.is_none() && p.lines.iter().all(|l| l.session.is_none()))
            {
                return Ok(());
            }
            let timeout = self.next_timeout();
            tokens.clear();
            ready.clear();
            {
                let mut fds: Vec<PollFd<'_>> = Vec::new();
                self.poll_set(&mut fds, &mut tokens);
                match nix::poll::poll(&mut fds, timeout) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => {
                        return Err(ServeError::Io {
                            what: "poll".into(),
                            source: e.into(),
                        });
                    }
                }
                for (i, f) in fds.iter().enumerate() {
                    if let Some(r) = f.revents() {
                        if !r.is_empty() {
                            ready.push((tokens[i], r));
                        }
                    }
                }
            }
            for &(tok, rev) in &ready {
                self.handle(tok, rev);
            }
            self.housekeeping();
        }
    }

    fn next_timeout(&self) -> PollTimeout {
        let t = now();
        let mut next: Option<Duration> = Some(Duration::from_secs(1));
        let mut consider = |d: Duration| {
            next = Some(next.map_or(d, |n| n.min(d)));
        };
        for p in &self.ports {
            for l in &p.lines {
                let Some(s) = &l.session else { continue };
                if s.closing.is_some() {
                    consider(DRAIN_POLL);
                }
                if s.has_modem_lines && s.clients.iter().any(|c| c.tn.is_some()) {
                    consider(s.next_modem_poll.saturating_duration_since(t));
                }
                if let Some(idle) = p.cfg.idle_timeout {
                    for c in &s.clients {
                        consider((c.last + idle).saturating_duration_since(t));
                    }
                }
            }
        }
        next.and_then(|d| PollTimeout::try_from(d).ok())
            .unwrap_or(PollTimeout::NONE)
    }

    fn poll_set<'a>(&'a self, fds: &mut Vec<PollFd<'a>>, tokens: &mut Vec<Token>) {
        if let Some(w) = &self.wake {
            fds.push(PollFd::new(w.as_fd(), PollFlags::POLLIN));
            tokens.push(Token::Signal);
        }
        for (pi, p) in self.ports.iter().enumerate() {
            if let Some(l) = &p.listener {
                fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
                tokens.push(Token::Listener(pi));
            }
            for (li, l) in p.lines.iter().enumerate() {
                let Some(s) = &l.session else { continue };
                let mut ev = PollFlags::empty();
                if !s.to_dev.is_empty() {
                    ev |= PollFlags::POLLOUT;
                }
                if !p.cfg.write_only && s.closing.is_none() && self.dev_room(p, s) > 0 {
                    ev |= PollFlags::POLLIN;
                }
                if !ev.is_empty() {
                    fds.push(PollFd::new(s.dev.as_fd(), ev));
                    tokens.push(Token::Dev(pi, li));
                }
                // Hysteresis: read clients again once a good chunk fits (fewer, larger reads).
                let can_read =
                    s.to_dev.is_empty() || s.to_dev.len() + READ_LOW_WATER <= TO_DEV_LIMIT;
                for (ci, c) in s.clients.iter().enumerate() {
                    if c.dead.is_some() {
                        continue;
                    }
                    let mut ev = PollFlags::empty();
                    if can_read && !c.eof {
                        ev |= PollFlags::POLLIN;
                    }
                    if !c.out.is_empty() && !c.suspended {
                        ev |= PollFlags::POLLOUT;
                    }
                    if ev.is_empty() {
                        // Left out entirely: a hang-up would otherwise wake us in a loop while
                        // the device buffer is full; it is noticed once reading resumes.
                        continue;
                    }
                    fds.push(PollFd::new(c.sock.as_fd(), ev));
                    tokens.push(Token::Client(pi, li, ci));
                }
            }
        }
    }

    /// How many bytes may be read from the device now: the most room any client has.
    fn dev_room(&self, p: &Port, s: &Session) -> usize {
        let limit = self.settings.client_buffer;
        s.clients
            .iter()
            .filter(|c| c.dead.is_none())
            .map(|c| {
                let room = limit.saturating_sub(c.out.len());
                if c.tn.is_some() { room / 2 } else { room }
            })
            .max()
            .unwrap_or(0)
            .min(SCRATCH)
            * usize::from(!p.cfg.write_only)
    }

    fn handle(&mut self, tok: Token, rev: PollFlags) {
        match tok {
            Token::Signal => {
                if let Some(w) = &mut self.wake {
                    let mut b = [0u8; 64];
                    while matches!(w.read(&mut b), Ok(n) if n > 0) {}
                }
            }
            Token::Listener(pi) => self.accept(pi),
            Token::Dev(pi, li) => {
                if rev.intersects(PollFlags::POLLOUT | PollFlags::POLLERR | PollFlags::POLLHUP) {
                    self.write_dev(pi, li);
                }
                if rev.intersects(PollFlags::POLLIN | PollFlags::POLLERR | PollFlags::POLLHUP) {
                    self.read_dev(pi, li);
                }
            }
            Token::Client(pi, li, ci) => {
                if rev.intersects(PollFlags::POLLIN | PollFlags::POLLERR | PollFlags::POLLHUP)
                    && self.read_client(pi, li, ci)
                {
                    self.write_dev(pi, li);
                }
                if rev.contains(PollFlags::POLLOUT) {
                    if let Some(s) = self.ports[pi].lines[li].session.as_mut() {
                        if let Some(c) = s.clients.get_mut(ci) {
                            c.flush(now());
                        }
                    }
                }
            }
        }
    }

    fn accept(&mut self, pi: usize) {
        for _ in 0..16 {
            let Some(l) = &self.ports[pi].listener else {
                return;
            };
            match l.accept() {
                Ok((sock, peer)) => self.admit(pi, sock, peer, true),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    log::warn!("port {}: accept: {e}", self.ports[pi].addr);
                    return;
                }
            }
        }
    }

    /// Check the ACL, pick a line, open it if needed and add the client.
    fn admit(&mut self, pi: usize, sock: TcpStream, peer: SocketAddr, check_acl: bool) {
        let _ = sock.set_nonblocking(true);
        let _ = sock.set_nodelay(true);
        let in_use: Vec<PathBuf> = self
            .ports
            .iter()
            .flat_map(|p| p.lines.iter())
            .filter_map(|l| Some(l.session.as_ref()?.lock.path().to_path_buf()))
            .collect();
        let port = &mut self.ports[pi];
        let listen = port.addr;
        if check_acl && !port.cfg.acl.allows(peer.ip()) {
            log::warn!("port {listen}: refused {peer}: not in the host list");
            refuse(sock, &format!("access denied for {}\r\n", peer.ip()));
            return;
        }
        let max = port.cfg.max_clients;
        let pool = port.lines.len() > 1;
        // Pick a line: a closing session (nobody left, still draining) first, then on a single
        // line a session with room, then a free line, then (pools) a session with room.
        let has_room = |s: &Session| s.gone.is_none() && s.clients.len() < max;
        let mut chosen = port.lines.iter().position(|l| {
            l.session
                .as_ref()
                .is_some_and(|s| s.gone.is_none() && s.closing.is_some())
        });
        if chosen.is_none() && !pool {
            match &port.lines[0].session {
                Some(s) if has_room(s) => chosen = Some(0),
                Some(_) => {
                    log::warn!("port {listen}: refused {peer}: {max} client(s) already connected");
                    refuse(sock, "port already in use\r\n");
                    return;
                }
                None => {}
            }
        }
        let mut last_reason = String::new();
        if chosen.is_none() {
            for li in 0..port.lines.len() {
                if port.lines[li].session.is_some() {
                    continue;
                }
                // Our own sessions (another port, a retired port after a reload, the same
                // device under another name): the lock file names us, so check here.
                let lock = self.settings.lock_dir.lock_name_for(&port.lines[li].path);
                if in_use.contains(&lock) {
                    last_reason = "line busy (in use on another port)".to_string();
                    continue;
                }
                match open_session(&port.lines[li].path, &port.cfg, &self.settings) {
                    Ok(s) => {
                        port.lines[li].session = Some(Box::new(s));
                        chosen = Some(li);
                        break;
                    }
                    Err(reason) => {
                        log::info!("port {listen}: {}: {reason}", port.lines[li].path.display());
                        last_reason = reason;
                    }
                }
            }
        }
        if chosen.is_none() && pool {
            chosen = port
                .lines
                .iter()
                .position(|l| l.session.as_deref().is_some_and(has_room));
        }
        if chosen.is_none() {
            let msg = if pool {
                "all lines busy".to_string()
            } else {
                last_reason
            };
            log::warn!("port {listen}: refused {peer}: {msg}");
            refuse(sock, &format!("{msg}\r\n"));
            return;
        }
        let Some(li) = chosen else { return };
        let cfg = &port.cfg;
        let line_path = port.lines[li].path.clone();
        let Some(s) = port.lines[li].session.as_mut() else {
            return;
        };
        if s.closing.take().is_some() {
            log::info!("{}: session resumed", s.path.display());
        }
        let t = now();
        let mut c = Client {
            sock,
            peer,
            out: Buf::default(),
            tn: None,
            last: t,
            since: t,
            rx: 0,
            tx: 0,
            dead: None,
            suspended: false,
            eof: false,
        };
        if cfg.mode == Mode::Rfc2217 {
            let mut tn = Box::new(Tn {
                dec: Decoder::new(),
                opts: Options::new(
                    &[opt::BINARY, opt::SGA, opt::ECHO, opt::COM_PORT],
                    &[opt::BINARY, opt::SGA, opt::COM_PORT],
                ),
                linestate_mask: 0,
                modemstate_mask: 0xff,
            });
            let mut v = Vec::new();
            tn.opts.start(&mut v);
            c.out.extend(&v);
            c.tn = Some(tn);
            let ms = modem_state(s);
            c.reply(&ComPort::NotifyModemstate(ms));
        }
        if let Some(b) = cfg.render_banner(&line_path) {
            if c.tn.is_some() {
                let mut v = Vec::new();
                telnet::escape_into(&b, &mut v);
                c.out.extend(&v);
            } else {
                c.out.extend(&b);
            }
        }
        log::info!(
            "port {listen}: connect from {peer} to {} ({} client(s))",
            s.path.display(),
            s.clients.len() + 1
        );
        c.flush(t);
        s.clients.push(c);
    }

    fn read_dev(&mut self, pi: usize, li: usize) {
        let p = &self.ports[pi];
        let Some(s) = p.lines[li].session.as_deref() else {
            return;
        };
        let room = self.dev_room(p, s);
        if room == 0 || s.closing.is_some() {
            return;
        }
        self.scratch.resize(SCRATCH, 0);
        let Some(s) = self.ports[pi].lines[li].session.as_deref_mut() else {
            return;
        };
        // A tty read returns at most one line-discipline buffer (4 KiB): while reads come
        // back that full, more is probably waiting, so gather it into one socket write.
        let mut n = 0;
        loop {
            match s.dev.read(&mut self.scratch[n..room]) {
                Ok(0) if n == 0 => {
                    s.gone = Some("end of file on the device".into());
                    return;
                }
                Ok(0) => break,
                Ok(k) => {
                    n += k;
                    if k < BATCH_HINT || n >= room {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if n == 0 => {
                    s.gone = Some(format!("read error on the device: {e}"));
                    return;
                }
                Err(_) => break,
            }
        }
        if n == 0 {
            return;
        }
        s.from_dev_bytes += n as u64;
        let data = &self.scratch[..n];
        let limit = self.settings.client_buffer;
        let t = now();
        for c in s.clients.iter_mut().filter(|c| c.dead.is_none()) {
            let bytes: &[u8] = if c.tn.is_some() {
                self.escaped.clear();
                telnet::escape_into(data, &mut self.escaped);
                &self.escaped
            } else {
                data
            };
            let mut off = 0;
            if c.out.is_empty() && !c.suspended {
                match c.sock.write(bytes) {
                    Ok(w) => {
                        off = w;
                        c.tx += w as u64;
                        c.last = t;
                    }
                    Err(e)
                        if e.kind() == ErrorKind::WouldBlock
                            || e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        c.dead = Some(format!("write error: {e}"));
                        continue;
                    }
                }
            }
            let rest = &bytes[off..];
            if c.out.len() + rest.len() > limit {
                c.dead = Some(format!(
                    "too slow: more than {limit} bytes waiting, dropped"
                ));
                continue;
            }
            c.out.extend(rest);
        }
    }

    fn write_dev(&mut self, pi: usize, li: usize) {
        let Some(s) = self.ports[pi].lines[li].session.as_deref_mut() else {
            return;
        };
        while !s.to_dev.is_empty() && s.gone.is_none() {
            match s.dev.write(s.to_dev.as_slice()) {
                Ok(0) => break,
                Ok(n) => {
                    let short = n < s.to_dev.len();
                    s.to_dev.consume(n);
                    s.to_dev_bytes += n as u64;
                    if short {
                        // The device is full: retrying now would only get EAGAIN.
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    s.gone = Some(format!("write error on the device: {e}"));
                    break;
                }
            }
        }
    }

    /// Read from a client into the device queue. True when the queue was empty before, so a
    /// device write is worth trying now.
    fn read_client(&mut self, pi: usize, li: usize, ci: usize) -> bool {
        self.scratch.resize(SCRATCH, 0);
        let Some(s) = self.ports[pi].lines[li].session.as_deref_mut() else {
            return false;
        };
        let room = TO_DEV_LIMIT.saturating_sub(s.to_dev.len()).min(SCRATCH);
        let Some(c) = s.clients.get_mut(ci) else {
            return false;
        };
        if room == 0 || c.dead.is_some() || c.eof {
            return false;
        }
        let n = match c.sock.read(&mut self.scratch[..room]) {
            Ok(0) => {
                c.eof = true;
                c.dead = Some("closed by peer".into());
                return false;
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                return false;
            }
            Err(e) => {
                c.dead = Some(format!("read error: {e}"));
                return false;
            }
        };
        c.rx += n as u64;
        c.last = now();
        let input = &self.scratch[..n];
        if c.tn.is_none() {
            // Straight to the device when nothing is queued; only the rest is buffered.
            let mut off = 0;
            if s.to_dev.is_empty() && s.gone.is_none() {
                match s.dev.write(input) {
                    Ok(w) => {
                        off = w;
                        s.to_dev_bytes += w as u64;
                    }
                    Err(e)
                        if e.kind() == ErrorKind::WouldBlock
                            || e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => s.gone = Some(format!("write error on the device: {e}")),
                }
            }
            s.to_dev.extend(&input[off..]);
            return false;
        }
        let mut data = Vec::with_capacity(n);
        let mut events = Vec::new();
        if let Some(tn) = c.tn.as_mut() {
            tn.dec.feed(input, &mut data, &mut events);
        }
        let was_empty = s.to_dev.is_empty();
        s.to_dev.extend(&data);
        for ev in events {
            telnet_event(s, ci, ev);
        }
        if let Some(c) = s.clients.get_mut(ci) {
            c.flush(now());
        }
        was_empty
    }

    /// Remove dead clients, start and finish closing sessions, time out idle clients and poll
    /// modem lines.
    fn housekeeping(&mut self) {
        let t = now();
        self.ports
            .retain(|p| !p.retired || p.lines.iter().any(|l| l.session.is_some()));
        for p in &mut self.ports {
            let listen = p.addr;
            let idle = p.cfg.idle_timeout;
            let drain = p.cfg.drain_timeout;
            for l in &mut p.lines {
                let Some(s) = l.session.as_deref_mut() else {
                    continue;
                };
                if let Some(idle) = idle {
                    for c in s.clients.iter_mut().filter(|c| c.dead.is_none()) {
                        if t.duration_since(c.last) >= idle {
                            c.dead = Some(format!("idle for {}s", idle.as_secs()));
                        }
                    }
                }
                let busy = s.gone.is_some()
                    || s.closing.is_some()
                    || s.clients.is_empty()
                    || s.clients.iter().any(|c| c.dead.is_some());
                if !busy && !s.has_modem_lines {
                    continue;
                }
                let dev = &s.path;
                s.clients.retain(|c| {
                    let Some(why) = &c.dead else { return true };
                    log::info!(
                        "port {listen}: disconnect {} from {}: {why}; {} bytes in, {} bytes out, {}s",
                        c.peer,
                        dev.display(),
                        c.rx,
                        c.tx,
                        t.duration_since(c.since).as_secs()
                    );
                    let _ = c.sock.shutdown(Shutdown::Both);
                    false
                });
                if let Some(why) = &s.gone {
                    log::warn!("{}: {why}; closing the session", dev.display());
                    for c in &s.clients {
                        let _ = c.sock.shutdown(Shutdown::Both);
                    }
                    finish(l, false);
                    continue;
                }
                if s.clients.is_empty() && s.closing.is_none() {
                    s.closing = Some(t + drain);
                }
                if let Some(deadline) = s.closing {
                    let pending = tty::output_pending(&s.dev).unwrap_or(0);
                    if s.to_dev.is_empty() && pending == 0 {
                        finish(l, true);
                    } else if t >= deadline {
                        log::warn!(
                            "{}: drain time over, {} bytes not sent",
                            s.path.display(),
                            s.to_dev.len() + pending
                        );
                        finish(l, false);
                    }
                    continue;
                }
                if s.has_modem_lines && t >= s.next_modem_poll {
                    s.next_modem_poll = t + MODEM_POLL;
                    if s.clients.iter().any(|c| c.tn.is_some()) {
                        poll_modem(s);
                    }
                }
            }
        }
    }

    /// Re-read the config: unchanged ports are kept as they are, changed ports take the new
    /// settings for new clients while live sessions finish on the old ones, removed ports are
    /// closed (buffered data written first), new ports are opened.
    fn reload(&mut self) {
        let Some(r) = self.reloader.as_mut() else {
            return;
        };
        let Some(new) = r() else { return };
        let (mut retired, mut old): (Vec<Port>, Vec<Port>) = std::mem::take(&mut self.ports)
            .into_iter()
            .partition(|p| p.retired);
        for cfg in new {
            if let Some(i) = old.iter().position(|p| p.cfg.listen == cfg.listen) {
                let mut p = old.swap_remove(i);
                if p.cfg == cfg {
                    self.ports.push(p);
                    continue;
                }
                // The listener goes to the new config; live sessions finish on the old one.
                let l = p.listener.take();
                if p.lines.iter().any(|l| l.session.is_some()) {
                    log::info!(
                        "port {}: changed; live sessions keep the old settings",
                        cfg.listen
                    );
                    p.retired = true;
                    retired.push(p);
                } else {
                    log::info!("port {}: changed", cfg.listen);
                }
                self.add_port(cfg, l);
                continue;
            }
            match bind(&cfg) {
                Ok(l) => {
                    log::info!("port {}: added", cfg.listen);
                    self.add_port(cfg, Some(l));
                }
                Err(e) => log::error!("{e}"),
            }
        }
        for mut p in old {
            log::info!("port {}: removed", p.cfg.listen);
            close_port(&mut p);
        }
        self.ports.append(&mut retired);
    }

    fn shutdown(&mut self) {
        for p in &mut self.ports {
            close_port(p);
        }
    }
}

fn close_port(p: &mut Port) {
    let drain = p.cfg.drain_timeout.min(Duration::from_secs(5));
    for l in &mut p.lines {
        if let Some(s) = l.session.as_deref_mut() {
            for c in &mut s.clients {
                c.flush(now());
                let _ = c.sock.shutdown(Shutdown::Both);
            }
            // Give the device what is already buffered, for a bounded time (stopping or
            // reloading must not hang on a flow-controlled line).
            let deadline = now() + drain;
            while now() < deadline {
                if !s.to_dev.is_empty() {
                    match s.dev.write(s.to_dev.as_slice()) {
                        Ok(n) => s.to_dev.consume(n),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                if s.to_dev.is_empty() && tty::output_pending(&s.dev).unwrap_or(0) == 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let drained = s.to_dev.is_empty();
            finish(l, drained);
        }
    }
}

/// Restore the termios and close the session (the lock goes with it).
fn finish(l: &mut Line, drained: bool) {
    let Some(s) = l.session.take() else { return };
    if let Some(t) = &s.saved {
        if let Err(e) = tty::set_termios(&s.dev, t) {
            log::warn!("{}: restoring termios: {e}", s.path.display());
        }
    }
    log::info!(
        "{}: closed{}: {} bytes to the device, {} bytes from it",
        s.path.display(),
        if drained { "" } else { " without draining" },
        s.to_dev_bytes,
        s.from_dev_bytes
    );
}

fn refuse(mut sock: TcpStream, msg: &str) {
    let _ = sock.write(msg.as_bytes());
    let _ = sock.shutdown(Shutdown::Both);
}

/// Lock, open and set up a device; the error is the one-line reason for the client.
fn open_session(
    path: &Path,
    cfg: &PortConfig,
    settings: &ServerSettings,
) -> Result<Session, String> {
    let lock = match settings.lock_dir.acquire(path) {
        Ok(l) => l,
        Err(LockError::Held { holder, .. }) => {
            return Err(format!("line busy (locked by pid {})", holder.pid));
        }
        Err(e) => {
            log::error!("{}: lock: {e}", path.display());
            return Err("line busy (cannot lock)".into());
        }
    };
    let fd = tty::open_line(path, false).map_err(|e| {
        log::error!("{}: {e}", path.display());
        "cannot open the device".to_string()
    })?;
    crate::lock::claim_flock(&fd, path)
        .map_err(|h| format!("line busy (flock held by pid {})", h.pid))?;
    let saved = tty::get_termios(&fd).ok();
    if let Err(e) = tty::set_raw(&fd).and_then(|()| {
        if cfg.stty.is_empty() {
            Ok(())
        } else {
            tty::apply_stty(&fd, &cfg.stty)
        }
    }) {
        log::error!("{}: {e}", path.display());
        if let Some(t) = &saved {
            let _ = tty::set_termios(&fd, t);
        }
        return Err("cannot set up the device".into());
    }
    tty::set_nonblocking(&fd, true).map_err(|e| {
        log::error!("{}: {e}", path.display());
        "cannot set up the device".to_string()
    })?;
    let has_modem_lines = matches!(tty::modem_lines(&fd), Ok(Some(_)));
    log::info!(
        "{}: opened{}",
        path.display(),
        if has_modem_lines {
            ""
        } else {
            " (no modem lines)"
        }
    );
    Ok(Session {
        dev: std::fs::File::from(fd),
        path: path.to_path_buf(),
        lock,
        saved,
        clients: Vec::new(),
        to_dev: Buf::default(),
        closing: None,
        has_modem_lines,
        dtr: true,
        rts: true,
        brk: false,
        modem_prev: None,
        next_modem_poll: now(),
        gone: None,
        to_dev_bytes: 0,
        from_dev_bytes: 0,
    })
}

/// The RFC 2217 modem-state byte (without delta bits). A device without modem lines reports
/// DCD, DSR and CTS on, like a null-modem cable with the lines looped back.
fn modem_state(s: &Session) -> u8 {
    match tty::modem_lines(&s.dev) {
        Ok(Some(m)) => {
            (if m.dcd { rfc2217::MODEM_DCD } else { 0 })
                | (if m.ri { rfc2217::MODEM_RI } else { 0 })
                | (if m.dsr { rfc2217::MODEM_DSR } else { 0 })
                | (if m.cts { rfc2217::MODEM_CTS } else { 0 })
        }
        _ => rfc2217::MODEM_DCD | rfc2217::MODEM_DSR | rfc2217::MODEM_CTS,
    }
}

fn poll_modem(s: &mut Session) {
    let cur = modem_state(s);
    let prev = s.modem_prev.replace(cur).unwrap_or(cur);
    if cur == prev {
        return;
    }
    let changed = cur ^ prev;
    let mut v = cur;
    if changed & rfc2217::MODEM_DCD != 0 {
        v |= rfc2217::MODEM_DELTA_DCD;
    }
    if changed & rfc2217::MODEM_DSR != 0 {
        v |= rfc2217::MODEM_DELTA_DSR;
    }
    if changed & rfc2217::MODEM_CTS != 0 {
        v |= rfc2217::MODEM_DELTA_CTS;
    }
    if prev & rfc2217::MODEM_RI != 0 && cur & rfc2217::MODEM_RI == 0 {
        v |= rfc2217::MODEM_TERI;
    }
    for c in s.clients.iter_mut() {
        if let Some(tn) = &c.tn {
            if v & tn.modemstate_mask != 0 && tn.opts.remote_enabled(opt::COM_PORT) {
                c.reply(&ComPort::NotifyModemstate(v & tn.modemstate_mask));
                c.flush(now());
            }
        }
    }
}

fn telnet_event(s: &mut Session, ci: usize, ev: Event) {
    match ev {
        Event::Negotiate(verb, o) => {
            let Some(c) = s.clients.get_mut(ci) else {
                return;
            };
            let Some(tn) = c.tn.as_mut() else { return };
            let mut v = Vec::new();
            tn.opts.handle(verb, o, &mut v);
            c.out.extend(&v);
            if verb == Verb::Will && o == opt::COM_PORT {
                log::debug!("{}: client {} speaks RFC 2217", s.path.display(), c.peer);
            }
        }
        Event::Command(cmd::BRK) => {
            if let Err(e) = tty::send_break(&s.dev) {
                log::warn!("{}: break: {e}", s.path.display());
            }
        }
        Event::Command(_) => {}
        Event::Sub {
            option: opt::COM_PORT,
            payload,
            ..
        } => match ComPort::parse(&payload) {
            Ok((m, false)) => {
                let reply = com_port(s, ci, m);
                if let (Some(r), Some(c)) = (reply, s.clients.get_mut(ci)) {
                    c.reply(&r);
                }
            }
            Ok((_, true)) => {}
            Err(e) => log::debug!("{}: {e}", s.path.display()),
        },
        Event::Sub { .. } => {}
    }
}

fn control_flow_out(t: &Termios) -> u8 {
    if t.control_flags.contains(ControlFlags::CRTSCTS) {
        rfc2217::CONTROL_FLOW_HARDWARE
    } else if t.input_flags.contains(InputFlags::IXON) {
        rfc2217::CONTROL_FLOW_XONXOFF
    } else {
        rfc2217::CONTROL_FLOW_NONE
    }
}

fn control_flow_in(t: &Termios) -> u8 {
    if t.control_flags.contains(ControlFlags::CRTSCTS) {
        rfc2217::CONTROL_INFLOW_HARDWARE
    } else if t.input_flags.contains(InputFlags::IXOFF) {
        rfc2217::CONTROL_INFLOW_XONXOFF
    } else {
        rfc2217::CONTROL_INFLOW_NONE
    }
}

fn set_param(s: &Session, what: &str, f: impl FnOnce(&mut tty::SerialParams)) {
    let fd = s.dev.as_fd();
    let r = tty::get_params(fd).and_then(|mut p| {
        f(&mut p);
        tty::set_params(fd, &p)
    });
    if let Err(e) = r {
        log::warn!("{}: set {what}: {e}", s.path.display());
    }
}

/// Carry out one RFC 2217 request and build the answer from what the device reads back.
fn com_port(s: &mut Session, ci: usize, m: ComPort) -> Option<ComPort> {
    let path = s.path.display().to_string();
    let params = |s: &Session| tty::get_params(s.dev.as_fd()).ok();
    Some(match m {
        ComPort::Signature(sig) => {
            if !sig.is_empty() {
                log::info!(
                    "{path}: client signature {:?}",
                    String::from_utf8_lossy(&sig)
                );
                return None;
            }
            ComPort::Signature(
                format!("rgetty-share {} {path}", env!("CARGO_PKG_VERSION")).into_bytes(),
            )
        }
        ComPort::SetBaudrate(b) => {
            if b != 0 {
                log::info!("{path}: baud rate {b}");
                set_param(s, "baud rate", |p| p.baud = b);
            }
            ComPort::SetBaudrate(params(s).map_or(0, |p| p.baud))
        }
        ComPort::SetDatasize(n) => {
            if (5..=8).contains(&n) {
                set_param(s, "data size", |p| p.data_bits = n);
            }
            ComPort::SetDatasize(params(s).map_or(0, |p| p.data_bits))
        }
        ComPort::SetParity(c) => {
            if let Some(par) = rfc2217::parity_from_code(c) {
                set_param(s, "parity", |p| p.parity = par);
            }
            ComPort::SetParity(params(s).map_or(0, |p| rfc2217::parity_code(p.parity)))
        }
        ComPort::SetStopsize(c) => {
            if let Some(st) = rfc2217::stop_from_code(c) {
                set_param(s, "stop size", |p| p.stop_bits = st);
            }
            ComPort::SetStopsize(params(s).map_or(0, |p| rfc2217::stop_code(p.stop_bits)))
        }
        ComPort::SetControl(v) => ComPort::SetControl(set_control(s, v)),
        ComPort::NotifyLinestate(_) => {
            let mask = s.clients.get(ci)?.tn.as_ref()?.linestate_mask;
            let empty = tty::output_pending(&s.dev).map_or(0, |n| {
                if n == 0 {
                    rfc2217::LINE_THRE | rfc2217::LINE_TSRE
                } else {
                    0
                }
            });
            ComPort::NotifyLinestate(empty & mask)
        }
        ComPort::NotifyModemstate(_) => {
            let mask = s.clients.get(ci)?.tn.as_ref()?.modemstate_mask;
            ComPort::NotifyModemstate(modem_state(s) & mask)
        }
        ComPort::FlowSuspend => {
            if let Some(c) = s.clients.get_mut(ci) {
                c.suspended = true;
            }
            return None;
        }
        ComPort::FlowResume => {
            if let Some(c) = s.clients.get_mut(ci) {
                c.suspended = false;
            }
            return None;
        }
        ComPort::SetLinestateMask(v) => {
            if let Some(tn) = s.clients.get_mut(ci)?.tn.as_mut() {
                tn.linestate_mask = v;
            }
            ComPort::SetLinestateMask(v)
        }
        ComPort::SetModemstateMask(v) => {
            if let Some(tn) = s.clients.get_mut(ci)?.tn.as_mut() {
                tn.modemstate_mask = v;
            }
            ComPort::SetModemstateMask(v)
        }
        ComPort::Purge(v) => {
            let q = match v {
                rfc2217::PURGE_RX => Some(tty::Queue::Input),
                rfc2217::PURGE_TX => Some(tty::Queue::Output),
                rfc2217::PURGE_BOTH => Some(tty::Queue::Both),
                _ => None,
            };
            if matches!(v, rfc2217::PURGE_TX | rfc2217::PURGE_BOTH) {
                s.to_dev.clear();
            }
            if let Some(q) = q {
                // An explicit request from the client, not a close: honour it.
                if let Err(e) = tty::flush(&s.dev, q) {
                    log::warn!("{path}: purge: {e}");
                }
            }
            ComPort::Purge(v)
        }
    })
}

/// SET-CONTROL: apply, then read the state back (shadow values on a device without modem
/// lines, so that strict clients always get an answer).
fn set_control(s: &mut Session, v: u8) -> u8 {
    use rfc2217::*;
    let path = s.path.display().to_string();
    let fd = s.dev.as_fd();
    let warn = |what: &str, e: tty::Error| log::warn!("{path}: {what}: {e}");
    match v {
        CONTROL_FLOW_NONE | CONTROL_FLOW_XONXOFF | CONTROL_FLOW_HARDWARE => {
            let flow = match v {
                CONTROL_FLOW_HARDWARE => tty::Flow::Hard,
                CONTROL_FLOW_XONXOFF => tty::Flow::Soft,
                _ => tty::Flow::None,
            };
            if let Err(e) = tty::set_flow(fd, flow) {
                warn("flow control", e);
            }
            tty::get_termios(fd).map_or(v, |t| control_flow_out(&t))
        }
        CONTROL_FLOW_REQUEST => {
            tty::get_termios(fd).map_or(CONTROL_FLOW_NONE, |t| control_flow_out(&t))
        }
        CONTROL_BREAK_ON | CONTROL_BREAK_OFF => {
            let on = v == CONTROL_BREAK_ON;
            match tty::set_break(fd, on) {
                Ok(()) => s.brk = on,
                Err(e) => warn("break", e),
            }
            if s.brk {
                CONTROL_BREAK_ON
            } else {
                CONTROL_BREAK_OFF
            }
        }
        CONTROL_BREAK_REQUEST => {
            if s.brk {
                CONTROL_BREAK_ON
            } else {
                CONTROL_BREAK_OFF
            }
        }
        CONTROL_DTR_ON | CONTROL_DTR_OFF | CONTROL_DTR_REQUEST => {
            if v != CONTROL_DTR_REQUEST {
                let on = v == CONTROL_DTR_ON;
                match tty::set_dtr(fd, on) {
                    Ok(_) => s.dtr = on,
                    Err(e) => warn("DTR", e),
                }
            }
            let dtr = match tty::modem_lines(fd) {
                Ok(Some(m)) => m.dtr,
                _ => s.dtr,
            };
            if dtr { CONTROL_DTR_ON } else { CONTROL_DTR_OFF }
        }
        CONTROL_RTS_ON | CONTROL_RTS_OFF | CONTROL_RTS_REQUEST => {
            if v != CONTROL_RTS_REQUEST {
                let on = v == CONTROL_RTS_ON;
                match tty::set_rts(fd, on) {
                    Ok(_) => s.rts = on,
                    Err(e) => warn("RTS", e),
                }
            }
            let rts = match tty::modem_lines(fd) {
                Ok(Some(m)) => m.rts,
                _ => s.rts,
            };
            if rts { CONTROL_RTS_ON } else { CONTROL_RTS_OFF }
        }
        CONTROL_INFLOW_NONE | CONTROL_INFLOW_XONXOFF | CONTROL_INFLOW_HARDWARE => {
            let r = tty::get_termios(fd).and_then(|mut t| {
                t.input_flags
                    .set(InputFlags::IXOFF, v == CONTROL_INFLOW_XONXOFF);
                t.control_flags
                    .set(ControlFlags::CRTSCTS, v == CONTROL_INFLOW_HARDWARE);
                tty::set_termios(fd, &t)
            });
            if let Err(e) = r {
                warn("inbound flow control", e);
            }
            tty::get_termios(fd).map_or(v, |t| control_flow_in(&t))
        }
        _ => tty::get_termios(fd).map_or(CONTROL_INFLOW_NONE, |t| control_flow_in(&t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buf_queue() {
        let mut b = Buf::default();
        assert!(b.is_empty());
        b.extend(b"hello");
        b.consume(2);
        assert_eq!(b.as_slice(), b"llo");
        b.extend(b" world");
        assert_eq!(b.as_slice(), b"llo world");
        b.consume(9);
        assert!(b.is_empty());
        assert_eq!(b.start, 0);
    }
}
