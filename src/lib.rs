//! rgetty: a getty for modem lines that mgetty users can drop in, and tools that share a
//! serial line over TCP.
//!
//! The folders are the architecture:
//!
//! - the products: [`getty`] (`rgetty`), [`ringd`] (`rgetty-ringd`), [`share`]
//!   (`rgetty-share serve` and `connect`) and [`modem`] (`rgetty-share modem`);
//! - the system layer they share: [`sys`] (tty, locks, safe files, exec, wake-up, logging,
//!   utmp), [`config`] (the checked loader and the config file parsers) and [`ops`] (state
//!   files, call log, status, metrics, hot-plug);
//! - [`proto`]: pure protocol parsers and formats, with no I/O.
//!
//! One run of `rgetty` on a line goes through these steps (see `getty::state::State`):
//!
//! 1. lock the line (UUCP lock, [`sys::lock`]), open and set it up ([`sys::tty`]), run the
//!    init chat ([`proto::chat`]), then release the lock and wait without reading;
//! 2. on activity take the lock again, or yield to a dial-out program that took it;
//! 3. count `RING`s, match ring cadences ([`proto::ring`]), screen caller ID
//!    ([`proto::callerid`], [`config::dialin`]) and answer;
//! 4. show the issue file and prompt ([`proto::issue`]), read a login name
//!    ([`proto::logname`]) or detect PPP ([`proto::lcp`]);
//! 5. look the name up in login.config ([`config::login`]) and exec the program
//!    ([`sys::exec`]), with utmp/wtmp records ([`sys::utmp`]).

pub mod config;
pub mod getty;
pub mod modem;
pub mod ops;
pub mod proto;
pub mod ringd;
pub mod share;
pub mod sys;
