//! `rgetty-share.conf`: one exported port per line, in the style of Masqdialer's `mserver.conf`.
//!
//! ```text
//! # [ADDR:]PORT  DEVICE[,DEVICE...]  PARAMS        HOSTLIST        [OPTION...]
//! 5800           /dev/ttyS1          115200,8,N,1  192.168.1.0/24
//! 127.0.0.1:5801 ttyS2,ttyS3         9600,8,N,1,crtscts  *         mode=rfc2217 max=1
//! ```
//!
//! Several devices on one line make a pool: a client gets the first free one. PARAMS is
//! `-` (keep the device's settings, only make it raw) or comma-separated items: a speed, the
//! data bits, the parity letter (`N`, `E`, `O`), the stop bits, then stty words (`crtscts`,
//! `-clocal`, ...). HOSTLIST is required (`*` admits everybody). Options: `mode=raw|rfc2217`,
//! `max=N`, `timeout=SECONDS` (idle), `drain=SECONDS`, `banner="TEXT"` (escapes `\r \n \t \\
//! \d` device `\p` port), `write-only`; for consoles `watch=PORT` (read-only watchers),
//! `takeover`, `replay=BYTES`, `replay-clear-on-disconnect`, `log=FILE`; for labs `hold-session`, `esp-reset`,
//! `dtr=on|off|keep`, `rts=on|off|keep`, `hangup-when-done`; TLS `tls-cert=PEM
//! tls-key=PEM [tls-client-ca=PEM]`.
//! Server-wide lines of their own: `metrics=[ADDR:]PORT`, `metrics-allow=HOSTLIST`,
//! `control=PATH`, `reset-seq NAME = STEPS` ([`globals`]); `alert PORT /REGEX/ COMMAND` lines
//! add alerts to a port.
//!
//! [`load`] reads the file through the checked loader ([`crate::config::load`]) under the
//! same trust policy as mgetty.config; the rest is pure.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Location;
use crate::share::acl::Acl;

mod file;
pub use file::{globals, load, parse};

/// How bytes travel on a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PortMode {
    /// Binary clean TCP, no protocol.
    #[default]
    Raw,
    /// Telnet with the RFC 2217 COM-PORT option.
    Rfc2217,
}

impl PortMode {
    /// Parse `raw` or `rfc2217` (also `telnet`, an alias of `rfc2217`).
    pub fn parse(s: &str) -> Option<PortMode> {
        match s {
            "raw" => Some(PortMode::Raw),
            "rfc2217" | "telnet" => Some(PortMode::Rfc2217),
            _ => None,
        }
    }
}

/// Default time allowed to hand buffered data to the device after the last client left.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(30);

/// Everything about one exported port (immutable; run-time state lives in the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The device, or several for a pool.
    pub devices: Vec<PathBuf>,
    /// stty words applied after the device is made raw (may be empty).
    pub stty: String,
    /// Who may connect.
    pub acl: Acl,
    /// Raw or RFC 2217.
    pub mode: PortMode,
    /// Clients sharing one device at a time (for a pool: per device).
    pub max_clients: usize,
    /// Never read from the device (remserial `-w`).
    pub write_only: bool,
    /// Disconnect a client idle for this long.
    pub idle_timeout: Option<Duration>,
    /// Sent to each client on connect.
    pub banner: Option<String>,
    /// How long to keep writing buffered data to the device after the last client left.
    pub drain_timeout: Duration,
    /// A second TCP port (same address) for read-only watchers.
    pub watch: Option<u16>,
    /// A new writer replaces the current one instead of being refused.
    pub takeover: bool,
    /// Bytes of recent device output sent to each client or watcher on attach (0 = off).
    pub replay: usize,
    /// Log device output (timestamped lines) and connects/disconnects to this file.
    pub log: Option<PathBuf>,
    /// Serve TLS.
    pub tls: Option<TlsFiles>,
    /// More layers in every client's connection stack, by name, bottom-up: above TLS, below
    /// telnet (`layers=NAME,...`; see [`crate::share::stack::LAYERS`]).
    pub layers: Vec<String>,
    /// A telnet SYNC (`IAC DM`) sends a break to the device (ser2net's `telnet-brk-on-sync`).
    pub telnet_brk_on_sync: bool,
    /// Keep the clients connected while the device is away and reopen it when it is back.
    pub hold_session: bool,
    /// Recognise esptool's reset sequences from RFC 2217 writers and run them locally.
    pub esp_reset: bool,
    /// Empty the replay buffer when a writer leaves (the next user does not see its output).
    pub replay_clear: bool,
    /// DTR when the device is opened.
    pub dtr: LineSetting,
    /// RTS when the device is opened.
    pub rts: LineSetting,
    /// Drop DTR when the session ends (hang up a modem).
    pub hangup_when_done: bool,
    /// RS-485 mode set at open (`rs485=`), read back and logged.
    pub rs485: Option<crate::proto::rs485::Rs485>,
    /// Alerts on device output (`alert PORT /REGEX/ COMMAND` lines).
    pub alerts: Vec<crate::share::alert::AlertDef>,
    /// Its control-line alerts (`alert PORT dcd rise COMMAND`).
    pub line_alerts: Vec<crate::share::line_alert::LineAlertDef>,
}

