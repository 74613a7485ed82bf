//! The modem's pty and the stable symlink to its slave.
//!
//! The pty comes from [`crate::sys::tty::openpty`] (both ends close-on-exec from the start); the
//! modem keeps the master, non-blocking, and closes its copy of the slave, so the getty's
//! close of the slave is seen as a DTR drop (`POLLHUP` on the master, see [`slave_open`]).
//!
//! `--link PATH` never replaces anything but a symlink into `/dev/pts/` (this modem's own
//! earlier link, from this run or the last one): a regular file, a directory or a symlink to
//! anything else stays untouched and the modem refuses to start. On exit the link is removed
//! only while it still points at this modem's slave.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::share::client::Access;
use crate::sys::tty;

/// A new pty: the master (non-blocking) and the slave's path.
pub fn open() -> io::Result<(OwnedFd, PathBuf)> {
    open_as(&Access::default())
}

/// [`open`], the slave with the owner, group and mode of `access` (`--owner`, `--group`,
/// `--link-mode`; each `None` keeps what the pty got), set before any link points at it.
pub fn open_as(access: &Access) -> io::Result<(OwnedFd, PathBuf)> {
    let pty = tty::openpty().map_err(io::Error::other)?;
    tty::set_owner(&pty.slave, access.uid, access.gid, access.mode).map_err(io::Error::other)?;
    tty::set_nonblocking(&pty.master, true).map_err(io::Error::other)?;
    Ok((pty.master, pty.slave_path))
}

/// Whether something has the slave of `master` open (no `POLLHUP` on the master).
pub fn slave_open(master: impl AsFd) -> bool {
    let mut fds = [PollFd::new(master.as_fd(), PollFlags::empty())];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => !fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLHUP)),
        Err(_) => true,
    }
}

/// Whether `link` may be replaced: it does not exist, or it is a symlink into `/dev/pts/`.
fn replaceable(link: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(link) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.file_type().is_symlink() => {
            let to = std::fs::read_link(link)?;
            if to.starts_with("/dev/pts/") {
                Ok(())
            } else {
                Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} is a symlink to {}, not a pty: not replacing it",
                        link.display(),
                        to.display()
                    ),
                ))
            }
        }
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a symlink: not replacing it",
                link.display()
            ),
        )),
    }
}

/// Point `link` at `target` (atomically, via a temporary symlink renamed over it), unless
/// `link` is something other than a pty symlink.
pub fn make_link(link: &Path, target: &Path) -> io::Result<()> {
    replaceable(link)?;
    let mut tmp = link.as_os_str().to_owned();
    tmp.push(format!(".rgetty-tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Remove `link` if it still points at `target`.
pub fn remove_link(link: &Path, target: &Path) {
    if std::fs::read_link(link).is_ok_and(|t| t == target) {
        let _ = std::fs::remove_file(link);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_replaces_only_pty_symlinks() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let link = d.path().join("ttyVM");
        let pts = Path::new("/dev/pts/999");
        assert!(make_link(&link, pts).is_ok());
        assert!(make_link(&link, Path::new("/dev/pts/998")).is_ok());
        assert_eq!(
            std::fs::read_link(&link).ok().as_deref(),
            Some(Path::new("/dev/pts/998"))
        );
        remove_link(&link, pts); // not ours any more: stays
        assert!(link.symlink_metadata().is_ok());
        remove_link(&link, Path::new("/dev/pts/998"));
        assert!(link.symlink_metadata().is_err());
        // a regular file, and a symlink elsewhere, are left alone
        std::fs::write(&link, "keep").unwrap_or_else(|e| panic!("{e}"));
        let e = make_link(&link, pts).unwrap_err();
        assert!(e.to_string().contains("not a symlink"), "{e}");
        assert_eq!(std::fs::read_to_string(&link).ok().as_deref(), Some("keep"));
        let other = d.path().join("other");
        std::os::unix::fs::symlink("/etc/passwd", &other).unwrap_or_else(|e| panic!("{e}"));
        assert!(make_link(&other, pts).is_err());
        assert_eq!(
            std::fs::read_link(&other).ok().as_deref(),
            Some(Path::new("/etc/passwd"))
        );
        assert_eq!(
            std::fs::read_dir(d.path()).map(Iterator::count).ok(),
            Some(2)
        );
    }
}
