//! The `rgetty` command line: every mgetty flag with the same letter and meaning
//! (docs/behaviour.md §1), plus long options that relocate every path.

use std::io;
use std::path::PathBuf;

use clap::Parser;

use crate::config::mgetty::Profile;

/// `rgetty [options] tty` — a getty for modem lines, compatible with mgetty.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "rgetty",
    disable_version_flag = true,
    about = "A getty for modem lines that mgetty users can drop in",
    override_usage = "rgetty [options] tty\n       rgetty --check [options] [tty]\n       rgetty status [--json | --prometheus]\n       rgetty calls [--since TIME] [--line TTY] [--json]\n       rgetty ncid [--listen ADDR:PORT] [--allow LIST]",
    after_help = "Commands:\n  status  What each line is doing now (state files in --pid-dir); `rgetty status --help`\n  calls   The call log, one line per call; `rgetty calls --help`\n  ncid    Serve every line's caller ID to NCID clients; `rgetty ncid --help`\n\nSee rgetty(8), rgetty.config(5) and login.config(5)."
)]
pub struct Cli {
    /// Log level 0-9 (mgetty's -x; config `debug`).
    #[arg(short = 'x', value_name = "LEVEL")]
    pub debug: Option<String>,
    /// Port speed (config `speed`).
    #[arg(short = 's', value_name = "BPS")]
    pub speed: Option<String>,
    /// Direct line: no modem, no RING wait (config `direct`).
    #[arg(short = 'r')]
    pub direct: bool,
    /// Login prompt (config `login-prompt`).
    #[arg(short = 'p', value_name = "PROMPT")]
    pub prompt: Option<String>,
    /// RINGs before answering (config `rings`).
    #[arg(short = 'n', value_name = "RINGS")]
    pub rings: Option<String>,
    /// Ringback on, with this ringback time in seconds (config `ringback`, `ringback-time`).
    #[arg(short = 'R', value_name = "SECS")]
    pub ringback: Option<String>,
    /// Issue file (config `issue-file`).
    #[arg(short = 'i', value_name = "FILE")]
    pub issue: Option<String>,
    /// Data only, no fax (config `data-only`).
    #[arg(short = 'D')]
    pub data_only: bool,
    /// Fax only (config `fax-only`; accepted, rgetty has no fax support).
    #[arg(short = 'F')]
    pub fax_only: bool,
    /// Modem type (config `modem-type`).
    #[arg(short = 'C', value_name = "TYPE")]
    pub modem_type: Option<String>,
    /// Fax poll-server file (config `fax-server-file`; accepted and ignored).
    #[arg(short = 'S', value_name = "FILE")]
    pub fax_server_file: Option<String>,
    /// Fax station id (config `fax-id`; accepted and ignored).
    #[arg(short = 'I', value_name = "ID")]
    pub fax_id: Option<String>,
    /// Minimum free kbytes in the fax spool (config `diskspace`; accepted and ignored).
    #[arg(short = 'k', value_name = "KB")]
    pub diskspace: Option<String>,
    /// Init chat (config `init-chat`), not whitespace-normalised.
    #[arg(short = 'm', value_name = "CHAT", allow_hyphen_values = true)]
    pub init_chat: Option<String>,
    /// Blocking open: wait for DCD; disables login-time (config `blocking`).
    #[arg(short = 'b')]
    pub blocking: bool,
    /// Autobauding: switch to the CONNECT speed (config `autobauding`).
    #[arg(short = 'a')]
    pub autobauding: bool,
    /// Print the version and the paths rgetty will use, then exit.
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// gettydefs dump (mgetty -c): not supported, exits 2 as mgetty builds without gettydefs.
    #[arg(short = 'c', value_name = "FILE", hide = true)]
    pub gettydefs: Option<String>,

