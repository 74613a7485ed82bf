//! Ring events (§4.4): the getty's [`RingSource`], [`LineRings`] — modem text on the line
//! (classified by [`crate::proto::callerid::RingReader`]: a ring of the phone, caller-ID data, a
//! distinctive ring), edges of the RI pin when the line has one (a [`RiWatcher`]), and
//! SIGUSR1 — and the ring room's state. [`CallRings`] counts them for one call (the ring room,
//! `answer`). Ring commands run through [`Detached`], at most [`MAX_RING_COMMANDS`] at once.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use crate::config::mgetty::Profile;
use crate::config::xringd;
use crate::proto::callerid::{CallInfo, NmbrRule, RingKind, RingLine, RingReader};
use crate::proto::chat::{self, printable};
use crate::proto::ring::{Fired, Via};
use crate::sys::exec::{Detached, Spawned};
use crate::sys::ringsource::{CallRings, Heard, RiWatcher, RingEvent, RingSource};

use super::common::{Getty, open_line};
use super::line::{Line, Signals};
use super::state::{Call, State};

/// Ring commands (per-ring and pattern commands) the getty runs at once at most.
pub(super) const MAX_RING_COMMANDS: usize = 8;

/// The ring room's state for the whole run.
pub(super) struct RingState {
    /// Splits modem text into rings, caller-ID lines and result codes.
    pub(super) reader: RingReader,
    /// The ring-patterns file, once loaded (`patterns`).
    pub(super) patterns: Option<xringd::PatternFile>,
    /// The RI pin's watcher, when the line has one.
    pub(super) ri: Option<RiWatcher>,
    /// RI edges taken from the watcher and not handed out yet.
    pub(super) edges: VecDeque<Instant>,
    /// Ring commands still running.
    pub(super) commands: Detached,
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
            ri: None,
            edges: VecDeque::new(),
            commands: Detached::new(MAX_RING_COMMANDS),
        }
    }

    /// Start watching the RI pin of `line`, if it has one (a pty has none). `again`: after the
    /// exec back from the waiter (said once at the start, not at every ring).
    pub(super) fn watch_ri(&mut self, line: &Line, sig: &Signals, again: bool) {
        match sig.waker().and_then(|w| RiWatcher::start(line, w)) {
            Ok(Some(w)) => {
                if again {
                    log::debug!("watching the RI pin again");
                } else {
                    log::info!("the line has an RI pin: RI edges are rings too");
                }
                self.ri = Some(w);
            }
            Ok(None) => {}
            Err(e) => log::warn!("cannot watch the RI pin: {e}"),
        }
    }

    /// Whether an RI edge is waiting to be handed out (wakes Waiting).
    pub(super) fn ri_pending(&mut self) -> bool {
        if let Some(ri) = &self.ri {
            self.edges.extend(ri.take());
            if let Some(why) = ri.ended() {
                log::warn!("RI watcher stopped: {why}");
                self.ri = None;
            }
        }
        !self.edges.is_empty()
    }

    /// An RI edge seen at `at` (by the waiter, §4.3) counts as one the watcher queued.
    pub(super) fn push_edge(&mut self, at: Instant) {
        self.edges.push_back(at);
    }

    /// Forget RI edges seen outside a ring wait (they belong to no call).
    pub(super) fn forget_edges(&mut self) {
        self.ri_pending();
        self.edges.clear();
    }
}

/// The getty's [`RingSource`]: the line's text, the RI pin and SIGUSR1 (mgetty's virtual
/// ring, which stays set until the call is over).
pub(super) struct LineRings<'a> {
    line: &'a Line,
    sig: &'a Signals,
    reader: &'a mut RingReader,
    info: &'a mut CallInfo,
    msn: &'a [String],
    ri: Option<&'a RiWatcher>,
    edges: &'a mut VecDeque<Instant>,
    /// Report caller-ID lines that bring a new number or name ([`RingEvent::CallerId`]).
    report_cid: bool,
}

