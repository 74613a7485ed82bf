//! Start-up (§4.1): lock, open and set up the line, the init chat; and the periodic
//! modem check (CheckModem).

use super::exit;
use std::fs;
use std::io;
use std::time::Duration;

use crate::proto::chat::{self, printable};
use crate::sys::logging::AUDIT;
use crate::sys::safefile;
use crate::sys::tty::{self, Flow};

use super::chatio::ChatOutcome;
use super::cli::eprintln_safe;
use super::common::{Getty, secs};
use super::line::{Line, sleep};
use super::state::State;

impl Getty {
    /// Start-up (§4.1): lock, open and set up the line, init the modem, release the lock.
    pub(super) fn start(&mut self) -> io::Result<State> {
        log::info!("check for lockfiles");
        if let Some(holder) = self.locks.check(&self.tty.path) {
            return Ok(State::Dialout(holder));
        }
        log::info!("locking the line");
        match self.lock_line() {
            Ok(None) => {}
            Ok(Some(holder)) => return Ok(State::Dialout(holder)),
            Err(e) => {
                let cause = format!("cannot lock {}: {e}", self.tty.device);
                return Ok(self.start_failed(1, &cause));
            }
        }
        let line = match self.open_and_reset() {
            Ok(line) => line,
            Err(state) => return Ok(*state),
        };
        if !self.settings.direct {
            self.rings.watch_ri(&line, &self.sig, false);
        }
        self.line = Some(line);
        if let Some(ms) = self.settings.open_delay_ms {
            sleep(&self.sig, Duration::from_millis(ms));
        }
        self.clean_line(Duration::from_millis(100), Duration::from_secs(2))?;
        if !self.settings.direct {
            if !self.init_modem()? {
                if let Some(n) = self.sig.term_signal() {
                    return Ok(self.goodbye_signal(n));
                }
                log::warn!(
                    target: AUDIT,
                    "failed in mg_init_data, dev={}, pid={}",
                    self.tty.device,
                    self.pid()
                );
                if let Ok(l) = self.line() {
                    let _ = tty::flush(l, tty::Queue::Both);
                }
                let cause = format!("the modem on {} failed the init chat", self.tty.device);
                return Ok(self.start_failed(1, &cause));
            }
            self.post_init()?;
        }
        self.clean_line(Duration::from_millis(300), Duration::from_secs(3))?;
        let _ = fs::remove_file(&self.paths.fail_file);
        self.release_lock();
        Ok(State::Waiting)
    }

    /// Open the line (a character-device tty, never a file or a symlink to one), give it to
    /// port-owner through the open fd, toggle DTR (only if the device has modem lines) and set
    /// the modem mode. A failure is fatal: the state to go to.
    fn open_and_reset(&mut self) -> Result<Line, Box<State>> {
        let fd = match tty::open_line(&self.tty.path, self.settings.blocking) {
            Ok(fd) => fd,
            Err(e) => return Err(Box::new(self.start_failed(30, &e.to_string()))),
        };
        // Someone using flock(2) only (picocom, tio) owns the line: step aside unseen.
        if let Err(holder) = crate::sys::lock::claim_flock(&fd, &self.tty.path) {
            self.release_lock();
            return Err(Box::new(State::Dialout(holder)));
        }
        self.set_port_owner(&fd);
        let line = Line::new(fd);
        self.reset_modem(&line);
        if let Err(e) = tty::set_modem_mode(&line, self.settings.speed, Flow::Hard, true)
            .or_else(|_| tty::set_modem_mode(&line, self.settings.speed, Flow::Hard, true))
        {
            let cause = format!("cannot set up {}: {e}", self.tty.device);
            return Err(Box::new(self.start_failed(30, &cause)));
        }
        Ok(line)
    }

    /// Warn about DCD/DSR before init, and toggle DTR (`toggle-dtr`) where the device has
    /// modem lines (a pty has none: nothing to lower, so nothing is said about it).
    fn reset_modem(&self, line: &Line) {
        let has_modem_lines = match tty::modem_lines(line) {
            Ok(Some(ml)) => {
                if ml.dcd {
                    log::warn!(
                        "WARNING: DCD line up before modem init (check modem settings, AT&Dx)"
                    );
                }
                if !ml.dsr {
                    log::warn!("WARNING: DSR is off - modem turned off or bad cable?");
                }
                true
            }
            Ok(None) => {
                log::info!("{}: no modem control lines (a pty?)", self.tty.device);
                false
            }
            Err(e) => {
                log::warn!("{e}");
                true
            }
        };
        if self.settings.toggle_dtr && has_modem_lines {
            log::info!("lowering DTR to reset Modem");
            match tty::set_dtr(line, false) {
                Ok(true) => {
                    std::thread::sleep(Duration::from_millis(self.settings.toggle_dtr_waittime_ms));
                    let _ = tty::set_dtr(line, true);
                }
                Ok(false) => {} // no DTR on this device: nothing to wait for
                Err(e) => log::warn!("{e}"),
            }
        }
    }

