//! Opening a port's device for a session: the first free line, its lock and flock, raw mode
//! and the port's settings, DTR/RTS and RS-485 at open.

use std::path::{Path, PathBuf};

use super::Port;
use crate::share::conf::PortConfig;
use crate::share::session::{Pump, Session};
use crate::share::stack::Conn;
use crate::sys::lock::LockError;
use crate::sys::tty;

/// Open the first line of the port that has no session and is not ours elsewhere; the reason
/// the last one could not be opened otherwise.
pub(super) fn open_free_line(
    port: &mut Port,
    in_use: &[PathBuf],
    settings: &super::ServerSettings,
) -> Result<usize, String> {
    let mut last_reason = String::new();
    for li in 0..port.lines.len() {
        if port.lines[li].session.is_some() {
            continue;
        }
        // Our own sessions (another port, a retired port after a reload, the same device
        // under another name): the lock file names us, so check here.
        let lock = settings.lock_dir.lock_name_for(&port.lines[li].path);
        if in_use.contains(&lock) {
            last_reason = "line busy (in use on another port)".to_string();
            continue;
        }
        match open_session(&port.lines[li].path, &port.cfg, settings) {
            Ok(s) => {
                port.lines[li].session = Some(Box::new(s));
                return Ok(li);
            }
            Err(reason) => {
                log::info!(
                    "port {}: {}: {reason}",
                    port.addr,
                    port.lines[li].path.display()
                );
                last_reason = reason;
            }
        }
    }
    Err(last_reason)
}

/// Lock, open and set up a device; the error is the one-line reason for the client.
pub(super) fn open_session(
    path: &Path,
    cfg: &PortConfig,
    settings: &super::ServerSettings,
) -> Result<Session, String> {
    // A hot-plugged device not plugged in (or a by-id link udev has not made yet).
    if !crate::ops::hotplug::exists(path) {
        return Err(format!("device {} is absent", path.display()));
    }
    let lock = match settings.lock_dir.acquire(path) {
        Ok(l) => l,
        Err(LockError::Held { holder, .. }) => {
            return Err(format!("line busy ({})", holder.locked_by()));
        }
        Err(e) => {
            log::error!("{}: lock: {e}", path.display());
            return Err("line busy (cannot lock)".into());
        }
    };
    let setup_err = |e: tty::Error| {
        log::error!("{}: {e}", path.display());
        "cannot set up the device".to_string()
    };
    let fd = tty::open_line(path, false).map_err(|e| {
        log::error!("{}: {e}", path.display());
        "cannot open the device".to_string()
    })?;
    crate::sys::lock::claim_flock(&fd, path).map_err(|h| match h.pid {
        0 => format!("line busy ({})", h.cmdline),
        pid => format!("line busy (flock held by pid {pid})"),
    })?;
    let mut saved = tty::get_termios(&fd).ok();
    if let Err(e) = tty::set_raw(&fd).and_then(|()| {
        if cfg.stty.is_empty() {
            Ok(())
        } else {
            tty::apply_stty(&fd, &cfg.stty)
        }
    }) {
        if let Some(t) = &saved {
            let _ = tty::set_termios(&fd, t);
        }
        return Err(setup_err(e));
    }
    let (dtr, rts) = super::lines::at_open(std::os::fd::AsFd::as_fd(&fd), cfg, &mut saved);
    tty::set_nonblocking(&fd, true).map_err(setup_err)?;
    let has_modem_lines = matches!(tty::modem_lines(&fd), Ok(Some(_)));
    let note = if has_modem_lines {
        ""
    } else {
        " (no modem lines)"
    };
    log::info!("{}: opened{note}", path.display());
    let dev = Conn::bare(fd).map_err(|e| {
        log::error!("{}: {e}", path.display());
        "cannot set up the device".to_string()
    })?;
    Ok(Session::new(
        Pump::new(dev),
        path,
        lock,
        saved,
        has_modem_lines,
        (dtr, rts),
    ))
}
