//! `rgetty-share serve`: every exported port, device and client on one [`Engine`].
//!
//! Life of a device session:
//! 1. a client connects; the ACL is checked, then (TLS ports) the handshake completes, before
//!    anything touches the device;
//! 2. the UUCP lock is taken on the device's real path (a getty or dialer holding it means
//!    "line busy"), the device is opened, its termios saved, made raw and the stty words
//!    applied;
//! 3. device output goes to every client and watcher (each with a bounded queue: a client over
//!    it is dropped, the others go on), writers' input is merged into one queue to the device;
//! 4. when the last client leaves, the data still bound for the device is written and drained
//!    (bounded by the port's drain time, never flushed), the termios restored, the device
//!    closed and the lock removed. A client arriving meanwhile takes the session over.
//!
//! Each fd has a token in a slab; an event costs the work of its own session only. Timers
//! (idle time-outs, draining, modem-line polls while a client asked for notifications, TLS
//! handshake limits) sit in the engine's heap: an idle server makes no system calls.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::share::conf::PortConfig;
use crate::share::engine::{Engine, Handler, Ready, TimerId, Token};
use crate::share::roles::{PortLog, Replay};
use crate::share::session::{Role, Scratch, Session};
use crate::share::transport::{Conn, TlsRole};
use crate::sys::lock::LockDir;

mod admit;
mod alerts;
mod attach;
pub mod auth;
mod control;
mod dashboard;
mod esp;
mod events;
mod hold;
mod hotplug;
mod lines;
mod metrics;
mod names;
mod open;
mod ports;
mod requests;
mod reset;
mod timers;
pub mod web;

/// Bytes queued towards one client before it counts as too slow (or not reading) and is
/// dropped: device output, telnet negotiation and COM-PORT replies alike.
pub const CLIENT_BUFFER: usize = 256 * 1024;
/// How often modem lines are polled while a client wants NOTIFY-MODEMSTATE.
const MODEM_POLL: Duration = Duration::from_millis(200);
/// Poll interval while a closing session waits for the device's output queue to empty.
const DRAIN_POLL: Duration = Duration::from_millis(10);
/// Time allowed for a TLS handshake.
const HANDSHAKE_TIME: Duration = Duration::from_secs(10);

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
    /// A TLS file is unusable.
    #[error(transparent)]
    Tls(#[from] crate::share::transport::TlsError),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ServeError {
    let what = what.into();
    move |source| ServeError::Io { what, source }
}

/// Signals the loop reacts to; set from signal handlers, read by the loop.
#[derive(Debug, Default)]
pub struct ServeSignals {
    /// SIGHUP: reload the config, reopen port logs.
    pub hup: Arc<AtomicBool>,
    /// SIGTERM/SIGINT: stop.
    pub term: Arc<AtomicBool>,
}

/// Told when a watched device appears (`true`) or goes (`false`): mDNS follows hot-plug.
pub type PresenceHook = Box<dyn FnMut(&std::path::Path, bool)>;

/// Reloads the config on SIGHUP; returns the new port list or logs why it could not.
pub type Reloader = Box<dyn FnMut() -> Option<Vec<PortConfig>>>;

/// Server settings shared by every port.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Where UUCP locks live.
    pub lock_dir: LockDir,
    /// Queue per client towards the network before it is dropped.
    pub client_buffer: usize,
}

/// Counters of one port (for status and metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Clients and watchers connected now.
    pub clients: usize,
    /// Clients and watchers admitted since start.
    pub connects: u64,
    /// Connections refused (ACL, busy, TLS failures).
    pub refusals: u64,
    /// Device sessions opened.
    pub sessions: u64,
    /// Bytes written to the devices.
    pub bytes_to_dev: u64,
    /// Bytes read from the devices.
    pub bytes_from_dev: u64,
    /// Times a device went away under a held session (`hold-session`).
    pub gaps: u64,
    /// Input bytes dropped while a device was away (over the held-input cap).
    pub held_dropped: u64,
}

