//! The virtual modem mode of rgetty-share: `rgetty-share modem --link PATH -p PORT`.
//!
//! Runs a [`VModem`] in TCP mode ([`crate::vmodem::Config::tcp`]) on a pty with a stable symlink
//! at `PATH`, so a getty (rgetty, mgetty, agetty) or a dial-out program (minicom, pppd with
//! chat) can use it as if a Hayes modem were on a serial port, with TCP as the phone network:
//!
//! * **Incoming calls.** A TCP connection to `--listen ADDR` (default 127.0.0.1) port `-p PORT`
//!   makes the modem RING every 2 s (with caller-ID lines after the first RING: `DATE`/`TIME`
//!   in UTC, `NMBR` = the caller's IP address, so dialin.config can screen by address) until it
//!   is answered with `ATA`, or automatically after `--rings N` rings (S0, default 0 = never),
//!   or the caller gives up. Then `CONNECT <--speed>` (default 38400) and bytes flow both ways,
//!   unchanged (no telnet processing).
//! * **Outgoing calls.** `ATD host:port` (also `ATDT`/`ATDP`) connects over TCP within S7
//!   seconds: `CONNECT` on success, `BUSY` when the connection is refused, `NO CARRIER`
//!   otherwise (no such host, timeout, a number that is not `host:port`). A byte typed while
//!   dialling aborts the call (`NO CARRIER`).
//! * **Ending calls.** The TCP peer closing gives `NO CARRIER` and then a carrier drop: the pty
//!   master is closed (the getty gets `SIGHUP`) and a new pty is created behind the same
//!   symlink at once. DTR drop (the DTE closing the line) or `ATH` closes the TCP connection.
//!   `+++` (with S12 guard times) escapes to command state; `ATO` returns online.
//! * **One caller at a time.** A second caller gets the line `BUSY\r\n` and is disconnected.
//! * **Access.** Loopback peers are always admitted; others only when an `--allow` entry
//!   matches (the share ACL syntax, [`crate::share::acl`]: `ADDR`, `ADDR/BITS`, `*`, comma
//!   lists). Refused peers are disconnected without a word and logged.
//!
//! Deliberate differences from a real modem line: RINGs come every 2 s instead of the usual 6 s;
//! `NMBR` carries an IP address.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::share::acl::Acl;
use crate::vmodem::{Config, VModem};

/// Command-line arguments of `rgetty-share modem`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "rgetty-share modem",
    about = "Run a virtual Hayes modem on a pty, with TCP as the phone network"
)]
struct Cli {
    /// Stable symlink to create to the pty slave (the "serial port" for the getty).
    #[arg(long, value_name = "PATH")]
    link: PathBuf,
    /// TCP port for incoming calls.
    #[arg(short = 'p', long, value_name = "PORT")]
    port: u16,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    listen: IpAddr,
    /// Also admit callers from these addresses or networks (ADDR, ADDR/BITS, `*`, or a
    /// comma-separated list of them); repeatable.
    #[arg(long, value_name = "CIDR", value_parser = check_allow)]
    allow: Vec<String>,
    /// Answer automatically after N rings (the power-on S0; 0 = wait for ATA).
    #[arg(long, value_name = "N", default_value_t = 0)]
    rings: u8,
    /// Speed shown in CONNECT messages.
    #[arg(long, value_name = "N", default_value_t = 38400)]
    speed: u32,
}

