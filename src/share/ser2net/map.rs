//! One ser2net `connection` as a [`PortConfig`]: the accepter gives the listen address, telnet
//! and TLS; the connector ([`super::connector`]) gives the device and its termios; the options give the rest. An
//! option rgetty-share cannot honour is an error naming its line, never dropped.
//!
//! Pure: works on the tree of [`super::yaml`] after the loader has substituted defines.

use crate::share::conf::{PortConfig, TlsFiles};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// mDNS announcement of a port (`mdns: true` and the `mdns-*` options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mdns {
    /// Instance name (`mdns-name`, default: the connection's name).
    pub name: String,
    /// Service type (`mdns-type`, default `_iostream._tcp`).
    pub service_type: String,
    /// TXT strings (`mdns-txt`, each `KEY=VALUE`).
    pub txt: Vec<String>,
    /// Add the USB attributes of the device from sysfs (`mdns-sysattrs`).
    pub sysattrs: bool,
    /// The gensio stack for the `gensiostack=` TXT entry, e.g. `telnet(rfc2217),tcp`.
    pub stack: String,
}

/// One connection of a ser2net file, as rgetty-share serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Its name (the anchor in version 1, the key in version 2).
    pub name: String,
    /// The line of the connection.
    pub line: usize,
    /// The port.
    pub port: PortConfig,
    /// Whether the UUCP lock is taken (`nouucplock` turns it off).
    pub uucp_lock: bool,
    /// mDNS, when `mdns: true`.
    pub mdns: Option<Mdns>,
    /// No `remaddr` was given: the port admits loopback peers only until [`admit`] gives it
    /// the command line's allow list (ser2net itself admits everyone).
    pub default_acl: bool,
    /// The accepter named no host (or `0.0.0.0`): it listens where the allow list needs.
    pub wildcard: bool,
}

/// Give the connections without a `remaddr` of their own the allow list `allow` (from
/// `--allow` or `RGETTY_SHARE_ALLOW`); those whose accepter named no host listen on every
/// IPv4 interface unless `allow` admits only loopback.
pub fn admit(conns: &mut [Connection], allow: &crate::share::acl::Acl) {
    for c in conns.iter_mut().filter(|c| c.default_acl) {
        c.port.acl = allow.clone();
        if c.wildcard {
            c.port
                .listen
                .set_ip(crate::share::conf::default_listen_ip(allow));
        }
    }
}

/// `default:` values: (class, name) → value and the line that set it.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    entries: Vec<(Option<String>, String, String, usize)>,
}

/// Option names a `default:` may set for the ser2net class (the connection options).
pub(super) const OPTION_NAMES: &[&str] = &[
    "kickolduser",
    "max-connections",
    "banner",
    "remaddr",
    "mdns",
    "mdns-sysattrs",
    "mdns-type",
    "telnet-brk-on-sync",
    "chardelay",
    "timeout-on-os-queue",
    "trace-timestamp",
    "trace-hexdump",
];
/// Names a `default:` may set for the serialdev class (or for every class).
pub(super) const SERIAL_NAMES: &[&str] = &[
    "speed",
    "local",
    "nouucplock",
    "uucplock",
    "rtscts",
    "xonxoff",
    "hangup-when-done",
];
/// Names a `default:` may set for the ssl class.
const SSL_NAMES: &[&str] = &["key", "cert", "CA", "clientauth"];

impl Defaults {
    /// Set a default (a later one replaces an earlier one); an unknown name is an error.
    pub fn set(
        &mut self,
        class: Option<&str>,
        name: &str,
        value: &str,
        line: usize,
    ) -> Result<(), String> {
        let known = match class {
            None => [OPTION_NAMES, SERIAL_NAMES, SSL_NAMES]
                .iter()
                .any(|l| l.contains(&name)),
            Some("ser2net") => OPTION_NAMES.contains(&name),
            Some("serialdev") => SERIAL_NAMES.contains(&name),
            Some("ssl") => SSL_NAMES.contains(&name),
            Some("telnet") => name == "rfc2217",
            Some(c) => return Err(format!("default for class {c:?} not supported")),
        };
        if !known {
            return Err(format!("default {name:?} not supported by rgetty-share"));
        }
        self.delete(class, name);
        let class = class.map(str::to_string);
        self.entries
            .push((class, name.to_string(), value.to_string(), line));
        Ok(())
    }

    /// `delete_default`: forget a class's default.
    pub fn delete(&mut self, class: Option<&str>, name: &str) {
        self.entries
            .retain(|(c, n, _, _)| !(c.as_deref() == class && n == name));
    }

    /// The value for `name` in `class`: the class's own default, else the base one.
    pub(super) fn get(&self, class: &str, name: &str) -> Option<(&str, usize)> {
        let find = |c: Option<&str>| {
            self.entries
                .iter()
                .rev()
                .find(|(ec, en, _, _)| ec.as_deref() == c && en == name)
                .map(|(_, _, v, l)| (v.as_str(), *l))
        };
        find(Some(class)).or_else(|| find(None))
    }
}

/// Errors of one connection: (line, message).
pub type Errors = Vec<(usize, String)>;

/// Split a gensio string at the commas outside parentheses; parts are trimmed (a folded YAML
/// line leaves blanks after commas).
pub fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur.trim().to_string());
    out
}

