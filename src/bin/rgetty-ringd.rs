//! rgetty-ringd: run a command when the phone rings in a chosen cadence (a drop-in xringd).
//! Thin: parse the arguments, hand them to `rgetty::ringd::run`, exit with its code.

use std::process::ExitCode;

use rgetty::ringd::{self, Cli, USAGE};

fn main() -> ExitCode {
    if std::env::args()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--version")
    {
        println!("rgetty-ringd {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let cli = match Cli::parse_from(std::env::args_os().skip(1)) {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("rgetty-ringd: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if cli.help {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let code = ringd::run(cli);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
