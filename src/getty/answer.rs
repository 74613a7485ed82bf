//! Rings, caller ID, screening, nologin, ringback and the answer chat (§4.4–§4.7).

use std::fs;
use std::io;
use std::time::Duration;

use crate::callerid::{ModemAction, RingLine};
use crate::chat;
use crate::config::dialin;
use crate::logging::AUDIT;
use crate::ring::{Matcher, MatcherOptions};
use crate::tty;

use super::chatio::ChatOutcome;
use super::common::{Getty, secs};
use super::line::sleep;
use super::ring_source::RingWait;
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

    /// Count RINGs up to the `rings` threshold, feeding each one to the cadence matcher.
    ///
    /// The threshold wins: on the `rings`-th RING the call is answered even when a cadence is
    /// still under way, so a pattern of N rings can only fire with `rings` above N (the log at
    /// load time and `rgetty --check` warn about the others). A shorter pattern cannot be
    /// cut off this way: the RING that reaches the threshold breaks its silence anyway.
    pub(super) fn wait_rings(&mut self, mut call: Call) -> io::Result<State> {
        self.load_patterns();
        // The matcher starts afresh for each call. xringd's -t (ignore rings after start-up)
        // and -i (merge RI double beeps) do not apply to RING text: both stay off.
        let mut matcher = self
            .rings
            .patterns
            .as_ref()
            .map(|f| Matcher::new(&f.patterns, MatcherOptions::default(), self.now()));
        let per_ring = self
            .rings
            .patterns
            .as_ref()
            .and_then(|f| f.options.ring_command.clone());
        // When each RING of this call came (for the per-ring command's RING_TIMES).
        let mut seen: Vec<Duration> = Vec::new();
        let ring_timeout = secs(self.cli.ring_timeout);
        let mut wanted = self.settings.rings.max(1);
        let mut cid_done = false;
        if self.settings.ringback {
            if let Some(state) = self.ring_out_first_call(&mut call)? {
                return Ok(state);
            }
        }
        while call.rings < wanted {
            let timeout = if self.settings.ringback && call.rings == 0 {
                Duration::from_secs(self.settings.ringback_time_s)
            } else {
                ring_timeout
            };
            let mut phone_ring = true;
            let ev = self.next_ring(
                &mut call,
                timeout,
                matcher.as_mut().map(|m| (m, &mut phone_ring)),
            )?;
            match ev {
                Ok(RingLine::Ring { dist }) => {
                    let now = self.now();
                    call.rings += 1;
                    call.dist = dist;
                    log::info!(
                        "RING #{} (dist {dist}, caller {:?})",
                        call.rings,
                        call.info.caller_id
                    );
                    if !phone_ring {
                        // Counts towards `rings` as in mgetty, but the phone did not ring.
                        log::debug!("ring patterns: a caller-ID line, not a ring of a cadence");
                    } else if let Some(f) =
                        self.phone_rang(&call, now, &mut seen, per_ring.as_deref(), &mut matcher)
                    {
                        // Its silence had ended before this RING was read: it matched.
                        return Ok(self.ring_wait_end(call, RingWait::Cadence(f)));
                    }
                }
                Ok(RingLine::Action(a)) => return self.ring_action(call, a),
                Ok(RingLine::Other) => continue,
                Err(RingWait::Timeout) if call.rings == 0 => return Ok(self.no_first_ring()),
                Err(w) => return Ok(self.ring_wait_end(call, w)),
            }
            if !cid_done {
                cid_done = self.cid_screen(&call, &mut wanted);
            }
            if self.paths.nologin_file.exists() {
                return Ok(State::NoLogin(call));
            }
        }
        if let Some(m) = matcher.as_ref().filter(|m| m.could_still_match()) {
            log::info!(
                "answering at RING #{}: the rings threshold wins over the cadence under way ({} rings so far)",
                call.rings,
                m.ring_count()
            );
        }
        Ok(State::Answer(call))
    }

    /// Ring-twice (ringback): let the first call ring out. `None` when it did and the next
    /// call is to be answered at once; otherwise the state the wait ended in.
    fn ring_out_first_call(&mut self, call: &mut Call) -> io::Result<Option<State>> {
        loop {
            // mgetty waits 17 s for the next ring of the first call (1.7 ring timeouts).
            match self.next_ring(call, secs(self.cli.ring_timeout * 1.7), None)? {
                Ok(RingLine::Ring { .. }) => call.rings += 1,
                Ok(RingLine::Action(a)) => {
                    return self.ring_action(std::mem::take(call), a).map(Some);
                }
                Ok(RingLine::Other) => {}
                Err(RingWait::Timeout) => break,
                Err(w) => return Ok(Some(self.ring_wait_end(std::mem::take(call), w))),
            }
        }
        log::info!(
            "ringback: phone stopped after {} RINGs, waiting for re-ring",
            call.rings
        );
        call.rings = 0;
        Ok(None)
    }

    /// A ring of the phone (not a caller-ID line) at `now`: run the per-ring command and feed
    /// the cadence matcher. Returns the pattern that fired, if any.
    fn phone_rang(
        &self,
        call: &Call,
        now: Duration,
        seen: &mut Vec<Duration>,
        per_ring: Option<&str>,
        matcher: &mut Option<Matcher>,
    ) -> Option<crate::ring::Fired> {
        seen.push(now);
        if let Some(cmd) = per_ring {
            let first = seen.first().copied().unwrap_or(now);
            let times: Vec<Duration> = seen.iter().map(|t| t.saturating_sub(first)).collect();
            let env = self.ring_env(
                call,
                &[
                    ("RING_COUNT", seen.len().to_string()),
                    ("RING_TIMES", crate::ring::format_ring_times(&times)),
                ],
            );
            log::debug!("running the per-ring command {cmd:?}");
            if let Err(e) = crate::ringd::spawn_detached(cmd, &env) {
                log::error!("cannot run the per-ring command {cmd:?}: {e}");
            }
        }
        let m = matcher.as_mut()?;
        let rung = m.ring(now);
        if rung.fired.is_none() {
            log::debug!("ring patterns: {:?}", rung.outcome);
        }
        rung.fired
    }

    /// No RING came at all: junk on the line, or a missed ringback.
    fn no_first_ring(&self) -> State {
        if self.settings.ringback {
            log::warn!(target: AUDIT, "missed ringback!");
            return State::Jail;
        }
        log::warn!("huh? Junk on the line?");
        log::warn!(" >>> could be a dial-out program without proper locking - check this!");
        State::Exit(0)
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
                // Detached: own session, stdin and output on /dev/null, reaped by a thread;
                // the getty goes on at once.
                match crate::ringd::spawn_detached(&f.command, &env) {
                    Ok(pid) => log::debug!("ring pattern command: pid {pid}"),
                    Err(e) => log::error!("cannot run ring pattern command {:?}: {e}", f.command),
                }
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

    /// NoLogin: count RINGs without answering while `nologin.<DevID>` exists.
    pub(super) fn nologin(&mut self, mut call: Call) -> io::Result<State> {
        log::info!(
            "{} exists - do not accept call!",
            self.paths.nologin_file.display()
        );
        let ring_timeout = secs(self.cli.ring_timeout);
        loop {
            match self.next_ring(&mut call, ring_timeout, None)? {
                Ok(RingLine::Ring { .. }) => {
                    call.rings += 1;
                    if !self.paths.nologin_file.exists() || self.sig.virtual_ring() {
                        return Ok(State::WaitRings(call));
                    }
                }
                Ok(RingLine::Action(ModemAction::Connect)) => {
                    self.clean_line(Duration::from_millis(500), Duration::from_secs(2))?;
                    let line = self.line()?;
                    line.write_all(b"\r\n\r\nSorry, no login allowed\r\n\r\nGoodbye...\r\n\r\n")?;
                    sleep(&self.sig, Duration::from_secs(5));
                    return Ok(State::Exit(20));
                }
                Ok(RingLine::Action(_)) => return Ok(State::Exit(20)),
                Ok(RingLine::Other) => {}
                Err(RingWait::Timeout) => {
                    log::warn!(target: AUDIT, "rejected, rings={}", call.rings);
                    return Ok(State::Jail);
                }
                Err(w) => return Ok(self.ring_wait_end(call, w)),
            }
        }
    }

    /// Run cid-program or cnd-program without a shell: the configured command (split on
    /// blanks), then Device, caller ID, name, distinctive ring and called number as separate
    /// arguments. Returns the exit code.
    pub(super) fn run_screen_program(&self, prog: &str, call: &Call) -> Option<i32> {
        let mut argv = crate::exec::split_command(prog);
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
        match crate::exec::run_program(&argv, &env, Duration::from_secs(30)) {
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

    /// Answer (§4.6, §4.7): get-cnd-chat, screening (dialin.config, cnd-program), the answer chat
    /// and autobauding.
    pub(super) fn answer(&mut self, mut call: Call) -> io::Result<State> {
        if let Some(raw) = self.settings.get_cnd_chat.clone() {
            let script = chat::parse_chat(&raw);
            let _ = self.chat_with(&script, &[], chat::AUX_CHAT_TIMEOUT, &mut call.info)?;
        }
        call.info.decode_rockwell_mesg();
        let dialin_path = self.paths.config_dir.join("dialin.config");
        let mut allowed = match fs::read(&dialin_path) {
            Ok(b) => {
                dialin::Rules::parse(&String::from_utf8_lossy(&b)).allows(&call.info.caller_id)
            }
            Err(_) => true,
        };
        if allowed {
            if let Some(prog) = self.settings.cnd_program.clone() {
                allowed = self.run_screen_program(&prog, &call) != Some(1);
            }
        }
        if !allowed {
            log::warn!(
                target: AUDIT,
                "denied caller dev={}, pid={}, caller='{}'",
                self.tty.device,
                self.pid(),
                call.info.caller_id
            );
            self.clean_line(Duration::from_secs(8), Duration::from_secs(120))?;
            return Ok(State::Jail);
        }
        if let Err(e) = tty::make_controlling(self.line()?) {
            log::warn!("{e}");
        }
        let script = chat::parse_chat(&self.settings.answer_chat);
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
                return Ok(State::Exit(if self.sig.hangup() { 10 } else { 1 }));
            }
        }
        if self.settings.autobauding {
            let bps = crate::speed::atoi(&call.info.connect);
            let bps = if bps == 0 { 300 } else { bps };
            if crate::speed::is_valid(bps) {
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
