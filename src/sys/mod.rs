//! The system layer shared by every product: the only code that talks to the kernel on a
//! line's behalf.
//!
//! - [`tty`]: terminal settings and every ioctl;
//! - [`lock`]: UUCP lock files and flock on the device;
//! - [`safefile`]: files written as root that no symlink redirects;
//! - [`exec`]: starting programs (as a user, detached);
//! - [`wake`]: the one wake-up model (a self-pipe and poll);
//! - [`logging`]: mgetty-style log files, syslog and journald;
//! - [`loglimit`]: the rate limit for repeated log lines;
//! - [`names`]: verified host names of peers (reverse and forward lookups);
//! - [`utmp`]: utmp and wtmp records;
//! - [`idle`]: what the getty gives back before a long wait;
//! - [`ringsource`]: every way a ring arrives (modem text, the RI pin, SIGUSR1).
//! - [`waitproto`]: the hand-off between rgetty and its small waiting program, rgetty-wait.

pub mod exec;
pub mod idle;
pub mod lock;
pub mod logging;
pub mod loglimit;
pub mod names;
pub mod ringsource;
pub mod safefile;
pub mod tty;
pub mod utmp;
pub mod waitproto;
pub mod wake;
