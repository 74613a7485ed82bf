//! The server side of RFC 2217: telnet negotiation and COM-PORT requests of one client,
//! carried out on the session's device, and modem-state notifications.
//!
//! Every reply goes through the client's bounded queue. A SET that would not change the
//! device's value does not call `tcsetattr`, and is not logged.

use std::os::fd::AsFd;

use nix::sys::termios::{ControlFlags, InputFlags, Termios};

use crate::proto::telnet::{ComPort, ComPortError, Event, Verb, cmd, opt, rfc2217};
use crate::share::session::{Role, Session};
use crate::sys::tty;

/// The RFC 2217 modem-state byte (without delta bits). A device without modem lines reports
/// DCD, DSR and CTS on, like a null-modem cable with the lines looped back.
pub fn modem_state(s: &Session) -> u8 {
    match tty::modem_lines(&s.dev) {
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

/// Poll the modem lines once and notify the clients that asked.
pub fn poll_modem(s: &mut Session, cap: usize) {
    let cur = modem_state(s);
    let prev = s.modem_prev.replace(cur).unwrap_or(cur);
    let Some(v) = modem_delta(prev, cur) else {
        return;
    };
    for c in s.clients.iter_mut() {
        if !c.wants_modem_notify() {
            continue;
        }
        let mask = c.tn.as_ref().map_or(0, |t| t.modemstate_mask);
        if v & mask != 0 {
            c.reply(&ComPort::NotifyModemstate(v & mask), cap);
            c.flush();
        }
    }
}

/// Handle one telnet event from client `ci`.
pub fn telnet_event(s: &mut Session, ci: usize, ev: Event, cap: usize) {
    match ev {
        Event::Negotiate(verb, o) => {
            let Some(c) = s.clients.get_mut(ci) else {
                return;
            };
            let Some(tn) = c.tn.as_mut() else { return };
            let mut v = Vec::new();
            tn.opts.handle(verb, o, &mut v);
            let speaks = verb == Verb::Will && o == opt::COM_PORT;
            tn.com_port_spoken |= speaks;
            c.queue(&v, cap);
            if speaks {
                log::debug!("{}: client {} speaks RFC 2217", s.path.display(), c.peer);
            }
        }
        Event::Command(cmd::BRK) => {
            if s.clients.get(ci).is_some_and(|c| c.role == Role::Writer) {
                if let Err(e) = tty::send_break(&s.dev) {
                    log::warn!("{}: break: {e}", s.path.display());
                }
            }
        }
        Event::Command(_) => {}
        Event::Sub {
            option: opt::COM_PORT,
            payload,
            ..
        } => {
            let m = match ComPort::parse(&payload) {
                Ok((m, false)) => m,
                Ok((_, true)) => return,
                // pyserial's poll_modem: NOTIFY-LINESTATE/MODEMSTATE without a value asks for
                // the current state.
                Err(ComPortError::Short { cmd: 6, value }) if value.is_empty() => {
                    ComPort::NotifyLinestate(0)
                }
                Err(ComPortError::Short { cmd: 7, value }) if value.is_empty() => {
                    ComPort::NotifyModemstate(0)
                }
                Err(e) => {
                    log::debug!("{}: {e}", s.path.display());
                    return;
                }
            };
            if let Some(tn) = s.clients.get_mut(ci).and_then(|c| c.tn.as_mut()) {
                tn.com_port_spoken = true;
            }
            let reply = com_port(s, ci, m);
            if let (Some(r), Some(c)) = (reply, s.clients.get_mut(ci)) {
                c.reply(&r, cap);
            }
        }
        Event::Sub { .. } => {}
    }
}

fn control_flow_out(t: &Termios) -> u8 {
    if t.control_flags.contains(ControlFlags::CRTSCTS) {
        rfc2217::CONTROL_FLOW_HARDWARE
    } else if t.input_flags.contains(InputFlags::IXON) {
        rfc2217::CONTROL_FLOW_XONXOFF
    } else {
        rfc2217::CONTROL_FLOW_NONE
    }
}

fn control_flow_in(t: &Termios) -> u8 {
    if t.control_flags.contains(ControlFlags::CRTSCTS) {
        rfc2217::CONTROL_INFLOW_HARDWARE
    } else if t.input_flags.contains(InputFlags::IXOFF) {
        rfc2217::CONTROL_INFLOW_XONXOFF
    } else {
        rfc2217::CONTROL_INFLOW_NONE
    }
}

/// Change one serial parameter; no `tcsetattr` (and no log line) when it is already so.
fn set_param(s: &Session, what: &str, f: impl FnOnce(&mut tty::SerialParams)) {
    let fd = s.dev.as_fd();
    let r = tty::get_params(fd).and_then(|old| {
        let mut p = old;
        f(&mut p);
        if p == old {
            return Ok(());
        }
        crate::share::roles::log_limited(
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

/// Carry out one RFC 2217 request and build the answer from what the device reads back.
/// Watchers get answers but change nothing.
fn com_port(s: &mut Session, ci: usize, m: ComPort) -> Option<ComPort> {
    let may_set = s.clients.get(ci)?.role == Role::Writer;
    let path = s.path.display().to_string();
    let params = |s: &Session| tty::get_params(s.dev.as_fd()).ok();
    Some(match m {
        ComPort::Signature(sig) => {
            if !sig.is_empty() {
                crate::share::roles::log_limited(
                    log::Level::Info,
                    format!(
                        "{path}: client signature {:?}",
                        String::from_utf8_lossy(&sig)
                    ),
                );
                return None;
            }
            ComPort::Signature(
                format!("rgetty-share {} {path}", env!("CARGO_PKG_VERSION")).into_bytes(),
            )
        }
        ComPort::SetBaudrate(b) => {
            if b != 0 && may_set {
                set_param(s, "baud rate", |p| p.baud = b);
            }
            ComPort::SetBaudrate(params(s).map_or(0, |p| p.baud))
        }
        ComPort::SetDatasize(n) => {
            if (5..=8).contains(&n) && may_set {
                set_param(s, "data size", |p| p.data_bits = n);
            }
            ComPort::SetDatasize(params(s).map_or(0, |p| p.data_bits))
        }
        ComPort::SetParity(c) => {
            if let Some(par) = rfc2217::parity_from_code(c).filter(|_| may_set) {
                set_param(s, "parity", |p| p.parity = par);
            }
            ComPort::SetParity(params(s).map_or(0, |p| rfc2217::parity_code(p.parity)))
        }
        ComPort::SetStopsize(c) => {
            if let Some(st) = rfc2217::stop_from_code(c).filter(|_| may_set) {
                set_param(s, "stop size", |p| p.stop_bits = st);
            }
            ComPort::SetStopsize(params(s).map_or(0, |p| rfc2217::stop_code(p.stop_bits)))
        }
        ComPort::SetControl(v) => ComPort::SetControl(set_control(s, v, may_set)),
        ComPort::NotifyLinestate(_) | ComPort::NotifyModemstate(_) => notify_now(s, ci, &m)?,
        ComPort::FlowSuspend | ComPort::FlowResume => {
            if let Some(c) = s.clients.get_mut(ci) {
                c.suspended = m == ComPort::FlowSuspend;
            }
            return None;
        }
        ComPort::SetLinestateMask(v) => {
            if let Some(tn) = s.clients.get_mut(ci)?.tn.as_mut() {
                tn.linestate_mask = v;
            }
            ComPort::SetLinestateMask(v)
        }
        ComPort::SetModemstateMask(v) => {
            if let Some(tn) = s.clients.get_mut(ci)?.tn.as_mut() {
                tn.modemstate_mask = v;
            }
            ComPort::SetModemstateMask(v)
        }
        ComPort::Purge(v) => {
            if may_set {
                purge(s, v);
            }
            ComPort::Purge(v)
        }
    })
}

/// The current line or modem state, for a NOTIFY request (masked by the client's mask).
fn notify_now(s: &Session, ci: usize, m: &ComPort) -> Option<ComPort> {
    let tn = s.clients.get(ci)?.tn.as_ref()?;
    Some(if matches!(m, ComPort::NotifyLinestate(_)) {
        let empty = tty::output_pending(&s.dev).map_or(0, |n| {
            if n == 0 {
                rfc2217::LINE_THRE | rfc2217::LINE_TSRE
            } else {
                0
            }
        });
        ComPort::NotifyLinestate(empty & tn.linestate_mask)
    } else {
        ComPort::NotifyModemstate(modem_state(s) & tn.modemstate_mask)
    })
}

fn purge(s: &mut Session, v: u8) {
    let q = match v {
        rfc2217::PURGE_RX => Some(tty::Queue::Input),
        rfc2217::PURGE_TX => Some(tty::Queue::Output),
        rfc2217::PURGE_BOTH => Some(tty::Queue::Both),
        _ => None,
    };
    if matches!(v, rfc2217::PURGE_TX | rfc2217::PURGE_BOTH) {
        s.to_dev.clear();
    }
    if let Some(q) = q {
        // An explicit request from the client, not a close: honour it.
        if let Err(e) = tty::flush(&s.dev, q) {
            log::warn!("{}: purge: {e}", s.path.display());
        }
    }
}

/// SET-CONTROL: apply (writers only), then read the state back (shadow values on a device
/// without modem lines, so that strict clients always get an answer).
fn set_control(s: &mut Session, v: u8, may_set: bool) -> u8 {
    use rfc2217::*;
    let path = s.path.display().to_string();
    let fd = s.dev.as_fd();
    let warn = |what: &str, e: tty::Error| log::warn!("{path}: {what}: {e}");
    let out_flow = || tty::get_termios(fd).map_or(CONTROL_FLOW_NONE, |t| control_flow_out(&t));
    let in_flow = || tty::get_termios(fd).map_or(CONTROL_INFLOW_NONE, |t| control_flow_in(&t));
    match v {
        CONTROL_FLOW_NONE | CONTROL_FLOW_XONXOFF | CONTROL_FLOW_HARDWARE => {
            if may_set && out_flow() != v {
                let flow = match v {
                    CONTROL_FLOW_HARDWARE => tty::Flow::Hard,
                    CONTROL_FLOW_XONXOFF => tty::Flow::Soft,
                    _ => tty::Flow::None,
                };
                if let Err(e) = tty::set_flow(fd, flow) {
                    warn("flow control", e);
                }
            }
            out_flow()
        }
        CONTROL_FLOW_REQUEST => out_flow(),
        CONTROL_BREAK_ON | CONTROL_BREAK_OFF | CONTROL_BREAK_REQUEST => {
            let on = v == CONTROL_BREAK_ON;
            if may_set && v != CONTROL_BREAK_REQUEST && on != s.brk {
                match tty::set_break(fd, on) {
                    Ok(()) => s.brk = on,
                    Err(e) => warn("break", e),
                }
            }
            if s.brk {
                CONTROL_BREAK_ON
            } else {
                CONTROL_BREAK_OFF
            }
        }
        CONTROL_DTR_ON | CONTROL_DTR_OFF | CONTROL_DTR_REQUEST | CONTROL_RTS_ON
        | CONTROL_RTS_OFF | CONTROL_RTS_REQUEST => set_dtr_rts(s, v, may_set),
        CONTROL_INFLOW_NONE | CONTROL_INFLOW_XONXOFF | CONTROL_INFLOW_HARDWARE => {
            if may_set && in_flow() != v {
                let r = tty::get_termios(fd).and_then(|mut t| {
                    t.input_flags
                        .set(InputFlags::IXOFF, v == CONTROL_INFLOW_XONXOFF);
                    t.control_flags
                        .set(ControlFlags::CRTSCTS, v == CONTROL_INFLOW_HARDWARE);
                    tty::set_termios(fd, &t)
                });
                if let Err(e) = r {
                    warn("inbound flow control", e);
                }
            }
            in_flow()
        }
        _ => in_flow(),
    }
}

/// SET-CONTROL for DTR and RTS: set (writers), then read back (the shadow value on a device
/// without modem lines).
fn set_dtr_rts(s: &mut Session, v: u8, may_set: bool) -> u8 {
    use rfc2217::*;
    let fd = s.dev.as_fd();
    let dtr = matches!(v, CONTROL_DTR_ON | CONTROL_DTR_OFF | CONTROL_DTR_REQUEST);
    let (on_code, off_code, request) = if dtr {
        (CONTROL_DTR_ON, CONTROL_DTR_OFF, CONTROL_DTR_REQUEST)
    } else {
        (CONTROL_RTS_ON, CONTROL_RTS_OFF, CONTROL_RTS_REQUEST)
    };
    if may_set && v != request {
        let on = v == on_code;
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
    let on = match tty::modem_lines(fd) {
        Ok(Some(m)) if dtr => m.dtr,
        Ok(Some(m)) => m.rts,
        _ if dtr => s.dtr,
        _ => s.rts,
    };
    if on { on_code } else { off_code }
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
