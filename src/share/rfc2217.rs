//! The server side of serial control: the control events a client's stack delivers (RFC
//! 2217 requests, telnet BRK), carried out on the session's device, and modem-state
//! notifications.
//!
//! Every answer goes back through the client's stack, bounded by its cap. A SET that would not change the
//! device's value does not call `tcsetattr`, and is not logged.

use std::os::fd::AsFd;

use nix::sys::termios::{ControlFlags, InputFlags, Termios};

use crate::proto::telnet::rfc2217;
use crate::share::session::{Role, Session};
use crate::share::stack::Control;
use crate::sys::tty;

/// The RFC 2217 modem-state byte (without delta bits). A device without modem lines reports
/// DCD, DSR and CTS on, like a null-modem cable with the lines looped back.
pub fn modem_state(s: &Session) -> u8 {
    match tty::modem_lines(&s.pump.dev) {
        Ok(Some(m)) => {
            (if m.dcd { rfc2217::MODEM_DCD } else { 0 })
                | (if m.ri { rfc2217::MODEM_RI } else { 0 })
                | (if m.dsr { rfc2217::MODEM_DSR } else { 0 })
                | (if m.cts { rfc2217::MODEM_CTS } else { 0 })
        }
        _ => rfc2217::MODEM_DCD | rfc2217::MODEM_DSR | rfc2217::MODEM_CTS,
    }
}

/// The modem-state byte with delta bits for a change from `prev` to `cur` (None: no change).
pub fn modem_delta(prev: u8, cur: u8) -> Option<u8> {
    if cur == prev {
        return None;
    }
    let changed = cur ^ prev;
    let mut v = cur;
    if changed & rfc2217::MODEM_DCD != 0 {
        v |= rfc2217::MODEM_DELTA_DCD;
    }
    if changed & rfc2217::MODEM_DSR != 0 {
        v |= rfc2217::MODEM_DELTA_DSR;
    }
    if changed & rfc2217::MODEM_CTS != 0 {
        v |= rfc2217::MODEM_DELTA_CTS;
    }
    if prev & rfc2217::MODEM_RI != 0 && cur & rfc2217::MODEM_RI == 0 {
        v |= rfc2217::MODEM_TERI;
    }
    Some(v)
}

/// Poll the modem lines once and notify the clients that asked (their RFC 2217 layer masks
/// the report and drops it when nothing in the mask changed).
pub fn poll_modem(s: &mut Session, cap: usize) {
    let cur = modem_state(s);
    let prev = s.modem_prev.replace(cur).unwrap_or(cur);
    let Some(v) = modem_delta(prev, cur) else {
        return;
    };
    for c in s.pump.clients.iter_mut() {
        if c.wants_modem_notify() {
            c.control(Control::ModemState(v), cap);
            c.flush();
        }
    }
}

/// Handle one control event from client `ci`: carry it out on the device (writers only) and
/// answer with what the device reads back.
pub fn control_event(s: &mut Session, ci: usize, ev: Control, cap: usize) {
    let Some(c) = s.pump.clients.get(ci) else {
        return;
    };
    let may_set = c.role == Role::Writer;
    let answer = match ev {
        Control::BreakPulse => {
            if may_set {
                if let Err(e) = tty::send_break(&s.pump.dev) {
                    log::warn!("{}: break: {e}", s.path.display());
                }
            }
            None
        }
        Control::Suspend | Control::Resume => {
            if let Some(c) = s.pump.clients.get_mut(ci) {
                c.suspended = ev == Control::Suspend;
            }
            None
        }
        Control::Signature(sig) => signature(s, &sig),
        // The layer applies the mask as the echo passes.
        Control::ModemStateMask(_) | Control::LineStateMask(_) => Some(ev),
        Control::LineStateQuery => Some(line_state(s)),
        Control::ModemStateQuery => Some(Control::ModemState(modem_state(s))),
        Control::Purge(q) => {
            if may_set {
                purge(s, q);
            }
            Some(Control::Purge(q))
        }
        ev => serial(s, ev, may_set),
    };
    if let (Some(a), Some(c)) = (answer, s.pump.clients.get_mut(ci)) {
        c.control(a, cap);
    }
}

