//! Rings, caller ID, screening, nologin, ringback and the answer chat (§4.4–§4.7).

use super::exit;
use std::io;
use std::time::Duration;

use crate::config::blocklist::Verdict;
use crate::ops::calllog::Outcome;
use crate::proto::callerid::{ModemAction, RingKind};
use crate::proto::chat;
use crate::proto::ring::{Fired, Via};
use crate::sys::logging::AUDIT;
use crate::sys::ringsource::{CallRings, Heard};
use crate::sys::tty;

use super::chatio::ChatOutcome;
use super::common::{Getty, secs};
use super::line::sleep;
use super::ringing::RingWait;
use super::state::{Call, State};

impl Getty {
    /// The environment of a ring command (the per-ring `-a` command or a pattern's command):
    /// exactly `CALLER_ID` (`none` when the modem sent no caller ID), `DEVICE` and `extra`
    /// (`RING_COUNT`, `RING_TIMES`). Caller data reaches commands only this way, never in the
    /// command text.
    pub(super) fn ring_env(
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

    /// Count RINGs up to the `rings` threshold, following the ring cadences ([`CallRings`]
    /// over the line's ring source: `RING` text, the RI pin, SIGUSR1).
    ///
    /// The threshold wins: on the `rings`-th RING the call is answered even when a cadence is
    /// still under way, so a pattern of N rings can only fire with `rings` above N (the log at
    /// load time and `rgetty --check` warn about the others). A shorter pattern cannot be
    /// cut off this way: the RING that reaches the threshold breaks its silence anyway.
    /// Before each RING counts, the line is checked for a foreign owner (every lock name and
    /// the flock): a dial-out that got hold of the line meanwhile wins over the call.
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
            let timeout = self.next_ring_timeout(&call);
            let step = self.ring_step_cid(&mut rings, &mut call, timeout, true)?;
            if step == Heard::CallerId {
                if let Some(end) = self.screen_ringing(&mut rings, &mut call)? {
                    return Ok(end);
                }
                continue;
            }
            let Heard::Ring {
                dist,
                kind,
                via,
                fired,
                outcome,
            } = step
            else {
                if step == Heard::Timeout && call.rings == 0 {
                    return Ok(self.no_first_ring(&call));
                }
                return self.wait_end(call, step);
            };
            // Lock files only: we hold the line's flock ourselves during the call, so no other
            // open file can; asking /proc/locks every RING cost 2-20 ms of RING -> ATA.
            if let Some(holder) = self.locks.check_files(&self.tty.path) {
                return Ok(State::Dialout(holder));
            }
            call.rings += 1;
            call.dist = dist;
            let from = if via == Via::Ri { " from RI" } else { "" };
            log::info!(
                "RING #{} (dist {dist}, caller {:?}){from}",
                call.rings,
                call.info.caller_id
            );
            if let Some(end) = self.screen_ringing(&mut rings, &mut call)? {
                return Ok(end);
            }
            if kind == RingKind::CallerId {
                // Counts towards `rings` as in mgetty, but the phone did not ring.
                log::debug!("ring patterns: a caller-ID line, not a ring of a cadence");
            } else if let Some(f) = self.phone_rang(&call, &rings, per_ring.as_deref(), fired) {
                // Its silence had ended before this RING was read: it matched.
                return Ok(self.ring_wait_end(call, RingWait::Cadence(f)));
            } else if let Some(o) = outcome {
                log::debug!("ring patterns: {o:?}");
            }
            if !cid_done {
                cid_done = self.cid_screen(&call, &mut wanted);
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

    /// How long to wait for the next RING: the ringback window before the second call's first.
    fn next_ring_timeout(&self, call: &Call) -> Duration {
        if self.settings.ringback && call.rings == 0 {
            Duration::from_secs(self.settings.ringback_time_s)
        } else {
            secs(self.cli.ring_timeout)
        }
    }

    /// Ring-twice (ringback): let the first call ring out (mgetty waits 17 s, 1.7 ring
    /// timeouts, for each next ring). `None` when it did and the next call is to be answered
    /// at once; otherwise the state the wait ended in.
    fn ring_out_first_call(&mut self, call: &mut Call) -> io::Result<Option<State>> {
        let mut rings = CallRings::new(None);
        loop {
            match self.ring_step(&mut rings, call, secs(self.cli.ring_timeout * 1.7))? {
                Heard::Ring { .. } => call.rings += 1,
                Heard::Timeout => break,
                other => return self.wait_end(std::mem::take(call), other).map(Some),
            }
        }
        log::info!(
            "ringback: phone stopped after {} RINGs, waiting for re-ring",
            call.rings
        );
        call.rings = 0;
        Ok(None)
    }

    /// A ring of the phone (not a caller-ID line): run the per-ring command. Returns the
    /// pattern that had matched before this ring, if any.
    fn phone_rang(
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
                    ("RING_TIMES", crate::proto::ring::format_ring_times(&times)),
                ],
            );
            self.ring_command("the per-ring command", cmd, &env);
        }
        fired
    }

    /// No RING came at all: junk on the line, or a missed ringback.
    fn no_first_ring(&mut self, call: &Call) -> State {
        if self.settings.ringback {
            log::warn!(target: AUDIT, "missed ringback!");
            let why = format!("no second call within {} s", self.settings.ringback_time_s);
            self.call_outcome(call, Outcome::Ringback, why);
            return State::Jail;
        }
        self.outcome(Outcome::Error, "activity on the line but no RING");
        log::warn!("huh? Junk on the line?");
        log::warn!(" >>> could be a dial-out program without proper locking - check this!");
        State::Exit(exit::OK)
    }

    /// Run cid-program once there is something to screen (a second RING or caller data); an
    /// exit code over 10 sets the rings to wait for. Returns whether it ran.
    fn cid_screen(&self, call: &Call, wanted: &mut u32) -> bool {
        if !(call.rings >= 2 || !call.info.call_name.is_empty() || call.info.caller_id != "none") {
            return false;
        }
        let Some(prog) = self.settings.cid_program.clone() else {
            return false;
        };
        if let Some(n) = self.run_screen_program(&prog, call) {
            if n > 10 {
                *wanted = u32::try_from(n - 10).unwrap_or(*wanted);
                log::info!("cid-program: answer after {wanted} rings");
            }
        }
        true
    }

    /// How a ring wait that ended without a ring line ends the call.
    pub(super) fn ring_wait_end(&mut self, call: Call, w: RingWait) -> State {
        match w {
            RingWait::Signal(n) => self.goodbye_signal(n),
            RingWait::Hangup => {
                log::warn!("line hung up while waiting for RING");
                self.call_outcome(&call, Outcome::NoCarrier, "line hung up while ringing");
                State::Exit(exit::SIGNALLED)
            }
            RingWait::Timeout => {
                let why = format!("phone stopped ringing after {} rings", call.rings);
                self.call_outcome(&call, Outcome::Timeout, why);
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
                let why = format!("ring pattern {} ran {:?}", f.loc, f.command);
                self.call_outcome(&call, Outcome::Cadence, why);
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

    /// A result code while waiting for rings: CONNECT goes on to the login, fax and failures end
    /// the call.
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
                self.call_outcome(
                    &call,
                    Outcome::Refused,
                    "fax call: rgetty has no fax support",
                );
                let _ = self.mdm("ATH0");
                Ok(State::Exit(exit::OK))
            }
            _ => {
                let why = format!("modem reported {}", a.text());
                self.call_outcome(&call, Outcome::NoCarrier, why);
                log::warn!(
                    target: AUDIT,
                    "failed A_FAIL dev={}, pid={}, caller='{}'",
                    self.tty.device,
                    self.pid(),
                    call.info.caller_id
                );
                Ok(State::Exit(exit::MODEM_REFUSED))
            }
        }
    }

    /// NoLogin: count RINGs without answering while `nologin.<DevID>` exists.
    pub(super) fn nologin(&mut self, mut call: Call) -> io::Result<State> {
        log::info!(
            "{} exists - do not accept call!",
            self.paths.nologin_file.display()
        );
        let mut rings = CallRings::new(None);
        loop {
            match self.ring_step(&mut rings, &mut call, secs(self.cli.ring_timeout))? {
                Heard::Ring { .. } => {
                    call.rings += 1;
                    if !self.paths.nologin_file.exists() || self.sig.virtual_ring() {
                        return Ok(State::WaitRings(call));
                    }
                }
                Heard::Action(ModemAction::Connect) => {
                    let why = format!("{} exists", nologin_name(&self.paths.nologin_file));
                    self.call_outcome(&call, Outcome::Nologin, why);
                    self.clean_line(Duration::from_millis(500), Duration::from_secs(2))?;
                    let line = self.line()?;
                    line.write_all(b"\r\n\r\nSorry, no login allowed\r\n\r\nGoodbye...\r\n\r\n")?;
                    sleep(&self.sig, Duration::from_secs(5));
                    return Ok(State::Exit(exit::MODEM_REFUSED));
                }
                Heard::Action(a) => {
                    let why = format!("modem reported {}", a.text());
                    self.call_outcome(&call, Outcome::NoCarrier, why);
                    return Ok(State::Exit(exit::MODEM_REFUSED));
                }
                Heard::Timeout => {
                    let why = format!("{} exists", nologin_name(&self.paths.nologin_file));
                    log::warn!(target: AUDIT, "rejected, rings={}: {why}", call.rings);
                    self.call_outcome(&call, Outcome::Nologin, why);
                    return Ok(State::Jail);
                }
                other => return self.wait_end(call, other),
            }
        }
    }

    /// Run cid-program or cnd-program without a shell: the configured command (split on
    /// blanks), then Device, caller ID, name, distinctive ring and called number as separate
    /// arguments. Returns the exit code.
    pub(super) fn run_screen_program(&self, prog: &str, call: &Call) -> Option<i32> {
        let mut argv = crate::sys::exec::split_command(prog);
        if argv.is_empty() {
            return None;
        }
        argv.extend([
            self.tty.device.clone(),
            call.info.caller_id.clone(),
            call.info.call_name.clone(),
            call.dist.to_string(),
            call.info.called_nr.clone(),
        ]);
        let env = self.call_env(call);
        log::debug!("running {argv:?}");
        match crate::sys::exec::run_program(&argv, &env, Duration::from_secs(30)) {
            Ok(Some(st)) => st.code(),
            Ok(None) => {
                log::warn!("{argv:?} timed out and was killed");
                None
            }
            Err(e) => {
                log::error!("cannot run {:?}: {e}", argv.first());
                None
            }
        }
    }

    /// What screening says at the answer: the block list and dialin.config ([`Verdict`];
    /// a broken file refuses), then cnd-program (exit 1 refuses).
    fn screen(&self, call: &Call) -> Verdict {
        let cid = &call.info.caller_id;
        let (verdict, broken) = self.verdict(cid);
        if broken {
            if let Verdict::Refuse(why) = &verdict {
                log::error!("{why}");
            }
        }
        if verdict != Verdict::Answer {
            return verdict;
        }
        match self.settings.cnd_program.as_deref() {
            Some(prog) if self.run_screen_program(prog, call) == Some(1) => {
                Verdict::Refuse(format!("cnd-program {prog} rejects {cid}"))
            }
            _ => Verdict::Answer,
        }
    }

    /// Answer (§4.6, §4.7): get-cnd-chat, screening (dialin.config, cnd-program), the answer chat
    /// and autobauding.
    pub(super) fn answer(&mut self, mut call: Call) -> io::Result<State> {
        if let Some(raw) = self.settings.get_cnd_chat.clone() {
            let script = chat::parse_chat(&raw);
            let _ = self.chat_with(&script, &[], chat::AUX_CHAT_TIMEOUT, &mut call.info)?;
        }
        call.info.decode_rockwell_mesg();
        let why = match self.screen(&call) {
            Verdict::Answer => None,
            Verdict::Block(why) => return self.block(&call, why),
            Verdict::Refuse(why) => Some(why),
        };
        if let Some(why) = why {
            log::warn!(
                target: AUDIT,
                "denied caller dev={}, pid={}, caller='{}': {why}",
                self.tty.device,
                self.pid(),
                call.info.caller_id
            );
            self.call_outcome(&call, Outcome::Refused, why);
            self.clean_line(Duration::from_secs(8), Duration::from_secs(120))?;
            return Ok(State::Jail);
        }
        if let Err(e) = tty::make_controlling(self.line()?) {
            log::warn!("{e}");
        }
        let script = self.answer_script()?;
        let fax = !(self.settings.data_only || self.settings.modem_type.trim() == "data");
        let aborts = chat::answer_aborts(fax);
        let timeout = Duration::from_secs(self.settings.answer_chat_timeout_s);
        match self.chat_with(&script, &aborts, timeout, &mut call.info)? {
            ChatOutcome::Ok => {}
            ChatOutcome::Abort(i) if i >= chat::ANSWER_ABORTS.len() => {
                return self.ring_action(call, ModemAction::Fax);
            }
            other => {
                let why = if matches!(other, ChatOutcome::Timeout { .. }) {
                    "timeout"
                } else {
                    "A_FAIL"
                };
                log::warn!(
                    target: AUDIT,
                    "failed {why} dev={}, pid={}, caller='{}', conn='{}', name='{}'",
                    self.tty.device,
                    self.pid(),
                    call.info.caller_id,
                    call.info.connect,
                    call.info.call_name
                );
                let why = match other {
                    ChatOutcome::Timeout { .. } => "no CONNECT: answer chat timed out",
                    _ => "no CONNECT: answer chat failed",
                };
                self.call_outcome(&call, Outcome::NoCarrier, why);
                return Ok(State::Exit(if self.sig.hangup() {
                    exit::SIGNALLED
                } else {
                    exit::CHAT_FAILED
                }));
            }
        }
        if self.settings.autobauding {
            let bps = crate::proto::speed::atoi(&call.info.connect);
            let bps = if bps == 0 { 300 } else { bps };
            if crate::proto::speed::is_valid(bps) {
                log::info!("autobauding: switching to {bps} bps");
                if let Err(e) = tty::set_speed(self.line()?, bps) {
                    log::warn!("{e}");
                }
            } else {
                log::warn!("autobauding: cannot parse 'CONNECT {}'", call.info.connect);
            }
        }
        Ok(State::GetLogin(call))
    }
}

impl Getty {
    /// The answer chat, its first pause counted from the modem's last byte (the RING), not
    /// from now: after the waiter's exec back the RING came in a millisecond or more ago (§4.3).
    fn answer_script(&self) -> io::Result<chat::Script> {
        let mut script = chat::parse_chat(&self.settings.answer_chat);
        if let Some(quiet) = self.line()?.quiet_for() {
            log::debug!("the line has been quiet for {quiet:?}: counted in the pause before ATA");
            script.credit_quiet(quiet);
        }
        Ok(script)
    }
}

/// The file name of the nologin file (`nologin.ttyS0`) for reasons.
fn nologin_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
