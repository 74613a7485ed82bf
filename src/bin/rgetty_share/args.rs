//! The command line of rgetty-share (clap): the `serve`, `connect` and `modem` subcommands
//! and their options. rgetty-share(8) documents each one.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "rgetty-share",
    version,
    about = "Share serial lines over TCP (raw or RFC 2217)"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

#[derive(Subcommand, Debug)]
// Parsed once at start: the size of the serve variant does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Cmd {
    /// Export one tty (or many, with --config) over TCP.
    Serve(Box<ServeArgs>),
    /// Connect to an exported port: a local virtual port (--link) or a local device.
    Connect(ConnectArgs),
    /// ser2net's command line (-c FILE, -Y LINE, -n, -d, -P FILE, -v): see rgetty-share(8).
    #[command(disable_help_flag = true)]
    Ser2net {
        /// ser2net's options.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// An interactive console on a port, with escapes (`~?` for help).
    Console(ConsoleArgs),
    /// The virtual Hayes modem on a pty (`rgetty-share modem --help` for its options).
    #[command(disable_help_flag = true)]
    Modem {
        /// Arguments of the modem mode (see rgetty-share(8)).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// remserial's command line (`rgetty-share remserial -h`; also when run as `remserial`).
    #[command(disable_help_flag = true)]
    Remserial {
        /// remserial's arguments (see rgetty-share(8)).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

#[derive(Args, Debug)]
pub(crate) struct Common {
    /// Directory of the UUCP lock files.
    #[arg(long, default_value = "/var/lock")]
    pub(crate) lock_dir: PathBuf,
    /// Lock file naming: upstream (LCK..ttyS0, the basename; rgetty's default) or debian
    /// (LCK..pts_3, the path below /dev with / turned into _).
    #[arg(long, default_value = "upstream", value_parser = ["debian", "upstream"])]
    pub(crate) lock_naming: String,
    /// Log debug messages too.
    #[arg(short = 'v', long)]
    pub(crate) verbose: bool,
}

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// Listen address: ADDR or ADDR:PORT (default: 127.0.0.1 when only loopback is allowed,
    /// else 0.0.0.0).
    #[arg(long)]
    pub(crate) listen: Option<String>,
    /// TCP port (default 23000, or the port of --listen ADDR:PORT).
    #[arg(short = 'p', long = "port")]
    pub(crate) port: Option<u16>,
    /// stty words applied to the device after it is made raw, e.g. "9600 -crtscts".
    #[arg(short = 's', long = "stty")]
    pub(crate) stty: Option<String>,
    /// Clients that may share the device at once.
    #[arg(short = 'm', long = "max", default_value_t = 1)]
    pub(crate) max: usize,
    /// Admit these peers (address, ADDR/BITS or *); default: loopback only.
    #[arg(long = "allow")]
    pub(crate) allow: Vec<String>,
    /// raw (binary clean) or rfc2217 (telnet + COM-PORT).
    #[arg(long, default_value = "raw")]
    pub(crate) mode: String,
    /// Write-only: never read from the device.
    #[arg(short = 'w', long = "write-only")]
    pub(crate) write_only: bool,
    /// Run as a daemon (log to syslog).
    #[arg(short = 'd', long = "daemon")]
    pub(crate) daemon: bool,
    /// remserial's -d: detach from the terminal once listening, without forking.
    #[arg(long, hide = true)]
    pub(crate) detach: bool,
    /// Disconnect clients idle this many seconds (0 = never).
    #[arg(long, default_value_t = 0)]
    pub(crate) idle_timeout: u64,
    /// Text sent to each client on connect (escapes \r \n \d \p).
    #[arg(long)]
    pub(crate) banner: Option<String>,
    /// Seconds allowed for handing buffered data to the device after the last client left.
    #[arg(long, default_value_t = 30)]
    pub(crate) drain: u64,
    /// The config file (one line per port); SIGHUP reloads it.
    #[arg(long, short = 'c')]
    pub(crate) config: Option<PathBuf>,
    /// A ser2net.yaml (ser2net 4's format) instead of --config; SIGHUP reloads it.
    #[arg(long, value_name = "FILE")]
    pub(crate) ser2net_config: Option<PathBuf>,
    /// Serve one connection on stdin/stdout (inetd), or the sockets passed by systemd.
    #[arg(long)]
    pub(crate) inetd: bool,
    /// Write the bound addresses here, one per line, once listening.
    #[arg(long)]
    pub(crate) port_file: Option<PathBuf>,
    /// Check the config file and exit.
    #[arg(long)]
    pub(crate) check: bool,
    /// Serve TLS with this certificate chain (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Require client certificates issued by this CA (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub(crate) tls_client_ca: Option<PathBuf>,
    /// A second port (same address) for read-only watchers.
    #[arg(long, value_name = "PORT")]
    pub(crate) watch_port: Option<u16>,
    /// A new client replaces the connected one (which gets a notice) instead of being refused.
    #[arg(long)]
    pub(crate) takeover: bool,
    /// Send the device's last BYTES of output to each new client or watcher.
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub(crate) replay: usize,
    /// Empty the replay buffer when a writer disconnects.
    #[arg(long)]
    pub(crate) replay_clear_on_disconnect: bool,
    /// Log device output (timestamped lines) and connects to FILE; reopened on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub(crate) log_file: Option<PathBuf>,
    /// Serve the control socket (JSON lines: list, show, kick, ...) at PATH.
    #[arg(long, value_name = "PATH")]
    pub(crate) control: Option<PathBuf>,
    /// DTR at open: on, off or keep (keep: never changed, hupcl cleared).
    #[arg(long, value_name = "on|off|keep")]
    pub(crate) dtr: Option<String>,
    /// RTS at open: on, off or keep.
    #[arg(long, value_name = "on|off|keep")]
    pub(crate) rts: Option<String>,
    /// RS-485 mode at open: off, or on with rts-on-send, rts-after-send, rx-during-tx,
    /// delay-before=MS, delay-after=MS (comma-separated).
    #[arg(long, value_name = "on,ITEMS|off")]
    pub(crate) rs485: Option<String>,
    /// A named reset sequence, NAME=STEPS (e.g. 'esp=dtr=0 rts=1; 100ms; dtr=1 rts=0; 50ms;
    /// dtr=0'), run by `reset` on the control socket; repeatable.
    #[arg(long, value_name = "NAME=STEPS")]
    pub(crate) reset_seq: Vec<String>,
    /// An alert on device output, '/REGEX/ COMMAND', or on a control line, 'dcd|dsr|cts
    /// rise|fall COMMAND' (run with PORT, MATCH, LINE in its environment; at most 5 in a row,
    /// then one per 10 s); repeatable.
    #[arg(long, value_name = "/REGEX/ COMMAND | LINE EDGE COMMAND")]
    pub(crate) alert: Vec<String>,
    /// Drop DTR when the session ends.
    #[arg(long)]
    pub(crate) hangup_when_done: bool,
    /// Keep clients connected while the device is unplugged; reopen it when it is back.
    #[arg(long)]
    pub(crate) hold_session: bool,
    /// Recognise esptool's reset sequences from RFC 2217 clients and run them locally.
    #[arg(long)]
    pub(crate) esp_reset: bool,
    /// Serve GET /metrics (Prometheus text) on ADDR:PORT, or on PORT of 127.0.0.1.
    #[arg(long, value_name = "[ADDR:]PORT")]
    pub(crate) metrics: Option<String>,
    /// Peers the metrics listener answers (address, ADDR/BITS or *); default: loopback only.
    #[arg(long = "metrics-allow", value_name = "HOSTS")]
    pub(crate) metrics_allow: Vec<String>,
    /// Serve the web console (dashboard and xterm.js terminals) on ADDR:PORT, or on PORT of
    /// 127.0.0.1. Another address than loopback needs TLS (the port's certificate).
    #[arg(long, value_name = "[ADDR:]PORT")]
    pub(crate) web: Option<String>,
    /// The dashboard's rgetty state files: rgetty's --pid-dir.
    #[arg(long, value_name = "DIR", default_value = "/run")]
    pub(crate) web_state_dir: PathBuf,
    /// The dashboard's call log (rgetty's `call-log`).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/var/log/rgetty/calls.jsonl"
    )]
    pub(crate) web_call_log: PathBuf,
    /// Web console users (`NAME:HASH:ROLES` lines, root-owned): every page needs a login, or,
    /// with `--tls-client-ca`, a client certificate whose CN names the user (HASH `cert`).
    #[arg(long, value_name = "FILE")]
    pub(crate) web_users: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) common: Common,
    /// The device to export.
    pub(crate) device: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct ConnectArgs {
    /// The server, HOST:PORT.
    pub(crate) server: String,
    /// raw or rfc2217.
    #[arg(long, default_value = "raw")]
    pub(crate) mode: String,
    /// Create a pty and point this symlink at it (a virtual COM port).
    #[arg(long, short = 'l')]
    pub(crate) link: Option<PathBuf>,
    /// Owner of the virtual port (--link): a user name or uid.
    #[arg(long, requires = "link")]
    pub(crate) owner: Option<String>,
    /// Group of the virtual port (--link): a group name or gid.
    #[arg(long, requires = "link")]
    pub(crate) group: Option<String>,
    /// Mode of the virtual port (--link), octal, e.g. 0660 (--mode names the protocol).
    #[arg(long, requires = "link", value_parser = parse_octal)]
    pub(crate) link_mode: Option<u32>,
    /// stty words for the local device (bridge mode).
    #[arg(short = 's', long = "stty")]
    pub(crate) stty: Option<String>,
    /// Give up after this many failed connects in a row (0 = retry for ever).
    #[arg(long, default_value_t = 0)]
    pub(crate) retries: u32,
    /// Longest wait between reconnects, in seconds.
    #[arg(long, default_value_t = 30)]
    pub(crate) max_backoff: u64,
    /// Exit when the server closes the connection instead of reconnecting.
    #[arg(long)]
    pub(crate) once: bool,
    /// remserial's -d: detach from the terminal, without forking.
    #[arg(long, hide = true)]
    pub(crate) detach: bool,
    #[command(flatten)]
    pub(crate) client_tls: ClientTls,
    #[command(flatten)]
    pub(crate) common: Common,
    /// A local device to bridge to the server (instead of --link).
    pub(crate) device: Option<PathBuf>,
}