impl RingSource for LineRings<'_> {
    fn next_event(&mut self, deadline: Option<Instant>) -> io::Result<Option<RingEvent>> {
        let ring = |at, via, kind, dist| RingEvent::Ring {
            at,
            via,
            kind,
            dist,
        };
        let mut buf = [0u8; 1];
        loop {
            if self.sig.virtual_ring() {
                return Ok(Some(ring(Instant::now(), Via::Signal, RingKind::Phone, 0)));
            }
            if self.sig.term_signal().is_some() || self.sig.hangup() {
                return Ok(Some(RingEvent::Signal));
            }
            if let Some(ri) = self.ri {
                self.edges.extend(ri.take());
            }
            if let Some(at) = self.edges.pop_front() {
                return Ok(Some(ring(at, Via::Ri, RingKind::Phone, 0)));
            }
            match self.line.read_until(self.sig, &mut buf, deadline)? {
                Some(0) => return Ok(Some(RingEvent::Hangup)),
                Some(_) => {
                    log::trace!("got: {}", printable(&buf));
                    let before = (self.report_cid && matches!(buf[0], b'\r' | b'\n'))
                        .then(|| (self.info.caller_id.clone(), self.info.call_name.clone()));
                    match self.reader.feed(buf[0], self.info, self.msn) {
                        Some(RingLine::Ring { dist }) => {
                            let kind = self.reader.last_kind();
                            return Ok(Some(ring(Instant::now(), Via::Text, kind, dist)));
                        }
                        Some(RingLine::Action(a)) => {
                            return Ok(Some(RingEvent::Action(a)));
                        }
                        Some(RingLine::Other) | None => {
                            let now = (&self.info.caller_id, &self.info.call_name);
                            if before.is_some_and(|(id, name)| (&id, &name) != now) {
                                return Ok(Some(RingEvent::CallerId));
                            }
                        }
                    }
                }
                None if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(None),
                None => {}
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
    Cadence(Fired),
}

impl Getty {
    /// The msn-list as a list.
    fn msn_list(&self) -> Vec<String> {
        self.settings
            .msn_list
            .as_deref()
            .map(|l| {
                chat::split_elements(l)
                    .iter()
                    .map(|e| String::from_utf8_lossy(e).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The next step of this call's rings from the line's [`RingSource`].
    pub(super) fn ring_step(
        &mut self,
        rings: &mut CallRings,
        call: &mut Call,
        timeout: Duration,
    ) -> io::Result<Heard> {
        self.ring_step_cid(rings, call, timeout, false)
    }

    /// [`Getty::ring_step`], which with `report_cid` also returns [`Heard::CallerId`] when a
    /// caller-ID line that is not a ring brings a new number or name (screening acts on it).
    pub(super) fn ring_step_cid(
        &mut self,
        rings: &mut CallRings,
        call: &mut Call,
        timeout: Duration,
        report_cid: bool,
    ) -> io::Result<Heard> {
        let msn = self.msn_list();
        let mut src = LineRings {
            line: open_line(&self.line)?,
            sig: &self.sig,
            reader: &mut self.rings.reader,
            info: &mut call.info,
            msn: &msn,
            ri: self.rings.ri.as_ref(),
            edges: &mut self.rings.edges,
            report_cid,
        };
        rings.next(&mut src, timeout)
    }

    /// A step that is not a ring, as the end of a ring wait.
    pub(super) fn wait_end(&mut self, call: Call, step: Heard) -> io::Result<State> {
        Ok(match step {
            Heard::Action(a) => return self.ring_action(call, a),
            Heard::Fired(f) | Heard::Ring { fired: Some(f), .. } => {
                self.ring_wait_end(call, RingWait::Cadence(f))
            }
            // only ring_step_cid's callers see CallerId, and they go on waiting
            Heard::Timeout | Heard::CallerId => self.ring_wait_end(call, RingWait::Timeout),
            Heard::Hangup => self.ring_wait_end(call, RingWait::Hangup),
            Heard::Signal | Heard::Ring { .. } => {
                let n = self.sig.term_signal().unwrap_or(1);
                self.ring_wait_end(call, RingWait::Signal(n))
            }
        })
    }

    /// Run a ring command detached (own session, no terminal); the getty goes on at once.
    pub(super) fn ring_command(&mut self, what: &str, cmd: &str, env: &[(&'static str, String)]) {
        match self.rings.commands.spawn(cmd, env, false) {
            Ok(Spawned::Started(pid)) => log::debug!("{what} {cmd:?}: pid {pid}"),
            Ok(Spawned::Dropped { limit }) => {
                log::warn!("{limit} ring commands still running: {what} {cmd:?} not run");
            }
            Err(e) => log::error!("cannot run {what} {cmd:?}: {e}"),
        }
    }
}
