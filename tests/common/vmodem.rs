//! A virtual Hayes modem on a pty master with a scripted remote caller: the test bench for every
//! getty integration test (compiled only into the tests; `rgetty-share modem`, the product, is
//! `rgetty::modem`).
//!
//! [`VModem::start`] creates a pty pair, sets it raw, closes its own copy of the slave and spawns
//! one thread that owns the master. The getty opens the slave ([`VModem::slave_path`], or the
//! stable symlink [`Config::link`]) as if it were a serial port with a modem behind it.
//!
//! In command state every byte from the DTE goes through the AT interpreter (`rgetty::proto::at`);
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

use std::fmt::Write as _;
use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rgetty::modem::pty;
use rgetty::proto::at::{self, At};

/// Bytes the scripted caller sends right after the LCP frame of [`CallerStep::SendLcp`], so a
/// test can check that the bytes following the frame reach pppd too.
pub const LCP_TAIL: &[u8] = b"<after-lcp>";

/// The magic number in the LCP Configure-Request of [`CallerStep::SendLcp`].
pub const LCP_MAGIC: u32 = 0x5247_4554;

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
    /// `ATA` (and auto-answer) gets `NO CARRIER` instead of a call: nobody is on the line
    /// (default false).
    pub answer_no_carrier: bool,
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
            answer_no_carrier: false,
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

#[path = "vmodem_transcript.rs"]
mod transcript;
pub use transcript::{Dir, Entry, Transcript, WaitError, printable_bytes};

#[path = "vmodem_engine.rs"]
mod engine;
use engine::Engine;

/// A setup step of [`VModem::start`] failed.
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
        let engine = Engine::new(cfg, inner.clone(), rx, tx.clone(), wake_rx, master, at);
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
