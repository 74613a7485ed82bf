//! The one way `rgetty`, `rgetty --check` and `rgetty-ringd` read a config file.
//!
//! The only I/O in [`crate::config`]. [`load`] opens the file once with
//! `O_RDONLY|O_NONBLOCK|O_NOFOLLOW|O_CLOEXEC`, `fstat`s that open fd, requires a regular file of
//! at most [`MAX_BYTES`], applies the owner/mode policy of its [`Trust`] to the same fd and only
//! then reads it. Nothing is checked by path and opened again, so what is checked is what is
//! read; a FIFO, `/dev/zero` or a directory is refused before a single byte is read, and a
//! symbolic link is never followed.
//!
//! The policy: a file whose lines run commands ([`Trust::Commands`]: login.config, ring
//! patterns, xringd.conf, mgetty.config) must be owned by root (or by the user we run as, which for the
//! getty is root) and not writable by group or others. That the
//! file is *readable* by others is only reported ([`Source::others_can_read`]): the caller
//! decides whether to warn (xringd) or refuse (`--strict-perms`, `ring-patterns-perms refuse`,
//! login.config).

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

/// The largest config file read: 1 MiB.
pub const MAX_BYTES: u64 = 1 << 20;

/// What a file may do, and so who may own and write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Settings only (dialin.config, the issue file): any owner and mode.
    Settings,
    /// Its lines run commands as root (login.config, ring patterns, xringd.conf, and
    /// mgetty.config, whose `cid-program`, `cnd-program` and `issue-file !cmd` run as root): it must be
    /// owned by root and not writable by group or others.
    Commands,
}

/// A config file read by [`load`]: its text and the owner and mode of the fd it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The path as given (for messages).
    pub path: PathBuf,
    /// The contents (invalid UTF-8 replaced).
    pub text: String,
    /// The contents as read (for files that are not text to us: the issue file).
    pub bytes: Vec<u8>,
    /// The owner's uid.
    pub uid: u32,
    /// `st_mode` (file type and permission bits).
    pub mode: u32,
}

impl Source {
    /// A message when group or others can read the file, `None` when they cannot.
    pub fn others_can_read(&self) -> Option<String> {
        (self.mode & 0o044 != 0).then(|| {
            format!(
                "{} is readable by group or others (mode {:04o})",
                self.path.display(),
                self.mode & 0o7777
            )
        })
    }

    /// A message when group or others have any access to the file, `None` when they have none.
    pub fn others_have_access(&self) -> Option<String> {
        (self.mode & 0o077 != 0).then(|| {
            format!(
                "{} is accessible by group or others (owner uid {}, mode {:04o})",
                self.path.display(),
                self.uid,
                self.mode & 0o7777
            )
        })
    }
}

/// Why a config file was not read. Each displays as one line naming the file and the reason.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file does not exist.
    #[error("{}: not found", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The file is a symbolic link (never followed).
    #[error("{}: is a symbolic link; refusing to follow it", path.display())]
    Symlink {
        /// The file.
        path: PathBuf,
    },
    /// Opening, `fstat` or reading failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Not a regular file: a FIFO, a device, a directory, a socket.
    #[error("{}: is {what}, not a regular file; refusing it", path.display())]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead (`a FIFO`, `a directory`, …).
        what: &'static str,
    },
    /// Larger than [`MAX_BYTES`].
    #[error("{}: is {size} bytes, over the 1 MiB limit; refusing it", path.display())]
    TooBig {
        /// The file.
        path: PathBuf,
        /// Its size (or at least the bytes seen).
        size: u64,
    },
    /// A [`Trust::Commands`] file owned by neither root nor the user we run as.
    #[error(
        "{}: owned by uid {uid}, not root{}; refusing it (its lines run commands)",
        path.display(),
        if *me == 0 { String::new() } else { format!(" or uid {me}") }
    )]
    NotRoot {
        /// The file.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// The effective uid we run as.
        me: u32,
    },
    /// A [`Trust::Commands`] file that group or others can write.
    #[error(
        "{}: writable by group or others (mode {mode:04o}); refusing it (its lines run commands)",
        path.display()
    )]
    Writable {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

impl LoadError {
    /// Whether the file simply does not exist (callers often fall back to defaults then).
    pub fn is_missing(&self) -> bool {
        matches!(self, LoadError::Missing { .. })
    }
}

/// What the file type bits of `mode` say, when they do not say "regular file".
fn irregular(mode: u32) -> Option<&'static str> {
    match mode & libc::S_IFMT {
        libc::S_IFREG => None,
        libc::S_IFDIR => Some("a directory"),
        libc::S_IFIFO => Some("a FIFO"),
        libc::S_IFCHR => Some("a character device"),
        libc::S_IFBLK => Some("a block device"),
        libc::S_IFSOCK => Some("a socket"),
        libc::S_IFLNK => Some("a symbolic link"),
        _ => Some("a special file"),
    }
}

/// The checks made on the open fd, before reading: type, size, then the owner/mode policy.
/// Pure: `mode` is `st_mode`, `me` the effective uid we run as (a file of our own runs
/// nothing we could not run anyway; for root, only root's files are trusted).
pub fn check_fd_facts(
    path: &Path,
    trust: Trust,
    mode: u32,
    uid: u32,
    size: u64,
    me: u32,
) -> Result<(), LoadError> {
    let path = path.to_path_buf();
    if let Some(what) = irregular(mode) {
        return Err(LoadError::NotRegular { path, what });
    }
    if size > MAX_BYTES {
        return Err(LoadError::TooBig { path, size });
    }
    if trust == Trust::Commands {
        if uid != 0 && uid != me {
            return Err(LoadError::NotRoot { path, uid, me });
        }
        if mode & 0o022 != 0 {
            return Err(LoadError::Writable {
                path,
                mode: mode & 0o7777,
            });
        }
    }
    Ok(())
}

