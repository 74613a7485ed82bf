//! Loading mgetty.config (and the command line) into [`Settings`], and `rgetty --check`.
//!
//! A run and `--check` read every file through [`crate::config::load`] and build the settings
//! with one function, [`settings_from`] (defaults < mgetty.config < command line, then the
//! post-config fixes), so they cannot disagree.

use super::exit;
use std::fs;
use std::path::{Path, PathBuf};

use crate::config::load::{self as loader, LoadError, Source, Trust};
use crate::config::login::Table;
use crate::config::mgetty::{self, Merged, Profile, RingPatternsPerms, Settings};
use crate::config::xringd;

use super::cli::eprintln_safe;
use super::cli::{Cli, device_name};

/// The settings of `device`: [`mgetty::merge`] of the file's text (if any) and the command
/// line, then [`Settings::sanitize`], the `getty` name and `-x`'s modem check interval.
/// `Err` holds every problem that makes a run exit 2; the file's errors are in
/// `merged.file` either way.
pub(super) fn settings_from(
    cli: &Cli,
    device: &str,
    file: Option<&Source>,
    called_getty: bool,
) -> (Merged, Result<Vec<String>, Vec<String>>) {
    let path = cli.config_dir.join("mgetty.config");
    let text = file.map(|f| f.text.as_str());
    let mut merged = mgetty::merge(cli.profile, text, &path, device, &cli.overrides());
    let mut fatal = merged.cli_errors.clone();
    let notes = match merged.settings.sanitize() {
        Ok(notes) => notes,
        Err(e) => {
            fatal.push(e);
            Vec::new()
        }
    };
    let s = &mut merged.settings;
    if called_getty {
        s.blocking = true;
        s.direct = true;
    }
    if let Some(t) = cli.modem_check_interval {
        s.modem_check_time_s = t;
    }
    let outcome = if fatal.is_empty() {
        Ok(notes)
    } else {
        Err(fatal)
    };
    (merged, outcome)
}

/// Read mgetty.config: `Ok(None)` when there is none, `Err` when it is refused or unreadable.
fn read_mgetty_config(cli: &Cli) -> Result<Option<Source>, LoadError> {
    match loader::load(&cli.config_dir.join("mgetty.config"), Trust::Commands) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.is_missing() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Built-in defaults < mgetty.config < command line; config errors are logged with
/// file:line and the line is ignored, as mgetty does. A bad command-line value or an invalid
/// speed exits 2.
pub(super) fn load_settings(cli: &Cli, device: &str) -> Result<Settings, i32> {
    let file = match read_mgetty_config(cli) {
        Ok(Some(f)) => Some(f),
        Ok(None) => {
            let path = cli.config_dir.join("mgetty.config");
            log::warn!("no config file found: {}", path.display());
            None
        }
        Err(e) => {
            log::error!("cannot read {e}; using the defaults");
            None
        }
    };
    let (merged, outcome) = settings_from(cli, device, file.as_ref(), is_getty_name());
    for e in &merged.file.errors {
        log::error!("{e}");
    }
    for (loc, kw) in &merged.file.ignored {
        log::info!("{loc}: keyword {kw:?} accepted and ignored (fax/voice)");
    }
    match outcome {
        Ok(notes) => notes.iter().for_each(|n| log::debug!("{n}")),
        Err(fatal) => {
            for e in fatal {
                log::error!("{e}");
                eprintln_safe(&format!("rgetty: {device}: {e}"));
            }
            return Err(exit::USAGE);
        }
    }
    for (k, v) in merged.settings.describe() {
        log::debug!("key: '{k}', data={v:?}");
    }
    Ok(merged.settings)
}

/// mgetty forces `blocking` and `direct` when called as `getty`.
pub(super) fn is_getty_name() -> bool {
    std::env::args()
        .next()
        .is_some_and(|a| Path::new(&a).file_name().is_some_and(|n| n == "getty"))
}

/// `rgetty --check`'s view of the settings: exactly what a run on the same line would use,
/// and every problem found (the whole file, every section, and the command line).
pub(super) fn check_settings(cli: &Cli, file: Option<&Source>) -> (Settings, Vec<String>) {
    let device = cli.tty.as_deref().map(device_name).unwrap_or_default();
    let (merged, outcome) = settings_from(cli, &device, file, is_getty_name());
    let mut problems: Vec<String> = file
        .map(|f| mgetty::check_text(&f.text, &f.path).errors)
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect();
    // An invalid speed from the file is already reported with its file:line: once is enough.
    let reported = |e: &String| {
        e.strip_prefix("invalid port speed: ").is_some_and(|n| {
            let quoted = format!("invalid port speed \"{n}\"");
            problems.iter().any(|p| p.ends_with(&quoted))
        })
    };
    let fatal: Vec<String> = outcome.err().unwrap_or_default();
    let fatal: Vec<String> = fatal.into_iter().filter(|e| !reported(e)).collect();
    problems.extend(fatal);
    (merged.settings, problems)
}

/// `rgetty --check`: parse every config file rgetty would read and look up the users, groups
/// and programs they name. Each problem goes to stderr as `file:line: message`; exit 2 if
/// there was any, else `ok: N files: a, b` (the files read) on stdout and exit 0. A missing
/// config dir is an error.
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
        c.ring_patterns(&resolve(&cli.config_dir, configured), &settings);
    }
    c.screening(&cli.config_dir, &settings);
    c.finish()
}

