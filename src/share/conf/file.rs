//! Reading `rgetty-share.conf`: the checked loader, then every line parsed with every problem
//! of every line reported (`file:line: message`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    Globals, LineSetting, PortConfig, PortMode, add_alert, default_listen_ip, lab_flag,
    params_to_stty, parse_listen, parse_metrics_addr, parse_replay, reset_line, tls_files,
    tokenize,
};
use crate::config::load::{self as loader, Trust};
use crate::config::{ConfigError, Location};
use crate::share::acl::Acl;

/// Read and parse a config file: through [`loader::load`] under [`Trust::Commands`] (it
/// names files root writes, like mgetty.config: owned by root or by us, not writable by group
/// or others, a regular file not behind a symlink, at most 1 MiB), then its ports and its
/// server-wide lines. Every problem is one line of the error, `file:line: message`.
pub fn load(path: &Path) -> Result<(Vec<PortConfig>, Globals), Vec<String>> {
    let src = loader::load(path, Trust::Commands).map_err(|e| vec![e.to_string()])?;
    match (parse(path, &src.text), globals(path, &src.text)) {
        (Ok(p), Ok(g)) => Ok((p, g)),
        (p, g) => {
            let mut errs: Vec<ConfigError> = p.err().unwrap_or_default();
            errs.extend(g.err().unwrap_or_default());
            errs.sort_by_key(|e| e.loc.line);
            Err(errs.iter().map(ToString::to_string).collect())
        }
    }
}

/// A `KEY=VALUE` line naming a server-wide setting.
fn global_line(line: &str) -> Option<(&str, &str)> {
    let (k, v) = line.split_once('=')?;
    (matches!(k, "metrics" | "metrics-allow" | "control" | "web")
        && !v.contains(char::is_whitespace))
    .then_some((k, v))
}

/// The server-wide settings of a config file (the port lines are left to [`parse`]).
pub fn globals(path: &Path, text: &str) -> Result<Globals, Vec<ConfigError>> {
    let mut g = Globals::default();
    let mut errors = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        if let Some(def) = reset_line(raw.trim()) {
            match crate::proto::reset_seq::parse_named(def) {
                Ok(seq) => g.reset_seqs.push(seq),
                Err(msg) => errors.push(ConfigError::new(path, n + 1, msg)),
            }
            continue;
        }
        let Some((k, v)) = global_line(raw.trim()) else {
            continue;
        };
        let r = if k == "control" {
            (v.starts_with('/'))
                .then(|| g.control = Some(PathBuf::from(v)))
                .ok_or_else(|| format!("control needs an absolute path, not {v:?}"))
        } else if k == "web" {
            parse_metrics_addr(v)
                .map(|a| g.web = Some(a))
                .ok_or_else(|| format!("bad web address {v:?}"))
        } else if k == "metrics" {
            parse_metrics_addr(v)
                .map(|a| g.metrics = Some(a))
                .ok_or_else(|| format!("bad metrics address {v:?}"))
        } else {
            Acl::parse_addresses(&[v])
                .map(|a| g.metrics_allow = Some(a))
                .map_err(|e| e.to_string())
        };
        if let Err(msg) = r {
            errors.push(ConfigError::new(path, n + 1, msg));
        }
    }
    if errors.is_empty() {
        Ok(g)
    } else {
        Err(errors)
    }
}

/// Parse a whole config file. Every problem of every line is reported.
pub fn parse(path: &Path, text: &str) -> Result<Vec<PortConfig>, Vec<ConfigError>> {
    let mut ports: Vec<PortConfig> = Vec::new();
    let mut errors = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let lineno = n + 1;
        let line = raw.trim();
        if line.is_empty()
            || line.starts_with('#')
            || global_line(line).is_some()
            || reset_line(line).is_some()
            || line.starts_with("alert ")
        {
            continue;
        }
        match parse_line(line) {
            Ok(mut p) => {
                if let Some(t) = p.tls.as_mut() {
                    t.origin = Some(Location {
                        path: path.to_path_buf(),
                        line: lineno,
                    });
                }
                if ports.iter().any(|q| q.listen == p.listen) {
                    errors.push(ConfigError::new(
                        path,
                        lineno,
                        format!("port {} listed twice", p.listen),
                    ));
                } else {
                    ports.push(p);
                }
            }
            Err(msgs) => {
                errors.extend(msgs.into_iter().map(|m| ConfigError::new(path, lineno, m)));
            }
        }
    }
    for (n, raw) in text.lines().enumerate() {
        if let Some(def) = raw.trim().strip_prefix("alert ") {
            if let Err(msg) = add_alert(&mut ports, def) {
                errors.push(ConfigError::new(path, n + 1, msg));
            }
        }
    }
    if errors.is_empty() {
        Ok(ports)
    } else {
        Err(errors)
    }
}

/// The value of `r`, or `None` with its error noted.
fn keep<T>(errs: &mut Vec<String>, r: Result<T, String>) -> Option<T> {
    r.map_err(|e| errs.push(e)).ok()
}