/// `name(a,b=c)` → (`name`, [`a`, `b=c`]).
pub fn layer(part: &str) -> (&str, Vec<String>) {
    match part.split_once('(') {
        Some((name, rest)) => {
            let inner = rest.strip_suffix(')').unwrap_or(rest);
            let args = split_top(inner).into_iter().filter(|a| !a.is_empty());
            (name.trim(), args.collect())
        }
        None => (part, Vec::new()),
    }
}

/// A gensio boolean: `true`/`false` and friends; a bare key means true.
pub fn boolean(v: Option<&str>) -> Option<bool> {
    match v.map(str::to_ascii_lowercase).as_deref() {
        None | Some("true" | "yes" | "on" | "1") => Some(true),
        Some("false" | "no" | "off" | "0") => Some(false),
        _ => None,
    }
}

/// What the accepter gives.
#[derive(Debug, Default)]
pub(super) struct Accepter {
    pub(super) listen: Option<SocketAddr>,
    pub(super) telnet: bool,
    pub(super) tls: Option<TlsFiles>,
    pub(super) stack: Vec<String>,
}

/// Parse an accepter such as `telnet(rfc2217),ssl(key=K,cert=C),tcp,ADDR,PORT`.
pub(super) fn accepter(
    s: &str,
    line: usize,
    d: &Defaults,
    etc: &Path,
    errs: &mut Errors,
) -> Accepter {
    let mut a = Accepter::default();
    let parts = split_top(s);
    let mut err = |m: String| errs.push((line, m));
    for (i, part) in parts.iter().enumerate() {
        let (name, args) = layer(part);
        match name {
            "telnet" => {
                a.telnet = true;
                for arg in &args {
                    let (k, v) = arg
                        .split_once('=')
                        .map_or((arg.as_str(), None), |(k, v)| (k, Some(v)));
                    match (k, v) {
                        ("rfc2217", v) if boolean(v).is_some() => {}
                        ("mode", Some("server")) => {}
                        _ => err(format!("telnet option {arg:?} not supported")),
                    }
                }
            }
            "ssl" => a.tls = ssl(&args, d, etc, &mut err),
            "tcp" => {
                if !args.is_empty() {
                    err(format!("tcp options {args:?} not supported"));
                }
                a.listen = tcp_address(&parts[i + 1..]).map_err(&mut err).ok();
                a.stack.push("tcp".to_string());
                return a;
            }
            other => {
                err(format!(
                    "accepter {other:?} not supported (tcp, telnet and ssl are)"
                ));
                return a;
            }
        }
        a.stack.push(part.clone());
    }
    err("accepter without tcp".to_string());
    a
}

/// `ssl(key=K,cert=C[,CA=F,clientauth])` with the `ssl` class defaults and ser2net's own
/// defaults (`ser2net.key`, `ser2net.crt` in the configuration directory).
fn ssl(
    args: &[String],
    d: &Defaults,
    etc: &Path,
    err: &mut impl FnMut(String),
) -> Option<TlsFiles> {
    let get = |k: &str| d.get("ssl", k).map(|(v, _)| v.to_string());
    let (mut key, mut cert, mut ca) = (get("key"), get("cert"), get("CA"));
    let mut clientauth = get("clientauth").is_some_and(|v| boolean(Some(&v)) == Some(true));
    for arg in args {
        let (k, v) = arg
            .split_once('=')
            .map_or((arg.as_str(), None), |(k, v)| (k, Some(v)));
        match (k, v) {
            ("key", Some(v)) => key = Some(v.to_string()),
            ("cert", Some(v)) => cert = Some(v.to_string()),
            ("CA", Some(v)) => ca = Some(v.to_string()),
            ("clientauth", v) if boolean(v).is_some() => clientauth = boolean(v) == Some(true),
            ("mode", Some("server")) => {}
            _ => err(format!("ssl option {arg:?} not supported")),
        }
    }
    let key = key.map_or_else(|| etc.join("ser2net.key"), PathBuf::from);
    let cert = cert.map_or_else(|| etc.join("ser2net.crt"), PathBuf::from);
    let client_ca = match (clientauth, ca) {
        (true, Some(ca)) => Some(PathBuf::from(ca)),
        (true, None) => {
            err("ssl clientauth needs CA= (rgetty-share checks client certificates against a CA, not an authdir)".into());
            None
        }
        (false, _) => None,
    };
    Some(TlsFiles {
        cert,
        key,
        client_ca,
        origin: None,
    })
}

/// The address fields after `tcp`: `PORT`, `HOST,PORT` or `ipv4|ipv6,HOST,PORT`. No host
/// means every IPv4 interface, as ser2net's own default listens everywhere.
fn tcp_address(fields: &[String]) -> Result<SocketAddr, String> {
    let f: Vec<&str> = fields.iter().map(String::as_str).collect();
    let f = match f.as_slice() {
        ["ipv4" | "ipv6", rest @ ..] => rest,
        all => all,
    };
    let (host, port) = match f {
        [port] => (None, *port),
        [host, port] => (Some(*host), *port),
        _ => return Err(format!("bad tcp address {:?}", fields.join(","))),
    };
    if port.contains(';') || host.is_some_and(|h| h.contains(';')) {
        return Err("several addresses in one accepter not supported".into());
    }
    let port: u16 = port.parse().map_err(|_| format!("bad port {port:?}"))?;
    let ip = match host {
        None | Some("") => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(h) => h
            .trim_matches(['[', ']'])
            .parse()
            .map_err(|_| format!("host {h:?}: give an IP address or localhost"))?,
    };
    Ok(SocketAddr::new(ip, port))
}
