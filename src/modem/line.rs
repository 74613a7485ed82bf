//! The modem engine: one pty line, its AT interpreter ([`crate::proto::at`]) and at most one call.
//!
//! Single-threaded and driven from outside ([`super::ModemServer::run`], on the shared event engine):
//! [`ModemLine::sources`] lists the fds to watch, [`ModemLine::deadline`] says when to run next,
//! [`ModemLine::ready`] takes the readiness and [`ModemLine::tick`] runs timers and drains every fd (the
//! engine is edge-triggered). Blocking work (DNS, TCP connect, reverse DNS)
//! runs on short-lived threads that report back through a channel and a wake-up socket.
//! `line/hayes.rs` holds the AT side, `line/call.rs` the TCP side, `line/online.rs` a call's
//! data phase on the one pump of rgetty-share ([`crate::share::pump::Pump`]).

mod call;
mod hayes;
mod online;
mod settings;

pub use settings::ModemSettings;
use settings::{flush_to, min_opt, would_block};

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::pace::Cooldown;
use super::poll::{LineFd, Ready};
use super::pty;
use super::wire::Wire;
use crate::proto::at::{self, At, Dtr, EscapePoll, ResultCode};

/// Cap on buffered bytes in either direction before the modem stops reading.
const BUF_CAP: usize = 64 * 1024;
/// Time between `NO CARRIER` and the carrier drop when the remote hangs up, so the DTE can
/// read the result before its line is hung up.
const CARRIER_DROP_GRACE: Duration = Duration::from_millis(500);
/// How often the master is re-checked while no slave is open.
const CLOSED_POLL: Duration = Duration::from_millis(20);
/// Time from `ATA` to `CONNECT`.
const ANSWER_TIME: Duration = Duration::from_millis(100);
/// How long the first RING waits for the caller's reverse-DNS name.
const NAME_WAIT: Duration = Duration::from_secs(1);

/// Reports from helper threads.
#[derive(Debug)]
enum Msg {
    Dialed(u64, Result<(TcpStream, bool), ResultCode>),
    Name(u64, String),
}

/// A connected call: its bytes move through the one pump ([`online`]).
#[derive(Debug)]
struct Call {
    /// The pty master (device end) and the TCP connection (the one peer).
    pump: crate::share::pump::Pump,
    sc: crate::share::pump::Scratch,
    /// The connection's fd.
    fd: RawFd,
    /// Tells this connection from an earlier one on the same fd number.
    generation: u64,
    peer: Option<IpAddr>,
    /// Shared with the pump's device-side layer: AT state, pacers, escape.
    gate: online::Shared,
    /// The pump has work left: run again at once.
    more: bool,
}

/// A caller waiting for the answer.
#[derive(Debug)]
struct Incoming {
    stream: TcpStream,
    wire: Wire,
    peer: IpAddr,
    seq: u64,
    name: Option<String>,
    /// Decoded bytes the caller sent before the answer.
    early: Vec<u8>,
    /// Negotiation for the caller.
    out: Vec<u8>,
    first_ring: Duration,
    name_deadline: Duration,
    next_ring: Option<Duration>,
}

/// The modem line.
#[derive(Debug)]
pub struct ModemLine {
    set: ModemSettings,
    start: Instant,
    master: Option<OwnedFd>,
    /// Counts the ptys (a new one after each carrier drop).
    master_gen: u64,
    slave_path: PathBuf,
    slave_open: bool,
    at: At,
    online: bool,
    call: Option<Call>,
    incoming: Option<Incoming>,
    /// A ringing call picked up with `ATH1` (no carrier): dropped at the next `ATH0`.
    off_hook: Option<TcpStream>,
    dialing: Option<u64>,
    seq: u64,
    to_dte: Vec<u8>,
    connect_at: Option<Duration>,
    drop_at: Option<Duration>,
    cooldown: Cooldown,
    dial_limit: super::policy::DialLimit,
    wake_rx: UnixStream,
    wake_tx: UnixStream,
    rx: Receiver<Msg>,
    tx: Sender<Msg>,
}

