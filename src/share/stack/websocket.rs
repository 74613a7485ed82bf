//! The WebSocket layer (the web console's terminal socket): RFC 6455 frames over the layer
//! below (fd or tls), server side. The HTTP upgrade is answered before the layer is pushed
//! (see `share::server::web`); from then on the session above sees what a raw client sends
//! and gets: data bytes, and line-control requests as [`Control`] events.
//!
//! - Binary messages are terminal data both ways. Text messages are control requests:
//!   `break` ([`Control::BreakPulse`]), `dtr on|off`, `rts on|off`, `speed N`; `resize C R` is
//!   accepted and ignored (a serial line has no window size), and so is anything unknown.
//! - A ping is answered with a pong, a close with a close; a protocol error closes with its
//!   code (1002 protocol, 1007 bad UTF-8, 1009 too big) and ends the stream. Shutting the
//!   connection down (the client dropped: queue cap, take-over, idle time-out, server exit)
//!   sends close 1001 first.
//! - Control events going down (RFC 2217 answers, modem-state reports) have no meaning for
//!   the page and are dropped.
//! - One write takes at most [`CHUNK`] bytes and frames them; while a frame is held, writes
//!   answer `WouldBlock`, as the stack's back-pressure rule says.

use std::io::{self, ErrorKind};

use super::{Control, Layer, LayerArgs, push_down};
use crate::proto::websocket::{self as ws, Message, op};

/// Largest payload of one frame we send.
pub const CHUNK: usize = 16 * 1024;
/// Largest message accepted from a browser (keystrokes and pastes; control requests are tiny).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// WebSocket over the layer below.
#[derive(Debug)]
pub struct WebSocket {
    below: Box<dyn Layer>,
    dec: ws::Decoder,
    /// Frames not yet pushed down.
    held: Vec<u8>,
    /// Decoded data not yet handed up.
    data: Vec<u8>,
    /// A close frame was queued.
    close_sent: bool,
    /// The peer closed (or broke the protocol): reads end.
    ended: bool,
    /// The last read from below came back short.
    short: bool,
    msgs: Vec<Message>,
}

/// The `websocket` entry of [`super::LAYERS`] (server side).
pub fn build(_args: &LayerArgs<'_>, below: Box<dyn Layer>) -> io::Result<Box<dyn Layer>> {
    Ok(Box::new(WebSocket {
        below,
        dec: ws::Decoder::new(MAX_MESSAGE),
        held: Vec::new(),
        data: Vec::new(),
        close_sent: false,
        ended: false,
        short: false,
        msgs: Vec::new(),
    }))
}

impl WebSocket {
    fn input(&mut self, raw: &[u8], events: &mut Vec<Control>) {
        let mut msgs = std::mem::take(&mut self.msgs);
        let r = self.dec.feed(raw, &mut msgs);
        for m in msgs.drain(..) {
            match m {
                Message::Binary(b) => self.data.extend_from_slice(&b),
                Message::Text(t) => events.extend(control_request(&t)),
                Message::Ping(p) => ws::encode(op::PONG, &p, None, &mut self.held),
                Message::Pong => {}
                Message::Close(..) => {
                    self.close(ws::CLOSE_NORMAL, "");
                    self.ended = true;
                }
            }
        }
        self.msgs = msgs;
        if let Err(e) = r {
            crate::share::roles::log_limited(
                log::Level::Info,
                format!("{}: {e}", self.below.peer()),
            );
            self.close(e.close_code(), &e.to_string());
            self.ended = true;
        }
    }

    /// Queue a close frame (once).
    fn close(&mut self, code: u16, reason: &str) {
        if !std::mem::replace(&mut self.close_sent, true) {
            ws::close_frame(code, reason, &mut self.held);
        }
    }
}

