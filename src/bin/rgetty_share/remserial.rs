//! remserial's command line (`rgetty-share remserial ARGS`, or the binary started under the
//! name `remserial`): parsed by `share::remserial`, run as the `serve` or `connect` command it
//! translates to.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use rgetty::share::remserial;

use crate::args::Cli;

/// The command line to run, or the exit code when the arguments were refused (or `-h`).
pub(crate) fn cli(args: &[OsString]) -> Result<Cli, ExitCode> {
    #[allow(clippy::print_stderr, clippy::print_stdout)]
    let r = match remserial::parse(args) {
        Ok(r) => r,
        Err(e) if e.0 == "help" => {
            print!("{}", remserial::USAGE);
            return Err(ExitCode::SUCCESS);
        }
        Err(e) => {
            eprintln!("remserial: {e}\n{}", remserial::USAGE);
            return Err(ExitCode::from(1));
        }
    };
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{}", r.notice());
    }
    let argv = std::iter::once(OsString::from("rgetty-share")).chain(r.share_args());
    Cli::try_parse_from(argv).map_err(|e| {
        let _ = e.print();
        ExitCode::from(2)
    })
}

/// remserial's `-d`: a new session, stdin, stdout and stderr on /dev/null; no fork (the
/// pages start it with `&`, and its pid stays the one the shell reported).
pub(crate) fn detach() -> anyhow::Result<()> {
    use anyhow::Context;
    // EPERM when already a process group leader (an interactive shell's job): remserial
    // ignores it too.
    let _ = nix::unistd::setsid();
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .context("/dev/null")?;
    nix::unistd::dup2_stdin(&null).context("dup2")?;
    nix::unistd::dup2_stdout(&null).context("dup2")?;
    nix::unistd::dup2_stderr(&null).context("dup2")?;
    Ok(())
}
