//! A connection's keys and `options:` (ser2net.yaml(5), "CONNECTION SPECIFICATION OPTIONS").

use std::path::Path;
use std::time::Duration;

use super::connector::connector;
use super::map::{Connection, Defaults, Errors, Mdns, OPTION_NAMES, accepter, boolean};
use crate::share::ser2net::yaml::Node;

/// Options that are accepted when they ask for what rgetty-share does anyway (the value that
/// is a no-op), and refused otherwise.
const NOOP_WHEN: &[(&str, &str)] = &[
    ("timeout-on-os-queue", "false"),
    ("chardelay", "false"),
    ("no-acc-to-con", "false"),
    ("trace-hexdump", "false"),
    ("trace-read-hexdump", "false"),
    ("mdns-interface", "-1"),
    ("mdns-nettype", "unspec"),
    ("mdns-nettype", "ipv4"),
    ("mdns-domain", "local"),
    ("mdns-domain", "local."),
];

/// Timestamps: the port log always has them, so both values are fine.
const ALWAYS_OK: &[&str] = &["trace-timestamp", "trace-read-timestamp"];

/// What the options give, gathered before they are applied.
#[derive(Debug, Default)]
struct Opts {
    max: Option<usize>,
    kick: bool,
    banner: Option<String>,
    remaddr: Vec<String>,
    trace: Option<String>,
    no_con_to_acc: bool,
    brk_on_sync: bool,
    mdns: bool,
    mdns_name: Option<String>,
    mdns_type: Option<String>,
    mdns_txt: Vec<String>,
    sysattrs: bool,
}

/// Map one connection. `Ok(None)` when it is disabled (`enable: off`).
pub fn connection(
    name: &str,
    node: &Node,
    d: &Defaults,
    etc: &Path,
) -> Result<Option<Connection>, Errors> {
    let mut errs = Errors::new();
    let Some(pairs) = node.pairs() else {
        return Err(vec![(
            node.line,
            format!("connection {name}: want a mapping"),
        )]);
    };
    let (mut acc, mut con, mut enable, mut timeout, mut opts) =
        (None, None, true, None, Opts::default());
    defaults_into(&mut opts, d, &mut errs);
    for (k, v) in pairs {
        let key = k.text().unwrap_or("");
        let text = v.text().map(str::trim);
        let mut bad = |m: String| errs.push((k.line, m));
        match (key, text) {
            ("accepter", Some(t)) => acc = Some((t.to_string(), k.line)),
            ("connector", Some(t)) => con = Some((t.to_string(), k.line)),
            ("enable", Some(t)) => match boolean(Some(t)) {
                Some(b) => enable = b,
                None => bad(format!("bad enable {t:?} (on or off)")),
            },
            ("timeout", Some(t)) => match t.parse::<u64>() {
                Ok(s) => timeout = Some(s),
                Err(_) => bad(format!("bad timeout {t:?}")),
            },
            ("options", _) if v.is_null() => {}
            ("options", None) => options(&mut opts, v, &mut errs),
            _ => bad(format!("connection key {key:?} not supported")),
        }
    }
    let Some((acc_text, acc_line)) = acc else {
        errs.push((node.line, format!("connection {name}: no accepter")));
        return Err(errs);
    };
    let Some((con_text, con_line)) = con else {
        errs.push((node.line, format!("connection {name}: no connector")));
        return Err(errs);
    };
    let a = accepter(&acc_text, acc_line, d, etc, &mut errs);
    let s = connector(&con_text, con_line, d, &mut errs);
    let (Some(listen), Some(device)) = (a.listen, s.device.clone()) else {
        return Err(errs);
    };
    let default_acl = opts.remaddr.is_empty();
    let wildcard = listen.ip().is_unspecified();
    let mut p = port(
        name, node.line, listen, device, &a, &s, timeout, &opts, &mut errs,
    );
    if default_acl && wildcard {
        // loopback unless an allow list says otherwise (see `map::admit`)
        p.listen
            .set_ip(crate::share::conf::default_listen_ip(&p.acl));
    }
    let mdns = mdns(name, &opts, &a);
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(enable.then(|| Connection {
        name: name.to_string(),
        line: node.line,
        port: p,
        uucp_lock: s.uucp_lock,
        mdns,
        default_acl,
        wildcard,
    }))
}

