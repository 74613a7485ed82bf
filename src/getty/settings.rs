//! Loading mgetty.config (and the command line) into [`Settings`], and `rgetty --check`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::config::login::Table;
use crate::config::mgetty::{Profile, RingPatternsPerms, Settings};
use crate::config::xringd;

use super::cli::eprintln_safe;
use super::cli::{Cli, device_name};
use super::perms::perms_problem;

/// Built-in defaults < mgetty.config < command line; config errors are logged with
/// file:line and the line is ignored, as mgetty does. An invalid speed exits 2.
pub(super) fn load_settings(cli: &Cli, device: &str) -> Result<Settings, i32> {
    let mut s = Settings::defaults(cli.profile);
    let mut overridden = Vec::new();
    for (k, v) in cli.overrides() {
        if let Err(e) = s.set(k, &v) {
            log::error!("command line: {e}");
            eprintln_safe(&format!("rgetty: {device}: {e}"));
            return Err(2);
        }
        overridden.push(k);
    }
    let path = cli.config_dir.join("mgetty.config");
    match fs::read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let parsed =
                crate::config::mgetty::apply_text(&text, &path, device, &mut s, &overridden);
            for e in &parsed.errors {
                log::error!("{e}");
            }
            for (loc, kw) in &parsed.ignored {
                log::info!("{loc}: keyword {kw:?} accepted and ignored (fax/voice)");
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            log::warn!("no config file found: {}", path.display());
        }
        Err(e) => log::error!("cannot read {}: {e}", path.display()),
    }
    match s.sanitize() {
        Ok(notes) => {
            for n in notes {
                log::debug!("{n}");
            }
        }
        Err(e) => {
            log::error!("{e}");
            eprintln_safe(&format!("rgetty: {device}: {e}"));
            return Err(2);
        }
    }
    if is_getty_name() {
        s.blocking = true;
        s.direct = true;
    }
    if let Some(t) = cli.modem_check_interval {
        s.modem_check_time_s = t;
    }
    for (k, v) in s.describe() {
        log::debug!("key: '{k}', data={v:?}");
    }
    Ok(s)
}

/// mgetty forces `blocking` and `direct` when called as `getty`.
pub(super) fn is_getty_name() -> bool {
    std::env::args()
        .next()
        .is_some_and(|a| Path::new(&a).file_name().is_some_and(|n| n == "getty"))
}

/// `rgetty --check`: parse every config file rgetty would read and look up the users, groups
/// and programs they name. Each problem goes to stderr as `file:line: message`; exit 2 if
/// there was any, else `ok: N files` on stdout and exit 0. A missing config dir is an error.
pub(super) fn check(cli: &Cli) -> i32 {
    let mut c = Checker::default();
    if !cli.config_dir.is_dir() {
        c.error(format!(
            "{}: no such directory (--config-dir)",
            cli.config_dir.display()
        ));
        return c.finish();
    }
    let settings = c.mgetty_config(cli);
    c.debian_hint(cli);
    c.login_config(&resolve_login_config(&cli.config_dir, &settings));
    if let Some(configured) = &settings.ring_patterns {
        let rp = if configured.is_absolute() {
            configured.clone()
        } else {
            cli.config_dir.join(configured)
        };
        c.ring_patterns(&rp, &settings);
    }
    c.finish()
}

/// What `--check` found so far.
#[derive(Debug, Default)]
struct Checker {
    errors: usize,
    files: usize,
}

impl Checker {
    fn error(&mut self, msg: String) {
        self.errors += 1;
        eprintln_safe(&format!("rgetty: {msg}"));
    }

    fn warn(&self, msg: String) {
        eprintln_safe(&format!("rgetty: warning: {msg}"));
    }

    fn finish(&self) -> i32 {
        if self.errors > 0 {
            2
        } else {
            println!("ok: {} files", self.files);
            0
        }
    }

    /// Read a file that may be missing (`None`, no error); other read errors count.
    fn read(&mut self, path: &Path) -> Option<String> {
        match fs::read(path) {
            Ok(bytes) => {
                self.files += 1;
                Some(String::from_utf8_lossy(&bytes).into_owned())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                self.error(format!("{}: {e}", path.display()));
                None
            }
        }
    }

