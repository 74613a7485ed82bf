//! Loading the `ring-patterns` file (xringd's format) for the ring room.

use std::path::Path;

use crate::config::load::{self as loader, Trust};
use crate::config::mgetty::RingPatternsPerms;
use crate::config::xringd;

use super::common::Getty;
use super::settings::{patterns_access, resolve};

impl Getty {
    // ---------------------------------------------------------------- rings (§4.4)

    /// Read the `ring-patterns` file, once per process (relative names are relative to the
    /// config dir, like `login-conf-file`), through [`crate::config::load`].
    ///
    /// Its lines run commands as root, so the loader refuses it unless root owns it and
    /// neither group nor others can write it, and refuses a FIFO, a device, a directory, a
    /// symlink or a file over 1 MiB before reading a byte. It is also a secret: a cadence is a
    /// password that anyone who can phone the line can replay. When group or others have any
    /// access to it, it is refused (`ring-patterns-perms refuse`, the default) or used with a
    /// warning (`warn`). A refused file leaves cadence matching off (calls are answered after
    /// `rings` as usual), in one log line; it is tried again at the next call.
    pub(super) fn load_patterns(&mut self) {
        let Some(configured) = self.settings.ring_patterns.clone() else {
            return;
        };
        if self.rings.patterns.is_some() {
            return;
        }
        let path = resolve(&self.paths.config_dir, &configured);
        let rings = self.settings.rings;
        let refused = |why: &dyn std::fmt::Display| {
            log::error!(
                "ring patterns refused: {why}; no cadence matching, calls are answered after {rings} rings"
            );
        };
        let source = match loader::load(&path, Trust::Commands) {
            Ok(s) => s,
            Err(e) => return refused(&e),
        };
        if let Some(problem) = patterns_access(&source) {
            match self.settings.ring_patterns_perms {
                RingPatternsPerms::Refuse => return refused(&problem),
                RingPatternsPerms::Warn => log::warn!(
                    "WARNING: ring patterns used although {problem} (ring-patterns-perms warn): anyone who can read the file can replay its cadences"
                ),
            }
        }
        let (file, errs) = xringd::parse(&source.text, &path);
        for e in errs {
            log::error!("{e}");
        }
        for p in crate::proto::ring::unreachable_patterns(&file.patterns, rings) {
            log::warn!(
                "{}: pattern needs {} rings but rings is {rings}: the call is answered first, it can never fire",
                p.loc,
                p.rings(),
            );
        }
        log_ringd_only(&path, &file.options);
        log::info!(
            "ring patterns: {} pattern(s) from {}{}",
            file.patterns.len(),
            path.display(),
            if file.options.ring_command.is_some() {
                ", with a per-ring command"
            } else {
                ""
            }
        );
        self.rings.patterns = Some(file);
    }
}

/// Log the options of a pattern file that only rgetty-ringd uses.
fn log_ringd_only(path: &Path, o: &xringd::FileOptions) {
    let ignored: Vec<&str> = [
        ("-t", o.init.is_some()),
        ("-i", o.merge.is_some()),
        ("-l", o.log_level.is_some()),
        ("-m", o.device.is_some()),
        ("-d", o.debug),
        ("-e", o.no_echo),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if !ignored.is_empty() {
        log::info!(
            "{}: {} only apply to rgetty-ringd; rgetty ignores them",
            path.display(),
            ignored.join(" ")
        );
    }
}
