//! The client's local end: a virtual COM port (a pty in packet mode behind a symlink) or a
//! locked, raw local device; and the RFC 2217 requests that forward the local program's
//! settings changes to the server.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::termios::{ControlFlags, InputFlags};

use super::{ClientError, ConnectOptions, Local};
use crate::proto::telnet::{ComPort, rfc2217};
use crate::sys::lock::{Lock, LockError};
use crate::sys::tty;

/// The local end, opened once for the whole run.
pub(super) struct LocalEnd {
    /// The fd we read and write (pty master or device).
    pub(super) file: std::fs::File,
    /// The pty slave we hold open (pty mode).
    _slave: Option<OwnedFd>,
    pub(super) packet: bool,
    /// The symlink and the slave it points at (removed on exit only while it still does).
    link: Option<(PathBuf, PathBuf)>,
    saved: Option<nix::sys::termios::Termios>,
    _lock: Option<Lock>,
}

impl Drop for LocalEnd {
    fn drop(&mut self) {
        if let Some((link, slave)) = &self.link {
            crate::modem::pty::remove_link(link, slave);
        }
        if let Some(t) = &self.saved {
            let _ = tty::set_termios(&self.file, t);
        }
    }
}

/// Point `link` at the pty slave `target`, by the virtual modem's rule: only a missing path or
/// a symlink into `/dev/pts/` is replaced ([`crate::modem::pty::make_link`]).
fn make_link(target: &Path, link: &Path) -> Result<(), ClientError> {
    crate::modem::pty::make_link(link, target).map_err(|source| ClientError::Link {
        path: link.to_path_buf(),
        source,
    })
}

pub(super) fn open_local(opts: &ConnectOptions) -> Result<LocalEnd, ClientError> {
    match &opts.local {
        Local::Pty { link, access } => {
            let pty = tty::openpty()?;
            tty::set_owner(&pty.slave, access.uid, access.gid, access.mode)?;
            tty::set_extproc(&pty.slave, true)?;
            tty::set_packet_mode(&pty.master, true)?;
            tty::set_nonblocking(&pty.master, true)?;
            make_link(&pty.slave_path, link)?;
            log::info!(
                "virtual port {} -> {}",
                link.display(),
                pty.slave_path.display()
            );
            Ok(LocalEnd {
                file: std::fs::File::from(pty.master),
                _slave: Some(pty.slave),
                packet: true,
                link: Some((link.clone(), pty.slave_path.clone())),
                saved: None,
                _lock: None,
            })
        }
        Local::Device { path, stty } => {
            let lock = match opts.lock_dir.acquire(path) {
                Ok(l) => l,
                Err(LockError::Held { holder, .. }) => {
                    return Err(ClientError::Locked {
                        path: path.clone(),
                        by: holder.locked_by(),
                    });
                }
                Err(e) => {
                    return Err(ClientError::Lock {
                        path: path.clone(),
                        msg: e.to_string(),
                    });
                }
            };
            let fd = tty::open_line(path, false)?;
            if let Err(holder) = crate::sys::lock::claim_flock(&fd, path) {
                return Err(ClientError::Locked {
                    path: path.clone(),
                    by: holder.locked_by(),
                });
            }
            let saved = tty::get_termios(&fd).ok();
            tty::set_raw(&fd)?;
            if !stty.is_empty() {
                tty::apply_stty(&fd, stty)?;
            }
            tty::set_nonblocking(&fd, true)?;
            log::info!("bridging {}", path.display());
            Ok(LocalEnd {
                file: std::fs::File::from(fd),
                _slave: None,
                packet: false,
                link: None,
                saved,
                _lock: Some(lock),
            })
        }
    }
}

/// The settings last sent to the server, to forward changes only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sent {
    pub(super) params: tty::SerialParams,
    flow: u8,
    hangup: bool,
}

pub(super) fn local_settings(fd: impl AsFd) -> Option<Sent> {
    let fd = fd.as_fd();
    let t = tty::get_termios(fd).ok()?;
    let params = tty::get_params(fd).ok()?;
    let flow = if t.control_flags.contains(ControlFlags::CRTSCTS) {
        rfc2217::CONTROL_FLOW_HARDWARE
    } else if t.input_flags.contains(InputFlags::IXON) && t.input_flags.contains(InputFlags::IXOFF)
    {
        rfc2217::CONTROL_FLOW_XONXOFF
    } else {
        rfc2217::CONTROL_FLOW_NONE
    };
    Some(Sent {
        hangup: params.baud == 0,
        params,
        flow,
    })
}

/// The RFC 2217 requests that take the server from `old` (None = unknown) to `new`.
pub(super) fn settings_requests(old: Option<Sent>, new: Sent, out: &mut Vec<ComPort>) {
    let changed = |f: &dyn Fn(&Sent) -> bool| old.is_none_or(|o| f(&o) != f(&new));
    let p = new.params;
    if p.baud != 0 && old.is_none_or(|o| o.params.baud != p.baud) {
        out.push(ComPort::SetBaudrate(p.baud));
    }
    if old.is_none_or(|o| o.params.data_bits != p.data_bits) {
        out.push(ComPort::SetDatasize(p.data_bits));
    }
    if old.is_none_or(|o| o.params.parity != p.parity) {
        out.push(ComPort::SetParity(rfc2217::parity_code(p.parity)));
    }
    if old.is_none_or(|o| o.params.stop_bits != p.stop_bits) {
        out.push(ComPort::SetStopsize(rfc2217::stop_code(p.stop_bits)));
    }
    if old.is_none_or(|o| o.flow != new.flow) {
        out.push(ComPort::SetControl(new.flow));
    }
    if changed(&|s: &Sent| s.hangup) {
        let v = if new.hangup {
            rfc2217::CONTROL_DTR_OFF
        } else {
            rfc2217::CONTROL_DTR_ON
        };
        out.push(ComPort::SetControl(v));
        if old.is_none() {
            out.push(ComPort::SetControl(rfc2217::CONTROL_RTS_ON));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(baud: u32) -> Sent {
        Sent {
            params: tty::SerialParams {
                baud,
                data_bits: 8,
                parity: tty::Parity::None,
                stop_bits: tty::StopBits::One,
            },
            flow: rfc2217::CONTROL_FLOW_NONE,
            hangup: baud == 0,
        }
    }

    /// The requests as they go on the wire, through the client's RFC 2217 layer.
    fn decode(reqs: &[ComPort]) -> Vec<ComPort> {
        reqs.iter()
            .filter_map(crate::share::stack::comport::control_of)
            .filter_map(|c| crate::share::stack::comport::comport_of(&c))
            .collect()
    }

    #[test]
    fn requests_only_for_changes() {
        let mut out = Vec::new();
        settings_requests(None, sent(9600), &mut out);
        assert_eq!(
            decode(&out),
            vec![
                ComPort::SetBaudrate(9600),
                ComPort::SetDatasize(8),
                ComPort::SetParity(1),
                ComPort::SetStopsize(1),
                ComPort::SetControl(1),
                ComPort::SetControl(8),
                ComPort::SetControl(11),
            ]
        );
        out.clear();
        settings_requests(Some(sent(9600)), sent(115_200), &mut out);
        assert_eq!(decode(&out), vec![ComPort::SetBaudrate(115_200)]);
        out.clear();
        settings_requests(Some(sent(9600)), sent(0), &mut out);
        assert_eq!(decode(&out), vec![ComPort::SetControl(9)]);
    }
}
