//! Files written as root that a symlink or a hard link must never redirect: the pid file, the
//! failure counter, the log, utmp and wtmp.
//!
//! * [`open_append`] / [`open_rw`] open with `O_NOFOLLOW` (a symlink as the last component
//!   fails with `ELOOP`) and `O_NONBLOCK|O_NOCTTY` (a FIFO or tty planted there neither blocks
//!   nor becomes our controlling tty), then `fstat` the open fd: it must be a regular file with
//!   one link, so a hard link to `/etc/shadow` is refused too.
//! * [`replace`] writes a whole small file (pid file, counter) into a new file created with
//!   `O_EXCL|O_NOFOLLOW` next to it, then renames it over the old name: `rename` replaces a
//!   symlink itself, never its target.
//! * [`fd_path`] names an open file for a C library that insists on a path (glibc's utmp):
//!   `/proc/self/fd/N` reopens exactly the inode checked here.
//!
//! Symlinks in the directories above are the admin's business (root-owned directories).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Flags added to every open here.
const SAFE_FLAGS: i32 = libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK;

/// Why an open file is refused, if it is: anything but a regular file with one link.
pub fn refusal(meta: &fs::Metadata) -> Option<&'static str> {
    let ft = meta.file_type();
    if ft.is_symlink() {
        Some("is a symlink")
    } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() || ft.is_socket() {
        Some("is not a regular file")
    } else if ft.is_dir() {
        Some("is a directory")
    } else if meta.nlink() > 1 {
        Some("has more than one link")
    } else {
        None
    }
}

fn refused(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{} {why}: not writing through it", path.display()),
    )
}

/// `ELOOP` from `O_NOFOLLOW` as a readable error.
fn open_error(path: &Path, e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        refused(path, "is a symlink")
    } else {
        e
    }
}

/// Open `path` with `opts` plus the safe flags, then check the open fd.
fn open_checked(path: &Path, opts: &mut OpenOptions) -> io::Result<File> {
    let file = opts
        .custom_flags(SAFE_FLAGS)
        .open(path)
        .map_err(|e| open_error(path, e))?;
    if let Some(why) = refusal(&file.metadata()?) {
        return Err(refused(path, why));
    }
    Ok(file)
}

/// Open `path` for appending, creating it with `mode` (before the umask) if missing.
pub fn open_append(path: &Path, mode: u32) -> io::Result<File> {
    open_checked(
        path,
        OpenOptions::new().append(true).create(true).mode(mode),
    )
}

/// Open `path` for reading and writing, creating it with `mode` if missing.
pub fn open_rw(path: &Path, mode: u32) -> io::Result<File> {
    open_checked(
        path,
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(mode),
    )
}

/// Read a small file without following a symlink; `None` when it is missing or refused.
pub fn read_to_string(path: &Path) -> Option<String> {
    let mut file = open_checked(path, OpenOptions::new().read(true)).ok()?;
    let mut s = String::new();
    file.read_to_string(&mut s).ok()?;
    Some(s)
}

/// Replace `path` by a file holding `contents` with exactly `mode`: written to a fresh
/// `.NAME.PID.tmp` (`O_CREAT|O_EXCL|O_NOFOLLOW`) in the same directory and renamed over
/// `path`. A symlink at `path` is replaced, its target never touched.
pub fn replace(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let tmp = temp_name(path);
    let create = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode & 0o777)
            .custom_flags(SAFE_FLAGS)
            .open(&tmp)
    };
    let mut file = match create() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // A stale temp file (or anything planted there): unlink removes the name only.
            fs::remove_file(&tmp)?;
            create()?
        }
        other => other?,
    };
    let written = file
        .write_all(contents)
        .and_then(|()| file.set_permissions(fs::Permissions::from_mode(mode)))
        .and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

fn temp_name(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = format!(".{}.{}.tmp", name.unwrap_or_default(), std::process::id());
    path.with_file_name(tmp)
}

/// `/proc/self/fd/N` for an open file, when /proc is mounted: opening it opens the same inode,
/// whatever happens to the original name meanwhile.
pub fn fd_path(file: &File) -> Option<PathBuf> {
    let p = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    p.exists().then_some(p)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        fs::write(&victim, "secret\n").unwrap();
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();
        (d, victim)
    }

    fn victim_unchanged(victim: &Path) {
        assert_eq!(fs::read_to_string(victim).unwrap(), "secret\n");
        let mode = fs::metadata(victim).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn append_creates_and_appends() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("log");
        open_append(&p, 0o644).unwrap().write_all(b"a\n").unwrap();
        open_append(&p, 0o644).unwrap().write_all(b"b\n").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "a\nb\n");
    }

    #[test]
    fn append_refuses_symlink_hardlink_fifo() {
        let (d, victim) = setup();
        let link = d.path().join("log");
        symlink(&victim, &link).unwrap();
        let e = open_append(&link, 0o644).unwrap_err();
        assert!(e.to_string().contains("is a symlink"), "{e}");
        let e = open_rw(&link, 0o644).unwrap_err();
        assert!(e.to_string().contains("is a symlink"), "{e}");
        let hard = d.path().join("hard");
        fs::hard_link(&victim, &hard).unwrap();
        let e = open_append(&hard, 0o644).unwrap_err();
        assert!(e.to_string().contains("more than one link"), "{e}");
        victim_unchanged(&victim);
        let fifo = d.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // No reader: ENXIO; with a reader the fstat check refuses it.
        assert!(open_append(&fifo, 0o644).is_err());
        let e = open_rw(&fifo, 0o644).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(read_to_string(&link).is_none());
    }

    #[test]
    fn replace_replaces_a_symlink_not_its_target() {
        let (d, victim) = setup();
        let pid = d.path().join("pid");
        symlink(&victim, &pid).unwrap();
        replace(&pid, b"42\n", 0o644).unwrap();
        victim_unchanged(&victim);
        let meta = fs::symlink_metadata(&pid).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o644);
        assert_eq!(read_to_string(&pid).unwrap(), "42\n");
    }

    #[test]
    fn replace_survives_a_planted_temp_symlink() {
        let (d, victim) = setup();
        let pid = d.path().join("pid");
        symlink(&victim, temp_name(&pid)).unwrap();
        replace(&pid, b"7\n", 0o600).unwrap();
        victim_unchanged(&victim);
        assert_eq!(read_to_string(&pid).unwrap(), "7\n");
        assert!(!temp_name(&pid).exists());
    }

    #[test]
    fn fd_path_reopens_the_checked_inode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("utmp");
        let f = open_rw(&p, 0o664).unwrap();
        if let Some(proc_path) = fd_path(&f) {
            fs::rename(&p, d.path().join("moved")).unwrap();
            fs::write(&proc_path, b"x").unwrap();
            assert_eq!(fs::read(d.path().join("moved")).unwrap(), b"x");
        }
    }
}
