//! Ring events from the line: `RING` result codes, caller-ID lines and SIGUSR1 (xringd's
//! simulated ring), with the cadence matcher's deadlines (§4.4). Used by the ring room.

use std::io;
use std::time::{Duration, Instant};

use crate::callerid::{NmbrRule, RingLine, RingReader};
use crate::chat::{self, printable};
use crate::config::mgetty::Profile;
use crate::config::xringd;
use crate::ring::Matcher;

use super::common::{Getty, open_line};
use super::state::Call;

/// The ring room's state for the whole run.
pub(super) struct RingState {
    /// Splits modem text into rings, caller-ID lines and result codes.
    pub(super) reader: RingReader,
    /// The ring-patterns file, once loaded (`patterns`).
    pub(super) patterns: Option<xringd::PatternFile>,
    /// The clock of cadence matching.
    pub(super) epoch: Instant,
}

impl RingState {
    /// Nothing read yet; caller-ID rules of `profile`.
    pub(super) fn new(profile: Profile) -> RingState {
        RingState {
            reader: RingReader::new(match profile {
                Profile::Upstream => NmbrRule::Upstream,
                Profile::Debian => NmbrRule::Debian,
            }),
            patterns: None,
            epoch: Instant::now(),
        }
    }
}

impl Getty {
    /// Time since start-up, the clock of cadence matching.
    pub(super) fn now(&self) -> Duration {
        self.rings.epoch.elapsed()
    }

    /// Wait for one ring event, at most `timeout` (`Err(RingWait::Timeout)`) unless a cadence
    /// is under way: then the wait goes on until the pattern fires (`Err(RingWait::Cadence)`)
    /// or no pattern can match any more, so gaps and silences longer than the ring timeout
    /// work.
    ///
    /// `cadence` is the matcher to follow and a flag that is set to whether a ring event was a
    /// ring of the phone: a `RING` line or SIGUSR1 (xringd's simulated ring), and not a
    /// caller-ID line that mgetty counts as a ring (`NMBR = `, `FM:`, §4.4). Only rings of the
    /// phone are rings of a cadence.
    ///
    /// Ring sources: `RING` result codes on the line and SIGUSR1. The RI line is not watched
    /// here (a pty has none; rgetty-ringd watches RI): an RI edge would be one more source
    /// returning [`RingLine::Ring`] with the flag set, and `wait_rings` feeds every such ring
    /// to the matcher alike.
    pub(super) fn next_ring(
        &mut self,
        call: &mut Call,
        timeout: Duration,
        cadence: Option<(&mut Matcher, &mut bool)>,
    ) -> io::Result<Result<RingLine, RingWait>> {
        // None: no deadline (a timeout too large for the clock).
        let deadline = Instant::now().checked_add(timeout);
        let mut buf = [0u8; 1];
        let (mut matcher, phone_ring) = match cadence {
            Some((m, flag)) => (Some(m), Some(flag)),
            None => (None, None),
        };
        // The start of the line being read, as the ring reader sees it (blanks skipped).
        let mut text: Vec<u8> = Vec::new();
        loop {
            if self.sig.virtual_ring() {
                if let Some(flag) = phone_ring {
                    *flag = true;
                }
                return Ok(Ok(RingLine::Ring { dist: 0 }));
            }
            if let Some(n) = self.sig.term_signal() {
                return Ok(Err(RingWait::Signal(n)));
            }
            if self.sig.hangup() {
                return Ok(Err(RingWait::Signal(1)));
            }
            let mut until = deadline;
            let mut cadence_pending = false;
            if let Some(m) = matcher.as_deref_mut() {
                if let Some(f) = m.poll(self.now()) {
                    return Ok(Err(RingWait::Cadence(f)));
                }
                if let Some(d) = m.next_deadline() {
                    cadence_pending = true;
                    until = self.rings.epoch.checked_add(d).or(deadline);
                }
            }
            let line = open_line(&self.line)?;
            match line.read_until(&self.sig, &mut buf, until)? {
                Some(0) => return Ok(Err(RingWait::Hangup)),
                Some(_) => {
                    log::trace!("got: {}", printable(&buf));
                    let end_of_line = buf[0] == b'\r' || buf[0] == b'\n';
                    if !end_of_line
                        && text.len() < 4
                        && !(text.is_empty() && buf[0].is_ascii_whitespace())
                    {
                        text.push(buf[0]);
                    }
                    let msn: Vec<String> = self
                        .settings
                        .msn_list
                        .as_deref()
                        .map(|l| {
                            chat::split_elements(l)
                                .iter()
                                .map(|e| String::from_utf8_lossy(e).into_owned())
                                .collect()
                        })
                        .unwrap_or_default();
                    if let Some(ev) = self.rings.reader.feed(buf[0], &mut call.info, &msn) {
                        if let Some(flag) = phone_ring {
                            *flag = text.as_slice() == b"RING";
                        }
                        return Ok(Ok(ev));
                    }
                    if end_of_line {
                        text.clear();
                    }
                }
                None => {
                    if !cadence_pending && deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(Err(RingWait::Timeout));
                    }
                }
            }
        }
    }
}

/// Why a ring wait ended without a ring line.
#[derive(Debug)]
pub(super) enum RingWait {
    Timeout,
    Signal(i32),
    Hangup,
    Cadence(crate::ring::Fired),
}
