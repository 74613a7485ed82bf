//! `rgetty`'s entry: the command line, early logging and the settings, then the driver
//! ([`super::run`]'s state machine).

use super::exit;
use std::fs;

use crate::sys::logging;

use super::cli::{Cli, dev_id, device_name, eprintln_safe, infix, print_version};
use super::common::Getty;
use super::line::Signals;
use super::settings::{check, load_settings};

/// Run rgetty with these arguments (from `main`) and return the exit code.
pub fn main_with(args: Vec<String>) -> i32 {
    use clap::Parser;
    super::handoff::remember_args(&args);
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp => exit::OK,
                _ => exit::USAGE,
            };
        }
    };
    run(cli)
}

/// Run rgetty and return the exit code (mgetty's table, §1).
pub fn run(cli: Cli) -> i32 {
    match prepare(cli) {
        Ok(mut getty) => getty.run(),
        Err(code) => code,
    }
}

/// Everything before the state machine: the command line's early exits, logging, the
/// settings, the signal handlers; `Err` is the exit code. Not inlined and the getty boxed, so
/// the large frame that builds it is below the wait's stack pointer, and given back by
/// `idle::trim_stack`, instead of staying dirty above it for the whole wait.
#[inline(never)]
fn prepare(cli: Cli) -> Result<Box<Getty>, i32> {
    if cli.gettydefs.is_some() {
        eprintln_safe("rgetty: gettydefs not supported");
        return Err(exit::USAGE);
    }
    if cli.version {
        print_version(&cli);
        return Err(exit::OK);
    }
    if cli.check {
        return Err(check(&cli));
    }
    let Some(tty_arg) = cli.tty.clone() else {
        eprintln_safe("rgetty: no line given\nUsage: rgetty [options] tty");
        return Err(exit::USAGE);
    };
    let device = device_name(&tty_arg);
    let paths = cli.paths(&dev_id(&device));
    let early_level = cli
        .debug
        .as_deref()
        .and_then(crate::config::mgetty::parse_int)
        .map_or(4, |n| u8::try_from(n.clamp(0, 9)).unwrap_or(4));
    let root = nix::unistd::geteuid().is_root();
    // The package cannot ship the empty log directory: create it (best effort).
    // Mode 0750, as `make install` creates it (logs show caller IDs).
    if let Some(dir) = paths.log_file.parent().filter(|_| root) {
        use std::os::unix::fs::DirBuilderExt;
        let _ = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(dir);
    }
    logging::init(logging::LogSetup {
        // Not root: syslog only, no file is touched.
        file: root.then(|| paths.log_file.clone()),
        level: early_level,
        infix: infix(&device),
        ident: "rgetty".into(),
        stderr: false,
        syslog: true,
        syslog_socket: cli.syslog_socket.clone(),
    });
    if let Some(j) = &cli.journal_socket {
        logging::set_journal_socket(Some(j.clone()));
    }
    if !root {
        let msg = format!(
            "{tty_arg}: must run as root (running as uid {})",
            nix::unistd::geteuid()
        );
        log::error!("{msg}");
        eprintln_safe(&format!("rgetty: {msg}"));
        return Err(exit::SETUP_FAILED);
    }
    let settings = load_settings(&cli, &device)?;
    logging::set_level(settings.debug);
    let sig = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot install signal handlers: {e}");
            eprintln_safe(&format!(
                "rgetty: {tty_arg}: cannot install signal handlers: {e}"
            ));
            return Err(exit::SETUP_FAILED);
        }
    };
    Ok(Box::new(Getty::new(cli, paths, settings, sig)))
}
