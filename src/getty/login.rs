//! Issue file, prompt and the login name, AutoPPP detection (§5).

use super::exit;
use std::io;
use std::time::{Duration, Instant};

use crate::ops::calllog::Outcome;
use crate::proto::chat::printable;
use crate::proto::issue::{self, Facts, IssueSource};
use crate::proto::logname::{self, Editor, EditorConfig, NameOutcome};
use crate::sys::logging::AUDIT;
use crate::sys::tty::{self, Flow};
use crate::sys::utmp::RecordType;

use super::agetty::Credentials;
use super::common::Getty;
use super::line::sleep;
use super::state::{Call, Login, State};

/// How long end of file at the login prompt waits for the SIGHUP of a hang-up.
const HANGUP_AFTER_EOF: Duration = Duration::from_millis(500);

impl Getty {
    /// The issue (`issue-file`: literal text, a file or `!command`) rendered for this call.
    pub(super) fn issue_bytes(&self, facts: &Facts) -> Vec<u8> {
        if Credentials::from_env().noissue {
            return Vec::new();
        }
        match IssueSource::from_setting(&self.settings.issue_file) {
            IssueSource::Literal(t) => issue::render_literal(&t, facts),
            IssueSource::File(p) => self.render_issue_file(&p, facts),
            IssueSource::Command(cmd) => {
                // Admin-configured (`issue-file !cmd`); runs with the line as its output.
                match std::process::Command::new("/bin/sh")
                    .arg("-c")
                    .arg(&cmd)
                    .stdin(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .output()
                {
                    Ok(o) => o.stdout,
                    Err(e) => {
                        log::error!("issue-file command {cmd:?}: {e}");
                        Vec::new()
                    }
                }
            }
        }
    }

    /// GetLogin (§5): issue, prompt and the login name, until a name or an AutoPPP frame
    /// moves on to Dispatch.
    pub(super) fn get_login(&mut self, call: Call) -> io::Result<State> {
        self.prepare_login(&call)?;
        let login_time = (self.settings.login_time_s > 0 && !self.settings.blocking)
            .then(|| Instant::now() + Duration::from_secs(self.settings.login_time_s));
        let mut editor = Editor::new(EditorConfig::default());
        let mut lcuc_hinted = false;
        if let Some(state) = self.autologin(&call)? {
            return Ok(state);
        }
        'issue: loop {
            self.send_issue(&call)?;
            let mut pending: Vec<u8> = Vec::new();
            loop {
                let step = if let Some(s) = editor.resume() {
                    s
                } else if let Some(b) = pending.pop() {
                    editor.feed(b)
                } else {
                    match self.read_login_byte(login_time)? {
                        Ok(Some(b)) => pending.push(b),
                        Ok(None) => {}
                        Err(state) => return Ok(state),
                    }
                    continue;
                };
                if !step.echo.is_empty() {
                    self.line()?.write_all(&step.echo)?;
                }
                match step.outcome {
                    None => {}
                    Some(NameOutcome::Name { name, terminator }) => {
                        self.line()?.write_all(terminator.extra_echo())?;
                        match self.typed_name(name, &mut lcuc_hinted)? {
                            Typed::Accept(name, lcuc) => {
                                return Ok(State::Dispatch(
                                    call,
                                    Login::Name(name, terminator, lcuc),
                                ));
                            }
                            Typed::Hinted => {
                                editor.reset_name();
                                self.send_prompt(&call)?;
                            }
                            Typed::Refuse(code) => return Ok(State::Exit(code)),
                        }
                    }
                    Some(NameOutcome::Empty { terminator }) => {
                        self.line()?.write_all(terminator.extra_echo())?;
                        editor.reset_name();
                        continue 'issue;
                    }
                    Some(NameOutcome::Reprompt) => self.send_prompt(&call)?,
                    Some(NameOutcome::Eof) => {
                        log::info!("getlogname: got EOF, exiting");
                        self.outcome(Outcome::NoCarrier, "end of input at the login prompt");
                        return Ok(State::Exit(exit::OK));
                    }
                    Some(NameOutcome::AutoPpp { .. }) => {
                        log::info!("AutoPPP: LCP frame detected");
                        return Ok(State::Dispatch(call, Login::AutoPpp));
                    }
                }
            }
        }
    }

