//! Ports and sessions over time: adding ports, settling a session after its clients or device
//! changed (drops, draining, closing, modem polling), reloading the config, shutting down.

use std::time::{Duration, Instant};

use super::{
    DRAIN_POLL, MODEM_POLL, Port, PortDevice, PortStats, ServeError, ShareServer, Slot, T_DRAIN,
    T_MODEM, bind_addr, key,
};
use crate::share::conf::PortConfig;
use crate::share::control::Val;
use crate::share::engine::{Engine, Token};
use crate::share::roles::{PortLog, Replay};
use crate::share::session::{Client, Role};
use crate::share::transport::{self, TlsRole};
use crate::sys::tty;

/// Log and close one client; returns its token and fd for the slot table.
pub(super) fn drop_client(
    eng: &mut Engine,
    port: &mut Port,
    dev: &str,
    mut c: Client,
) -> (Token, i32) {
    let why = c.dead.as_deref().unwrap_or("session closed");
    let who = c.who();
    log::info!(
        "port {}: disconnect {who} from {dev}: {why}; {} bytes in, {} bytes out, {}s",
        port.addr,
        c.rx,
        c.tx,
        c.since.elapsed().as_secs()
    );
    if let Some(l) = port.log.as_mut() {
        let kind = if c.role == Role::Watcher {
            "watcher"
        } else {
            "client"
        };
        l.event(&format!("disconnect {kind} {who}: {why}"));
    }
    super::control::emit("disconnect", port.addr, || {
        vec![("client", Val::S(who)), ("reason", Val::S(why.to_string()))]
    });
    if let Some(t) = c.idle_timer.take() {
        eng.cancel_timer(t);
    }
    if c.role == Role::Writer && port.cfg.replay_clear {
        for l in port
            .lines
            .iter_mut()
            .filter(|l| l.path.display().to_string() == dev)
        {
            l.replay.clear();
        }
    }
    port.stats.clients = port.stats.clients.saturating_sub(1);
    c.conn.shutdown();
    (c.token, c.conn.fd())
}

/// Restore the termios and close the session (the lock goes with it). Returns the device's
/// token and fd.
fn finish(
    eng: &mut Engine,
    l: &mut PortDevice,
    drained: bool,
    hangup: bool,
) -> Option<(Token, i32)> {
    let s = l.session.take()?;
    super::lines::at_close(
        std::os::fd::AsFd::as_fd(&s.pump.dev),
        hangup && s.pump.gone.is_none(),
    );
    for t in [s.modem_timer, s.drain_timer].into_iter().flatten() {
        eng.cancel_timer(t);
    }
    // A device that failed or went away has nothing to restore.
    if let (Some(t), None) = (&s.saved, &s.pump.gone) {
        if let Err(e) = tty::set_termios(&s.pump.dev, t) {
            log::warn!("{}: restoring termios: {e}", s.path.display());
        }
    }
    log::info!(
        "{}: closed{}: {} bytes to the device, {} bytes from it",
        s.path.display(),
        if drained { "" } else { " without draining" },
        s.pump.to_dev_bytes,
        s.pump.from_dev_bytes
    );
    Some((s.token, s.dev_fd()))
}

/// Neither a session nor held clients (`hold-session`).
fn idle(l: &PortDevice) -> bool {
    l.session.is_none() && l.held.is_none()
}

/// The server side of a TLS port, or `None` for a plain one.
fn load_tls(cfg: &PortConfig) -> Result<Option<TlsRole>, ServeError> {
    match &cfg.tls {
        Some(f) => Ok(Some(TlsRole::Server(transport::server_config_for(f)?))),
        None => Ok(None),
    }
}

impl ShareServer {
    /// Add a port with its listener (or `None` for a port fed by [`ShareServer::inject`]); binds
    /// its watch port and loads its TLS files. Returns the port's index.
    pub fn add_port(
        &mut self,
        cfg: PortConfig,
        listener: Option<std::net::TcpListener>,
    ) -> Result<usize, ServeError> {
        let Some(eng) = self.eng.take() else {
            return Err(super::io_err("add_port")(std::io::ErrorKind::Other.into()));
        };
        let r = self.add_port_on(&eng, cfg, listener);
        self.eng = Some(eng);
        r
    }

    fn add_port_on(
        &mut self,
        eng: &Engine,
        cfg: PortConfig,
        listener: Option<std::net::TcpListener>,
    ) -> Result<usize, ServeError> {
        let tls = load_tls(&cfg)?;
        self.add_port_with(eng, cfg, tls, listener)
    }

