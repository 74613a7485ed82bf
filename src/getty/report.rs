//! What the getty tells the outside (issue 11): on each state change the state file, the
//! process title and systemd's `STATUS=` ([`crate::ops::line::Reporter`]); at the end of each
//! call one call-log record with its outcome and reason. Rooms name the outcome where they
//! decide it ([`Getty::outcome`]); [`Getty::report`] runs after every transition.

use crate::ops::calllog::Outcome;
use crate::ops::line::{CallFacts, Report, Reporter};
use crate::sys::lock::Holder;

use super::common::Getty;
use super::state::{Call, Login, State};

/// The reporting state of one run.
#[derive(Debug)]
pub(super) struct Reports {
    reporter: Reporter,
    /// The call in progress, as last reported.
    call: Option<CallFacts>,
    /// The dial-out in progress.
    dialout: Option<Holder>,
    /// The outcome a room decided for the call in progress.
    pending: Option<(Outcome, String)>,
    /// What screening decided while the phone rings (`refusing` or `blocked`, and why):
    /// shown instead of `ringing`/`answering` from the moment it is known.
    screen: Option<(&'static str, String)>,
}

impl Reports {
    /// Reporting for a line; `call_log` `None` turns the call log off.
    pub(super) fn new(reporter: Reporter) -> Reports {
        Reports {
            reporter,
            call: None,
            dialout: None,
            pending: None,
            screen: None,
        }
    }
}

/// The state's name in the state file, the title and `STATUS=`.
fn state_name(state: &State) -> &'static str {
    match state {
        State::Start => "starting",
        State::Waiting | State::Jail => "waiting",
        State::Dialout(_) => "dialout",
        State::CheckModem => "checking",
        State::WaitRings(_) => "ringing",
        State::NoLogin(_) => "nologin",
        State::Answer(_) => "answering",
        State::GetLogin(_) => "login",
        State::Dispatch(..) => "dispatch",
        State::Exit(_) => "stopped",
    }
}

/// A call's facts for the reports.
pub(super) fn facts(call: &Call) -> CallFacts {
    CallFacts {
        caller_id: call.info.caller_id.clone(),
        caller_name: call.info.call_name.clone(),
        connect: call.info.connect.clone(),
        user: String::new(),
        program: String::new(),
    }
}

fn state_facts(state: &State) -> Option<CallFacts> {
    match state {
        State::WaitRings(c) | State::NoLogin(c) | State::Answer(c) | State::GetLogin(c) => {
            Some(facts(c))
        }
        State::Dispatch(c, login) => Some(CallFacts {
            user: match login {
                Login::Name(n, ..) | Login::Auto(n) => n.clone(),
                Login::AutoPpp => crate::config::login::AUTOPPP.to_string(),
            },
            ..facts(c)
        }),
        _ => None,
    }
}

impl Getty {
    /// The outcome of the call in progress, decided by a room (the first one counts).
    pub(super) fn outcome(&mut self, outcome: Outcome, reason: impl Into<String>) {
        self.reports
            .pending
            .get_or_insert_with(|| (outcome, reason.into()));
    }

    /// Like [`Getty::outcome`], with the call's latest facts (caller ID read meanwhile).
    pub(super) fn call_outcome(
        &mut self,
        call: &Call,
        outcome: Outcome,
        reason: impl Into<String>,
    ) {
        if let Some(f) = self.reports.call.as_mut() {
            let user = std::mem::take(&mut f.user);
            *f = CallFacts {
                user,
                ..facts(call)
            };
        }
        self.outcome(outcome, reason);
    }

    /// The call reached its program: its record is written now (exec does not return).
    pub(super) fn call_answered(&mut self, user: &str, program: &str, reason: &str) {
        if let Some(f) = self.reports.call.as_mut() {
            f.user = user.to_string();
            f.program = program.to_string();
            self.outcome(Outcome::Answered, reason);
            self.end_call(None);
            let call = CallFacts {
                user: user.to_string(),
                program: program.to_string(),
                ..CallFacts::default()
            };
            self.reports.reporter.state(&Report {
                state: "session",
                call: Some(&call),
                ..Report::default()
            });
        }
    }

    /// A RING was counted: show the caller ID while the phone rings.
    pub(super) fn report_ring(&mut self, call: &Call) {
        let f = facts(call);
        let (state, detail) = match &self.reports.screen {
            Some((s, why)) => (*s, format!("rings={}, {why}", call.rings)),
            None => ("ringing", format!("rings={}", call.rings)),
        };
        self.reports.reporter.state(&Report {
            state,
            call: Some(&f),
            detail: Some(detail),
            ..Report::default()
        });
        self.reports.call = Some(f);
    }

    /// Screening decided (`refusing` or `blocked`, and why): the state file shows it now (with
    /// the caller's latest facts; it is rewritten only when one changed) and for the rest of
    /// the call.
    pub(super) fn report_screen(&mut self, call: &Call, state: &'static str, why: String) {
        self.reports.screen = Some((state, why));
        self.report_ring(call);
    }

    /// Write the record of the call (or dial-out) in progress, if any.
    fn end_call(&mut self, exit: Option<i32>) {
        let r = &mut self.reports;
        let pending = r.pending.take();
        if let Some(h) = r.dialout.take() {
            let (o, why) = (Outcome::Dialout, format!("line used ({})", h.locked_by()));
            let f = CallFacts {
                program: h.cmdline.clone(),
                ..CallFacts::default()
            };
            r.reporter.call_end(&f, o, &why);
        } else if let Some(f) = r.call.take() {
            let (o, why) = pending.unwrap_or_else(|| match exit {
                Some(code) => (Outcome::Error, format!("exit code {code}")),
                None => (Outcome::Error, "call ended without an answer".to_string()),
            });
            r.reporter.call_end(&f, o, &why);
        }
    }

    /// After every transition: end the call when the state ends it, then report the state.
    pub(super) fn report(&mut self, state: &State) {
        match state {
            State::Jail => self.end_call(None),
            State::Exit(code) => self.end_call(Some(*code)),
            // Nothing decided outside a call carries over into the next one.
            State::Waiting => {
                self.reports.pending = None;
                self.reports.screen = None;
            }
            _ => {}
        }
        if let Some(f) = state_facts(state) {
            self.reports.reporter.call_begin();
            self.reports.call = Some(match self.reports.call.take() {
                Some(old) if f.user.is_empty() => CallFacts {
                    user: old.user,
                    ..f
                },
                _ => f,
            });
        }
        let holder = match state {
            State::Dialout(h) => {
                self.reports.reporter.call_begin();
                self.reports.dialout = Some(h.clone());
                Some((h.pid, h.cmdline.as_str()))
            }
            _ => None,
        };
        let call = self.reports.call.clone();
        let detail = match state {
            State::Exit(code) => Some(format!("exit {code}")),
            _ => None,
        };
        let (name, detail) = match (&self.reports.screen, state) {
            (Some((s, why)), State::WaitRings(_) | State::Answer(_)) => (*s, Some(why.clone())),
            _ => (state_name(state), detail),
        };
        self.reports.reporter.state(&Report {
            state: name,
            holder,
            call: call.as_ref().filter(|_| state_facts(state).is_some()),
            detail,
        });
    }
}
