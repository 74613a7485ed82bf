//! The WebSocket layer of a [`Conn`]: RFC 6455 frames over the connection's byte stream
//! (plain or TLS). Above it the session sees what a raw client sends and gets: data bytes,
//! plus line-control requests turned into the telnet events RFC 2217 clients produce, so one
//! code path sets BREAK, DTR, RTS and the speed whoever asked.
//!
//! - Binary messages are terminal data both ways. Text messages are control requests
//!   (`break`, `dtr on|off`, `rts on|off`, `speed N`; `resize C R` is accepted and ignored: a
//!   serial line has no window size). Unknown requests are ignored.
//! - A ping is answered with a pong, a close with a close; a protocol error closes with its
//!   code (1002 protocol, 1007 bad UTF-8, 1009 too big). Dropping the client (queue cap, take
//!   over, idle time-out) sends close 1001.
//! - At most one frame ([`CHUNK`] bytes of payload plus its header) waits inside the layer:
//!   while it does, writes answer `WouldBlock`, so the client's own bounded queue counts
//!   everything bound for the browser, as for every other client.

use std::io::{self, ErrorKind};

use crate::proto::telnet::{ComPort, Event, cmd, opt, rfc2217};
use crate::proto::websocket::{self as ws, Message, op};
use crate::share::transport::Conn;

/// Largest payload of one frame we send.
pub const CHUNK: usize = 16 * 1024;
/// Largest message accepted from a browser (keystrokes and pastes; control requests are tiny).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// WebSocket state of one connection.
#[derive(Debug)]
pub struct WsLayer {
    dec: ws::Decoder,
    /// Framed bytes not yet written to the stream.
    pending: Vec<u8>,
    sent: usize,
    /// Decoded data not yet handed up.
    data: Vec<u8>,
    /// Control requests not yet handed up.
    events: Vec<Event>,
    /// A close frame was sent.
    close_sent: bool,
    /// The peer sent a close (or broke the protocol): reads end.
    ended: bool,
    scratch: Vec<Message>,
}

impl WsLayer {
    /// A layer whose first bytes out are `head` (the `101 Switching Protocols` answer).
    pub fn new(head: &[u8]) -> WsLayer {
        WsLayer {
            dec: ws::Decoder::new(MAX_MESSAGE),
            pending: head.to_vec(),
            sent: 0,
            data: Vec::new(),
            events: Vec::new(),
            close_sent: false,
            ended: false,
            scratch: Vec::new(),
        }
    }

    /// Control requests received since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Write what is pending. `Ok(true)` when nothing is left.
    pub fn flush(&mut self, conn: &mut Conn) -> io::Result<bool> {
        while self.sent < self.pending.len() {
            match conn.write_stream(&self.pending[self.sent..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.pending.clear();
        self.sent = 0;
        Ok(true)
    }

    /// Frame up to [`CHUNK`] bytes of `data` as a binary message.
    pub fn write(&mut self, conn: &mut Conn, data: &[u8]) -> io::Result<usize> {
        if self.close_sent {
            return Err(ErrorKind::BrokenPipe.into());
        }
        if !self.flush(conn)? {
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = data.len().min(CHUNK);
        ws::encode(op::BINARY, &data[..n], None, &mut self.pending);
        self.flush(conn)?;
        Ok(n)
    }

    /// Read data bytes. `Ok(0)` once the peer closed (or broke the protocol).
    pub fn read(&mut self, conn: &mut Conn, buf: &mut [u8]) -> io::Result<usize> {
        let mut raw = [0u8; 4096];
        loop {
            if !self.data.is_empty() {
                let n = buf.len().min(self.data.len());
                buf[..n].copy_from_slice(&self.data[..n]);
                self.data.drain(..n);
                return Ok(n);
            }
            if self.ended {
                return Ok(0);
            }
            let n = conn.read_stream(&mut raw)?;
            if n == 0 {
                self.ended = true;
                return Ok(0);
            }
            self.input(&raw[..n]);
            // Pongs and close answers go out now (best effort; the rest waits for a flush).
            // Control requests wait in `events` for the session (`Conn::take_events`).
            let _ = self.flush(conn);
        }
    }

    fn input(&mut self, raw: &[u8]) {
        let mut msgs = std::mem::take(&mut self.scratch);
        msgs.clear();
        let r = self.dec.feed(raw, &mut msgs);
        for m in msgs.drain(..) {
            match m {
                Message::Binary(b) => self.data.extend_from_slice(&b),
                Message::Text(t) => self.control(&t),
                Message::Ping(p) => ws::encode(op::PONG, &p, None, &mut self.pending),
                Message::Pong => {}
                Message::Close(code, _) => {
                    let _ = code;
                    self.close(ws::CLOSE_NORMAL, "");
                    self.ended = true;
                }
            }
        }
        self.scratch = msgs;
        if let Err(e) = r {
            log::info!("websocket: {e}");
            self.close(e.close_code(), &e.to_string());
            self.ended = true;
        }
    }

    /// Queue a close frame (once).
    pub fn close(&mut self, code: u16, reason: &str) {
        if !std::mem::replace(&mut self.close_sent, true) {
            ws::close_frame(code, reason, &mut self.pending);
        }
    }

    fn control(&mut self, text: &str) {
        if let Some(ev) = control_event(text) {
            self.events.push(ev);
        }
    }
}

/// The telnet event a control request stands for (`None`: ignored).
///
/// ```
/// use rgetty::share::wslayer::control_event;
/// use rgetty::proto::telnet::{Event, cmd};
/// assert_eq!(control_event("break"), Some(Event::Command(cmd::BRK)));
/// assert_eq!(control_event("resize 80 24"), None);
/// ```
pub fn control_event(text: &str) -> Option<Event> {
    let mut w = text.split_ascii_whitespace();
    let m = match (w.next()?, w.next()) {
        ("break", None) => return Some(Event::Command(cmd::BRK)),
        ("dtr", Some("on")) => ComPort::SetControl(rfc2217::CONTROL_DTR_ON),
        ("dtr", Some("off")) => ComPort::SetControl(rfc2217::CONTROL_DTR_OFF),
        ("rts", Some("on")) => ComPort::SetControl(rfc2217::CONTROL_RTS_ON),
        ("rts", Some("off")) => ComPort::SetControl(rfc2217::CONTROL_RTS_OFF),
        ("speed", Some(n)) => ComPort::SetBaudrate(n.parse().ok().filter(|&b| b > 0)?),
        _ => return None,
    };
    let mut wire = Vec::new();
    m.encode(false, &mut wire);
    // wire is IAC SB COM-PORT payload IAC SE: the event carries the payload.
    let payload = wire.get(3..wire.len().checked_sub(2)?)?.to_vec();
    Some(Event::Sub {
        option: opt::COM_PORT,
        payload,
        truncated: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_requests() {
        let Some(Event::Sub { payload, .. }) = control_event("speed 9600") else {
            panic!("speed");
        };
        assert_eq!(
            ComPort::parse(&payload),
            Ok((ComPort::SetBaudrate(9600), false))
        );
        let Some(Event::Sub { payload, .. }) = control_event("dtr off") else {
            panic!("dtr");
        };
        assert_eq!(
            ComPort::parse(&payload),
            Ok((ComPort::SetControl(rfc2217::CONTROL_DTR_OFF), false))
        );
        assert_eq!(control_event("speed 0"), None);
        assert_eq!(control_event("speed x"), None);
        assert_eq!(control_event("dtr"), None);
        assert_eq!(control_event("rm -rf /"), None);
    }
}
