//! Loading mgetty.config (and the command line) into [`Settings`], and `rgetty --check`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::config::login::Table;
use crate::config::mgetty::{RingPatternsPerms, Settings};
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
            eprintln_safe(&format!("rgetty: {e}"));
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
            eprintln_safe(&format!("rgetty: {e}"));
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

/// `rgetty --check`: parse every config file rgetty would read; exit 0 or 2.
pub(super) fn check(cli: &Cli) -> i32 {
    let mut errors = 0;
    let report = |msg: String| {
        eprintln_safe(&format!("rgetty: {msg}"));
    };
    let path = cli.config_dir.join("mgetty.config");
    let mut settings = Settings::defaults(cli.profile);
    match fs::read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let parsed = crate::config::mgetty::check_text(&text, &path);
            for e in &parsed.errors {
                report(e.to_string());
                errors += 1;
            }
            let device = cli.tty.as_deref().map(device_name).unwrap_or_default();
            let _ = crate::config::mgetty::apply_text(&text, &path, &device, &mut settings, &[]);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            report(format!(
                "warning: {} not found, using defaults",
                path.display()
            ));
        }
        Err(e) => {
            report(format!("{}: {e}", path.display()));
            errors += 1;
        }
    }
    for (k, v) in cli.overrides() {
        if let Err(e) = settings.set(k, &v) {
            report(format!("command line: {e}"));
            errors += 1;
        }
    }
    if let Err(e) = settings.sanitize() {
        report(e);
        errors += 1;
    }
    let login = resolve_login_config(&cli.config_dir, &settings);
    match fs::read(&login) {
        Ok(bytes) => {
            let (_, errs) = Table::parse(&String::from_utf8_lossy(&bytes), &login);
            for e in errs {
                report(e.to_string());
                errors += 1;
            }
            if let Some(p) = perms_problem(&login) {
                report(format!("warning: {p}; it would be ignored"));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            report(format!("{}: {e}", login.display()));
            errors += 1;
        }
    }
    if let Some(configured) = &settings.ring_patterns {
        let rp = if configured.is_absolute() {
            configured.clone()
        } else {
            cli.config_dir.join(configured)
        };
        match fs::read(&rp) {
            Ok(bytes) => {
                let (file, errs) = xringd::parse(&String::from_utf8_lossy(&bytes), &rp);
                for e in errs {
                    report(e.to_string());
                    errors += 1;
                }
                for p in crate::ring::unreachable_patterns(&file.patterns, settings.rings) {
                    report(format!(
                        "warning: {}: pattern needs {} rings but rings is {}: the call is answered first, so it can never fire (set rings to {} or more)",
                        p.loc,
                        p.rings(),
                        settings.rings,
                        p.rings() + 1
                    ));
                }
                if let Some(p) = perms_problem(&rp) {
                    report(match settings.ring_patterns_perms {
                        RingPatternsPerms::Refuse => format!(
                            "warning: {p}; rgetty would refuse it (ring-patterns-perms refuse)"
                        ),
                        RingPatternsPerms::Warn => {
                            format!("warning: {p}; used anyway (ring-patterns-perms warn)")
                        }
                    });
                }
            }
            Err(e) => {
                report(format!("{}: {e}", rp.display()));
                errors += 1;
            }
        }
    }
    if errors > 0 { 2 } else { 0 }
}

pub(super) fn resolve_login_config(config_dir: &Path, s: &Settings) -> PathBuf {
    let f = Path::new(&s.login_conf_file);
    if f.is_absolute() {
        f.to_path_buf()
    } else {
        config_dir.join(f)
    }
}
