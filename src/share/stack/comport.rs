//! The RFC 2217 layer (telnet COM-PORT-OPTION), above [`super::telnet`]: COM-PORT messages
//! become [`Control`] events and back. It keeps what is per connection: the peer's
//! notification masks, whether it speaks RFC 2217 at all (a raw client such as nc never
//! does, and must not have the modem lines polled for it), and answers mask requests itself.

use std::io;

use super::{Control, Layer, LayerArgs, Side};
use crate::proto::telnet::{ComPort, ComPortError, opt, rfc2217 as rc};
use crate::sys::tty::{Flow, Queue};

/// RFC 2217 over a telnet layer.
#[derive(Debug)]
pub struct ComPortLayer {
    below: Box<dyn Layer>,
    side: Side,
    /// NOTIFY-LINESTATE mask.
    linestate_mask: u8,
    /// NOTIFY-MODEMSTATE mask.
    modemstate_mask: u8,
    /// The peer spoke RFC 2217 (WILL COM-PORT or a COM-PORT command).
    spoken: bool,
    /// COM-PORT is on at the peer's side.
    enabled: bool,
    /// A modem state was reported (the first report is always sent).
    reported: bool,
    /// The peer asked for the modem state: the next report answers it.
    modem_asked: bool,
    /// Events of the current read start here.
    mark: usize,
}

/// The `rfc2217` entry of [`super::LAYERS`]: asks the telnet layer below for COM-PORT.
pub fn build(args: &LayerArgs<'_>, mut below: Box<dyn Layer>) -> io::Result<Box<dyn Layer>> {
    if !below.want_option(opt::COM_PORT) {
        return Err(io::Error::other(
            "the rfc2217 layer needs a telnet layer below",
        ));
    }
    Ok(Box::new(ComPortLayer {
        below,
        side: args.side,
        linestate_mask: 0,
        modemstate_mask: 0xff,
        spoken: false,
        enabled: false,
        reported: false,
        modem_asked: false,
        mark: 0,
    }))
}

fn flow_code(f: Option<Flow>, inbound: bool) -> u8 {
    let (none, soft, hard, ask) = if inbound {
        (
            rc::CONTROL_INFLOW_NONE,
            rc::CONTROL_INFLOW_XONXOFF,
            rc::CONTROL_INFLOW_HARDWARE,
            rc::CONTROL_INFLOW_REQUEST,
        )
    } else {
        (
            rc::CONTROL_FLOW_NONE,
            rc::CONTROL_FLOW_XONXOFF,
            rc::CONTROL_FLOW_HARDWARE,
            rc::CONTROL_FLOW_REQUEST,
        )
    };
    match f {
        None => ask,
        Some(Flow::Hard) => hard,
        Some(Flow::Soft) => soft,
        Some(_) => none,
    }
}

fn on_off(v: Option<bool>, on: u8, off: u8, ask: u8) -> u8 {
    match v {
        None => ask,
        Some(true) => on,
        Some(false) => off,
    }
}

/// The control event a SET-CONTROL value stands for.
fn set_control(v: u8) -> Control {
    use rc::*;
    let yes = |on: u8, ask: u8| (v != ask).then_some(v == on);
    match v {
        CONTROL_FLOW_REQUEST => Control::OutFlow(None),
        CONTROL_FLOW_NONE => Control::OutFlow(Some(Flow::None)),
        CONTROL_FLOW_XONXOFF => Control::OutFlow(Some(Flow::Soft)),
        CONTROL_FLOW_HARDWARE => Control::OutFlow(Some(Flow::Hard)),
        CONTROL_BREAK_REQUEST | CONTROL_BREAK_ON | CONTROL_BREAK_OFF => {
            Control::Break(yes(CONTROL_BREAK_ON, CONTROL_BREAK_REQUEST))
        }
        CONTROL_DTR_REQUEST | CONTROL_DTR_ON | CONTROL_DTR_OFF => {
            Control::Dtr(yes(CONTROL_DTR_ON, CONTROL_DTR_REQUEST))
        }
        CONTROL_RTS_REQUEST | CONTROL_RTS_ON | CONTROL_RTS_OFF => {
            Control::Rts(yes(CONTROL_RTS_ON, CONTROL_RTS_REQUEST))
        }
        CONTROL_INFLOW_NONE => Control::InFlow(Some(Flow::None)),
        CONTROL_INFLOW_XONXOFF => Control::InFlow(Some(Flow::Soft)),
        CONTROL_INFLOW_HARDWARE => Control::InFlow(Some(Flow::Hard)),
        // INFLOW-REQUEST, and values RFC 2217 does not define: answered with inbound flow.
        _ => Control::InFlow(None),
    }
}

