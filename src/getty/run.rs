//! `rgetty`'s lifecycle driver: runs each [`State`] in its room and moves to the next
//! (mgetty §4–§6). The rooms: `start`, `waiting`, `answer`, `login` and `dispatch`.

use std::io;

use crate::ops::calllog::Outcome;
use crate::sys::logging::AUDIT;

use super::common::Getty;
use super::exit;
use super::state::State;
use super::system::{other_getty, remove_pid_file, write_pid_file};

impl Getty {
    /// Run the state machine from [`State::Start`] to an exit code; back from the waiter
    /// (`--resume`), from where Waiting left off.
    pub(super) fn run(&mut self) -> i32 {
        let begun = match self.cli.resume.clone() {
            Some(value) => self.resume(&value).map(|()| State::Waiting),
            None => self.begin(),
        };
        match begun {
            Ok(state) => self.drive(state),
            Err(code) => code,
        }
    }

    /// A fresh start: one getty per line, the pid file, the `start` audit line.
    fn begin(&mut self) -> Result<State, i32> {
        if let Some((pid, state)) = other_getty(&self.cli.pid_dir, &self.tty.dev_id) {
            // one getty per line: leave its state file, lock and call log alone
            let msg = format!(
                "{}: already served by rgetty pid {pid} ({state}); not starting a second one",
                self.tty.device
            );
            log::error!("{msg}");
            crate::getty::cli::eprintln_safe(&format!("rgetty: {msg}"));
            return Err(30);
        }
        log::info!(
            "rgetty: {} on {}",
            env!("CARGO_PKG_VERSION"),
            self.tty.device
        );
        log::debug!(
            "pid={} ppid={} uid={}",
            self.pid(),
            nix::unistd::getppid(),
            nix::unistd::getuid()
        );
        if let Err(e) = write_pid_file(&self.paths.pid_file) {
            log::warn!(
                "cannot write pid file {}: {e}",
                self.paths.pid_file.display()
            );
        }
        log::warn!(
            target: AUDIT,
            "start dev={}, pid={}, rgetty {}",
            self.tty.device,
            self.pid(),
            env!("CARGO_PKG_VERSION")
        );
        let state = State::Start;
        self.report(&state);
        Ok(state)
    }

    /// Run the states from `state` to an exit code.
    fn drive(&mut self, mut state: State) -> i32 {
        loop {
            let from = state.name();
            state = match self.step(state) {
                Ok(s) => s,
                Err(e) => {
                    log::error!("{e}");
                    self.outcome(Outcome::Error, e.to_string());
                    State::Exit(if self.lock.is_some() {
                        exit::SIGNALLED
                    } else {
                        exit::SETUP_FAILED
                    })
                }
            };
            self.report(&state);
            if let State::Exit(code) = state {
                log::info!("{from} -> exit {code}");
                log::warn!(
                    target: AUDIT,
                    "exit dev={}, pid={}, exit code {code}",
                    self.tty.device,
                    self.pid()
                );
                self.lock = None;
                remove_pid_file(&self.paths.pid_file);
                // No exec: close our LOGIN/USER record, or it stays in utmp for good when
                // init does not clean up after us (a line outside /dev, a manual start).
                if let Err(e) = self.utmp.close(&self.tty.device) {
                    log::warn!("utmp: {e}");
                }
                return code;
            }
            log::info!("{from} -> {}", state.name());
        }
    }

    /// One state in its room; a pending terminating signal ends the run first.
    fn step(&mut self, state: State) -> io::Result<State> {
        if let Some(n) = self.sig.term_signal() {
            return Ok(self.goodbye_signal(n));
        }
        match state {
            State::Start => self.start(),
            State::Waiting => self.waiting(),
            State::Dialout(holder) => Ok(self.dialout(&holder)),
            State::CheckModem => self.check_modem(),
            State::WaitRings(call) => self.wait_rings(call),
            State::NoLogin(call) => self.nologin(call),
            State::Answer(call) => self.answer(call),
            State::GetLogin(call) => self.get_login(call),
            State::Dispatch(call, login) => Ok(self.dispatch(&call, &login)),
            State::Jail => self.jail(),
            State::Exit(code) => Ok(State::Exit(code)),
        }
    }
}
