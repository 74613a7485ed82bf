//! `hold-session`: what held clients send while the device is away. A writer's data is kept
//! up to [`HELD_INPUT`] bytes (the rest dropped and counted); RFC 2217 requests are answered
//! at once (a client such as pyserial waits for each answer): a writer's settings, DTR and
//! RTS are noted and carried out when the device is back, modem and line state read as all
//! off, a purge of the output empties the kept input.

use std::time::Instant;

use super::{HELD_INPUT, is_setting};
use crate::share::session::{Buf, Client, Role};
use crate::share::stack::Control;
use crate::sys::tty::Queue;

/// What the device gets when it is back.
#[derive(Debug, Default)]
pub(in crate::share::server) struct Away {
    /// Writers' input, at most [`HELD_INPUT`] bytes.
    pub(in crate::share::server) input: Buf,
    /// Input dropped beyond that.
    pub(in crate::share::server) dropped: u64,
    /// DTR and RTS as they were, or as a writer asked since.
    pub(in crate::share::server) dtr: bool,
    pub(in crate::share::server) rts: bool,
    /// Settings writers asked for (speed, framing, flow control), the last of each kind.
    pub(in crate::share::server) asked: Vec<Control>,
}

impl Away {
    /// What the device gets back: the failed session's unwritten input (beyond the cap
    /// dropped; returned) and its DTR and RTS.
    pub(in crate::share::server) fn new(mut input: Buf, dtr: bool, rts: bool) -> (Away, u64) {
        let over = input.len().saturating_sub(HELD_INPUT);
        input.consume(over);
        let away = Away {
            input,
            dtr,
            rts,
            ..Away::default()
        };
        (away, over as u64)
    }

    /// Read one held client until it would block, answering its control requests.
    pub(in crate::share::server) fn read(&mut self, c: &mut Client, cap: usize) {
        let mut buf = [0u8; 4096];
        let mut events = Vec::new();
        while c.readable && !c.eof && c.dead.is_none() {
            let r = c.read(&mut buf, &mut events);
            let writer = c.role == Role::Writer;
            for ev in events.drain(..) {
                match ev {
                    Control::Suspend | Control::Resume => c.suspended = ev == Control::Suspend,
                    ev => {
                        if let Some(a) = self.answer(ev, writer) {
                            c.control(a, cap);
                        }
                    }
                }
            }
            let Some(n) = r else { break };
            if n == 0 {
                continue; // only control events
            }
            c.rx += n as u64;
            c.last = Instant::now();
            if writer {
                let keep = n.min(HELD_INPUT.saturating_sub(self.input.len()));
                self.input.extend(&buf[..keep]);
                self.dropped += (n - keep) as u64;
            }
        }
    }

    /// The answer to a control request while the device is away; a writer's changes are
    /// noted for its return.
    fn answer(&mut self, ev: Control, writer: bool) -> Option<Control> {
        let line = |v: Option<bool>, now: &mut bool| {
            if let (Some(v), true) = (v, writer) {
                *now = v;
            }
            Some(*now)
        };
        match ev {
            Control::Dtr(v) => Some(Control::Dtr(line(v, &mut self.dtr))),
            Control::Rts(v) => Some(Control::Rts(line(v, &mut self.rts))),
            Control::ModemStateQuery => Some(Control::ModemState(0)),
            Control::LineStateQuery => Some(Control::LineState(0)),
            Control::ModemStateMask(_) | Control::LineStateMask(_) => Some(ev),
            Control::Break(_) => Some(Control::Break(Some(false))),
            Control::Purge(q) => {
                if writer && q != Queue::Input {
                    self.input.clear();
                }
                Some(ev)
            }
            ev if writer && is_setting(&ev) => {
                let kind = std::mem::discriminant(&ev);
                self.asked.retain(|a| std::mem::discriminant(a) != kind);
                self.asked.push(ev.clone());
                Some(ev)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writer_is_answered_and_its_settings_noted() {
        let (mut a, over) = Away::new(Buf::default(), true, true);
        assert_eq!(over, 0);
        let speed = |b| Control::Speed(Some(b));
        assert_eq!(a.answer(speed(9600), true), Some(speed(9600)));
        assert_eq!(a.answer(speed(57600), true), Some(speed(57600)));
        assert_eq!(
            a.answer(Control::Dtr(Some(false)), true),
            Some(Control::Dtr(Some(false)))
        );
        assert_eq!(
            a.answer(Control::ModemStateQuery, true),
            Some(Control::ModemState(0))
        );
        assert_eq!(a.asked, vec![speed(57600)]);
        assert!(!a.dtr && a.rts);
    }

    #[test]
    fn a_watcher_changes_nothing() {
        let (mut a, _) = Away::new(Buf::default(), true, true);
        assert_eq!(
            a.answer(Control::Dtr(Some(false)), false),
            Some(Control::Dtr(Some(true)))
        );
        assert_eq!(a.answer(Control::Speed(Some(9600)), false), None);
        assert!(a.asked.is_empty() && a.dtr);
    }

    #[test]
    fn input_over_the_cap_is_dropped() {
        let mut b = Buf::default();
        b.extend(&vec![7u8; HELD_INPUT + 10]);
        let (a, over) = Away::new(b, false, false);
        assert_eq!((a.input.len(), over), (HELD_INPUT, 10));
    }
}