/// The control event a COM-PORT message stands for (`None`: a purge of an unknown queue,
/// which this layer answers itself).
pub fn control_of(m: &ComPort) -> Option<Control> {
    Some(match *m {
        ComPort::Signature(ref s) => Control::Signature(s.clone()),
        ComPort::SetBaudrate(b) => Control::Speed((b != 0).then_some(b)),
        ComPort::SetDatasize(n) => Control::DataBits((5..=8).contains(&n).then_some(n)),
        ComPort::SetParity(c) => Control::Parity(rc::parity_from_code(c)),
        ComPort::SetStopsize(c) => Control::StopBits(rc::stop_from_code(c)),
        ComPort::SetControl(v) => set_control(v),
        ComPort::NotifyLinestate(_) => Control::LineStateQuery,
        ComPort::NotifyModemstate(_) => Control::ModemStateQuery,
        ComPort::FlowSuspend => Control::Suspend,
        ComPort::FlowResume => Control::Resume,
        ComPort::Purge(rc::PURGE_RX) => Control::Purge(Queue::Input),
        ComPort::Purge(rc::PURGE_TX) => Control::Purge(Queue::Output),
        ComPort::Purge(rc::PURGE_BOTH) => Control::Purge(Queue::Both),
        ComPort::SetLinestateMask(v) => Control::LineStateMask(v),
        ComPort::SetModemstateMask(v) => Control::ModemStateMask(v),
        ComPort::Purge(_) => return None,
    })
}

/// The COM-PORT message for a control event (`None` for events RFC 2217 has no word for).
/// Values of `None` become the query codes (0, or the `*_REQUEST` codes).
pub fn comport_of(c: &Control) -> Option<ComPort> {
    use rc::*;
    Some(match *c {
        Control::Speed(b) => ComPort::SetBaudrate(b.unwrap_or(0)),
        Control::DataBits(n) => ComPort::SetDatasize(n.unwrap_or(0)),
        Control::Parity(p) => ComPort::SetParity(p.map_or(0, parity_code)),
        Control::StopBits(s) => ComPort::SetStopsize(s.map_or(0, stop_code)),
        Control::OutFlow(f) => ComPort::SetControl(flow_code(f, false)),
        Control::InFlow(f) => ComPort::SetControl(flow_code(f, true)),
        Control::Dtr(v) => ComPort::SetControl(on_off(
            v,
            CONTROL_DTR_ON,
            CONTROL_DTR_OFF,
            CONTROL_DTR_REQUEST,
        )),
        Control::Rts(v) => ComPort::SetControl(on_off(
            v,
            CONTROL_RTS_ON,
            CONTROL_RTS_OFF,
            CONTROL_RTS_REQUEST,
        )),
        Control::Break(v) => ComPort::SetControl(on_off(
            v,
            CONTROL_BREAK_ON,
            CONTROL_BREAK_OFF,
            CONTROL_BREAK_REQUEST,
        )),
        Control::Purge(q) => ComPort::Purge(match q {
            Queue::Input => PURGE_RX,
            Queue::Output => PURGE_TX,
            Queue::Both => PURGE_BOTH,
        }),
        Control::ModemState(v) => ComPort::NotifyModemstate(v),
        Control::ModemStateQuery => ComPort::NotifyModemstate(0),
        Control::LineState(v) => ComPort::NotifyLinestate(v),
        Control::LineStateQuery => ComPort::NotifyLinestate(0),
        Control::Suspend => ComPort::FlowSuspend,
        Control::Resume => ComPort::FlowResume,
        Control::Signature(ref s) => ComPort::Signature(s.clone()),
        Control::ModemStateMask(v) => ComPort::SetModemstateMask(v),
        Control::LineStateMask(v) => ComPort::SetLinestateMask(v),
        Control::BreakPulse
        | Control::SettingsChanged
        | Control::Sub { .. }
        | Control::Negotiated { .. } => return None,
    })
}

impl ComPortLayer {
    /// Send one COM-PORT message down.
    fn send(&mut self, m: &ComPort) -> io::Result<()> {
        self.below.control(Control::Sub {
            option: opt::COM_PORT,
            payload: m.payload(self.side == Side::Server),
        })
    }