/// Check one `--allow` value with the share ACL parser.
fn check_allow(s: &str) -> Result<String, String> {
    Acl::parse(&[s])
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

/// Settings of the modem mode (what the command line sets, plus knobs for tests).
#[derive(Debug, Clone)]
pub struct Options {
    /// Symlink to the pty slave.
    pub link: PathBuf,
    /// Where to listen for incoming calls (port 0: any free port, see
    /// [`ModemServer::local_addr`]).
    pub listen: SocketAddr,
    /// Extra admitted peers (loopback is always admitted); `None`: loopback only.
    pub allow: Option<Acl>,
    /// Power-on S0 (auto-answer after this many rings; 0 = never).
    pub rings: u8,
    /// Speed in CONNECT messages.
    pub speed: u32,
    /// Interval between RINGs (2 s from the command line).
    pub ring_interval: Duration,
    /// Keep the modem's transcript (false from the command line: a daemon must not grow).
    pub keep_transcript: bool,
}

impl Options {
    fn from_cli(c: Cli) -> Options {
        Options {
            link: c.link,
            listen: SocketAddr::new(c.listen, c.port),
            // each value was checked by `check_allow`, so this cannot fail
            allow: Acl::parse(&c.allow).ok(),
            rings: c.rings,
            speed: c.speed,
            ring_interval: Duration::from_secs(2),
            keep_transcript: false,
        }
    }
}

/// The running modem mode: the listener and the virtual modem.
#[derive(Debug)]
pub struct ModemServer {
    vm: VModem,
    listener: TcpListener,
    allow: Option<Acl>,
}

impl ModemServer {
    /// Start the virtual modem (creating the symlink) and bind the listener.
    pub fn bind(opts: &Options) -> io::Result<ModemServer> {
        let listener = TcpListener::bind(opts.listen)?;
        listener.set_nonblocking(true)?;
        let vm = VModem::start(Config {
            connect_speed: opts.speed,
            link: Some(opts.link.clone()),
            auto_answer: opts.rings,
            ring_interval: opts.ring_interval,
            reopen_on_drop: true,
            tcp: true,
            keep_transcript: opts.keep_transcript,
            ..Config::default()
        })?;
        Ok(ModemServer {
            vm,
            listener,
            allow: opts.allow.clone(),
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The virtual modem (for its transcript and state).
    pub fn vmodem(&self) -> &VModem {
        &self.vm
    }

    /// Whether `ip` may call.
    pub fn admits(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_loopback() || self.allow.as_ref().is_some_and(|a| a.allows(ip))
    }

    /// Accept callers until `stop` is set (checked every 100 ms).
    pub fn run(&self, stop: &AtomicBool) -> io::Result<()> {
        while !stop.load(Ordering::Relaxed) {
            let mut fds = [PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(100u16)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(io::Error::from(e)),
            }
            loop {
                match self.listener.accept() {
                    Ok((s, peer)) => self.incoming(s, peer),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log::warn!("modem: accept: {e}");
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    fn incoming(&self, mut s: TcpStream, peer: SocketAddr) {
        let ip = peer.ip().to_canonical();
        if !self.admits(ip) {
            log::warn!("modem: refused call from {peer}: not in the allow list");
            let _ = s.shutdown(std::net::Shutdown::Both);
            return;
        }
        if self.vm.busy() {
            // the modem thread checks again (race-free); this just saves a round trip
            log::info!("modem: call from {peer}: busy");
            let _ = s.write_all(b"BUSY\r\n");
            return;
        }
        log::info!("modem: call from {peer}");
        let _ = s.set_nodelay(true);
        self.vm.offer_call(s, ip.to_string());
    }
}

/// `rgetty-share modem ARGS…`: `args` are the arguments after the subcommand (a leading
/// `modem` is skipped). Returns the exit code: 0 after SIGTERM/SIGINT or `--help`, 1 when the
/// modem or the listener cannot start, 2 on a usage error. Usage errors and `--help` go to
/// stderr/stdout (this is the command-line entry point).
pub fn main(args: Vec<String>) -> i32 {
    let mut args = args;
    if args.first().is_some_and(|a| a == "modem") {
        args.remove(0);
    }
    let argv = std::iter::once("rgetty-share modem".to_string()).chain(args);
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let opts = Options::from_cli(cli);
    let server = match ModemServer::bind(&opts) {
        Ok(s) => s,
        Err(e) => {
            log::error!("modem: cannot start on {}: {e}", opts.listen);
            #[allow(clippy::print_stderr)]
            {
                eprintln!("rgetty-share modem: cannot start on {}: {e}", opts.listen);
            }
            return 1;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            log::warn!("modem: cannot catch signal {sig}: {e}");
        }
    }
    log::info!(
        "modem: {} -> {}, listening on {}",
        opts.link.display(),
        server.vmodem().slave_path().display(),
        opts.listen
    );
    match server.run(&stop) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("modem: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(main(s(&["--bogus"])), 2);
        assert_eq!(main(s(&["modem", "--link", "/tmp/x"])), 2); // no port
        assert_eq!(main(s(&["--link", "/tmp/x", "-p", "99999"])), 2);
        assert_eq!(
            main(s(&["--link", "/tmp/x", "-p", "1", "--allow", "nope"])),
            2
        );
        let ok = Cli::try_parse_from(s(&[
            "x",
            "--link",
            "/tmp/l",
            "-p",
            "2323",
            "--allow",
            "10.0.0.0/8",
            "--rings",
            "2",
        ]))
        .unwrap();
        let o = Options::from_cli(ok);
        assert_eq!(o.listen, "127.0.0.1:2323".parse().unwrap());
        assert_eq!(o.rings, 2);
        assert_eq!(o.speed, 38400);
        let acl = o.allow.unwrap();
        assert!(acl.allows("10.9.8.7".parse().unwrap()));
        assert!(!acl.allows("192.0.2.1".parse().unwrap()));
    }
}
