//! A virtual Hayes modem on a pty master with a scripted remote caller: the test bench for every
//! getty integration test (compiled only into the tests; `rgetty-share modem`, the product, is
//! `rgetty::modem`).
//!
//! [`VModem::start`] creates a pty pair, sets it raw, closes its own copy of the slave and spawns
//! one thread that owns the master. The getty opens the slave ([`VModem::slave_path`], or the
//! stable symlink [`Config::link`]) as if it were `/dev/ttyS0` with a modem behind it.
//!
//! In command state every byte from the DTE goes through the AT interpreter (`rgetty::at`);
//! echo, information text and result codes go back. `ATA` (or `S0` rings with auto-answer)
//! answers: after [`Config::answer_delay`] the modem says `CONNECT <speed>` and goes online. The
//! remote caller follows the script given to [`VModem::set_caller`] ([`CallerStep`]): send
//! bytes, expect bytes, send a PPP LCP Configure-Request, sleep, hang up (`NO CARRIER`) or drop
//! carrier (close the master). `ATD` connects to the same scripted caller.
//!
//! While online, `+++` with S12 guard times returns to command state (`OK`); `ATO` goes back
//! online, `ATH` hangs up.
//!
//! **The DTE side closed.** A pty slave that nobody has open is like a UART whose port is closed:
//! whatever the modem says is lost. On Linux, when the last fd of the slave is closed the pty
//! driver sets `TTY_OTHER_CLOSED` on the master: `poll()` on the master reports `POLLHUP` and
//! `read()` fails with `EIO`, until someone opens the slave again. So before every write (and
//! on every loop) the thread polls the master with a zero timeout; while `POLLHUP` is set it
//! writes nothing, drops what it would have said (recorded as a note in the transcript) and
//! leaves the master out of its blocking poll (checking again every 20 ms), since a hung-up
//! master is always "ready" and would spin the loop. Writing anyway would queue the bytes in the
//! slave's input buffer for the next opener, and with the default termios (ECHO on) the slave
//! would echo them back: the modem would echo that echo, and so on forever. Closing the slave
//! while online counts as a DTR drop (`&D2`): the call is hung up.
//!
//! **Carrier loss.** [`VModem::drop_carrier`] closes the master: the session that has the slave
//! as its controlling tty gets `SIGHUP`, and reads on the slave give EOF/`EIO`. Unless
//! [`Config::reopen_on_drop`] is set the modem is dead afterwards; with it a new pty pair is
//! created at once and the symlink re-pointed (as remserial does), so a respawned getty finds a
//! fresh line behind the same path.
//!
//! Every fd is opened close-on-exec (the master with `O_CLOEXEC` from the start, not set
//! afterwards), so a getty spawned by one test never holds another test's master open, which
//! would block that test's carrier drop. Many `VModem`s can run in one process.
//!
//! A timestamped [`Transcript`] records every byte in both directions plus notes (state changes,
//! discarded output, script failures). Every wait takes a timeout; on timeout the error carries
//! the printable transcript.
//!
//! ```ignore
//! use std::time::Duration;
//! use common::vmodem::{CallerId, CallerStep, Config, VModem};
//!
//! let vm = VModem::start(Config::default())?;
//! // ... start the getty on vm.slave_path() ...
//! vm.wait_to_modem(r"ATQ0V1H0\r", Duration::from_secs(10))?; // init chat seen
//! vm.set_caller(vec![
//!     CallerStep::Expect { re: "login: ".into(), timeout: Duration::from_secs(10) },
//!     CallerStep::SendLcp, // AutoPPP
//! ]);
//! let cid = CallerId {
//!     date: "1122".into(), time: "1951".into(), number: "5551234".into(), name: None,
//! };
//! vm.ring(2, Duration::from_secs(1), Some(cid));
//! vm.wait_to_modem(r"ATA\r", Duration::from_secs(10))?;
//! vm.wait_caller(Duration::from_secs(10))?; // the script ran; errors carry the transcript
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use rgetty::at::{self, At, AtEvent, EscapePoll, ResultCode};
use rgetty::hdlc;
use rgetty::modem::poll::{Interest, Registry, Token};
use rgetty::modem::pty;

/// Bytes the scripted caller sends right after the LCP frame of [`CallerStep::SendLcp`], so a
/// test can check that the bytes following the frame reach pppd too.
pub const LCP_TAIL: &[u8] = b"<after-lcp>";

