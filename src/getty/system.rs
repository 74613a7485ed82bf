//! What rgetty asks of the system besides the line: uname, the pid file.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::issue::Facts;
use crate::logging::{self};
use crate::tty::{self};

use super::common::Getty;
use super::state::Call;

impl Getty {
    // ---------------------------------------------------------------- login (§5)

    pub(super) fn facts(&self, call: &Call) -> Facts {
        let uts = nix::sys::utsname::uname().ok();
        let s = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            uts.as_ref()
                .map(|u| f(u).to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        Facts {
            nodename: s(nix::sys::utsname::UtsName::nodename),
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
}

pub(super) fn write_pid_file(path: &Path) -> io::Result<()> {
    fs::write(path, format!("{}\n", std::process::id()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
}