    /// [`ShareServer::add_port_on`] with the TLS files already loaded.
    fn add_port_with(
        &mut self,
        eng: &Engine,
        cfg: PortConfig,
        tls: Option<TlsRole>,
        listener: Option<std::net::TcpListener>,
    ) -> Result<usize, ServeError> {
        let addr = listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .unwrap_or(cfg.listen);
        let watch = match cfg.watch {
            Some(w) => Some(bind_addr(std::net::SocketAddr::new(addr.ip(), w))?),
            None => None,
        };
        for d in &cfg.devices {
            super::lines::prepare(d, &cfg, &self.settings.lock_dir);
        }
        let pi = self.ports.len();
        let mut reg = |l: Option<std::net::TcpListener>, role| -> Result<_, ServeError> {
            let Some(l) = l else { return Ok(None) };
            let t = self.slot(Slot::Listener(pi, role));
            eng.register_read(std::os::fd::AsRawFd::as_raw_fd(&l), t)
                .map_err(super::io_err("epoll"))?;
            Ok(Some((l, t)))
        };
        let listener = reg(listener, Role::Writer)?;
        let watch = reg(watch, Role::Watcher)?;
        let lines = cfg
            .devices
            .iter()
            .map(|p| PortDevice {
                path: p.clone(),
                present: crate::ops::hotplug::exists(p),
                session: None,
                replay: Replay::new(cfg.replay),
                held: None,
                settings: None,
            })
            .collect();
        let alerts = crate::share::alert::Alerts::new(&cfg.alerts);
        let line_alerts = crate::share::line_alert::LineAlerts::new(&cfg.line_alerts);
        self.ports.push(Some(Port {
            log: cfg.log.as_deref().map(PortLog::open),
            cfg,
            addr,
            listener,
            watch,
            lines,
            tls,
            stats: PortStats::default(),
            retired: false,
            disabled: false,
            alerts,
            line_alerts,
        }));
        Ok(pi)
    }

    /// After a pump or timer: drop dead clients, close a failed device, start or finish
    /// draining, keep the modem poll going while someone wants it.
    pub(super) fn settle(&mut self, eng: &mut Engine, pi: usize, li: usize) {
        let mut freed: Vec<(Token, i32)> = Vec::new();
        let Some(Some(port)) = self.ports.get_mut(pi) else {
            return;
        };
        let Some(s) = port.lines[li].session.as_deref_mut() else {
            return;
        };
        let dev = s.path.display().to_string();
        let gone = s.pump.gone.clone();
        let hold = gone.is_some() && port.cfg.hold_session;
        let mut dead = Vec::new();
        let mut i = 0;
        while i < s.pump.clients.len() {
            if s.pump.clients[i].dead.is_some() || (gone.is_some() && !hold) {
                dead.push(s.pump.clients.swap_remove(i));
            } else {
                i += 1;
            }
        }
        let t = Instant::now();
        let drain = port.cfg.drain_timeout;
        let mut close: Option<bool> = None;
        let kept = hold.then(|| super::hold::Kept::take(s));
        if let Some(why) = &gone {
            log::warn!("{dev}: {why}; closing the session");
            close = Some(false);
            if !hold {
                super::control::gone(port.addr, &dev, why, false);
            }
        } else {
            if s.pump.clients.is_empty() && s.closing.is_none() {
                s.closing = Some(t + drain);
            }
            if let Some(deadline) = s.closing {
                let pending = tty::output_pending(&s.pump.dev).unwrap_or(0);
                if s.pump.to_dev.is_empty() && pending == 0 {
                    close = Some(true);
                } else if t >= deadline {
                    log::warn!(
                        "{dev}: drain time over, {} bytes not sent",
                        s.pump.to_dev.len() + pending
                    );
                    close = Some(false);
                } else {
                    if let Some(old) = s.drain_timer.take() {
                        eng.cancel_timer(old);
                    }
                    s.drain_timer = Some(eng.add_timer(t + DRAIN_POLL, key(T_DRAIN, s.token)));
                }
            } else if s.has_modem_lines
                && s.modem_timer.is_none()
                && (port.line_alerts.is_some()
                    || s.pump.clients.iter().any(Client::wants_modem_notify))
            {
                s.modem_timer = Some(eng.add_timer(t + MODEM_POLL, key(T_MODEM, s.token)));
            }
        }
        for c in dead {
            freed.push(drop_client(eng, port, &dev, c));
        }
        let hangup = port.cfg.hangup_when_done;
        if let Some(drained) = close {
            freed.extend(finish(eng, &mut port.lines[li], drained, hangup));
        }
        let held = kept.is_some_and(|k| super::hold::enter(port, li, k, gone.as_deref()));
        let remove = port.retired && port.lines.iter().all(idle);
        self.status_dirty |= !freed.is_empty();
        for (t, fd) in freed {
            self.release(eng, t, fd);
        }
        if remove {
            self.ports[pi] = None;
        }
        if held {
            self.resume_held(eng, pi, li, true);
        }
    }

