//! The modem engine: one pty line, its AT interpreter ([`crate::at`]) and at most one call.
//!
//! Single-threaded and driven from outside ([`super::Server::run`]): [`Line::register`] says
//! which fds to wait on, [`Line::deadline`] when to run next, [`Line::ready`] takes the
//! readiness and [`Line::tick`] runs timers. Blocking work (DNS, TCP connect, reverse DNS)
//! runs on short-lived threads that report back through a channel and a wake-up socket.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::cid;
use super::dial::{Mode, Phonebook, Target};
use super::pace::{Cooldown, Pacer};
use super::poll::{Interest, Ready, Registry, Token};
use super::pty;
use super::wire::Wire;
use crate::at::{self, At, AtEvent, Dtr, EscapePoll, ResultCode};

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
/// `S1` restarts after this long without a RING.
const RING_TIMEOUT: Duration = Duration::from_secs(8);

/// Settings of one modem line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Speed in `CONNECT` messages (and of `--throttle`).
    pub speed: u32,
    /// Power-on S0: answer after this many RINGs (0: wait for `ATA`).
    pub rings: u8,
    /// Interval between RINGs of an incoming call.
    pub ring_interval: Duration,
    /// A caller must stay connected this long before the line rings.
    pub answer_delay: Duration,
    /// Refuse an address for this long after its last call.
    pub cooldown: Duration,
    /// Calls use telnet unless a phonebook entry says otherwise.
    pub telnet: bool,
    /// Pace both directions at `speed`.
    pub throttle: bool,
    /// Caller-ID format.
    pub caller_id: cid::Format,
    /// Phonebook and dial rules.
    pub phonebook: Phonebook,
    /// The symlink to the slave.
    pub link: PathBuf,
}

/// Reports from helper threads.
#[derive(Debug)]
enum Msg {
    Dialed(u64, Result<(TcpStream, bool), ResultCode>),
    Name(u64, String),
}

