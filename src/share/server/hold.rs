//! `hold-session`: a session that survives its device going away (a board that power-cycles
//! re-enumerates its USB UART).
//!
//! When the device fails or vanishes, the port's live clients are not dropped: they are kept
//! in a [`Held`] on the line, get one notice line (and, when they asked for it, an RFC 2217
//! NOTIFY-MODEMSTATE with DCD, DSR and CTS off), and the device is closed and its lock
//! removed. The clients stay on the engine with no timer: while nothing happens the server
//! makes no system call. Their input is read and kept up to [`HELD_INPUT`] bytes (it goes to
//! the device when it is back); beyond that it is dropped and counted
//! (`rgetty_share_held_input_dropped_bytes_total`). Their RFC 2217 requests are answered at
//! once and a writer's settings carried out when the device is back ([`away`]). When the hot-plug watch (inotify) sees the
//! path again, the device is reopened and locked, the last settings are re-applied (the
//! termios and speed after the last COM-PORT request, DTR and RTS) and data flows again.
//! Each gap is logged, written to the port log and counted (`rgetty_share_device_gaps_total`).

use std::time::Instant;

use nix::sys::termios::Termios;

mod away;

use away::Away;

use super::{Port, ShareServer, ports::drop_client};
use crate::share::control::Val;
use crate::share::engine::{Engine, Token};
use crate::share::rfc2217::{modem_delta, modem_state};
use crate::share::session::{Buf, Client, Session};
use crate::share::stack::Control;
use crate::sys::tty;

/// Input from held writers kept for the device while it is away; more is dropped and counted.
pub const HELD_INPUT: usize = 4096;

/// What a failed session hands over to its [`Held`].
#[derive(Debug)]
pub(super) struct Kept {
    clients: Vec<Client>,
    input: Buf,
    dtr: bool,
    rts: bool,
    modem: u8,
    node: Option<Node>,
}

impl Kept {
    /// Take the live clients (the dead were taken before), the unwritten input and the
    /// control lines from a failed session.
    pub(super) fn take(s: &mut Session) -> Kept {
        use crate::proto::telnet::rfc2217::{MODEM_CTS, MODEM_DCD, MODEM_DSR};
        Kept {
            clients: std::mem::take(&mut s.pump.clients),
            input: std::mem::take(&mut s.pump.to_dev),
            dtr: s.dtr,
            rts: s.rts,
            modem: s.modem_prev.unwrap_or(MODEM_DCD | MODEM_DSR | MODEM_CTS),
            node: nix::sys::stat::fstat(&s.pump.dev).ok().map(Node::of),
        }
    }
}

/// The clients of a line whose device is away.
#[derive(Debug)]
pub(super) struct Held {
    /// The clients and watchers waiting.
    pub(super) clients: Vec<Client>,
    /// Their input, DTR and RTS, and the settings they asked for.
    away: Away,
    since: Instant,
    /// The node that went away.
    node: Option<Node>,
}

/// Which device node a session had open. A pty or USB serial device plugged in again often
/// gets the old number (and, on devpts, the old inode number): only the change time tells a
/// new node from the old one not removed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Node {
    rdev: u64,
    ino: u64,
    ctime: (i64, i64),
}

impl Node {
    fn of(st: nix::sys::stat::FileStat) -> Node {
        Node {
            rdev: st.st_rdev,
            ino: st.st_ino,
            ctime: (st.st_ctime, st.st_ctime_nsec),
        }
    }
}

/// The line settings re-applied when the device is back: the termios, and the speed apart
/// (a `BOTHER` speed lives in termios2, which [`Termios`] does not carry).
#[derive(Debug, Clone)]
pub(super) struct Settings {
    termios: Termios,
    speed: Option<u32>,
}

/// The settings of a device now (after a client's COM-PORT request changed them).
pub(super) fn settings_of(fd: impl std::os::fd::AsFd) -> Option<Settings> {
    let fd = fd.as_fd();
    Some(Settings {
        termios: tty::get_termios(fd).ok()?,
        // a standard speed is in the termios already
        speed: tty::get_speed(fd).ok().filter(|&b| tty::is_custom_speed(b)),
    })
}

