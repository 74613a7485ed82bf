//! UUCP lock files (docs/behaviour.md §7), shared with cu, pppd, minicom and rgetty-share.
//!
//! Format: HDB/FHS ASCII, the pid right-aligned in 10 columns plus a newline, mode 0644.
//! Creation is atomic: a private temp file (`mkstemp`) is written and then `link(2)`ed to the
//! lock name, so two racing processes can never both win. A lock whose pid is dead
//! (`kill(pid, 0)` gives ESRCH) is stale: it is removed and retaken. A lock holding our own pid
//! is ours. The lock name comes from the device's real path (symlinks resolved), so
//! `/dev/modem` → `/dev/ttyS0` and `ttyS0` find the same `LCK..ttyS0`.

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// How a device path becomes a lock file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Naming {
    /// Upstream mgetty: the basename after the last `/` (`pts/1` → `LCK..1`).
    #[default]
    Upstream,
    /// Debian (and FHS, pppd, ser2net): the path below `/dev/` with `/` → `_`
    /// (`pts/1` → `LCK..pts_1`).
    Debian,
}

/// A live foreign process holding a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its pid.
    pub pid: i32,
    /// Its command line from /proc (NULs turned into spaces, at most 80 characters); empty if
    /// unreadable.
    pub cmdline: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} ({:?})", self.pid, self.cmdline)
    }
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// A live process holds it.
    #[error("lock file {path} exists: held by {holder}")]
    Held {
        /// The lock file.
        path: PathBuf,
        /// The process holding it.
        holder: Holder,
    },
    /// A file operation failed (e.g. the lock dir is missing or not writable).
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> LockError {
    let path = path.to_path_buf();
    move |source| LockError::Io { op, path, source }
}

/// A directory of UUCP lock files (default `/var/lock`).
#[derive(Debug, Clone)]
pub struct LockDir {
    dir: PathBuf,
    naming: Naming,
}

/// A lock we hold. Dropping it removes the file, unless it no longer holds our pid.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    pid: i32,
    armed: bool,
}

impl Lock {
    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Remove the lock file now.
    pub fn release(mut self) {
        self.remove();
    }

    /// Keep the lock file after this value is gone: used when exec'ing the login program,
    /// which inherits our pid and with it the lock (§7).
    pub fn keep(mut self) {
        self.armed = false;
    }

