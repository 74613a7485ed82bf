//! The call side of the line: the TCP peer, pacing, hang-ups and the carrier drop.

use std::io::{self, Read};
use std::net::{IpAddr, Shutdown, TcpStream, ToSocketAddrs};
use std::time::Duration;

use nix::errno::Errno;

use super::{BUF_CAP, CARRIER_DROP_GRACE, ModemLine, flush_to, would_block};
use crate::modem::dial::Target;
use crate::modem::policy::DialPolicy;
use crate::modem::poll::Ready;
use crate::modem::pty;
use crate::proto::at::ResultCode;

impl ModemLine {
    pub(super) fn call_ready(&mut self, r: Ready) {
        if !r.read && r.hangup && !self.online {
            self.remote_gone("reset");
        } else {
            self.pump_call();
        }
    }

    pub(super) fn flush_dte(&mut self) {
        if !self.slave_open {
            self.to_dte.clear();
            return;
        }
        let Some(m) = &self.master else { return };
        while !self.to_dte.is_empty() {
            match nix::unistd::write(m, &self.to_dte) {
                Ok(n) => {
                    self.to_dte.drain(..n);
                }
                Err(Errno::EAGAIN | Errno::EINTR) => break,
                Err(e) => {
                    log::debug!("modem: write to master: {e}");
                    self.to_dte.clear();
                    break;
                }
            }
        }
    }

    pub(super) fn incoming_ready(&mut self, r: Ready) {
        if r.write {
            if let Some(i) = &mut self.incoming {
                let _ = flush_to(&mut i.stream, &mut i.out);
            }
        }
        if r.read || r.hangup {
            self.read_incoming();
        }
    }

    /// Read a waiting caller until `EAGAIN` or a full buffer; its hang-up frees the line.
    pub(super) fn read_incoming(&mut self) {
        let mut buf = [0u8; 4096];
        loop {
            let Some(i) = &mut self.incoming else { return };
            if i.early.len() >= BUF_CAP {
                return;
            }
            match i.stream.read(&mut buf) {
                Ok(0) => {
                    log::info!("modem: caller {} gave up before the answer", i.peer);
                    let peer = i.peer;
                    self.incoming = None;
                    self.connect_at = None;
                    self.cooldown.ended(peer, self.now());
                    return;
                }
                Ok(n) => {
                    let mut reply = Vec::new();
                    i.wire.decode(&buf[..n], &mut i.early, &mut reply);
                    i.out.extend_from_slice(&reply);
                }
                Err(e) if would_block(&e) => return,
                Err(_) => {
                    self.incoming = None;
                    return;
                }
            }
        }
    }

    /// `ATH1`: go off-hook. A ringing call stops ringing and is held, without carrier, until
    /// the next hang-up (how a call blocker drops a caller).
    pub(super) fn off_hook(&mut self) {
        if let Some(i) = self.incoming.take() {
            log::info!("modem: off-hook: picked up the ringing call without answering");
            self.at.clear_rings();
            self.connect_at = None;
            self.off_hook = Some(i.stream);
        }
    }

    /// Hang up locally (ATH, ATZ, DTR drop): close the call, command state.
    pub(super) fn hangup(&mut self) {
        if let Some(s) = self.off_hook.take() {
            log::info!("modem: on-hook: the picked-up caller is dropped");
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(mut c) = self.call.take() {
            log::info!("modem: hang up");
            if let Some(cl) = c.pump.clients.first_mut() {
                cl.writable = true;
                cl.flush();
                cl.conn.shutdown();
            }
            if let Some(p) = c.peer {
                self.cooldown.ended(p, self.now());
            }
        }
        self.online = false;
    }

    /// The peer hung up: NO CARRIER, then a carrier drop after a grace period.
    pub(super) fn remote_gone(&mut self, why: &str) {
        if self.call.is_none() {
            return;
        }
        log::info!("modem: remote hung up ({why})");
        self.hangup();
        self.result(ResultCode::NoCarrier);
        self.drop_at = Some(self.now() + CARRIER_DROP_GRACE);
    }

    /// Close the master (the session on the slave gets SIGHUP) and open a new pty behind the
    /// same symlink.
    pub(super) fn carrier_drop(&mut self) {
        self.flush_dte();
        self.master = None;
        self.to_dte.clear();
        self.slave_open = false;
        log::debug!("modem: carrier dropped");
        match pty::open_as(&self.set.access) {
            Ok((m, path)) => {
                if let Err(e) = pty::make_link(&self.set.link, &path) {
                    log::warn!("modem: re-pointing {}: {e}", self.set.link.display());
                }
                self.master = Some(m);
                self.master_gen += 1;
                self.slave_path = path;
            }
            Err(e) => log::error!("modem: cannot open a new pty: {e}"),
        }
    }
}

/// Connect to `target` within `wait`, to the addresses `policy` allows: the result code for
/// the DTE on failure (`NO CARRIER` when no address may be dialled).
pub(super) fn dial_tcp(
    target: &Target,
    wait: Duration,
    policy: &DialPolicy,
) -> Result<TcpStream, ResultCode> {
    let addrs = target.addr.to_socket_addrs().map_err(|e| {
        log::info!("modem: dial {}: {e}", target.addr);
        ResultCode::NoCarrier
    })?;
    let here = this_host();
    let mut code = ResultCode::NoCarrier;
    for addr in addrs {
        let ip = addr.ip().to_canonical();
        if let Err(why) = policy.check(ip, target.listed, here.contains(&ip)) {
            log::warn!("modem: dial {}: refused: {why}", target.addr);
            continue;
        }
        match TcpStream::connect_timeout(&addr, wait) {
            Ok(s) => return Ok(s),
            Err(e) => {
                log::info!("modem: dial {addr}: {e}");
                code = result_for(e.kind());
            }
        }
    }
    Err(code)
}

/// The addresses of this host's interfaces (a dial to one reaches local services).
fn this_host() -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter_map(|a| {
            let sa = a.address?;
            if let Some(v4) = sa.as_sockaddr_in() {
                return Some(IpAddr::V4(v4.ip()));
            }
            sa.as_sockaddr_in6()
                .map(|v6| IpAddr::V6(v6.ip()).to_canonical())
        })
        .collect()
}

/// The result code a failed TCP connect gives: refused → `BUSY`, timed out → `NO ANSWER`,
/// no route → `NO DIALTONE`, anything else `NO CARRIER`.
pub(super) fn result_for(kind: io::ErrorKind) -> ResultCode {
    match kind {
        io::ErrorKind::ConnectionRefused => ResultCode::Busy,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ResultCode::NoAnswer,
        io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable => {
            ResultCode::NoDialtone
        }
        _ => ResultCode::NoCarrier,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_to_result_codes() {
        use io::ErrorKind as K;
        assert_eq!(result_for(K::ConnectionRefused), ResultCode::Busy);
        assert_eq!(result_for(K::TimedOut), ResultCode::NoAnswer);
        assert_eq!(result_for(K::NetworkUnreachable), ResultCode::NoDialtone);
        assert_eq!(result_for(K::HostUnreachable), ResultCode::NoDialtone);
        assert_eq!(result_for(K::ConnectionReset), ResultCode::NoCarrier);
    }
}