impl ModemLine {
    /// Create the pty and the symlink.
    pub fn new(set: ModemSettings) -> io::Result<ModemLine> {
        let (master, slave_path) = pty::open_as(&set.access)?;
        pty::make_link(&set.link, &slave_path)?;
        let (wake_tx, wake_rx) = UnixStream::pair()?;
        wake_rx.set_nonblocking(true)?;
        wake_tx.set_nonblocking(true)?;
        let (tx, rx) = mpsc::channel();
        let mut at = At::new(true);
        at.set_s_reg(at::S_AUTO_ANSWER, set.rings);
        Ok(ModemLine {
            cooldown: Cooldown::new(set.cooldown),
            dial_limit: super::policy::DialLimit::new(set.dial_limit),
            set,
            start: Instant::now(),
            master: Some(master),
            master_gen: 0,
            slave_path,
            slave_open: false,
            at,
            online: false,
            call: None,
            incoming: None,
            off_hook: None,
            dialing: None,
            seq: 0,
            to_dte: Vec::new(),
            connect_at: None,
            drop_at: None,
            wake_rx,
            wake_tx,
            rx,
            tx,
        })
    }

    /// The slave's current path.
    pub fn slave_path(&self) -> &std::path::Path {
        &self.slave_path
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Whether a call is connected, ringing or being dialled.
    pub fn busy(&self) -> bool {
        self.call.is_some()
            || self.incoming.is_some()
            || self.dialing.is_some()
            || self.drop_at.is_some()
            || self.master.is_none()
    }

    /// Remove the symlink (if it still points at this line).
    pub fn close(&mut self) {
        pty::remove_link(&self.set.link, &self.slave_path);
        self.hangup();
    }

    /// Every fd the line owns now, with its token and a generation that changes whenever the
    /// fd behind the token is replaced (for engines that register fds once).
    pub fn sources(&self) -> Vec<(LineFd, RawFd, u64)> {
        let mut v = vec![(LineFd::Wake, self.wake_rx.as_raw_fd(), 0)];
        if let Some(m) = &self.master {
            v.push((LineFd::Master, m.as_raw_fd(), self.master_gen));
        }
        if let Some(c) = &self.call {
            v.push((LineFd::Call, c.fd, c.generation));
        }
        if let Some(i) = &self.incoming {
            v.push((LineFd::Incoming, i.stream.as_raw_fd(), i.seq));
        }
        v
    }

    /// When [`ModemLine::tick`] must run next (relative to now).
    pub fn deadline(&self) -> Duration {
        let mut d = self.connect_at;
        d = min_opt(d, self.drop_at);
        if let Some(i) = &self.incoming {
            d = min_opt(d, Some(self.first_ring_time(i)));
            d = min_opt(d, i.next_ring);
        }
        if self.online {
            d = min_opt(d, self.at.escape_deadline());
            if let Some(c) = &self.call {
                d = min_opt(d, ModemLine::pace_deadline(c));
            }
        }
        let now = self.now();
        let mut rel = d.map_or(Duration::from_secs(1), |d| d.saturating_sub(now));
        if !self.slave_open && self.master.is_some() {
            rel = rel.min(CLOSED_POLL);
        }
        rel
    }

    fn first_ring_time(&self, i: &Incoming) -> Duration {
        if i.name.is_some() {
            i.first_ring
        } else {
            i.first_ring.max(i.name_deadline)
        }
    }
}

// ---- events from the driver ----
impl ModemLine {
    /// Handle readiness of one fd.
    pub fn ready(&mut self, token: LineFd, r: Ready) {
        match token {
            LineFd::Wake => self.drain_msgs(),
            LineFd::Master => {
                if r.read || r.hangup {
                    self.read_master();
                }
                if r.write {
                    self.flush_dte();
                }
                self.pump_call();
            }
            LineFd::Call => self.call_ready(r),
            LineFd::Incoming => self.incoming_ready(r),
            LineFd::Listener => {}
        }
    }

    /// Run timers and flush buffers; call after every round of [`ModemLine::ready`].
    pub fn tick(&mut self) {
        self.drain_msgs();
        self.check_slave();
        let now = self.now();
        if self.connect_at.is_some_and(|t| t <= now) {
            self.connect_at = None;
            self.answer_now();
        }
        self.ring_due(now);
        if self.online {
            match self.at.poll(now) {
                Some(EscapePoll::Escape(evs)) => {
                    self.online = false;
                    log::debug!("modem: escape to command state");
                    self.at_events(evs);
                }
                Some(EscapePoll::Release(b)) => self.send_remote(&b),
                None => {}
            }
        }
        if self.drop_at.is_some_and(|t| t <= now || !self.slave_open) {
            self.drop_at = None;
            self.carrier_drop();
        }
        // an edge-triggered engine reports each fd once: take what is there now
        self.read_master();
        self.pump_call();
        self.read_incoming();
        self.flush_dte();
        if let Some(i) = &mut self.incoming {
            let _ = flush_to(&mut i.stream, &mut i.out);
        }
    }

