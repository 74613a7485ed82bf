//! Devices that come and go (I/O): USB serial adapters, `/dev/serial/by-id/...` links that
//! udev removes on unplug and re-creates, maybe pointing at another `ttyUSB<n>`.
//!
//! A [`DeviceWatch`] watches, with one non-blocking inotify fd and no timer, the directory of
//! each path and (for a symlink) the directory of its target; a directory that does not exist
//! yet is replaced by its nearest existing ancestor until it appears. After each batch of
//! events the watches are re-armed and the paths whose presence changed are returned. The
//! event loop registers [`DeviceWatch::fd`] and calls [`DeviceWatch::handle`] when it is
//! readable; a session simply opens the configured path, so a re-targeted link is followed.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

/// Watches a set of device paths.
#[derive(Debug)]
pub struct DeviceWatch {
    ino: Inotify,
    paths: Vec<PathBuf>,
    present: Vec<bool>,
    /// Watched directory → its descriptor.
    watches: BTreeMap<PathBuf, WatchDescriptor>,
}

/// Whether `path` names an existing file (symlinks followed).
pub fn exists(path: &Path) -> bool {
    std::fs::metadata(path).is_ok()
}

/// The nearest existing directory at or above `dir`.
fn existing_ancestor(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| std::fs::metadata(d).is_ok_and(|m| m.is_dir()))
        .map(Path::to_path_buf)
}

/// The directories to watch for `path`: its parent (or nearest existing ancestor) and, for a
/// symlink, its target's.
fn dirs_for(path: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = path.parent().and_then(existing_ancestor) {
        dirs.push(d);
    }
    if let Ok(target) = std::fs::read_link(path) {
        let target = path.parent().map_or(target.clone(), |p| p.join(&target));
        if let Some(d) = target.parent().and_then(existing_ancestor) {
            dirs.push(d);
        }
    }
    dirs
}

impl DeviceWatch {
    /// Watch these paths (index = port).
    pub fn new(paths: Vec<PathBuf>) -> io::Result<DeviceWatch> {
        let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        let present = paths.iter().map(|p| exists(p)).collect();
        let mut w = DeviceWatch {
            ino,
            paths,
            present,
            watches: BTreeMap::new(),
        };
        w.rearm();
        Ok(w)
    }

    /// The inotify fd to wait on (readable when something changed).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.ino.as_fd()
    }

    /// Whether path `i` existed when last looked at.
    pub fn present(&self, i: usize) -> bool {
        self.present.get(i).copied().unwrap_or(false)
    }

    fn rearm(&mut self) {
        let wanted: Vec<PathBuf> = self.paths.iter().flat_map(|p| dirs_for(p)).collect();
        let stale: Vec<PathBuf> = self
            .watches
            .keys()
            .filter(|d| !wanted.contains(d))
            .cloned()
            .collect();
        for d in stale {
            if let Some(wd) = self.watches.remove(&d) {
                let _ = self.ino.rm_watch(wd);
            }
        }
        let mask = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_ATTRIB
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_ONLYDIR;
        for d in wanted {
            if !self.watches.contains_key(&d) {
                if let Ok(wd) = self.ino.add_watch(&d, mask) {
                    self.watches.insert(d, wd);
                }
            }
        }
    }

    /// Read the pending events, re-arm the watches, and return `(index, present)` for every
    /// path whose presence changed. Returns nothing when no event was pending.
    pub fn handle(&mut self) -> Vec<(usize, bool)> {
        let mut any = false;
        while let Ok(events) = self.ino.read_events() {
            if events.is_empty() {
                break;
            }
            any = true;
            // A removed directory's watch is gone: forget it so it is added again.
            for ev in &events {
                if ev.mask.contains(AddWatchFlags::IN_IGNORED) {
                    self.watches.retain(|_, wd| *wd != ev.wd);
                }
            }
        }
        if !any {
            return Vec::new();
        }
        self.rearm();
        let mut changed = Vec::new();
        for (i, p) in self.paths.iter().enumerate() {
            let now = exists(p);
            if now != self.present[i] {
                self.present[i] = now;
                changed.push((i, now));
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::fs;
    use std::os::unix::fs::symlink;

    fn wait(w: &DeviceWatch) -> bool {
        let mut fds = [PollFd::new(w.fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(5000u16)).unwrap() == 1
    }

    #[test]
    fn link_appears_moves_and_goes() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("dev");
        fs::create_dir(&dev).unwrap();
        let link = dev.join("serial/by-id/usb-modem");
        let mut w = DeviceWatch::new(vec![link.clone()]).unwrap();
        assert!(!w.present(0));
        assert!(w.handle().is_empty(), "no event, no change");

        // the by-id directory and the link appear, pointing at a device that exists
        fs::write(dev.join("ttyUSB0"), "").unwrap();
        assert!(wait(&w));
        assert!(w.handle().is_empty(), "ttyUSB0 alone changes nothing");
        fs::create_dir_all(dev.join("serial/by-id")).unwrap();
        assert!(wait(&w));
        assert!(w.handle().is_empty(), "the directory alone changes nothing");
        symlink("../../ttyUSB0", &link).unwrap();
        assert!(wait(&w));
        let changed = w.handle();
        assert_eq!(changed, vec![(0, true)]);
        assert!(w.present(0));

        // unplug: udev removes the link and the device
        fs::remove_file(&link).unwrap();
        fs::remove_file(dev.join("ttyUSB0")).unwrap();
        assert!(wait(&w));
        assert_eq!(w.handle(), vec![(0, false)]);

        // re-plug as ttyUSB1: the link comes back with a new target
        fs::write(dev.join("ttyUSB1"), "").unwrap();
        let tmp = dev.join("serial/by-id/.tmp-link");
        symlink("../../ttyUSB1", &tmp).unwrap();
        fs::rename(&tmp, &link).unwrap();
        assert!(wait(&w));
        assert_eq!(w.handle(), vec![(0, true)]);
        assert_eq!(
            fs::canonicalize(&link).unwrap(),
            dev.join("ttyUSB1").canonicalize().unwrap()
        );

        // the link stays but its target goes away
        fs::remove_file(dev.join("ttyUSB1")).unwrap();
        assert!(wait(&w));
        assert_eq!(w.handle(), vec![(0, false)]);
    }
}