/// One device of a port, with its session while open.
#[derive(Debug)]
struct PortDevice {
    path: std::path::PathBuf,
    /// Whether the device existed when last looked at (start, inotify, a failed open).
    present: bool,
    session: Option<Box<Session>>,
    replay: Replay,
    /// `hold-session`: the clients waiting while the device is away.
    held: Option<Box<hold::Held>>,
    /// `hold-session`: the settings after the last COM-PORT request, re-applied on return.
    settings: Option<hold::Settings>,
}

/// One exported port.
#[derive(Debug)]
struct Port {
    cfg: PortConfig,
    /// The bound address (differs from `cfg.listen` for port 0), for log lines.
    addr: SocketAddr,
    listener: Option<(TcpListener, Token)>,
    watch: Option<(TcpListener, Token)>,
    lines: Vec<PortDevice>,
    tls: Option<TlsRole>,
    log: Option<PortLog>,
    stats: PortStats,
    /// Replaced by a reload: takes no new clients, kept until its sessions end.
    retired: bool,
    /// Disabled through the control socket: new clients are refused.
    disabled: bool,
    /// Alerts on the device output (`alert` lines).
    alerts: Option<crate::share::alert::Alerts>,
    /// Its control-line alerts.
    line_alerts: Option<crate::share::line_alert::LineAlerts>,
}

/// What a token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Free,
    Wake,
    Listener(usize, Role),
    Dev(usize, usize),
    Client(usize, usize),
    Pending,
    Metrics,
    MetricsConn,
    Hotplug,
    Control,
    ControlConn,
    /// The name resolver's wake-up fd.
    Names,
    Web,
    WebConn,
    WebNotify,
    Feed,
}

/// A TLS connection still in its handshake (no device touched yet).
#[derive(Debug)]
struct Pending {
    port: usize,
    conn: Conn,
    peer: SocketAddr,
    role: Role,
    timer: TimerId,
}

/// Timer kinds (the key is `kind << 32 | token`).
const T_IDLE: u64 = 1;
const T_DRAIN: u64 = 2;
const T_MODEM: u64 = 3;
const T_HANDSHAKE: u64 = 4;
/// Retry accept on a listener that ran out of fds (see [`Server::accept_later`]).
const T_ACCEPT: u64 = 5;
/// A metrics connection's time is up.
const T_METRICS: u64 = 6;
/// A connection waiting for its peer's name may have waited too long.
const T_NAMES: u64 = 7;
/// A BREAK asked for on the control socket ends.
const T_BREAK: u64 = 8;
/// The next step of a reset sequence.
const T_RESET: u64 = 9;
/// A web console request's time is up.
const T_WEB: u64 = 10;

fn key(kind: u64, t: Token) -> u64 {
    (kind << 32) | t.0 as u64
}

/// The server: ports, their sessions, and the token table.
pub struct ShareServer {
    ports: Vec<Option<Port>>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    pending: HashMap<usize, Pending>,
    /// Listener tokens whose accept waits for fds to come back (a retry timer is set).
    accept_retry: std::collections::HashSet<usize>,
    settings: ServerSettings,
    scratch: Scratch,
    signals: ServeSignals,
    wake: Option<UnixStream>,
    reloader: Option<Reloader>,
    exit_when_idle: bool,
    injected: Vec<(usize, OwnedFd)>,
    deferred: Vec<(usize, usize)>,
    eng: Option<Engine>,
    stop: bool,
    metrics: Option<metrics::Metrics>,
    hotplug: Option<hotplug::Hotplug>,
    control: Option<control::ControlSocket>,
    /// Named reset sequences, and those running (by device token).
    reset_seqs: HashMap<String, Vec<crate::proto::reset_seq::Phase>>,
    resets: HashMap<usize, reset::Running>,
    esp: HashMap<usize, crate::proto::esp_reset::Recogniser>,
    /// Alert commands running.
    alert_pool: crate::sys::exec::Detached,
    /// Connections waiting for their peer's verified name (host lists with names).
    names: names::Names,
    web: Option<web::Web>,
    web_auth: Option<auth::Auth>,
    dashboard: Option<dashboard::Sources>,
    feeds: HashMap<usize, dashboard::Feed>,
    /// [`ShareServer::watch_devices`] was asked for (kept across reloads).
    watching: bool,
    /// `$NOTIFY_SOCKET`, the last `STATUS=` sent, and whether it may have changed.
    notifier: Option<crate::ops::notify::Notifier>,
    last_status: String,
    status_dirty: bool,
    /// [`ShareServer::set_presence_hook`].
    presence_hook: Option<PresenceHook>,
}