    /// A TCP caller from `peer` (already admitted by the allow list).
    pub fn offer(&mut self, mut stream: TcpStream, peer: IpAddr) {
        let now = self.now();
        if let Err(left) = self.cooldown.admit(peer, now) {
            log::info!(
                "modem: call from {peer}: cooling down ({} s left)",
                left.as_secs()
            );
            let msg = format!("COOL-DOWN: try again in {} s\r\n", left.as_secs().max(1));
            let _ = stream.write_all(msg.as_bytes());
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        if self.busy() {
            log::info!("modem: call from {peer}: busy");
            let _ = stream.write_all(b"BUSY\r\n");
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        log::info!("modem: call from {peer}");
        let _ = stream.set_nonblocking(true);
        let _ = stream.set_nodelay(true);
        let mut out = Vec::new();
        let wire = if self.set.telnet {
            Wire::telnet(true, &mut out)
        } else if self.set.raw {
            Wire::raw()
        } else {
            Wire::detect()
        };
        self.seq += 1;
        let seq = self.seq;
        self.spawn_name_lookup(seq, peer);
        self.incoming = Some(Incoming {
            stream,
            wire,
            peer,
            seq,
            name: None,
            early: Vec::new(),
            out,
            first_ring: now + self.set.answer_delay,
            name_deadline: now + NAME_WAIT,
            next_ring: None,
        });
    }

    fn spawn_name_lookup(&self, seq: u64, peer: IpAddr) {
        let tx = self.tx.clone();
        let wake = self.wake_tx.try_clone();
        let _ = std::thread::Builder::new()
            .name("modem-rdns".into())
            .spawn(move || {
                let name = super::reverse_dns(peer).unwrap_or_else(|| peer.to_string());
                if tx.send(Msg::Name(seq, name)).is_ok() {
                    if let Ok(mut w) = wake {
                        let _ = w.write(&[1]);
                    }
                }
            });
    }

    fn drain_msgs(&mut self) {
        let mut buf = [0u8; 64];
        while matches!((&self.wake_rx).read(&mut buf), Ok(n) if n > 0) {}
        while let Ok(m) = self.rx.try_recv() {
            match m {
                Msg::Name(seq, name) => {
                    if let Some(i) = self.incoming.as_mut().filter(|i| i.seq == seq) {
                        i.name = Some(name);
                    }
                }
                Msg::Dialed(seq, res) => self.dialed(seq, res),
            }
        }
    }

    fn check_slave(&mut self) {
        let open = self.master.as_ref().is_some_and(pty::slave_open);
        if open == self.slave_open {
            return;
        }
        self.slave_open = open;
        if open {
            log::debug!("modem: slave opened");
            return;
        }
        log::debug!("modem: slave closed");
        self.to_dte.clear();
        if self.call.is_some() {
            self.dtr_drop();
        }
    }

    /// The DTE closed the line with a call up: what `&D` says.
    fn dtr_drop(&mut self) {
        match self.at.dtr() {
            Dtr::Ignore => {}
            Dtr::Command => self.online = false,
            Dtr::Hangup => {
                log::info!("modem: DTR drop: hang up");
                self.hangup();
            }
            Dtr::Reset => {
                log::info!("modem: DTR drop: hang up and reset");
                self.hangup();
                self.at = At::new(true);
                self.at.set_s_reg(at::S_AUTO_ANSWER, self.set.rings);
            }
        }
    }

    /// In command state, read the DTE until `EAGAIN` or a full buffer (the engine may be
    /// edge-triggered). Online, the call's pump reads it.
    fn read_master(&mut self) {
        if self.online && self.call.is_some() {
            return;
        }
        while self.slave_open && self.to_dte.len() < BUF_CAP {
            if !self.read_master_once() {
                break;
            }
        }
    }

    /// One read from the master; false when nothing more is to be had now.
    fn read_master_once(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        let Some(m) = &self.master else { return false };
        match nix::unistd::read(m, &mut buf) {
            Ok(0) | Err(Errno::EIO) => {
                self.check_slave();
                false
            }
            Ok(n) => {
                self.dte_bytes(&buf[..n]);
                true
            }
            Err(_) => false,
        }
    }

    /// Bytes from the DTE in command state (online, the call's pump filters them for the
    /// escape: `online.rs`).
    fn dte_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.dialing.take().is_some() {
                log::info!("modem: dial aborted by the DTE");
                self.result(ResultCode::NoCarrier);
                continue;
            }
            let evs = self.at.input(b);
            self.at_events(evs);
        }
    }
}
