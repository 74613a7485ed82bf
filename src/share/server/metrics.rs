//! What `rgetty-share serve` tells the outside (issue 11): `GET /metrics` on the `--metrics`
//! listener (Prometheus text, per port: clients, bytes each way, sessions, refusals, device
//! present, lock state), and `STATUS=` lines to systemd (hot-plug, in `hotplug.rs`, changes
//! them).
//!
//! The listener is an fd on the engine like any other: nothing here wakes an idle server.

use std::collections::HashMap;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::ops::hotplug;
use crate::ops::httpconn::HttpConn;
use crate::ops::notify;
use crate::ops::prom::{self, LockState, PortMetrics};
use crate::share::acl::Acl;
use crate::share::engine::{Engine, TimerId, Token};
use crate::sys::loglimit::log_limited;

use super::{ServeError, ShareServer, Slot, T_METRICS, io_err, key};

/// The metrics listener and its connections.
#[derive(Debug)]
pub(super) struct Metrics {
    listener: TcpListener,
    token: Token,
    acl: Acl,
    /// Token → the connection, when it was accepted, and its deadline timer.
    conns: HashMap<usize, (HttpConn, Instant, TimerId)>,
}

/// At most this many metrics connections at once (the oldest is dropped beyond).
const MAX_CONNS: usize = 16;
/// A metrics connection must send its request head and take its answer within this time of
/// being accepted (idle and slow peers alike are closed then).
pub(super) const METRICS_TIME: Duration = Duration::from_secs(5);

impl ShareServer {
    /// Serve `GET /metrics` on `listener` (non-blocking) to peers `acl` admits.
    pub fn set_metrics(&mut self, listener: TcpListener, acl: Acl) -> Result<(), ServeError> {
        listener
            .set_nonblocking(true)
            .map_err(io_err("metrics listener"))?;
        let t = self.slot(Slot::Metrics);
        self.eng()?
            .register_read(listener.as_raw_fd(), t)
            .map_err(io_err("epoll"))?;
        self.metrics = Some(Metrics {
            listener,
            token: t,
            acl,
            conns: HashMap::new(),
        });
        Ok(())
    }

    /// Send `STATUS=` lines (and `READY=1` here) to `$NOTIFY_SOCKET` when it is set: call
    /// once every listener is bound. Later lines go only when the status text changed.
    pub fn notify_ready(&mut self) {
        self.notifier = notify::Notifier::from_env();
        let Some(n) = &self.notifier else { return };
        self.last_status = self.status_line();
        let msg = format!("READY=1\n{}", notify::status_message(&self.last_status));
        if let Err(e) = n.send(&msg) {
            log::warn!("NOTIFY_SOCKET: {e}");
        }
    }

    /// A `STATUS=` line if something it counts changed since the last one.
    pub(super) fn send_status(&mut self) {
        if !std::mem::take(&mut self.status_dirty) {
            return;
        }
        let Some(n) = &self.notifier else { return };
        let now = self.status_line();
        if now != self.last_status {
            let _ = n.send(&notify::status_message(&now));
            self.last_status = now;
        }
    }

    /// The one-line status (`STATUS=` for systemd): ports, clients, absent devices.
    pub fn status_line(&self) -> String {
        let ports: Vec<_> = self.ports.iter().flatten().filter(|p| !p.retired).collect();
        let absent = ports
            .iter()
            .flat_map(|p| p.lines.iter())
            .filter(|l| !l.present)
            .count();
        let clients: usize = ports.iter().map(|p| p.stats.clients).sum();
        let mut s = format!("serving {} ports, {clients} clients", ports.len());
        if absent > 0 {
            s.push_str(&format!(", {absent} devices absent"));
        }
        s
    }

    pub(super) fn metrics_accept(&mut self, eng: &mut Engine) {
        loop {
            let Some(m) = self.metrics.as_ref() else {
                return;
            };
            let (sock, peer) = match m.listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if super::admit::retry_accept(&e) => continue,
                Err(e) => {
                    log_limited(log::Level::Warn, format!("metrics: accept: {e}"));
                    let t = m.token;
                    self.accept_later(eng, t);
                    return;
                }
            };
            if !m.acl.allows(peer.ip()) {
                let msg = format!("metrics: refused {}: not in the host list", peer.ip());
                log_limited(log::Level::Warn, msg);
                continue;
            }
            if m.conns.len() >= MAX_CONNS {
                let msg = format!("metrics: {MAX_CONNS} connections open, the oldest dropped");
                log_limited(log::Level::Warn, msg);
                self.metrics_drop_oldest(eng);
            }
            let Ok(conn) = HttpConn::new(sock) else {
                continue;
            };
            let t = self.slot(Slot::MetricsConn);
            if eng.register(conn.socket().as_raw_fd(), t).is_err() {
                self.release(eng, t, conn.socket().as_raw_fd());
                continue;
            }
            let now = Instant::now();
            let timer = eng.add_timer(now + METRICS_TIME, key(T_METRICS, t));
            if let Some(m) = self.metrics.as_mut() {
                m.conns.insert(t.0, (conn, now, timer));
            }
            self.metrics_conn(eng, t);
        }
    }

    /// Close the metrics connection accepted first.
    fn metrics_drop_oldest(&mut self, eng: &mut Engine) {
        let Some(m) = self.metrics.as_ref() else {
            return;
        };
        let oldest = m.conns.iter().min_by_key(|(_, c)| c.1).map(|(t, _)| *t);
        if let Some(t) = oldest {
            self.metrics_close(eng, Token(t));
        }
    }

    /// Close a metrics connection (answered, dead, dropped, or out of time).
    pub(super) fn metrics_close(&mut self, eng: &mut Engine, t: Token) {
        let Some((c, _, timer)) = self.metrics.as_mut().and_then(|m| m.conns.remove(&t.0)) else {
            return;
        };
        eng.cancel_timer(timer);
        self.release(eng, t, c.socket().as_raw_fd());
    }

    pub(super) fn metrics_conn(&mut self, eng: &mut Engine, t: Token) {
        let text = self.metrics_text();
        let Some(m) = self.metrics.as_mut() else {
            return;
        };
        let Some((c, _, _)) = m.conns.get_mut(&t.0) else {
            return;
        };
        let mut body = || text.clone();
        if c.progress("/metrics", prom::CONTENT_TYPE, &mut body) {
            self.metrics_close(eng, t);
        }
    }

    /// The Prometheus text of every port.
    fn metrics_text(&self) -> String {
        let ports: Vec<PortMetrics> = self
            .ports
            .iter()
            .flatten()
            .map(|p| {
                let ours = p.lines.iter().any(|l| l.session.is_some());
                let foreign = !ours
                    && p.lines
                        .iter()
                        .any(|l| self.settings.lock_dir.check(&l.path).is_some());
                PortMetrics {
                    port: p.addr.to_string(),
                    device: p
                        .lines
                        .iter()
                        .map(|l| l.path.display().to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                    clients: p.stats.clients as u64,
                    bytes_to_device: p.stats.bytes_to_dev,
                    bytes_from_device: p.stats.bytes_from_dev,
                    sessions: p.stats.sessions,
                    refusals: p.stats.refusals,
                    device_gaps: p.stats.gaps,
                    held_input_dropped: p.stats.held_dropped,
                    device_present: p.lines.iter().any(|l| hotplug::exists(&l.path)),
                    lock: if ours {
                        LockState::Ours
                    } else if foreign {
                        LockState::Foreign
                    } else {
                        LockState::Free
                    },
                }
            })
            .collect();
        prom::share_metrics(&ports)
    }
}
