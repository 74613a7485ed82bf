//! The one byte pump of rgetty-share: between a device end and its peers, each a connection
//! stack ([`Conn`]). `serve` runs one per open device (the device and its clients and
//! watchers), `connect` one per connection (the local pty or device and the server), the
//! virtual modem one per call (its pty and the call).
//!
//! **One back-pressure rule**: every peer has a bounded queue (`cap` bytes, counting what its
//! stack holds). The device is read only as far as the roomiest peer can take, so one peer
//! alone slows the device down rather than losing data; a peer that falls `cap` behind the
//! others is dropped, so a slow reader never stalls the device or the other readers. Writers'
//! input is merged into one queue towards the device, and peers stop being read while it holds
//! [`TO_DEV_LIMIT`] bytes. Short writes and `WouldBlock` are handled here once, for every end;
//! a peer that asked to be paused (RFC 2217 FLOWCONTROL-SUSPEND) is simply not written to.
//!
//! Readiness is cached per fd (the engine is edge-triggered): [`Pump::run`] moves bytes while
//! something can move and stops when every fd would block or a queue is full. Control events
//! (from a peer's stack, or from the device end's) are handed back to the caller in
//! [`Scratch::events`], before the data read with them reaches the device.
//!
//! The roles hang on the pump, not inside it: writer or watcher is a flag of each peer;
//! take-over, replay and the port log are the caller's (`on_output` sees every chunk read
//! from the device).

use std::io::ErrorKind;
use std::time::Instant;

use crate::share::stack::{Conn, Control};

/// Largest single read from a device or a socket.
pub const SCRATCH: usize = 64 * 1024;
/// Bytes buffered towards the device before clients stop being read.
pub const TO_DEV_LIMIT: usize = 64 * 1024;
/// A device read at least this long suggests more data is waiting.
const BATCH_HINT: usize = 1024;
/// Rounds of one pump call before yielding to other sessions.
const ROUNDS: usize = 16;
/// The peer index [`Scratch::events`] uses for the device end's own events.
pub const DEVICE: usize = usize::MAX;

mod client;
pub use client::{Buf, Client, Role};

/// Shared scratch buffers for the pump.
#[derive(Debug, Default)]
pub struct Scratch {
    buf: Vec<u8>,
    /// Control events of the last [`Pump::run`]: the peer's index (or [`DEVICE`]) and the
    /// event, in the order they were read.
    pub events: Vec<(usize, Control)>,
    /// Events of one read.
    read: Vec<Control>,
}

/// What a pump call needs to know.
#[derive(Debug, Clone, Copy)]
pub struct PumpCfg {
    /// Bytes queued towards one client before it is dropped.
    pub cap: usize,
    /// Read the device (not while a serve session drains, nor for `write-only` ports).
    pub read_dev: bool,
}

/// The device end and its peers.
#[derive(Debug)]
pub struct Pump {
    /// The device end (a device, or connect's local pty).
    pub dev: Conn,
    /// Cached readiness.
    pub dev_readable: bool,
    /// Cached readiness.
    pub dev_writable: bool,
    /// The device hung up or failed (read on until the error shows).
    pub dev_hup: bool,
    /// The peers (serve: clients and watchers; connect: the server).
    pub clients: Vec<Client>,
    /// Bytes waiting for the device.
    pub to_dev: Buf,
    /// Set when the device failed, with the reason.
    pub gone: Option<String>,
    /// Bytes written to the device.
    pub to_dev_bytes: u64,
    /// Bytes read from the device.
    pub from_dev_bytes: u64,
}

impl Pump {
    /// A pump for a device end, with no peers yet.
    pub fn new(dev: Conn) -> Pump {
        Pump {
            dev,
            dev_readable: true,
            dev_writable: true,
            dev_hup: false,
            clients: Vec::new(),
            to_dev: Buf::default(),
            gone: None,
            to_dev_bytes: 0,
            from_dev_bytes: 0,
        }
    }

    /// How many bytes may be read from the device now: the most room any client has.
    fn dev_room(&self, cap: usize) -> usize {
        self.clients
            .iter()
            .filter(|c| c.dead.is_none())
            .map(|c| cap.saturating_sub(c.waiting()))
            .max()
            .unwrap_or(0)
            .min(SCRATCH)
    }

    /// Move bytes until nothing can move, or until control events were read (they are in
    /// `sc.events`; the data read with them waits in the device queue until the next call).
    /// `on_output` sees every chunk read from the device. Returns true when work is left
    /// (call again soon).
    pub fn run(
        &mut self,
        cfg: PumpCfg,
        sc: &mut Scratch,
        on_output: &mut dyn FnMut(&[u8]),
    ) -> bool {
        sc.buf.resize(SCRATCH, 0);
        for _ in 0..ROUNDS {
            if self.gone.is_some() {
                return false;
            }
            let mut progress = false;
            if cfg.read_dev && self.dev_readable {
                progress |= self.read_dev(cfg.cap, sc, on_output);
            }
            progress |= self.read_clients(cfg.cap, sc);
            if !sc.events.is_empty() {
                // The caller carries the events out before their data is written.
                return true;
            }
            progress |= self.write_dev();
            for c in &mut self.clients {
                let before = c.waiting();
                if c.writable && before > 0 {
                    c.flush();
                    progress |= c.waiting() != before;
                }
            }
            if !progress {
                return false;
            }
        }
        true
    }

