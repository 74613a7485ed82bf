//! The control socket (`--control PATH`, config `control=PATH`): a unix socket on the
//! engine, JSON lines ([`crate::share::control`]). The socket is mode 0600 and a peer is
//! served only when its credentials (SO_PEERCRED) say root or the server's own user.
//!
//! Events for subscribers are queued by [`emit`] (a per-thread queue: the server is one
//! thread) only while someone subscribed, and written at the end of the loop's turn.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{Port, ServeError, ShareServer, Slot, T_BREAK, io_err, key};
use crate::share::control::{self, CtlLine, Request, Val};
use crate::share::engine::{Engine, Token};
use crate::share::session::{Client, Role};
use crate::sys::tty;

/// Output queued for one control connection before it is dropped (a subscriber not reading).
const MAX_OUT: usize = 1 << 20;

thread_local! {
    static EVENTS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static SUBSCRIBED: Cell<bool> = const { Cell::new(false) };
}

/// Queue an event for the subscribers (nothing is built while nobody subscribed).
pub(super) fn emit(
    kind: &str,
    port: std::net::SocketAddr,
    fields: impl FnOnce() -> Vec<(&'static str, Val)>,
) {
    if SUBSCRIBED.get() {
        let line = control::event(kind, &port.to_string(), fields());
        EVENTS.with_borrow_mut(|e| e.push(line));
    }
}

/// A `connect` event.
pub(super) fn connected(port: std::net::SocketAddr, peer: std::net::SocketAddr, role: Role) {
    emit("connect", port, || {
        let role = if role == Role::Watcher {
            "watcher"
        } else {
            "writer"
        };
        vec![
            ("client", Val::S(peer.to_string())),
            ("role", Val::S(role.into())),
        ]
    });
}

/// A `device-gone` event (`held`: the clients stay, `hold-session`).
pub(super) fn gone(port: std::net::SocketAddr, dev: &str, why: &str, held: bool) {
    emit("device-gone", port, || {
        vec![
            ("device", Val::S(dev.to_string())),
            ("reason", Val::S(why.to_string())),
            ("held", Val::B(held)),
        ]
    });
}

/// The listener and its connections.
#[derive(Debug)]
pub(super) struct Control {
    listener: UnixListener,
    path: PathBuf,
    conns: HashMap<usize, Conn>,
}

impl Drop for Control {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[derive(Debug)]
struct Conn {
    sock: UnixStream,
    input: Vec<u8>,
    out: Vec<u8>,
    subscribed: bool,
    closed: bool,
}

/// Bind the control socket: a stale socket left by a previous run is replaced, anything else
/// at the path is an error; mode 0600.
fn bind(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.file_type().is_socket() {
            return Err(std::io::Error::new(
                ErrorKind::AlreadyExists,
                "exists and is not a socket",
            ));
        }
        std::fs::remove_file(path)?;
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Whether the peer of `s` is root or runs as the server's user.
fn peer_allowed(s: &UnixStream) -> Result<(), String> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let cred = getsockopt(s, PeerCredentials).map_err(|e| format!("SO_PEERCRED: {e}"))?;
    let me = nix::unistd::geteuid().as_raw();
    if cred.uid() == 0 || cred.uid() == me {
        Ok(())
    } else {
        Err(format!(
            "uid {} (pid {}) not allowed",
            cred.uid(),
            cred.pid()
        ))
    }
}

fn role_name(c: &Client) -> &'static str {
    if c.role == Role::Watcher {
        "watcher"
    } else {
        "writer"
    }
}

impl ShareServer {
    /// Serve the control socket at `path`.
    pub fn set_control(&mut self, path: &Path) -> Result<(), ServeError> {
        let listener = bind(path).map_err(io_err(format!("control socket {}", path.display())))?;
        let t = self.slot(Slot::Control);
        self.eng()?
            .register_read(listener.as_raw_fd(), t)
            .map_err(io_err("epoll"))?;
        self.control = Some(Control {
            listener,
            path: path.to_path_buf(),
            conns: HashMap::new(),
        });
        Ok(())
    }

    pub(super) fn control_accept(&mut self, eng: &mut Engine) {
        loop {
            let Some(c) = self.control.as_ref() else {
                return;
            };
            let sock = match c.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    crate::sys::loglimit::log_limited(
                        log::Level::Warn,
                        format!("control: accept: {e}"),
                    );
                    return;
                }
            };
            if let Err(why) = peer_allowed(&sock) {
                crate::sys::loglimit::log_limited(
                    log::Level::Warn,
                    format!("control: refused {why}"),
                );
                let _ = (&sock).write_all(control::error("not allowed").as_bytes());
                continue;
            }
            if sock.set_nonblocking(true).is_err() {
                continue;
            }
            let t = self.slot(Slot::ControlConn);
            if eng.register(sock.as_raw_fd(), t).is_err() {
                self.release(eng, t, sock.as_raw_fd());
                continue;
            }
            let conn = Conn {
                sock,
                input: Vec::new(),
                out: Vec::new(),
                subscribed: false,
                closed: false,
            };
            if let Some(c) = self.control.as_mut() {
                c.conns.insert(t.0, conn);
            }
            self.control_conn(eng, t);
        }
    }

    /// Read requests from a control connection, answer each, write what is queued.
    pub(super) fn control_conn(&mut self, eng: &mut Engine, t: Token) {
        let Some(mut conn) = self.control.as_mut().and_then(|c| c.conns.remove(&t.0)) else {
            return;
        };
        let mut b = [0u8; 4096];
        loop {
            match conn.sock.read(&mut b) {
                Ok(0) => {
                    conn.closed = true;
                    break;
                }
                Ok(n) => conn.input.extend_from_slice(&b[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        while let Some(nl) = conn.input.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = conn.input.drain(..=nl).collect();
            let text = String::from_utf8_lossy(&line);
            let reply = match control::parse(&text) {
                Ok(Request::Subscribe) => {
                    conn.subscribed = true;
                    SUBSCRIBED.set(true);
                    control::ok(vec![("subscribed", Val::B(true))])
                }
                Ok(r) => self
                    .control_request(eng, r)
                    .unwrap_or_else(|e| control::error(&e)),
                Err(e) => control::error(&e),
            };
            conn.out.extend_from_slice(reply.as_bytes());
        }
        if conn.input.len() > control::MAX_REQUEST {
            conn.out
                .extend_from_slice(control::error("request too long").as_bytes());
            conn.closed = true;
        }
        self.control_put_back(eng, t, conn);
    }

    /// Flush a connection and keep it, or close it (closed, failed, or too far behind).
    fn control_put_back(&mut self, eng: &mut Engine, t: Token, mut conn: Conn) {
        while !conn.out.is_empty() {
            match conn.sock.write(&conn.out) {
                Ok(n) => {
                    conn.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    conn.closed = true;
                    break;
                }
            }
        }
        if conn.closed || conn.out.len() > MAX_OUT {
            self.release(eng, t, conn.sock.as_raw_fd());
            let any = self
                .control
                .as_ref()
                .is_some_and(|c| c.conns.values().any(|c| c.subscribed));
            SUBSCRIBED.set(any);
            return;
        }
        if let Some(c) = self.control.as_mut() {
            c.conns.insert(t.0, conn);
        }
    }

    /// Hand the queued events to the subscribers (end of a loop turn).
    pub(super) fn control_events(&mut self, eng: &mut Engine) {
        let events = EVENTS.with_borrow_mut(std::mem::take);
        if events.is_empty() {
            return;
        }
        let Some(c) = self.control.as_mut() else {
            return;
        };
        let subs: Vec<usize> = c
            .conns
            .iter()
            .filter(|(_, c)| c.subscribed)
            .map(|(t, _)| *t)
            .collect();
        for t in subs {
            let Some(mut conn) = self.control.as_mut().and_then(|c| c.conns.remove(&t)) else {
                continue;
            };
            for e in &events {
                conn.out.extend_from_slice(e.as_bytes());
            }
            self.control_put_back(eng, Token(t), conn);
        }
    }

    /// The index of the live port `name` names.
    fn control_port(&self, name: &str) -> Result<usize, String> {
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
    fn control_request(&mut self, eng: &mut Engine, r: Request) -> Result<String, String> {
        match r {
            Request::List => Ok(control::ok(vec![("ports", Val::Raw(self.control_list()))])),
            Request::Show(p) => {
                let pi = self.control_port(&p)?;
                Ok(control::ok(self.control_show(pi)))
            }
            Request::Kick(p, who) => {
                let pi = self.control_port(&p)?;
                let n = self.kick(eng, pi, who.as_deref(), "kicked (control socket)");
                match who {
                    Some(w) if n == 0 => Err(format!("no client {w} on {p}")),
                    _ => Ok(control::ok(vec![("kicked", Val::I(n as i64))])),
                }
            }
            Request::Enable(p) => {
                let pi = self.control_port(&p)?;
                self.set_enabled(eng, pi, true);
                Ok(control::ok(vec![("enabled", Val::B(true))]))
            }
            Request::Disable(p) => {
                let pi = self.control_port(&p)?;
                let n = self.set_enabled(eng, pi, false);
                Ok(control::ok(vec![
                    ("enabled", Val::B(false)),
                    ("kicked", Val::I(n as i64)),
                ]))
            }
            Request::SetControl(p, line, on) => {
                let pi = self.control_port(&p)?;
                self.set_line(pi, line, on)?;
                let name = if line == CtlLine::Dtr { "dtr" } else { "rts" };
                Ok(control::ok(vec![(name, Val::B(on))]))
            }
            Request::Break(p, ms) => {
                let pi = self.control_port(&p)?;
                self.start_break(eng, pi, ms)?;
                Ok(control::ok(vec![("break_ms", Val::I(ms as i64))]))
            }
            Request::Reset(p, name) => {
                let pi = self.control_port(&p)?;
                let n = self.start_reset(eng, pi, &name)?;
                Ok(control::ok(vec![
                    ("reset", Val::S(name)),
                    ("steps", Val::I(n as i64)),
                ]))
            }
            Request::Subscribe => Ok(control::ok(vec![])),
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
                    ("client", Val::S(c.peer.to_string())),
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
                if who.is_none_or(|w| c.peer.to_string() == w) {
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
