//! [`Getty`]: what every state needs, and the helpers all rooms share (chat, line, log).

use super::exit;
use std::io;
use std::time::Duration;

use crate::config::mgetty::{Profile, Settings};
use crate::proto::callerid::CallInfo;
use crate::proto::chat::{self, printable};
use crate::sys::lock::{Holder, Lock, LockDir, LockError, Naming};
use crate::sys::logging::AUDIT;
use crate::sys::utmp::UtmpFiles;

use super::chatio::{ChatCtx, ChatOutcome, mdm_command, run_chat};
use super::cli::{Cli, Paths};
use super::ident;
use super::line::{Line, Signals};
use super::report::Reports;
use super::ringing::RingState;
use super::state::{Call, State};
use crate::ops::calllog::{Outcome, call_log_path};
use crate::ops::line::Reporter;

/// Everything one rgetty run works with: what every state needs. Room-specific state lives in
/// the room's own type ([`RingState`] for the ring room).
pub(super) struct Getty {
    pub(super) cli: Cli,
    pub(super) paths: Paths,
    /// The tty's names, computed once.
    pub(super) tty: ident::LineNames,
    pub(super) settings: Settings,
    pub(super) sig: Signals,
    pub(super) locks: LockDir,
    pub(super) lock: Option<Lock>,
    pub(super) line: Option<Line>,
    pub(super) ctx: ChatCtx,
    pub(super) utmp: UtmpFiles,
    /// The ring room's state (`answer`).
    pub(super) rings: RingState,
    /// The waiting room's watch on the lock dir, kept for the whole run (`waiting`).
    pub(super) inotify: Option<nix::sys::inotify::Inotify>,
    /// State file, title, `STATUS=` and call log (`report`).
    pub(super) reports: Reports,
    /// Back from the waiter: why its wait ended (`handoff`), until Waiting takes it.
    pub(super) resumed: Option<crate::sys::waitproto::Resume>,
}

impl Getty {
    /// The getty for `cli`'s line, before [`State::Start`].
    pub(super) fn new(cli: Cli, paths: Paths, settings: Settings, sig: Signals) -> Getty {
        let naming = match cli.profile {
            Profile::Upstream => Naming::Upstream,
            Profile::Debian => Naming::Debian,
        };
        let locks = LockDir::new(&paths.lock_dir, naming);
        let tty = ident::LineNames::new(cli.tty.as_deref().unwrap_or_default(), &locks);
        let call_log = call_log_path(settings.call_log.as_deref(), &cli.log_dir);
        let reports = Reports::new(Reporter::new(
            &cli.pid_dir,
            &tty.dev_id,
            &tty.device,
            call_log,
        ));
        Getty {
            reports,
            locks,
            tty,
            utmp: UtmpFiles {
                utmp: paths.utmp.clone(),
                wtmp: paths.wtmp.clone(),
            },
            rings: RingState::new(cli.profile),
            cli,
            paths,
            settings,
            sig,
            lock: None,
            line: None,
            ctx: ChatCtx::default(),
            inotify: None,
            resumed: None,
        }
    }
}

/// Seconds as a [`Duration`] (negative → 0, too large → [`Duration::MAX`]).
pub(super) fn secs(f: f64) -> Duration {
    Duration::try_from_secs_f64(f.max(0.0)).unwrap_or(Duration::MAX)
}

impl Getty {
    /// Our pid (for the audit log).
    pub(super) fn pid(&self) -> u32 {
        std::process::id()
    }

    /// The open line, or an error once it was handed away.
    pub(super) fn line(&self) -> io::Result<&Line> {
        open_line(&self.line)
    }

    /// A terminating signal `n` ends the run (exit 10).
    pub(super) fn goodbye_signal(&mut self, n: i32) -> State {
        log::warn!(
            target: AUDIT,
            "failed dev={}, pid={}, got signal {n}, exiting",
            self.tty.device,
            self.pid()
        );
        self.outcome(Outcome::Error, format!("got signal {n}"));
        State::Exit(exit::SIGNALLED)
    }

    /// Remove our lock files and let go of the flock (the line stays open).
    pub(super) fn release_lock(&mut self) {
        if let Some(l) = self.lock.take() {
            l.release();
        }
        if let Some(line) = &self.line {
            let _ = crate::sys::tty::unflock(line);
        }
    }

    /// Take the lock files under every name of the tty and the flock on the open line; the
    /// foreign owner if there is one (then nothing is held).
    pub(super) fn lock_line(&mut self) -> Result<Option<Holder>, LockError> {
        match self.locks.acquire(&self.tty.path) {
            Ok(l) => self.lock = Some(l),
            Err(LockError::Held { holder, .. }) => return Ok(Some(holder)),
            Err(e) => return Err(e),
        }
        if let Some(line) = &self.line {
            if let Err(holder) = crate::sys::lock::claim_flock(line, &self.tty.path) {
                self.release_lock();
                return Ok(Some(holder));
            }
        }
        Ok(None)
    }

    /// Discard what the line sends until `silence` passes without data (at most `max`).
    pub(super) fn clean_line(&self, silence: Duration, max: Duration) -> io::Result<()> {
        let got = self.line()?.drain_silence(&self.sig, silence, max);
        if !got.is_empty() {
            log::debug!("clean line: discarded {}", printable(&got));
        }
        Ok(())
    }

    /// Run a chat script without collecting call data.
    pub(super) fn chat(
        &mut self,
        script: &chat::Script,
        aborts: &[&[u8]],
        timeout: Duration,
    ) -> io::Result<ChatOutcome> {
        let mut info = CallInfo::default();
        self.chat_with(script, aborts, timeout, &mut info)
    }

    /// Run a chat script, collecting caller ID and CONNECT data into `info`.
    pub(super) fn chat_with(
        &mut self,
        script: &chat::Script,
        aborts: &[&[u8]],
        timeout: Duration,
        info: &mut CallInfo,
    ) -> io::Result<ChatOutcome> {
        let line = open_line(&self.line)?;
        run_chat(
            line,
            &self.sig,
            &mut self.ctx,
            info,
            script,
            aborts,
            timeout,
        )
    }

    /// Send one AT command: `Some(true)` on OK, `Some(false)` on ERROR, `None` on no answer.
    pub(super) fn mdm(&mut self, cmd: &str) -> io::Result<Option<bool>> {
        let line = open_line(&self.line)?;
        mdm_command(
            line,
            &self.sig,
            &mut self.ctx,
            cmd,
            chat::MDM_COMMAND_TIMEOUT,
        )
    }

    /// mgetty's environment for cid/cnd programs and the login program: the call's data
    /// (CALLER_ID, CONNECT, CALL_DATE, …) plus DEVICE.
    pub(super) fn call_env(&self, call: &Call) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = call
            .info
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        env.push(("DEVICE".into(), self.tty.device.clone()));
        env
    }
}

/// The open line, or an error once it was handed away (dial-out, exec). A free function so
/// callers can borrow other fields of `Getty` at the same time.
pub(super) fn open_line(line: &Option<Line>) -> io::Result<&Line> {
    line.as_ref()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "line is not open"))
}
