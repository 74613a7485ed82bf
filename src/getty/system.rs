//! What rgetty asks of the system besides the line: uname, the inotify watch, the pid file.

use std::io;
use std::path::Path;

use crate::proto::issue::Facts;
use crate::sys::logging;
use crate::sys::tty;

use super::common::Getty;
use super::state::Call;

impl Getty {
    /// What the issue file and prompt may show (uname, the line, the call, the clock).
    pub(super) fn facts(&self, call: &Call) -> Facts {
        let uts = nix::sys::utsname::uname().ok();
        let s = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            uts.as_ref()
                .map(|u| f(u).to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let nohostname = super::agetty::Credentials::from_env().nohostname;
        Facts {
            nodename: if nohostname {
                String::new()
            } else {
                s(nix::sys::utsname::UtsName::nodename)
            },
            sysname: s(nix::sys::utsname::UtsName::sysname),
            machine: s(nix::sys::utsname::UtsName::machine),
            release: s(nix::sys::utsname::UtsName::release),
            version: s(nix::sys::utsname::UtsName::version),
            device: self.tty.device.clone(),
            caller_id: call.info.caller_id.clone(),
            connect: call.info.connect.clone(),
            users: self.utmp.count_users(),
            speed: self
                .line()
                .ok()
                .and_then(|l| tty::get_speed(l).ok())
                .unwrap_or(0),
            now: logging::now_local(),
        }
    }

    /// The inotify watch on the lock dir (new lock files wake the wait, and so does a lock
    /// file's first write: a dial-out that creates its lock in place may still be writing its
    /// pid when the creation wakes us, and an empty lock holds nobody). Kept open for the
    /// whole run: closing an inotify instance waits for an RCU grace period, which would
    /// delay the ATA after the first RING by 15-25 ms.
    pub(super) fn watch_lock_dir(&mut self) {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        if self.inotify.is_none() {
            self.inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok();
            if let Some(ino) = &self.inotify {
                if let Err(e) = ino.add_watch(
                    self.locks.dir(),
                    AddWatchFlags::IN_CREATE
                        | AddWatchFlags::IN_MOVED_TO
                        | AddWatchFlags::IN_CLOSE_WRITE,
                ) {
                    log::debug!("no inotify watch on {}: {e}", self.locks.dir().display());
                }
            }
        }
    }
}

/// Remove the pid file on exit (every exit: mgetty leaves it after a failed start), only
/// while it still holds our pid.
pub(super) fn remove_pid_file(path: &Path) {
    let ours = format!("{}\n", std::process::id());
    if crate::sys::safefile::read_to_string(path).is_some_and(|t| t == ours) {
        let _ = std::fs::remove_file(path);
    }
}

/// Write the pid file (mode 0644) by rename: a symlink planted at its name is replaced,
/// never followed.
/// Another rgetty that serves this line: the pid and state its state file records, when that
/// process still runs (same start time) and is not us. Read before this run writes anything.
pub(super) fn other_getty(pid_dir: &Path, dev_id: &str) -> Option<(i32, String)> {
    let path = crate::ops::store::state_path(pid_dir, dev_id);
    let text = std::fs::read_to_string(path).ok()?;
    let s = crate::ops::state::LineState::from_json(&text)?;
    let me = i32::try_from(std::process::id()).ok()?;
    let running =
        s.pid != me && s.state != "stopped" && crate::ops::store::is_alive(s.pid, s.start_ticks);
    running.then_some((s.pid, s.state))
}

pub(super) fn write_pid_file(path: &Path) -> io::Result<()> {
    crate::sys::safefile::replace(path, format!("{}\n", std::process::id()).as_bytes(), 0o644)
}