/// What opening a device does to DTR or RTS (`dtr=` / `rts=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineSetting {
    /// Whatever the kernel does (raised on open, dropped on close with `hupcl`).
    #[default]
    Default,
    /// Raised once the device is open.
    On,
    /// Dropped once the device is open.
    Off,
    /// Never changed by rgetty-share: no set at open, `hupcl` cleared so the close keeps it.
    Keep,
}

impl LineSetting {
    /// `on`, `off` or `keep`.
    pub fn parse(s: &str) -> Option<LineSetting> {
        match s {
            "on" => Some(LineSetting::On),
            "off" => Some(LineSetting::Off),
            "keep" => Some(LineSetting::Keep),
            _ => None,
        }
    }
}

/// The PEM files of a TLS port.
#[derive(Debug, Clone, Eq)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
    /// When set, clients need a certificate issued by this CA.
    pub client_ca: Option<PathBuf>,
    /// The config line that named the files (`None`: the command line); for messages only.
    pub origin: Option<Location>,
}

/// Equal when the files are: a port whose line merely moved in the file is unchanged.
impl PartialEq for TlsFiles {
    fn eq(&self, o: &Self) -> bool {
        (&self.cert, &self.key, &self.client_ca) == (&o.cert, &o.key, &o.client_ca)
    }
}

impl TlsFiles {
    /// How a message names one of the files: `FILE:LINE: tls-cert` for a config line,
    /// `--tls-cert` for the command line (`file` is the certificate, key or client CA).
    pub fn source_of(&self, file: &Path) -> String {
        let opt = if file == self.cert {
            "tls-cert"
        } else if file == self.key {
            "tls-key"
        } else {
            "tls-client-ca"
        };
        match &self.origin {
            Some(loc) => format!("{loc}: {opt}"),
            None => format!("--{opt}"),
        }
    }
}

/// Largest replay buffer.
pub const MAX_REPLAY: usize = 1 << 20;

impl PortConfig {
    /// A port with defaults: loopback only, raw, one client, no timeout, no banner.
    pub fn new(listen: SocketAddr, devices: Vec<PathBuf>) -> Self {
        PortConfig {
            listen,
            devices,
            stty: String::new(),
            acl: Acl::loopback_only(),
            mode: PortMode::Raw,
            max_clients: 1,
            write_only: false,
            idle_timeout: None,
            banner: None,
            drain_timeout: DEFAULT_DRAIN,
            watch: None,
            takeover: false,
            replay: 0,
            log: None,
            tls: None,
            layers: Vec::new(),
            telnet_brk_on_sync: false,
            hold_session: false,
            esp_reset: false,
            replay_clear: false,
            dtr: LineSetting::Default,
            rts: LineSetting::Default,
            hangup_when_done: false,
            rs485: None,
            alerts: Vec::new(),
            line_alerts: Vec::new(),
        }
    }

    /// The banner with `\d` and `\p` replaced and escapes resolved.
    pub fn render_banner(&self, device: &Path) -> Option<Vec<u8>> {
        let b = self.banner.as_ref()?;
        let mut out = String::new();
        let mut chars = b.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('r') => out.push('\r'),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('d') => out.push_str(&device.display().to_string()),
                Some('p') => out.push_str(&self.listen.port().to_string()),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        }
        Some(out.into_bytes())
    }
}

