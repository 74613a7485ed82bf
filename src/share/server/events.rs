//! The server's side of the event engine: readiness, timers and the turn's end, each handed
//! to the room that owns the token (ports, sessions, control socket, web console, metrics).

use super::*;

impl Handler for ShareServer {
    fn ready(&mut self, eng: &mut Engine, t: Token, r: Ready) {
        match self.slots.get(t.0).copied() {
            Some(Slot::Wake) => {
                if let Some(w) = &mut self.wake {
                    let mut b = [0u8; 64];
                    while matches!(w.read(&mut b), Ok(n) if n > 0) {}
                }
            }
            Some(Slot::Listener(pi, role)) => self.accept(eng, pi, role),
            Some(Slot::Dev(pi, li)) => {
                if let Some(s) = self.session_mut(pi, li) {
                    s.pump.dev_readable |= r.readable;
                    s.pump.dev_writable |= r.writable;
                    s.pump.dev_hup |= r.closed;
                }
                self.pump(eng, pi, li);
            }
            Some(Slot::Client(pi, li)) => {
                if let Some(c) = self.client_mut(pi, li, t) {
                    c.readable |= r.readable;
                    c.writable |= r.writable;
                    c.hup |= r.closed;
                }
                self.pump(eng, pi, li);
            }
            Some(Slot::Pending) => self.handshake(eng, t),
            Some(Slot::Metrics) => self.metrics_accept(eng),
            Some(Slot::MetricsConn) => self.metrics_conn(eng, t),
            Some(Slot::Hotplug) => self.hotplug_ready(eng),
            Some(Slot::Control) => self.control_accept(eng),
            Some(Slot::ControlConn) => self.control_conn(eng, t),
            Some(Slot::Names) => self.names_ready(eng),
            Some(Slot::Web) => self.web_accept(eng),
            Some(Slot::WebConn) => self.web_conn(eng, t),
            Some(Slot::WebNotify) => self.dashboard_notify(eng),
            Some(Slot::Feed) => self.feed_ready(eng, t),
            Some(Slot::Free) | None => {}
        }
    }

    fn timer(&mut self, eng: &mut Engine, k: u64) {
        let t = Token((k & 0xffff_ffff) as usize);
        match k >> 32 {
            T_IDLE => self.idle_check(eng, t),
            T_DRAIN => self.drain_check(eng, t),
            T_MODEM => self.modem_poll(eng, t),
            T_ACCEPT => self.accept_due(eng, t),
            T_METRICS => self.metrics_close(eng, t),
            T_BREAK => self.end_break(t),
            T_RESET => self.reset_step(eng, t),
            T_NAMES => self.names_timeout(eng),
            T_WEB => self.web_close(eng, t),
            T_HANDSHAKE => {
                if let Some(p) = self.pending.remove(&t.0) {
                    log::warn!("{}: TLS handshake not finished in time", p.peer);
                    self.drop_pending(eng, t, p);
                }
            }
            _ => {}
        }
    }

    fn tick(&mut self, eng: &mut Engine) -> bool {
        for (pi, li) in std::mem::take(&mut self.deferred) {
            self.pump(eng, pi, li);
        }
        if self.signals.term.load(Ordering::Relaxed) {
            log::info!("terminating");
            self.shutdown(eng);
            return false;
        }
        if self.signals.hup.swap(false, Ordering::Relaxed) {
            for p in self.ports.iter_mut().flatten() {
                if let Some(l) = p.log.as_mut() {
                    l.reopen();
                }
            }
            self.reload(eng);
            self.rewatch(eng);
        }
        self.dashboard_tick(eng);
        self.send_status();
        self.control_events(eng);
        // Only inetd mode looks at every port: a daemon's turn must not cost O(ports).
        let idle =
            || {
                self.pending.is_empty()
                    && self.names.waiting() == 0
                    && self.ports.iter().flatten().all(|p| {
                        p.listener.is_none() && p.lines.iter().all(|l| l.session.is_none())
                    })
            };
        !(self.stop || (self.exit_when_idle && idle()))
    }
}