/// The magic number in the LCP Configure-Request of [`CallerStep::SendLcp`].
pub const LCP_MAGIC: u32 = 0x5247_4554;

/// How long a call keeps "ringing" after its last RING when nobody answers.
const RING_TIMEOUT: Duration = Duration::from_secs(8);
/// Cap on buffered bytes in either direction before the modem stops reading.
const BUF_CAP: usize = 64 * 1024;
/// Time between `NO CARRIER` and the carrier drop when a TCP peer hangs up.
const CARRIER_DROP_GRACE: Duration = Duration::from_millis(500);
/// How often the master is re-checked while no slave is open.
const CLOSED_POLL: Duration = Duration::from_millis(20);

/// How the modem answers command lines (e.g. the getty's init chat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitReply {
    /// A working modem.
    #[default]
    Ok,
    /// Every command line is answered with `ERROR` (and not executed).
    Error,
    /// A dead modem: no echo, no reply, nothing (the lines still show in
    /// [`VModem::commands`]).
    Silent,
}

/// Settings for [`VModem::start`]. Use `..Config::default()` for the fields you don't set.
#[derive(Debug, Clone)]
pub struct Config {
    /// Speed in the `CONNECT` message (default 38400).
    pub connect_speed: u32,
    /// How command lines are answered (default [`InitReply::Ok`]).
    pub init_reply: InitReply,
    /// Power-on echo, `E1` (default true).
    pub echo: bool,
    /// A symlink to create to the slave (removed when the modem stops).
    pub link: Option<PathBuf>,
    /// Power-on S0: rings before auto-answer, 0 = never (default 0).
    pub auto_answer: u8,
    /// Delay between `ATA` (or the auto-answer ring) and `CONNECT` (default 100 ms).
    pub answer_delay: Duration,
    /// Interval between RINGs for a call from [`VModem::offer_call`] (default 2 s).
    pub ring_interval: Duration,
    /// After a carrier drop, create a new pty pair and re-point [`Config::link`] (default false).
    pub reopen_on_drop: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            connect_speed: 38400,
            init_reply: InitReply::Ok,
            echo: true,
            link: None,
            auto_answer: 0,
            answer_delay: Duration::from_millis(100),
            ring_interval: Duration::from_secs(2),
            reopen_on_drop: false,
        }
    }
}

/// Caller-ID data sent after the first RING (`DATE`, `TIME`, `NMBR`, `NAME` lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerId {
    /// `MMDD`.
    pub date: String,
    /// `HHMM`.
    pub time: String,
    /// The caller's number.
    pub number: String,
    /// The caller's name; no `NAME` line when `None`.
    pub name: Option<String>,
}

impl CallerId {
    /// The lines as the modem sends them: `\r\nDATE = 1122\r\nTIME = 1951\r\nNMBR = …\r\n`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!(
            "\r\nDATE = {}\r\nTIME = {}\r\nNMBR = {}\r\n",
            self.date, self.time, self.number
        );
        if let Some(name) = &self.name {
            let _ = write!(s, "NAME = {name}\r\n");
        }
        s.into_bytes()
    }
}

/// One step of the scripted remote caller, run after `CONNECT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerStep {
    /// Send bytes to the DTE (held while the modem is escaped to command state).
    Send(Vec<u8>),
    /// Wait until the bytes received from the DTE since `CONNECT` (after the previous match)
    /// match the regex (`regex::bytes`); on timeout the script fails and stops.
    Expect {
        /// The pattern.
        re: String,
        /// How long to wait.
        timeout: Duration,
    },
    /// Send a framed LCP Configure-Request ([`hdlc::lcp_configure_request`]) then [`LCP_TAIL`].
    SendLcp,
    /// Do nothing for a while.
    Sleep(Duration),
    /// The remote hangs up: the modem says `NO CARRIER` and goes to command state.
    Hangup,
    /// Close the master (carrier loss, see [`VModem::drop_carrier`]); ends the script.
    DropCarrier,
}

impl CallerStep {
    /// Wait up to `timeout` for `re` from the DTE.
    pub fn expect(re: &str, timeout: Duration) -> CallerStep {
        CallerStep::Expect {
            re: re.to_string(),
            timeout,
        }
    }

    /// Wait up to `timeout` for a login prompt (`login: `).
    pub fn login_prompt(timeout: Duration) -> CallerStep {
        CallerStep::expect("login: ", timeout)
    }
}

