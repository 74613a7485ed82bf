//! The port's owner and mode (config files: [`crate::config::load`]).

use std::os::fd::AsFd;

use super::common::Getty;

impl Getty {
    /// Give the open line to port-owner/port-group with port-mode, through its fd (the path
    /// could have been swapped since it was opened). An unknown owner or group is logged.
    pub(super) fn set_port_owner(&self, fd: impl AsFd) {
        let s = &self.settings;
        let owner = s.port_owner.trim();
        let (uid, primary_gid) = match crate::sys::exec::user_by_name_or_id(owner) {
            Some(u) => (u.uid, Some(u.gid)),
            None => {
                log::error!("port-owner {owner:?} unknown, using uid 0");
                (0.into(), None)
            }
        };
        let group = s.port_group.as_deref().map(str::trim);
        let gid = match group.map(|g| (g, crate::sys::exec::group_by_name_or_id(g))) {
            Some((_, Some(gid))) => Some(gid),
            Some((g, None)) => {
                log::error!(
                    "port-group {g:?} unknown, using the group of port-owner {owner:?} \
                     (on Debian: port-group dialout, or --profile debian)"
                );
                primary_gid
            }
            None => primary_gid,
        };
        if let Err(e) = crate::sys::tty::set_owner(fd, Some(uid), gid, Some(s.port_mode)) {
            log::warn!("cannot give {} to {owner}: {e}", self.tty.path.display());
        }
    }
}
