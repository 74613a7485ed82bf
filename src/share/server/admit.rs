//! Accepting connections: ACL, TLS handshake, picking a line (writers, watchers, take-over),
//! opening the device, and the client's first bytes (telnet start, replay, banner).

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub(super) use super::attach::Via;
use super::{
    HANDSHAKE_TIME, Pending, Port, PortDevice, ShareServer, Slot, T_ACCEPT, T_HANDSHAKE, T_IDLE,
    key,
};
use crate::share::conf::{PortConfig, PortMode};
use crate::share::engine::{Engine, Token};
use crate::share::rfc2217::modem_state;
use crate::share::session::{Client, Role, Session};
use crate::share::stack::{Conn, Control, LayerArgs, Side};

/// How soon accept is tried again after it ran out of fds.
const ACCEPT_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

/// Whether an accept error concerns only that one connection (try the next one at once):
/// interrupted, or a peer that reset before it was accepted.
pub(super) fn retry_accept(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Interrupted | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

/// Send a one-line reason and close.
fn refuse(mut conn: Conn, msg: &str) {
    let _ = conn.write(msg.as_bytes());
    let _ = conn.flush();
    conn.shutdown();
}

impl ShareServer {
    pub(super) fn accept(&mut self, eng: &mut Engine, pi: usize, role: Role) {
        loop {
            let Some(Some(p)) = self.ports.get(pi) else {
                return;
            };
            let l = match role {
                Role::Writer => p.listener.as_ref(),
                Role::Watcher => p.watch.as_ref(),
            };
            let Some(l) = l else { return };
            let lt = l.1;
            match l.0.accept() {
                Ok((sock, _)) => self.incoming(eng, pi, OwnedFd::from(sock), role, true),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if retry_accept(&e) => {}
                Err(e) => {
                    let msg = format!("port {}: accept: {e}", p.addr);
                    crate::sys::loglimit::log_limited(log::Level::Warn, msg);
                    self.accept_later(eng, lt);
                    return;
                }
            }
        }
    }

    /// Accept failed for want of fds (or memory): try again on a timer, only while that
    /// lasts. A full backlog brings no new readiness edge (the kernel drops further SYNs), so
    /// waiting for one would leave the port dead after the fds come back.
    pub(super) fn accept_later(&mut self, eng: &mut Engine, listener: Token) {
        if self.accept_retry.insert(listener.0) {
            eng.add_timer(Instant::now() + ACCEPT_RETRY, key(T_ACCEPT, listener));
        }
    }

    /// The accept retry timer of `listener` is due: accept what waits (which re-arms the
    /// timer if fds are still short).
    pub(super) fn accept_due(&mut self, eng: &mut Engine, listener: Token) {
        self.accept_retry.remove(&listener.0);
        match self.slots.get(listener.0).copied() {
            Some(Slot::Listener(pi, role)) => self.accept(eng, pi, role),
            Some(Slot::Metrics) => self.metrics_accept(eng),
            _ => {}
        }
    }

    /// A new connection: ACL, then the TLS handshake (if any), then [`ShareServer::admit`].
    pub(super) fn incoming(
        &mut self,
        eng: &mut Engine,
        pi: usize,
        fd: OwnedFd,
        role: Role,
        check_acl: bool,
    ) {
        // Host lists with names: the peer's name may admit it, once looked up (names.rs).
        let Some((fd, check_acl)) = self.by_name(eng, pi, fd, role, check_acl) else {
            return;
        };
        let Some(Some(port)) = self.ports.get_mut(pi) else {
            return;
        };
        let conn = match Conn::new(fd, port.tls.as_ref()) {
            Ok(c) => c,
            Err(e) => {
                log::warn!("port {}: {e}", port.addr);
                return;
            }
        };
        let peer = conn.peer();
        if check_acl && !port.cfg.acl.allows(peer.ip()) {
            port.stats.refusals += 1;
            crate::sys::loglimit::log_limited(
                log::Level::Warn,
                format!(
                    "port {}: refused {}: not in the host list",
                    port.addr,
                    peer.ip()
                ),
            );
            if conn.is_plain() {
                refuse(conn, &format!("access denied for {}\r\n", peer.ip()));
            }
            return;
        }
        if conn.is_plain() {
            self.admit(eng, pi, conn, peer, role);
            return;
        }
        let t = self.slot(Slot::Pending);
        if let Err(e) = eng.register(conn.fd(), t) {
            log::warn!("{peer}: epoll: {e}");
            self.release(eng, t, conn.fd());
            return;
        }
        let timer = eng.add_timer(Instant::now() + HANDSHAKE_TIME, key(T_HANDSHAKE, t));
        self.pending.insert(
            t.0,
            Pending {
                port: pi,
                conn,
                peer,
                role,
                timer,
            },
        );
        self.handshake(eng, t);
    }

    pub(super) fn handshake(&mut self, eng: &mut Engine, t: Token) {
        let Some(p) = self.pending.get_mut(&t.0) else {
            return;
        };
        match p.conn.handshake() {
            Ok(false) => {}
            Ok(true) => {
                let Some(p) = self.pending.remove(&t.0) else {
                    return;
                };
                eng.cancel_timer(p.timer);
                self.release(eng, t, p.conn.fd());
                self.admit(eng, p.port, p.conn, p.peer, p.role);
            }
            Err(e) => {
                let Some(p) = self.pending.remove(&t.0) else {
                    return;
                };
                crate::sys::loglimit::log_limited(
                    log::Level::Warn,
                    format!("{}: TLS handshake failed: {e}", p.peer),
                );
                eng.cancel_timer(p.timer);
                self.drop_pending(eng, t, p);
            }
        }
    }

    pub(super) fn drop_pending(&mut self, eng: &mut Engine, t: Token, mut p: Pending) {
        if let Some(Some(port)) = self.ports.get_mut(p.port) {
            port.stats.refusals += 1;
        }
        self.release(eng, t, p.conn.fd());
        p.conn.shutdown();
    }

    /// A web console connection, upgraded to WebSocket: admitted like any client.
    pub(super) fn admit_web(&mut self, eng: &mut Engine, pi: usize, c: Conn, role: Role) {
        let peer = c.peer();
        self.admit(eng, pi, c, peer, role);
    }

    /// Pick a line, open it if needed and add the client.
    fn admit(&mut self, eng: &mut Engine, pi: usize, conn: Conn, peer: SocketAddr, role: Role) {
        self.admit_via(eng, pi, conn, Via::Net(peer), role);
    }

    /// [`ShareServer::admit`] for a client from the network or the control socket.
    pub(super) fn admit_via(
        &mut self,
        eng: &mut Engine,
        pi: usize,
        conn: Conn,
        via: Via,
        role: Role,
    ) {
        let (peer, who) = match &via {
            Via::Net(p) => (*p, p.to_string()),
            Via::Control(a) => (conn.peer(), a.name.clone()),
        };
        let in_use: Vec<PathBuf> = self
            .ports
            .iter()
            .flatten()
            .flat_map(|p| p.lines.iter())
            .filter_map(|l| Some(l.session.as_ref()?.lock.path().to_path_buf()))
            .collect();
        let settings = self.settings.clone();
        let Some(Some(port)) = self.ports.get_mut(pi) else {
            return;
        };
        let li = match pick_line(port, role, &in_use, &settings, &who) {
            Ok(li) => li,
            Err(msg) => {
                port.stats.refusals += 1;
                crate::sys::loglimit::log_limited(
                    log::Level::Warn,
                    format!("port {}: refused {who}: {msg}", port.addr),
                );
                refuse(conn, &via.refusal(&msg));
                return;
            }
        };
        self.register_session(eng, pi, li);
        let t = self.slot(Slot::Client(pi, li));
        if let Err(e) = eng.register(conn.fd(), t) {
            log::warn!("{who}: epoll: {e}");
        }
        let cap = self.settings.client_buffer;
        let Some(Some(port)) = self.ports.get_mut(pi) else {
            return;
        };
        let mut c = Client::new(t, conn, peer, role);
        let early = via.start(&mut c, port.addr, cap);
        if let Some(idle) = port.cfg.idle_timeout {
            c.idle_timer = Some(eng.add_timer(Instant::now() + idle, key(T_IDLE, t)));
        }
        let line = &mut port.lines[li];
        let Some(s) = line.session.as_deref_mut() else {
            return;
        };
        if s.closing.take().is_some() {
            log::info!("{}: session resumed", s.path.display());
        }
        greet(
            &mut c,
            s,
            &port.cfg,
            &line.replay.snapshot(),
            &line.path,
            cap,
        );
        announce(port, li, &who, role);
        let Some(s) = port.lines[li].session.as_deref_mut() else {
            return;
        };
        if role == Role::Writer && !early.is_empty() {
            // Input that came with the attach request.
            c.rx += early.len() as u64;
            s.pump.to_dev.extend(&early);
        }
        c.flush();
        s.pump.clients.push(c);
        self.status_dirty = true;
        self.pump(eng, pi, li);
    }

    /// A session just opened by [`pick_line`] gets its token and its fd watched.
    pub(super) fn register_session(&mut self, eng: &mut Engine, pi: usize, li: usize) {
        let Some(Some(port)) = self.ports.get_mut(pi) else {
            return;
        };
        let opened = port.lines[li]
            .session
            .as_ref()
            .is_some_and(|s| s.token == Token(usize::MAX));
        if opened {
            port.stats.sessions += 1;
            let t = self.slot(Slot::Dev(pi, li));
            let Some(Some(port)) = self.ports.get_mut(pi) else {
                return;
            };
            if let Some(s) = port.lines[li].session.as_deref_mut() {
                s.token = t;
                if let Err(e) = eng.register(s.dev_fd(), t) {
                    s.pump.gone = Some(format!("epoll: {e}"));
                }
            }
        }
    }
}

/// Log a new client (the log, the port log, control-socket subscribers) and count it.
fn announce(port: &mut Port, li: usize, who: &str, role: Role) {
    let Some(s) = port.lines[li].session.as_deref() else {
        return;
    };
    let watcher = role == Role::Watcher;
    log::info!(
        "port {}: connect from {who} to {} ({} client(s)){}",
        port.addr,
        s.path.display(),
        s.pump.clients.len() + 1,
        if watcher { ", read-only" } else { "" }
    );
    if let Some(l) = port.log.as_mut() {
        let kind = if watcher { "watcher" } else { "client" };
        l.event(&format!("connect {kind} {who}"));
    }
    super::control::connected(port.addr, who, role);
    port.stats.connects += 1;
    port.stats.clients += 1;
}

/// Telnet start, modem state, replay and banner for a new client.
fn greet(c: &mut Client, s: &Session, cfg: &PortConfig, replay: &[u8], path: &Path, cap: usize) {
    // A control-socket client speaks raw bytes: no protocol layers.
    let local = c.name.is_some();
    let rfc = cfg.mode == PortMode::Rfc2217 && !c.conn.layers().contains(&"websocket") && !local;
    if rfc || (!cfg.layers.is_empty() && !local) {
        let args = LayerArgs {
            side: Side::Server,
            tls: None,
        };
        let telnet = if cfg.telnet_brk_on_sync {
            "telnet-brk-on-sync"
        } else {
            "telnet"
        };
        let names = cfg.layers.iter().map(String::as_str);
        let names: Vec<&str> = names
            .chain(rfc.then_some([telnet, "rfc2217"]).into_iter().flatten())
            .collect();
        let r = names
            .iter()
            .try_for_each(|n| c.conn.push(n, &args))
            .and_then(|()| c.conn.start());
        if let Err(e) = r {
            c.dead = Some(format!("connection stack: {e}"));
            return;
        }
    }
    if rfc {
        c.control(Control::ModemState(modem_state(s)), cap);
    }
    if let Some(b) = cfg.render_banner(path) {
        c.queue(&b, cap);
    }
    if !replay.is_empty() {
        c.queue(replay, cap);
    }
}

/// Choose the line for a new client, opening (and locking) a device when needed. A freshly
/// opened session carries the placeholder token `usize::MAX` until it is registered.
fn pick_line(
    port: &mut Port,
    role: Role,
    in_use: &[PathBuf],
    settings: &super::ServerSettings,
    who: &str,
) -> Result<usize, String> {
    if port.disabled {
        return Err("port disabled".into());
    }
    let max = port.cfg.max_clients;
    let pool = port.lines.len() > 1;
    let live = |l: &PortDevice| l.session.as_ref().is_some_and(|s| s.pump.gone.is_none());
    // A closing session (nobody left, still draining) first.
    if let Some(li) = port
        .lines
        .iter()
        .position(|l| live(l) && l.session.as_ref().is_some_and(|s| s.closing.is_some()))
    {
        return Ok(li);
    }
    if role == Role::Watcher {
        if let Some(li) = port.lines.iter().position(live) {
            return Ok(li);
        }
    }
    let has_room = |s: &Session| s.pump.gone.is_none() && s.writers() < max;
    if !pool && role == Role::Writer {
        if let Some(s) = port.lines[0].session.as_deref_mut() {
            if has_room(s) {
                return Ok(0);
            }
            if !port.cfg.takeover {
                return Err(format!(
                    "device {} is in use by {} client(s)",
                    s.path.display(),
                    s.writers()
                ));
            }
            take_over(s, who);
            return Ok(0);
        }
    }
    let last_reason = match super::open::open_free_line(port, in_use, settings) {
        Ok(li) => return Ok(li),
        Err(reason) => reason,
    };
    if pool {
        if let Some(li) = port
            .lines
            .iter()
            .position(|l| l.session.as_deref().is_some_and(has_room))
        {
            return Ok(li);
        }
        return Err("all lines busy".to_string());
    }
    Err(last_reason)
}

/// `--takeover`: the oldest writer gets a one-line notice and is dropped (`who`: the new
/// writer's address or name).
fn take_over(s: &mut Session, who: &str) {
    let Some(old) = s
        .pump
        .clients
        .iter_mut()
        .filter(|c| c.role == Role::Writer && c.dead.is_none())
        .min_by_key(|c| c.since)
    else {
        return;
    };
    // A TCP peer is named by its address without the port, as before.
    let by = who
        .parse::<SocketAddr>()
        .map_or(who.to_string(), |a| a.ip().to_string());
    let notice = format!("\r\n[rgetty-share: taken over by {by}]\r\n");
    // The notice may pass the cap: the client is being dropped anyway.
    old.out.extend(notice.as_bytes());
    old.flush();
    old.dead = Some(format!("taken over by {who}"));
}