    /// The TLS files of new and changed ports, read before anything is applied: `None` (the
    /// error logged) when one is bad, so that the whole old config keeps serving.
    fn load_new_tls(&self, new: Vec<PortConfig>) -> Option<Vec<(PortConfig, Option<TlsRole>)>> {
        let mut loaded = Vec::with_capacity(new.len());
        for cfg in new {
            // Only a TLS port has files to read (and only then is the old list scanned).
            let same = cfg.tls.is_none()
                || self
                    .ports
                    .iter()
                    .flatten()
                    .any(|p| !p.retired && p.cfg == cfg);
            match if same { Ok(None) } else { load_tls(&cfg) } {
                Ok(tls) => loaded.push((cfg, tls)),
                Err(e) => {
                    log::error!("{e}; keeping the old config");
                    return None;
                }
            }
        }
        Some(loaded)
    }

    /// Re-read the config: unchanged ports are kept as they are, changed ports take the new
    /// settings for new clients while live sessions finish on the old ones, removed ports are
    /// closed (buffered data written first), new ports are opened.
    pub(super) fn reload(&mut self, eng: &mut Engine) {
        let Some(r) = self.reloader.as_mut() else {
            return;
        };
        let Some(new) = r() else { return };
        let Some(loaded) = self.load_new_tls(new) else {
            return;
        };
        let mut seen = vec![false; self.ports.len()];
        for (cfg, tls) in loaded {
            let old = self.ports.iter().position(|p| {
                p.as_ref()
                    .is_some_and(|p| !p.retired && p.cfg.listen == cfg.listen)
            });
            let Some(oi) = old else {
                let listen = cfg.listen;
                match super::bind(&cfg).and_then(|l| self.add_port_with(eng, cfg, tls, Some(l))) {
                    Ok(_) => log::info!("port {listen}: added"),
                    Err(e) => log::error!("{e}"),
                }
                continue;
            };
            seen[oi] = true;
            let Some(p) = self.ports[oi].as_mut() else {
                continue;
            };
            if p.cfg == cfg {
                continue;
            }
            // The listener goes to the new config; live sessions finish on the old one.
            let l = p.listener.take();
            let w = p.watch.take();
            p.retired = true;
            let busy = p.lines.iter().any(|l| l.session.is_some());
            log::info!(
                "port {}: changed{}",
                cfg.listen,
                if busy {
                    "; live sessions keep the old settings"
                } else {
                    ""
                }
            );
            if let Some((wl, t)) = w {
                self.release(eng, t, std::os::fd::AsRawFd::as_raw_fd(&wl));
            }
            let l = l.map(|(l, t)| {
                self.release(eng, t, std::os::fd::AsRawFd::as_raw_fd(&l));
                l
            });
            if let Err(e) = self.add_port_with(eng, cfg, tls, l) {
                log::error!("{e}");
            }
            if !busy {
                self.ports[oi] = None;
            }
        }
        for (oi, kept) in seen.into_iter().enumerate() {
            let Some(p) = self.ports[oi].as_ref() else {
                continue;
            };
            if !kept && !p.retired {
                log::info!("port {}: removed", p.cfg.listen);
                self.close_port(eng, oi);
            }
        }
    }

    pub(super) fn shutdown(&mut self, eng: &mut Engine) {
        for (t, p) in std::mem::take(&mut self.pending) {
            self.drop_pending(eng, Token(t), p);
        }
        for pi in 0..self.ports.len() {
            self.close_port(eng, pi);
        }
    }

    /// Close a port: listeners, clients, and each device after a bounded drain.
    fn close_port(&mut self, eng: &mut Engine, pi: usize) {
        let Some(mut p) = self.ports.get_mut(pi).and_then(Option::take) else {
            return;
        };
        let mut freed = Vec::new();
        for (l, t) in [p.listener.take(), p.watch.take()].into_iter().flatten() {
            freed.push((t, std::os::fd::AsRawFd::as_raw_fd(&l)));
        }
        let drain = p.cfg.drain_timeout.min(Duration::from_secs(5));
        for li in 0..p.lines.len() {
            if let Some(h) = p.lines[li].held.take() {
                let dev = p.lines[li].path.display().to_string();
                for c in h.clients {
                    freed.push(drop_client(eng, &mut p, &dev, c));
                }
            }
            let Some(s) = p.lines[li].session.as_deref_mut() else {
                continue;
            };
            let dev = s.path.display().to_string();
            for mut c in std::mem::take(&mut s.pump.clients) {
                c.flush();
                freed.push(drop_client(eng, &mut p, &dev, c));
            }
            let Some(s) = p.lines[li].session.as_deref_mut() else {
                continue;
            };
            // Give the device what is already buffered, for a bounded time (stopping or
            // reloading must not hang on a flow-controlled line).
            let deadline = Instant::now() + drain;
            while Instant::now() < deadline {
                s.pump.dev_writable = true;
                s.pump.write_dev();
                if s.pump.gone.is_some()
                    || s.pump.to_dev.is_empty()
                        && tty::output_pending(&s.pump.dev).unwrap_or(0) == 0
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let drained = s.pump.to_dev.is_empty();
            freed.extend(finish(
                eng,
                &mut p.lines[li],
                drained,
                p.cfg.hangup_when_done,
            ));
        }
        for (t, fd) in freed {
            self.release(eng, t, fd);
        }
    }
}
