//! Timers of `serve`: a client's idle time-out, a closing session's drain check, and the
//! modem-line poll while a client asked for modem-state notifications.

use crate::share::engine::{Engine, Token};
use crate::share::session::Session;

use super::{ShareServer, Slot, T_IDLE, key};

impl ShareServer {
    pub(super) fn session_mut(&mut self, pi: usize, li: usize) -> Option<&mut Session> {
        self.ports
            .get_mut(pi)?
            .as_mut()?
            .lines
            .get_mut(li)?
            .session
            .as_deref_mut()
    }

    pub(super) fn idle_check(&mut self, eng: &mut Engine, t: Token) {
        let Some(Slot::Client(pi, li)) = self.slots.get(t.0).copied() else {
            return;
        };
        let Some(idle) = self.ports[pi].as_ref().and_then(|p| p.cfg.idle_timeout) else {
            return;
        };
        let Some(s) = self.session_mut(pi, li) else {
            return;
        };
        let Some(c) = s.pump.clients.iter_mut().find(|c| c.token == t) else {
            return;
        };
        if c.last.elapsed() >= idle {
            c.dead = Some(format!("idle for {}s", idle.as_secs()));
            c.idle_timer = None;
            self.settle(eng, pi, li);
        } else {
            c.idle_timer = Some(eng.add_timer(c.last + idle, key(T_IDLE, t)));
        }
    }

    pub(super) fn drain_check(&mut self, eng: &mut Engine, t: Token) {
        let Some(Slot::Dev(pi, li)) = self.slots.get(t.0).copied() else {
            return;
        };
        let Some(s) = self.session_mut(pi, li) else {
            return;
        };
        if s.closing.is_some() {
            s.pump.write_dev();
            self.settle(eng, pi, li);
        }
    }

    pub(super) fn modem_poll(&mut self, eng: &mut Engine, t: Token) {
        let Some(Slot::Dev(pi, li)) = self.slots.get(t.0).copied() else {
            return;
        };
        let cap = self.settings.client_buffer;
        let Some(s) = self.session_mut(pi, li) else {
            return;
        };
        s.modem_timer = None;
        if s.pump.clients.iter().any(|c| c.wants_modem_notify()) {
            crate::share::rfc2217::poll_modem(s, cap);
        }
        self.poll_line_alerts(pi, li);
        self.settle(eng, pi, li);
    }
}