/// Carry out a setting a client asked for while the device was away (`hold-session`; it was
/// answered then).
pub(crate) fn apply(s: &mut Session, ev: Control) {
    let _ = serial(s, ev, true);
}

/// A client's signature is logged; an empty one asks for ours.
fn signature(s: &Session, sig: &[u8]) -> Option<Control> {
    let path = s.path.display();
    if !sig.is_empty() {
        crate::sys::loglimit::log_limited(
            log::Level::Info,
            format!(
                "{path}: client signature {:?}",
                String::from_utf8_lossy(sig)
            ),
        );
        return None;
    }
    Some(Control::Signature(
        format!("rgetty-share {} {path}", env!("CARGO_PKG_VERSION")).into_bytes(),
    ))
}

/// Speed, framing, flow control, break, DTR and RTS: set (writers), then read back.
fn serial(s: &mut Session, ev: Control, may_set: bool) -> Option<Control> {
    let params = |s: &Session| tty::get_params(s.pump.dev.as_fd()).ok();
    Some(match ev {
        Control::Speed(b) => {
            if let Some(b) = b.filter(|_| may_set) {
                set_param(s, "baud rate", |p| p.baud = b);
            }
            Control::Speed(Some(params(s).map_or(0, |p| p.baud)))
        }
        Control::DataBits(n) => {
            if let Some(n) = n.filter(|_| may_set) {
                set_param(s, "data size", |p| p.data_bits = n);
            }
            Control::DataBits(Some(params(s).map_or(0, |p| p.data_bits)))
        }
        Control::Parity(par) => {
            if let Some(par) = par.filter(|_| may_set) {
                set_param(s, "parity", |p| p.parity = par);
            }
            Control::Parity(params(s).map(|p| p.parity))
        }
        Control::StopBits(st) => {
            if let Some(st) = st.filter(|_| may_set) {
                set_param(s, "stop size", |p| p.stop_bits = st);
            }
            Control::StopBits(params(s).map(|p| p.stop_bits))
        }
        Control::OutFlow(f) => Control::OutFlow(Some(set_out_flow(s, f, may_set))),
        Control::InFlow(f) => Control::InFlow(Some(set_in_flow(s, f, may_set))),
        Control::Break(on) => Control::Break(Some(set_break(s, on, may_set))),
        Control::Dtr(on) => Control::Dtr(Some(set_dtr_rts(s, true, on, may_set))),
        Control::Rts(on) => Control::Rts(Some(set_dtr_rts(s, false, on, may_set))),
        // Telnet negotiations of other options, reports a server does not take.
        _ => return None,
    })
}

fn control_flow_out(t: &Termios) -> tty::Flow {
    if t.control_flags.contains(ControlFlags::CRTSCTS) {
        tty::Flow::Hard
    } else if t.input_flags.contains(InputFlags::IXON) {
        tty::Flow::Soft
    } else {
        tty::Flow::None
    }
}

fn control_flow_in(t: &Termios) -> tty::Flow {
    if t.control_flags.contains(ControlFlags::CRTSCTS) {
        tty::Flow::Hard
    } else if t.input_flags.contains(InputFlags::IXOFF) {
        tty::Flow::Soft
    } else {
        tty::Flow::None
    }
}

/// Change one serial parameter; no `tcsetattr` (and no log line) when it is already so.
fn set_param(s: &Session, what: &str, f: impl FnOnce(&mut tty::SerialParams)) {
    let fd = s.pump.dev.as_fd();
    let r = tty::get_params(fd).and_then(|old| {
        let mut p = old;
        f(&mut p);
        if p == old {
            return Ok(());
        }
        crate::sys::loglimit::log_limited(
            log::Level::Info,
            format!("{}: {what} {}", s.path.display(), describe(&p, what)),
        );
        tty::set_params(fd, &p)
    });
    if let Err(e) = r {
        log::warn!("{}: set {what}: {e}", s.path.display());
    }
}

fn describe(p: &tty::SerialParams, what: &str) -> String {
    match what {
        "baud rate" => p.baud.to_string(),
        "data size" => p.data_bits.to_string(),
        "parity" => format!("{:?}", p.parity),
        _ => format!("{:?}", p.stop_bits),
    }
}

