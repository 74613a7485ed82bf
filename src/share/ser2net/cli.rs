//! ser2net's command line (ser2net(8)), for `rgetty-share ser2net ...` and for the binary
//! started under the name `ser2net`: `-c FILE`, `-C DIR` (or ser2net 3's one-line port, as
//! labgrid's exporter passed it to old ser2net), `-Y LINE`, `-n`, `-d`, `-P PIDFILE`, `-u`,
//! `-p` (refused: no admin interface), `-v`.
//!
//! Pure: turns argv into [`Args`] and the config text.

use std::path::{Path, PathBuf};

/// The version `-v` reports: the ser2net release whose configuration syntax this front end
/// follows (labgrid's exporter reads it to choose between `-Y` and `-C`).
pub const SYNTAX_VERSION: &str = "4.6.7";

/// ser2net's default configuration directory.
pub const DEFAULT_ETC: &str = "/etc/ser2net";

/// The parsed command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// `-c FILE` (`-` is standard input).
    pub config: Option<PathBuf>,
    /// `-C DIR`: the configuration directory.
    pub etc: Option<PathBuf>,
    /// `-C LINE` in ser2net 3's form, turned into YAML.
    pub v3_lines: Vec<String>,
    /// `-Y LINE`s.
    pub yaml_lines: Vec<String>,
    /// `-n` or `-d`: stay in the foreground.
    pub foreground: bool,
    /// `-d`: log to standard error too.
    pub debug: bool,
    /// `-P FILE`.
    pub pidfile: Option<PathBuf>,
    /// `-u`: no UUCP locks.
    pub no_uucp_lock: bool,
    /// `-v`.
    pub version: bool,
    /// `--allow LIST` (rgetty-share's own): who may connect to a port without `remaddr`.
    pub allow: Vec<String>,
}

/// Parse ser2net's options (argv without the program name).
pub fn parse(argv: &[String]) -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = argv.iter();
    while let Some(opt) = it.next() {
        let mut val = |o: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("option {o} needs a value"))
        };
        match opt.as_str() {
            "-c" => a.config = Some(PathBuf::from(val("-c")?)),
            "-C" => {
                let v = val("-C")?;
                if Path::new(&v).is_dir() || !v.contains(':') {
                    a.etc = Some(PathBuf::from(v));
                } else {
                    a.v3_lines.push(v);
                }
            }
            "-Y" => a.yaml_lines.push(val("-Y")?),
            "-P" => a.pidfile = Some(PathBuf::from(val("-P")?)),
            "-t" => {
                val("-t")?;
            }
            "-n" => a.foreground = true,
            "-d" => {
                a.foreground = true;
                a.debug = true;
            }
            "-u" => a.no_uucp_lock = true,
            "--allow" => a.allow.extend(split_hosts(&val("--allow")?)),
            "-b" => {}
            "-v" => a.version = true,
            "-p" => {
                return Err(
                    "-p: rgetty-share has no ser2net admin interface (see rgetty-share(8))".into(),
                );
            }
            "-a" | "-A" | "-s" => {
                return Err(format!("option {opt} not supported by rgetty-share"));
            }
            o => {
                return Err(format!(
                    "unknown option {o:?} (ser2net's options: see rgetty-share(8))"
                ));
            }
        }
    }
    Ok(a)
}

/// A host list as `--allow` and `RGETTY_SHARE_ALLOW` give it: entries split on commas or
/// white space.
pub fn split_hosts(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect()
}

/// `-v`'s line, as ser2net prints it (`NAME version X.Y.Z`).
pub fn version_line(name: &str) -> String {
    format!("{name} version {SYNTAX_VERSION}")
}

/// The `-Y` strings as YAML text: `#` outside quotes is a line break and each string ends
/// a line (ser2net(8), `-Y`).
pub fn yaml_text(lines: &[String]) -> String {
    let mut out = String::new();
    let (mut quote, mut escape) = (None::<char>, false);
    for l in lines {
        for c in l.chars() {
            match c {
                '\'' | '"' if !(quote == Some('"') && escape) => {
                    if quote == Some(c) {
                        quote = None;
                    } else if quote.is_none() {
                        quote = Some(c);
                    }
                    out.push(c);
                }
                '#' if quote.is_none() => out.push('\n'),
                c => out.push(c),
            }
            escape = c == '\\' && !escape;
        }
        out.push('\n');
    }
    out
}

