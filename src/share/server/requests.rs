//! The control socket's request handlers: `list`, `show`, `kick`, `enable`/`disable`,
//! `set` (DTR/RTS) and `break`, on the server's ports. The socket, its peers and the
//! protocol framing are in [`super::control`].

use std::time::Instant;

use super::{Port, ShareServer, Slot, T_BREAK, key};
use crate::share::control::{self, Command, CtlLine, Val};
use crate::share::engine::{Engine, Token};
use crate::share::session::{Client, Role};
use crate::sys::tty;

impl ShareServer {
    /// The index of the live port `name` names.
    pub(super) fn control_port(&self, name: &str) -> Result<usize, String> {
        let found: Vec<usize> = self
            .ports
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i, p.as_ref()?)))
            .filter(|(_, p)| !p.retired && control::names_port(name, &p.addr.to_string()))
            .map(|(i, _)| i)
            .collect();
        match found[..] {
            [i] => Ok(i),
            [] => Err(format!("no port {name:?}")),
            _ => Err(format!("{name:?} names several ports: give the address")),
        }
    }

    /// Carry out one request (subscribe aside); the reply line or the error text.
    pub(super) fn control_request(
        &mut self,
        eng: &mut Engine,
        r: Command,
    ) -> Result<String, String> {
        match r {
            Command::List => Ok(control::ok(vec![("ports", Val::Raw(self.control_list()))])),
            Command::Show(p) => {
                let pi = self.control_port(&p)?;
                Ok(control::ok(self.control_show(pi)))
            }
            Command::Kick(p, who) => {
                let pi = self.control_port(&p)?;
                let n = self.kick(eng, pi, who.as_deref(), "kicked (control socket)");
                match who {
                    Some(w) if n == 0 => Err(format!("no client {w} on {p}")),
                    _ => Ok(control::ok(vec![("kicked", Val::I(n as i64))])),
                }
            }
            Command::Enable(p) => {
                let pi = self.control_port(&p)?;
                self.set_enabled(eng, pi, true);
                Ok(control::ok(vec![("enabled", Val::B(true))]))
            }
            Command::Disable(p) => {
                let pi = self.control_port(&p)?;
                let n = self.set_enabled(eng, pi, false);
                Ok(control::ok(vec![
                    ("enabled", Val::B(false)),
                    ("kicked", Val::I(n as i64)),
                ]))
            }
            Command::SetControl(p, line, on) => {
                let pi = self.control_port(&p)?;
                self.set_line(pi, line, on)?;
                let name = if line == CtlLine::Dtr { "dtr" } else { "rts" };
                Ok(control::ok(vec![(name, Val::B(on))]))
            }
            Command::Break(p, ms) => {
                let pi = self.control_port(&p)?;
                self.start_break(eng, pi, ms)?;
                Ok(control::ok(vec![("break_ms", Val::I(ms as i64))]))
            }
            Command::Reset(p, name) => {
                let pi = self.control_port(&p)?;
                let n = self.start_reset(eng, pi, &name)?;
                Ok(control::ok(vec![
                    ("reset", Val::S(name)),
                    ("steps", Val::I(n as i64)),
                ]))
            }
            Command::Subscribe => Ok(control::ok(vec![])),
            // The connection carries it out (it becomes the client's).
            Command::Attach(..) => Err("attach: not here".into()),
        }
    }

    /// One object per port.
    fn control_list(&self) -> String {
        let items: Vec<String> = self
            .ports
            .iter()
            .flatten()
            .filter(|p| !p.retired)
            .map(|p| control::object(&port_fields(p)))
            .collect();
        control::array(&items)
    }

    /// A port's fields and its clients.
    fn control_show(&self, pi: usize) -> Vec<(&'static str, Val)> {
        let Some(Some(p)) = self.ports.get(pi) else {
            return Vec::new();
        };
        let mut clients = Vec::new();
        for l in &p.lines {
            let list = match (l.session.as_deref(), l.held.as_deref()) {
                (Some(s), _) => &s.pump.clients,
                (None, Some(h)) => &h.clients,
                (None, None) => continue,
            };
            let dev = l.path.display().to_string();
            for c in list.iter().filter(|c| c.dead.is_none()) {
                clients.push(control::object(&[
                    ("client", Val::S(c.who())),
                    ("role", Val::S(role_name(c).into())),
                    ("device", Val::S(dev.clone())),
                    ("seconds", Val::I(c.since.elapsed().as_secs() as i64)),
                    ("bytes_in", Val::I(c.rx as i64)),
                    ("bytes_out", Val::I(c.tx as i64)),
                ]));
            }
        }
        let mut f = port_fields(p);
        f.push(("client_list", Val::Raw(control::array(&clients))));
        f
    }

    /// Mark port `pi`'s clients (all, or the one at address `who`) dead and drop them now;
    /// how many.
    pub(super) fn kick(
        &mut self,
        eng: &mut Engine,
        pi: usize,
        who: Option<&str>,
        why: &str,
    ) -> usize {
        let Some(Some(p)) = self.ports.get_mut(pi) else {
            return 0;
        };
        let mut n = 0;
        for l in p.lines.iter_mut() {
            let list = match (l.session.as_deref_mut(), l.held.as_deref_mut()) {
                (Some(s), _) => &mut s.pump.clients,
                (None, Some(h)) => &mut h.clients,
                (None, None) => continue,
            };
            for c in list.iter_mut().filter(|c| c.dead.is_none()) {
                if who.is_none_or(|w| c.who() == w) {
                    c.dead = Some(why.to_string());
                    n += 1;
                }
            }
        }
        for li in 0..p.lines.len() {
            self.settle(eng, pi, li);
            self.pump_held(eng, pi, li);
        }
        n
    }

    /// Enable or disable port `pi` (disabling drops its clients: how many).
    fn set_enabled(&mut self, eng: &mut Engine, pi: usize, on: bool) -> usize {
        let Some(Some(p)) = self.ports.get_mut(pi) else {
            return 0;
        };
        p.disabled = !on;
        log::info!(
            "port {}: {} (control socket)",
            p.addr,
            if on { "enabled" } else { "disabled" }
        );
        if on {
            0
        } else {
            self.kick(eng, pi, None, "port disabled (control socket)")
        }
    }

    /// The open session of a single-line port (control requests act on it).
    pub(super) fn control_session(
        &mut self,
        pi: usize,
    ) -> Result<&mut crate::share::session::Session, String> {
        let p = self
            .ports
            .get_mut(pi)
            .and_then(Option::as_mut)
            .ok_or("no port")?;
        let addr = p.addr;
        p.lines
            .iter_mut()
            .find_map(|l| l.session.as_deref_mut())
            .ok_or_else(|| format!("port {addr}: no session open"))
    }

    /// Set DTR or RTS of port `pi`'s open device.
    fn set_line(&mut self, pi: usize, line: CtlLine, on: bool) -> Result<(), String> {
        let s = self.control_session(pi)?;
        let r = match line {
            CtlLine::Dtr => tty::set_dtr(&s.pump.dev, on),
            CtlLine::Rts => tty::set_rts(&s.pump.dev, on),
        };
        r.map_err(|e| format!("{}: {e}", s.path.display()))?;
        match line {
            CtlLine::Dtr => s.dtr = on,
            CtlLine::Rts => s.rts = on,
        }
        Ok(())
    }

    /// Start a BREAK on port `pi`'s open device; a timer ends it after `ms`.
    fn start_break(&mut self, eng: &mut Engine, pi: usize, ms: u64) -> Result<(), String> {
        let s = self.control_session(pi)?;
        if s.brk {
            return Err("a BREAK is on already".into());
        }
        tty::set_break(&s.pump.dev, true).map_err(|e| format!("{}: {e}", s.path.display()))?;
        s.brk = true;
        let at = Instant::now() + std::time::Duration::from_millis(ms);
        eng.add_timer(at, key(T_BREAK, s.token));
        Ok(())
    }

    /// The BREAK timer of a device ran out: end the BREAK.
    pub(super) fn end_break(&mut self, t: Token) {
        let Some(Slot::Dev(pi, li)) = self.slots.get(t.0).copied() else {
            return;
        };
        if let Some(s) = self.session_mut(pi, li) {
            if s.brk {
                if let Err(e) = tty::set_break(&s.pump.dev, false) {
                    log::warn!("{}: {e}", s.path.display());
                }
                s.brk = false;
            }
        }
    }
}

/// The fields `list` shows for a port (DTR and RTS while a session is open).
fn port_fields(p: &Port) -> Vec<(&'static str, Val)> {
    let devices: Vec<String> = p
        .lines
        .iter()
        .map(|l| l.path.display().to_string())
        .collect();
    let mut f = vec![
        ("port", Val::S(p.addr.to_string())),
        ("device", Val::S(devices.join(","))),
        ("enabled", Val::B(!p.disabled)),
        ("present", Val::B(p.lines.iter().any(|l| l.present))),
        ("open", Val::B(p.lines.iter().any(|l| l.session.is_some()))),
        ("held", Val::B(p.lines.iter().any(|l| l.held.is_some()))),
        ("clients", Val::I(p.stats.clients as i64)),
        ("sessions", Val::I(p.stats.sessions as i64)),
        ("gaps", Val::I(p.stats.gaps as i64)),
    ];
    if let Some(s) = p.lines.iter().find_map(|l| l.session.as_deref()) {
        f.push(("dtr", Val::B(s.dtr)));
        f.push(("rts", Val::B(s.rts)));
    }
    f
}

fn role_name(c: &Client) -> &'static str {
    if c.role == Role::Watcher {
        "watcher"
    } else {
        "writer"
    }
}
