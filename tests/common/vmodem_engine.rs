//! The thread of the test bench's virtual modem: AT commands, rings, the scripted caller.

use std::collections::VecDeque;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use rgetty::modem::poll::{Interest, LineFd as Token, Registry};
use rgetty::modem::pty;
use rgetty::proto::at::{self, At, AtEvent, EscapePoll, RING_RESET, ResultCode};
use rgetty::proto::hdlc;

use super::{
    BUF_CAP, CLOSED_POLL, CallerId, CallerStatus, CallerStep, Config, Ctl, Dir, InitReply, Inner,
    LCP_MAGIC, LCP_TAIL, State, printable_bytes,
};

/// Timed actions of the modem thread.
#[derive(Debug)]
enum Timer {
    Ring(Option<CallerId>),
    Connect(Conn),
    RingTimeout,
}

/// The far end of a call.
#[derive(Debug)]
enum Conn {
    Script,
}

#[derive(Debug)]
struct ScriptRun {
    steps: VecDeque<CallerStep>,
    sleep_until: Option<Instant>,
    expect: Option<(regex::bytes::Regex, Instant, String)>,
}

/// The modem thread's state.
pub(super) struct Engine {
    cfg: Config,
    link: Option<PathBuf>,
    inner: Arc<Inner>,
    rx: Receiver<Ctl>,
    tx: Sender<Ctl>,
    wake_rx: UnixStream,
    master: Option<OwnedFd>,
    slave_open: bool,
    at: At,
    /// Data state (as opposed to command state).
    online: bool,
    /// The call, kept while escaped to command state.
    conn: Option<Conn>,
    /// Bytes waiting to be written to the master.
    out: Vec<u8>,
    /// Remote bytes held while escaped to command state.
    remote_hold: Vec<u8>,
    timers: Vec<(Instant, Timer)>,
    script: Option<ScriptRun>,
    pending_script: Vec<CallerStep>,
    /// Bytes from the DTE since CONNECT not yet consumed by an Expect.
    rx_online: Vec<u8>,
    stop: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

fn min_deadline(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Engine {
    /// The modem thread's state at power-on.
    pub(super) fn new(
        cfg: Config,
        inner: Arc<Inner>,
        rx: Receiver<Ctl>,
        tx: Sender<Ctl>,
        wake_rx: UnixStream,
        master: OwnedFd,
        at: At,
    ) -> Engine {
        Engine {
            link: cfg.link.clone(),
            cfg,
            inner,
            rx,
            tx,
            wake_rx,
            master: Some(master),
            slave_open: false,
            at,
            online: false,
            conn: None,
            out: Vec::new(),
            remote_hold: Vec::new(),
            timers: Vec::new(),
            script: None,
            pending_script: Vec::new(),
            rx_online: Vec::new(),
            stop: false,
        }
    }
}

impl Engine {
    pub(super) fn run(mut self) {
        self.inner.note("modem started");
        while !self.stop {
            self.step();
        }
        if let Some(link) = &self.link {
            let path = self.inner.lock().slave_path.clone();
            pty::remove_link(link, &path);
        }
        self.inner.note("modem stopped");
    }

    fn now_d(&self) -> Duration {
        self.inner.start.elapsed()
    }

    /// Carry out the requests from the handle. Done before reading the master too, so a
    /// request made before the DTE wrote something takes effect before those bytes are seen.
    fn drain_control(&mut self) {
        let mut buf = [0u8; 64];
        while matches!((&self.wake_rx).read(&mut buf), Ok(n) if n > 0) {}
        while let Ok(c) = self.rx.try_recv() {
            self.control(c);
        }
    }

    fn step(&mut self) {
        self.drain_control();
        if self.stop {
            return;
        }
        self.check_slave();
        self.run_timers();
        self.run_script();
        if self.online {
            let now = self.now_d();
            match self.at.poll(now) {
                Some(EscapePoll::Escape(evs)) => {
                    self.online = false;
                    self.set_state();
                    self.inner.note("escape: command state");
                    self.at_events(evs);
                }
                Some(EscapePoll::Release(b)) => self.pass_remote(&b),
                None => {}
            }
        }
        self.flush();
        self.wait_io();
    }

    fn set_state(&self) {
        let s = if self.master.is_none() {
            State::Dead
        } else if self.online {
            State::Online
        } else if self.at.ringing(self.now_d()) {
            State::Ringing
        } else {
            State::Command
        };
        let busy = self.conn.is_some();
        self.inner.update(|g| {
            if g.state != Some(s) {
                g.state = Some(s);
            }
            g.busy = busy;
        });
    }

    fn control(&mut self, c: Ctl) {
        match c {
            Ctl::Stop => self.stop = true,
            Ctl::Ring(times, mut cid) => {
                for t in times {
                    self.timers.push((t, Timer::Ring(cid.take())));
                }
            }
            Ctl::SendRaw(b) => self.send_dte(&b),
            Ctl::SetCaller(steps) => {
                if self.online && self.script.is_none() && matches!(self.conn, Some(Conn::Script)) {
                    self.start_script(steps);
                } else {
                    self.pending_script = steps;
                }
            }
            Ctl::SetInitReply(r) => self.cfg.init_reply = r,
            Ctl::DropCarrier => self.carrier_drop(),
        }
    }

    /// Re-check whether a slave is open (see the module docs).
    fn check_slave(&mut self) {
        let open = self.master.as_ref().is_some_and(pty::slave_open);
        self.slave_changed(open);
    }

    fn slave_changed(&mut self, open: bool) {
        if open == self.slave_open {
            return;
        }
        self.slave_open = open;
        self.inner.update(|g| g.slave_open = open);
        if open {
            self.inner.note("slave opened");
        } else {
            self.inner.note("slave closed");
            self.discard_out();
            if self.conn.is_some() || self.online {
                // DTR drop (&D2): hang up
                self.inner.note("DTR drop: hang up");
                self.hangup();
            }
        }
    }

    fn discard_out(&mut self) {
        if !self.out.is_empty() {
            let n = self.out.len();
            let text = printable_bytes(&self.out);
            self.out.clear();
            self.inner
                .note(&format!("discarded {n} bytes (no slave open): {text}"));
        }
    }

    fn send_dte(&mut self, b: &[u8]) {
        if b.is_empty() {
            return;
        }
        if self.slave_open && self.master.is_some() {
            // written by the main loop, so the replies to one read go out in one write
            self.out.extend_from_slice(b);
        } else {
            self.inner.note(&format!(
                "discarded {} bytes (no slave open): {}",
                b.len(),
                printable_bytes(b)
            ));
        }
    }

    fn result(&mut self, code: ResultCode) {
        let b = self.at.format(code);
        self.send_dte(&b);
    }

    fn flush(&mut self) {
        let Some(m) = &self.master else {
            self.out.clear();
            return;
        };
        while !self.out.is_empty() && self.slave_open {
            match nix::unistd::write(m, &self.out) {
                Ok(n) => {
                    self.inner.record(Dir::ToDte, &self.out[..n]);
                    self.out.drain(..n);
                }
                Err(Errno::EAGAIN | Errno::EINTR) => break,
                Err(e) => {
                    self.inner.note(&format!("write to master: {e}"));
                    self.check_slave();
                    break;
                }
            }
        }
    }

    fn run_timers(&mut self) {
        let now = Instant::now();
        let mut due = Vec::new();
        let mut i = 0;
        while i < self.timers.len() {
            if self.timers[i].0 <= now {
                due.push(self.timers.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|(t, _)| *t);
        for (_, t) in due {
            match t {
                Timer::Ring(cid) => self.ring(cid),
                Timer::Connect(c) => self.connect(c),
                Timer::RingTimeout => {
                    if !self.at.ringing(self.now_d()) {
                        self.at.clear_rings();
                    }
                    self.set_state();
                }
            }
        }
    }

    fn ring(&mut self, cid: Option<CallerId>) {
        if self.conn.is_some() || self.online || self.master.is_none() {
            return;
        }
        let now = Instant::now();
        let answer = self.at.ring(self.now_d());
        self.inner
            .note(&format!("ring {}", self.at.s_reg(at::S_RING_COUNT)));
        self.set_state();
        self.result(ResultCode::Ring);
        if let Some(cid) = cid {
            self.send_dte(&cid.to_bytes());
        }
        self.timers.push((now + RING_RESET, Timer::RingTimeout));
        if answer {
            self.inner.note("auto-answer");
            self.answer();
        }
        self.set_state();
    }

    fn answer(&mut self) {
        if self.conn.is_some() {
            self.result(ResultCode::Error); // already off hook with a call
            return;
        }
        if self.cfg.answer_no_carrier {
            self.inner.note("answer: nobody calling");
            self.result(ResultCode::NoCarrier);
            return;
        }
        let t = Instant::now() + self.cfg.answer_delay;
        self.timers.push((t, Timer::Connect(Conn::Script)));
    }

    fn connect(&mut self, c: Conn) {
        if self.master.is_none() {
            return;
        }
        self.timers.retain(|(_, t)| !matches!(t, Timer::Ring(_)));
        self.at.clear_rings();
        self.conn = Some(c);
        self.online = true;
        self.at.enter_online(self.now_d());
        self.rx_online.clear();
        self.set_state();
        self.inner.note("online");
        self.result(ResultCode::Connect(Some(self.cfg.connect_speed)));
        let steps = std::mem::take(&mut self.pending_script);
        self.start_script(steps);
        self.set_state();
    }

    fn start_script(&mut self, steps: Vec<CallerStep>) {
        if steps.is_empty() {
            return;
        }
        self.inner.update(|g| g.caller = CallerStatus::Running);
        self.script = Some(ScriptRun {
            steps: steps.into(),
            sleep_until: None,
            expect: None,
        });
        self.run_script();
    }

    fn script_end(&mut self, status: CallerStatus) {
        if self.script.take().is_some() {
            if let CallerStatus::Failed(r) = &status {
                self.inner.note(&format!("caller script failed: {r}"));
            } else {
                self.inner.note("caller script done");
            }
            self.inner.update(|g| g.caller = status);
        }
    }

    fn run_script(&mut self) {
        loop {
            let now = Instant::now();
            let Some(run) = &mut self.script else { return };
            if let Some(until) = run.sleep_until {
                if now < until {
                    return;
                }
                run.sleep_until = None;
            }
            if let Some((re, deadline, pat)) = &run.expect {
                if let Some(m) = re.find(&self.rx_online) {
                    let end = m.end();
                    let pat = pat.clone();
                    run.expect = None;
                    self.rx_online.drain(..end);
                    self.inner.note(&format!("caller: matched {pat:?}"));
                    continue;
                }
                if now >= *deadline {
                    let msg = format!("expect {pat:?} timed out");
                    self.script_end(CallerStatus::Failed(msg));
                }
                return;
            }
            let Some(step) = run.steps.pop_front() else {
                self.script_end(CallerStatus::Done);
                return;
            };
            match step {
                CallerStep::Send(b) => self.remote_send(&b),
                CallerStep::Expect { re, timeout } => match regex::bytes::Regex::new(&re) {
                    Ok(rx) => run.expect = Some((rx, now + timeout, re)),
                    Err(e) => {
                        self.script_end(CallerStatus::Failed(format!("bad regex {re:?}: {e}")));
                        return;
                    }
                },
                CallerStep::SendLcp => {
                    let mut b = hdlc::lcp_configure_request(1, LCP_MAGIC);
                    b.extend_from_slice(LCP_TAIL);
                    self.remote_send(&b);
                }
                CallerStep::Sleep(d) => run.sleep_until = Some(now + d),
                CallerStep::Hangup => {
                    self.inner.note("caller hangs up");
                    self.hangup_with_result();
                }
                CallerStep::DropCarrier => {
                    self.script_end(CallerStatus::Done);
                    self.carrier_drop();
                    return;
                }
            }
        }
    }

    /// The remote end sends bytes: to the DTE while online, held while escaped.
    fn remote_send(&mut self, b: &[u8]) {
        if self.conn.is_none() {
            return;
        }
        if self.online {
            self.send_dte(b);
        } else {
            self.remote_hold.extend_from_slice(b);
        }
    }

    /// Bytes from the DTE (after escape filtering) to the remote end.
    fn pass_remote(&mut self, b: &[u8]) {
        match &self.conn {
            Some(Conn::Script) => {
                self.rx_online.extend_from_slice(b);
                if self.rx_online.len() > BUF_CAP {
                    let cut = self.rx_online.len() - BUF_CAP;
                    self.rx_online.drain(..cut);
                }
                self.run_script();
            }
            None => {}
        }
    }

    /// Hang up locally (ATH, DTR drop, ATZ): close the call, command state.
    fn hangup(&mut self) {
        self.conn = None;
        self.online = false;
        self.remote_hold.clear();
        if self.script.is_some() {
            self.script_end(CallerStatus::Failed("the call was hung up".into()));
        }
        self.set_state();
    }

    /// The remote hung up: NO CARRIER, command state.
    fn hangup_with_result(&mut self) {
        let had = self.conn.take().is_some();
        self.online = false;
        self.remote_hold.clear();
        self.set_state();
        if had {
            self.result(ResultCode::NoCarrier);
        }
    }

    fn carrier_drop(&mut self) {
        if self.master.is_none() {
            return;
        }
        self.hangup();
        self.flush(); // what was said before the drop still goes out
        self.master = None;
        self.out.clear();
        self.slave_changed(false);
        self.inner.note("carrier dropped: master closed");
        if self.cfg.reopen_on_drop {
            match pty::open() {
                Ok((m, path)) => {
                    if let Some(link) = &self.link {
                        if let Err(e) = pty::make_link(link, &path) {
                            self.inner
                                .note(&format!("re-pointing the link failed: {e}"));
                        }
                    }
                    self.inner.note(&format!("new pty {}", path.display()));
                    self.master = Some(m);
                    self.inner.update(|g| g.slave_path = path);
                }
                Err(e) => self.inner.note(&format!("reopening the pty failed: {e}")),
            }
        }
        self.set_state();
    }

    /// Bytes the DTE wrote.
    fn handle_dte(&mut self, bytes: &[u8]) {
        self.inner.record(Dir::ToModem, bytes);
        self.process_dte(bytes);
        if self.inner.keep {
            self.inner.update(|g| g.to_modem.extend_from_slice(bytes));
        }
    }

    fn process_dte(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.online {
                let now = self.now_d();
                if let Some(EscapePoll::Escape(evs)) = self.at.poll(now) {
                    self.online = false;
                    self.set_state();
                    self.inner.note("escape: command state");
                    self.at_events(evs);
                } else if let Some(pass) = self.at.online_input(b, now) {
                    self.pass_remote(&pass);
                    continue;
                } else {
                    continue;
                }
            }
            match self.cfg.init_reply {
                InitReply::Silent => {
                    // nothing goes back, but the command lines are still recorded
                    for e in self.at.input(b) {
                        if let AtEvent::Command(c) = e {
                            self.inner.update(|g| g.commands.push(c));
                        }
                    }
                }
                InitReply::Ok => {
                    let evs = self.at.input(b);
                    self.at_events(evs);
                }
                InitReply::Error => {
                    let evs = self.at.input(b);
                    let mut ended = false;
                    for e in evs {
                        match e {
                            AtEvent::Echo(v) => self.send_dte(&v),
                            AtEvent::Command(c) => {
                                self.inner.update(|g| g.commands.push(c));
                                ended = true;
                            }
                            _ => {}
                        }
                    }
                    if ended {
                        self.result(ResultCode::Error);
                    }
                }
            }
        }
    }

    fn at_events(&mut self, evs: Vec<AtEvent>) {
        for e in evs {
            match e {
                AtEvent::Echo(v) | AtEvent::Info(v) => self.send_dte(&v),
                AtEvent::Command(c) => {
                    log::debug!("vmodem: command {c:?}");
                    self.inner.update(|g| g.commands.push(c));
                }
                AtEvent::Result(c) => self.result(c),
                AtEvent::Answer => self.answer(),
                AtEvent::Hangup => {
                    if self.conn.is_some() {
                        self.inner.note("hang up (ATH)");
                    }
                    self.hangup();
                }
                AtEvent::OffHook => {
                    // a call blocker picks up: the phone stops ringing
                    self.inner.note("off-hook (ATH1)");
                    self.timers.retain(|(_, t)| !matches!(t, Timer::Ring(_)));
                }
                AtEvent::Online => {
                    if self.conn.is_some() {
                        self.online = true;
                        self.at.enter_online(self.now_d());
                        self.set_state();
                        self.result(ResultCode::Connect(Some(self.cfg.connect_speed)));
                        let held = std::mem::take(&mut self.remote_hold);
                        self.send_dte(&held);
                    } else {
                        self.result(ResultCode::NoCarrier);
                    }
                }
                AtEvent::Reset => {
                    self.at.set_s_reg(at::S_AUTO_ANSWER, self.cfg.auto_answer);
                    if self.conn.is_some() {
                        self.hangup();
                    }
                }
                AtEvent::Dial(number) => {
                    // every number reaches the scripted caller
                    if self.conn.is_some() {
                        self.result(ResultCode::Error);
                    } else {
                        self.inner.note(&format!("dial {number:?}"));
                        let t = Instant::now() + self.cfg.answer_delay;
                        self.timers.push((t, Timer::Connect(Conn::Script)));
                    }
                }
            }
        }
    }

    /// Block in poll until something happens or the next deadline.
    fn wait_io(&mut self) {
        let now = Instant::now();
        let mut deadline = self.timers.iter().map(|(t, _)| *t).min();
        if let Some(run) = &self.script {
            deadline = min_deadline(deadline, run.sleep_until);
            deadline = min_deadline(deadline, run.expect.as_ref().map(|e| e.1));
        }
        if self.online {
            if let Some(d) = self.at.escape_deadline() {
                let rel = d.saturating_sub(self.now_d());
                deadline = min_deadline(deadline, Some(now + rel));
            }
        }
        if !self.slave_open && self.master.is_some() {
            deadline = min_deadline(deadline, Some(now + CLOSED_POLL));
        }
        let timeout = deadline.map_or(Duration::from_secs(1), |d| d.saturating_duration_since(now));
        let ready = {
            let mut reg = Registry::default();
            reg.add(Token::Wake, self.wake_rx.as_fd(), Interest::READ);
            if let (Some(m), true) = (&self.master, self.slave_open) {
                // stop reading while the DTE is not reading our echo
                let read = self.out.len() <= BUF_CAP;
                let write = !self.out.is_empty();
                reg.add(Token::Master, m.as_fd(), Interest { read, write });
            }
            reg.poll(timeout).unwrap_or_default()
        };
        self.drain_control();
        if self.stop {
            return;
        }
        if ready.iter().any(|(t, _)| *t == Token::Master) {
            self.read_master();
            self.flush();
        }
    }

    fn read_master(&mut self) {
        let mut buf = [0u8; 4096];
        let Some(m) = &self.master else { return };
        match nix::unistd::read(m, &mut buf) {
            Ok(0) | Err(Errno::EIO) => self.slave_changed(false),
            Ok(n) => self.handle_dte(&buf[..n]),
            Err(_) => {}
        }
    }
}