/// The usual caller: wait for the login prompt, type `text`, then stay on the line for 5 s.
pub fn type_at_prompt(text: impl AsRef<[u8]>, timeout: Duration) -> Vec<CallerStep> {
    vec![
        CallerStep::login_prompt(timeout),
        CallerStep::Send(text.as_ref().to_vec()),
        CallerStep::Sleep(Duration::from_secs(5)),
    ]
}

/// How far the scripted caller got.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CallerStatus {
    /// No script has started.
    #[default]
    Idle,
    /// A script is running.
    Running,
    /// The last script ran to its end.
    Done,
    /// The last script failed (an Expect timed out, a bad regex, the call ended early).
    Failed(String),
}

/// The modem's state, as seen by [`VModem::wait_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Command state, no call ringing.
    Command,
    /// A call is ringing (RINGs seen within the last 8 s, or a TCP caller waiting).
    Ringing,
    /// Online (data state).
    Online,
    /// The master is closed and will not come back.
    Dead,
}

/// Direction of a transcript entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Bytes the DTE (rgetty) wrote to the modem.
    ToModem,
    /// Bytes the modem or the remote caller sent to the DTE (delivered to the slave).
    ToDte,
    /// A note from the modem (state change, discarded output, script failure).
    Note,
}

/// One transcript entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Time since the modem started.
    pub at: Duration,
    /// Direction.
    pub dir: Dir,
    /// The bytes (for notes, UTF-8 text).
    pub bytes: Vec<u8>,
}

/// A snapshot of everything that crossed the modem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    /// The entries, oldest first.
    pub entries: Vec<Entry>,
}

/// Bytes as printable text: printable ASCII as is, everything else as `[0d]`.
pub fn printable_bytes(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'[' {
            s.push(char::from(b));
        } else {
            let _ = write!(s, "[{b:02x}]");
        }
    }
    s
}

impl Transcript {
    /// One line per entry: `  1.234s to-modem ATQ0V1H0[0d]`.
    pub fn printable(&self) -> String {
        let mut s = String::new();
        for e in &self.entries {
            let (tag, text) = match e.dir {
                Dir::ToModem => ("to-modem", printable_bytes(&e.bytes)),
                Dir::ToDte => ("to-dte  ", printable_bytes(&e.bytes)),
                Dir::Note => ("note    ", String::from_utf8_lossy(&e.bytes).into_owned()),
            };
            let _ = writeln!(s, "{:>9.3}s {tag} {text}", e.at.as_secs_f64());
        }
        s
    }

    fn bytes(&self, dir: Dir) -> Vec<u8> {
        self.entries
            .iter()
            .filter(|e| e.dir == dir)
            .flat_map(|e| e.bytes.iter().copied())
            .collect()
    }

    /// All bytes the DTE wrote, concatenated.
    pub fn to_modem_bytes(&self) -> Vec<u8> {
        self.bytes(Dir::ToModem)
    }

    /// All bytes delivered to the DTE, concatenated.
    pub fn to_dte_bytes(&self) -> Vec<u8> {
        self.bytes(Dir::ToDte)
    }

    /// True if no entry in direction `dir` is at or after `since`.
    pub fn quiet_since(&self, dir: Dir, since: Duration) -> bool {
        !self.entries.iter().any(|e| e.dir == dir && e.at >= since)
    }

    /// Time of the last entry in direction `dir`.
    pub fn last_at(&self, dir: Dir) -> Option<Duration> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.dir == dir)
            .map(|e| e.at)
    }

    /// The notes, as text.
    pub fn notes(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.dir == Dir::Note)
            .map(|e| String::from_utf8_lossy(&e.bytes).into_owned())
            .collect()
    }
}

/// Why a wait failed.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The condition did not come true in time.
    #[error("timed out after {waited:?} waiting for {what}; transcript:\n{transcript}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        waited: Duration,
        /// The printable transcript at the time.
        transcript: String,
    },
    /// The pattern is not a valid regex.
    #[error("bad regex {pattern:?}: {source}")]
    Regex {
        /// The pattern.
        pattern: String,
        /// Why.
        source: regex::Error,
    },
    /// The caller script failed.
    #[error("caller script failed: {reason}; transcript:\n{transcript}")]
    CallerFailed {
        /// Why.
        reason: String,
        /// The printable transcript at the time.
        transcript: String,
    },
}