    fn mgetty_config(&mut self, cli: &Cli) -> Settings {
        let path = cli.config_dir.join("mgetty.config");
        let mut settings = Settings::defaults(cli.profile);
        match self.read(&path) {
            Some(text) => {
                for e in &crate::config::mgetty::check_text(&text, &path).errors {
                    self.error(e.to_string());
                }
                let device = cli.tty.as_deref().map(device_name).unwrap_or_default();
                let _ =
                    crate::config::mgetty::apply_text(&text, &path, &device, &mut settings, &[]);
            }
            None if !path.exists() => {
                self.warn(format!("{} not found, using defaults", path.display()));
            }
            None => {}
        }
        for (k, v) in cli.overrides() {
            if let Err(e) = settings.set(k, &v) {
                self.error(format!("command line: {e}"));
            }
        }
        if let Err(e) = settings.sanitize() {
            self.error(e);
        }
        settings
    }

    /// Debian's mgetty files without Debian's defaults: say so (it is not implied).
    fn debian_hint(&self, cli: &Cli) {
        let debian = Path::new("/etc/debian_version").exists();
        if needs_debian_profile(&cli.config_dir, cli.profile, debian) {
            self.warn(
                "--config-dir /etc/mgetty on Debian without --profile debian: the line \
                 would be uucp:modem while waiting and Debian's lock names would not be used"
                    .into(),
            );
        }
    }

    fn login_config(&mut self, login: &Path) {
        let Some(text) = self.read(login) else {
            return;
        };
        let (table, errs) = Table::parse(&text, login);
        let names = table.check_names(|u| crate::exec::lookup_user(u).is_ok(), program_problem);
        for e in errs.into_iter().chain(names) {
            self.error(e.to_string());
        }
        if let Some(p) = perms_problem(login) {
            self.warn(format!("{p}; it would be ignored"));
        }
    }

    fn ring_patterns(&mut self, rp: &Path, settings: &Settings) {
        if !rp.exists() {
            self.error(format!("{}: not found (ring-patterns)", rp.display()));
            return;
        }
        let Some(text) = self.read(rp) else {
            return;
        };
        let (file, errs) = xringd::parse(&text, rp);
        for e in errs {
            self.error(e.to_string());
        }
        for p in crate::ring::unreachable_patterns(&file.patterns, settings.rings) {
            self.warn(format!(
                "{}: pattern needs {} rings but rings is {}: the call is answered first, so it can never fire (set rings to {} or more)",
                p.loc,
                p.rings(),
                settings.rings,
                p.rings() + 1
            ));
        }
        if let Some(p) = perms_problem(rp) {
            self.warn(match settings.ring_patterns_perms {
                RingPatternsPerms::Refuse => {
                    format!("{p}; rgetty would refuse it (ring-patterns-perms refuse)")
                }
                RingPatternsPerms::Warn => format!("{p}; used anyway (ring-patterns-perms warn)"),
            });
        }
    }
}

/// Debian's mgetty files (`/etc/mgetty` on a Debian system) read without `--profile debian`.
fn needs_debian_profile(config_dir: &Path, profile: Profile, debian: bool) -> bool {
    debian
        && profile == Profile::Upstream
        && config_dir
            .components()
            .eq(Path::new("/etc/mgetty").components())
}

/// Why login.config's `program` could not be executed, if it could not.
fn program_problem(program: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    match fs::metadata(program) {
        Err(e) => Some(e.to_string()),
        Ok(m) if !m.is_file() => Some("not a regular file".into()),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Some("not executable".into()),
        Ok(_) => None,
    }
}

/// login.config's path: `login-conf-file`, relative to the config dir unless absolute.
pub(super) fn resolve_login_config(config_dir: &Path, s: &Settings) -> PathBuf {
    let f = Path::new(&s.login_conf_file);
    if f.is_absolute() {
        f.to_path_buf()
    } else {
        config_dir.join(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_profile_hint_only_for_etc_mgetty_on_debian_without_it() {
        let etc = Path::new("/etc/mgetty/");
        assert!(needs_debian_profile(etc, Profile::Upstream, true));
        assert!(!needs_debian_profile(etc, Profile::Debian, true));
        assert!(!needs_debian_profile(etc, Profile::Upstream, false));
        assert!(!needs_debian_profile(
            Path::new("/etc/rgetty"),
            Profile::Upstream,
            true
        ));
    }

    #[test]
    fn program_problems() {
        assert_eq!(program_problem(Path::new("/bin/sh")), None);
        assert!(program_problem(Path::new("/no/such/prog")).is_some());
        assert_eq!(
            program_problem(Path::new("/etc/passwd")).as_deref(),
            Some("not executable")
        );
        assert_eq!(
            program_problem(Path::new("/")).as_deref(),
            Some("not a regular file")
        );
    }
}
