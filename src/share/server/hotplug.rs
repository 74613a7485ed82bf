//! Hot-plugged devices: an inotify [`DeviceWatch`] on the ports' device paths that may come
//! and go; appearing and vanishing devices are logged and change the `STATUS=` line. The watch
//! is an fd on the engine like any other: no polling.

use std::os::fd::AsRawFd;

use crate::ops::hotplug::{self, DeviceWatch};
use crate::share::engine::{Engine, Token};

use super::{ServeError, ShareServer, Slot, io_err};

/// The inotify watch on the device paths that may come and go.
#[derive(Debug)]
pub(super) struct Hotplug {
    watch: DeviceWatch,
    token: Token,
    /// Watched path → its place in [`ShareServer::device_paths`].
    index: Vec<usize>,
}

impl ShareServer {
    /// Watch the device paths that may come and go (absent now, a symlink such as
    /// `/dev/serial/by-id/...`, or a device such as `/dev/ttyUSB0`) for hot-plugging:
    /// inotify, no polling. A pty named directly is not watched: it never comes back once
    /// gone, and watching a busy `/dev/pts` would wake the server for every terminal opened
    /// on the machine.
    pub fn watch_devices(&mut self) -> Result<(), ServeError> {
        let Some(eng) = self.eng.take() else {
            return Err(io_err("watch_devices")(std::io::ErrorKind::Other.into()));
        };
        self.watching = true;
        let r = self.watch_on(&eng);
        self.eng = Some(eng);
        r
    }

    fn watch_on(&mut self, eng: &Engine) -> Result<(), ServeError> {
        let (index, paths): (Vec<usize>, Vec<std::path::PathBuf>) = self
            .device_paths()
            .into_iter()
            .enumerate()
            .filter(|(_, p)| may_come_and_go(p))
            .unzip();
        if paths.is_empty() {
            return Ok(());
        }
        let watch = DeviceWatch::new(paths).map_err(io_err("inotify"))?;
        let token = self.slot(Slot::Hotplug);
        eng.register_read(watch.fd().as_raw_fd(), token)
            .map_err(io_err("epoll"))?;
        self.hotplug = Some(Hotplug {
            watch,
            token,
            index,
        });
        Ok(())
    }

    /// After a reload the device paths changed: watch the new list.
    pub(super) fn rewatch(&mut self, eng: &mut Engine) {
        if !self.watching {
            return;
        }
        if let Some(old) = self.hotplug.take() {
            self.release(eng, old.token, old.watch.fd().as_raw_fd());
        }
        for l in self
            .ports
            .iter_mut()
            .flatten()
            .flat_map(|p| p.lines.iter_mut())
        {
            l.present = hotplug::exists(&l.path);
        }
        if let Err(e) = self.watch_on(eng) {
            log::error!("{e}; devices are no longer watched");
        }
        self.status_dirty = true;
    }

    /// Every port's device paths, in port order.
    fn device_paths(&self) -> Vec<std::path::PathBuf> {
        self.ports
            .iter()
            .flatten()
            .flat_map(|p| p.lines.iter().map(|l| l.path.clone()))
            .collect()
    }

    pub(super) fn hotplug_ready(&mut self, eng: &mut Engine) {
        let Some(h) = self.hotplug.as_mut() else {
            return;
        };
        let changed: Vec<(usize, bool)> = h
            .watch
            .handle()
            .into_iter()
            .filter_map(|(i, present)| Some((*h.index.get(i)?, present)))
            .collect();
        if changed.is_empty() {
            return;
        }
        let mut lines: Vec<&mut super::PortDevice> = self
            .ports
            .iter_mut()
            .flatten()
            .flat_map(|p| p.lines.iter_mut())
            .collect();
        let mut back = Vec::new();
        for (i, present) in changed {
            if let Some(l) = lines.get_mut(i) {
                l.present = present;
                if present {
                    log::info!("{}: device appeared", l.path.display());
                    back.push(i);
                } else {
                    log::warn!("{}: device is absent", l.path.display());
                }
                if let Some(hook) = self.presence_hook.as_mut() {
                    hook(&l.path, present);
                }
            }
        }
        self.status_dirty = true;
        // hold-session: a held line whose device is back is reopened now.
        for i in back {
            if let Some((pi, li)) = self.line_at(i) {
                self.resume_held(eng, pi, li, false);
            }
        }
    }

    /// The port and line of the `i`th of the device paths (port order).
    fn line_at(&self, i: usize) -> Option<(usize, usize)> {
        self.ports
            .iter()
            .enumerate()
            .filter_map(|(pi, p)| Some((pi, p.as_ref()?)))
            .flat_map(|(pi, p)| (0..p.lines.len()).map(move |li| (pi, li)))
            .nth(i)
    }
}

/// Whether a device path is worth watching: anything but a present pty named directly.
fn may_come_and_go(p: &std::path::Path) -> bool {
    use nix::sys::statfs::{DEVPTS_SUPER_MAGIC, statfs};
    let pty = statfs(p).is_ok_and(|s| s.filesystem_type() == DEVPTS_SUPER_MAGIC);
    !hotplug::exists(p) || p.is_symlink() || !pty
}