/// ser2net 3's one-line port (`[ADDR,]PORT:STATE:TIMEOUT:DEVICE:OPTIONS`) as a version 1
/// connection named `v3_N`.
pub fn v3_to_yaml(n: usize, line: &str) -> Result<String, String> {
    let mut f = line.splitn(4, ':');
    let (Some(port), Some(state), Some(timeout), Some(rest)) =
        (f.next(), f.next(), f.next(), f.next())
    else {
        return Err(format!(
            "-C {line:?}: want PORT:STATE:TIMEOUT:DEVICE:OPTIONS"
        ));
    };
    let (dev, opts) = split_device(rest);
    let proto = match state {
        "raw" => "tcp",
        "telnet" => "telnet(rfc2217),tcp",
        "off" => "tcp",
        s => return Err(format!("-C state {s:?} not supported (raw, telnet, off)")),
    };
    let mut items = Vec::new();
    let (mut speed, mut parity, mut bits, mut stop) = ("9600".to_string(), 'n', '8', '1');
    for w in opts.split_whitespace() {
        match w {
            s if s.bytes().all(|b| b.is_ascii_digit()) => speed = s.to_string(),
            "NONE" => parity = 'n',
            "EVEN" => parity = 'e',
            "ODD" => parity = 'o',
            "5DATABITS" | "6DATABITS" | "7DATABITS" | "8DATABITS" => {
                bits = w.chars().next().unwrap_or('8')
            }
            "1STOPBIT" => stop = '1',
            "2STOPBITS" => stop = '2',
            "LOCAL" => items.push("local"),
            "-LOCAL" => items.push("local=false"),
            "RTSCTS" => items.push("rtscts"),
            "-RTSCTS" => items.push("rtscts=false"),
            "XONXOFF" => items.push("xonxoff"),
            "-XONXOFF" => items.push("xonxoff=false"),
            "HANGUP_WHEN_DONE" => items.push("hangup-when-done"),
            "NOBREAK" | "-NOBREAK" => {}
            o => return Err(format!("-C option {o:?} not supported by rgetty-share")),
        }
    }
    let mut con = format!("serialdev,{dev},{speed}{parity}{bits}{stop}");
    for i in items {
        con.push(',');
        con.push_str(i);
    }
    let enable = if state == "off" { "off" } else { "on" };
    Ok(format!(
        "connection: &v3_{n}\n  accepter: {proto},{port}\n  enable: {enable}\n  timeout: {timeout}\n  connector: {con}\n"
    ))
}

/// `DEVICE:OPTIONS`: a device path may hold colons (by-path names), so the split is at the
/// first colon whose tail starts like an option list.
fn split_device(rest: &str) -> (&str, &str) {
    for (i, _) in rest.match_indices(':') {
        let tail = &rest[i + 1..];
        let first = tail.split_whitespace().next().unwrap_or("");
        if first.is_empty()
            || first.bytes().all(|b| b.is_ascii_digit())
            || first
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return (&rest[..i], tail);
        }
    }
    (rest, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn labgrid_command_line() {
        let a = parse(&argv(&[
            "-d",
            "-n",
            "-Y",
            "connection: &con01#  accepter: telnet(rfc2217,mode=server),tcp,5000",
            "-Y",
            "  connector: serialdev(nouucplock=true),/dev/ttyUSB0,115200n81,local",
            "-Y",
            "  options:",
            "-Y",
            "    max-connections: 10",
        ]))
        .unwrap();
        assert!(a.foreground && a.debug);
        assert_eq!(
            yaml_text(&a.yaml_lines),
            "connection: &con01\n  accepter: telnet(rfc2217,mode=server),tcp,5000\n  \
             connector: serialdev(nouucplock=true),/dev/ttyUSB0,115200n81,local\n  options:\n    \
             max-connections: 10\n"
        );
        assert_eq!(version_line("rgetty-share"), "rgetty-share version 4.6.7");
    }

    #[test]
    fn hash_in_quotes_stays() {
        let t = yaml_text(&argv(&[
            "  options:#    banner: \"### A \\\"#\\\" ###\\r\\n\"",
        ]));
        assert_eq!(t, "  options:\n    banner: \"### A \\\"#\\\" ###\\r\\n\"\n");
    }

    #[test]
    fn refusals_and_v3() {
        assert!(
            parse(&argv(&["-p", "2000"]))
                .unwrap_err()
                .contains("admin interface")
        );
        assert!(parse(&argv(&["-c"])).is_err());
        assert!(parse(&argv(&["-x"])).is_err());
        let a = parse(&argv(&[
            "-u",
            "-C",
            "4001:telnet:0:/dev/ttyUSB0:115200 NONE 8DATABITS 1STOPBIT LOCAL",
        ]))
        .unwrap();
        assert!(a.no_uucp_lock);
        let y = v3_to_yaml(0, &a.v3_lines[0]).unwrap();
        assert!(y.contains("accepter: telnet(rfc2217),tcp,4001\n"), "{y}");
        assert!(
            y.contains("connector: serialdev,/dev/ttyUSB0,115200n81,local\n"),
            "{y}"
        );
        let y = v3_to_yaml(
            1,
            "127.0.0.1,4002:raw:30:/dev/serial/by-path/pci-0:1.2:1.0-port0:9600 EVEN 7DATABITS",
        )
        .unwrap();
        assert!(y.contains("accepter: tcp,127.0.0.1,4002\n"), "{y}");
        assert!(
            y.contains("serialdev,/dev/serial/by-path/pci-0:1.2:1.0-port0,9600e71\n"),
            "{y}"
        );
        assert!(v3_to_yaml(2, "4003:telnet:0:/dev/x:9600 banner1").is_err());
        assert_eq!(
            parse(&argv(&["-C", "/tmp"])).unwrap().etc.as_deref(),
            Some(Path::new("/tmp"))
        );
    }
}
