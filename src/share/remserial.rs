//! remserial's command line, read as remserial reads it (`getopt("dl:m:p:r:s:wx:")`), and
//! turned into the `serve` or `connect` command that does the same with rgetty-share's
//! machinery: no data path of its own.
//!
//! ```text
//! remserial [-d] [-r machinename] [-p netport] [-s "stty params"] [-m maxconnect] [-w]
//!           [-x debuglevel] [-l linkname] device
//! ```
//!
//! - no `-r`: serve `device` on `netport` (raw TCP, no control protocol);
//! - `-r machinename DEVICE`: connect to the machine and join the device to it end to end;
//! - `-r machinename -l LINK /dev/ptmx`: make a pty and the symlink `LINK` to its slave.
//!
//! rgetty-share's own long options may be added: `--allow HOSTS` (remserial admits every
//! host; rgetty-share admits loopback only unless told), `--lock-dir`, `--lock-naming`,
//! `--port-file`. Pure: parsing and translation only.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// remserial's default TCP port.
pub const DEFAULT_PORT: u16 = 23000;
/// The pty multiplexer remserial opens for its `-l` form.
pub const PTMX: &str = "/dev/ptmx";
/// remserial's client retries a refused connect every 10 seconds.
pub const RETRY_SECS: u64 = 10;

/// remserial's usage text, with rgetty-share's additions.
pub const USAGE: &str = "\
usage: remserial [-d] [-r machinename] [-p netport] [-s \"stty params\"] [-m maxconnect]
                 [-w] [-x debuglevel] [-l linkname] [--allow HOSTS] [--lock-dir DIR]
                 [--lock-naming upstream|debian] [--port-file FILE] device

-r machinename      The remote machine to connect to; without it, this is the server side.
-p netport          TCP port (default 23000).
-s \"stty params\"    stty words for the serial port, e.g. \"9600 raw\".
-m maxconnect       Clients that may share the device at once (server; default 1).
-d                  Run as a daemon: detach from the terminal, log to syslog.
-x debuglevel       0 is the default; 1 and 2 log more.
-l linkname         With the device /dev/ptmx and -r: a pty, and linkname pointing at it.
-w                  Write-only: never read from the device (server).
--allow HOSTS       Admit these peers (addresses, ADDR/BITS, host names, .domain, *);
                    default: loopback only (remserial admits every host).
device              The tty to share, or /dev/ptmx with -l.
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// Serve the device on the port.
    Serve,
    /// Connect to `host` and bridge the device.
    Bridge {
        /// `-r` machine name.
        host: String,
    },
    /// Connect to `host` and present a pty behind the symlink `link`.
    Pty {
        /// `-r` machine name.
        host: String,
        /// `-l` link name.
        link: PathBuf,
    },
}

/// A parsed remserial command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remserial {
    /// Serve, bridge, or a pty.
    pub role: Task,
    /// `-d`: detach (remserial does not fork: it calls `setsid` and closes stdio).
    pub daemon: bool,
    /// `-p`.
    pub port: u16,
    /// `-s`, as words separated by single blanks.
    pub stty: Option<String>,
    /// `-m`.
    pub max: usize,
    /// `-w`.
    pub write_only: bool,
    /// `-x`.
    pub debug: u32,
    /// The device operand.
    pub device: PathBuf,
    /// `--allow` (each may be a comma-separated list).
    pub allow: Vec<String>,
    /// `--lock-dir`.
    pub lock_dir: Option<PathBuf>,
    /// `--lock-naming`.
    pub lock_naming: Option<String>,
    /// `--port-file`.
    pub port_file: Option<PathBuf>,
}

/// Why a command line was refused (one line; the caller adds the usage text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

