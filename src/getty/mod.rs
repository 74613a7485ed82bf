//! The getty: one room (module) per lifecycle step over [`state::State`].
//!
//! `entry` ([`main_with`], [`run()`]) reads the command line and settings; `run` drives the
//! state machine, dispatching each state to its room: `start` (start-up, init, CheckModem),
//! `waiting` (Waiting, Dialout, Jail), `answer` (rings, caller ID, screening, nologin, answer;
//! ring events come from `ringing`), `login` (issue, prompt, login name, AutoPPP) and
//! `dispatch` (login.config and exec). Shared: `common` (the `Getty` value), [`ident`] (the
//! tty's names, computed once), `settings` (mgetty.config, `--check`), `patterns` (the
//! ring-patterns file), `perms` (permission policy), `system` (uname, inotify, pid file) and `agetty` (issue.d,
//! agetty's escapes, credentials, terminal size, a missing login program).

mod agetty;
mod answer;
pub mod chatio;
pub mod cli;
mod common;
mod dispatch;
mod entry;
pub mod exit;
mod handoff;
pub mod ident;
pub mod line;
mod login;
mod patterns;
mod perms;
mod report;
mod ringing;
mod run;
mod screening;
mod settings;
mod start;
pub mod state;
mod system;
mod waiting;

pub use entry::{main_with, run};