/// The listen address used when none is given: loopback when the ACL admits only loopback
/// peers, all IPv4 interfaces otherwise.
pub fn default_listen_ip(acl: &Acl) -> IpAddr {
    if acl.loopback_only_rules() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

/// Check stty words ([`crate::proto::stty`]); returns the first bad one.
pub fn check_stty(words: &str) -> Result<(), String> {
    crate::proto::stty::parse(words).map(|_| ())
}

/// Turn Masqdialer-style params (`115200,8,N,1,crtscts`) into stty words.
///
/// ```
/// assert_eq!(rgetty::share::conf::params_to_stty("115200,8,N,1").unwrap(),
///            "115200 cs8 -parenb -cstopb");
/// assert_eq!(rgetty::share::conf::params_to_stty("-").unwrap(), "");
/// ```
pub fn params_to_stty(params: &str) -> Result<String, String> {
    if params == "-" {
        return Ok(String::new());
    }
    let mut words: Vec<String> = Vec::new();
    for (i, item) in params.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let w = match (i, item) {
            (0, s) if s.bytes().all(|b| b.is_ascii_digit()) => {
                crate::proto::speed::parse_any(s).ok_or_else(|| format!("bad speed {s:?}"))?;
                s.to_string()
            }
            (1, "5" | "6" | "7" | "8") => format!("cs{item}"),
            (2, "N" | "n") => "-parenb".to_string(),
            (2, "E" | "e") => "parenb -parodd".to_string(),
            (2, "O" | "o") => "parenb parodd".to_string(),
            (3, "1") => "-cstopb".to_string(),
            (3, "2") => "cstopb".to_string(),
            (_, s) => {
                check_stty(s).map_err(|w| format!("unknown param {w:?}"))?;
                s.to_string()
            }
        };
        words.push(w);
    }
    Ok(words.join(" "))
}

/// Split a line into words; `"..."` groups words (a backslash keeps the next character, for
/// the banner's own escapes the backslash is kept).
fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            '\\' if quoted => {
                match chars.next() {
                    Some('"') => cur.push('"'),
                    Some(o) => {
                        cur.push('\\');
                        cur.push(o);
                    }
                    None => cur.push('\\'),
                }
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err("unterminated quote".to_string());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Parse `[ADDR:]PORT`, `[V6ADDR]:PORT` or `PORT`.
pub fn parse_listen(s: &str) -> Option<(Option<IpAddr>, u16)> {
    if let Ok(p) = s.parse::<u16>() {
        return Some((None, p));
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some((Some(sa.ip()), sa.port()));
    }
    None
}

/// Server-wide settings of a config file: `KEY=VALUE` lines of their own.
#[derive(Debug, Clone, Default)]
pub struct Globals {
    /// `metrics=[ADDR:]PORT`: where `GET /metrics` is served.
    pub metrics: Option<SocketAddr>,
    /// `metrics-allow=HOSTLIST`: peers the metrics listener answers (default: loopback).
    pub metrics_allow: Option<Acl>,
    /// `control=PATH`: the control socket.
    pub control: Option<PathBuf>,
    /// `reset-seq NAME = STEPS` lines: named DTR/RTS reset sequences.
    pub reset_seqs: Vec<(String, Vec<crate::proto::reset_seq::Phase>)>,
    /// `web=[ADDR:]PORT`: where the web console is served.
    pub web: Option<SocketAddr>,
}

/// The definition of a `reset-seq NAME = STEPS` line.
fn reset_line(line: &str) -> Option<&str> {
    line.strip_prefix("reset-seq ")
}

/// `[ADDR:]PORT` of the metrics listener: a bare port binds 127.0.0.1, another address only
/// when written out.
///
/// ```
/// use rgetty::share::conf::parse_metrics_addr;
/// assert_eq!(parse_metrics_addr("9100"), "127.0.0.1:9100".parse().ok());
/// assert_eq!(parse_metrics_addr("[::]:9100"), "[::]:9100".parse().ok());
/// assert_eq!(parse_metrics_addr("x"), None);
/// ```
pub fn parse_metrics_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = parse_listen(s)?;
    Some(SocketAddr::new(
        ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        port,
    ))
}

