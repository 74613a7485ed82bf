//! A peer of the pump: its connection stack, its bounded queue and its cached readiness.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Instant;

use crate::share::engine::{TimerId, Token};
use crate::share::stack::{Conn, Control};

/// A byte queue with a read offset (cheap consume from the front).
#[derive(Debug, Default)]
pub struct Buf {
    data: Vec<u8>,
    start: usize,
}

impl Buf {
    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.data.len() - self.start
    }
    /// Nothing queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The queued bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.data[self.start..]
    }
    /// Drop `n` bytes from the front.
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.data.len() {
            self.data.clear();
            self.start = 0;
        }
    }
    /// Append.
    pub fn extend(&mut self, b: &[u8]) {
        if self.start > 0 && self.data.len() + b.len() > self.data.capacity() {
            self.data.drain(..self.start);
            self.start = 0;
        }
        self.data.extend_from_slice(b);
    }
    /// Drop everything (and the memory).
    pub fn clear(&mut self) {
        self.data = Vec::new();
        self.start = 0;
    }
}

/// What a client may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads and writes the device.
    Writer,
    /// Reads only: what it sends never reaches the device.
    Watcher,
}

/// One connected client.
#[derive(Debug)]
pub struct Client {
    /// Its engine token.
    pub token: Token,
    /// The connection.
    pub conn: Conn,
    /// Who it is.
    pub peer: SocketAddr,
    /// Its name when its address says nothing: a client attached through the control
    /// socket (`control:uid=U:pid=P`), which speaks raw bytes with no protocol layers.
    pub name: Option<String>,
    /// Bytes waiting to go to it (bounded by the port's cap).
    pub out: Buf,
    /// Writer or watcher.
    pub role: Role,
    /// Last traffic either way (idle time-out).
    pub last: Instant,
    /// Connected since.
    pub since: Instant,
    /// Bytes received from it.
    pub rx: u64,
    /// Bytes sent to it.
    pub tx: u64,
    /// Set when it is to be dropped, with the reason for the log.
    pub dead: Option<String>,
    /// FLOW-CONTROL-SUSPEND received.
    pub suspended: bool,
    /// It closed its side.
    pub eof: bool,
    /// Cached readiness.
    pub readable: bool,
    /// Cached readiness.
    pub writable: bool,
    /// The peer hung up (read on until end of file).
    pub hup: bool,
    /// Its idle timer.
    pub idle_timer: Option<TimerId>,
}

impl Client {
    /// A client in the given role, ready to be tried both ways.
    pub fn new(token: Token, conn: Conn, peer: SocketAddr, role: Role) -> Client {
        let t = Instant::now();
        Client {
            token,
            conn,
            peer,
            name: None,
            out: Buf::default(),
            role,
            last: t,
            since: t,
            rx: 0,
            tx: 0,
            dead: None,
            suspended: false,
            eof: false,
            readable: true,
            writable: true,
            hup: false,
            idle_timer: None,
        }
    }

    /// How it is named in logs and on the control socket: its name, else its address.
    pub fn who(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.peer.to_string())
    }

    /// Read from its stack: `Some(n)` with the data in `buf` and events in `events` (`n` may
    /// be 0 when only events came), `None` when nothing came (readiness and death noted).
    pub(crate) fn read(&mut self, buf: &mut [u8], events: &mut Vec<Control>) -> Option<usize> {
        match self.conn.read_events(buf, events) {
            Ok(0) => {
                self.eof = true;
                self.dead = Some("closed by peer".into());
                None
            }
            Ok(n) => Some(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                self.readable = false;
                None
            }
            // Only control events this time (or a signal): nothing for the device.
            Err(e) if e.kind() == ErrorKind::Interrupted => Some(0),
            Err(e) => {
                self.dead = Some(format!("read error: {e}"));
                None
            }
        }
    }

    /// Write as much of the queue as the connection takes.
    pub fn flush(&mut self) {
        if self.dead.is_some() || !self.writable {
            return;
        }
        match self.conn.flush() {
            Ok(true) => {}
            Ok(false) => {
                self.writable = false;
                return;
            }
            Err(e) => {
                self.dead = Some(format!("write error: {e}"));
                return;
            }
        }
        while !self.out.is_empty() && !self.suspended {
            match self.conn.write(self.out.as_slice()) {
                Ok(0) => {
                    self.dead = Some("connection closed".into());
                    return;
                }
                Ok(n) => {
                    let short = n < self.out.len();
                    self.out.consume(n);
                    self.tx += n as u64;
                    self.last = Instant::now();
                    if short && self.conn.direct() {
                        self.writable = false;
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.writable = false;
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.dead = Some(format!("write error: {e}"));
                    return;
                }
            }
        }
    }

    /// Queue bytes for it; over `cap` bytes waiting it is marked dead (one reason, one log line).
    pub fn queue(&mut self, bytes: &[u8], cap: usize) {
        if self.dead.is_some() {
            return;
        }
        if self.out.len() + bytes.len() > cap {
            self.out.clear();
            self.dead = Some(format!(
                "more than {cap} bytes waiting (peer not reading), dropped"
            ));
            return;
        }
        self.out.extend(bytes);
    }

    /// Send: straight to the socket when nothing is queued, the rest queued.
    pub fn send(&mut self, bytes: &[u8], cap: usize) {
        if self.out.is_empty() {
            self.queue(bytes, cap);
            self.flush();
        } else {
            self.queue(bytes, cap);
        }
    }

    /// Send a control event (an RFC 2217 answer or notification) through its stack; over
    /// `cap` bytes held there it is marked dead, like [`Client::queue`].
    pub fn control(&mut self, c: Control, cap: usize) {
        if self.dead.is_some() {
            return;
        }
        if let Err(e) = self.conn.control(c) {
            self.dead = Some(format!("write error: {e}"));
        } else if self.conn.held() > cap {
            self.dead = Some(format!(
                "more than {cap} bytes waiting (peer not reading), dropped"
            ));
        }
    }

    /// Bytes waiting to go to it: its queue and what its stack holds.
    pub fn waiting(&self) -> usize {
        self.out.len() + self.conn.held()
    }

    /// Whether it asked for modem-state notifications: it spoke RFC 2217, COM-PORT is on and
    /// its mask is not zero (RFC 2217's default mask is 255).
    pub fn wants_modem_notify(&self) -> bool {
        self.conn.wants_modem_state()
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