impl std::fmt::Debug for ShareServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareServer")
            .field("ports", &self.ports.len())
            .finish_non_exhaustive()
    }
}

/// Bind a listener for a port config (non-blocking).
pub fn bind(cfg: &PortConfig) -> Result<TcpListener, ServeError> {
    bind_addr(cfg.listen)
}

fn bind_addr(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    let l = TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
    l.set_nonblocking(true)
        .map_err(io_err("set listener non-blocking"))?;
    Ok(l)
}

impl ShareServer {
    /// A server with no ports yet.
    pub fn new(settings: ServerSettings) -> Result<Self, ServeError> {
        Ok(ShareServer {
            ports: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            pending: HashMap::new(),
            accept_retry: Default::default(),
            settings,
            scratch: Scratch::default(),
            signals: ServeSignals::default(),
            wake: None,
            reloader: None,
            exit_when_idle: false,
            injected: Vec::new(),
            deferred: Vec::new(),
            eng: Some(Engine::new().map_err(io_err("epoll"))?),
            stop: false,
            metrics: None,
            hotplug: None,
            control: None,
            reset_seqs: HashMap::new(),
            resets: HashMap::new(),
            esp: HashMap::new(),
            alert_pool: crate::sys::exec::Detached::new(alerts::MAX_RUNNING),
            names: names::Names::default(),
            web: None,
            web_auth: None,
            dashboard: None,
            feeds: HashMap::new(),
            watching: false,
            notifier: None,
            last_status: String::new(),
            status_dirty: false,
            presence_hook: None,
        })
    }

    /// Call `hook` whenever the hot-plug watch sees a device come or go.
    pub fn set_presence_hook(&mut self, hook: PresenceHook) {
        self.presence_hook = Some(hook);
    }

    /// The engine, for set-up before [`ShareServer::run`] (which holds it while running).
    fn eng(&self) -> Result<&Engine, ServeError> {
        self.eng
            .as_ref()
            .ok_or_else(|| io_err("epoll")(std::io::ErrorKind::Other.into()))
    }

    /// Use these signal flags and the read end of a pipe the signal handlers write to.
    pub fn set_signals(
        &mut self,
        signals: ServeSignals,
        wake: UnixStream,
    ) -> Result<(), ServeError> {
        wake.set_nonblocking(true).map_err(io_err("signal pipe"))?;
        let t = self.slot(Slot::Wake);
        self.eng()?
            .register_read(wake.as_raw_fd(), t)
            .map_err(io_err("epoll"))?;
        self.signals = signals;
        self.wake = Some(wake);
        Ok(())
    }

    /// Call this on SIGHUP to get the new port list.
    pub fn set_reloader(&mut self, r: Reloader) {
        self.reloader = Some(r);
    }

    /// Stop the loop once no port has a listener and no session is left (inetd mode).
    pub fn exit_when_idle(&mut self, on: bool) {
        self.exit_when_idle = on;
    }

