//! UUCP lock files (docs/behaviour.md §7) and flock(2): line ownership shared with cu,
//! minicom, pppd, picocom, tio and rgetty-share.
//!
//! **Names.** A device has several lock names, because dial-out programs name it differently
//! ([`names`]): the name as given and the resolved real device, each under both the upstream
//! (basename) and the Debian/FHS (path below `/dev`, `/` → `_`) schemes, the same for the
//! device's other symlinks in [`ALIAS_DIRS`] (udev's `/dev/modem`), and lockdev's SVR4
//! `LK.<fs major>.<major>.<minor>`. A live lock under *any* of them is a foreign owner, and so
//! is an flock(2) held by another open file on the device ([`LockDir::check`]).
//!
//! **Taking.** Format: HDB/FHS ASCII, the pid right-aligned in 10 columns plus a newline, mode
//! 0644. A private temp file (`mkstemp`) is written and `link(2)`ed to the primary name (the
//! real device under the profile's scheme) and then to every other name, so all names are hard
//! links of one file and each creation is atomic. If any name is held by a live process,
//! every name taken so far is removed again and the lock is refused: two owners are
//! impossible even against programs that create only one of the names. A lock whose pid is
//! dead (`kill(pid, 0)` gives ESRCH) is stale: it is removed and retaken. A lock holding our
//! own pid is ours. Releasing removes every name that still holds our pid, the primary last.
//!
//! **Hostile lock dirs.** `/run/lock` is world-writable. A lock file is inspected with
//! `lstat` and opened `O_RDONLY|O_NONBLOCK|O_NOFOLLOW` only when it is a regular file (and
//! checked again with `fstat`), so nothing named like a lock can block us. Anything else
//! named like a lock (FIFO, directory, socket, device node, symlink) is logged once and
//! counts as **held** by an unknown owner: we never remove a file we did not create that
//! cannot be a lock, and a local user could block the line with a real lock file anyway.

pub mod names;

pub use names::{Naming, lock_stem};

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// A live foreign owner of the line: a process holding a lock file or an flock, or (pid 0)
/// something that is not a process, such as a FIFO named like a lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its pid; 0 when unknown.
    pub pid: i32,
    /// Its command line from /proc (NULs turned into spaces, at most 80 characters), or what
    /// holds the line when there is no process; empty if unreadable.
    pub cmdline: String,
}

impl Holder {
    /// Who holds the line, for a message: `locked by pid N`, or what stands in for a holder
    /// that is no process (`unreadable lock LCK..x (a FIFO)`), never `pid 0`.
    pub fn locked_by(&self) -> String {
        if self.pid > 0 {
            format!("locked by pid {}", self.pid)
        } else {
            self.cmdline.clone()
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} ({:?})", self.pid, self.cmdline)
    }
}

impl Holder {
    fn of(pid: i32) -> Self {
        Holder {
            pid,
            cmdline: cmdline(pid),
        }
    }
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// A live process (or something named like a lock) holds it.
    #[error("{path} is held by {holder}")]
    Held {
        /// The lock file, or the device when another process holds an flock on it.
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
    alias_dirs: Vec<PathBuf>,
}

/// Where other names of a device live: udev's symlinks (`/dev/modem`, `/dev/serial/by-id/…`).
/// A symlink there that resolves to the device adds its names, so `cu -l /dev/modem` is seen
/// even by an rgetty started on `ttyS0`.
pub const ALIAS_DIRS: [&str; 3] = ["/dev", "/dev/serial/by-id", "/dev/serial/by-path"];

/// The symlinks in `dirs` that resolve to `real` (not `/dev/std*` or `/dev/fd`, which point
/// into `/proc/self`).
fn aliases(dirs: &[PathBuf], real: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in dirs {
        let Ok(entries) = fs::read_dir(d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let skip = matches!(name.to_str(), Some("stdin" | "stdout" | "stderr" | "fd"));
            if skip || !e.file_type().is_ok_and(|t| t.is_symlink()) {
                continue;
            }
            if fs::canonicalize(e.path()).is_ok_and(|t| t == real) {
                out.push(e.path());
            }
        }
    }
    out
}

/// A lock we hold under every name of a device. Dropping it removes the files, each only if
/// it still holds our pid.
#[derive(Debug)]
pub struct Lock {
    paths: Vec<PathBuf>,
    pid: i32,
    armed: bool,
}

impl Lock {
    /// The primary lock file's path.
    pub fn path(&self) -> &Path {
        self.paths.first().map_or(Path::new(""), PathBuf::as_path)
    }

