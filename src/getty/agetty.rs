//! agetty and systemd practice for direct and console lines (docs/behaviour.md §5.6): issue.d
//! and agetty's escapes, systemd credentials, the session's terminal size, and a missing
//! login program.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::load::{Trust, load};
use crate::ops::calllog::Outcome;
use crate::proto::agetty::{self, Dialect, Extra};
use crate::proto::issue::Facts;
use crate::proto::logname;
use crate::sys::tty;

use super::common::Getty;
use super::exit;
use super::line::sleep;
use super::state::State;

/// Longest wait for the terminal's answer to the size probe.
const PROBE_TIMEOUT: Duration = Duration::from_millis(100);

/// util-linux agetty's words when the login program is missing (util-linux #4117).
pub(super) const NOLOGIN_MESSAGE: &str = "This system does not permit logins.";

/// The systemd credentials rgetty imports (`ImportCredential=agetty.*` and `rgetty.*`),
/// read from `$CREDENTIALS_DIRECTORY`; `rgetty.<name>` wins over `agetty.<name>`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Credentials {
    /// `autologin`: log this user in without a prompt (direct lines only).
    pub autologin: Option<String>,
    /// `noissue`: no issue file.
    pub noissue: bool,
    /// `nohostname`: the node name shows as empty (`@`, `\n`).
    pub nohostname: bool,
}

impl Credentials {
    /// The credentials in `dir` (`None`: no `$CREDENTIALS_DIRECTORY`, nothing imported).
    pub(super) fn load(dir: Option<&Path>) -> Credentials {
        let Some(dir) = dir else {
            return Credentials::default();
        };
        let get = |name: &str| {
            ["rgetty", "agetty"]
                .iter()
                .find_map(|p| fs::read_to_string(dir.join(format!("{p}.{name}"))).ok())
                .map(|v| v.trim().to_string())
        };
        let flag = |name: &str| {
            get(name).is_some_and(|v| !matches!(v.as_str(), "0" | "no" | "false" | "off" | "n"))
        };
        let autologin = get("autologin").filter(|u| {
            let ok = !u.is_empty() && logname::is_safe_name(u);
            if !ok {
                log::error!("credential autologin {u:?} is not a safe user name: ignored");
            }
            ok
        });
        Credentials {
            autologin,
            noissue: flag("noissue"),
            nohostname: flag("nohostname"),
        }
    }

    /// From this process's `$CREDENTIALS_DIRECTORY`.
    pub(super) fn from_env() -> Credentials {
        Credentials::load(
            std::env::var_os("CREDENTIALS_DIRECTORY")
                .map(PathBuf::from)
                .as_deref(),
        )
    }
}

/// The `*.issue` files of an issue.d directory, in lexical order (agetty's).
fn issue_d_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "issue"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// `(interface, address)` pairs.
type Addrs = Vec<(String, String)>;

/// `(interface, address)` of this host's IPv4 and IPv6 addresses, loopback and link-local
/// left out.
fn addresses() -> (Addrs, Addrs) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return (v4, v6);
    };
    for a in addrs {
        let Some(sa) = a.address else { continue };
        if let Some(s) = sa.as_sockaddr_in() {
            let ip = s.ip();
            if !ip.is_loopback() {
                v4.push((a.interface_name.clone(), ip.to_string()));
            }
        } else if let Some(s) = sa.as_sockaddr_in6() {
            let ip = s.ip();
            let link_local = (ip.segments()[0] & 0xffc0) == 0xfe80;
            if !ip.is_loopback() && !link_local {
                v6.push((a.interface_name.clone(), ip.to_string()));
            }
        }
    }
    (v4, v6)
}

impl Getty {
    /// Whose escapes the issue file uses (`issue-escapes`).
    pub(super) fn issue_dialect(&self) -> Dialect {
        Dialect::from_setting(&self.settings.issue_escapes, self.settings.direct)
            .unwrap_or(Dialect::Mgetty)
    }

    /// What agetty's escapes need beyond [`Facts`]: addresses and os-release
    /// (`--os-release`, else `/usr/lib/os-release` when the default is missing).
    pub(super) fn agetty_extra(&self) -> Extra {
        let (ipv4, ipv6) = addresses();
        let text = fs::read_to_string(&self.cli.os_release)
            .or_else(|_| fs::read_to_string("/usr/lib/os-release"))
            .unwrap_or_default();
        Extra {
            ipv4,
            ipv6,
            os_release: agetty::parse_os_release(&text),
        }
    }

    /// An issue file in the line's dialect, then `<file>.d/*.issue` in lexical order (in
    /// agetty's dialect: they are agetty's files).
    pub(super) fn render_issue_file(&self, path: &Path, facts: &Facts) -> Vec<u8> {
        let dialect = self.issue_dialect();
        let extra =
            (dialect == Dialect::Agetty || path_has_issue_d(path)).then(|| self.agetty_extra());
        let mut out = match load(path, Trust::Settings) {
            Ok(src) => match (&extra, dialect) {
                (Some(x), Dialect::Agetty) => agetty::render_file(&src.bytes, facts, x),
                _ => crate::proto::issue::render_file_lines(&src.bytes, facts),
            },
            Err(e) => {
                if !e.is_missing() {
                    log::error!("issue-file {e}");
                }
                Vec::new()
            }
        };
        let Some(x) = extra else { return out };
        for f in issue_d_files(&issue_d(path)) {
            match load(&f, Trust::Settings) {
                Ok(src) => out.extend(agetty::render_file(&src.bytes, facts, &x)),
                Err(e) => log::error!("issue.d {e}"),
            }
        }
        out
    }