    /// Check every config file rgetty would read, report each bad line as file:line, exit 0 or 2.
    #[arg(long)]
    pub check: bool,
    /// Directory with mgetty.config, login.config and dialin.config (`/etc/mgetty` runs an
    /// existing mgetty setup unchanged).
    #[arg(long, value_name = "DIR", default_value = "/etc/rgetty")]
    pub config_dir: PathBuf,
    /// Directory of UUCP lock files.
    #[arg(long, value_name = "DIR", default_value = "/var/lock")]
    pub lock_dir: PathBuf,
    /// Directory of the per-line log files (`<DevID>.log`).
    #[arg(long, value_name = "DIR", default_value = "/var/log/rgetty")]
    pub log_dir: PathBuf,
    /// Log file name pattern; `%s` is replaced by the DevID (default `<log-dir>/%s.log`).
    #[arg(long, value_name = "PATTERN")]
    pub log_file: Option<String>,
    /// Directory of the pid file `mgetty.pid.<DevID>` (mgetty's name, so scripts keep working) and the respawn failure counter.
    #[arg(long, value_name = "DIR", default_value = "/run")]
    pub pid_dir: PathBuf,
    /// utmp file.
    #[arg(long, value_name = "FILE", default_value = "/var/run/utmp")]
    pub utmp: PathBuf,
    /// wtmp file.
    #[arg(long, value_name = "FILE", default_value = "/var/log/wtmp")]
    pub wtmp: PathBuf,
    /// Directory of `nologin.<DevID>` files.
    #[arg(long, value_name = "DIR", default_value = "/etc")]
    pub nologin_dir: PathBuf,
    /// Built-in defaults and lock naming: `upstream` (default) or `debian` (Debian's mgetty:
    /// line root:dialout 0660, lock names like `LCK..pts_3`, prompt `@ login: `).
    #[arg(long, value_name = "PROFILE", default_value = "upstream")]
    pub profile: Profile,
    /// os-release file for agetty's `\S` escape (`/usr/lib/os-release` if this is missing).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/os-release",
        hide = true
    )]
    pub os_release: PathBuf,
    /// syslog socket.
    #[arg(long, value_name = "PATH", default_value = "/dev/log", hide = true)]
    pub syslog_socket: PathBuf,
    /// systemd journal socket (default: /run/systemd/journal/socket while the syslog socket
    /// is /dev/log).
    #[arg(long, value_name = "PATH", hide = true)]
    pub journal_socket: Option<PathBuf>,
    /// Seconds to wait after a dial-out lock went away before exiting (mgetty: 5).
    #[arg(long, value_name = "SECS", default_value_t = 5.0, hide = true)]
    pub dialout_grace: f64,
    /// Per-expect timeout of the init chat in seconds (mgetty: 20).
    #[arg(long, value_name = "SECS", default_value_t = 20.0, hide = true)]
    pub init_chat_timeout: f64,
    /// Modem check interval in seconds, applied after mgetty's 900 s minimum (for tests).
    #[arg(long, value_name = "SECS", hide = true)]
    pub modem_check_interval: Option<i64>,
    /// Longest wait for the next RING in seconds (mgetty: 10).
    #[arg(long, value_name = "SECS", default_value_t = 10.0, hide = true)]
    pub ring_timeout: f64,
    /// Consecutive start-up failures after which rgetty sleeps before exiting.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub backoff_after: u32,
    /// Longest respawn back-off sleep in seconds (it doubles per failure up to this).
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub backoff_max: f64,

    /// Back from rgetty-wait (written by it only): why the wait ended and the fds it kept.
    #[arg(long, value_name = "STATE", hide = true)]
    pub resume: Option<String>,

    /// The line: `ttyS0`, `/dev/ttyS0` or `pts/3`.
    pub tty: Option<String>,
    /// A gettydefs tag (ignored, as in mgetty builds without gettydefs).
    #[arg(hide = true)]
    pub extra: Vec<String>,
}

/// Resolved paths for one line.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Config dir.
    pub config_dir: PathBuf,
    /// Lock dir.
    pub lock_dir: PathBuf,
    /// The log file for this line.
    pub log_file: PathBuf,
    /// The pid file for this line.
    pub pid_file: PathBuf,
    /// The respawn failure counter for this line.
    pub fail_file: PathBuf,
    /// utmp.
    pub utmp: PathBuf,
    /// wtmp.
    pub wtmp: PathBuf,
    /// The nologin file for this line.
    pub nologin_file: PathBuf,
}

impl Cli {
    /// The paths rgetty uses for a line with this DevID.
    pub fn paths(&self, dev_id: &str) -> Paths {
        let log_file = match &self.log_file {
            Some(p) => PathBuf::from(p.replace("%s", dev_id)),
            None => self.log_dir.join(format!("{dev_id}.log")),
        };
        Paths {
            config_dir: self.config_dir.clone(),
            lock_dir: self.lock_dir.clone(),
            log_file,
            pid_file: self.pid_dir.join(format!("mgetty.pid.{dev_id}")),
            fail_file: self.pid_dir.join(format!("rgetty.fail.{dev_id}")),
            utmp: self.utmp.clone(),
            wtmp: self.wtmp.clone(),
            nologin_file: self.nologin_dir.join(format!("nologin.{dev_id}")),
        }
    }

