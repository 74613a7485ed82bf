//! Screening while the phone rings (§4.6): dialin.config and the block list decide from the
//! moment the caller ID is known. A `block` entry picks the call up and hangs up at once; a
//! refusal shows as `refusing` in the state file from then on, while the call rings out as in
//! mgetty. A screening file that exists but cannot be read or parsed refuses every call
//! (fail closed).

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::blocklist::{BlockList, Screen, Verdict, decide};
use crate::config::dialin;
use crate::config::load::{self, Trust};
use crate::config::mgetty::Settings;
use crate::ops::calllog::Outcome;
use crate::sys::logging::AUDIT;
use crate::sys::ringsource::{CallRings, Heard};

use super::common::Getty;
use super::line::sleep;
use super::settings::{Checker, resolve};
use super::state::{Call, State};

/// How long a blocked call is held off-hook before hanging up.
pub(super) const BLOCK_HOLD: Duration = Duration::from_millis(300);

/// How long to wait for the rest of the caller-ID lines (the name after the number).
const CID_SETTLE: Duration = Duration::from_millis(150);

/// dialin.config as the getty sees it: missing, parsed, or broken (fail closed).
pub(super) fn read_dialin(path: &Path) -> Screen<dialin::Rules> {
    match load::load(path, Trust::Settings) {
        Ok(src) => match dialin::check_text(&src.text, path).into_iter().next() {
            Some(e) => Screen::Broken(e.to_string()),
            None => Screen::Ok(dialin::Rules::parse(&src.text)),
        },
        Err(e) if e.is_missing() => Screen::Missing,
        Err(e) => Screen::Broken(e.to_string()),
    }
}

/// The block list as the getty sees it; a configured list that is missing is broken too.
pub(super) fn read_block_list(path: Option<&Path>) -> Screen<BlockList> {
    let Some(path) = path else {
        return Screen::Missing;
    };
    match load::load(path, Trust::Settings) {
        Ok(src) => {
            let (list, errors) = BlockList::parse(&src.text, path);
            match errors.into_iter().next() {
                Some(e) => Screen::Broken(e.to_string()),
                None => Screen::Ok(list),
            }
        }
        Err(e) => Screen::Broken(format!("{e} (block-list)")),
    }
}

impl Getty {
    /// dialin.config's path.
    pub(super) fn dialin_path(&self) -> PathBuf {
        self.paths.config_dir.join("dialin.config")
    }

    /// The block list's path, if one is configured.
    pub(super) fn block_list_path(&self) -> Option<PathBuf> {
        let b = self.settings.block_list.as_deref()?;
        Some(resolve(&self.paths.config_dir, Path::new(b)))
    }

    /// What screening says about the caller ID `cid` now (the files are read each time, as
    /// mgetty reads dialin.config for each call). Also whether a file is broken.
    pub(super) fn verdict(&self, cid: &str) -> (Verdict, bool) {
        let dialin = read_dialin(&self.dialin_path());
        let block = read_block_list(self.block_list_path().as_deref());
        let broken = matches!(dialin, Screen::Broken(_)) || matches!(block, Screen::Broken(_));
        (decide(&dialin, &block, "dialin.config", cid), broken)
    }

    /// After a ring or new caller-ID data: report the call's facts, then screen it as soon as
    /// there is something to screen (a caller ID, or a second ring without one; a broken file
    /// at once). A blocked call is dropped now (the state it ends in); a refused one shows
    /// `refusing`.
    pub(super) fn screen_ringing(
        &mut self,
        rings: &mut CallRings,
        call: &mut Call,
    ) -> io::Result<Option<State>> {
        self.report_ring(call);
        let known = call.info.caller_id != "none" || call.rings >= 2;
        let (verdict, broken) = self.verdict(&call.info.caller_id);
        if !known && !broken {
            return Ok(None);
        }
        match verdict {
            Verdict::Answer => Ok(None),
            Verdict::Refuse(why) => {
                self.report_screen(call, "refusing", why);
                Ok(None)
            }
            Verdict::Block(why) => {
                if let Some(end) = self.settle_cid(rings, call)? {
                    return Ok(Some(end));
                }
                self.block(call, why).map(Some)
            }
        }
    }

    /// Read the caller-ID lines still coming (the name after the number) until a short
    /// silence, so the call's record carries them. `Some`: the call ended meanwhile.
    fn settle_cid(&mut self, rings: &mut CallRings, call: &mut Call) -> io::Result<Option<State>> {
        let end = Instant::now() + CID_SETTLE;
        while call.info.call_name.is_empty() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.ring_step_cid(rings, call, left, true)? {
                Heard::CallerId => {}
                Heard::Ring { .. } => call.rings += 1,
                Heard::Timeout => break,
                other => return self.wait_end(std::mem::take(call), other).map(Some),
            }
        }
        Ok(None)
    }

    /// Pick the call up and hang up at once (`ATH1`, a short hold, `ATH0`): the caller is
    /// dropped and the phones stop ringing. Never answered, never a login prompt.
    pub(super) fn block(&mut self, call: &Call, why: String) -> io::Result<State> {
        let t0 = Instant::now();
        log::warn!(
            target: AUDIT,
            "blocked caller dev={}, pid={}, caller='{}', name='{}': {why}",
            self.tty.device,
            self.pid(),
            call.info.caller_id,
            call.info.call_name
        );
        self.report_screen(call, "blocked", why.clone());
        self.call_outcome(call, Outcome::Blocked, why);
        if self.mdm("ATH1")? != Some(true) {
            log::warn!("blocking: the modem did not take ATH1");
        }
        sleep(&self.sig, BLOCK_HOLD);
        if self.mdm("ATH0")? != Some(true) {
            log::warn!("blocking: the modem did not take ATH0");
        }
        log::info!(
            "blocked: on-hook again {} ms after the caller ID was read",
            t0.elapsed().as_millis()
        );
        self.clean_line(Duration::from_millis(500), Duration::from_secs(10))?;
        Ok(State::Jail)
    }
}

impl Checker {
    /// `--check` for screening: dialin.config (a directory, an unreadable file or garbage is
    /// an error: at run time it would refuse every call) and the block list (every bad line;
    /// missing is an error when configured); a warning when either screens with `rings 1`.
    pub(super) fn screening(&mut self, config_dir: &Path, settings: &Settings) {
        let dialin_path = config_dir.join("dialin.config");
        let mut screens = Vec::new();
        if let Some(src) = self.read(&dialin_path, Trust::Settings) {
            screens.push("dialin.config");
            for e in dialin::check_text(&src.text, &dialin_path) {
                self.error(format!("{e}; rgetty would refuse every call"));
            }
        }
        if let Some(b) = settings.block_list.as_deref() {
            screens.push("block-list");
            let path = resolve(config_dir, Path::new(b));
            if std::fs::symlink_metadata(&path).is_err() {
                self.error(format!(
                    "{}: not found (block-list); rgetty would refuse every call",
                    path.display()
                ));
            } else if let Some(src) = self.read(&path, Trust::Settings) {
                for e in BlockList::parse(&src.text, &path).1 {
                    self.error(format!("{e}; rgetty would refuse every call"));
                }
            }
        }
        if !screens.is_empty() && settings.rings < 2 {
            self.warn(format!(
                "caller-ID screening ({}) with rings {}: caller ID arrives after the first \
                 RING, so the call is answered before it can be screened (set rings to 2 or more)",
                screens.join(", "),
                settings.rings
            ));
        }
    }
}
