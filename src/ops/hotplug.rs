//! Devices that come and go (I/O): USB serial adapters, `/dev/serial/by-id/...` links that
//! udev removes on unplug and re-creates, maybe pointing at another `ttyUSB<n>`.
//!
//! A [`DeviceWatch`] watches, with one non-blocking inotify fd and no timer, the directory of
//! each path and (for a symlink) the directory of its target; a directory that does not exist
//! yet is replaced by its nearest existing ancestor until it appears. An event concerns only
//! the paths that go through the name it carries (`DIR/NAME`: the path itself, a directory on
//! its way, or its link's target), so udev creating other nodes in `/dev` costs no look-up.
//! After each batch the concerned paths' directories are worked out again, the watches
//! re-armed (once), and those whose presence changed are returned. The
//! event loop registers [`DeviceWatch::fd`] and calls [`DeviceWatch::handle`] when it is
//! readable; a session simply opens the configured path, so a re-targeted link is followed.

use std::collections::{BTreeMap, BTreeSet};
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
    /// The directories watched for each path ([`dirs_for`] when last re-armed).
    dirs: Vec<Vec<PathBuf>>,
    /// What each path goes through: the path itself and, for a symlink, its target (as
    /// [`dirs_for`] built it). An event naming `DIR/NAME` concerns a path only if one of
    /// these lies at or below `DIR/NAME`.
    through: Vec<Vec<PathBuf>>,
    /// Descriptor → the watched directory names it stands for.
    wd_dirs: BTreeMap<WatchDescriptor, Vec<PathBuf>>,
    /// Watched directory → its descriptor.
    watches: BTreeMap<PathBuf, WatchDescriptor>,
    /// Descriptor → the paths watching through it (several directories may share one
    /// descriptor: the kernel gives one per inode).
    users: BTreeMap<WatchDescriptor, Vec<usize>>,
    /// How many times a path's presence was looked at after an event (tests count it).
    checks: u64,
    /// How many times a path's directories were worked out (tests count it).
    lookups: u64,
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
/// symlink, its target's; and what the path goes through (itself, and the link's target).
fn dirs_for(path: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut dirs = Vec::new();
    let mut through = vec![path.to_path_buf()];
    if let Some(d) = path.parent().and_then(existing_ancestor) {
        dirs.push(d);
    }
    if let Ok(target) = std::fs::read_link(path) {
        let target = path.parent().map_or(target.clone(), |p| p.join(&target));
        if let Some(d) = target.parent().and_then(existing_ancestor) {
            dirs.push(d);
        }
        through.push(target);
    }
    (dirs, through)
}