impl Layer for WebSocket {
    fn name(&self) -> &'static str {
        "websocket"
    }

    fn below(&self) -> Option<&dyn Layer> {
        Some(self.below.as_ref())
    }

    fn below_mut(&mut self) -> Option<&mut dyn Layer> {
        Some(self.below.as_mut())
    }

    fn read(&mut self, buf: &mut [u8], events: &mut Vec<Control>) -> io::Result<usize> {
        if self.data.is_empty() && !self.ended {
            let before = events.len();
            let k = self.below.read(buf, events)?;
            self.short = k < buf.len();
            if k == 0 {
                self.ended = true;
                return Ok(0);
            }
            let raw = buf[..k].to_vec();
            self.input(&raw, events);
            // Pongs and close answers go out now (best effort; the rest with the next flush).
            let _ = push_down(&mut self.held, self.below.as_mut());
            if self.data.is_empty() && !self.ended {
                return Err(if events.len() > before {
                    ErrorKind::Interrupted
                } else if self.short {
                    // A partial frame, or pings only: nothing more for now.
                    ErrorKind::WouldBlock
                } else {
                    ErrorKind::Interrupted
                }
                .into());
            }
        }
        if self.data.is_empty() {
            return Ok(0);
        }
        let n = buf.len().min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data.drain(..n);
        Ok(n)
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.close_sent {
            return Err(ErrorKind::BrokenPipe.into());
        }
        if !self.held.is_empty() && !push_down(&mut self.held, self.below.as_mut())? {
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = data.len().min(CHUNK);
        ws::encode(op::BINARY, &data[..n], None, &mut self.held);
        push_down(&mut self.held, self.below.as_mut())?;
        Ok(n)
    }

    fn control(&mut self, _c: Control) -> io::Result<()> {
        Ok(())
    }

    fn flush(&mut self) -> io::Result<bool> {
        push_down(&mut self.held, self.below.as_mut())
    }

    fn held(&self) -> usize {
        self.held.len() + self.below.held()
    }

    fn drained(&self) -> bool {
        self.data.is_empty() && self.short && self.below.drained()
    }

    fn has_buffered(&self) -> bool {
        !self.data.is_empty() || self.below.has_buffered()
    }

    fn shutdown(&mut self) {
        self.close(ws::CLOSE_AWAY, "");
        let _ = push_down(&mut self.held, self.below.as_mut());
        self.below.shutdown();
    }
}

/// The control event a text request stands for (`None`: ignored).
///
/// ```
/// use rgetty::share::stack::{Control, websocket::control_request};
/// assert_eq!(control_request("break"), Some(Control::BreakPulse));
/// assert_eq!(control_request("dtr off"), Some(Control::Dtr(Some(false))));
/// assert_eq!(control_request("speed 9600"), Some(Control::Speed(Some(9600))));
/// assert_eq!(control_request("resize 80 24"), None);
/// ```
pub fn control_request(text: &str) -> Option<Control> {
    let mut w = text.split_ascii_whitespace();
    let on = |v: Option<&str>| match v {
        Some("on") => Some(true),
        Some("off") => Some(false),
        _ => None,
    };
    let c = match (w.next()?, w.next()) {
        ("break", None) => Control::BreakPulse,
        ("dtr", v) => Control::Dtr(Some(on(v)?)),
        ("rts", v) => Control::Rts(Some(on(v)?)),
        ("speed", Some(n)) => Control::Speed(Some(n.parse().ok().filter(|&b: &u32| b > 0)?)),
        _ => return None,
    };
    w.next().is_none().then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::stack::{Conn, Side};
    use std::io::{Read, Write};
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixStream;

    fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        ws::encode(opcode, payload, Some([9, 8, 7, 6]), &mut v);
        v
    }

    #[test]
    fn data_controls_and_close_through_the_stack() {
        let (a, mut peer) = UnixStream::pair().unwrap();
        let args = LayerArgs {
            side: Side::Server,
            tls: None,
        };
        let mut c = Conn::build(OwnedFd::from(a), &["websocket"], &args).unwrap();
        assert_eq!(c.layers(), vec!["websocket", "fd"]);
        let mut input = masked(op::BINARY, b"ls\r");
        input.extend(masked(op::TEXT, b"break"));
        input.extend(masked(op::TEXT, b"speed 9600"));
        input.extend(masked(op::PING, b"p"));
        peer.write_all(&input).unwrap();
        let (mut data, mut ev) = (Vec::new(), Vec::new());
        let mut buf = [0u8; 256];
        for _ in 0..10 {
            match c.read_events(&mut buf, &mut ev) {
                Ok(n) if n > 0 => data.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                _ => break,
            }
        }
        assert_eq!(data, b"ls\r");
        assert_eq!(ev, vec![Control::BreakPulse, Control::Speed(Some(9600))]);
        assert_eq!(c.write(b"out").unwrap(), 3);
        c.shutdown();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        // pong "p", binary "out", close 1001
        assert_eq!(
            got,
            [
                &[0x8a, 1, b'p'][..],
                &[0x82, 3],
                b"out",
                &[0x88, 2, 0x03, 0xe9]
            ]
            .concat()
        );
    }
}
