//! Permission policy: root-only config files and the port's owner and mode.

use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::common::Getty;

/// The file mode problem of a root-only file, if any (login.config, ring patterns).
pub(super) fn perms_problem(path: &Path) -> Option<String> {
    let meta = fs::metadata(path).ok()?;
    if meta.uid() != 0 || meta.mode() & 0o077 != 0 {
        Some(format!(
            "{}: wrong permissions (owner uid {}, mode {:04o}): must be owned by root and not accessible by group or others",
            path.display(),
            meta.uid(),
            meta.mode() & 0o7777
        ))
    } else {
        None
    }
}

impl Getty {
    /// Give the open line to port-owner/port-group with port-mode, through its fd (the path
    /// could have been swapped since it was opened). An unknown owner or group is logged.
    pub(super) fn set_port_owner(&self, fd: impl AsFd) {
        let s = &self.settings;
        let owner = s.port_owner.trim();
        let (uid, primary_gid) = match crate::exec::user_by_name_or_id(owner) {
            Some(u) => (u.uid, Some(u.gid)),
            None => {
                log::error!("port-owner {owner:?} unknown, using uid 0");
                (0.into(), None)
            }
        };
        let group = s.port_group.as_deref().map(str::trim);
        let gid = match group.map(|g| (g, crate::exec::group_by_name_or_id(g))) {
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
        if let Err(e) = crate::tty::set_owner(fd, Some(uid), gid, Some(s.port_mode)) {
            log::warn!("cannot give {} to {owner}: {e}", self.tty.path.display());
        }
    }
}