/// A connected call.
#[derive(Debug)]
struct Call {
    stream: TcpStream,
    wire: Wire,
    peer: Option<IpAddr>,
    /// Decoded bytes from the peer not yet released to the DTE.
    from_remote: Vec<u8>,
    /// Encoded bytes for the peer.
    to_remote: Vec<u8>,
    pace_in: Option<Pacer>,
    pace_out: Option<Pacer>,
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
pub struct Line {
    set: Settings,
    start: Instant,
    master: Option<OwnedFd>,
    slave_path: PathBuf,
    slave_open: bool,
    at: At,
    online: bool,
    call: Option<Call>,
    incoming: Option<Incoming>,
    dialing: Option<u64>,
    seq: u64,
    to_dte: Vec<u8>,
    rings: u32,
    last_ring: Option<Duration>,
    connect_at: Option<Duration>,
    drop_at: Option<Duration>,
    cooldown: Cooldown,
    wake_rx: UnixStream,
    wake_tx: UnixStream,
    rx: Receiver<Msg>,
    tx: Sender<Msg>,
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

fn min_opt(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Write as much of `buf` to `w` as it takes now; `Err` on a real error.
fn flush_to(w: &mut impl Write, buf: &mut Vec<u8>) -> io::Result<()> {
    while !buf.is_empty() {
        match w.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf.drain(..n);
            }
            Err(e) if would_block(&e) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Line {
    /// Create the pty and the symlink.
    pub fn new(set: Settings) -> io::Result<Line> {
        let (master, slave_path) = pty::open()?;
        pty::make_link(&set.link, &slave_path)?;
        let (wake_tx, wake_rx) = UnixStream::pair()?;
        wake_rx.set_nonblocking(true)?;
        wake_tx.set_nonblocking(true)?;
        let (tx, rx) = mpsc::channel();
        let mut at = At::new(true);
        at.set_s_reg(at::S_AUTO_ANSWER, set.rings);
        Ok(Line {
            cooldown: Cooldown::new(set.cooldown),
            set,
            start: Instant::now(),
            master: Some(master),
            slave_path,
            slave_open: false,
            at,
            online: false,
            call: None,
            incoming: None,
            dialing: None,
            seq: 0,
            to_dte: Vec::new(),
            rings: 0,
            last_ring: None,
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

    /// The fds to wait on.
    pub fn register<'a>(&'a self, reg: &mut Registry<'a>) {
        reg.add(
            Token::Wake,
            self.wake_rx.as_fd(),
            Interest {
                read: true,
                write: false,
            },
        );
        if let (Some(m), true) = (&self.master, self.slave_open) {
            let read = self.to_dte.len() < BUF_CAP && self.can_read_dte();
            let write = !self.to_dte.is_empty();
            reg.add(Token::Master, m.as_fd(), Interest { read, write });
        }
        if let Some(c) = &self.call {
            let read = self.online && c.from_remote.len() < BUF_CAP;
            let write = !c.to_remote.is_empty();
            reg.add(Token::Call, c.stream.as_fd(), Interest { read, write });
        }
        if let Some(i) = &self.incoming {
            let read = i.early.len() < BUF_CAP;
            let write = !i.out.is_empty();
            reg.add(Token::Incoming, i.stream.as_fd(), Interest { read, write });
        }
    }

    /// Whether bytes from the DTE may be read now (pacing, and room towards the peer).
    fn can_read_dte(&self) -> bool {
        match (&self.call, self.online) {
            (Some(c), true) => {
                c.to_remote.len() < BUF_CAP
                    && c.pace_out
                        .as_ref()
                        .is_none_or(|p| p.ready_at() <= self.now())
            }
            _ => true,
        }
    }

    /// When [`Line::tick`] must run next (relative to now).
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
                if let (Some(p), false) = (&c.pace_in, c.from_remote.is_empty()) {
                    d = min_opt(d, Some(p.ready_at()));
                }
                if let Some(p) = &c.pace_out {
                    d = min_opt(d, Some(p.ready_at()));
                }
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
impl Line {
    /// Handle readiness of one fd.
    pub fn ready(&mut self, token: Token, r: Ready) {
        match token {
            Token::Wake => self.drain_msgs(),
            Token::Master => {
                if r.read || r.hangup {
                    self.read_master();
                }
            }
            Token::Call => self.call_ready(r),
            Token::Incoming => self.incoming_ready(r),
            Token::Listener => {}
        }
    }

    /// Run timers and flush buffers; call after every round of [`Line::ready`].
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
            self.release_from_remote(now);
        }
        if self.drop_at.is_some_and(|t| t <= now || !self.slave_open) {
            self.drop_at = None;
            self.carrier_drop();
        }
        self.flush_dte();
        self.flush_call();
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
        } else {
            Wire::raw()
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

    fn read_master(&mut self) {
        let mut buf = [0u8; 4096];
        let mut max = buf.len();
        if self.online {
            let now = self.now();
            if let Some(p) = self.call.as_mut().and_then(|c| c.pace_out.as_mut()) {
                max = p.take(now, max);
                if max == 0 {
                    return;
                }
            }
        }
        let Some(m) = &self.master else { return };
        match nix::unistd::read(m, &mut buf[..max]) {
            Ok(0) | Err(Errno::EIO) => self.check_slave(),
            Ok(n) => {
                if let Some(p) = self.call.as_mut().and_then(|c| c.pace_out.as_mut()) {
                    p.unread(max - n);
                }
                self.dte_bytes(&buf[..n]);
            }
            Err(_) => {}
        }
    }

    fn dte_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.online {
                let now = self.now();
                if let Some(EscapePoll::Escape(evs)) = self.at.poll(now) {
                    self.online = false;
                    self.at_events(evs);
                } else {
                    if let Some(pass) = self.at.online_input(b, now) {
                        self.send_remote(&pass);
                    }
                    continue;
                }
            }
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

// ---- the AT side ----
impl Line {
    fn send_dte(&mut self, b: &[u8]) {
        if self.slave_open && self.master.is_some() {
            self.to_dte.extend_from_slice(b);
        }
    }

    fn result(&mut self, code: ResultCode) {
        let b = self.at.format(code);
        self.send_dte(&b);
    }

    fn at_events(&mut self, evs: Vec<AtEvent>) {
        for e in evs {
            match e {
                AtEvent::Echo(v) | AtEvent::Info(v) => self.send_dte(&v),
                AtEvent::Command(c) => log::debug!("modem: command {c:?}"),
                AtEvent::Result(c) => self.result(c),
                AtEvent::Answer => self.answer(),
                AtEvent::Hangup => self.hangup(),
                AtEvent::Online => {
                    if self.call.is_some() {
                        self.go_online();
                    } else {
                        self.result(ResultCode::NoCarrier);
                    }
                }
                AtEvent::Reset => {
                    self.at.set_s_reg(at::S_AUTO_ANSWER, self.set.rings);
                    self.hangup();
                }
                AtEvent::Dial(number) => self.dial(&number),
            }
        }
    }

    fn go_online(&mut self) {
        self.online = true;
        self.at.enter_online(self.now());
        self.result(ResultCode::Connect(Some(self.set.speed)));
    }

    fn dial(&mut self, number: &str) {
        if self.call.is_some() || self.dialing.is_some() {
            self.result(ResultCode::Error);
            return;
        }
        if self.incoming.is_some() {
            // the line is ringing: no dial tone
            self.result(ResultCode::NoDialtone);
            return;
        }
        let Some(target) = self.set.phonebook.resolve(number) else {
            log::info!("modem: dial {number:?}: no such number");
            self.result(ResultCode::NoCarrier);
            return;
        };
        log::info!("modem: dial {number:?}: {}", target.addr);
        self.seq += 1;
        let seq = self.seq;
        self.dialing = Some(seq);
        let wait = Duration::from_secs(u64::from(self.at.s_reg(at::S_CARRIER_WAIT)).max(1));
        let tx = self.tx.clone();
        let wake = self.wake_tx.try_clone();
        let telnet = target.mode.map_or(self.set.telnet, |m| m == Mode::Telnet);
        let spawned = std::thread::Builder::new()
            .name("modem-dial".into())
            .spawn(move || {
                let res = dial_tcp(&target, wait).map(|s| (s, telnet));
                if tx.send(Msg::Dialed(seq, res)).is_ok() {
                    if let Ok(mut w) = wake {
                        let _ = w.write(&[1]);
                    }
                }
            });
        if spawned.is_err() {
            self.dialing = None;
            self.result(ResultCode::NoCarrier);
        }
    }

    fn dialed(&mut self, seq: u64, res: Result<(TcpStream, bool), ResultCode>) {
        if self.dialing != Some(seq) {
            return; // aborted
        }
        self.dialing = None;
        match res {
            Ok((stream, telnet)) => {
                let _ = stream.set_nonblocking(true);
                let _ = stream.set_nodelay(true);
                let mut to_remote = Vec::new();
                let wire = if telnet {
                    Wire::telnet(false, &mut to_remote)
                } else {
                    Wire::raw()
                };
                self.connect(stream, wire, None, to_remote, Vec::new());
            }
            Err(code) => self.result(code),
        }
    }

    fn answer(&mut self) {
        if self.call.is_some() {
            self.result(ResultCode::Error);
        } else if self.incoming.is_none() {
            self.result(ResultCode::NoCarrier);
        } else {
            self.connect_at = Some(self.now() + ANSWER_TIME);
        }
    }

    fn answer_now(&mut self) {
        let Some(i) = self.incoming.take() else {
            self.result(ResultCode::NoCarrier);
            return;
        };
        self.rings = 0;
        self.at.set_s_reg(at::S_RING_COUNT, 0);
        self.connect(i.stream, i.wire, Some(i.peer), i.out, i.early);
    }

    fn connect(
        &mut self,
        stream: TcpStream,
        wire: Wire,
        peer: Option<IpAddr>,
        to_remote: Vec<u8>,
        early: Vec<u8>,
    ) {
        let now = self.now();
        let pacer = || self.set.throttle.then(|| Pacer::new(self.set.speed, now));
        self.call = Some(Call {
            stream,
            wire,
            peer,
            from_remote: early,
            to_remote,
            pace_in: pacer(),
            pace_out: pacer(),
        });
        log::info!("modem: online");
        self.go_online();
    }

    fn ring_due(&mut self, now: Duration) {
        let Some(i) = &self.incoming else { return };
        let due = match i.next_ring {
            Some(t) => t <= now,
            None => self.first_ring_time(i) <= now,
        };
        if !due || self.connect_at.is_some() {
            return;
        }
        let first = i.next_ring.is_none();
        let cid = if first {
            let name = i.name.clone().unwrap_or_else(|| i.peer.to_string());
            cid::lines(self.set.caller_id, &i.peer.to_string(), &name, epoch_secs())
        } else {
            Vec::new()
        };
        if self
            .last_ring
            .is_none_or(|t| now.saturating_sub(t) >= RING_TIMEOUT)
        {
            self.rings = 0;
        }
        self.rings += 1;
        self.last_ring = Some(now);
        self.at
            .set_s_reg(at::S_RING_COUNT, u8::try_from(self.rings).unwrap_or(255));
        if let Some(i) = &mut self.incoming {
            i.next_ring = Some(now + self.set.ring_interval);
        }
        self.result(ResultCode::Ring);
        self.send_dte(&cid);
        let s0 = u32::from(self.at.s_reg(at::S_AUTO_ANSWER));
        if s0 > 0 && self.rings >= s0 {
            self.connect_at = Some(now + ANSWER_TIME);
        }
    }
}

fn epoch_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

// ---- the call ----
impl Line {
    fn call_ready(&mut self, r: Ready) {
        if r.write {
            self.flush_call();
        }
        if r.read {
            self.read_call();
        } else if r.hangup && !self.online {
            self.remote_gone("reset");
        }
    }

    fn read_call(&mut self) {
        let Some(c) = &mut self.call else { return };
        let mut buf = [0u8; 4096];
        match c.stream.read(&mut buf) {
            Ok(0) => self.remote_gone("closed"),
            Ok(n) => {
                let mut reply = Vec::new();
                c.wire.decode(&buf[..n], &mut c.from_remote, &mut reply);
                c.to_remote.extend_from_slice(&reply);
                let now = self.now();
                self.release_from_remote(now);
            }
            Err(e) if would_block(&e) => {}
            Err(e) => self.remote_gone(&e.to_string()),
        }
    }

    /// Move bytes from the peer to the DTE, as fast as the pacer allows.
    fn release_from_remote(&mut self, now: Duration) {
        if !self.online || !self.slave_open {
            return; // held (the DTE is not there to read it)
        }
        let Some(c) = &mut self.call else { return };
        let n = match &mut c.pace_in {
            Some(p) => p.take(now, c.from_remote.len()),
            None => c.from_remote.len(),
        };
        let b: Vec<u8> = c.from_remote.drain(..n).collect();
        self.send_dte(&b);
    }

    /// Bytes from the DTE (after escape filtering) to the peer.
    fn send_remote(&mut self, b: &[u8]) {
        if let Some(c) = &mut self.call {
            let mut enc = Vec::with_capacity(b.len());
            c.wire.encode(b, &mut enc);
            c.to_remote.extend_from_slice(&enc);
        }
    }

    fn flush_call(&mut self) {
        let Some(c) = &mut self.call else { return };
        if let Err(e) = flush_to(&mut c.stream, &mut c.to_remote) {
            self.remote_gone(&e.to_string());
        }
    }

    fn flush_dte(&mut self) {
        if !self.slave_open {
            self.to_dte.clear();
            return;
        }
        let Some(m) = &self.master else { return };
        while !self.to_dte.is_empty() {
            match nix::unistd::write(m, &self.to_dte) {
                Ok(n) => {
                    self.to_dte.drain(..n);
                }
                Err(Errno::EAGAIN | Errno::EINTR) => break,
                Err(e) => {
                    log::debug!("modem: write to master: {e}");
                    self.to_dte.clear();
                    break;
                }
            }
        }
    }

    fn incoming_ready(&mut self, r: Ready) {
        let Some(i) = &mut self.incoming else { return };
        if r.write {
            let _ = flush_to(&mut i.stream, &mut i.out);
        }
        if !r.read && !r.hangup {
            return;
        }
        let mut buf = [0u8; 4096];
        match i.stream.read(&mut buf) {
            Ok(0) => {
                log::info!("modem: caller {} gave up before the answer", i.peer);
                let peer = i.peer;
                self.incoming = None;
                self.connect_at = None;
                self.cooldown.ended(peer, self.now());
            }
            Ok(n) => {
                let mut reply = Vec::new();
                i.wire.decode(&buf[..n], &mut i.early, &mut reply);
                i.out.extend_from_slice(&reply);
            }
            Err(e) if would_block(&e) => {}
            Err(_) => self.incoming = None,
        }
    }

    /// Hang up locally (ATH, ATZ, DTR drop): close the call, command state.
    fn hangup(&mut self) {
        if let Some(mut c) = self.call.take() {
            log::info!("modem: hang up");
            let _ = flush_to(&mut c.stream, &mut c.to_remote);
            let _ = c.stream.shutdown(Shutdown::Both);
            if let Some(p) = c.peer {
                self.cooldown.ended(p, self.now());
            }
        }
        self.online = false;
    }

    /// The peer hung up: NO CARRIER, then a carrier drop after a grace period.
    fn remote_gone(&mut self, why: &str) {
        if self.call.is_none() {
            return;
        }
        log::info!("modem: remote hung up ({why})");
        self.hangup();
        self.result(ResultCode::NoCarrier);
        self.drop_at = Some(self.now() + CARRIER_DROP_GRACE);
    }

    /// Close the master (the session on the slave gets SIGHUP) and open a new pty behind the
    /// same symlink.
    fn carrier_drop(&mut self) {
        self.flush_dte();
        self.master = None;
        self.to_dte.clear();
        self.slave_open = false;
        log::debug!("modem: carrier dropped");
        match pty::open() {
            Ok((m, path)) => {
                if let Err(e) = pty::make_link(&self.set.link, &path) {
                    log::warn!("modem: re-pointing {}: {e}", self.set.link.display());
                }
                self.master = Some(m);
                self.slave_path = path;
            }
            Err(e) => log::error!("modem: cannot open a new pty: {e}"),
        }
    }
}

/// Connect to `target` within `wait`: the result code for the DTE on failure.
fn dial_tcp(target: &Target, wait: Duration) -> Result<TcpStream, ResultCode> {
    let addrs = target.addr.to_socket_addrs().map_err(|e| {
        log::info!("modem: dial {}: {e}", target.addr);
        ResultCode::NoCarrier
    })?;
    let mut code = ResultCode::NoCarrier;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, wait) {
            Ok(s) => return Ok(s),
            Err(e) => {
                log::info!("modem: dial {addr}: {e}");
                code = match e.kind() {
                    io::ErrorKind::ConnectionRefused => ResultCode::Busy,
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ResultCode::NoAnswer,
                    io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable => {
                        ResultCode::NoDialtone
                    }
                    _ => ResultCode::NoCarrier,
                };
            }
        }
    }
    Err(code)
}