/// Why [`VModem::start`] failed.
fn io_err(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

#[derive(Debug, Default)]
struct Shared {
    transcript: Vec<Entry>,
    to_modem: Vec<u8>,
    to_dte: Vec<u8>,
    commands: Vec<String>,
    state: Option<State>,
    slave_open: bool,
    slave_path: PathBuf,
    caller: CallerStatus,
    busy: bool,
}

#[derive(Debug)]
struct Inner {
    start: Instant,
    keep: bool,
    m: Mutex<Shared>,
    cv: Condvar,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.m
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record(&self, dir: Dir, bytes: &[u8]) {
        if bytes.is_empty() || !self.keep {
            return;
        }
        let at = self.start.elapsed();
        let mut g = self.lock();
        // ToModem bytes reach `to_modem` (what the waits look at) only after they have been
        // processed (see `Engine::handle_dte`), so a test that saw them also sees their effects
        if dir == Dir::ToDte {
            g.to_dte.extend_from_slice(bytes);
        }
        g.transcript.push(Entry {
            at,
            dir,
            bytes: bytes.to_vec(),
        });
        drop(g);
        self.cv.notify_all();
    }

    fn note(&self, text: &str) {
        log::debug!("vmodem: {text}");
        self.record(Dir::Note, text.as_bytes());
    }

    fn update(&self, f: impl FnOnce(&mut Shared)) {
        f(&mut self.lock());
        self.cv.notify_all();
    }

    fn printable(&self) -> String {
        Transcript {
            entries: self.lock().transcript.clone(),
        }
        .printable()
    }

    /// Wait until `cond` holds (checked under the lock) or the timeout passes.
    fn wait(
        &self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&Shared) -> bool,
    ) -> Result<(), WaitError> {
        let deadline = Instant::now() + timeout;
        let mut g = self.lock();
        loop {
            if cond(&g) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                drop(g);
                return Err(WaitError::Timeout {
                    what: what.to_string(),
                    waited: timeout,
                    transcript: self.printable(),
                });
            }
            g = self
                .cv
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

/// Requests from the handle to the modem thread.
#[derive(Debug)]
enum Ctl {
    Ring(Vec<Instant>, Option<CallerId>),
    SendRaw(Vec<u8>),
    SetCaller(Vec<CallerStep>),
    SetInitReply(InitReply),
    DropCarrier,
    Stop,
}

/// The virtual modem. Dropping it stops the thread and closes the master (a carrier loss for
/// whoever still has the slave open) and removes the symlink.
#[derive(Debug)]
pub struct VModem {
    inner: Arc<Inner>,
    tx: Sender<Ctl>,
    wake: UnixStream,
    thread: Option<JoinHandle<()>>,
    slave_path: PathBuf,
}

impl VModem {
    /// Create the pty pair and start the modem thread.
    pub fn start(cfg: Config) -> io::Result<VModem> {
        let (master, path) = pty::open()?;
        if let Some(link) = &cfg.link {
            pty::make_link(link, &path)
                .map_err(|e| io_err(&format!("symlink {}", link.display()), e))?;
        }
        let (wake_tx, wake_rx) = UnixStream::pair()?;
        wake_rx.set_nonblocking(true)?;
        wake_tx.set_nonblocking(true)?;
        let inner = Arc::new(Inner {
            start: Instant::now(),
            keep: true,
            m: Mutex::new(Shared {
                slave_path: path.clone(),
                state: Some(State::Command),
                ..Shared::default()
            }),
            cv: Condvar::new(),
        });
        let (tx, rx) = mpsc::channel();
        let mut at = At::new(cfg.echo);
        at.set_s_reg(at::S_AUTO_ANSWER, cfg.auto_answer);
        let engine = Engine {
            link: cfg.link.clone(),
            cfg,
            inner: inner.clone(),
            rx,
            tx: tx.clone(),
            wake_rx,
            master: Some(master),
            slave_open: false,
            at,
            online: false,
            conn: None,
            out: Vec::new(),
            remote_hold: Vec::new(),
            timers: Vec::new(),
            rings: 0,
            last_ring: None,
            script: None,
            pending_script: Vec::new(),
            rx_online: Vec::new(),
            stop: false,
        };
        let thread = std::thread::Builder::new()
            .name("vmodem".into())
            .spawn(move || engine.run())?;
        Ok(VModem {
            inner,
            tx,
            wake: wake_tx,
            thread: Some(thread),
            slave_path: path,
        })
    }

    fn send(&self, c: Ctl) {
        if self.tx.send(c).is_ok() {
            let _ = (&self.wake).write(&[1]);
        }
    }

    /// The slave's path at start (e.g. `/dev/pts/7`).
    pub fn slave_path(&self) -> &Path {
        &self.slave_path
    }

    /// The slave's current path (differs from [`VModem::slave_path`] after a carrier drop with
    /// [`Config::reopen_on_drop`]).
    pub fn current_slave_path(&self) -> PathBuf {
        self.inner.lock().slave_path.clone()
    }

    /// Time since the modem started (the clock of the transcript).
    pub fn now(&self) -> Duration {
        self.inner.start.elapsed()
    }

    /// Ring `rings` times, `interval` apart, starting now; caller-ID lines follow the first
    /// RING when `cid` is given. RINGs while no slave is open are lost (but still count for
    /// auto-answer), so wait until the getty has finished its init chat first. RINGs while a
    /// call is up are skipped. `S1` counts the rings; it restarts after 8 s without one.
    pub fn ring(&self, rings: u32, interval: Duration, cid: Option<CallerId>) {
        let now = Instant::now();
        let times = (0..rings).map(|i| now + interval * i).collect();
        self.send(Ctl::Ring(times, cid));
    }

    /// Ring at these offsets from now (for cadence tests); caller ID after the first.
    pub fn ring_at(&self, times: &[Duration], cid: Option<CallerId>) {
        let now = Instant::now();
        self.send(Ctl::Ring(times.iter().map(|t| now + *t).collect(), cid));
    }

    /// Send bytes to the DTE as if the modem said them (dropped while no slave is open).
    pub fn send_raw(&self, bytes: &[u8]) {
        self.send(Ctl::SendRaw(bytes.to_vec()));
    }

    /// What the remote caller does after the next `CONNECT` (or at once if online without a
    /// running script).
    pub fn set_caller(&self, script: Vec<CallerStep>) {
        self.send(Ctl::SetCaller(script));
    }

    /// Change how command lines are answered from now on.
    pub fn set_init_reply(&self, reply: InitReply) {
        self.send(Ctl::SetInitReply(reply));
    }

    /// Close the master now: the slave sees a hangup (`SIGHUP`, then EOF/`EIO`).
    pub fn drop_carrier(&self) {
        self.send(Ctl::DropCarrier);
    }

    /// Whether a call is connected, ringing or being dialled.
    pub fn busy(&self) -> bool {
        self.inner.lock().busy
    }

    /// A snapshot of the transcript.
    pub fn transcript(&self) -> Transcript {
        Transcript {
            entries: self.inner.lock().transcript.clone(),
        }
    }

    /// The AT command lines received so far (from `AT` on, after editing), in order.
    pub fn commands(&self) -> Vec<String> {
        self.inner.lock().commands.clone()
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.inner.lock().state.unwrap_or(State::Dead)
    }

    /// Whether something has the slave open (as last seen by the modem thread).
    pub fn slave_open(&self) -> bool {
        self.inner.lock().slave_open
    }

    /// How far the scripted caller got.
    pub fn caller_status(&self) -> CallerStatus {
        self.inner.lock().caller.clone()
    }

    /// Number of bytes the DTE has written so far (an offset for [`VModem::wait_to_modem_after`]).
    pub fn to_modem_len(&self) -> usize {
        self.inner.lock().to_modem.len()
    }

    /// Number of bytes delivered to the DTE so far (an offset for [`VModem::wait_to_dte_after`]).
    pub fn to_dte_len(&self) -> usize {
        self.inner.lock().to_dte.len()
    }

    fn wait_re(
        &self,
        dir: Dir,
        offset: usize,
        re: &str,
        timeout: Duration,
    ) -> Result<(), WaitError> {
        let rx = regex::bytes::Regex::new(re).map_err(|source| WaitError::Regex {
            pattern: re.to_string(),
            source,
        })?;
        let what = match dir {
            Dir::ToModem => format!("bytes to the modem matching {re:?}"),
            _ => format!("bytes to the DTE matching {re:?}"),
        };
        self.inner.wait(&what, timeout, |g| {
            let buf = if dir == Dir::ToModem {
                &g.to_modem
            } else {
                &g.to_dte
            };
            rx.is_match(buf.get(offset..).unwrap_or_default())
        })
    }

    /// Wait until all bytes the DTE wrote so far, concatenated, match `re` (`regex::bytes`).
    pub fn wait_to_modem(&self, re: &str, timeout: Duration) -> Result<(), WaitError> {
        self.wait_re(Dir::ToModem, 0, re, timeout)
    }

    /// Like [`VModem::wait_to_modem`], over the bytes from `offset` ([`VModem::to_modem_len`]) on.
    pub fn wait_to_modem_after(
        &self,
        offset: usize,
        re: &str,
        timeout: Duration,
    ) -> Result<(), WaitError> {
        self.wait_re(Dir::ToModem, offset, re, timeout)
    }

    /// Wait until all bytes delivered to the DTE so far, concatenated, match `re`.
    pub fn wait_to_dte(&self, re: &str, timeout: Duration) -> Result<(), WaitError> {
        self.wait_re(Dir::ToDte, 0, re, timeout)
    }

    /// Like [`VModem::wait_to_dte`], over the bytes from `offset` ([`VModem::to_dte_len`]) on.
    pub fn wait_to_dte_after(
        &self,
        offset: usize,
        re: &str,
        timeout: Duration,
    ) -> Result<(), WaitError> {
        self.wait_re(Dir::ToDte, offset, re, timeout)
    }

    /// Wait until the modem is in state `s`.
    pub fn wait_state(&self, s: State, timeout: Duration) -> Result<(), WaitError> {
        self.inner
            .wait(&format!("state {s:?}"), timeout, |g| g.state == Some(s))
    }

    /// Wait until something has the slave open.
    pub fn wait_slave_open(&self, timeout: Duration) -> Result<(), WaitError> {
        self.inner
            .wait("the slave to be opened", timeout, |g| g.slave_open)
    }

    /// Wait until the caller script has run to its end; an error if it failed or timed out.
    pub fn wait_caller(&self, timeout: Duration) -> Result<(), WaitError> {
        self.inner
            .wait("the caller script to finish", timeout, |g| {
                matches!(g.caller, CallerStatus::Done | CallerStatus::Failed(_))
            })?;
        match self.caller_status() {
            CallerStatus::Failed(reason) => Err(WaitError::CallerFailed {
                reason,
                transcript: self.inner.printable(),
            }),
            _ => Ok(()),
        }
    }
}

impl Drop for VModem {
    fn drop(&mut self) {
        self.send(Ctl::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

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
struct Engine {
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
    rings: u32,
    last_ring: Option<Instant>,
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

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

impl Engine {
    fn run(mut self) {
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
        } else if self
            .last_ring
            .is_some_and(|t| t.elapsed() < RING_TIMEOUT && self.rings > 0)
        {
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
                    if self.last_ring.is_some_and(|t| t.elapsed() >= RING_TIMEOUT) {
                        self.rings = 0;
                        self.at.set_s_reg(at::S_RING_COUNT, 0);
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
        if self
            .last_ring
            .is_none_or(|t| now.duration_since(t) >= RING_TIMEOUT)
        {
            self.rings = 0;
        }
        self.rings += 1;
        self.last_ring = Some(now);
        self.at
            .set_s_reg(at::S_RING_COUNT, u8::try_from(self.rings).unwrap_or(255));
        self.inner.note(&format!("ring {}", self.rings));
        self.set_state();
        self.result(ResultCode::Ring);
        if let Some(cid) = cid {
            self.send_dte(&cid.to_bytes());
        }
        self.timers.push((now + RING_TIMEOUT, Timer::RingTimeout));
        let s0 = u32::from(self.at.s_reg(at::S_AUTO_ANSWER));
        if s0 > 0 && self.rings == s0 {
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
        let t = Instant::now() + self.cfg.answer_delay;
        self.timers.push((t, Timer::Connect(Conn::Script)));
    }

    fn connect(&mut self, c: Conn) {
        if self.master.is_none() {
            return;
        }
        self.timers.retain(|(_, t)| !matches!(t, Timer::Ring(_)));
        self.rings = 0;
        self.last_ring = None;
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
            reg.add(
                Token::Wake,
                self.wake_rx.as_fd(),
                Interest {
                    read: true,
                    write: false,
                },
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_and_cid() {
        assert_eq!(printable_bytes(b"AT\r\n[x"), "AT[0d][0a][5b]x");
        let c = CallerId {
            date: "1122".into(),
            time: "1951".into(),
            number: "5551234".into(),
            name: Some("JOHN DOE".into()),
        };
        assert_eq!(
            c.to_bytes(),
            b"\r\nDATE = 1122\r\nTIME = 1951\r\nNMBR = 5551234\r\nNAME = JOHN DOE\r\n"
        );
    }
}