    /// A fatal start-up error: logged (log file and syslog) and one line on stderr, naming the
    /// device and the cause; then counted like every start-up failure ([`Getty::init_failed`]).
    pub(super) fn start_failed(&mut self, code: i32, cause: &str) -> State {
        log::error!("{cause}");
        eprintln_safe(&format!("rgetty: {cause}"));
        self.init_failed(code)
    }

    /// Count a start-up failure in the run dir; after `--backoff-after` failures in a row,
    /// sleep (doubling, up to `--backoff-max`) so that init does not respawn us in a loop.
    pub(super) fn init_failed(&mut self, code: i32) -> State {
        self.release_lock();
        let n = safefile::read_to_string(&self.paths.fail_file)
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(0)
            + 1;
        // Replaced by rename, never written through a symlink planted at its name.
        if let Err(e) = safefile::replace(&self.paths.fail_file, format!("{n}\n").as_bytes(), 0o644)
        {
            log::warn!("cannot write {}: {e}", self.paths.fail_file.display());
        }
        if n >= self.cli.backoff_after {
            let exp = (n - self.cli.backoff_after).min(16);
            let wait = (f64::from(1u32 << exp)).min(self.cli.backoff_max.max(0.0));
            log::warn!("{n} start-up failures in a row: sleeping {wait:.1}s before exiting");
            sleep(&self.sig, secs(wait));
        }
        State::Exit(code)
    }

    /// init-chat; on a timeout force-init-chat and one more init-chat (§3.3).
    pub(super) fn init_modem(&mut self) -> io::Result<bool> {
        let timeout = secs(self.cli.init_chat_timeout);
        let script = chat::parse_chat(&self.settings.init_chat);
        match self.chat(&script, chat::INIT_ABORTS, timeout)? {
            ChatOutcome::Ok => return Ok(true),
            ChatOutcome::Timeout { .. } => {}
            ChatOutcome::Abort(i) => {
                log::error!(
                    "init chat failed: modem said {:?}",
                    chat::INIT_ABORTS
                        .get(i)
                        .map(|a| printable(a))
                        .unwrap_or_default()
                );
                return Ok(false);
            }
            ChatOutcome::Signal | ChatOutcome::Hangup => return Ok(false),
        }
        log::warn!("init chat timed out, trying force-init-chat");
        let force = chat::parse_chat(&self.settings.force_init_chat);
        match self.chat(&force, chat::INIT_ABORTS, timeout)? {
            ChatOutcome::Ok | ChatOutcome::Abort(_) => {}
            _ => return Ok(false),
        }
        self.clean_line(Duration::from_millis(300), Duration::from_secs(3))?;
        Ok(self.chat(&script, chat::INIT_ABORTS, timeout)? == ChatOutcome::Ok)
    }

    /// statistics-chat and post-init-chat; their failures are logged and ignored.
    pub(super) fn post_init(&mut self) -> io::Result<()> {
        for raw in [
            self.settings.statistics_chat.clone(),
            self.settings.post_init_chat.clone(),
        ]
        .into_iter()
        .flatten()
        {
            let script = chat::parse_chat(&raw);
            let r = self.chat(&script, &[], chat::AUX_CHAT_TIMEOUT)?;
            if r != ChatOutcome::Ok {
                log::warn!("post-init chat: {r:?} (ignored)");
            }
        }
        Ok(())
    }

    /// CheckModem: take the lock and see whether the modem still answers `AT` (twice).
    pub(super) fn check_modem(&mut self) -> io::Result<State> {
        log::info!("checking if modem is still alive");
        match self.lock_line() {
            Ok(None) => {}
            Ok(Some(holder)) => return Ok(State::Dialout(holder)),
            Err(e) => {
                log::error!("cannot lock {}: {e}", self.tty.device);
                return Ok(State::Waiting);
            }
        }
        for _ in 0..2 {
            if self.mdm("AT")? == Some(true) {
                return Ok(State::Jail);
            }
        }
        log::error!("modem on dev={} doesn't react!", self.tty.device);
        Ok(State::Exit(exit::SETUP_FAILED))
    }
}