/// The options as given, before the roles are checked.
#[derive(Debug, Default)]
struct Raw {
    daemon: bool,
    remote: Option<String>,
    port: Option<u16>,
    stty: Option<String>,
    max: Option<usize>,
    write_only: bool,
    debug: u32,
    link: Option<PathBuf>,
    operands: Vec<OsString>,
    allow: Vec<String>,
    lock_dir: Option<PathBuf>,
    lock_naming: Option<String>,
    port_file: Option<PathBuf>,
}

/// True when the program was started under the name `remserial` (a link to rgetty-share).
pub fn invoked_as_remserial(argv0: &OsStr) -> bool {
    Path::new(argv0).file_name() == Some(OsStr::new("remserial"))
}

/// Parse the arguments after the program name. Options may follow the device (as with glibc's
/// getopt); `--` ends them.
///
/// ```
/// use rgetty::share::remserial::{parse, Task};
/// let r = parse(&["-d", "-p", "23000", "-s", "9600 raw", "/dev/ttyS0"]).unwrap();
/// assert_eq!((r.role, r.port, r.stty.as_deref()), (Task::Serve, 23000, Some("9600 raw")));
/// ```
pub fn parse<S: AsRef<OsStr>>(args: &[S]) -> Result<Remserial, UsageError> {
    let mut raw = Raw::default();
    let mut it = args.iter().map(|a| a.as_ref().to_os_string());
    while let Some(a) = it.next() {
        let Some(s) = a.to_str().map(str::to_string) else {
            raw.operands.push(a);
            continue;
        };
        if s == "--" {
            raw.operands.extend(it.by_ref());
        } else if let Some(long) = s.strip_prefix("--") {
            long_opt(&mut raw, long, &mut it)?;
        } else if s.len() > 1 && s.starts_with('-') {
            short_opts(&mut raw, &s[1..], &mut it)?;
        } else {
            raw.operands.push(a);
        }
    }
    finish(raw)
}

fn value(
    name: &str,
    inline: Option<&str>,
    it: &mut impl Iterator<Item = OsString>,
) -> Result<String, UsageError> {
    if let Some(v) = inline {
        return Ok(v.to_string());
    }
    match it.next() {
        Some(v) => v
            .into_string()
            .or_else(|v| err(format!("{name}: {v:?} is not valid text"))),
        None => err(format!("option {name} needs a value")),
    }
}

fn long_opt(
    raw: &mut Raw,
    long: &str,
    it: &mut impl Iterator<Item = OsString>,
) -> Result<(), UsageError> {
    let (name, inline) = match long.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (long, None),
    };
    let flag = format!("--{name}");
    match name {
        "allow" => raw.allow.push(value(&flag, inline, it)?),
        "lock-dir" => raw.lock_dir = Some(value(&flag, inline, it)?.into()),
        "lock-naming" => {
            let v = value(&flag, inline, it)?;
            if v != "upstream" && v != "debian" {
                return err(format!("--lock-naming {v:?}: upstream or debian"));
            }
            raw.lock_naming = Some(v);
        }
        "port-file" => raw.port_file = Some(value(&flag, inline, it)?.into()),
        "help" => return err("help"),
        _ => return err(format!("unknown option --{name}")),
    }
    Ok(())
}

fn number<T: std::str::FromStr>(flag: char, v: &str) -> Result<T, UsageError> {
    v.trim()
        .parse()
        .or_else(|_| err(format!("-{flag} {v:?}: not a number or out of range")))
}

fn short_opts(
    raw: &mut Raw,
    cluster: &str,
    it: &mut impl Iterator<Item = OsString>,
) -> Result<(), UsageError> {
    for (i, c) in cluster.char_indices() {
        match c {
            'd' => raw.daemon = true,
            'w' => raw.write_only = true,
            'h' => return err("help"),
            'l' | 'm' | 'p' | 'r' | 's' | 'x' => {
                let rest = &cluster[i + c.len_utf8()..];
                let v = value(&format!("-{c}"), (!rest.is_empty()).then_some(rest), it)?;
                match c {
                    'l' => raw.link = Some(v.into()),
                    'm' => raw.max = Some(number('m', &v)?),
                    'p' => raw.port = Some(number('p', &v)?),
                    'r' => raw.remote = Some(v),
                    's' => raw.stty = Some(v),
                    _ => raw.debug = number('x', &v)?,
                }
                return Ok(());
            }
            _ => return err(format!("unknown option -{c}")),
        }
    }
    Ok(())
}