    /// The command-line flags as `(keyword, value)` settings, in the order mgetty applies them
    /// (these beat the config file).
    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        let mut opt = |k: &'static str, val: &Option<String>| {
            if let Some(x) = val {
                v.push((k, x.clone()));
            }
        };
        opt("debug", &self.debug);
        opt("speed", &self.speed);
        opt("login-prompt", &self.prompt);
        opt("rings", &self.rings);
        opt("issue-file", &self.issue);
        opt("modem-type", &self.modem_type);
        opt("fax-server-file", &self.fax_server_file);
        opt("fax-id", &self.fax_id);
        opt("diskspace", &self.diskspace);
        opt("init-chat", &self.init_chat);
        if let Some(r) = &self.ringback {
            v.push(("ringback", "y".into()));
            v.push(("ringback-time", r.clone()));
        }
        for (on, k) in [
            (self.direct, "direct"),
            (self.data_only, "data-only"),
            (self.fax_only, "fax-only"),
            (self.blocking, "blocking"),
            (self.autobauding, "autobauding"),
        ] {
            if on {
                v.push((k, "y".into()));
            }
        }
        v
    }
}

/// Device naming (mgetty §0): the tty argument without a leading `/dev/`.
pub fn device_name(tty: &str) -> String {
    tty.strip_prefix("/dev/").unwrap_or(tty).to_string()
}

/// DevID: the Device with every `/` replaced by `-` (`pts/3` → `pts-3`).
pub fn dev_id(device: &str) -> String {
    device.trim_start_matches('/').replace('/', "-")
}

/// The log infix: the last 3 characters of the Device.
pub fn infix(device: &str) -> String {
    let chars: Vec<char> = device.chars().collect();
    chars[chars.len().saturating_sub(3)..].iter().collect()
}

/// Print to stderr without panicking when stderr is closed.
pub(super) fn eprintln_safe(msg: &str) {
    use std::io::Write;
    let _ = writeln!(io::stderr(), "{msg}");
}

/// `rgetty -V`: the version and every path rgetty would use.
pub(super) fn print_version(cli: &Cli) {
    use std::io::Write;
    let dev = cli
        .tty
        .as_deref()
        .map_or("<DevID>".to_string(), |t| dev_id(&device_name(t)));
    let p = cli.paths(&dev);
    let mut out = io::stdout();
    let _ = writeln!(out, "rgetty {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "profile: {}", cli.profile);
    let _ = writeln!(
        out,
        "config: {}",
        p.config_dir.join("mgetty.config").display()
    );
    let _ = writeln!(
        out,
        "login config: {}",
        p.config_dir.join("login.config").display()
    );
    let _ = writeln!(
        out,
        "dialin config: {}",
        p.config_dir.join("dialin.config").display()
    );
    let _ = writeln!(out, "log file: {}", p.log_file.display());
    let _ = writeln!(out, "lock dir: {}", p.lock_dir.display());
    let _ = writeln!(out, "pid file: {}", p.pid_file.display());
    let _ = writeln!(out, "utmp: {}", p.utmp.display());
    let _ = writeln!(out, "wtmp: {}", p.wtmp.display());
    let _ = writeln!(out, "nologin file: {}", p.nologin_file.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naming() {
        assert_eq!(device_name("/dev/ttyUSB0"), "ttyUSB0");
        assert_eq!(device_name("pts/3"), "pts/3");
        assert_eq!(dev_id("pts/3"), "pts-3");
        assert_eq!(infix("ttyS0"), "yS0");
        assert_eq!(infix("pts/1"), "s/1");
        assert_eq!(infix("x"), "x");
    }

    #[test]
    fn flags() {
        let c = Cli::try_parse_from(["rgetty", "-x", "9", "-n", "3", "-R", "40", "-b", "ttyS1"])
            .unwrap();
        let o = c.overrides();
        assert!(o.contains(&("debug", "9".into())));
        assert!(o.contains(&("rings", "3".into())));
        assert!(o.contains(&("ringback", "y".into())));
        assert!(o.contains(&("ringback-time", "40".into())));
        assert!(o.contains(&("blocking", "y".into())));
        assert_eq!(c.tty.as_deref(), Some("ttyS1"));
        let m = Cli::try_parse_from(["rgetty", "-m", "\"\"  ATZ OK", "ttyS1"]).unwrap();
        assert_eq!(m.init_chat.as_deref(), Some("\"\"  ATZ OK"));
        assert!(Cli::try_parse_from(["rgetty", "-Q", "ttyS1"]).is_err());
        let p = c.paths("ttyS1");
        assert_eq!(p.log_file, PathBuf::from("/var/log/rgetty/ttyS1.log"));
        assert_eq!(p.nologin_file, PathBuf::from("/etc/nologin.ttyS1"));
    }
}