/// What `--check` found so far.
#[derive(Debug, Default)]
pub(super) struct Checker {
    errors: usize,
    /// The files read, in order.
    files: Vec<PathBuf>,
}

impl Checker {
    pub(super) fn error(&mut self, msg: String) {
        self.errors += 1;
        eprintln_safe(&format!("rgetty: {msg}"));
    }

    pub(super) fn warn(&self, msg: String) {
        eprintln_safe(&format!("rgetty: warning: {msg}"));
    }

    fn finish(&self) -> i32 {
        if self.errors > 0 {
            exit::USAGE
        } else {
            let names: Vec<String> = self.files.iter().map(|f| f.display().to_string()).collect();
            println!("ok: {} files: {}", self.files.len(), names.join(", "));
            exit::OK
        }
    }

    /// Read a file through [`loader::load`] under `trust`: `None` when it is missing (no
    /// error) or refused or unreadable (one error line naming the file and the reason).
    pub(super) fn read(&mut self, path: &Path, trust: Trust) -> Option<Source> {
        match loader::load(path, trust) {
            Ok(source) => {
                self.files.push(path.to_path_buf());
                Some(source)
            }
            Err(e) if e.is_missing() => None,
            Err(e) => {
                self.error(e.to_string());
                None
            }
        }
    }

