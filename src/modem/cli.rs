//! `rgetty-share modem`: the command line of the virtual Hayes modem ([`crate::modem`]).
//!
//! Parses the options into [`crate::modem::line::ModemSettings`], reads the phonebook, binds the
//! listener and runs [`crate::modem::ModemServer`] until SIGTERM or SIGINT. Every AT command,
//! S-register and option is described in rgetty-share(8).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::Parser;

use crate::modem::ModemServer;
use crate::modem::cid;
use crate::modem::dial::Phonebook;
use crate::modem::line::ModemSettings;
use crate::modem::policy::DialPolicy;
use crate::share::acl::Acl;
use crate::share::client::Access;

/// Command-line arguments of `rgetty-share modem`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "rgetty-share modem",
    about = "Run a virtual Hayes modem on a pty, with TCP as the phone network"
)]
struct Cli {
    /// Stable symlink to create to the pty slave (the "serial port" for the getty); only a
    /// missing path or an earlier symlink into /dev/pts is replaced.
    #[arg(long, value_name = "PATH")]
    link: PathBuf,
    /// Owner of the pty slave: a user name or uid (default: the user running the modem).
    #[arg(long, value_name = "USER")]
    owner: Option<String>,
    /// Group of the pty slave: a group name or gid.
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
    /// Mode of the pty slave, octal, e.g. 0660.
    #[arg(long, value_name = "OCTAL", value_parser = octal_mode)]
    link_mode: Option<u32>,
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
    /// Speed shown in CONNECT messages (and the pace of --throttle).
    #[arg(long, value_name = "BPS", default_value_t = 38400)]
    speed: u32,
    /// Seconds between RINGs.
    #[arg(long, value_name = "SECS", default_value_t = 2.0, value_parser = secs)]
    ring_interval: f64,
    /// Caller-ID lines after the first RING: off, mgetty (DATE/TIME/NMBR/NAME) or clip.
    #[arg(long, value_name = "FORMAT", default_value = "mgetty")]
    caller_id: cid::Format,
    /// Phonebook file: lines `name host:port [raw|telnet]` and `/regex/ target [mode]`.
    #[arg(long, value_name = "FILE")]
    phonebook: Option<PathBuf>,
    /// A dial rule, `/regex/ host:port [raw|telnet]` ($1… in the target); repeatable.
    #[arg(long, value_name = "RULE")]
    dial_rule: Vec<String>,
    /// Dials may reach these addresses or networks (ADDR, ADDR/BITS, `*`, comma lists), this
    /// host and loopback included; repeatable. Otherwise: never this host, and `host:port`
    /// typed after ATD only public addresses.
    #[arg(long, value_name = "CIDR", value_parser = check_allow)]
    dial_allow: Vec<String>,
    /// Only phonebook names and dial rules dial (`ATD host:port` gets NO CARRIER).
    #[arg(long)]
    phonebook_only: bool,
    /// At most this many dials a minute (0 = no limit); more get NO DIALTONE.
    #[arg(long, value_name = "N", default_value_t = crate::modem::policy::DEFAULT_DIAL_LIMIT)]
    dial_limit: u32,
    /// A caller must stay connected this many seconds before the line rings.
    #[arg(long, value_name = "SECS", default_value_t = 0.0, value_parser = secs)]
    answer_delay: f64,
    /// Refuse an address for this many seconds after its last call.
    #[arg(long, value_name = "SECS", default_value_t = 0.0, value_parser = secs)]
    cooldown: f64,
    /// Pace both directions of a call at the CONNECT speed (10 bits a byte).
    #[arg(long)]
    throttle: bool,
    /// Calls use telnet (IAC escaping, BINARY negotiated) unless a phonebook entry says raw.
    #[arg(long)]
    telnet: bool,
    /// Calls in stay raw even from a telnet client (no detection).
    #[arg(long, conflicts_with = "telnet")]
    raw: bool,
}

/// Check one `--allow` value with the share ACL parser.
fn check_allow(s: &str) -> Result<String, String> {
    Acl::parse_addresses(&[s])
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

/// An octal file mode (at most 07777).
fn octal_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("{s:?} is not an octal mode"))
}

/// `--owner`, `--group` and `--link-mode` looked up (a name or a number each).
fn access(c: &Cli) -> Result<Access, String> {
    let uid = match &c.owner {
        Some(o) => Some(
            crate::sys::exec::user_by_name_or_id(o)
                .ok_or_else(|| format!("--owner: no user {o:?}"))?
                .uid,
        ),
        None => None,
    };
    let gid = match &c.group {
        Some(g) => Some(
            crate::sys::exec::group_by_name_or_id(g)
                .ok_or_else(|| format!("--group: no group {g:?}"))?,
        ),
        None => None,
    };
    Ok(Access {
        uid,
        gid,
        mode: c.link_mode,
    })
}

/// A number of seconds, 0 to one day.
fn secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds (0-86400)")),
    }
}

/// The phonebook from `--phonebook` and `--dial-rule`; errors name `file:line`.
fn phonebook(c: &Cli) -> Result<Phonebook, String> {
    let mut pb = match &c.phonebook {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Phonebook::parse(&text, &p.display().to_string()).map_err(|e| e.to_string())?
        }
        None => Phonebook::default(),
    };
    for (i, r) in c.dial_rule.iter().enumerate() {
        pb.add_line(r, "--dial-rule", i + 1)
            .map_err(|e| e.to_string())?;
    }
    Ok(pb)
}