/// `alert PORT /REGEX/ COMMAND` or `alert PORT dcd|dsr|cts rise|fall COMMAND`: PORT is a
/// port's listen address or its port number.
fn add_alert(ports: &mut [PortConfig], def: &str) -> Result<(), String> {
    let (name, rest) = def
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("bad alert {def:?} (alert PORT /REGEX/ COMMAND)"))?;
    let line = crate::share::line_alert::parse_def(rest).transpose()?;
    let a = match line {
        Some(_) => None,
        None => Some(crate::share::alert::parse_def(rest)?),
    };
    let p = ports
        .iter_mut()
        .find(|p| p.listen.to_string() == name || p.listen.port().to_string() == name)
        .ok_or_else(|| format!("alert for {name:?}: no such port"))?;
    p.alerts.extend(a);
    p.line_alerts.extend(line);
    Ok(())
}

/// The lab options without a value (`hold-session`, `esp-reset`, `replay-clear-on-disconnect`,
/// `hangup-when-done`): set it and true, or false for another word.
fn lab_flag(p: &mut PortConfig, k: &str) -> bool {
    let flag = match k {
        "hold-session" => &mut p.hold_session,
        "esp-reset" => &mut p.esp_reset,
        "replay-clear-on-disconnect" => &mut p.replay_clear,
        "hangup-when-done" => &mut p.hangup_when_done,
        _ => return false,
    };
    *flag = true;
    true
}

/// Parse a replay size (bytes, at most [`MAX_REPLAY`]).
pub fn parse_replay(v: &str) -> Result<usize, String> {
    v.parse()
        .ok()
        .filter(|&n: &usize| n <= MAX_REPLAY)
        .ok_or_else(|| format!("bad replay {v:?} (0..{MAX_REPLAY} bytes)"))
}

/// Combine the TLS options: certificate and key go together; a client CA needs them.
pub fn tls_files(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
) -> Result<Option<TlsFiles>, String> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert,
            key,
            client_ca,
            origin: None,
        })),
        (None, None) if client_ca.is_none() => Ok(None),
        _ => Err("TLS needs both tls-cert and tls-key".to_string()),
    }
}

