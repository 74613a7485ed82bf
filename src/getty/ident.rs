//! [`LineNames`]: the identities of the tty rgetty serves, computed once at start-up.

use std::path::PathBuf;

use super::cli::{dev_id, device_name};
use crate::sys::lock::LockDir;

/// Every name the tty goes by (mgetty §0), computed once so that all rooms agree.
#[derive(Debug, Clone)]
pub struct LineNames {
    /// The tty argument as given on the command line (`/dev/ttyS0`, `ttyS0`, `pts/3`).
    pub given: String,
    /// mgetty's Device: the argument without a leading `/dev/` (`ttyS0`, `pts/3`).
    pub device: String,
    /// The device's path (`/dev/ttyS0`): what is opened, chowned and chmodded.
    pub path: PathBuf,
    /// The path with symlinks resolved (the path itself when that fails).
    pub real: PathBuf,
    /// DevID: the Device with `/` → `-` (`pts-3`), used in file names.
    pub dev_id: String,
    /// The lock file for this line (what [`LockDir::lock_name_for`] gives).
    pub lock: PathBuf,
    /// The utmp `ut_id` rgetty uses when it creates a record: the Device's last 4 bytes.
    pub utmp_id: String,
}

impl LineNames {
    /// The identities of the tty named `given`, with its lock file in `locks`.
    pub fn new(given: &str, locks: &LockDir) -> LineNames {
        let device = device_name(given);
        let path = crate::sys::tty::device_path(&device);
        let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        let b = device.as_bytes();
        let utmp_id = String::from_utf8_lossy(&b[b.len().saturating_sub(4)..]).into_owned();
        LineNames {
            given: given.to_string(),
            dev_id: dev_id(&device),
            lock: locks.lock_name_for(&path),
            device,
            path,
            real,
            utmp_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::lock::Naming;

    #[test]
    fn names() {
        let locks = LockDir::new("/nonexistent-lock-dir", Naming::Upstream);
        let l = LineNames::new("/dev/pts/12", &locks);
        assert_eq!(l.device, "pts/12");
        assert_eq!(l.path, PathBuf::from("/dev/pts/12"));
        assert_eq!(l.dev_id, "pts-12");
        assert_eq!(l.utmp_id, "s/12");
        assert_eq!(l.lock, locks.lock_name_for(&l.path));
        let l = LineNames::new("ttyS0", &locks);
        assert_eq!((l.device.as_str(), l.utmp_id.as_str()), ("ttyS0", "tyS0"));
    }
}
