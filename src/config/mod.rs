//! Configuration files: mgetty.config, login.config, dialin.config and xringd.conf.
//!
//! The parsers are pure: they take text and never open files (the path they get is for
//! messages only). [`load`] is the one place that reads a config file, for every file and
//! every caller (the getty, `rgetty --check`, rgetty-ringd), under one owner/mode policy.

use std::fmt;
use std::path::PathBuf;

pub mod blocklist;
pub mod dialin;
pub mod load;
pub mod login;
pub mod mgetty;
pub mod suspect;
pub mod xringd;

/// Where a config item came from: a file and a 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as given by the caller (for messages only).
    pub path: PathBuf,
    /// 1-based line number (the first physical line of a continued line).
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)
    }
}

/// One problem found in a config file. Displays as `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{loc}: {msg}")]
pub struct ConfigError {
    /// Where the bad line is.
    pub loc: Location,
    /// What is wrong with it, lowercase, showing the bad value.
    pub msg: String,
}

impl ConfigError {
    /// Build an error for `path:line`.
    pub fn new(path: impl Into<PathBuf>, line: usize, msg: impl Into<String>) -> Self {
        ConfigError {
            loc: Location {
                path: path.into(),
                line,
            },
            msg: msg.into(),
        }
    }
}
