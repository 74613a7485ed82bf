//! Loading the `ring-patterns` file (xringd's format) for the ring room.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::config::mgetty::RingPatternsPerms;
use crate::config::xringd;

use super::common::Getty;

impl Getty {
    /// Read the `ring-patterns` file, once per process (relative names are relative to the
    /// config dir, like `login-conf-file`).
    ///
    /// The file is a secret: a cadence is a password that anyone who can phone the line can
    /// replay. When it is not owned by root or group or others have any access to it, it is
    /// refused (`ring-patterns-perms refuse`, the default: cadence matching stays off and calls
    /// are answered after `rings` as usual) or used with a warning (`warn`). Owner and mode are
    /// taken from the opened file, so what is checked is what is read. A refused or unreadable
    /// file is tried again (and logged again) at the next call.
    pub(super) fn load_patterns(&mut self) {
        let Some(configured) = self.settings.ring_patterns.clone() else {
            return;
        };
        if self.rings.patterns.is_some() {
            return;
        }
        let path = if configured.is_absolute() {
            configured
        } else {
            self.paths.config_dir.join(configured)
        };
        let Some(bytes) = self.read_patterns(&path) else {
            return;
        };
        let (file, errs) = xringd::parse(&String::from_utf8_lossy(&bytes), &path);
        for e in errs {
            log::error!("{e}");
        }
        for p in crate::ring::unreachable_patterns(&file.patterns, self.settings.rings) {
            log::warn!(
                "{}: pattern needs {} rings but rings is {}: the call is answered first, it can never fire",
                p.loc,
                p.rings(),
                self.settings.rings
            );
        }
        let o = &file.options;
        log_ringd_only_options(&path, o);
        log::info!(
            "ring patterns: {} pattern(s) from {}{}",
            file.patterns.len(),
            path.display(),
            if o.ring_command.is_some() {
                ", with a per-ring command"
            } else {
                ""
            }
        );
        self.rings.patterns = Some(file);
    }

    /// The file's bytes when it can be read and its owner and mode (of the opened file) pass
    /// `ring-patterns-perms`; `None` (logged) otherwise.
    fn read_patterns(&self, path: &Path) -> Option<Vec<u8>> {
        let read = fs::File::open(path).and_then(|mut f| {
            let meta = f.metadata()?;
            let mut bytes = Vec::new();
            io::Read::read_to_end(&mut f, &mut bytes)?;
            Ok((meta, bytes))
        });
        let (meta, bytes) = match read {
            Ok(r) => r,
            Err(e) => {
                log::error!(
                    "cannot read ring patterns {}: {e}; no cadence matching",
                    path.display()
                );
                return None;
            }
        };
        if meta.uid() != 0 || meta.mode() & 0o077 != 0 {
            let problem = format!(
                "{}: owner uid {}, mode {:04o}: it must be owned by root and not accessible by group or others",
                path.display(),
                meta.uid(),
                meta.mode() & 0o7777
            );
            match self.settings.ring_patterns_perms {
                RingPatternsPerms::Refuse => {
                    log::error!(
                        "ring patterns refused: {problem}; no cadence matching, calls are answered after {} rings",
                        self.settings.rings
                    );
                    return None;
                }
                RingPatternsPerms::Warn => log::warn!(
                    "WARNING: ring patterns used although {problem} (ring-patterns-perms warn): anyone who can read the file can replay its cadences"
                ),
            }
        }
        Some(bytes)
    }
}

/// Log the options of a pattern file that only rgetty-ringd uses.
fn log_ringd_only_options(path: &Path, o: &xringd::FileOptions) {
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