/// stty words checked, with a hint for the typographic quotes that web pages put around
/// remserial's examples (`-s “115200 raw"`).
fn stty_words(s: &str) -> Result<String, UsageError> {
    let words = crate::share::conf::stty_words(s);
    crate::share::conf::check_stty(&words).or_else(|w| {
        let hint = if w.contains(['\u{201c}', '\u{201d}', '\u{2018}', '\u{2019}']) {
            " (a typographic quote: type \"...\")"
        } else {
            ""
        };
        err(format!("-s: unknown stty word {w:?}{hint}"))
    })?;
    Ok(words)
}

fn finish(raw: Raw) -> Result<Remserial, UsageError> {
    let stty = raw.stty.as_deref().map(stty_words).transpose()?;
    let mut ops = raw.operands.into_iter();
    let Some(device) = ops.next() else {
        return err("no device given");
    };
    if let Some(extra) = ops.next() {
        return err(format!("one device only: unexpected {extra:?}"));
    }
    let device = PathBuf::from(device);
    let max = raw.max.unwrap_or(1);
    if !(1..=64).contains(&max) {
        return err(format!("-m {max}: 1..64"));
    }
    let ptmx = device == Path::new(PTMX);
    let role = match (raw.remote, raw.link) {
        (None, None) if ptmx => return err("serving /dev/ptmx is not supported: use -r with -l"),
        (None, None) => Task::Serve,
        (None, Some(_)) => return err("-l needs -r (the pty is the client's virtual port)"),
        (Some(_), Some(_)) if !ptmx => return err("-l needs the device /dev/ptmx"),
        (Some(host), Some(link)) => Task::Pty { host, link },
        (Some(_), None) if ptmx => return err("/dev/ptmx needs -l linkname"),
        (Some(host), None) => Task::Bridge { host },
    };
    if raw.write_only && role != Task::Serve {
        return err("-w is for the server side (without -r)");
    }
    if !raw.allow.is_empty() && role != Task::Serve {
        return err("--allow is for the server side (without -r)");
    }
    Ok(Remserial {
        role,
        daemon: raw.daemon,
        port: raw.port.unwrap_or(DEFAULT_PORT),
        stty,
        max,
        write_only: raw.write_only,
        debug: raw.debug,
        device,
        allow: raw.allow,
        lock_dir: raw.lock_dir,
        lock_naming: raw.lock_naming,
        port_file: raw.port_file,
    })
}