impl DeviceWatch {
    /// Watch these paths (index = port).
    pub fn new(paths: Vec<PathBuf>) -> io::Result<DeviceWatch> {
        let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        let present = paths.iter().map(|p| exists(p)).collect();
        let mut w = DeviceWatch {
            ino,
            dirs: vec![Vec::new(); paths.len()],
            through: vec![Vec::new(); paths.len()],
            wd_dirs: BTreeMap::new(),
            paths,
            present,
            watches: BTreeMap::new(),
            users: BTreeMap::new(),
            checks: 0,
            lookups: 0,
        };
        let all = (0..w.paths.len()).collect();
        w.rearm(&all);
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

    /// Work out the directories of the paths in `which` again (only a path whose directory
    /// had an event can have new ones: a parent or link target appearing or going is such an
    /// event), drop the watches no path needs, add the missing ones and rebuild descriptor →
    /// paths. Returns the paths whose directories changed (an event there may have come
    /// before the new watch did).
    fn rearm(&mut self, which: &BTreeSet<usize>) -> BTreeSet<usize> {
        let mut moved = BTreeSet::new();
        for &i in which {
            self.lookups += 1;
            let (dirs, through) = dirs_for(&self.paths[i]);
            self.through[i] = through;
            if dirs != self.dirs[i] {
                self.dirs[i] = dirs;
                moved.insert(i);
            }
        }
        let mut wanted: BTreeMap<&Path, Vec<usize>> = BTreeMap::new();
        for (i, dirs) in self.dirs.iter().enumerate() {
            for d in dirs {
                wanted.entry(d.as_path()).or_default().push(i);
            }
        }
        let wanted: Vec<(PathBuf, Vec<usize>)> = wanted
            .into_iter()
            .map(|(d, idx)| (d.to_path_buf(), idx))
            .collect();
        let wanted_set: BTreeSet<&Path> = wanted.iter().map(|(d, _)| d.as_path()).collect();
        let stale: Vec<PathBuf> = self
            .watches
            .keys()
            .filter(|d| !wanted_set.contains(d.as_path()))
            .cloned()
            .collect();
        let gone: BTreeSet<WatchDescriptor> = stale
            .iter()
            .filter_map(|d| self.watches.remove(d))
            .collect();
        // Another name of the same directory may still use a descriptor.
        let kept: BTreeSet<WatchDescriptor> = self.watches.values().copied().collect();
        for wd in gone.difference(&kept) {
            let _ = self.ino.rm_watch(*wd);
        }
        let mask = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_ATTRIB
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_ONLYDIR;
        self.users.clear();
        self.wd_dirs.clear();
        for (d, idx) in wanted {
            let wd = match self.watches.get(&d) {
                Some(wd) => Some(*wd),
                None => self.ino.add_watch(&d, mask).ok(),
            };
            if let Some(wd) = wd {
                self.wd_dirs.entry(wd).or_default().push(d.clone());
                self.watches.insert(d, wd);
                self.users.entry(wd).or_default().extend(idx);
            }
        }
        moved
    }

    /// Read the pending events, re-arm the watches, and return `(index, present)` for every
    /// path whose presence changed. Only the paths whose directories had an event (or whose
    /// directories changed) are looked at. Returns nothing when no event was pending.
    ///
    /// A path that went and came back before the events were read (a device re-plugged
    /// quickly, a pty number handed out again, udev removing and re-creating a link) looks
    /// unchanged when only its presence is compared: when an event removed something it goes
    /// through and it is there now, both changes are returned, `(i, false)` then `(i, true)`.
    pub fn handle(&mut self) -> Vec<(usize, bool)> {
        let mut any = false;
        let mut affected = BTreeSet::new();
        let mut went = BTreeSet::new();
        let removal = AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF;
        while let Ok(events) = self.ino.read_events() {
            if events.is_empty() {
                break;
            }
            any = true;
            for ev in &events {
                if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    // Events were lost: look at everything.
                    affected.extend(0..self.paths.len());
                }
                let concerned = self.concerned(ev.wd, ev.name.as_deref());
                if ev.mask.intersects(removal) {
                    went.extend(concerned.iter().copied());
                }
                affected.extend(concerned);
                // A removed directory's watch is gone: forget it so it is added again.
                if ev.mask.contains(AddWatchFlags::IN_IGNORED) {
                    self.watches.retain(|_, wd| *wd != ev.wd);
                }
            }
        }
        if !any {
            return Vec::new();
        }
        let moved = self.rearm(&affected);
        affected.extend(moved);
        let mut changed = Vec::new();
        for i in affected {
            self.checks += 1;
            let now = exists(&self.paths[i]);
            if now != self.present[i] {
                self.present[i] = now;
                changed.push((i, now));
            } else if now && went.contains(&i) {
                changed.extend([(i, false), (i, true)]);
            }
        }
        changed
    }
}

