//! `rgetty`'s lifecycle driver: runs each [`State`] in its room and moves to the next
//! (mgetty §4–§6). The rooms: `start`, `waiting`, `answer`, `login` and `dispatch`.

use std::fs;
use std::io;

use crate::logging;

use super::cli::{Cli, dev_id, device_name, eprintln_safe, infix, print_version};
use super::common::Getty;
use super::line::Signals;
use super::settings::{check, load_settings};
use super::state::State;
use super::system::write_pid_file;

/// Run rgetty with these arguments (from `main`) and return the exit code.
pub fn main_with(args: Vec<String>) -> i32 {
    use clap::Parser;
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp => 0,
                _ => 2,
            };
        }
    };
    run(cli)
}

/// Run rgetty and return the exit code (mgetty's table, §1).
pub fn run(cli: Cli) -> i32 {
    if cli.gettydefs.is_some() {
        eprintln_safe("rgetty: gettydefs not supported");
        return 2;
    }
    if cli.version {
        print_version(&cli);
        return 0;
    }
    if cli.check {
        return check(&cli);
    }
    let Some(tty_arg) = cli.tty.clone() else {
        eprintln_safe("rgetty: no line given\nUsage: rgetty [options] tty");
        return 2;
    };
    let device = device_name(&tty_arg);
    let paths = cli.paths(&dev_id(&device));
    let early_level = cli
        .debug
        .as_deref()
        .and_then(crate::config::mgetty::parse_int)
        .map_or(4, |n| u8::try_from(n.clamp(0, 9)).unwrap_or(4));
    // The package cannot ship the empty log directory: create it (best effort).
    if let Some(dir) = paths.log_file.parent() {
        let _ = fs::create_dir_all(dir);
    }
    logging::init(logging::LogSetup {
        file: Some(paths.log_file.clone()),
        level: early_level,
        infix: infix(&device),
        ident: "rgetty".into(),
        stderr: false,
        syslog: true,
        syslog_socket: cli.syslog_socket.clone(),
    });
    let settings = match load_settings(&cli, &device) {
        Ok(s) => s,
        Err(code) => return code,
    };
    logging::set_level(settings.debug);
    let sig = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot install signal handlers: {e}");
            return 30;
        }
    };
    Getty::new(cli, paths, settings, sig).run()
}

impl Getty {
    fn run(&mut self) -> i32 {
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
        let mut state = State::Start;
        loop {
            let from = state.name();
            state = match self.step(state) {
                Ok(s) => s,
                Err(e) => {
                    log::error!("{e}");
                    State::Exit(if self.lock.is_some() { 10 } else { 30 })
                }
            };
            if let State::Exit(code) = state {
                log::info!("{from} -> exit {code}");
                self.lock = None;
                return code;
            }
            log::info!("{from} -> {}", state.name());
        }
    }

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
