//! The data phase of a call on the one pump of rgetty-share ([`crate::share::pump::Pump`]):
//! the pty master is the pump's device end, the call's TCP connection its one peer.
//!
//! ```text
//!   pty master ─ fd ─ [dte]  ═══ Pump ═══  [wire] ─ fd ─ TCP call
//! ```
//!
//! Two layers carry the modem's own logic, so the pump itself knows nothing of modems:
//!
//! * [`DteLayer`], on the device end: the `+++` escape with its guard times (it sees only
//!   the local DTE's bytes), `--throttle` pacing both ways ([`crate::modem::pace::Pacer`]),
//!   and holding the line while the modem is in command state or no DTE has the slave open.
//!   It shares a [`Gate`] with the line: the line lends it the AT state for a pump run and
//!   learns of an escape found mid-read.
//! * [`WireLayer`], on the call: the call's raw-or-telnet codec ([`crate::modem::wire::Wire`]).
//!
//! The pump's rule applies unchanged: the DTE is read only as far as the call can take
//! (`BUF_CAP`), and the call is read only while fewer than 64 KiB wait for the DTE.

use std::io::{self, ErrorKind};
use std::os::fd::{OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{BUF_CAP, Call, ModemLine};
use crate::modem::pace::Pacer;
use crate::modem::wire::Wire;
use crate::proto::at::{At, AtEvent, EscapePoll};
use crate::share::pump::{Client, Pump, PumpCfg, Role, Scratch};
use crate::share::stack::{Conn, Control, Layer, fd::FdLayer, push_down};

/// Largest single read from the pty master.
const RAW: usize = 4096;
/// Pump calls in one go before the line yields (and asks to run again at once).
const RUNS: usize = 8;
/// Largest chunk of data the wire takes in one write.
const CHUNK: usize = 64 * 1024;

/// What the line and its device-side layer share.
#[derive(Debug)]
pub(super) struct Gate {
    /// The line's AT state, lent for one pump run.
    at: Option<At>,
    /// The line's clock starts here.
    start: Instant,
    /// `--throttle`: towards the DTE.
    pace_in: Option<Pacer>,
    /// `--throttle`: from the DTE.
    pace_out: Option<Pacer>,
    /// The DTE may be read (online, the slave open).
    read_ok: bool,
    /// The DTE may be written (and no command output waits before the call's bytes).
    write_ok: bool,
    /// An escape found mid-read: its events and the DTE's bytes after it (command state).
    escape: Option<(Vec<AtEvent>, Vec<u8>)>,
}

/// A [`Gate`] shared between the line and the layer.
pub(super) type Shared = Arc<Mutex<Gate>>;

fn lock(g: &Shared) -> MutexGuard<'_, Gate> {
    g.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Gate {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

/// Move as much of `pending` as fits into `buf`; how much moved.
fn hand_up(pending: &mut Vec<u8>, buf: &mut [u8]) -> usize {
    let n = pending.len().min(buf.len());
    buf[..n].copy_from_slice(&pending[..n]);
    pending.drain(..n);
    n
}

/// The device end: the pty master, filtered for the escape and paced.
#[derive(Debug)]
pub(super) struct DteLayer {
    below: Box<dyn Layer>,
    gate: Shared,
    /// Bytes passed by the escape filter, not yet handed up.
    pending: Vec<u8>,
    /// The last read from the master came back short.
    short: bool,
}

impl DteLayer {
    /// Run the DTE's bytes through the escape filter (as the line did byte by byte).
    fn filter(&mut self, g: &mut Gate, bytes: &[u8]) {
        let now = g.now();
        let Some(at) = g.at.as_mut() else {
            self.pending.extend_from_slice(bytes);
            return;
        };
        for (i, &b) in bytes.iter().enumerate() {
            if let Some(EscapePoll::Escape(evs)) = at.poll(now) {
                g.escape = Some((evs, bytes[i..].to_vec()));
                return;
            }
            if let Some(pass) = at.online_input(b, now) {
                self.pending.extend_from_slice(&pass);
            }
        }
    }

    /// One read from the master within the pacer's budget; false when nothing more comes now.
    fn read_raw(&mut self, max: usize) -> bool {
        let gate = Arc::clone(&self.gate);
        let mut g = lock(&gate);
        if !g.read_ok || g.escape.is_some() {
            return false;
        }
        let now = g.now();
        let mut max = max.min(RAW);
        if let Some(p) = &mut g.pace_out {
            max = p.take(now, max);
            if max == 0 {
                return false;
            }
        }
        let mut raw = [0u8; RAW];
        let res = self.below.read(&mut raw[..max], &mut Vec::new());
        let got = *res.as_ref().unwrap_or(&0);
        if let Some(p) = &mut g.pace_out {
            p.unread(max - got);
        }
        match res {
            Ok(n) if n > 0 => {
                self.short = n < max;
                self.filter(&mut g, &raw[..n]);
                true
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => true,
            // EOF or EIO: the slave closed (the line sees it as a DTR drop).
            _ => false,
        }
    }
}

impl Layer for DteLayer {
    fn name(&self) -> &'static str {
        "modem-dte"
    }

    fn below(&self) -> Option<&dyn Layer> {
        Some(self.below.as_ref())
    }

    fn below_mut(&mut self) -> Option<&mut dyn Layer> {
        Some(self.below.as_mut())
    }

    fn read(&mut self, buf: &mut [u8], _events: &mut Vec<Control>) -> io::Result<usize> {
        loop {
            if !self.pending.is_empty() {
                return Ok(hand_up(&mut self.pending, buf));
            }
            if !self.read_raw(buf.len()) {
                return Err(ErrorKind::WouldBlock.into());
            }
        }
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut g = lock(&self.gate);
        if !g.write_ok {
            return Err(ErrorKind::WouldBlock.into());
        }
        let now = g.now();
        let mut n = data.len();
        if let Some(p) = &mut g.pace_in {
            n = p.take(now, n);
        }
        let took = match self.below.write(&data[..n]) {
            _ if n == 0 => 0,
            Ok(k) => k,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => 0,
            Err(e) => {
                log::debug!("modem: write to master: {e}");
                n
            }
        };
        if let Some(p) = &mut g.pace_in {
            p.unread(n - took);
        }
        if took == 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        if let Some(at) = &mut g.at {
            at.remote_output(&data[..took], now);
        }
        Ok(took)
    }

    fn drained(&self) -> bool {
        self.pending.is_empty() && self.short && self.below.drained()
    }
}

/// The call's side: raw, or telnet, per [`Wire`].
#[derive(Debug)]
pub(super) struct WireLayer {
    below: Box<dyn Layer>,
    wire: Wire,
    /// Decoded data not yet handed up.
    pending: Vec<u8>,
    /// Encoded data and negotiation answers not yet pushed down.
    held: Vec<u8>,
    /// The last read from below came back short.
    short: bool,
}

impl Layer for WireLayer {
    fn name(&self) -> &'static str {
        "modem-wire"
    }

    fn below(&self) -> Option<&dyn Layer> {
        Some(self.below.as_ref())
    }

    fn below_mut(&mut self) -> Option<&mut dyn Layer> {
        Some(self.below.as_mut())
    }

    fn read(&mut self, buf: &mut [u8], events: &mut Vec<Control>) -> io::Result<usize> {
        loop {
            if !self.pending.is_empty() {
                return Ok(hand_up(&mut self.pending, buf));
            }
            let k = self.below.read(buf, events)?;
            if k == 0 {
                return Ok(0);
            }
            self.short = k < buf.len();
            self.wire
                .decode(&buf[..k], &mut self.pending, &mut self.held);
            if !self.held.is_empty() {
                push_down(&mut self.held, self.below.as_mut())?;
            }
        }
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if !self.held.is_empty() && !push_down(&mut self.held, self.below.as_mut())? {
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = data.len().min(CHUNK);
        self.wire.encode(&data[..n], &mut self.held);
        push_down(&mut self.held, self.below.as_mut())?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<bool> {
        push_down(&mut self.held, self.below.as_mut())
    }

    fn held(&self) -> usize {
        self.held.len() + self.below.held()
    }

    fn drained(&self) -> bool {
        self.pending.is_empty() && self.short && self.below.drained()
    }
}

/// The pump of a new call: `master` (a copy of the line's pty master) as the device end,
/// `call` with its `wire` as the peer. `to_remote`: negotiation not yet sent; `early`: data
/// the caller sent before the answer, for the DTE after `CONNECT`.
pub(super) fn open(
    master: OwnedFd,
    call: OwnedFd,
    wire: Wire,
    to_remote: Vec<u8>,
    early: &[u8],
    gate: &Shared,
) -> io::Result<(Pump, RawFd)> {
    let dte = DteLayer {
        below: Box::new(FdLayer::new(master)?),
        gate: Arc::clone(gate),
        pending: Vec::new(),
        short: false,
    };
    let mut pump = Pump::new(Conn::from_layer(Box::new(dte)));
    let wire = WireLayer {
        below: Box::new(FdLayer::new(call)?),
        wire,
        pending: Vec::new(),
        held: to_remote,
        short: false,
    };
    let conn = Conn::from_layer(Box::new(wire));
    let (fd, peer) = (conn.fd(), conn.peer());
    let token = crate::share::engine::Token(0);
    pump.clients
        .push(Client::new(token, conn, peer, Role::Writer));
    pump.to_dev.extend(early);
    Ok((pump, fd))
}

/// A gate for a call starting at `now` on a line whose clock started at `start`.
pub(super) fn gate(start: Instant, throttle: Option<u32>, now: Duration) -> Shared {
    let pacer = || throttle.map(|bps| Pacer::new(bps, now));
    Arc::new(Mutex::new(Gate {
        at: None,
        start,
        pace_in: pacer(),
        pace_out: pacer(),
        read_ok: false,
        write_ok: false,
        escape: None,
    }))
}

impl ModemLine {
    /// Move the call's bytes through its pump, then act on what the pump found: an escape
    /// (command state; the bytes after it are AT input) or the remote end gone.
    pub(super) fn pump_call(&mut self) {
        let read_ok = self.online && self.slave_open;
        if read_ok {
            self.flush_dte();
        }
        let write_ok = read_ok && self.to_dte.is_empty();
        let Some(c) = &mut self.call else { return };
        {
            let mut g = lock(&c.gate);
            g.read_ok = read_ok;
            g.write_ok = write_ok;
            g.at = Some(std::mem::replace(&mut self.at, At::new(true)));
        }
        c.more = run(&mut c.pump, &mut c.sc, read_ok);
        let (at, escape, paced) = {
            let mut g = lock(&c.gate);
            (g.at.take(), g.escape.take(), g.pace_in.is_some())
        };
        if let Some(at) = at {
            self.at = at;
        }
        let gone = c.pump.clients.first().and_then(|cl| {
            if cl.eof {
                Some("closed".to_string())
            } else {
                cl.dead.clone()
            }
        });
        if gone.is_some() && read_ok && !paced {
            // what was read before the end still goes to the DTE, before NO CARRIER
            self.to_dte.extend_from_slice(c.pump.to_dev.as_slice());
        }
        if let Some((evs, rest)) = escape {
            self.online = false;
            log::debug!("modem: escape to command state");
            self.at_events(evs);
            self.dte_bytes(&rest);
        }
        if let Some(why) = gone {
            self.remote_gone(&why);
        }
    }

    /// Bytes from the DTE (after escape filtering) to the peer.
    pub(super) fn send_remote(&mut self, b: &[u8]) {
        if let Some(cl) = self.call.as_mut().and_then(|c| c.pump.clients.first_mut()) {
            cl.send(b, BUF_CAP);
        }
    }

    /// When the call's pacers let the next byte go, if they hold bytes back.
    pub(super) fn pace_deadline(c: &Call) -> Option<Duration> {
        if c.more {
            return Some(Duration::ZERO);
        }
        let g = lock(&c.gate);
        let pin = g
            .pace_in
            .as_ref()
            .filter(|_| !c.pump.to_dev.is_empty())
            .map(Pacer::ready_at);
        super::min_opt(pin, g.pace_out.as_ref().map(Pacer::ready_at))
    }
}

/// Run the pump until nothing moves (every fd is tried: the line's engine is edge-triggered
/// and the line drains every fd each round). True when work is left.
fn run(pump: &mut Pump, sc: &mut Scratch, read_dev: bool) -> bool {
    pump.dev_readable = true;
    pump.dev_writable = true;
    for cl in &mut pump.clients {
        cl.readable = true;
        cl.writable = true;
    }
    let cfg = PumpCfg {
        cap: BUF_CAP,
        read_dev,
    };
    for _ in 0..RUNS {
        let more = pump.run(cfg, sc, &mut |_| {});
        sc.events.clear(); // neither layer speaks control events
        if !more {
            return false;
        }
    }
    true
}
