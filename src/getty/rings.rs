//! Rings (§4.4): counting RINGs, ring cadences, ringback, nologin, and what ends a ring wait.
//!
//! Rings come from one [`RingSource`], [`LineRings`]: modem text on the line (classified by
//! [`crate::callerid::RingReader`]), edges of the RI pin when the line has one (a
//! [`RiWatcher`]), and SIGUSR1. [`CallRings`] counts them for one call, follows the cadences of
//! the ring-patterns file and keeps a modem that both sends `RING` and pulses RI from counting
//! each ring twice. Ring commands run through [`Detached`], at most
//! [`MAX_RING_COMMANDS`] at once.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use crate::callerid::{CallInfo, ModemAction, NmbrRule, RingKind, RingReader};
use crate::chat::{self, printable};
use crate::config::mgetty::Profile;
use crate::config::xringd;
use crate::exec::{Detached, Spawned};
use crate::logging::AUDIT;
use crate::ring::{Fired, Via};
use crate::ringsource::{CallRings, RiWatcher, RingEvent, RingSource, Step};
use crate::tty;

use super::common::{Getty, open_line, secs};
use super::line::{Line, Signals, sleep};
use super::state::{Call, State};

/// Ring commands (per-ring and pattern commands) the getty runs at once at most.
pub(super) const MAX_RING_COMMANDS: usize = 8;

/// The ring room's state for the whole run.
pub(super) struct RingState {
    /// Splits modem text into rings, caller-ID lines and result codes.
    pub(super) reader: RingReader,
    /// The ring-patterns file, once loaded (`patterns`).
    pub(super) patterns: Option<xringd::PatternFile>,
    /// The RI pin's watcher, when the line has one.
    pub(super) ri: Option<RiWatcher>,
    /// RI edges taken from the watcher and not handed out yet.
    pub(super) edges: VecDeque<Instant>,
    /// Ring commands still running.
    pub(super) commands: Detached,
}

impl RingState {
    /// Nothing read yet; caller-ID rules of `profile`.
    pub(super) fn new(profile: Profile) -> RingState {
        RingState {
            reader: RingReader::new(match profile {
                Profile::Upstream => NmbrRule::Upstream,
                Profile::Debian => NmbrRule::Debian,
            }),
            patterns: None,
            ri: None,
            edges: VecDeque::new(),
            commands: Detached::new(MAX_RING_COMMANDS),
        }
    }

    /// Start watching the RI pin of `line`, if it has one (a pty has none).
    pub(super) fn watch_ri(&mut self, line: &Line, sig: &Signals) {
        match sig.waker().and_then(|w| RiWatcher::start(line, w)) {
            Ok(Some(w)) => {
                log::info!("the line has an RI pin: RI edges are rings too");
                self.ri = Some(w);
            }
            Ok(None) => {}
            Err(e) => log::warn!("cannot watch the RI pin: {e}"),
        }
    }

    /// Whether an RI edge is waiting to be handed out (wakes Waiting).
    pub(super) fn ri_pending(&mut self) -> bool {
        if let Some(ri) = &self.ri {
            self.edges.extend(ri.take());
            if let Some(why) = ri.ended() {
                log::warn!("RI watcher stopped: {why}");
                self.ri = None;
            }
        }
        !self.edges.is_empty()
    }

    /// Forget RI edges seen outside a ring wait (they belong to no call).
    pub(super) fn forget_edges(&mut self) {
        self.ri_pending();
        self.edges.clear();
    }
}

/// The getty's [`RingSource`]: the line's text, the RI pin and SIGUSR1 (mgetty's virtual
/// ring, which stays set until the call is over).
pub(super) struct LineRings<'a> {
    line: &'a Line,
    sig: &'a Signals,
    reader: &'a mut RingReader,
    info: &'a mut CallInfo,
    msn: &'a [String],
    ri: Option<&'a RiWatcher>,
    edges: &'a mut VecDeque<Instant>,
}

