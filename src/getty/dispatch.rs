//! login.config dispatch and exec of the login program (§6).

use super::exit;
use std::fs;

use crate::config::login::{Entry, LoginName, Table};
use crate::ops::calllog::Outcome;
use crate::proto::logname;
use crate::sys::logging::AUDIT;
use crate::sys::tty::{self, FinalMode, Flow};
use crate::sys::utmp::RecordType;

use super::common::Getty;
use super::settings::{login_config_access, read_login_config, resolve_login_config};
use super::state::{Call, Login, State};

impl Getty {
    /// login.config as the loader and the trust policy allow; `/bin/login` for everybody when
    /// it is missing, refused (not root's, writable or readable by others, not a regular
    /// file, over 1 MiB) or unreadable.
    pub(super) fn login_table(&self) -> Table {
        let path = resolve_login_config(&self.paths.config_dir, &self.settings);
        let source = match read_login_config(&path) {
            Ok(Some(s)) => s,
            Ok(None) => {
                log::info!(
                    "login.config {} not found; using /bin/login",
                    path.display()
                );
                return Table::default();
            }
            Err(e) => {
                log::error!("login: {e}; using /bin/login");
                return Table::default();
            }
        };
        if let Some(p) = login_config_access(&source) {
            log::error!("login: {p}; ignored, using /bin/login");
            return Table::default();
        }
        let (t, errs) = Table::parse(&source.text, &path);
        for e in errs {
            log::error!("{e}");
        }
        t
    }

    /// Dispatch (§6): look the name up in login.config and exec its program on the line.
    pub(super) fn dispatch(&mut self, call: &Call, login: &Login) -> State {
        let _ = fs::remove_file(&self.paths.pid_file);
        let (lname, name_str, final_mode) = self.login_of(login);
        if matches!(login, Login::Name(..) | Login::Auto(_)) && !logname::is_safe_name(&name_str) {
            log::error!("refusing unsafe login name {name_str:?}");
            self.outcome(Outcome::Refused, "unsafe login name");
            return State::Exit(exit::OK);
        }
        let table = self.login_table();
        let entry = table.dispatch(&lname, false);
        let mut argv = entry.argv(&name_str, &call.info.connect, &call.info.caller_id);
        if matches!(login, Login::Auto(_)) {
            argv = super::agetty::autologin_argv(&entry.program, argv, &name_str);
        }
        if let Some(state) = self.missing_login(&entry.program) {
            return state;
        }
        log::debug!("match: user={name_str:?}, line {}", entry.loc);
        if !self.userid_known(&entry) {
            let why = format!(
                "{}: unknown user {}",
                entry.loc,
                entry.userid.as_deref().unwrap_or_default()
            );
            self.outcome(Outcome::Refused, why);
            return State::Exit(exit::CHAT_FAILED);
        }
        if let Some(u) = entry.utmp_user(&name_str) {
            if let Err(e) =
                self.utmp
                    .update(RecordType::User, &u, &call.info.connect, &self.tty.device)
            {
                log::warn!("utmp: {e}");
            }
        }
        let mut env = self.call_env(call);
        if let Some(t) = &self.settings.term {
            env.push(("TERM".into(), t.clone()));
        }
        if let Ok(l) = self.line() {
            if let Ok(Some(ml)) = tty::modem_lines(l) {
                if !ml.dcd {
                    log::warn!("WARNING: starting login while DCD is low!");
                }
            }
        }
        log::warn!(
            target: AUDIT,
            "data dev={}, pid={}, caller='{}', conn='{}', name='{}', cmd='{}', user='{}'",
            self.tty.device,
            self.pid(),
            call.info.caller_id,
            call.info.connect,
            call.info.call_name,
            entry.program.display(),
            name_str
        );
        log::debug!(
            "calling login: cmd='{}', argv[]={argv:?}",
            entry.program.display()
        );
        let spec = crate::sys::exec::ExecSpec {
            program: entry.program.clone(),
            argv,
            env,
            user: entry.userid.clone(),
        };
        let program = entry.program.display().to_string();
        self.call_answered(&name_str, &program, &entry.loc.to_string());
        self.exec_on_line(&spec, final_mode)
    }

    /// The name to look up, the name as a string, and the line's mode for the program.
    fn login_of<'a>(&self, login: &'a Login) -> (LoginName<'a>, String, FinalMode) {
        match login {
            Login::Name(n, t, lcuc) => (
                LoginName::Typed(n),
                n.clone(),
                FinalMode {
                    crlf: t.map_cr(),
                    raw: false,
                    clocal: self.settings.ignore_carrier,
                    flow: Flow::Hard,
                    lcuc: *lcuc,
                },
            ),
            Login::Auto(n) => (
                LoginName::Typed(n),
                n.clone(),
                FinalMode {
                    crlf: false,
                    raw: false,
                    clocal: self.settings.ignore_carrier,
                    flow: Flow::Hard,
                    lcuc: false,
                },
            ),
            Login::AutoPpp => (
                LoginName::AutoPpp,
                crate::config::login::AUTOPPP.to_string(),
                FinalMode {
                    crlf: false,
                    raw: true,
                    clocal: self.settings.ignore_carrier,
                    flow: Flow::Hard,
                    lcuc: false,
                },
            ),
        }
    }

    /// Whether the entry's userid (if any) exists; an unknown one refuses the call (mgetty
    /// would run the program as root).
    fn userid_known(&self, entry: &Entry) -> bool {
        let Some(u) = &entry.userid else {
            return true;
        };
        let Err(e) = crate::sys::exec::lookup_user(u) else {
            return true;
        };
        log::error!(
            "{}: unknown userid {u:?}: call refused (mgetty would run {:?} as root): {e}",
            entry.loc,
            entry.program
        );
        log::warn!(
            target: AUDIT,
            "failed dev={}, pid={}, unknown userid '{u}'",
            self.tty.device,
            self.pid()
        );
        false
    }

    /// Hand the line to `spec`'s program as its stdin/stdout/stderr and exec it.
    fn exec_on_line(&mut self, spec: &crate::sys::exec::ExecSpec, final_mode: FinalMode) -> State {
        // The RI watcher's copy of the line must not outlive the exec.
        self.rings.ri = None;
        let Some(line) = self.line.take() else {
            return State::Exit(exit::SETUP_FAILED);
        };
        if let Err(e) = tty::set_final_mode(&line, final_mode) {
            log::warn!("{e}");
        }
        if let Err(e) = tty::dup_to_stdio(&line) {
            log::error!("{e}");
            return State::Exit(exit::SETUP_FAILED);
        }
        drop(line);
        // The lock stays: the program inherits our pid (§7). exec only returns on failure.
        let err = crate::sys::exec::exec(spec);
        log::error!("cannot execute '{}': {err}", spec.program.display());
        State::Exit(exit::EXEC_FAILED)
    }
}