    /// A COM-PORT sub-negotiation from the peer.
    fn sub(&mut self, payload: &[u8], events: &mut Vec<Control>) -> io::Result<()> {
        let (m, from_server) = match ComPort::parse(payload) {
            Ok(x) => x,
            // pyserial's poll_modem: NOTIFY-LINESTATE/MODEMSTATE without a value asks for
            // the current state.
            Err(ComPortError::Short { cmd: 6, value }) if value.is_empty() => {
                (ComPort::NotifyLinestate(0), false)
            }
            Err(ComPortError::Short { cmd: 7, value }) if value.is_empty() => {
                (ComPort::NotifyModemstate(0), false)
            }
            Err(e) => {
                log::debug!("{}: {e}", self.below.peer());
                return Ok(());
            }
        };
        if self.side == Side::Client {
            if from_server {
                log::debug!("server: {m:?}");
            }
            return Ok(());
        }
        if from_server {
            return Ok(());
        }
        self.spoken = true;
        match m {
            ComPort::Purge(_) if control_of(&m).is_none() => self.send(&m),
            _ => {
                if let Some(c) = control_of(&m) {
                    self.modem_asked |= c == Control::ModemStateQuery;
                    events.push(c);
                }
                Ok(())
            }
        }
    }

    /// Take the telnet events of this read: COM-PORT ones are ours.
    fn take_events(&mut self, events: &mut Vec<Control>) -> io::Result<()> {
        let mine: Vec<Control> = events.drain(self.mark..).collect();
        for ev in mine {
            match ev {
                Control::Negotiated {
                    option: opt::COM_PORT,
                    will,
                    enabled,
                } => {
                    self.enabled = enabled;
                    if will && self.side == Side::Server {
                        self.spoken = true;
                        log::debug!("client {} speaks RFC 2217", self.below.peer());
                    }
                }
                Control::Sub {
                    option: opt::COM_PORT,
                    payload,
                } => self.sub(&payload, events)?,
                ev => events.push(ev),
            }
        }
        Ok(())
    }

    /// A modem-state report going down: the first one and an answer always go, a change
    /// only to a peer that asked for changes, masked.
    fn modem_report(&mut self, v: u8) -> io::Result<()> {
        let answer = !self.reported || std::mem::take(&mut self.modem_asked);
        self.reported = true;
        let v = v & self.modemstate_mask;
        if answer || (self.wants_modem_state() && v != 0) {
            self.send(&ComPort::NotifyModemstate(v))
        } else {
            Ok(())
        }
    }
}

impl Layer for ComPortLayer {
    fn name(&self) -> &'static str {
        "rfc2217"
    }

    fn below(&self) -> Option<&dyn Layer> {
        Some(self.below.as_ref())
    }

    fn below_mut(&mut self) -> Option<&mut dyn Layer> {
        Some(self.below.as_mut())
    }

    fn read(&mut self, buf: &mut [u8], events: &mut Vec<Control>) -> io::Result<usize> {
        self.mark = events.len();
        let r = self.below.read(buf, events);
        self.take_events(events)?;
        r
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.below.write(data)
    }

    fn control(&mut self, c: Control) -> io::Result<()> {
        match c {
            Control::ModemState(v) if self.side == Side::Server => self.modem_report(v),
            Control::LineState(v) if self.side == Side::Server => {
                self.send(&ComPort::NotifyLinestate(v & self.linestate_mask))
            }
            // The answer to a mask request: the mask holds from here on.
            Control::ModemStateMask(v) if self.side == Side::Server => {
                self.modemstate_mask = v;
                self.send(&ComPort::SetModemstateMask(v))
            }
            Control::LineStateMask(v) if self.side == Side::Server => {
                self.linestate_mask = v;
                self.send(&ComPort::SetLinestateMask(v))
            }
            c => match comport_of(&c) {
                Some(m) => self.send(&m),
                None => self.below.control(c),
            },
        }
    }

    fn start(&mut self) -> io::Result<()> {
        self.below.start()?;
        // Our own DO COM-PORT counts the option as on until the peer refuses.
        self.enabled = true;
        Ok(())
    }

    fn wants_modem_state(&self) -> bool {
        self.spoken && self.modemstate_mask != 0 && self.enabled
    }
}
