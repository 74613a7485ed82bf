//! A modem line's settings, and the small I/O helpers the line's halves share.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use crate::modem::cid;
use crate::modem::dial::Phonebook;

/// Settings of one modem line.
#[derive(Debug, Clone)]
pub struct ModemSettings {
    /// Speed in `CONNECT` messages (and of `--throttle`).
    pub speed: u32,
    /// Power-on S0: answer after this many RINGs (0: wait for `ATA`).
    pub rings: u8,
    /// Interval between RINGs of an incoming call.
    pub ring_interval: Duration,
    /// A caller must stay connected this long before the line rings.
    pub answer_delay: Duration,
    /// Refuse an address for this long after its last call.
    pub cooldown: Duration,
    /// Calls use telnet unless a phonebook entry says otherwise.
    pub telnet: bool,
    /// Answered calls stay raw (no telnet detection, see [`crate::modem::wire::Wire::detect`]).
    pub raw: bool,
    /// Pace both directions at `speed`.
    pub throttle: bool,
    /// Caller-ID format.
    pub caller_id: cid::Format,
    /// Phonebook and dial rules.
    pub phonebook: Phonebook,
    /// The symlink to the slave.
    pub link: PathBuf,
    /// Owner, group and mode of each pty slave.
    pub access: crate::share::client::Access,
    /// Where dials may go.
    pub dial: crate::modem::policy::DialPolicy,
    /// Dials a minute (0: no limit).
    pub dial_limit: u32,
}

pub(super) fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

pub(super) fn min_opt(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Write as much of `buf` to `w` as it takes now; `Err` on a real error.
pub(super) fn flush_to(w: &mut impl Write, buf: &mut Vec<u8>) -> io::Result<()> {
    while !buf.is_empty() {
        match w.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf.drain(..n);
            }
            Err(e) if would_block(&e) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