/// The TLS options of a client (`connect`, `console`).
#[derive(Args, Debug)]
pub(crate) struct ClientTls {
    /// Connect with TLS.
    #[arg(long)]
    pub(crate) tls: bool,
    /// CA bundle to check the server's certificate (default: the system's).
    #[arg(long, value_name = "PEM", requires = "tls")]
    pub(crate) tls_ca: Option<PathBuf>,
    /// Client certificate (PEM), for servers that ask for one.
    #[arg(long, value_name = "PEM", requires_all = ["tls", "tls_key"])]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct ConsoleArgs {
    /// The port: HOST:PORT over TCP; with --local (implied by a PORT without HOST), its port
    /// number or listen address on the control socket.
    pub(crate) server: String,
    /// raw or rfc2217.
    #[arg(long, default_value = "raw")]
    pub(crate) mode: String,
    /// The port's watch port (same host), for ~s and --spy.
    #[arg(long, value_name = "PORT")]
    pub(crate) watch_port: Option<u16>,
    /// Attach read-only: on the watch port, or (--local) as a watcher.
    #[arg(long)]
    pub(crate) spy: bool,
    /// The escape character (at line start), default ~.
    #[arg(long, short = 'e', default_value = "~")]
    pub(crate) escape: char,
    /// The server's control socket (for ~w, ~!, ~b ~d ~r on a raw port, and --local).
    #[arg(long, value_name = "PATH")]
    pub(crate) control: Option<PathBuf>,
    /// Attach through the control socket (--control) instead of TCP: no port, host list or
    /// TLS needed, only the socket's own access rule.
    #[arg(long, requires = "control", conflicts_with_all = ["tls", "watch_port"])]
    pub(crate) local: bool,
    #[command(flatten)]
    pub(crate) client_tls: ClientTls,
}

/// An octal file mode such as `0660`.
fn parse_octal(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("{s:?} is not an octal mode"))
}