impl RingSource for LineRings<'_> {
    fn next_event(&mut self, deadline: Option<Instant>) -> io::Result<Option<RingEvent>> {
        let ring = |at, via, kind, dist| RingEvent::Ring {
            at,
            via,
            kind,
            dist,
        };
        let mut buf = [0u8; 1];
        loop {
            if self.sig.virtual_ring() {
                return Ok(Some(ring(Instant::now(), Via::Signal, RingKind::Phone, 0)));
            }
            if self.sig.term_signal().is_some() || self.sig.hangup() {
                return Ok(Some(RingEvent::Signal));
            }
            if let Some(ri) = self.ri {
                self.edges.extend(ri.take());
            }
            if let Some(at) = self.edges.pop_front() {
                return Ok(Some(ring(at, Via::Ri, RingKind::Phone, 0)));
            }
            match self.line.read_until(self.sig, &mut buf, deadline)? {
                Some(0) => return Ok(Some(RingEvent::Hangup)),
                Some(_) => {
                    log::trace!("got: {}", printable(&buf));
                    match self.reader.feed(buf[0], self.info, self.msn) {
                        Some(crate::callerid::RingLine::Ring { dist }) => {
                            let kind = self.reader.last_kind();
                            return Ok(Some(ring(Instant::now(), Via::Text, kind, dist)));
                        }
                        Some(crate::callerid::RingLine::Action(a)) => {
                            return Ok(Some(RingEvent::Action(a)));
                        }
                        Some(crate::callerid::RingLine::Other) | None => {}
                    }
                }
                None if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(None),
                None => {}
            }
        }
    }
}

/// Why a ring wait ended without a ring line.
#[derive(Debug)]
pub(super) enum RingWait {
    Timeout,
    Signal(i32),
    Hangup,
    Cadence(Fired),
}

