//! Named reset sequences run by the server on a port's open device (`reset PORT NAME` on the
//! control socket): each step sets DTR and RTS together in one TIOCMSET, waits are engine
//! timers, so the phases keep the configured times whatever the client's network delay.

use std::collections::HashMap;
use std::time::Instant;

use super::{ShareServer, Slot, T_RESET, key};
use crate::proto::reset_seq::Phase;
use crate::share::engine::{Engine, Token};
use crate::sys::tty;

/// A sequence being carried out: its name, steps and the next step.
#[derive(Debug)]
pub(super) struct Running {
    name: String,
    steps: Vec<Phase>,
    next: usize,
}

impl ShareServer {
    /// The named reset sequences ports may run (`--reset-seq`, config `reset-seq`).
    pub fn set_reset_seqs(&mut self, seqs: HashMap<String, Vec<Phase>>) {
        self.reset_seqs = seqs;
    }

    /// Start sequence `name` on port `pi`'s open device; its length in steps.
    pub(super) fn start_reset(
        &mut self,
        eng: &mut Engine,
        pi: usize,
        name: &str,
    ) -> Result<usize, String> {
        let steps = self
            .reset_seqs
            .get(name)
            .cloned()
            .ok_or_else(|| format!("no reset sequence {name:?}"))?;
        let token = self.control_session(pi)?.token;
        self.start_steps(eng, token, name, steps)
    }

    /// Start carrying out `steps` on the device of session `token`; their number.
    pub(super) fn start_steps(
        &mut self,
        eng: &mut Engine,
        token: Token,
        name: &str,
        steps: Vec<Phase>,
    ) -> Result<usize, String> {
        if self.resets.contains_key(&token.0) {
            return Err("a reset sequence is running on this port".into());
        }
        let n = steps.len();
        self.resets.insert(
            token.0,
            Running {
                name: name.to_string(),
                steps,
                next: 0,
            },
        );
        self.reset_step(eng, token);
        Ok(n)
    }

    /// Carry out steps until a wait (a timer brings us back) or the end.
    pub(super) fn reset_step(&mut self, eng: &mut Engine, t: Token) {
        let Some(mut run) = self.resets.remove(&t.0) else {
            return;
        };
        let Some(Slot::Dev(pi, li)) = self.slots.get(t.0).copied() else {
            return;
        };
        let Some(s) = self.session_mut(pi, li) else {
            return;
        };
        while let Some(step) = run.steps.get(run.next).copied() {
            run.next += 1;
            match step {
                Phase::Set { dtr, rts } => {
                    if let Err(e) = tty::set_dtr_rts(&s.pump.dev, dtr, rts) {
                        log::warn!("{}: reset {}: {e}", s.path.display(), run.name);
                        return;
                    }
                    s.dtr = dtr.unwrap_or(s.dtr);
                    s.rts = rts.unwrap_or(s.rts);
                }
                Phase::Wait(d) => {
                    eng.add_timer(Instant::now() + d, key(T_RESET, t));
                    self.resets.insert(t.0, run);
                    return;
                }
            }
        }
        log::info!("{}: reset sequence {} done", s.path.display(), run.name);
    }
}