impl DeviceWatch {
    /// The paths an event on `wd` concerns: with a `name` (something in the directory was
    /// created, removed, moved or changed) those that go through `DIR/name`; without one (the
    /// directory itself went or moved) every path watching it.
    fn concerned(&self, wd: WatchDescriptor, name: Option<&std::ffi::OsStr>) -> Vec<usize> {
        let Some(users) = self.users.get(&wd) else {
            return Vec::new();
        };
        let Some(name) = name else {
            return users.clone();
        };
        let named: Vec<PathBuf> = self
            .wd_dirs
            .get(&wd)
            .map(|ds| ds.iter().map(|d| d.join(name)).collect())
            .unwrap_or_default();
        users
            .iter()
            .copied()
            .filter(|&i| {
                self.through[i]
                    .iter()
                    .any(|t| named.iter().any(|n| t.starts_with(n)))
            })
            .collect()
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

    /// Unplugged and plugged in again before the server read the events: the link removed
    /// and re-created at the same target name (a pty number handed out again).
    #[test]
    fn gone_and_back_between_two_reads_is_both_changes() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("pts0");
        fs::write(&dev, "").unwrap();
        let link = dir.path().join("usb-board");
        symlink(&dev, &link).unwrap();
        let mut w = DeviceWatch::new(vec![link.clone()]).unwrap();
        assert!(w.present(0));
        fs::remove_file(&link).unwrap();
        fs::remove_file(&dev).unwrap();
        fs::write(&dev, "").unwrap();
        let tmp = dir.path().join("usb-board.new");
        symlink(&dev, &tmp).unwrap();
        fs::rename(&tmp, &link).unwrap();
        assert!(wait(&w));
        assert_eq!(w.handle(), vec![(0, false), (0, true)]);
        assert!(w.present(0));
        // a new link put over the old one in one step is no gap
        symlink(&dev, &tmp).unwrap();
        fs::rename(&tmp, &link).unwrap();
        assert!(wait(&w));
        assert!(w.handle().is_empty());
    }

    #[test]
    fn an_event_looks_only_at_the_paths_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir(&a).unwrap();
        fs::create_dir(&b).unwrap();
        let paths: Vec<PathBuf> = (0..3)
            .map(|i| a.join(format!("ttyUSB{i}")))
            .chain((0..5).map(|i| b.join(format!("ttyACM{i}"))))
            .collect();
        let mut w = DeviceWatch::new(paths).unwrap();
        assert_eq!(w.watches.len(), 2);
        assert_eq!(w.lookups, 8, "every path's directories once at start");
        fs::write(a.join("ttyUSB1"), "").unwrap();
        assert!(wait(&w));
        assert_eq!(w.handle(), vec![(1, true)]);
        assert_eq!((w.checks, w.lookups), (1, 8 + 1), "only a/ttyUSB1");
        fs::write(b.join("ttyACM4"), "").unwrap();
        fs::write(b.join("unrelated"), "").unwrap();
        assert!(wait(&w));
        assert_eq!(w.handle(), vec![(7, true)]);
        assert_eq!((w.checks, w.lookups), (2, 8 + 2), "then only b/ttyACM4");
        // Something else appearing in a watched directory (udev busy in /dev) costs nothing.
        fs::write(a.join("ttyS9"), "").unwrap();
        assert!(wait(&w));
        assert!(w.handle().is_empty());
        assert_eq!(
            (w.checks, w.lookups),
            (2, 8 + 2),
            "nobody goes through a/ttyS9"
        );
        assert!(w.present(1) && w.present(7) && !w.present(0));
    }

    #[test]
    fn four_thousand_paths_in_one_directory() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..4096)
            .map(|i| dir.path().join(format!("ttyUSB{i}")))
            .collect();
        let mut w = DeviceWatch::new(paths).unwrap();
        assert_eq!(w.watches.len(), 1);
        assert_eq!(w.users.values().map(Vec::len).sum::<usize>(), 4096);
        let dev = dir.path().join("ttyUSB4095");
        fs::write(&dev, "").unwrap();
        assert!(wait(&w));
        assert_eq!(w.handle(), vec![(4095, true)]);
        fs::remove_file(&dev).unwrap();
        fs::write(dir.path().join("ttyUSB0"), "").unwrap();
        assert!(wait(&w));
        let mut changed = w.handle();
        // both events may come in one batch or two
        if changed.len() < 2 && wait(&w) {
            changed.extend(w.handle());
        }
        changed.sort_unstable();
        assert_eq!(changed, vec![(0, true), (4095, false)]);
        assert_eq!(w.watches.len(), 1);
    }
}