/// The mDNS announcement of a connection, when `mdns: true`.
fn mdns(name: &str, opts: &Opts, a: &super::map::Accepter) -> Option<Mdns> {
    opts.mdns.then(|| Mdns {
        name: opts.mdns_name.clone().unwrap_or_else(|| name.to_string()),
        service_type: opts
            .mdns_type
            .clone()
            .unwrap_or_else(|| "_iostream._tcp".into()),
        txt: opts.mdns_txt.clone(),
        sysattrs: opts.sysattrs,
        stack: a.stack.join(","),
    })
}

/// The port of a connection whose accepter and connector were understood.
#[allow(clippy::too_many_arguments)]
fn port(
    name: &str,
    line: usize,
    listen: std::net::SocketAddr,
    device: std::path::PathBuf,
    a: &super::map::Accepter,
    s: &super::connector::Serial,
    timeout: Option<u64>,
    opts: &Opts,
    errs: &mut Errors,
) -> crate::share::conf::PortConfig {
    let mut p = crate::share::conf::PortConfig::new(listen, vec![device]);
    p.stty = s.stty.clone();
    p.mode = if a.telnet {
        crate::share::conf::PortMode::Rfc2217
    } else {
        crate::share::conf::PortMode::Raw
    };
    p.tls = a.tls.clone();
    p.write_only = s.write_only || opts.no_con_to_acc;
    p.idle_timeout = timeout.filter(|&t| t > 0).map(Duration::from_secs);
    p.max_clients = opts.max.unwrap_or(1);
    p.takeover = opts.kick;
    // A SYNC only exists on telnet: on a raw port the option changes nothing, as in ser2net.
    p.telnet_brk_on_sync = opts.brk_on_sync && a.telnet;
    p.acl = remaddr(&opts.remaddr).unwrap_or_else(|m| {
        errs.push((line, m));
        crate::share::acl::Acl::any()
    });
    if let Some(b) = &opts.banner {
        p.banner = banner(b, name, &s.params)
            .map_err(|m| errs.push((line, m)))
            .ok();
    }
    if let Some(t) = &opts.trace {
        p.log = trace_file(t, name, listen.port(), &p.devices[0], &s.params)
            .map_err(|m| errs.push((line, m)))
            .ok()
            .map(Into::into);
    }
    p
}

/// The `default:`s of the ser2net class (connection options) come first; the connection's
/// own options override them.
fn defaults_into(o: &mut Opts, d: &Defaults, errs: &mut Errors) {
    for name in OPTION_NAMES {
        if let Some((v, line)) = d.get("ser2net", name) {
            if let Err(m) = option(o, name, v) {
                errs.push((line, format!("default: {m}")));
            }
        }
    }
}

/// Every entry of `options:`.
fn options(o: &mut Opts, node: &Node, errs: &mut Errors) {
    let Some(pairs) = node.pairs() else {
        errs.push((node.line, "options: want a mapping".into()));
        return;
    };
    for (k, v) in pairs {
        let key = k.text().unwrap_or("");
        let val = if v.is_null() {
            ""
        } else {
            v.text().unwrap_or("")
        };
        if v.text().is_none() {
            errs.push((k.line, format!("option {key:?}: want a value")));
        } else if let Err(m) = option(o, key, val) {
            errs.push((k.line, m));
        }
    }
}

/// One option.
fn option(o: &mut Opts, key: &str, v: &str) -> Result<(), String> {
    let flag =
        || boolean(Some(v.trim())).ok_or_else(|| format!("{key}: bad value {v:?} (true or false)"));
    match key {
        "kickolduser" => o.kick = flag()?,
        "max-connections" => {
            o.max = Some(
                v.trim()
                    .parse()
                    .ok()
                    .filter(|n: &usize| (1..=64).contains(n))
                    .ok_or_else(|| format!("bad max-connections {v:?} (1..64)"))?,
            );
        }
        "banner" => o.banner = Some(v.to_string()),
        "remaddr" => o.remaddr.push(v.to_string()),
        "trace-read" => o.trace = Some(v.to_string()),
        "trace-write" | "trace-both" => {
            return Err(format!(
                "{key} not supported: the port log (trace-read) records device output only"
            ));
        }
        "no-con-to-acc" => o.no_con_to_acc = flag()?,
        "telnet-brk-on-sync" => o.brk_on_sync = flag()?,
        "mdns" => o.mdns = flag()?,
        "mdns-sysattrs" => o.sysattrs = flag()?,
        "mdns-name" => o.mdns_name = Some(v.to_string()),
        "mdns-type" => o.mdns_type = Some(v.to_string()),
        "mdns-txt" => o.mdns_txt.push(v.to_string()),
        k if ALWAYS_OK.contains(&k) => {}
        k if NOOP_WHEN.iter().any(|(n, _)| *n == k) => {
            if !NOOP_WHEN
                .iter()
                .any(|(n, ok)| *n == k && ok.eq_ignore_ascii_case(v.trim()))
            {
                return Err(format!("option {k}: {v:?} not supported by rgetty-share"));
            }
        }
        k => return Err(format!("option {k:?} not supported by rgetty-share")),
    }
    Ok(())
}