    /// mgetty.config and the command line: exactly the settings a run would use
    /// ([`check_settings`]), with every problem of the whole file.
    fn mgetty_config(&mut self, cli: &Cli) -> Settings {
        let path = cli.config_dir.join("mgetty.config");
        let file = self.read(&path, Trust::Commands);
        if file.is_none() && !path.exists() {
            self.warn(format!("{} not found, using defaults", path.display()));
        }
        let (settings, problems) = check_settings(cli, file.as_ref());
        problems.into_iter().for_each(|p| self.error(p));
        if let Some(f) = &file {
            for w in crate::config::suspect::warnings(&f.text, &f.path) {
                self.warn(w);
            }
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
        let Some(source) = self.read(login, Trust::Commands) else {
            return;
        };
        let (table, errs) = Table::parse(&source.text, login);
        let names = table.check_names(
            |u| crate::sys::exec::lookup_user(u).is_ok(),
            program_problem,
        );
        // In line order: a parse error and an unknown user of line 3 come before line 7's.
        let mut all: Vec<_> = errs.into_iter().chain(names).collect();
        all.sort_by_key(|e| e.loc.line);
        for e in all {
            self.error(e.to_string());
        }
        if let Some(p) = login_config_access(&source) {
            self.error(format!("{p}; it would be ignored"));
        }
    }

    fn ring_patterns(&mut self, rp: &Path, settings: &Settings) {
        if fs::symlink_metadata(rp).is_err() {
            self.error(format!("{}: not found (ring-patterns)", rp.display()));
            return;
        }
        let Some(source) = self.read(rp, Trust::Commands) else {
            return;
        };
        let (file, errs) = xringd::parse(&source.text, rp);
        for e in errs {
            self.error(e.to_string());
        }
        for p in crate::proto::ring::unreachable_patterns(&file.patterns, settings.rings) {
            self.warn(format!(
                "{}: pattern needs {} rings but rings is {}: the call is answered first, so it can never fire (set rings to {} or more)",
                p.loc,
                p.rings(),
                settings.rings,
                p.rings() + 1
            ));
        }
        if let Some(p) = patterns_access(&source) {
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

/// Read login.config (its lines run programs as root): `Ok(None)` when there is none, `Err`
/// when the loader refuses it (not root's, writable by others, not a regular file, over
/// 1 MiB, a symlink) or it cannot be read.
pub(super) fn read_login_config(path: &Path) -> Result<Option<Source>, LoadError> {
    match loader::load(path, Trust::Commands) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.is_missing() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Why a login.config the loader accepted is still not trusted: group or others have any
/// access to it (rgetty then uses `/bin/login`).
pub(super) fn login_config_access(source: &Source) -> Option<String> {
    source.others_have_access().map(|_| {
        format!(
            "{}: wrong permissions (owner uid {}, mode {:04o}): must be owned by root and not accessible by group or others",
            source.path.display(),
            source.uid,
            source.mode & 0o7777
        )
    })
}

/// Whether group or others have any access to a ring-patterns file (a cadence is a password):
/// refused or warned about, as `ring-patterns-perms` says.
pub(super) fn patterns_access(source: &Source) -> Option<String> {
    source.others_have_access().map(|_| {
        format!(
            "{}: owner uid {}, mode {:04o}: it must be owned by root and not accessible by group or others",
            source.path.display(),
            source.uid,
            source.mode & 0o7777
        )
    })
}

/// A configured file name: relative names are relative to the config dir.
pub(super) fn resolve(config_dir: &Path, configured: &Path) -> PathBuf {
    if configured.is_absolute() {
        configured.to_path_buf()
    } else {
        config_dir.join(configured)
    }
}

/// login.config's path: `login-conf-file`, relative to the config dir unless absolute.
pub(super) fn resolve_login_config(config_dir: &Path, s: &Settings) -> PathBuf {
    resolve(config_dir, Path::new(&s.login_conf_file))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::Parser;
    use proptest::prelude::*;

    fn source(text: &str) -> Source {
        Source {
            path: PathBuf::from("/etc/rgetty/mgetty.config"),
            text: text.to_string(),
            bytes: text.as_bytes().to_vec(),
            uid: 0,
            mode: libc::S_IFREG | 0o644,
        }
    }

    /// mgetty.config lines: good and bad values of keywords the command line also sets, and
    /// port sections that do or do not match `ttyS1`.
    fn line() -> impl Strategy<Value = String> {
        let kw = prop::sample::select(vec![
            "speed",
            "rings",
            "debug",
            "login-prompt",
            "issue-file",
            "modem-type",
            "init-chat",
            "ringback",
            "ringback-time",
            "direct",
            "blocking",
            "data-only",
            "autobauding",
            "modem-check-time",
            "speeed",
        ]);
        let value = prop::sample::select(vec![
            "",
            "0",
            "1",
            "3",
            "9600",
            "38400",
            "12345",
            "y",
            "n",
            "x",
            "-4",
            "\"AT\" OK",
        ]);
        prop_oneof![
            4 => (kw, value).prop_map(|(k, v)| format!("{k} {v}")),
            1 => prop::sample::select(vec!["port ttyS1", "port ttyS?", "port pts/1", "port"])
                .prop_map(String::from),
        ]
    }

    /// Command-line flags, with good and bad values.
    fn flags() -> impl Strategy<Value = Vec<String>> {
        let flag = prop_oneof![
            prop::sample::select(vec!["-s", "-R", "-n", "-x", "-p", "-m", "-C", "-i"])
                .prop_flat_map(|f| {
                    prop::sample::select(vec!["0", "2", "9600", "57600", "zz", "31"])
                        .prop_map(move |v| vec![f.to_string(), v.to_string()])
                }),
            prop::sample::select(vec!["-r", "-D", "-b", "-a", "-F"])
                .prop_map(|f| vec![f.to_string()]),
        ];
        prop::collection::vec(flag, 0..5).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn run_and_check_produce_identical_settings(
            lines in prop::collection::vec(line(), 0..12),
            args in flags(),
        ) {
            let mut argv = vec!["rgetty".to_string()];
            argv.extend(args);
            argv.push("ttyS1".into());
            let Ok(cli) = Cli::try_parse_from(&argv) else { return Ok(()) };
            let file = source(&(lines.join("\n") + "\n"));
            let (run, outcome) = settings_from(&cli, "ttyS1", Some(&file), false);
            let (checked, errors) = check_settings(&cli, Some(&file));
            prop_assert_eq!(&run.settings, &checked);
            if outcome.is_err() {
                prop_assert!(!errors.is_empty(), "a run would exit 2; --check must say why");
            }
            // The command line wins over the file.
            let mut alone = Settings::defaults(cli.profile);
            for (k, v) in cli.overrides() {
                if alone.set(k, &v).is_ok() {
                    let mine = alone.describe().into_iter().find(|(kk, _)| kk == k);
                    let theirs = checked.describe().into_iter().find(|(kk, _)| kk == k);
                    if !matches!(k, "rings" | "ringback-time" | "speed") {
                        prop_assert_eq!(mine, theirs, "{}", k);
                    }
                }
            }
        }
    }

    #[test]
    fn the_command_line_wins_and_port_sections_apply() {
        let cli = Cli::try_parse_from([
            "rgetty",
            "-s",
            "9600",
            "--modem-check-interval",
            "1",
            "ttyS1",
        ])
        .unwrap();
        let file = source("speed 38400\nrings 2\nport ttyS1\nrings 4\nport ttyS2\nrings 6\n");
        let (m, outcome) = settings_from(&cli, "ttyS1", Some(&file), false);
        assert!(outcome.is_ok());
        assert_eq!((m.settings.speed, m.settings.rings), (9600, 4));
        assert_eq!(m.settings.modem_check_time_s, 1);
        let (checked, errors) = check_settings(&cli, Some(&file));
        assert_eq!(checked, m.settings);
        assert!(errors.is_empty(), "{errors:?}");
    }

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
