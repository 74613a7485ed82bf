//! Every lock file name other programs use for one device (pure: no I/O).
//!
//! Dial-out programs disagree on how a device becomes a lock name:
//! - upstream mgetty, Debian's cu (Taylor UUCP): the basename (`/dev/pts/3` → `LCK..3`);
//! - Debian's mgetty, minicom, pppd, ser2net (FHS): the path below `/dev/` with `/` → `_`
//!   (`LCK..pts_3`);
//! - each of them uses the name it was given: `cu -l /dev/modem` locks `LCK..modem` even
//!   when `/dev/modem` is a symlink to `/dev/ttyS0`;
//! - lockdev (SVR4): `LK.<major of the fs holding the node>.<major>.<minor>`, three digits
//!   each (`LK.%03d.%03d.%03d` of `major(st_dev)`, `major(st_rdev)`, `minor(st_rdev)`).
//!
//! [`lock_names`] lists them all for a device given by one name that resolves to a real one.

use std::path::Path;

/// How a device path becomes the primary lock file name (the one created first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Naming {
    /// Upstream mgetty: the basename after the last `/` (`pts/1` → `LCK..1`).
    #[default]
    Upstream,
    /// Debian (and FHS, pppd, ser2net): the path below `/dev/` with `/` → `_`
    /// (`pts/1` → `LCK..pts_1`).
    Debian,
}

/// The part of the lock name after `LCK..` for a device path under one naming scheme. A
/// path outside `/dev` is named by its whole path with `/` → `_` in both schemes.
pub fn lock_stem(path: &Path, naming: Naming) -> String {
    let s = path.to_string_lossy();
    match s.strip_prefix("/dev/") {
        Some(below) => match naming {
            Naming::Upstream => below.rsplit('/').next().unwrap_or(below).to_string(),
            Naming::Debian => below.replace('/', "_"),
        },
        None => s.trim_start_matches('/').replace('/', "_"),
    }
}

/// The lockdev/SVR4 name: `LK.<fs major>.<major>.<minor>`, each at least three digits.
pub fn svr4_name(fs_major: u64, major: u64, minor: u64) -> String {
    format!("LK.{fs_major:03}.{major:03}.{minor:03}")
}

fn stems(path: &Path) -> [String; 3] {
    let base = path
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    [
        lock_stem(path, Naming::Upstream),
        lock_stem(path, Naming::Debian),
        base,
    ]
}

/// Every lock file name for a device: the primary one first (the real device under
/// `naming`), then the real device under the other scheme, the name as given under both
/// schemes (and its bare basename), the same for every other symlink to the device in
/// `aliases`, and the SVR4 name when `svr4` (`st_dev` major, `st_rdev` major and minor of the
/// real node) is known. No duplicates, no empty or dot names.
pub fn lock_names(
    given: &Path,
    real: &Path,
    naming: Naming,
    svr4: Option<(u64, u64, u64)>,
    aliases: &[std::path::PathBuf],
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let primary = lock_stem(real, naming);
    let others = aliases.iter().flat_map(|a| stems(a));
    for stem in std::iter::once(primary)
        .chain(stems(real))
        .chain(stems(given))
        .chain(others)
    {
        let name = format!("LCK..{stem}");
        if !stem.is_empty() && !stem.contains('/') && stem != "." && !out.contains(&name) {
            out.push(name);
        }
    }
    if let Some((fs, ma, mi)) = svr4 {
        out.push(svr4_name(fs, ma, mi));
    }
    out
}

/// The pid holding an `FLOCK` on the inode `ino` of the filesystem `dev_major:dev_minor`,
/// from the text of `/proc/locks` (`1: FLOCK  ADVISORY  WRITE 1234 00:19:6 0 EOF`; the
/// device numbers are hexadecimal). Blocked waiters (`->` lines) are skipped.
pub fn flock_holder_pid(proc_locks: &str, dev_major: u64, dev_minor: u64, ino: u64) -> Option<i32> {
    let want = format!("{dev_major:02x}:{dev_minor:02x}:{ino}");
    proc_locks.lines().find_map(|line| {
        let mut w = line.split_whitespace();
        let _id = w.next()?;
        if w.next()? != "FLOCK" {
            return None;
        }
        let _advisory = w.next()?;
        let _mode = w.next()?;
        let pid: i32 = w.next()?.parse().ok()?;
        (w.next()? == want).then_some(pid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_in_both_schemes() {
        let p = Path::new("/dev/pts/1");
        assert_eq!(lock_stem(p, Naming::Upstream), "1");
        assert_eq!(lock_stem(p, Naming::Debian), "pts_1");
        assert_eq!(
            lock_stem(Path::new("/dev/ttyUSB0"), Naming::Upstream),
            "ttyUSB0"
        );
        assert_eq!(
            lock_stem(Path::new("/tmp/x/tty"), Naming::Debian),
            "tmp_x_tty"
        );
    }

    #[test]
    fn every_name_of_a_symlinked_device() {
        let n = lock_names(
            Path::new("/dev/modem"),
            Path::new("/dev/pts/3"),
            Naming::Debian,
            Some((0, 136, 3)),
            &[],
        );
        assert_eq!(n, ["LCK..pts_3", "LCK..3", "LCK..modem", "LK.000.136.003"]);
        let n = lock_names(
            Path::new("/dev/ttyUSB0"),
            Path::new("/dev/ttyUSB0"),
            Naming::Upstream,
            Some((5, 4, 64)),
            &["/dev/serial/by-id/usb-X-if00".into(), "/dev/modem".into()],
        );
        assert_eq!(
            n,
            [
                "LCK..ttyUSB0",
                "LCK..usb-X-if00",
                "LCK..serial_by-id_usb-X-if00",
                "LCK..modem",
                "LK.005.004.064"
            ]
        );
        // A link outside /dev: its full-path name and its basename.
        let n = lock_names(
            Path::new("/tmp/t/modem"),
            Path::new("/dev/pts/12"),
            Naming::Upstream,
            None,
            &[],
        );
        assert_eq!(
            n,
            ["LCK..12", "LCK..pts_12", "LCK..tmp_t_modem", "LCK..modem"]
        );
        assert_eq!(svr4_name(0, 136, 1234), "LK.000.136.1234");
    }

    #[test]
    fn proc_locks() {
        let text = "1: POSIX  ADVISORY  WRITE 99 00:19:6 0 EOF\n\
                    2: FLOCK  ADVISORY  WRITE 4242 00:19:6 0 EOF\n\
                    2: -> FLOCK  ADVISORY  WRITE 77 00:19:6 0 EOF\n\
                    3: FLOCK  ADVISORY  WRITE 17 fd:01:6 0 EOF\n";
        assert_eq!(flock_holder_pid(text, 0, 0x19, 6), Some(4242));
        assert_eq!(flock_holder_pid(text, 0xfd, 1, 6), Some(17));
        assert_eq!(flock_holder_pid(text, 0, 0x19, 7), None);
        assert_eq!(flock_holder_pid("", 0, 0, 0), None);
    }
}