    fn read_dev(&mut self, cap: usize, sc: &mut Scratch, on_output: &mut dyn FnMut(&[u8])) -> bool {
        let room = self.dev_room(cap);
        if room == 0 {
            return false;
        }
        // A tty read returns at most one line-discipline buffer (4 KiB): while reads come
        // back that full, more is probably waiting, so gather it into one socket write.
        let mut n = 0;
        loop {
            match self.dev.read_events(&mut sc.buf[n..room], &mut sc.read) {
                Ok(0) if n == 0 => {
                    self.gone = Some("end of file on the device".into());
                    return false;
                }
                Ok(0) => break,
                Ok(k) => {
                    n += k;
                    if k < BATCH_HINT && !self.dev_hup && self.dev.drained() {
                        // Drained for now: the kernel signals new data.
                        self.dev_readable = false;
                        break;
                    }
                    if n >= room {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.dev_readable = false;
                    break;
                }
                Err(e) if n == 0 => {
                    self.gone = Some(format!("read error on the device: {e}"));
                    return false;
                }
                Err(_) => break,
            }
            if !sc.read.is_empty() {
                break;
            }
        }
        let got_events = !sc.read.is_empty();
        sc.events.extend(sc.read.drain(..).map(|e| (DEVICE, e)));
        if n == 0 {
            return got_events;
        }
        self.from_dev_bytes += n as u64;
        let data = &sc.buf[..n];
        on_output(data);
        for c in self.clients.iter_mut().filter(|c| c.dead.is_none()) {
            c.send(data, cap);
        }
        true
    }

    /// Write the device queue. True when something was written.
    pub fn write_dev(&mut self) -> bool {
        let mut moved = false;
        while self.dev_writable && !self.to_dev.is_empty() && self.gone.is_none() {
            match self.dev.write(self.to_dev.as_slice()) {
                Ok(0) => break,
                Ok(n) => {
                    moved = true;
                    let short = n < self.to_dev.len();
                    self.to_dev.consume(n);
                    self.to_dev_bytes += n as u64;
                    if short {
                        self.dev_writable = false;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.dev_writable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => self.gone = Some(format!("write error on the device: {e}")),
            }
        }
        moved
    }

    /// Read every readable client once. True when something was read.
    fn read_clients(&mut self, cap: usize, sc: &mut Scratch) -> bool {
        let mut moved = false;
        for ci in 0..self.clients.len() {
            let room = match self.clients[ci].role {
                Role::Writer => TO_DEV_LIMIT.saturating_sub(self.to_dev.len()).min(SCRATCH),
                Role::Watcher => SCRATCH,
            };
            let c = &mut self.clients[ci];
            if room == 0 || !c.readable || c.eof || c.dead.is_some() {
                continue;
            }
            let Some(n) = c.read(&mut sc.buf[..room], &mut sc.read) else {
                continue;
            };
            if n == 0 && sc.read.is_empty() {
                continue;
            }
            if n < room && c.conn.drained() && !c.hup {
                c.readable = false;
            }
            moved = true;
            c.rx += n as u64;
            c.last = Instant::now();
            // Negotiation answers the stack holds count against the cap too.
            if c.conn.held() > cap {
                c.dead = Some(format!(
                    "more than {cap} bytes waiting (peer not reading), dropped"
                ));
            }
            let writer = c.role == Role::Writer;
            if sc.read.is_empty() {
                if writer {
                    self.input(n, sc);
                }
                continue;
            }
            // Control events go to the caller first: a speed change sent with data applies
            // to that data, which waits in the queue until the next call.
            sc.events.extend(sc.read.drain(..).map(|e| (ci, e)));
            if writer {
                self.to_dev.extend(&sc.buf[..n]);
            }
        }
        moved
    }

    /// Input of a writer (in the scratch buffer): straight to the device when nothing is
    /// queued, the rest queued.
    fn input(&mut self, n: usize, sc: &Scratch) {
        let input = &sc.buf[..n];
        let mut off = 0;
        if self.to_dev.is_empty() && self.dev_writable && self.gone.is_none() {
            match self.dev.write(input) {
                Ok(w) => {
                    off = w;
                    self.to_dev_bytes += w as u64;
                    if w < n {
                        self.dev_writable = false;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.dev_writable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => self.gone = Some(format!("write error on the device: {e}")),
            }
        }
        self.to_dev.extend(&input[off..]);
    }

    /// Writers connected (watchers not counted).
    pub fn writers(&self) -> usize {
        self.clients
            .iter()
            .filter(|c| c.role == Role::Writer && c.dead.is_none())
            .count()
    }
}
