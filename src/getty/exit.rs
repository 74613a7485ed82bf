//! rgetty's exit codes: mgetty's table, as rgetty(8) EXIT STATUS lists them.

/// `-V`; SIGUSR2 while idle; a dial-out finished; junk on the line; login timeout; end of
/// input at the prompt; fax call refused.
pub const OK: i32 = 0;
/// Init chat or answer chat failed; a login.config line names an unknown user.
pub const CHAT_FAILED: i32 = 1;
/// The login program does not exist (agetty mode; same code as mgetty's other failures).
pub const NO_LOGIN_PROGRAM: i32 = 1;
/// Usage error, no tty, invalid speed; `--check` found a problem.
pub const USAGE: i32 = 2;
/// SIGINT, SIGQUIT or SIGTERM; carrier loss (SIGHUP) once a call is in progress.
pub const SIGNALLED: i32 = 10;
/// NO CARRIER, BUSY or ERROR while waiting for RINGs; CONNECT while nologin is set.
pub const MODEM_REFUSED: i32 = 20;
/// The device cannot be opened, is not a terminal, or cannot be set up; rgetty does not run
/// as root; the modem does not answer the modem check.
pub const SETUP_FAILED: i32 = 30;
/// The login program could not be executed.
pub const EXEC_FAILED: i32 = 255;

#[cfg(test)]
mod tests {
    /// Every code here is listed in rgetty(8) EXIT STATUS, and every listed code is here.
    #[test]
    fn codes_match_the_man_page() {
        let man = include_str!("../../man/rgetty.8");
        let section = man
            .split(".SH EXIT STATUS")
            .nth(1)
            .and_then(|s| s.split(".SH ").next())
            .unwrap();
        let listed: Vec<i32> = section
            .lines()
            .filter_map(|l| l.strip_prefix(".B "))
            .filter_map(|c| c.trim().parse().ok())
            .collect();
        assert_eq!(
            listed,
            vec![
                super::OK,
                super::CHAT_FAILED,
                super::USAGE,
                super::SIGNALLED,
                super::MODEM_REFUSED,
                super::SETUP_FAILED,
                super::EXEC_FAILED
            ]
        );
    }
}
