//! rgetty: a getty for modem lines that mgetty users can drop in.
//!
//! One run of `rgetty` on a line goes through these steps (see `getty::state::State`):
//!
//! 1. lock the line (UUCP lock, [`lock`]), open and set it up ([`tty`]), run the init chat
//!    ([`chat`]), then release the lock and wait without reading;
//! 2. on activity take the lock again, or yield to a dial-out program that took it;
//! 3. count `RING`s, match ring cadences ([`ring`]), screen caller ID ([`callerid`],
//!    [`config::dialin`]) and answer;
//! 4. show the issue file and prompt ([`issue`]), read a login name ([`logname`]) or detect
//!    PPP ([`lcp`]);
//! 5. look the name up in login.config ([`config::login`]) and exec the program ([`exec`]),
//!    with utmp/wtmp records ([`utmp`]).
//!
//! Pure modules (no I/O, no clock, no fds): [`speed`], [`config`], [`chat`], [`callerid`],
//! [`issue`], [`logname`], [`lcp`], [`ring`], [`telnet`], [`at`], [`hdlc`], [`sanitize`],
//! `getty::state`.
//! I/O shell: [`tty`] (the only module that issues ioctls), [`lock`], [`safefile`] (root-written
//! files that no symlink redirects), [`utmp`], [`logging`],
//! [`exec`], [`getty`], [`ringd`], [`ringsource`], [`wake`], [`modem`], [`share`].

pub mod at;
pub mod callerid;
pub mod chat;
pub mod config;
pub mod exec;
pub mod getty;
pub mod hdlc;
pub mod idle;
pub mod issue;
pub mod lcp;
pub mod lock;
pub mod logging;
pub mod logname;
pub mod modem;
pub mod ops;
pub mod ring;
pub mod ringd;
pub mod ringsource;
pub mod safefile;
pub mod sanitize;
pub mod share;
pub mod speed;
pub mod telnet;
pub mod tty;
pub mod utmp;
pub mod wake;