/// Open without following a symlink and without blocking (a FIFO must not hang us).
fn open_nofollow(path: &Path) -> Result<OwnedFd, LoadError> {
    let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    loop {
        match open(path, flags, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(Errno::EINTR) => {}
            Err(Errno::ENOENT) => {
                return Err(LoadError::Missing {
                    path: path.to_path_buf(),
                });
            }
            Err(Errno::ELOOP) => {
                return Err(LoadError::Symlink {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => {
                return Err(LoadError::Io {
                    path: path.to_path_buf(),
                    source: io::Error::from(e),
                });
            }
        }
    }
}

/// Read the config file at `path` under the policy for `trust` (see the module comment).
pub fn load(path: &Path, trust: Trust) -> Result<Source, LoadError> {
    let io_err = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::from(open_nofollow(path)?);
    let meta = file.metadata().map_err(io_err)?;
    let me = nix::unistd::geteuid().as_raw();
    check_fd_facts(path, trust, meta.mode(), meta.uid(), meta.size(), me)?;
    // Read at most one byte past the limit: a file that grew since fstat is refused too.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.size()).unwrap_or(0));
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > MAX_BYTES {
        return Err(LoadError::TooBig {
            path: path.to_path_buf(),
            size,
        });
    }
    Ok(Source {
        path: path.to_path_buf(),
        text: String::from_utf8_lossy(&bytes).into_owned(),
        bytes,
        uid: meta.uid(),
        mode: meta.mode(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    const REG: u32 = libc::S_IFREG;

    #[test]
    fn policy_table() {
        let p = Path::new("f");
        let ok = |trust, mode, uid| check_fd_facts(p, trust, mode, uid, 10, 0).is_ok();
        assert!(ok(Trust::Commands, REG | 0o600, 0));
        assert!(
            ok(Trust::Commands, REG | 0o644, 0),
            "readable is the caller's call"
        );
        assert!(!ok(Trust::Commands, REG | 0o620, 0));
        assert!(!ok(Trust::Commands, REG | 0o602, 0));
        assert!(!ok(Trust::Commands, REG | 0o600, 1000));
        assert!(ok(Trust::Settings, REG | 0o666, 1000));
        assert!(!ok(Trust::Settings, libc::S_IFIFO | 0o600, 0));
        assert!(!ok(Trust::Settings, libc::S_IFDIR | 0o755, 0));
        assert!(!ok(Trust::Settings, libc::S_IFCHR | 0o666, 0));
        let big = check_fd_facts(p, Trust::Settings, REG | 0o600, 0, MAX_BYTES + 1, 0);
        assert!(
            big.unwrap_err()
                .to_string()
                .contains("over the 1 MiB limit")
        );
        assert!(check_fd_facts(p, Trust::Settings, REG | 0o600, 0, MAX_BYTES, 0).is_ok());
    }

    #[test]
    fn messages_name_file_and_reason() {
        let p = Path::new("/etc/x.conf");
        let e = check_fd_facts(p, Trust::Commands, REG | 0o666, 0, 1, 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/x.conf: writable by group or others (mode 0666); refusing it (its lines run commands)"
        );
        let e = check_fd_facts(p, Trust::Commands, REG | 0o600, 65534, 1, 0).unwrap_err();
        assert!(
            e.to_string().contains("owned by uid 65534, not root;"),
            "{e}"
        );
        // A daemon run by uid 1000 trusts its own files too, not other users'.
        assert!(check_fd_facts(p, Trust::Commands, REG | 0o600, 1000, 1, 1000).is_ok());
        let e = check_fd_facts(p, Trust::Commands, REG | 0o600, 65534, 1, 1000).unwrap_err();
        assert!(e.to_string().contains("not root or uid 1000;"), "{e}");
        let e = check_fd_facts(p, Trust::Settings, libc::S_IFIFO, 0, 0, 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/x.conf: is a FIFO, not a regular file; refusing it"
        );
    }

    #[test]
    fn refuses_devices_fifos_dirs_symlinks_and_big_files() {
        let dir = tempfile::tempdir().unwrap();
        let is = |p: &Path, want: &str| {
            let e = load(p, Trust::Settings).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        };
        is(Path::new("/dev/zero"), "a character device");
        is(dir.path(), "a directory");
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
        is(&fifo, "a FIFO");
        let big = dir.path().join("big");
        fs::write(&big, vec![b'#'; 1 << 21]).unwrap();
        is(&big, "over the 1 MiB limit");
        let good = dir.path().join("good");
        fs::write(&good, "speed 38400\n").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&good, &link).unwrap();
        is(&link, "symbolic link");
        assert!(
            load(&dir.path().join("nope"), Trust::Settings)
                .unwrap_err()
                .is_missing()
        );
        let s = load(&good, Trust::Settings).unwrap();
        assert_eq!(s.text, "speed 38400\n");
    }

    #[test]
    fn readability_is_reported_not_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, "x").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        let Ok(s) = load(&f, Trust::Settings) else {
            panic!("not loaded")
        };
        assert!(s.others_can_read().unwrap().contains("mode 0644"));
        fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).unwrap();
        let s = load(&f, Trust::Settings).unwrap();
        assert_eq!(s.others_can_read(), None);
        assert_eq!(s.others_have_access(), None);
    }
}
