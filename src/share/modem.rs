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
//! * **Access.** Loopback peers are always admitted; others only when an `--allow ADDR[/BITS]`
//!   matches. Refused peers are disconnected without a word and logged.
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
    /// Also admit callers from this address or network (ADDR or ADDR/BITS); repeatable.
    #[arg(long, value_name = "CIDR", value_parser = parse_cidr)]
    allow: Vec<Cidr>,
    /// Answer automatically after N rings (the power-on S0; 0 = wait for ATA).
    #[arg(long, value_name = "N", default_value_t = 0)]
    rings: u8,
    /// Speed shown in CONNECT messages.
    #[arg(long, value_name = "N", default_value_t = 38400)]
    speed: u32,
}

/// An allowed address or network.
// TODO(share): use share::acl once it is merged; kept private here meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Whether `ip` is inside this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Parse `ADDR` or `ADDR/BITS`.
pub fn parse_cidr(s: &str) -> Result<Cidr, String> {
    let (a, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let addr: IpAddr = a
        .parse()
        .map_err(|_| format!("bad address in {s:?} (want ADDR or ADDR/BITS)"))?;
    let addr = addr.to_canonical();
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        None => max,
        Some(b) => b
            .parse::<u8>()
            .ok()
            .filter(|b| *b <= max)
            .ok_or_else(|| format!("bad prefix length in {s:?}"))?,
    };
    Ok(Cidr { addr, bits })
}

/// Settings of the modem mode (what the command line sets, plus knobs for tests).
#[derive(Debug, Clone)]
pub struct Options {
    /// Symlink to the pty slave.
    pub link: PathBuf,
    /// Where to listen for incoming calls (port 0: any free port, see
    /// [`ModemServer::local_addr`]).
    pub listen: SocketAddr,
    /// Extra admitted peers (loopback is always admitted).
    pub allow: Vec<Cidr>,
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
            allow: c.allow,
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
    allow: Vec<Cidr>,
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
        ip.is_loopback() || self.allow.iter().any(|c| c.contains(ip))
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
    fn cidr() {
        let table = [
            ("10.0.0.0/8", "10.1.2.3", true),
            ("10.0.0.0/8", "11.1.2.3", false),
            ("192.168.1.7", "192.168.1.7", true),
            ("192.168.1.7", "192.168.1.8", false),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("::ffff:10.0.0.1", "10.0.0.1", true),
            ("10.0.0.0/8", "::ffff:10.9.9.9", true),
            ("fd00::/8", "fd12::1", true),
            ("fd00::/8", "10.0.0.1", false),
        ];
        for (c, ip, want) in table {
            let c = parse_cidr(c).unwrap();
            assert_eq!(c.contains(ip.parse().unwrap()), want, "{c:?} {ip}");
        }
        for bad in [
            "",
            "x",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/-1",
            "host.example",
        ] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
    }

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
        assert_eq!(o.allow.len(), 1);
    }
}