/// `remaddr: ADDR[;ADDR...]` (each `[ipv4,|ipv6,]HOST[,0]`, repeatable) as an allow list;
/// none means everybody, as in ser2net.
fn remaddr(values: &[String]) -> Result<crate::share::acl::Acl, String> {
    let mut entries = Vec::new();
    for v in values {
        for a in v.split(';').map(str::trim).filter(|a| !a.is_empty()) {
            if a.starts_with('!') {
                return Err(format!(
                    "remaddr {a:?}: connect-back addresses not supported"
                ));
            }
            let f: Vec<&str> = a.split(',').map(str::trim).collect();
            let f = match f.as_slice() {
                ["ipv4" | "ipv6", rest @ ..] => rest,
                all => all,
            };
            let host = match f {
                [h] | [h, "0"] => *h,
                _ => {
                    return Err(format!(
                        "remaddr {a:?}: want HOST or HOST,0 (any remote port)"
                    ));
                }
            };
            entries.push(
                if host == "localhost" {
                    "127.0.0.1"
                } else {
                    host
                }
                .to_string(),
            );
        }
    }
    if entries.is_empty() {
        // No remaddr: ser2net admits everyone; rgetty-share admits loopback until an allow
        // list says otherwise (`map::admit`).
        return Ok(crate::share::acl::Acl::loopback_only());
    }
    crate::share::acl::Acl::parse(&entries).map_err(|e| format!("remaddr: {e}"))
}

/// ser2net's string escapes in a banner, turned into rgetty-share's banner syntax (which
/// knows `\r \n \t \\ \d \p`): C escapes become the characters, `\o` the connection name,
/// `\B` the serial parameters. The time and peer escapes change per connection and are not
/// supported.
pub fn banner(s: &str, name: &str, params: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    let push = |out: &mut String, c: char| {
        if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    };
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = it.next() else {
            out.push_str("\\\\");
            break;
        };
        match e {
            'r' | 'n' | 't' | 'd' | 'p' | '\\' => {
                out.push('\\');
                out.push(e);
            }
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            '?' | '\'' | '"' => out.push(e),
            'o' => name.chars().for_each(|c| push(&mut out, c)),
            'B' => out.push_str(params),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match it.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            it.next();
                        }
                        None => break,
                    }
                }
                push(&mut out, char::from_u32(v).unwrap_or('?'));
            }
            'x' => {
                let hex: String = std::iter::from_fn(|| it.next_if(char::is_ascii_hexdigit))
                    .take(2)
                    .collect();
                let v = u32::from_str_radix(&hex, 16)
                    .map_err(|_| "banner: bad \\x escape".to_string())?;
                push(&mut out, char::from_u32(v).unwrap_or('?'));
            }
            other => {
                return Err(format!(
                    "banner escape \\{other} not supported by rgetty-share"
                ));
            }
        }
    }
    Ok(out)
}

/// A trace file name: `\p` the port, `\d` the device's base name, `\o` the connection name,
/// `\B` the serial parameters; the per-open time escapes are not supported (the port log is
/// one file, reopened on SIGHUP).
pub fn trace_file(
    t: &str,
    name: &str,
    port: u16,
    dev: &Path,
    params: &str,
) -> Result<String, String> {
    let base = dev
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = String::new();
    let mut it = t.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('p') => out.push_str(&port.to_string()),
            Some('d') => out.push_str(&base),
            Some('o') => out.push_str(name),
            Some('B') => out.push_str(params),
            Some('\\') => out.push('\\'),
            Some(o) => {
                return Err(format!(
                    "trace file escape \\{o} not supported by rgetty-share"
                ));
            }
            None => out.push('\\'),
        }
    }
    if out.is_empty() {
        return Err("trace-read needs a file".into());
    }
    Ok(out)
}