    fn remove(&mut self) {
        if !self.armed {
            return;
        }
        self.armed = false;
        // Never delete a lock that someone else has taken over meanwhile.
        if read_pid(&self.path).ok().flatten() == Some(self.pid) {
            if let Err(e) = fs::remove_file(&self.path) {
                log::warn!("cannot remove lock file {}: {e}", self.path.display());
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The lock content for `pid`: ten columns, right-aligned, newline (11 bytes).
pub fn format_pid(pid: i32) -> String {
    format!("{pid:>10}\n")
}

/// Parse a lock file's content the way mgetty does: ASCII decimal (leading blanks allowed);
/// if that fails, is 0, or the file is exactly 4 bytes, the first 4 bytes as a native int
/// (binary locks). `None` if nothing sensible is there.
pub fn parse_pid(content: &[u8]) -> Option<i32> {
    let ascii = std::str::from_utf8(content)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|&p| p > 0);
    if content.len() != 4 {
        if let Some(p) = ascii {
            return Some(p);
        }
    }
    let bytes: [u8; 4] = content.get(..4)?.try_into().ok()?;
    Some(i32::from_ne_bytes(bytes)).filter(|&p| p > 0)
}

fn read_pid(path: &Path) -> io::Result<Option<i32>> {
    let mut f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut buf = [0u8; 19];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(parse_pid(&buf[..n]))
}

/// This process's pid as stored in lock files.
fn my_pid() -> i32 {
    i32::try_from(std::process::id()).unwrap_or(i32::MAX)
}

/// Remove the lock file of dead process `pid` — but only if it still names that pid: another
/// process may have replaced it in the meantime.
fn remove_stale(path: &Path, pid: i32) {
    log::info!(
        "stale lockfile {}, created by process {pid}, removing",
        path.display()
    );
    if read_pid(path).ok().flatten() == Some(pid) {
        let _ = fs::remove_file(path);
    }
}

/// Whether `pid` is alive (`kill(pid, 0)`; EPERM counts as alive).
pub fn pid_alive(pid: i32) -> bool {
    !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
}

/// The command line of a process from `/proc/<pid>/cmdline`, NULs as spaces, at most 80
/// characters; empty if unreadable.
pub fn cmdline(pid: i32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let s: String = raw
        .iter()
        .map(|&b| if b == 0 { ' ' } else { char::from(b) })
        .collect::<String>()
        .trim_end()
        .chars()
        .take(80)
        .collect();
    s
}

/// The live holder of the lock file at `path`, if any (stale locks are not removed here).
pub fn holder(path: &Path) -> Option<Holder> {
    let pid = read_pid(path).ok().flatten()?;
    (pid_alive(pid) && pid != my_pid()).then(|| Holder {
        pid,
        cmdline: cmdline(pid),
    })
}

impl LockDir {
    /// A lock directory with the given naming scheme.
    pub fn new(dir: impl Into<PathBuf>, naming: Naming) -> Self {
        LockDir {
            dir: dir.into(),
            naming,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The lock file for a device path: symlinks are resolved first, then the part below
    /// `/dev/` is named by [`Naming`]. A device outside `/dev` (after resolving) is named by
    /// its whole path with `/` → `_`.
    pub fn lock_name_for(&self, device: &Path) -> PathBuf {
        let real = fs::canonicalize(device).unwrap_or_else(|_| device.to_path_buf());
        self.dir
            .join(format!("LCK..{}", lock_stem(&real, self.naming)))
    }

    /// Take the lock for `device` (see the module docs for the protocol).
    pub fn acquire(&self, device: &Path) -> Result<Lock, LockError> {
        self.acquire_path(self.lock_name_for(device))
    }

    /// Take the lock file at an explicit path.
    pub fn acquire_path(&self, path: PathBuf) -> Result<Lock, LockError> {
        let me = my_pid();
        let tmp = self.write_temp(me)?;
        let result = (|| {
            for _ in 0..10 {
                match fs::hard_link(&tmp, &path) {
                    Ok(()) => {
                        return Ok(Lock {
                            path: path.clone(),
                            pid: me,
                            armed: true,
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io_err("cannot create lock", &path)(e)),
                }
                match read_pid(&path).map_err(io_err("cannot read lock", &path))? {
                    None if path.exists() => {
                        // Unparsable content: a writer may be mid-write (not with link(2),
                        // but other programs use O_EXCL + write). Treat as held by nobody
                        // known only if it stays that way.
                        std::thread::sleep(Duration::from_millis(50));
                        if read_pid(&path).ok().flatten().is_none() && path.exists() {
                            log::warn!("removing unreadable lock file {}", path.display());
                            let _ = fs::remove_file(&path);
                        }
                    }
                    None => {} // vanished meanwhile: retry the link
                    Some(pid) if pid == me => {
                        return Ok(Lock {
                            path: path.clone(),
                            pid: me,
                            armed: true,
                        });
                    }
                    Some(pid) if !pid_alive(pid) => remove_stale(&path, pid),
                    Some(pid) => {
                        return Err(LockError::Held {
                            path: path.clone(),
                            holder: Holder {
                                pid,
                                cmdline: cmdline(pid),
                            },
                        });
                    }
                }
            }
            Err(io_err("cannot create lock", &path)(io::Error::other(
                "lock file keeps changing",
            )))
        })();
        let _ = fs::remove_file(&tmp);
        result
    }

    fn write_temp(&self, pid: i32) -> Result<PathBuf, LockError> {
        let template = self.dir.join("LCK..TM.XXXXXX");
        let (fd, tmp) = nix::unistd::mkstemp(&template).map_err(|e| LockError::Io {
            op: "cannot create tempfile in",
            path: self.dir.clone(),
            source: io::Error::from(e),
        })?;
        let mut f = fs::File::from(fd);
        let res = (|| {
            f.set_permissions(fs::Permissions::from_mode(0o644))?;
            // No fsync: lock files live on tmpfs (/run/lock) and die with the machine anyway.
            f.write_all(format_pid(pid).as_bytes())
        })();
        if let Err(e) = res {
            let _ = fs::remove_file(&tmp);
            return Err(io_err("cannot write", &tmp)(e));
        }
        Ok(tmp)
    }

    /// The live foreign holder of `device`'s lock, if any. A stale lock is removed (as
    /// mgetty's `checklock`); our own pid counts as no holder.
    pub fn check(&self, device: &Path) -> Option<Holder> {
        self.check_path(&self.lock_name_for(device))
    }

    /// [`LockDir::check`] for an explicit lock file path.
    pub fn check_path(&self, path: &Path) -> Option<Holder> {
        let pid = read_pid(path).ok().flatten()?;
        if pid == my_pid() {
            return None;
        }
        if !pid_alive(pid) {
            remove_stale(path, pid);
            return None;
        }
        Some(Holder {
            pid,
            cmdline: cmdline(pid),
        })
    }

    /// Block until the lock file at `path` is gone or stale, at no cost while waiting: inotify
    /// on the lock directory wakes us when files there change, and a pidfd on the holder wakes
    /// us when it dies without removing its lock. Without either facility it re-checks every
    /// `fallback` interval. Returns when no live foreign lock exists.
    pub fn wait_until_free(&self, path: &Path, fallback: Duration) {
        self.wait_until_free_unless(path, fallback, &|| false);
    }

    /// [`LockDir::wait_until_free`] that also returns (with `false`) as soon as `stop()` is
    /// true; `stop` is checked whenever a signal interrupts the wait. Returns `true` when the
    /// lock is free.
    pub fn wait_until_free_unless(
        &self,
        path: &Path,
        fallback: Duration,
        stop: &dyn Fn() -> bool,
    ) -> bool {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok();
        if let Some(ino) = &inotify {
            let _ = ino.add_watch(
                &self.dir,
                AddWatchFlags::IN_DELETE
                    | AddWatchFlags::IN_MOVED_FROM
                    | AddWatchFlags::IN_CREATE
                    | AddWatchFlags::IN_MOVED_TO
                    | AddWatchFlags::IN_CLOSE_WRITE
                    | AddWatchFlags::IN_DELETE_SELF,
            );
        }
        loop {
            if stop() {
                return false;
            }
            let Some(holder) = self.check_path(path) else {
                return true;
            };
            let pidfd = pidfd_open(holder.pid);
            let mut fds = Vec::new();
            if let Some(ino) = &inotify {
                fds.push(nix::poll::PollFd::new(
                    ino.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                ));
            }
            if let Some(p) = &pidfd {
                fds.push(nix::poll::PollFd::new(
                    p.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                ));
            }
            let timeout = if inotify.is_some() && pidfd.is_some() {
                nix::poll::PollTimeout::NONE
            } else {
                nix::poll::PollTimeout::try_from(fallback).unwrap_or(nix::poll::PollTimeout::MAX)
            };
            let started = Instant::now();
            match nix::poll::poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => std::thread::sleep(fallback),
            }
            drop(fds);
            if let Some(ino) = &inotify {
                while ino.read_events().is_ok_and(|ev| !ev.is_empty()) {}
            }
            // Guard against a busy loop if poll keeps returning at once for some reason.
            if started.elapsed() < Duration::from_millis(5) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// An fd that becomes readable when process `pid` exits (pidfd_open(2)), if the kernel has it.
pub fn pidfd_open(pid: i32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain syscall with integer arguments; returns a new fd or -1.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(r).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let _ = owned.as_raw_fd();
    Some(owned)
}

/// The part of the lock name after `LCK..` for a resolved device path.
pub fn lock_stem(real: &Path, naming: Naming) -> String {
    let s = real.to_string_lossy();
    match s.strip_prefix("/dev/") {
        Some(below) => match naming {
            Naming::Upstream => below.rsplit('/').next().unwrap_or(below).to_string(),
            Naming::Debian => below.replace('/', "_"),
        },
        None => s.trim_start_matches('/').replace('/', "_"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_parse() {
        assert_eq!(format_pid(13282), "     13282\n");
        assert_eq!(format_pid(13282).len(), 11);
        assert_eq!(parse_pid(b"     13282\n"), Some(13282));
        assert_eq!(parse_pid(&4242i32.to_ne_bytes()), Some(4242));
        assert_eq!(parse_pid(b""), None);
        assert_eq!(parse_pid(b"garbage"), parse_pid(b"garb"));
    }

    #[test]
    fn names() {
        let p = Path::new("/dev/pts/1");
        assert_eq!(lock_stem(p, Naming::Upstream), "1");
        assert_eq!(lock_stem(p, Naming::Debian), "pts_1");
        assert_eq!(
            lock_stem(Path::new("/dev/ttyS0"), Naming::Upstream),
            "ttyS0"
        );
        assert_eq!(
            lock_stem(Path::new("/tmp/x/tty"), Naming::Debian),
            "tmp_x_tty"
        );
    }

    #[test]
    fn symlinks_resolve_to_one_name() {
        let d = tempfile::tempdir().unwrap();
        let pty = crate::tty::openpty().unwrap();
        let link = d.path().join("modem");
        std::os::unix::fs::symlink(&pty.slave_path, &link).unwrap();
        let ld = LockDir::new(d.path(), Naming::Debian);
        assert_eq!(ld.lock_name_for(&link), ld.lock_name_for(&pty.slave_path));
    }

    #[test]
    fn acquire_release_stale_and_held() {
        let d = tempfile::tempdir().unwrap();
        let ld = LockDir::new(d.path(), Naming::Debian);
        let lockf = d.path().join("LCK..x");
        let l = ld.acquire_path(lockf.clone()).unwrap();
        let meta = fs::metadata(&lockf).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);
        assert_eq!(fs::read_to_string(&lockf).unwrap(), format_pid(my_pid()));
        // Our own pid: ours again.
        let l2 = ld.acquire_path(lockf.clone()).unwrap();
        l2.keep();
        l.release();
        assert!(!lockf.exists());
        // Stale: a pid that cannot exist.
        fs::write(&lockf, format_pid(i32::MAX - 1)).unwrap();
        assert!(ld.check_path(&lockf).is_none());
        assert!(!lockf.exists());
        fs::write(&lockf, format_pid(i32::MAX - 1)).unwrap();
        let l = ld.acquire_path(lockf.clone()).unwrap();
        drop(l);
        assert!(!lockf.exists());
        // Held by a live process (pid 1 is always alive).
        fs::write(&lockf, format_pid(1)).unwrap();
        match ld.acquire_path(lockf.clone()) {
            Err(LockError::Held { holder, .. }) => assert_eq!(holder.pid, 1),
            other => panic!("expected Held, got {other:?}"),
        }
        assert_eq!(ld.check_path(&lockf).map(|h| h.pid), Some(1));
        // No temp files left behind.
        let names: Vec<_> = fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn missing_dir_is_an_error() {
        let ld = LockDir::new("/nonexistent/rgetty-lock-test", Naming::Debian);
        assert!(matches!(
            ld.acquire_path(PathBuf::from("/nonexistent/rgetty-lock-test/LCK..x")),
            Err(LockError::Io { .. })
        ));
    }

    #[test]
    fn wait_until_free_wakes_on_holder_death() {
        let d = tempfile::tempdir().unwrap();
        let ld = LockDir::new(d.path(), Naming::Debian);
        let lockf = d.path().join("LCK..y");
        let mut child = std::process::Command::new("sleep")
            .arg("0.3")
            .spawn()
            .unwrap();
        fs::write(&lockf, format_pid(i32::try_from(child.id()).unwrap())).unwrap();
        let reaper = std::thread::spawn(move || child.wait());
        let t = Instant::now();
        ld.wait_until_free(&lockf, Duration::from_secs(30));
        assert!(t.elapsed() < Duration::from_secs(5));
        reaper.join().unwrap().unwrap();
    }
}
