//! Permission policy: root-only config files and the port's owner and mode.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
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
    pub(super) fn set_port_owner(&self) {
        use nix::unistd::{Group, User, chown};
        let s = &self.settings;
        let owner = s.port_owner.trim();
        let user = owner.parse::<u32>().ok().map_or_else(
            || User::from_name(owner).ok().flatten(),
            |uid| User::from_uid(uid.into()).ok().flatten(),
        );
        let (uid, primary_gid) = match &user {
            Some(u) => (u.uid, Some(u.gid)),
            None => {
                log::error!("port-owner {owner:?} unknown, using uid 0");
                (0.into(), None)
            }
        };
        let gid = s
            .port_group
            .as_deref()
            .map(str::trim)
            .and_then(|g| {
                g.parse::<u32>().ok().map_or_else(
                    || Group::from_name(g).ok().flatten().map(|g| g.gid),
                    |n| Some(n.into()),
                )
            })
            .or(primary_gid);
        if let Err(e) = chown(&self.tty.path, Some(uid), gid) {
            log::warn!("cannot chown {}: {e}", self.tty.path.display());
        }
        if let Err(e) = fs::set_permissions(&self.tty.path, fs::Permissions::from_mode(s.port_mode))
        {
            log::warn!("cannot chmod {}: {e}", self.tty.path.display());
        }
    }
}