/// Whether a control event from a client sets the line (speed, framing, flow control).
pub(super) fn is_setting(ev: &Control) -> bool {
    matches!(
        ev,
        Control::Speed(Some(_))
            | Control::DataBits(Some(_))
            | Control::Parity(Some(_))
            | Control::StopBits(Some(_))
            | Control::OutFlow(Some(_))
            | Control::InFlow(Some(_))
    )
}

/// Queue a notice line for every client, and a modem state (the stack passes it on to
/// those that asked for modem-state changes).
fn notify(clients: &mut [Client], text: &str, modem: Option<u8>, cap: usize) {
    for c in clients.iter_mut() {
        // Try the socket whatever the cached readiness says: a write that would block marks it
        // again, and its edge then comes (a stale mark would hold the notice back for good).
        c.writable = true;
        c.send(text.as_bytes(), cap);
        if let Some(v) = modem {
            c.control(Control::ModemState(v), cap);
            c.flush();
        }
    }
}

/// Move the clients of line `li`'s failed session into a [`Held`]. False when there is
/// nobody to hold for (the line then closes as without `hold-session`).
pub(super) fn enter(port: &mut Port, li: usize, k: Kept, why: Option<&str>) -> bool {
    if k.clients.is_empty() {
        return false;
    }
    let line = &mut port.lines[li];
    let path = line.path.display().to_string();
    let mut clients = k.clients;
    let text = format!("\r\n[rgetty-share: device {path} is gone; holding the session]\r\n");
    notify(
        &mut clients,
        &text,
        modem_delta(k.modem, 0),
        super::CLIENT_BUFFER,
    );
    log::warn!(
        "{path}: {}; holding {} client(s) until it is back",
        why.unwrap_or("gone"),
        clients.len()
    );
    if let Some(l) = port.log.as_mut() {
        l.event(&format!(
            "device gone, session held: {}",
            why.unwrap_or("gone")
        ));
    }
    super::control::gone(port.addr, &path, why.unwrap_or("gone"), true);
    port.stats.gaps += 1;
    let (away, over) = Away::new(k.input, k.dtr, k.rts);
    port.stats.held_dropped += over;
    line.held = Some(Box::new(Held {
        clients,
        away,
        since: Instant::now(),
        node: k.node,
    }));
    true
}

impl ShareServer {
    /// A client of line `li` of port `pi`, in its session or held.
    pub(super) fn client_mut(&mut self, pi: usize, li: usize, t: Token) -> Option<&mut Client> {
        let line = self.ports.get_mut(pi)?.as_mut()?.lines.get_mut(li)?;
        let clients = match (line.session.as_deref_mut(), line.held.as_deref_mut()) {
            (Some(s), _) => &mut s.pump.clients,
            (None, Some(h)) => &mut h.clients,
            (None, None) => return None,
        };
        clients.iter_mut().find(|c| c.token == t)
    }

    /// Read and write the held clients of line `li`; drop those that left. With nobody left
    /// the hold ends.
    pub(super) fn pump_held(&mut self, eng: &mut Engine, pi: usize, li: usize) {
        let cap = self.settings.client_buffer;
        let Some(Some(port)) = self.ports.get_mut(pi) else {
            return;
        };
        let dev = port.lines[li].path.display().to_string();
        let Some(h) = port.lines[li].held.as_deref_mut() else {
            return;
        };
        let before = h.away.dropped;
        for c in h.clients.iter_mut() {
            h.away.read(c, cap);
            c.flush();
        }
        let dropped = h.away.dropped - before;
        let (dead, live): (Vec<Client>, Vec<Client>) = std::mem::take(&mut h.clients)
            .into_iter()
            .partition(|c| c.dead.is_some());
        h.clients = live;
        let over = h.clients.is_empty();
        port.stats.held_dropped += dropped;
        let mut freed: Vec<(Token, i32)> = dead
            .into_iter()
            .map(|c| drop_client(eng, port, &dev, c))
            .collect();
        if over {
            port.lines[li].held = None;
            log::info!("{dev}: no client left; the held session ends");
        }
        self.status_dirty |= !freed.is_empty();
        for (t, fd) in freed.drain(..) {
            self.release(eng, t, fd);
        }
    }