    /// Before the first issue: controlling tty, a clean line, the line's modes, the LOGIN
    /// utmp record and `prompt-waittime`.
    fn prepare_login(&mut self, call: &Call) -> io::Result<()> {
        let line = self.line()?;
        if let Err(e) = tty::make_controlling(line) {
            log::warn!("{e}");
        }
        self.clean_line(Duration::from_millis(300), Duration::from_secs(3))?;
        let line = self.line()?;
        let clocal = self.settings.ignore_carrier;
        if clocal {
            log::warn!("warning: carrier signal is ignored");
        }
        let speed = tty::get_speed(line).unwrap_or(self.settings.speed);
        if let Err(e) = tty::set_modem_mode(line, speed, Flow::Hard, clocal) {
            log::warn!("{e}");
        }
        self.apply_term_size();
        let host = if call.info.caller_id == "none" {
            call.info.connect.clone()
        } else {
            call.info.caller_id.clone()
        };
        if let Err(e) = self
            .utmp
            .update(RecordType::Login, "LOGIN", &host, &self.tty.device)
        {
            log::warn!("utmp: {e}");
        }
        sleep(
            &self.sig,
            Duration::from_millis(self.settings.prompt_waittime_ms),
        );
        Ok(())
    }

    /// The `autologin` credential: on a direct line, the issue and the prompt, then the user
    /// logs in without typing; on a modem line it is ignored (a caller is never logged in
    /// automatically).
    fn autologin(&mut self, call: &Call) -> io::Result<Option<State>> {
        let Some(user) = Credentials::from_env().autologin else {
            return Ok(None);
        };
        if !self.settings.direct {
            log::warn!("credential autologin ignored: not a direct line");
            return Ok(None);
        }
        self.send_issue(call)?;
        self.line()?
            .write_all(format!("{user} (automatic login)\r\n").as_bytes())?;
        log::info!("automatic login of {user:?} (credential autologin)");
        Ok(Some(State::Dispatch(call.clone(), Login::Auto(user))))
    }

    /// The issue and the prompt; the tty becomes mode 0600 in between.
    fn send_issue(&self, call: &Call) -> io::Result<()> {
        let facts = self.facts(call);
        let mut out = b"\r".to_vec();
        out.extend(self.issue_bytes(&facts));
        self.line()?.write_all(&out)?;
        if let Err(e) = tty::set_owner(self.line()?, None, None, Some(0o600)) {
            log::warn!("cannot chmod {}: {e}", self.tty.path.display());
        }
        self.line()?
            .write_all(&issue::render_prompt(&self.settings.login_prompt, &facts))
    }

    /// The login prompt alone.
    fn send_prompt(&self, call: &Call) -> io::Result<()> {
        let facts = self.facts(call);
        self.line()?
            .write_all(&issue::render_prompt(&self.settings.login_prompt, &facts))
    }