/// The line state for a NOTIFY-LINESTATE request: both transmit registers empty when the
/// device's output queue is.
fn line_state(s: &Session) -> Control {
    let empty = tty::output_pending(&s.pump.dev).map_or(0, |n| {
        if n == 0 {
            rfc2217::LINE_THRE | rfc2217::LINE_TSRE
        } else {
            0
        }
    });
    Control::LineState(empty)
}

fn purge(s: &mut Session, q: tty::Queue) {
    if matches!(q, tty::Queue::Output | tty::Queue::Both) {
        s.pump.to_dev.clear();
    }
    // An explicit request from the client, not a close: honour it.
    if let Err(e) = tty::flush(&s.pump.dev, q) {
        log::warn!("{}: purge: {e}", s.path.display());
    }
}

/// Outbound flow control: set (writers), then read back.
fn set_out_flow(s: &Session, f: Option<tty::Flow>, may_set: bool) -> tty::Flow {
    let fd = s.pump.dev.as_fd();
    let now = || tty::get_termios(fd).map_or(tty::Flow::None, |t| control_flow_out(&t));
    if let Some(f) = f.filter(|f| may_set && now() != *f) {
        if let Err(e) = tty::set_flow(fd, f) {
            log::warn!("{}: flow control: {e}", s.path.display());
        }
    }
    now()
}

/// Inbound flow control: set (writers), then read back.
fn set_in_flow(s: &Session, f: Option<tty::Flow>, may_set: bool) -> tty::Flow {
    let fd = s.pump.dev.as_fd();
    let now = || tty::get_termios(fd).map_or(tty::Flow::None, |t| control_flow_in(&t));
    if let Some(f) = f.filter(|f| may_set && now() != *f) {
        let r = tty::get_termios(fd).and_then(|mut t| {
            t.input_flags.set(InputFlags::IXOFF, f == tty::Flow::Soft);
            t.control_flags
                .set(ControlFlags::CRTSCTS, f == tty::Flow::Hard);
            tty::set_termios(fd, &t)
        });
        if let Err(e) = r {
            log::warn!("{}: inbound flow control: {e}", s.path.display());
        }
    }
    now()
}

/// The break condition: set (writers), then the state we hold.
fn set_break(s: &mut Session, on: Option<bool>, may_set: bool) -> bool {
    if let Some(on) = on.filter(|on| may_set && *on != s.brk) {
        match tty::set_break(s.pump.dev.as_fd(), on) {
            Ok(()) => s.brk = on,
            Err(e) => log::warn!("{}: break: {e}", s.path.display()),
        }
    }
    s.brk
}

/// DTR or RTS: set (writers), then read back (the shadow value on a device without modem
/// lines, so that strict clients always get an answer).
fn set_dtr_rts(s: &mut Session, dtr: bool, on: Option<bool>, may_set: bool) -> bool {
    let fd = s.pump.dev.as_fd();
    if let Some(on) = on.filter(|_| may_set) {
        let r = if dtr {
            tty::set_dtr(fd, on)
        } else {
            tty::set_rts(fd, on)
        };
        match r {
            Ok(_) if dtr => s.dtr = on,
            Ok(_) => s.rts = on,
            Err(e) => log::warn!(
                "{}: {}: {e}",
                s.path.display(),
                if dtr { "DTR" } else { "RTS" }
            ),
        }
    }
    match tty::modem_lines(fd) {
        Ok(Some(m)) if dtr => m.dtr,
        Ok(Some(m)) => m.rts,
        _ if dtr => s.dtr,
        _ => s.rts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas() {
        use rfc2217::*;
        assert_eq!(modem_delta(MODEM_CTS, MODEM_CTS), None);
        assert_eq!(
            modem_delta(0, MODEM_CTS | MODEM_DCD),
            Some(MODEM_CTS | MODEM_DCD | MODEM_DELTA_CTS | MODEM_DELTA_DCD)
        );
        assert_eq!(modem_delta(MODEM_RI, 0), Some(MODEM_TERI));
    }
}