    /// The device of a held line may be back: reopen it, re-apply the settings, hand the
    /// clients and the kept input back to a session. Left held when it cannot be opened (the
    /// next hot-plug event tries again).
    ///
    /// `fresh_only` (right after the device went): only a path that now leads to another node
    /// is tried; the old node, dying, or a pty number given to someone else, is left alone
    /// and the hot-plug watch says when the device is back.
    pub(super) fn resume_held(&mut self, eng: &mut Engine, pi: usize, li: usize, fresh_only: bool) {
        let settings = self.settings.clone();
        let Some(Some(port)) = self.ports.get_mut(pi) else {
            return;
        };
        let line = &mut port.lines[li];
        if line.held.is_none() || line.session.is_some() {
            return;
        }
        if !crate::ops::hotplug::exists(&line.path) {
            return;
        }
        let old = line.held.as_ref().and_then(|h| h.node);
        if fresh_only && old.is_some() && nix::sys::stat::stat(&line.path).ok().map(Node::of) == old
        {
            return;
        }
        let s = match super::open::open_session(&line.path, &port.cfg, &settings) {
            Ok(s) => s,
            Err(why) => {
                log::warn!("{}: back but not reopened: {why}", line.path.display());
                return;
            }
        };
        line.session = Some(Box::new(s));
        self.register_session(eng, pi, li);
        let Some(Some(port)) = self.ports.get_mut(pi) else {
            return;
        };
        let line = &mut port.lines[li];
        let (Some(s), Some(mut h)) = (line.session.as_deref_mut(), line.held.take()) else {
            return;
        };
        restore(s, &mut h.away, &mut line.settings);
        let gap = h.since.elapsed();
        let text = format!(
            "\r\n[rgetty-share: device {} is back after {:.1}s]\r\n",
            s.path.display(),
            gap.as_secs_f64()
        );
        let h = *h;
        s.pump.clients = h.clients;
        s.pump.to_dev = h.away.input;
        let cur = modem_state(s);
        s.modem_prev = Some(cur);
        notify(
            &mut s.pump.clients,
            &text,
            modem_delta(0, cur),
            settings.client_buffer,
        );
        log::info!(
            "{}: back after {:.3}s; {} bytes of input kept, {} dropped",
            s.path.display(),
            gap.as_secs_f64(),
            s.pump.to_dev.len(),
            h.away.dropped
        );
        if let Some(l) = port.log.as_mut() {
            l.event(&format!(
                "device back after {:.3}s, {} input bytes dropped",
                gap.as_secs_f64(),
                h.away.dropped
            ));
        }
        super::control::emit("device-back", port.addr, || {
            vec![
                ("device", Val::S(line.path.display().to_string())),
                ("gap_ms", Val::I(gap.as_millis() as i64)),
            ]
        });
        self.status_dirty = true;
        self.pump(eng, pi, li);
    }
}

/// Re-apply the line's last settings to a reopened device: the termios of the last COM-PORT
/// request (the port's own stty words were applied by the open), those asked for while it was
/// away (kept as the line's settings from now on), DTR and RTS.
fn restore(s: &mut Session, h: &mut Away, settings: &mut Option<Settings>) {
    let dev = s.path.display().to_string();
    if let Some(t) = settings {
        let r = tty::set_termios(&s.pump.dev, &t.termios)
            .and_then(|()| t.speed.map_or(Ok(()), |b| tty::set_speed(&s.pump.dev, b)));
        if let Err(e) = r {
            log::warn!("{dev}: re-applying the settings: {e}");
        }
    }
    if !h.asked.is_empty() {
        for ev in h.asked.drain(..) {
            crate::share::rfc2217::apply(s, ev);
        }
        *settings = settings_of(&s.pump.dev);
    }
    // The open raised both lines: only a line that was off needs setting.
    if s.has_modem_lines {
        let r = (if h.dtr {
            Ok(true)
        } else {
            tty::set_dtr(&s.pump.dev, false)
        })
        .and_then(|_| {
            if h.rts {
                Ok(true)
            } else {
                tty::set_rts(&s.pump.dev, false)
            }
        });
        if let Err(e) = r {
            log::warn!("{dev}: re-applying DTR/RTS: {e}");
        }
    }
    s.dtr = h.dtr;
    s.rts = h.rts;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_recognised() {
        assert!(is_setting(&Control::Speed(Some(57600))));
        assert!(!is_setting(&Control::Speed(None)));
        assert!(!is_setting(&Control::BreakPulse));
    }
}
