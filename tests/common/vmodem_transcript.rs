//! The transcript of the test bench's virtual modem: every byte both ways, and notes.

use std::fmt::Write as _;
use std::time::Duration;

/// Direction of a transcript entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Bytes the DTE (rgetty) wrote to the modem.
    ToModem,
    /// Bytes the modem or the remote caller sent to the DTE (delivered to the slave).
    ToDte,
    /// A note from the modem (state change, discarded output, script failure).
    Note,
}

/// One transcript entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Time since the modem started.
    pub at: Duration,
    /// Direction.
    pub dir: Dir,
    /// The bytes (for notes, UTF-8 text).
    pub bytes: Vec<u8>,
}

/// A snapshot of everything that crossed the modem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    /// The entries, oldest first.
    pub entries: Vec<Entry>,
}

/// Bytes as printable text: printable ASCII as is, everything else as `[0d]`.
pub fn printable_bytes(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'[' {
            s.push(char::from(b));
        } else {
            let _ = write!(s, "[{b:02x}]");
        }
    }
    s
}

impl Transcript {
    /// One line per entry: `  1.234s to-modem ATQ0V1H0[0d]`.
    pub fn printable(&self) -> String {
        let mut s = String::new();
        for e in &self.entries {
            let (tag, text) = match e.dir {
                Dir::ToModem => ("to-modem", printable_bytes(&e.bytes)),
                Dir::ToDte => ("to-dte  ", printable_bytes(&e.bytes)),
                Dir::Note => ("note    ", String::from_utf8_lossy(&e.bytes).into_owned()),
            };
            let _ = writeln!(s, "{:>9.3}s {tag} {text}", e.at.as_secs_f64());
        }
        s
    }

    fn bytes(&self, dir: Dir) -> Vec<u8> {
        self.entries
            .iter()
            .filter(|e| e.dir == dir)
            .flat_map(|e| e.bytes.iter().copied())
            .collect()
    }

    /// All bytes the DTE wrote, concatenated.
    pub fn to_modem_bytes(&self) -> Vec<u8> {
        self.bytes(Dir::ToModem)
    }

    /// All bytes delivered to the DTE, concatenated.
    pub fn to_dte_bytes(&self) -> Vec<u8> {
        self.bytes(Dir::ToDte)
    }

    /// True if no entry in direction `dir` is at or after `since`.
    pub fn quiet_since(&self, dir: Dir, since: Duration) -> bool {
        !self.entries.iter().any(|e| e.dir == dir && e.at >= since)
    }

    /// Time of the last entry in direction `dir`.
    pub fn last_at(&self, dir: Dir) -> Option<Duration> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.dir == dir)
            .map(|e| e.at)
    }

    /// The notes, as text.
    pub fn notes(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.dir == Dir::Note)
            .map(|e| String::from_utf8_lossy(&e.bytes).into_owned())
            .collect()
    }
}

/// Why a wait failed.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The condition did not come true in time.
    #[error("timed out after {waited:?} waiting for {what}; transcript:\n{transcript}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        waited: Duration,
        /// The printable transcript at the time.
        transcript: String,
    },
    /// The pattern is not a valid regex.
    #[error("bad regex {pattern:?}: {source}")]
    Regex {
        /// The pattern.
        pattern: String,
        /// Why.
        source: regex::Error,
    },
    /// The caller script failed.
    #[error("caller script failed: {reason}; transcript:\n{transcript}")]
    CallerFailed {
        /// Why.
        reason: String,
        /// The printable transcript at the time.
        transcript: String,
    },
}