/// `-s` words: blanks or commas between them (inetd.conf cannot quote).
pub fn stty_words(s: &str) -> String {
    s.split([',', ' ', '\t'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sample() {
        let text = "# comment\n\n5800 /dev/ttyUSB1 115200,8,N,1 *\n\
            127.0.0.1:5801 ttyUSB2,ttyUSB3 9600,7,E,2,crtscts 10.0.0.0/8,127.0.0.1 mode=rfc2217 max=2 timeout=60 banner=\"hi \\d\\r\\n\" write-only\n\
            5802 /dev/x - 127.0.0.1\n";
        let ports = parse(Path::new("f"), text).unwrap();
        assert_eq!(ports.len(), 3);
        assert_eq!(ports[0].listen, "0.0.0.0:5800".parse().unwrap());
        assert_eq!(ports[0].stty, "115200 cs8 -parenb -cstopb");
        assert_eq!(ports[0].mode, PortMode::Raw);
        let p = &ports[1];
        assert_eq!(
            p.devices,
            vec![PathBuf::from("/dev/ttyUSB2"), PathBuf::from("/dev/ttyUSB3")]
        );
        assert_eq!(p.stty, "9600 cs7 parenb -parodd cstopb crtscts");
        assert_eq!(p.mode, PortMode::Rfc2217);
        assert_eq!(p.max_clients, 2);
        assert_eq!(p.idle_timeout, Some(Duration::from_secs(60)));
        assert!(p.write_only);
        assert_eq!(
            p.render_banner(Path::new("/dev/ttyUSB2")).unwrap(),
            b"hi /dev/ttyUSB2\r\n"
        );
        assert_eq!(ports[2].listen, "127.0.0.1:5802".parse().unwrap());
        assert_eq!(ports[2].stty, "");
    }

    #[test]
    fn errors_carry_lines() {
        let text = "5800 /dev/a 9600 \n5801 /dev/b 99999999 *\n5802 /dev/c 9600 host_name\n\
            5803 /dev/d 9600 * mode=x\n5803 /dev/d 9600 *\n5803 /dev/e 9600 *\n5804 /dev/f 9600,8,N,1,bogus *\n";
        let errs = parse(Path::new("c.conf"), text).unwrap_err();
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "c.conf:1: want PORT DEVICE PARAMS HOSTLIST, got 3 field(s)",
                "c.conf:2: bad speed \"99999999\"",
                "c.conf:3: bad host entry \"host_name\" (want an IP address, ADDR/BITS, a host name, .domain or *)",
                "c.conf:4: bad mode \"x\"",
                "c.conf:6: port 0.0.0.0:5803 listed twice",
                "c.conf:7: unknown param \"bogus\"",
            ]
        );
    }

    #[test]
    fn console_and_tls_options() {
        let text = "7000 /dev/ttyUSB0 - * watch=7001 takeover replay=4096 log=/var/log/c.log \
            tls-cert=/e/c.pem tls-key=/e/c.key tls-client-ca=/e/ca.pem\n";
        let p = &parse(Path::new("f"), text).unwrap()[0];
        assert_eq!(p.watch, Some(7001));
        assert!(p.takeover);
        assert_eq!(p.replay, 4096);
        assert_eq!(p.log.as_deref(), Some(Path::new("/var/log/c.log")));
        let t = p.tls.as_ref().unwrap();
        assert_eq!(t.client_ca.as_deref(), Some(Path::new("/e/ca.pem")));
        let errs = parse(
            Path::new("c"),
            "1 /dev/a - * tls-cert=/x\n2 /dev/b - * replay=9999999\n3 /dev/c - * watch=3\n4 /dev/d - * log=\n",
        )
        .unwrap_err();
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "c:1: TLS needs both tls-cert and tls-key",
                "c:2: bad replay \"9999999\" (0..1048576 bytes)",
                "c:3: bad watch port \"3\"",
                "c:4: log needs a file",
            ]
        );
    }

    #[test]
    fn tls_files_remember_the_line_that_named_them() {
        let text =
            "# c\n\n5800 /dev/a - * tls-cert=/e/c.pem tls-key=/e/c.key tls-client-ca=/e/ca\n";
        let t = parse(Path::new("/etc/s.conf"), text).unwrap()[0]
            .tls
            .clone()
            .unwrap();
        assert_eq!(
            t.source_of(Path::new("/e/c.pem")),
            "/etc/s.conf:3: tls-cert"
        );
        assert_eq!(t.source_of(Path::new("/e/c.key")), "/etc/s.conf:3: tls-key");
        assert_eq!(
            t.source_of(Path::new("/e/ca")),
            "/etc/s.conf:3: tls-client-ca"
        );
        let cli = tls_files(Some("/c".into()), Some("/k".into()), None)
            .unwrap()
            .unwrap();
        assert_eq!(cli.source_of(Path::new("/k")), "--tls-key");
        // Moving the line does not make the port a changed one on reload.
        let moved = parse(Path::new("/etc/s.conf"), text.trim_start_matches("# c\n"));
        assert_eq!(moved.unwrap()[0].tls.as_ref(), Some(&t));
    }

    #[test]
    fn alert_lines() {
        let text = "alert 1 /PANIC/ logger x\n1 /dev/a - *\nalert 9 /x/ y\nalert 1 /(/ y\n";
        let errs = parse(Path::new("c"), text).unwrap_err();
        assert!(
            errs[0].to_string().starts_with("c:3: alert for \"9\""),
            "{errs:?}"
        );
        assert!(
            errs[1].to_string().starts_with("c:4: bad alert regex"),
            "{errs:?}"
        );
        let ports = parse(Path::new("c"), "1 /dev/a - *\nalert 1 /PANIC/ logger x\n").unwrap();
        assert_eq!(ports[0].alerts[0].command, "logger x");
        let text = "1 /dev/a - *\nalert 1 dcd rise logger up\n";
        let ports = parse(Path::new("c"), text).unwrap();
        assert_eq!(ports[0].line_alerts[0].command, "logger up");
        assert!(ports[0].alerts.is_empty());
        let errs = parse(Path::new("c"), "1 /dev/a - *\nalert 1 cts up x\n").unwrap_err();
        assert!(errs[0].to_string().contains("rise|fall"), "{errs:?}");
    }

    #[test]
    fn control_socket_line() {
        let g = globals(Path::new("c"), "control=/run/x.ctl\n1 /dev/a - *\n").unwrap();
        assert_eq!(g.control, Some(PathBuf::from("/run/x.ctl")));
        let errs = globals(Path::new("c"), "control=x.ctl\n").unwrap_err();
        assert!(errs[0].to_string().contains("absolute path"), "{errs:?}");
        let text = "reset-seq esp = dtr=0 rts=1; 100ms; dtr=1\nreset-seq bad = x\n";
        let errs = globals(Path::new("c"), text).unwrap_err();
        assert!(
            errs.len() == 1 && errs[0].to_string().starts_with("c:2:"),
            "{errs:?}"
        );
        let g = globals(
            Path::new("c"),
            "reset-seq esp = dtr=0 rts=1; 100ms; dtr=1\n",
        )
        .unwrap();
        assert_eq!(g.reset_seqs[0].1.len(), 3);
        let ports = parse(
            Path::new("c"),
            "control=/x\nreset-seq a = rts=1\n1 /dev/a - * hold-session esp-reset\n",
        )
        .unwrap();
        assert!(ports[0].hold_session && ports[0].esp_reset);
        let text = "1 /dev/a - * dtr=keep rts=off hangup-when-done replay-clear-on-disconnect\n";
        let p = &parse(Path::new("c"), text).unwrap()[0];
        assert_eq!((p.dtr, p.rts), (LineSetting::Keep, LineSetting::Off));
        assert!(p.hangup_when_done && p.replay_clear && !p.hold_session);
        let errs = parse(Path::new("c"), "1 /dev/a - * dtr=maybe\n").unwrap_err();
        assert!(errs[0].to_string().contains("bad dtr"), "{errs:?}");
        let text = "1 /dev/a - * rs485=on,rts-on-send,delay-after=2\n2 /dev/b - * rs485=on,x\n";
        let errs = parse(Path::new("c"), text).unwrap_err();
        assert_eq!(errs[0].to_string(), "c:2: unknown rs485 item \"x\"");
        let p = &parse(Path::new("c"), "1 /dev/a - * rs485=on,delay-after=2\n").unwrap()[0];
        let want = crate::proto::rs485::parse("on,delay-after=2").unwrap();
        assert_eq!(p.rs485, Some(want));
    }

    #[test]
    fn metrics_lines_are_server_wide() {
        let text = "metrics=9100\nmetrics-allow=10.0.0.0/8\nweb=8080\n5800 /dev/a - *\n";
        assert_eq!(parse(Path::new("c"), text).unwrap().len(), 1);
        let g = globals(Path::new("c"), text).unwrap();
        assert_eq!(g.metrics, "127.0.0.1:9100".parse().ok());
        assert_eq!(g.web, "127.0.0.1:8080".parse().ok());
        assert!(globals(Path::new("c"), "web=x:y\n").is_err());
        assert!(g.metrics_allow.unwrap().allows("10.1.2.3".parse().unwrap()));
        let errs = globals(Path::new("c"), "# x\nmetrics=nope\nmetrics-allow=\n").unwrap_err();
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(
            shown[0].starts_with("c:2: bad metrics address"),
            "{shown:?}"
        );
        assert!(shown[1].starts_with("c:3: "), "{shown:?}");
    }

    #[test]
    fn stty_words_take_commas() {
        assert_eq!(stty_words("38400,raw"), "38400 raw");
        assert_eq!(stty_words(" 9600  -crtscts,cs8 "), "9600 -crtscts cs8");
    }

    #[test]
    fn listen_forms() {
        assert_eq!(parse_listen("23000"), Some((None, 23000)));
        assert_eq!(
            parse_listen("127.0.0.1:1"),
            Some((Some("127.0.0.1".parse().unwrap()), 1))
        );
        assert_eq!(
            parse_listen("[::1]:7"),
            Some((Some("::1".parse().unwrap()), 7))
        );
        assert_eq!(parse_listen("x"), None);
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,120}") {
            let _ = parse(Path::new("p"), &s);
        }
    }
}