fn settings(c: &Cli, phonebook: Phonebook, access: Access) -> ModemSettings {
    ModemSettings {
        speed: c.speed,
        rings: c.rings,
        ring_interval: Duration::from_secs_f64(c.ring_interval.max(0.05)),
        answer_delay: Duration::from_secs_f64(c.answer_delay),
        cooldown: Duration::from_secs_f64(c.cooldown),
        telnet: c.telnet,
        raw: c.raw,
        throttle: c.throttle,
        caller_id: c.caller_id,
        phonebook,
        link: c.link.clone(),
        access,
        dial: DialPolicy {
            // each value was checked by `check_allow`
            allow: (!c.dial_allow.is_empty())
                .then(|| Acl::parse(&c.dial_allow).ok())
                .flatten(),
            phonebook_only: c.phonebook_only,
        },
        dial_limit: c.dial_limit,
    }
}

#[allow(clippy::print_stderr)]
fn fail(msg: &str) {
    log::error!("modem: {msg}");
    eprintln!("rgetty-share modem: {msg}");
}

/// `rgetty-share modem ARGS…`: `args` are the arguments after the subcommand (a leading
/// `modem` is skipped). Returns the exit code: 0 after SIGTERM/SIGINT or `--help`, 1 when the
/// modem or the listener cannot start, 2 on a usage or phonebook error.
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
    let pb = match phonebook(&cli).and_then(|pb| Ok((pb, access(&cli)?))) {
        Ok(pb) => pb,
        Err(e) => {
            fail(&e);
            return 2;
        }
    };
    let listen = SocketAddr::new(cli.listen, cli.port);
    // each value was checked by `check_allow`, so this cannot fail
    let allow = (!cli.allow.is_empty())
        .then(|| Acl::parse_addresses(&cli.allow).ok())
        .flatten();
    let mut server = match ModemServer::bind(settings(&cli, pb.0, pb.1), listen, allow) {
        Ok(s) => s,
        Err(e) => {
            fail(&format!(
                "cannot start on {listen} ({}): {e}",
                cli.link.display()
            ));
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
        "modem: {} -> {}, listening on {listen}",
        cli.link.display(),
        server.slave_path().display()
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

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn usage_errors() {
        assert_eq!(main(s(&["--bogus"])), 2);
        assert_eq!(main(s(&["modem", "--link", "/tmp/x"])), 2); // no port
        assert_eq!(main(s(&["--link", "/tmp/x", "-p", "99999"])), 2);
        assert_eq!(
            main(s(&["--link", "/tmp/x", "-p", "1", "--allow", "nope"])),
            2
        );
        assert_eq!(
            main(s(&["--link", "/tmp/x", "-p", "1", "--caller-id", "x"])),
            2
        );
        assert_eq!(
            main(s(&["--link", "/tmp/x", "-p", "1", "--cooldown", "-1"])),
            2
        );
        assert_eq!(
            main(s(&[
                "--link",
                "/tmp/x",
                "-p",
                "1",
                "--dial-rule",
                "/(/ a:1"
            ])),
            2
        );
    }

    #[test]
    fn options_to_settings() {
        let c = Cli::try_parse_from(s(&[
            "x",
            "--link",
            "/tmp/l",
            "-p",
            "2323",
            "--allow",
            "10.0.0.0/8",
            "--rings",
            "2",
            "--caller-id",
            "clip",
            "--throttle",
            "--cooldown",
            "1.5",
            "--dial-rule",
            "/^9$/ 127.0.0.1:9 raw",
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        let pb = phonebook(&c).unwrap_or_else(|e| panic!("{e}"));
        assert!(pb.resolve("9").is_some());
        let set = settings(&c, pb, Access::default());
        assert_eq!(set.rings, 2);
        assert_eq!(set.speed, 38400);
        assert_eq!(set.caller_id, cid::Format::Clip);
        assert_eq!(set.cooldown, Duration::from_millis(1500));
        assert!(set.throttle && !set.telnet);
        assert_eq!(set.ring_interval, Duration::from_secs(2));
    }

    #[test]
    fn owner_group_and_link_mode() {
        let parse = |extra: &[&str]| {
            let mut v = vec!["x", "--link", "/tmp/l", "-p", "1"];
            v.extend_from_slice(extra);
            Cli::try_parse_from(s(&v)).map_err(|e| e.to_string())
        };
        let c = parse(&["--owner", "0", "--group", "0", "--link-mode", "0660"])
            .unwrap_or_else(|e| panic!("{e}"));
        let a = access(&c).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.uid, Some(nix::unistd::Uid::from_raw(0)));
        assert_eq!(a.gid, Some(nix::unistd::Gid::from_raw(0)));
        assert_eq!(a.mode, Some(0o660));
        assert!(parse(&["--link-mode", "0999"]).is_err());
        assert!(parse(&["--link-mode", "17777"]).is_err());
        let c = parse(&["--owner", "no-such-user-rgetty"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            access(&c).err().as_deref(),
            Some("--owner: no user \"no-such-user-rgetty\"")
        );
        assert_eq!(
            access(&parse(&[]).unwrap_or_else(|e| panic!("{e}"))),
            Ok(Access::default())
        );
    }
}