    /// One byte of the login name: `Ok(Some(b))`, `Ok(None)` when the wait ended without one
    /// (read again), or `Err(state)` when the login ends (EOF, carrier loss, a signal,
    /// login-time).
    fn read_login_byte(
        &mut self,
        login_time: Option<Instant>,
    ) -> io::Result<Result<Option<u8>, State>> {
        let mut buf = [0u8; 1];
        match self.line()?.read_until(&self.sig, &mut buf, login_time)? {
            Some(0) => {
                // A hang-up shows as end of file first, its SIGHUP follows (docs/platform.md §P4).
                if self.sig.wait_hangup(HANGUP_AFTER_EOF) {
                    return Ok(Err(self.carrier_lost()));
                }
                log::info!("getlogname: got EOF, exiting");
                self.outcome(Outcome::NoCarrier, "end of input at the login prompt");
                Ok(Err(State::Exit(exit::OK)))
            }
            Some(_) => {
                log::trace!("getlogname: got {}", printable(&buf));
                Ok(Ok(Some(buf[0])))
            }
            None => {
                if let Some(n) = self.sig.term_signal() {
                    return Ok(Err(self.goodbye_signal(n)));
                }
                if self.sig.hangup() {
                    return Ok(Err(self.carrier_lost()));
                }
                if login_time.is_some_and(|t| Instant::now() >= t) {
                    return Ok(Err(self.login_timeout()?));
                }
                Ok(Ok(None))
            }
        }
    }

    /// What to do with a typed name: a modem error ends the call; on an upper-case-only
    /// terminal (mgetty's DO_LCUC_MAP) the first all-upper-case name gets a hint and a new
    /// prompt, the second is lower-cased and the terminal mapped (IUCLC, OLCUC, XCASE).
    fn typed_name(&mut self, name: String, lcuc_hinted: &mut bool) -> io::Result<Typed> {
        if logname::is_modem_error(&name) {
            log::warn!(
                target: AUDIT,
                "failed dev={}, pid={}, got modem error '{name}'",
                self.tty.device,
                self.pid()
            );
            let why = format!("modem reported {name} at the login prompt");
            self.outcome(Outcome::NoCarrier, why);
            return Ok(Typed::Refuse(0));
        }
        let upper = name.bytes().any(|b| b.is_ascii_uppercase())
            && !name.bytes().any(|b| b.is_ascii_lowercase());
        if upper && !*lcuc_hinted {
            *lcuc_hinted = true;
            self.line()?.write_all(
                b"\r\nIf your terminal can do lower case letters, please use them.\r\n",
            )?;
            return Ok(Typed::Hinted);
        }
        if upper {
            log::info!("upper-case-only terminal: mapping case");
            Ok(Typed::Accept(name.to_ascii_lowercase(), true))
        } else {
            Ok(Typed::Accept(name, false))
        }
    }

    /// SIGHUP at the login prompt: the carrier dropped (exit 10).
    pub(super) fn carrier_lost(&mut self) -> State {
        log::warn!(
            target: AUDIT,
            "failed dev={}, pid={}, got signal 1, exiting",
            self.tty.device,
            self.pid()
        );
        self.outcome(Outcome::NoCarrier, "carrier lost at the login prompt");
        State::Exit(exit::SIGNALLED)
    }

    /// rgetty hangs up when login-time expires (mgetty's documented behaviour; its select
    /// build never does, Q1).
    pub(super) fn login_timeout(&mut self) -> io::Result<State> {
        let minutes = self.settings.login_time_s / 60 + 1;
        let why = format!("no login name within {} s", self.settings.login_time_s);
        self.outcome(Outcome::Timeout, why);
        let line = self.line()?;
        let _ = line.write_all(
            format!("\r\n\x07\r\nYour login time ({minutes} minutes) ran out. Goodbye.\r\n")
                .as_bytes(),
        );
        let _ = tty::drain(line);
        log::info!("login timeout, exit.");
        log::warn!(
            target: AUDIT,
            "failed dev={}, pid={}, login time out",
            self.tty.device,
            self.pid()
        );
        // Hang up: drop DTR (speed 0) where the device has modem lines.
        let _ = tty::set_dtr(line, false);
        Ok(State::Exit(exit::OK))
    }
}

/// What a typed login name leads to.
enum Typed {
    /// Go on with this name; whether the terminal is upper-case only.
    Accept(String, bool),
    /// The upper-case hint was sent: prompt again.
    Hinted,
    /// The call ends: exit with this code.
    Refuse(i32),
}
