//! Caller-ID screening and the answer chat (§4.6, §4.7); the rings before it are in
//! [`super::rings`].

use std::io;
use std::time::Duration;

use crate::callerid::ModemAction;
use crate::chat;
use crate::config::dialin;
use crate::config::load::Trust;
use crate::logging::AUDIT;
use crate::tty::{self};

use super::chatio::ChatOutcome;
use super::common::Getty;
use super::state::{Call, State};

impl Getty {
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

    // ---------------------------------------------------------------- answer (§4.6, §4.7)

    pub(super) fn answer(&mut self, mut call: Call) -> io::Result<State> {
        if let Some(raw) = self.settings.get_cnd_chat.clone() {
            let script = chat::parse_chat(&raw);
            let _ = self.chat_with(&script, &[], chat::AUX_CHAT_TIMEOUT, &mut call.info)?;
        }
        call.info.decode_rockwell_mesg();
        let dialin_path = self.paths.config_dir.join("dialin.config");
        let mut allowed = match crate::config::load::load(&dialin_path, Trust::Settings) {
            Ok(src) => dialin::Rules::parse(&src.text).allows(&call.info.caller_id),
            Err(e) => {
                if !e.is_missing() {
                    log::error!("{e}; no caller-ID screening");
                }
                true
            }
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