    /// The local addresses of all listeners: the ports' in port order, then the watch ports'.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        let live = || self.ports.iter().flatten();
        live()
            .filter_map(|p| p.listener.as_ref()?.0.local_addr().ok())
            .chain(live().filter_map(|p| p.watch.as_ref()?.0.local_addr().ok()))
            .collect()
    }

    /// Counters of every port, with its address.
    pub fn stats(&self) -> Vec<(SocketAddr, PortStats)> {
        self.ports
            .iter()
            .flatten()
            .map(|p| (p.addr, p.stats))
            .collect()
    }

    /// Hand an already accepted connection to port `port` (inetd, systemd `Accept=yes`).
    pub fn inject(&mut self, port: usize, sock: TcpStream) {
        self.injected.push((port, OwnedFd::from(sock)));
    }

    fn slot(&mut self, s: Slot) -> Token {
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = s;
                Token(i)
            }
            None => {
                self.slots.push(s);
                Token(self.slots.len() - 1)
            }
        }
    }

    fn release(&mut self, eng: &Engine, t: Token, fd: i32) {
        eng.deregister(fd);
        self.esp.remove(&t.0);
        if let Some(s) = self.slots.get_mut(t.0) {
            *s = Slot::Free;
            self.free.push(t.0);
        }
    }

    /// Run until SIGTERM/SIGINT (or, with [`ShareServer::exit_when_idle`], until nothing is left).
    pub fn run(&mut self) -> Result<(), ServeError> {
        let Some(mut eng) = self.eng.take() else {
            return Ok(());
        };
        for (pi, fd) in std::mem::take(&mut self.injected) {
            // inetd/systemd connections pass the port's host list too.
            self.incoming(&mut eng, pi, fd, Role::Writer, true);
        }
        // A first turn that does not wait: an inetd connection refused above leaves nothing
        // to wait for, and `tick` then ends the run.
        eng.wake_soon();
        let r = eng.run(self).map_err(io_err("epoll"));
        self.eng = Some(eng);
        r
    }

    /// Pump a session and settle what changed.
    fn pump(&mut self, eng: &mut Engine, pi: usize, li: usize) {
        let cap = self.settings.client_buffer;
        let Some(port) = self.ports.get_mut(pi).and_then(Option::as_mut) else {
            return;
        };
        let write_only = port.cfg.write_only;
        if port.lines[li].session.is_none() {
            if port.lines[li].held.is_some() {
                self.pump_held(eng, pi, li);
            }
            return;
        }
        let line = &mut port.lines[li];
        let Some(s) = line.session.as_deref_mut() else {
            return;
        };
        let (replay, log, settings) = (&mut line.replay, &mut port.log, &mut line.settings);
        let (alerts, mut hits) = (&mut port.alerts, Vec::new());
        let hold = port.cfg.hold_session;
        let (mut esp_recs, mut esp_starts) =
            (port.cfg.esp_reset.then_some(&mut self.esp), Vec::new());
        let (to0, from0) = (s.pump.to_dev_bytes, s.pump.from_dev_bytes);
        let more = s.run(
            cap,
            write_only,
            &mut self.scratch,
            &mut |b| {
                replay.push(b);
                if let Some(l) = log.as_mut() {
                    l.output(b);
                }
                if let Some(a) = alerts.as_mut() {
                    a.feed(b, std::time::Instant::now(), &mut hits);
                }
            },
            &mut |s, ci, ev| {
                if let Some(r) = esp_recs.as_deref_mut() {
                    if esp::intercept(r, s, ci, &ev, cap, &mut esp_starts) {
                        return;
                    }
                }
                let set = hold && hold::is_setting(&ev);
                crate::share::rfc2217::control_event(s, ci, ev, cap);
                if set {
                    *settings = hold::settings_of(&s.pump.dev);
                }
            },
        );
        port.stats.bytes_to_dev += s.pump.to_dev_bytes - to0;
        port.stats.bytes_from_dev += s.pump.from_dev_bytes - from0;
        if !hits.is_empty() {
            self.fire_alerts(pi, hits);
        }
        if !esp_starts.is_empty() {
            self.start_esp_resets(eng, esp_starts);
        }
        if more {
            self.deferred.push((pi, li));
            eng.wake_soon();
        }
        self.settle(eng, pi, li);
    }
}