impl Getty {
    /// The msn-list as a list.
    fn msn_list(&self) -> Vec<String> {
        self.settings
            .msn_list
            .as_deref()
            .map(|l| {
                chat::split_elements(l)
                    .iter()
                    .map(|e| String::from_utf8_lossy(e).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The next step of this call's rings from the line's [`RingSource`].
    fn ring_step(
        &mut self,
        rings: &mut CallRings,
        call: &mut Call,
        timeout: Duration,
    ) -> io::Result<Step> {
        let msn = self.msn_list();
        let mut src = LineRings {
            line: open_line(&self.line)?,
            sig: &self.sig,
            reader: &mut self.rings.reader,
            info: &mut call.info,
            msn: &msn,
            ri: self.rings.ri.as_ref(),
            edges: &mut self.rings.edges,
        };
        rings.next(&mut src, timeout)
    }

    /// A step that is not a ring, as the end of a ring wait.
    fn wait_end(&mut self, call: Call, step: Step) -> io::Result<State> {
        Ok(match step {
            Step::Action(a) => return self.ring_action(call, a),
            Step::Fired(f) | Step::Ring { fired: Some(f), .. } => {
                self.ring_wait_end(call, RingWait::Cadence(f))
            }
            Step::Timeout => self.ring_wait_end(call, RingWait::Timeout),
            Step::Hangup => self.ring_wait_end(call, RingWait::Hangup),
            Step::Signal | Step::Ring { .. } => {
                let n = self.sig.term_signal().unwrap_or(1);
                self.ring_wait_end(call, RingWait::Signal(n))
            }
        })
    }

    /// The environment of a ring command (the per-ring `-a` command or a pattern's command):
    /// exactly `CALLER_ID` (`none` when the modem sent no caller ID), `DEVICE` and `extra`
    /// (`RING_COUNT`, `RING_TIMES`). Caller data reaches commands only this way, never in the
    /// command text.
    fn ring_env(
        &self,
        call: &Call,
        extra: &[(&'static str, String)],
    ) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("CALLER_ID", call.info.caller_id.clone()),
            ("DEVICE", self.tty.device.clone()),
        ];
        env.extend(extra.iter().cloned());
        env
    }

    /// Run a ring command detached (own session, no terminal); the getty goes on at once.
    fn ring_command(&mut self, what: &str, cmd: &str, env: &[(&'static str, String)]) {
        match self.rings.commands.spawn(cmd, env, false) {
            Ok(Spawned::Started(pid)) => log::debug!("{what} {cmd:?}: pid {pid}"),
            Ok(Spawned::Dropped { limit }) => {
                log::warn!("{limit} ring commands still running: {what} {cmd:?} not run");
            }
            Err(e) => log::error!("cannot run {what} {cmd:?}: {e}"),
        }
    }

    /// Ring-twice: let the first call ring out (mgetty waits 1.7 ring timeouts for each next
    /// ring), then wait for the re-ring. `Some(state)` when the wait ended otherwise.
    fn ring_out_first_call(&mut self, call: &mut Call) -> io::Result<Option<State>> {
        let mut rings = CallRings::new(None);
        loop {
            match self.ring_step(&mut rings, call, secs(self.cli.ring_timeout * 1.7))? {
                Step::Ring { .. } => call.rings += 1,
                Step::Timeout => break,
                other => return self.wait_end(call.clone(), other).map(Some),
            }
        }
        log::info!(
            "ringback: phone stopped after {} RINGs, waiting for re-ring",
            call.rings
        );
        call.rings = 0;
        Ok(None)
    }

    /// Count RINGs up to the `rings` threshold, following the ring cadences.
    ///
    /// The threshold wins: on the `rings`-th RING the call is answered even when a cadence is
    /// still under way, so a pattern of N rings can only fire with `rings` above N (the log at
    /// load time and `rgetty --check` warn about the others). A shorter pattern cannot be
    /// cut off this way: the RING that reaches the threshold breaks its silence anyway.
    pub(super) fn wait_rings(&mut self, mut call: Call) -> io::Result<State> {
        self.load_patterns();
        let per_ring = self
            .rings
            .patterns
            .as_ref()
            .and_then(|f| f.options.ring_command.clone());
        let mut wanted = self.settings.rings.max(1);
        let mut cid_done = false;
        if self.settings.ringback {
            if let Some(state) = self.ring_out_first_call(&mut call)? {
                return Ok(state);
            }
        }
        // A fresh matcher for each call. xringd's -t (ignore rings after start-up) and -i
        // (merge RI double beeps) stay off in the getty.
        let mut rings = CallRings::new(self.rings.patterns.as_ref());
        while call.rings < wanted {
            let timeout = if self.settings.ringback && call.rings == 0 {
                Duration::from_secs(self.settings.ringback_time_s)
            } else {
                secs(self.cli.ring_timeout)
            };
            let step = self.ring_step(&mut rings, &mut call, timeout)?;
            let Step::Ring {
                dist,
                kind,
                via,
                fired,
                outcome,
            } = step
            else {
                if step == Step::Timeout && call.rings == 0 {
                    return Ok(self.no_ring_at_all());
                }
                return self.wait_end(call, step);
            };
            call.rings += 1;
            call.dist = dist;
            let from = if via == Via::Ri { " from RI" } else { "" };
            log::info!(
                "RING #{} (dist {dist}, caller {:?}){from}",
                call.rings,
                call.info.caller_id
            );
            if kind == RingKind::CallerId {
                // Counts towards `rings` as in mgetty, but the phone did not ring.
                log::debug!("ring patterns: a caller-ID line, not a ring of a cadence");
            } else if let Some(f) = self.phone_ring(&call, &rings, per_ring.as_deref(), fired) {
                // Its silence had ended before this RING was read: it matched.
                return Ok(self.ring_wait_end(call, RingWait::Cadence(f)));
            } else if let Some(o) = outcome {
                log::debug!("ring patterns: {o:?}");
            }
            if !cid_done
                && (call.rings >= 2
                    || !call.info.call_name.is_empty()
                    || call.info.caller_id != "none")
            {
                cid_done = self.settings.cid_program.is_some();
                wanted = self.cid_program(&call).unwrap_or(wanted);
            }
            if self.paths.nologin_file.exists() {
                return Ok(State::NoLogin(call));
            }
        }
        if let Some(n) = rings.cadence_under_way() {
            log::info!(
                "answering at RING #{}: the rings threshold wins over the cadence under way ({n} rings so far)",
                call.rings,
            );
        }
        Ok(State::Answer(call))
    }

    /// A ring of the phone: run the per-ring command; the pattern that matched before it.
    fn phone_ring(
        &mut self,
        call: &Call,
        rings: &CallRings,
        per_ring: Option<&str>,
        fired: Option<Fired>,
    ) -> Option<Fired> {
        if let Some(cmd) = per_ring {
            let times = rings.ring_times();
            let env = self.ring_env(
                call,
                &[
                    ("RING_COUNT", times.len().to_string()),
                    ("RING_TIMES", crate::ring::format_ring_times(&times)),
                ],
            );
            self.ring_command("the per-ring command", cmd, &env);
        }
        fired
    }

    /// Run cid-program once caller data is there; `Some(n)` when it asks to answer after `n`
    /// rings (exit code 10 + n).
    fn cid_program(&mut self, call: &Call) -> Option<u32> {
        let prog = self.settings.cid_program.clone()?;
        let n = self.run_screen_program(&prog, call)?;
        let wanted = u32::try_from(n - 10).ok().filter(|_| n > 10)?;
        log::info!("cid-program: answer after {wanted} rings");
        Some(wanted)
    }

    /// Activity on the line but no RING within the ring timeout.
    fn no_ring_at_all(&mut self) -> State {
        if self.settings.ringback {
            log::warn!(target: AUDIT, "missed ringback!");
            return State::Jail;
        }
        log::warn!("huh? Junk on the line?");
        log::warn!(" >>> could be a dial-out program without proper locking - check this!");
        State::Exit(0)
    }

    pub(super) fn ring_wait_end(&mut self, call: Call, w: RingWait) -> State {
        match w {
            RingWait::Signal(n) => self.goodbye_signal(n),
            RingWait::Hangup => {
                log::warn!("line hung up while waiting for RING");
                State::Exit(10)
            }
            RingWait::Timeout => {
                log::warn!(
                    target: AUDIT,
                    "phone stopped ringing (rings={}, dev={}, pid={}, caller='{}')",
                    call.rings,
                    self.tty.device,
                    self.pid(),
                    call.info.caller_id
                );
                State::Jail
            }
            RingWait::Cadence(f) => {
                log::info!(
                    "ring pattern {} matched ({} rings at {} s): running {:?}, call not answered",
                    f.loc,
                    f.ring_count(),
                    f.ring_times_env(),
                    f.command
                );
                let env = self.ring_env(
                    &call,
                    &[
                        ("RING_COUNT", f.ring_count().to_string()),
                        ("RING_TIMES", f.ring_times_env()),
                    ],
                );
                self.ring_command("ring pattern command", &f.command, &env);
                State::Jail
            }
        }
    }

    pub(super) fn ring_action(&mut self, call: Call, a: ModemAction) -> io::Result<State> {
        log::info!("found action string: ``{}''", a.text());
        match a {
            ModemAction::Connect => {
                if let Ok(l) = self.line() {
                    if let Err(e) = tty::make_controlling(l) {
                        log::warn!("{e}");
                    }
                }
                Ok(State::GetLogin(call))
            }
            a if a.is_fax() => {
                log::error!(
                    "fax call on {}, but rgetty has no fax support: hanging up",
                    self.tty.device
                );
                let _ = self.mdm("ATH0");
                Ok(State::Exit(0))
            }
            _ => {
                log::warn!(
                    target: AUDIT,
                    "failed A_FAIL dev={}, pid={}, caller='{}'",
                    self.tty.device,
                    self.pid(),
                    call.info.caller_id
                );
                Ok(State::Exit(20))
            }
        }
    }

    pub(super) fn nologin(&mut self, mut call: Call) -> io::Result<State> {
        log::info!(
            "{} exists - do not accept call!",
            self.paths.nologin_file.display()
        );
        let mut rings = CallRings::new(None);
        loop {
            match self.ring_step(&mut rings, &mut call, secs(self.cli.ring_timeout))? {
                Step::Ring { .. } => {
                    call.rings += 1;
                    if !self.paths.nologin_file.exists() || self.sig.virtual_ring() {
                        return Ok(State::WaitRings(call));
                    }
                }
                Step::Action(ModemAction::Connect) => {
                    self.clean_line(Duration::from_millis(500), Duration::from_secs(2))?;
                    let line = self.line()?;
                    line.write_all(b"\r\n\r\nSorry, no login allowed\r\n\r\nGoodbye...\r\n\r\n")?;
                    sleep(&self.sig, Duration::from_secs(5));
                    return Ok(State::Exit(20));
                }
                Step::Action(_) => return Ok(State::Exit(20)),
                Step::Timeout => {
                    log::warn!(target: AUDIT, "rejected, rings={}", call.rings);
                    return Ok(State::Jail);
                }
                other => return self.wait_end(call, other),
            }
        }
    }
}