    /// Give the session its terminal size before the issue (`term-size`, else `LINES` and
    /// `COLUMNS` from the unit's environment); `term-size probe` asks the terminal, on
    /// direct lines only, and waits at most 100 ms for the answer.
    pub(super) fn apply_term_size(&self) {
        let Ok(line) = self.line() else { return };
        let size = match self.settings.term_size.as_str() {
            "probe" if self.settings.direct => self.probe_size(),
            "probe" => None,
            "" => {
                let env = |k| {
                    std::env::var(k)
                        .ok()
                        .and_then(|v| v.trim().parse::<u16>().ok())
                };
                env("LINES")
                    .zip(env("COLUMNS"))
                    .filter(|&(r, c)| r > 0 && c > 0)
            }
            s => agetty::parse_size(s),
        };
        let Some((rows, cols)) = size else { return };
        match tty::set_winsize(line, rows, cols) {
            Ok(()) => log::info!("terminal size {rows}x{cols}"),
            Err(e) => log::warn!("{e}"),
        }
    }

    /// Ask the terminal how big it is: save the cursor, move to 999;999, request its
    /// position, restore. `None` when it does not answer within [`PROBE_TIMEOUT`].
    fn probe_size(&self) -> Option<(u16, u16)> {
        let line = self.line().ok()?;
        line.write_all(b"\x1b7\x1b[r\x1b[999;999H\x1b[6n\x1b8")
            .ok()?;
        let end = Instant::now() + PROBE_TIMEOUT;
        let mut got = Vec::new();
        let mut buf = [0u8; 32];
        while Instant::now() < end && got.len() < 64 {
            match line.read_until(&self.sig, &mut buf, Some(end)) {
                Ok(Some(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ => break,
            }
            if let Some(size) = agetty::parse_cursor_report(&got) {
                return Some(size);
            }
        }
        log::info!("terminal size probe: no answer within 100 ms");
        None
    }

    /// A login program that does not exist: util-linux's message on the line, an error in
    /// the log, then a back-off sleep (`--backoff-max`) before exiting, instead of a respawn
    /// loop. `None` when the program exists.
    pub(super) fn missing_login(&mut self, program: &Path) -> Option<State> {
        if fs::metadata(program).is_ok() {
            return None;
        }
        log::error!(
            "login program {} does not exist: {NOLOGIN_MESSAGE}",
            program.display()
        );
        if let Ok(line) = self.line() {
            let _ = line.write_all(format!("\r\n{NOLOGIN_MESSAGE}\r\n").as_bytes());
            let _ = tty::drain(line);
        }
        self.outcome(
            Outcome::Refused,
            format!("no login program {}", program.display()),
        );
        let wait = self.cli.backoff_max.max(0.0);
        log::warn!("sleeping {wait:.0}s before exiting (no login program)");
        sleep(&self.sig, Duration::from_secs_f64(wait));
        Some(State::Exit(exit::NO_LOGIN_PROGRAM))
    }
}

/// `<issue-file>.d`, agetty's issue directory next to the issue file.
fn issue_d(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".d");
    PathBuf::from(s)
}

/// True when `<path>.d` is a directory.
fn path_has_issue_d(path: &Path) -> bool {
    issue_d(path).is_dir()
}

/// `argv` for an automatic login: login(1) gets `-f` before the name, as agetty's
/// `--autologin` passes it; other programs get the name as if it was typed.
pub(super) fn autologin_argv(program: &Path, mut argv: Vec<String>, name: &str) -> Vec<String> {
    if program.file_name().is_some_and(|f| f == "login") {
        if let Some(i) = argv.iter().skip(1).position(|a| a == name).map(|i| i + 1) {
            // `login -- alice` becomes `login -f -- alice`, not `login -- -f alice`.
            let at = if argv[i - 1] == "--" { i - 1 } else { i };
            argv.insert(at.max(1), "-f".into());
        }
    }
    argv
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn credentials_rgetty_wins_and_unsafe_names_are_dropped() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("agetty.autologin"), "alice\n").unwrap();
        fs::write(d.path().join("agetty.noissue"), "").unwrap();
        fs::write(d.path().join("agetty.nohostname"), "no").unwrap();
        let c = Credentials::load(Some(d.path()));
        assert_eq!(c.autologin.as_deref(), Some("alice"));
        assert!(c.noissue && !c.nohostname);
        fs::write(d.path().join("rgetty.autologin"), "-froot").unwrap();
        assert_eq!(Credentials::load(Some(d.path())).autologin, None);
        assert_eq!(Credentials::load(None), Credentials::default());
    }

    #[test]
    fn issue_d_in_lexical_order() {
        let d = tempfile::tempdir().unwrap();
        for n in ["b.issue", "a.issue", "c.txt", "10.issue"] {
            fs::write(d.path().join(n), "").unwrap();
        }
        let names: Vec<_> = issue_d_files(d.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["10.issue", "a.issue", "b.issue"]);
        assert_eq!(issue_d(Path::new("/etc/issue")), Path::new("/etc/issue.d"));
    }

    #[test]
    fn autologin_adds_f_for_login_only() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            autologin_argv(
                Path::new("/bin/login"),
                v(&["login", "--", "alice"]),
                "alice"
            ),
            v(&["login", "-f", "--", "alice"])
        );
        assert_eq!(
            autologin_argv(Path::new("/bin/login"), v(&["login", "alice"]), "alice"),
            v(&["login", "-f", "alice"])
        );
        assert_eq!(
            autologin_argv(Path::new("/bin/rec"), v(&["rec", "alice"]), "alice"),
            v(&["rec", "alice"])
        );
    }
}
