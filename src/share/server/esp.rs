//! `esp-reset`: esptool's reset sequences recognised in an RFC 2217 writer's SET-CONTROLs
//! ([`crate::proto::esp_reset`]) and carried out by the server with its own timers.

use std::collections::HashMap;
use std::time::Instant;

use super::ShareServer;
use crate::proto::esp_reset::{self, EspReset, Recogniser, Verdict};
use crate::share::engine::{Engine, Token};
use crate::share::pump::Role;
use crate::share::session::Session;
use crate::share::stack::Control;

/// Look at a control event of client `ci` before it is carried out: `true` when it was
/// answered here (a sequence started, pushed on `starts`, or absorbed).
pub(super) fn intercept(
    recs: &mut HashMap<usize, Recogniser>,
    s: &mut Session,
    ci: usize,
    ev: &Control,
    cap: usize,
    starts: &mut Vec<(Token, EspReset)>,
) -> bool {
    let (dtr, on) = match *ev {
        Control::Dtr(Some(on)) => (true, on),
        Control::Rts(Some(on)) => (false, on),
        _ => return false,
    };
    if s.pump
        .clients
        .get(ci)
        .is_none_or(|c| c.role != Role::Writer)
    {
        return false;
    }
    let verdict = recs
        .entry(s.token.0)
        .or_default()
        .feed(dtr, on, Instant::now());
    match verdict {
        Verdict::Pass => return false,
        Verdict::Start(kind) => starts.push((s.token, kind)),
        Verdict::Absorb => {}
    }
    if let Some(c) = s.pump.clients.get_mut(ci) {
        let answer = if dtr {
            Control::Dtr(Some(on))
        } else {
            Control::Rts(Some(on))
        };
        c.control(answer, cap);
    }
    true
}

impl ShareServer {
    /// Carry out the esptool sequences recognised during a pump.
    pub(super) fn start_esp_resets(&mut self, eng: &mut Engine, starts: Vec<(Token, EspReset)>) {
        for (t, kind) in starts {
            log::info!("esptool reset recognised: running {} locally", kind.name());
            if let Err(e) = self.start_steps(eng, t, kind.name(), esp_reset::steps(kind)) {
                log::warn!("{}: {e}", kind.name());
            }
        }
    }
}
