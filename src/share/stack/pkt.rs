//! The pty packet-mode layer (`connect`'s virtual COM port): the pty master in packet mode
//! prefixes each read with a status byte. Data packets (status 0) go up as data; a
//! `TIOCPKT_IOCTL` packet (the program changed the line settings, seen thanks to `EXTPROC`)
//! becomes [`Control::SettingsChanged`], flush packets [`Control::Purge`].

use std::io::{self, ErrorKind};

use super::{Control, Layer, LayerArgs};
use crate::sys::tty::{self, Queue};

/// Packet-mode status: the slave's input queue was flushed (`TIOCPKT_FLUSHREAD`).
const PKT_FLUSHREAD: u8 = 0x01;
/// Packet-mode status: the slave's output queue was flushed (`TIOCPKT_FLUSHWRITE`).
const PKT_FLUSHWRITE: u8 = 0x02;

/// Packet mode over a pty master.
#[derive(Debug)]
pub struct PtyPacket {
    below: Box<dyn Layer>,
}

/// The `pty-packet` entry of [`super::LAYERS`].
pub fn build(_args: &LayerArgs<'_>, below: Box<dyn Layer>) -> io::Result<Box<dyn Layer>> {
    Ok(Box::new(PtyPacket { below }))
}

/// The control events of a status byte.
fn status_events(status: u8, events: &mut Vec<Control>) {
    if status & tty::PKT_IOCTL != 0 {
        events.push(Control::SettingsChanged);
    }
    let q = match (status & PKT_FLUSHREAD != 0, status & PKT_FLUSHWRITE != 0) {
        (true, true) => Some(Queue::Both),
        (true, false) => Some(Queue::Input),
        (false, true) => Some(Queue::Output),
        (false, false) => None,
    };
    if let Some(q) = q {
        events.push(Control::Purge(q));
    }
}

impl Layer for PtyPacket {
    fn name(&self) -> &'static str {
        "pty-packet"
    }

    fn below(&self) -> Option<&dyn Layer> {
        Some(self.below.as_ref())
    }

    fn below_mut(&mut self) -> Option<&mut dyn Layer> {
        Some(self.below.as_mut())
    }

    fn read(&mut self, buf: &mut [u8], events: &mut Vec<Control>) -> io::Result<usize> {
        let n = self.below.read(buf, events)?;
        if n == 0 {
            return Ok(0);
        }
        let status = buf[0];
        if status != 0 {
            status_events(status, events);
            return Err(ErrorKind::Interrupted.into());
        }
        buf.copy_within(1..n, 0);
        match n - 1 {
            0 => Err(ErrorKind::Interrupted.into()),
            k => Ok(k),
        }
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.below.write(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bytes_become_events() {
        let mut ev = Vec::new();
        status_events(tty::PKT_IOCTL | PKT_FLUSHREAD | PKT_FLUSHWRITE, &mut ev);
        assert_eq!(
            ev,
            vec![Control::SettingsChanged, Control::Purge(Queue::Both)]
        );
        ev.clear();
        status_events(PKT_FLUSHWRITE, &mut ev);
        assert_eq!(ev, vec![Control::Purge(Queue::Output)]);
    }
}
