//! Logging (temporary minimal backend; replaced by the full one on the io branch).

use std::path::PathBuf;

/// Log target for audit records.
pub const AUDIT: &str = "audit";

/// Logger settings.
#[derive(Debug, Clone)]
pub struct LogSetup {
    /// Per-line log file.
    pub file: Option<PathBuf>,
    /// mgetty level 0..=9.
    pub level: u8,
    /// Last 3 chars of the device.
    pub infix: String,
    /// syslog ident.
    pub ident: String,
    /// Also to stderr.
    pub stderr: bool,
    /// Warnings and errors to syslog.
    pub syslog: bool,
    /// The syslog socket.
    pub syslog_socket: PathBuf,
}

/// Install the logger.
pub fn init(_setup: LogSetup) {}
/// Change the level.
pub fn set_level(_level: u8) {}
/// Turn stderr logging on or off.
pub fn set_stderr(_on: bool) {}
/// The local time now.
pub fn now_local() -> crate::issue::LocalTime {
    crate::issue::LocalTime::default()
}