/// One port line; every problem in it.
fn parse_line(line: &str) -> Result<PortConfig, Vec<String>> {
    let words = tokenize(line).map_err(|e| vec![e])?;
    let [port, devs, params, hosts, opts @ ..] = &words[..] else {
        return Err(vec![format!(
            "want PORT DEVICE PARAMS HOSTLIST, got {} field(s)",
            words.len()
        )]);
    };
    let mut errs = Vec::new();
    let listen = keep(
        &mut errs,
        parse_listen(port).ok_or_else(|| format!("bad port {port:?}")),
    );
    let devices: Vec<PathBuf> = devs
        .split(',')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new("/dev").join(d))
        .collect();
    if devices.is_empty() {
        errs.push(format!("no device in {devs:?}"));
    }
    let stty = keep(&mut errs, params_to_stty(params));
    let acl = keep(
        &mut errs,
        Acl::parse(&[hosts.as_str()]).map_err(|e| e.to_string()),
    );
    let (ip, portno) = listen.unwrap_or((None, 0));
    let acl = acl.unwrap_or_default();
    let addr = SocketAddr::new(ip.unwrap_or_else(|| default_listen_ip(&acl)), portno);
    let mut p = PortConfig::new(addr, devices);
    p.stty = stty.unwrap_or_default();
    p.acl = acl;
    let mut tls = [None, None, None];
    for o in opts {
        let (k, v) = o.split_once('=').unwrap_or((o.as_str(), ""));
        if let Err(e) = option(&mut p, &mut tls, k, v, portno) {
            errs.push(e);
        }
    }
    let [cert, key, ca] = tls;
    p.tls = keep(&mut errs, tls_files(cert, key, ca)).flatten();
    if errs.is_empty() { Ok(p) } else { Err(errs) }
}

/// One `KEY=VALUE` option of a port line (`tls` collects cert, key and client CA).
fn option(
    p: &mut PortConfig,
    tls: &mut [Option<PathBuf>; 3],
    k: &str,
    v: &str,
    portno: u16,
) -> Result<(), String> {
    let file = || {
        (!v.is_empty())
            .then(|| PathBuf::from(v))
            .ok_or_else(|| format!("{k} needs a file"))
    };
    let flag = || {
        v.is_empty()
            .then_some(true)
            .ok_or_else(|| format!("{k} takes no value"))
    };
    match k {
        "watch" => {
            p.watch = Some(
                v.parse()
                    .ok()
                    .filter(|&w: &u16| w != portno || w == 0)
                    .ok_or_else(|| format!("bad watch port {v:?}"))?,
            );
        }
        "takeover" => p.takeover = flag()?,
        "replay" => p.replay = parse_replay(v)?,
        "log" => p.log = Some(file()?),
        "tls-cert" => tls[0] = Some(file()?),
        "tls-key" => tls[1] = Some(file()?),
        "tls-client-ca" => tls[2] = Some(file()?),
        "mode" => p.mode = PortMode::parse(v).ok_or_else(|| format!("bad mode {v:?}"))?,
        "max" => {
            p.max_clients = v
                .parse()
                .ok()
                .filter(|&n: &usize| (1..=64).contains(&n))
                .ok_or_else(|| format!("bad max {v:?} (1..64)"))?;
        }
        "timeout" => {
            let s: u64 = v.parse().map_err(|_| format!("bad timeout {v:?}"))?;
            p.idle_timeout = (s > 0).then(|| Duration::from_secs(s));
        }
        "drain" => {
            let s: u64 = v.parse().map_err(|_| format!("bad drain {v:?}"))?;
            p.drain_timeout = Duration::from_secs(s);
        }
        "banner" => p.banner = Some(v.to_string()),
        "write-only" => p.write_only = flag()?,
        _ if v.is_empty() && lab_flag(p, k) => {}
        "dtr" => p.dtr = LineSetting::parse(v).ok_or_else(|| format!("bad dtr {v:?}"))?,
        "rts" => p.rts = LineSetting::parse(v).ok_or_else(|| format!("bad rts {v:?}"))?,
        "rs485" => p.rs485 = Some(crate::proto::rs485::parse(v)?),
        "layers" => {
            for name in v.split(',').filter(|n| !n.is_empty()) {
                if !crate::share::stack::is_layer(name) {
                    return Err(format!("unknown layer {name:?}"));
                }
                p.layers.push(name.to_string());
            }
        }
        _ => return Err(format!("unknown keyword {k:?}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_of_a_line_is_reported() {
        let text = "99999 /dev/a 9600,8,Q,1 * mode=x bogus=1 takeover=yes\n";
        let errs = parse(Path::new("c.conf"), text).unwrap_err();
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "c.conf:1: bad port \"99999\"",
                "c.conf:1: unknown param \"Q\"",
                "c.conf:1: bad mode \"x\"",
                "c.conf:1: unknown keyword \"bogus\"",
                "c.conf:1: takeover takes no value",
            ]
        );
    }
}
