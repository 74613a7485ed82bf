//! Per-port line options at open and close: `dtr=` and `rts=` (`on`, `off`, `keep`) and
//! `hangup-when-done`.
//!
//! `keep` makes rgetty-share leave the line alone: nothing is set at open, and `hupcl` is
//! cleared (in the settings used and in those restored at close) so that closing the device
//! does not drop DTR and RTS. The kernel raises both when a closed port is first opened; with
//! `hupcl` off they stay up after that, so a board whose reset hangs on DTR is not reset by
//! each connect (ser2net issue 132).

use std::os::fd::BorrowedFd;

use nix::sys::termios::{ControlFlags, Termios};

use crate::share::conf::{LineSetting, PortConfig};
use crate::sys::tty;

/// Apply the port's `dtr=`/`rts=` to a device just opened and set up; returns the DTR and RTS
/// the session starts with. `saved` (restored at close) loses `hupcl` for `keep`.
pub(super) fn at_open(
    fd: BorrowedFd<'_>,
    cfg: &PortConfig,
    saved: &mut Option<Termios>,
) -> (bool, bool) {
    let path = || {
        cfg.devices
            .first()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    if cfg.dtr == LineSetting::Keep || cfg.rts == LineSetting::Keep {
        if let Err(e) = tty::apply_stty(fd, "-hupcl") {
            log::warn!("{}: clearing hupcl: {e}", path());
        }
        if let Some(t) = saved.as_mut() {
            t.control_flags.remove(ControlFlags::HUPCL);
        }
    }
    let set = |which: LineSetting, f: fn(BorrowedFd<'_>, bool) -> tty::Result<bool>| {
        let on = match which {
            LineSetting::On => true,
            LineSetting::Off => false,
            LineSetting::Default | LineSetting::Keep => return true,
        };
        if let Err(e) = f(fd, on) {
            log::warn!("{}: {e}", path());
        }
        on
    };
    let dtr = set(cfg.dtr, |fd, on| tty::set_dtr(fd, on));
    let rts = set(cfg.rts, |fd, on| tty::set_rts(fd, on));
    if let Some(want) = &cfg.rs485 {
        rs485(fd, want, &path());
    }
    (dtr, rts)
}

/// Apply `rs485=` and log the outcome: refused, kept as asked, or changed by the driver.
fn rs485(fd: BorrowedFd<'_>, want: &crate::proto::rs485::Rs485, path: &str) {
    use crate::proto::rs485::describe;
    match tty::set_rs485(fd, want) {
        Err(e) => log::warn!("{path}: rs485 {}: the driver refused: {e}", describe(want)),
        Ok(got) if got == *want => log::info!("{path}: rs485 {}", describe(&got)),
        Ok(got) => log::warn!(
            "{path}: rs485 {} asked, the driver kept {}",
            describe(want),
            describe(&got)
        ),
    }
}

/// `keep` ports, when the server starts: clear `hupcl` on the device once (when present and
/// not locked by another program: its lock files are looked at, since the flock check opens
/// the device), so that no later open or close, the lock check's test open
/// included, drops DTR or RTS.
pub(super) fn prepare(path: &std::path::Path, cfg: &PortConfig, locks: &crate::sys::lock::LockDir) {
    if cfg.dtr != LineSetting::Keep && cfg.rts != LineSetting::Keep {
        return;
    }
    if !crate::ops::hotplug::exists(path) || locks.check_files(path).is_some() {
        return;
    }
    let r = tty::open_line(path, false).and_then(|fd| tty::apply_stty(&fd, "-hupcl"));
    if let Err(e) = r {
        log::warn!("{}: clearing hupcl: {e}", path.display());
    }
}

/// `hangup-when-done`: drop DTR before the session's device is closed.
pub(super) fn at_close(fd: BorrowedFd<'_>, hangup: bool) {
    if hangup {
        if let Err(e) = tty::set_dtr(fd, false) {
            log::warn!("hanging up: {e}");
        }
    }
}
