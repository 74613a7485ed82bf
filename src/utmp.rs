//! utmp/wtmp records (temporary stub; the full module lands from the io branch).

use std::path::PathBuf;

/// Record kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// INIT_PROCESS.
    Init,
    /// LOGIN_PROCESS.
    Login,
    /// USER_PROCESS.
    User,
    /// DEAD_PROCESS.
    Dead,
}

/// utmp and wtmp paths.
#[derive(Debug, Clone)]
pub struct UtmpFiles {
    /// utmp.
    pub utmp: PathBuf,
    /// wtmp.
    pub wtmp: PathBuf,
}

impl UtmpFiles {
    /// Update our record.
    pub fn update(&self, _k: Kind, _user: &str, _host: &str, _line: &str) -> std::io::Result<()> {
        Ok(())
    }
    /// Number of USER_PROCESS records.
    pub fn count_users(&self) -> usize {
        0
    }
}
