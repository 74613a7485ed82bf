//! The virtual Hayes modem behind `rgetty-share modem`: a pty that looks like a serial port
//! with a modem on it, with TCP as the phone network.
//!
//! * [`line`](mod@line): the engine (AT command state, rings, the call, the pty); a call's
//!   data moves through [`crate::share::pump::Pump`], the pty as its device end;
//! * `driver.rs`: the line on the event engine shared with `serve`
//!   ([`crate::share::engine`], epoll through mio);
//! * [`poll`]: the line's readiness types, and a `poll(2)` wait for simple drivers (the test
//!   bench);
//! * pure helpers: [`cid`] (caller-ID formats), [`dial`] (phonebook and dial rules),
//!   [`policy`] (where dials may go, and how often),
//!   [`pace`] (`--throttle`, `--cooldown`), [`wire`] (raw or telnet per call);
//! * [`pty`]: the pty and its symlink.
//!
//! [`ModemServer`] is the driver: a TCP listener (loopback unless an allow list says otherwise)
//! and one [`line::ModemLine`], in one thread. The user-facing description (every AT command,
//! S-register and option) is in rgetty-share(8) and the README.

pub mod cid;
pub mod cli;
pub mod dial;
mod driver;
pub mod line;
pub mod pace;
pub mod policy;
pub mod poll;
pub mod pty;
pub mod wire;

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::atomic::AtomicBool;

use crate::share::acl::Acl;
use line::{ModemLine, ModemSettings};

/// The running modem: the listener and the line.
#[derive(Debug)]
pub struct ModemServer {
    line: ModemLine,
    listener: TcpListener,
    allow: Option<Acl>,
}

impl ModemServer {
    /// Create the pty and symlink and bind `listen` (port 0: any free port). `allow` admits
    /// peers besides loopback.
    pub fn bind(
        set: ModemSettings,
        listen: SocketAddr,
        allow: Option<Acl>,
    ) -> io::Result<ModemServer> {
        let listener = TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let line = ModemLine::new(set)?;
        Ok(ModemServer {
            line,
            listener,
            allow,
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The slave's current path.
    pub fn slave_path(&self) -> &std::path::Path {
        self.line.slave_path()
    }

    /// Whether `ip` may call: loopback always, others when the allow list says so.
    pub fn admits(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_loopback() || self.allow.as_ref().is_some_and(|a| a.allows(ip))
    }

    /// Run on the shared event engine until `stop` is set (checked at least once a second);
    /// removes the symlink then.
    pub fn run(&mut self, stop: &AtomicBool) -> io::Result<()> {
        let res = driver::Driver::new(self, stop).run();
        self.line.close();
        res
    }

    pub(super) fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((s, peer)) => {
                    let ip = peer.ip().to_canonical();
                    if self.admits(ip) {
                        self.line.offer(s, ip);
                    } else {
                        log::warn!("modem: refused call from {peer}: not in the allow list");
                        let _ = s.shutdown(std::net::Shutdown::Both);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::warn!("modem: accept: {e}");
                    break;
                }
            }
        }
    }
}

/// The name of `ip` from reverse DNS (`getnameinfo` with `NI_NAMEREQD`), cleaned for a
/// caller-ID line ([`cid::clean`]); `None` when there is none. Blocks: run it off the loop.
pub fn reverse_dns(ip: IpAddr) -> Option<String> {
    let name = cid::clean(&crate::sys::names::reverse(ip)?);
    (!name.is_empty()).then_some(name)
}