    /// Every lock file this lock consists of, the primary one first.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Remove the lock files now.
    pub fn release(mut self) {
        self.remove();
    }

    /// Keep the lock files after this value is gone: used when exec'ing the login program,
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
        for path in self.paths.iter().rev() {
            if matches!(inspect(path), Ok(Found::Pid(p)) if p == self.pid) {
                if let Err(e) = fs::remove_file(path) {
                    log::warn!("cannot remove lock file {}: {e}", path.display());
                }
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

/// What is found under a lock file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// Nothing.
    Absent,
    /// A regular file naming this pid.
    Pid(i32),
    /// A regular file without a sensible pid.
    Garbage,
    /// Not a regular file: what it is.
    Odd(&'static str),
}

fn kind_of(ft: fs::FileType) -> Option<&'static str> {
    if ft.is_file() {
        None
    } else if ft.is_symlink() {
        Some("symlink")
    } else if ft.is_dir() {
        Some("directory")
    } else if ft.is_fifo() {
        Some("FIFO")
    } else if ft.is_socket() {
        Some("socket")
    } else {
        Some("device node")
    }
}

/// Look at a lock file without ever blocking or following a link: `lstat`, then open a
/// regular file `O_RDONLY|O_NONBLOCK|O_NOFOLLOW` and check it again with `fstat`.
fn inspect(path: &Path) -> io::Result<Found> {
    let absent = |e: io::Error| {
        if e.kind() == io::ErrorKind::NotFound {
            Ok(Found::Absent)
        } else if e.raw_os_error() == Some(libc::ELOOP) {
            Ok(Found::Odd("symlink"))
        } else {
            Err(e)
        }
    };
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return absent(e),
    };
    if let Some(kind) = kind_of(meta.file_type()) {
        return Ok(Found::Odd(kind));
    }
    let mut f = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => return absent(e),
    };
    if let Some(kind) = kind_of(f.metadata()?.file_type()) {
        return Ok(Found::Odd(kind));
    }
    let mut buf = [0u8; 19];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(parse_pid(&buf[..n]).map_or(Found::Garbage, Found::Pid))
}

/// The holder standing for a non-file named like a lock; logged once per path.
fn odd_holder(path: &Path, kind: &str) -> Holder {
    static REPORTED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    let first = REPORTED
        .lock()
        .map(|mut g| {
            g.get_or_insert_with(HashSet::new)
                .insert(path.to_path_buf())
        })
        .unwrap_or(true);
    if first {
        log::warn!(
            "{} is a {kind}, not a lock file: the line counts as locked until it is removed",
            path.display()
        );
    }
    let name = path.file_name().unwrap_or(path.as_os_str());
    Holder {
        pid: 0,
        cmdline: format!("unreadable lock {} (a {kind})", name.to_string_lossy()),
    }
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
    if matches!(inspect(path), Ok(Found::Pid(p)) if p == pid) {
        let _ = fs::remove_file(path);
    }
}

/// Whether `pid` is alive (`kill(pid, 0)`; EPERM counts as alive).
pub fn pid_alive(pid: i32) -> bool {
    pid > 0 && !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
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

/// The process holding an flock on `device` (another open file than the caller's), if any.
/// Our own pid counts as no holder; a holder whose pid cannot be found has pid 0.
pub fn flock_holder(device: &Path) -> Option<Holder> {
    if !crate::sys::tty::flock_busy(device).unwrap_or(false) {
        return None;
    }
    let pid = fs::metadata(device).ok().and_then(|m| {
        let text = fs::read_to_string("/proc/locks").ok()?;
        let dev = m.dev();
        names::flock_holder_pid(
            &text,
            u64::from(libc::major(dev)),
            u64::from(libc::minor(dev)),
            m.ino(),
        )
    });
    match pid {
        Some(p) if p == my_pid() => None,
        Some(p) => Some(Holder::of(p)),
        None => Some(Holder {
            pid: 0,
            cmdline: format!("flock or exclusive open on {}", device.display()),
        }),
    }
}

/// Take `flock(LOCK_EX|LOCK_NB)` on the open line `fd` of `device`; the holder if another
/// open file has one. Held for as long as this open file description lives (also across
/// exec, in the login program's stdin).
pub fn claim_flock(fd: impl AsFd, device: &Path) -> Result<(), Holder> {
    match crate::sys::tty::try_flock(fd) {
        Ok(true) => Ok(()),
        Ok(false) => Err(flock_holder(device).unwrap_or(Holder {
            pid: 0,
            cmdline: format!("flock on {}", device.display()),
        })),
        Err(e) => {
            // A filesystem without flock support: the lock files still protect the line.
            log::debug!("flock {}: {e}", device.display());
            Ok(())
        }
    }
}

/// The device node behind `device` and its SVR4 numbers, if it is a character device.
fn resolve(device: &Path) -> (PathBuf, Option<(u64, u64, u64)>) {
    let real = fs::canonicalize(device).unwrap_or_else(|_| device.to_path_buf());
    let svr4 = fs::metadata(&real)
        .ok()
        .filter(|m| m.file_type().is_char_device())
        .map(|m| {
            let (dev, rdev) = (m.dev(), m.rdev());
            (
                u64::from(libc::major(dev)),
                u64::from(libc::major(rdev)),
                u64::from(libc::minor(rdev)),
            )
        });
    (real, svr4)
}

impl LockDir {
    /// A lock directory with the given naming scheme.
    pub fn new(dir: impl Into<PathBuf>, naming: Naming) -> Self {
        LockDir {
            dir: dir.into(),
            naming,
            alias_dirs: ALIAS_DIRS.iter().map(PathBuf::from).collect(),
        }
    }

    /// Search these directories for symlinks to the device instead of [`ALIAS_DIRS`].
    #[must_use]
    pub fn with_alias_dirs(mut self, dirs: Vec<PathBuf>) -> Self {
        self.alias_dirs = dirs;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The primary lock file for a device path: symlinks are resolved first, then the part
    /// below `/dev/` is named by [`Naming`]. A device outside `/dev` (after resolving) is
    /// named by its whole path with `/` → `_`.
    pub fn lock_name_for(&self, device: &Path) -> PathBuf {
        let real = fs::canonicalize(device).unwrap_or_else(|_| device.to_path_buf());
        self.dir
            .join(format!("LCK..{}", lock_stem(&real, self.naming)))
    }

    /// Every lock file name of `device` (given as the user gave it: the symlink, not the
    /// resolved path), the primary one first (see [`names::lock_names`]), including the names
    /// of the symlinks to it in the alias directories ([`ALIAS_DIRS`]).
    pub fn lock_names_for(&self, device: &Path) -> Vec<PathBuf> {
        let (real, svr4) = resolve(device);
        let aliases = aliases(&self.alias_dirs, &real);
        names::lock_names(device, &real, self.naming, svr4, &aliases)
            .into_iter()
            .map(|n| self.dir.join(n))
            .collect()
    }

    /// Take the lock for `device` under every name (see the module docs for the protocol).
    /// An flock held on the device by another process refuses it too (tested after the lock
    /// files, so a device locked by file is not even opened). `device` is the name as given
    /// (a symlink is resolved here).
    pub fn acquire(&self, device: &Path) -> Result<Lock, LockError> {
        let lock = self.acquire_names(self.lock_names_for(device))?;
        match flock_holder(device) {
            None => Ok(lock),
            Some(holder) => Err(LockError::Held {
                path: device.to_path_buf(),
                holder,
            }),
        }
    }

    /// Take the lock file at an explicit path (one name only).
    pub fn acquire_path(&self, path: PathBuf) -> Result<Lock, LockError> {
        self.acquire_names(vec![path])
    }

    fn acquire_names(&self, names: Vec<PathBuf>) -> Result<Lock, LockError> {
        let me = my_pid();
        let tmp = self.write_temp(me)?;
        let mut lock = Lock {
            paths: Vec::with_capacity(names.len()),
            pid: me,
            armed: true,
        };
        let result = names.into_iter().try_for_each(|path| {
            take_one(&tmp, &path, me)?;
            lock.paths.push(path);
            Ok(())
        });
        let _ = fs::remove_file(&tmp);
        // On failure dropping `lock` removes the names taken so far.
        result.map(|()| lock)
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

    /// The live foreign owner of `device`, if any: a lock file under any of its names or an
    /// flock held by another process. Stale locks are removed (as mgetty's `checklock`); our
    /// own pid counts as no holder.
    pub fn check(&self, device: &Path) -> Option<Holder> {
        self.check_files(device).or_else(|| flock_holder(device))
    }

    /// [`LockDir::check`] without the flock test: lock files only.
    pub fn check_files(&self, device: &Path) -> Option<Holder> {
        self.lock_names_for(device)
            .iter()
            .find_map(|p| self.check_path(p))
    }

    /// [`LockDir::check`] for one explicit lock file path.
    pub fn check_path(&self, path: &Path) -> Option<Holder> {
        match inspect(path).ok()? {
            Found::Pid(pid) if pid == my_pid() => None,
            Found::Pid(pid) if !pid_alive(pid) => {
                remove_stale(path, pid);
                None
            }
            Found::Pid(pid) => Some(Holder::of(pid)),
            Found::Odd(kind) => Some(odd_holder(path, kind)),
            Found::Absent | Found::Garbage => None,
        }
    }

    /// Block until `device` has no live foreign owner ([`LockDir::check`]), at no cost while
    /// waiting: inotify on the lock directory wakes us when files there change, inotify on the
    /// device when an opener closes it, and a pidfd on the holder when it dies without
    /// removing its lock. Without these it re-checks every `fallback` interval.
    pub fn wait_until_free(&self, device: &Path, fallback: Duration) {
        self.wait_until_free_unless(device, fallback, &|| false);
    }

    /// [`LockDir::wait_until_free`] that also returns (with `false`) as soon as `stop()` is
    /// true; `stop` is checked whenever a signal interrupts the wait. Returns `true` when the
    /// line is free.
    pub fn wait_until_free_unless(
        &self,
        device: &Path,
        fallback: Duration,
        stop: &dyn Fn() -> bool,
    ) -> bool {
        let inotify = self.watch(device);
        loop {
            if stop() {
                return false;
            }
            let holder = self.check(device);
            // Our own test open of the device queued events: forget them.
            if let Some(ino) = &inotify {
                while ino.read_events().is_ok_and(|ev| !ev.is_empty()) {}
            }
            let Some(holder) = holder else {
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
            // Guard against a busy loop if poll keeps returning at once for some reason.
            if started.elapsed() < Duration::from_millis(5) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// inotify on the lock dir (any change) and on the real device (closed by someone).
    fn watch(&self, device: &Path) -> Option<nix::sys::inotify::Inotify> {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok()?;
        let _ = ino.add_watch(
            &self.dir,
            AddWatchFlags::IN_DELETE
                | AddWatchFlags::IN_MOVED_FROM
                | AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_DELETE_SELF,
        );
        let (real, _) = resolve(device);
        let _ = ino.add_watch(
            &real,
            AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_CLOSE_NOWRITE,
        );
        Some(ino)
    }
}

/// An fd that becomes readable when process `pid` exits (pidfd_open(2)), if the kernel has it.
pub fn pidfd_open(pid: i32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    if pid <= 0 {
        return None;
    }
    // SAFETY: plain syscall with integer arguments; returns a new fd or -1.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(r).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let _ = owned.as_raw_fd();
    Some(owned)
}

/// Link the prepared temp file `tmp` (holding `me`) to `path`, removing a stale lock there;
/// a live foreign lock or a non-file refuses.
fn take_one(tmp: &Path, path: &Path, me: i32) -> Result<(), LockError> {
    for _ in 0..10 {
        match fs::hard_link(tmp, path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("cannot create lock", path)(e)),
        }
        let held = |holder| LockError::Held {
            path: path.to_path_buf(),
            holder,
        };
        match inspect(path).map_err(io_err("cannot read lock", path))? {
            Found::Garbage => {
                // A writer may be mid-write (not with link(2), but other programs use
                // O_EXCL + write). Remove it only if it stays that way.
                std::thread::sleep(Duration::from_millis(50));
                if inspect(path).ok() == Some(Found::Garbage) {
                    log::warn!("removing unreadable lock file {}", path.display());
                    let _ = fs::remove_file(path);
                }
            }
            Found::Absent => {} // vanished meanwhile: retry the link
            Found::Pid(pid) if pid == me => return Ok(()),
            Found::Pid(pid) if !pid_alive(pid) => remove_stale(path, pid),
            Found::Pid(pid) => return Err(held(Holder::of(pid))),
            Found::Odd(kind) => return Err(held(odd_holder(path, kind))),
        }
    }
    Err(io_err("cannot create lock", path)(io::Error::other(
        "lock file keeps changing",
    )))
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
    fn symlinks_resolve_to_one_name() {
        let d = tempfile::tempdir().unwrap();
        let pty = crate::sys::tty::openpty().unwrap();
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
        let pty = crate::sys::tty::openpty().unwrap();
        let ld = LockDir::new(d.path(), Naming::Debian);
        // The holder uses the upstream name; we wait under the Debian profile.
        let lockf = d.path().join(format!(
            "LCK..{}",
            lock_stem(&pty.slave_path, Naming::Upstream)
        ));
        let mut child = std::process::Command::new("sleep")
            .arg("0.3")
            .spawn()
            .unwrap();
        fs::write(&lockf, format_pid(i32::try_from(child.id()).unwrap())).unwrap();
        assert!(ld.check(&pty.slave_path).is_some());
        let reaper = std::thread::spawn(move || child.wait());
        let t = Instant::now();
        ld.wait_until_free(&pty.slave_path, Duration::from_secs(30));
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(t.elapsed() >= Duration::from_millis(200));
        reaper.join().unwrap().unwrap();
    }

    #[test]
    fn every_name_is_taken_as_one_file_and_released_together() {
        let d = tempfile::tempdir().unwrap();
        let pty = crate::sys::tty::openpty().unwrap();
        let link = d.path().join("modem");
        std::os::unix::fs::symlink(&pty.slave_path, &link).unwrap();
        let locks = d.path().join("locks");
        fs::create_dir(&locks).unwrap();
        let ld = LockDir::new(&locks, Naming::Upstream);
        let l = ld.acquire(&link).unwrap();
        let names = ld.lock_names_for(&link);
        assert_eq!(l.paths(), names.as_slice());
        assert!(names.iter().any(|p| p.ends_with("LCK..modem")));
        assert!(names.iter().any(|p| p.to_string_lossy().contains("/LK.")));
        let ino = fs::metadata(l.path()).unwrap().ino();
        for n in &names {
            assert_eq!(fs::metadata(n).unwrap().ino(), ino, "{}", n.display());
        }
        assert_eq!(fs::metadata(l.path()).unwrap().nlink(), names.len() as u64);
        // The same device by its real path is the same lock.
        assert_eq!(ld.lock_names_for(&pty.slave_path)[0], names[0]);
        l.release();
        assert_eq!(fs::read_dir(&locks).unwrap().count(), 0);
    }

    #[test]
    fn a_symlink_in_an_alias_dir_adds_its_names() {
        let d = tempfile::tempdir().unwrap();
        let pty = crate::sys::tty::openpty().unwrap();
        let aliases = d.path().join("dev");
        fs::create_dir(&aliases).unwrap();
        std::os::unix::fs::symlink(&pty.slave_path, aliases.join("modem7")).unwrap();
        std::os::unix::fs::symlink("/dev/null", aliases.join("other")).unwrap();
        let ld = LockDir::new(d.path(), Naming::Upstream).with_alias_dirs(vec![aliases]);
        // Given the real path, the udev-style symlink's name is known too.
        let names = ld.lock_names_for(&pty.slave_path);
        assert!(
            names.iter().any(|p| p.ends_with("LCK..modem7")),
            "{names:?}"
        );
        assert!(
            !names.iter().any(|p| p.ends_with("LCK..other")),
            "{names:?}"
        );
        fs::write(d.path().join("LCK..modem7"), format_pid(1)).unwrap();
        assert_eq!(ld.check(&pty.slave_path).map(|h| h.pid), Some(1));
    }

    #[test]
    fn a_foreign_lock_under_any_name_refuses_and_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let pty = crate::sys::tty::openpty().unwrap();
        let ld = LockDir::new(d.path(), Naming::Debian);
        for name in ld.lock_names_for(&pty.slave_path) {
            fs::write(&name, format_pid(1)).unwrap();
            assert_eq!(ld.check(&pty.slave_path).map(|h| h.pid), Some(1));
            match ld.acquire(&pty.slave_path) {
                Err(LockError::Held { holder, .. }) => assert_eq!(holder.pid, 1),
                other => panic!("{}: expected Held, got {other:?}", name.display()),
            }
            assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
            fs::remove_file(&name).unwrap();
        }
    }

    #[test]
    fn things_named_like_locks_count_as_held_and_stay() {
        let d = tempfile::tempdir().unwrap();
        let pty = crate::sys::tty::openpty().unwrap();
        let ld = LockDir::new(d.path(), Naming::Debian);
        let name = ld.lock_names_for(&pty.slave_path)[1].clone();
        type Maker<'a> = (&'a str, &'a dyn Fn(&Path));
        let make: [Maker; 3] = [
            ("FIFO", &|p| {
                nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap()
            }),
            ("directory", &|p| fs::create_dir(p).unwrap()),
            ("symlink", &|p| {
                std::os::unix::fs::symlink("/dev/null", p).unwrap()
            }),
        ];
        for (kind, mk) in make {
            mk(&name);
            let t = Instant::now();
            let h = ld.check(&pty.slave_path).expect(kind);
            assert_eq!(h.pid, 0);
            let base = name.file_name().unwrap().to_string_lossy();
            assert_eq!(h.locked_by(), format!("unreadable lock {base} (a {kind})"));
            assert!(matches!(
                ld.acquire(&pty.slave_path),
                Err(LockError::Held { .. })
            ));
            assert!(t.elapsed() < Duration::from_secs(2), "{kind} blocked us");
            assert!(fs::symlink_metadata(&name).is_ok(), "{kind} was removed");
            assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
            if kind == "directory" {
                fs::remove_dir(&name).unwrap();
            } else {
                fs::remove_file(&name).unwrap();
            }
        }
    }
}