/// `HOST:PORT`, with brackets around an IPv6 literal.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl Remserial {
    /// The rgetty-share command line (after the program name) that does the same:
    /// `serve …` or `connect …`. `--detach` is remserial's `-d`.
    ///
    /// ```
    /// let r = rgetty::share::remserial::parse(&["-r", "srv", "-l", "/tmp/v", "/dev/ptmx"])
    ///     .unwrap();
    /// assert_eq!(r.share_args(), ["connect", "srv:23000", "--max-backoff", "10",
    ///                              "--link", "/tmp/v"]);
    /// ```
    pub fn share_args(&self) -> Vec<OsString> {
        let mut v: Vec<OsString> = Vec::new();
        let mut push = |a: &str| v.push(a.into());
        match &self.role {
            Task::Serve => {
                push("serve");
                push("-p");
                push(&self.port.to_string());
                push("-m");
                push(&self.max.to_string());
                if self.write_only {
                    push("-w");
                }
                for a in &self.allow {
                    push("--allow");
                    push(a);
                }
            }
            Task::Bridge { host } | Task::Pty { host, .. } => {
                push("connect");
                push(&host_port(host, self.port));
                push("--max-backoff");
                push(&RETRY_SECS.to_string());
            }
        }
        if let (Some(s), false) = (&self.stty, matches!(self.role, Task::Pty { .. })) {
            push("-s");
            push(s);
        }
        self.common_args(&mut v);
        match &self.role {
            Task::Pty { link, .. } => {
                v.push("--link".into());
                v.push(link.into());
            }
            _ => {
                v.push("--".into());
                v.push(self.device.clone().into());
            }
        }
        v
    }

    fn common_args(&self, v: &mut Vec<OsString>) {
        if self.daemon {
            v.push("--detach".into());
        }
        if self.debug > 0 {
            v.push("-v".into());
        }
        if let Some(d) = &self.lock_dir {
            v.push("--lock-dir".into());
            v.push(d.into());
        }
        if let Some(n) = &self.lock_naming {
            v.push("--lock-naming".into());
            v.push(n.into());
        }
        if let (Some(f), Task::Serve) = (&self.port_file, &self.role) {
            v.push("--port-file".into());
            v.push(f.into());
        }
    }

    /// The one line said at start: where rgetty-share is deliberately stricter than remserial.
    pub fn notice(&self) -> String {
        let who = match (&self.role, self.allow.is_empty()) {
            (Task::Serve, true) => {
                "listens on 127.0.0.1 and admits loopback peers only (remserial: every host); \
                 --allow HOSTS admits others; "
            }
            (Task::Serve, false) => "admits only the hosts of --allow; ",
            _ => "",
        };
        let lock = match &self.role {
            Task::Pty { .. } => {
                "the link replaces only a symlink (remserial removes whatever is there)"
            }
            _ => "the device is UUCP-locked while in use",
        };
        format!("remserial mode: {who}{lock} (see rgetty-share(8))")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(a: &[&str]) -> Result<Remserial, UsageError> {
        parse(a)
    }

    fn args(r: &Remserial) -> Vec<String> {
        r.share_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_three_forms_of_the_page() {
        let r = p(&["-d", "-p", "23000", "-s", "9600 raw", "/dev/ttyS0"]).unwrap();
        assert_eq!(r.role, Task::Serve);
        assert!(r.daemon);
        assert_eq!(
            args(&r),
            [
                "serve",
                "-p",
                "23000",
                "-m",
                "1",
                "-s",
                "9600 raw",
                "--detach",
                "--",
                "/dev/ttyS0"
            ]
        );
        let r = p(&[
            "-d",
            "-r",
            "server-name",
            "-p",
            "23000",
            "-s",
            "9600 raw",
            "/dev/ttyS0",
        ])
        .unwrap();
        assert_eq!(
            args(&r),
            [
                "connect",
                "server-name:23000",
                "--max-backoff",
                "10",
                "-s",
                "9600 raw",
                "--detach",
                "--",
                "/dev/ttyS0"
            ]
        );
        let r = p(&[
            "-d",
            "-r",
            "server-name",
            "-p",
            "23000",
            "-l",
            "/dev/remserial1",
            PTMX,
        ])
        .unwrap();
        assert_eq!(
            r.role,
            Task::Pty {
                host: "server-name".into(),
                link: "/dev/remserial1".into()
            }
        );
        assert_eq!(
            args(&r),
            [
                "connect",
                "server-name:23000",
                "--max-backoff",
                "10",
                "--detach",
                "--link",
                "/dev/remserial1"
            ]
        );
    }

    #[test]
    fn getopt_forms() {
        let r = p(&["-dwp2300", "-m3", "-x", "2", "/dev/x", "-s", "115200,cs8"]).unwrap();
        assert!(r.daemon && r.write_only);
        assert_eq!((r.port, r.max, r.debug), (2300, 3, 2));
        assert_eq!(r.stty.as_deref(), Some("115200 cs8"));
        let r = p(&["--", "-odd-name"]).unwrap();
        assert_eq!(r.device, PathBuf::from("-odd-name"));
        assert_eq!(args(&r)[5..], ["--", "-odd-name"]);
        let r = p(&["-r", "::1", "/dev/x"]).unwrap();
        assert_eq!(args(&r)[1], "[::1]:23000");
        let r = p(&[
            "--allow=10.0.0.0/8",
            "--allow",
            ".lan",
            "--lock-dir",
            "/t",
            "/d",
        ])
        .unwrap();
        assert_eq!(
            args(&r)[5..],
            [
                "--allow",
                "10.0.0.0/8",
                "--allow",
                ".lan",
                "--lock-dir",
                "/t",
                "--",
                "/d"
            ]
        );
        assert_eq!(p(&["-x1", "/d"]).unwrap().share_args()[5], "-v");
    }

    #[test]
    fn refusals_name_the_problem() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "no device given"),
            (&["/a", "/b"], "one device only: unexpected \"/b\""),
            (&["-q", "/a"], "unknown option -q"),
            (&["--frob", "/a"], "unknown option --frob"),
            (&["/a", "-p"], "option -p needs a value"),
            (&["-p", "x", "/a"], "-p \"x\": not a number or out of range"),
            (
                &["-p", "70000", "/a"],
                "-p \"70000\": not a number or out of range",
            ),
            (&["-m", "0", "/a"], "-m 0: 1..64"),
            (
                &["-s", "9600 bogus", "/a"],
                "-s: unknown stty word \"bogus\"",
            ),
            (
                &["-l", "/v", PTMX],
                "-l needs -r (the pty is the client's virtual port)",
            ),
            (
                &["-r", "h", "-l", "/v", "/dev/ttyS0"],
                "-l needs the device /dev/ptmx",
            ),
            (&["-r", "h", PTMX], "/dev/ptmx needs -l linkname"),
            (
                &[PTMX],
                "serving /dev/ptmx is not supported: use -r with -l",
            ),
            (
                &["-w", "-r", "h", "/a"],
                "-w is for the server side (without -r)",
            ),
            (
                &["--allow", "*", "-r", "h", "/a"],
                "--allow is for the server side (without -r)",
            ),
            (
                &["--lock-naming", "x", "/a"],
                "--lock-naming \"x\": upstream or debian",
            ),
        ];
        for (a, want) in cases {
            assert_eq!(p(a).unwrap_err().0, *want, "{a:?}");
        }
    }

    #[test]
    fn typographic_quotes_are_pointed_out() {
        // What a shell passes for the page's `-s “115200 raw" /dev/ttyS0 & ...` line.
        let e = p(&[
            "-d",
            "-p",
            "23000",
            "-s",
            "\u{201c}115200",
            "raw /dev/ttyS0",
        ])
        .unwrap_err();
        assert_eq!(
            e.0,
            "-s: unknown stty word \"\u{201c}115200\" (a typographic quote: type \"...\")"
        );
    }

    #[test]
    fn argv0() {
        assert!(invoked_as_remserial(OsStr::new("/usr/bin/remserial")));
        assert!(invoked_as_remserial(OsStr::new("remserial")));
        assert!(!invoked_as_remserial(OsStr::new("rgetty-share")));
    }

    #[test]
    fn notices() {
        let r = p(&["/a"]).unwrap();
        assert!(r.notice().contains("127.0.0.1"), "{}", r.notice());
        assert!(r.notice().contains("UUCP-locked"));
        let r = p(&["--allow", "*", "/a"]).unwrap();
        assert!(r.notice().contains("--allow"));
        let r = p(&["-r", "h", "-l", "/v", PTMX]).unwrap();
        assert!(!r.notice().contains("127.0.0.1"));
    }

    proptest! {
        #[test]
        fn never_panics(a in proptest::collection::vec("\\PC{0,12}", 0..6)) {
            let _ = parse(&a).map(|r| r.share_args());
        }
    }
}
