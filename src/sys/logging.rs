//! The `log` backend: mgetty's per-line log file, syslog for what an admin must see, stderr in
//! the foreground (`docs/behaviour.md` §9).
//!
//! # Outputs
//! * **Log file** (getty only, [`LogSetup::file`]): opened for every message with
//!   `O_APPEND|O_CREAT|O_CLOEXEC|O_NOCTTY|O_NONBLOCK|O_NOFOLLOW`, mode 0644 (a symlink, hard link
//!   or FIFO there is refused, [`crate::sys::safefile`]), and closed again, so log
//!   rotation needs no signal and nothing stays open while the line is idle. The first successful
//!   open in a process writes mgetty's separator (an empty line, then `--`). Lines look like
//!   mgetty's ([`format_line`]). A file that cannot be opened or written (missing directory,
//!   read-only, disk full) never panics, blocks or exits: the message still goes to stderr when
//!   that is on, else it is dropped, and the failure is reported once to syslog.
//! * **syslog**: our own small RFC 3164 client on a non-blocking `AF_UNIX` datagram socket (not
//!   glibc's `syslog(3)`): `<PRI>Mmm dd hh:mm:ss ident[pid]: msg`. It never blocks or fails when
//!   syslogd is absent (the message is dropped), and after a send error it reconnects once and
//!   retries, and keeps trying on every later message, so a syslogd restart loses nothing later.
//!   The getty sends only audit records (LOG_NOTICE), warnings (LOG_WARNING) and errors
//!   (LOG_ERR), facility LOG_AUTH, prefixed with the device infix so each line names the tty.
//! * **journal**: when systemd's journal socket ([`crate::ops::journal::SOCKET`]) takes the
//!   datagram, what would go to syslog goes there instead, natively ([`crate::ops::journal`]),
//!   with `SYSLOG_IDENTIFIER`, `PRIORITY`, the fields set by [`set_journal_field`]
//!   (`RGETTY_LINE`) and the record's `log` key-values (`caller_id = ..` → `CALLER_ID`,
//!   `outcome`, `peer`); otherwise syslog is used as before. The journal is tried only while
//!   the syslog socket is the default one, unless [`set_journal_socket`] names one.
//! * **stderr**: the same line as the file, while [`LogSetup::stderr`] is on (the getty turns it
//!   off once stderr is the line).
//!
//! Daemons ([`init_daemon`]: `rgetty-ringd`, `rgetty-share`) log either to stderr
//! (`ident: warning: msg`, foreground) or everything to syslog, facility LOG_DAEMON.
//!
//! # Levels ([`level_filter`])
//! mgetty's `-x` levels 0..=9: 0 FATAL and 1 ERROR (`log::error!`), 2 AUDIT
//! (`log::warn!(target: logging::AUDIT, ...)`), 3 WARN (`log::warn!`), 4 MESG (`log::info!`),
//! 5 NOISE (`log::debug!`), 6..=9 JUNK (`log::trace!`).
//!
//! # Global state
//! The settings live in one documented static `RwLock` ([`init`] replaces them) and the
//! syslog connection plus two once-flags in one `Mutex`. That is the one global the crate
//! admits: `log` itself is a process-global facade.
//!
//! # Deliberate differences from mgetty
//! * Non-printables are replaced by `_` in audit records too (mgetty leaves them raw); audit
//!   records carry caller-controlled text.
//! * Lines are written whole, each ending in `\n` (mgetty starts every message with `\n` and
//!   leaves the last line unterminated); there is no `lputc` continuation output.
//! * The file is opened per message, not kept open between activity points.
//! * syslog gets warnings too (mgetty: only audit, errors and fatal), with the tty named.
//! * Errors get no `: strerror(errno)` suffix: the caller's message carries the error.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, RwLock};

use crate::ops::journal::JournalSink;
use crate::proto::issue::LocalTime;

/// The `log` target of audit records: `log::warn!(target: logging::AUDIT, "data dev={} ...")`.
pub const AUDIT: &str = "audit";

/// Default path of the syslog socket.
pub const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";

/// syslog facility LOG_AUTH (mgetty's).
const LOG_AUTH: u8 = 4 << 3;
/// syslog facility LOG_DAEMON (daemons).
const LOG_DAEMON: u8 = 3 << 3;
const LOG_ERR: u8 = 3;
const LOG_WARNING: u8 = 4;
const LOG_NOTICE: u8 = 5;
const LOG_INFO: u8 = 6;
const LOG_DEBUG: u8 = 7;

/// Where the getty's log goes; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSetup {
    /// Per-line log file, e.g. `/var/log/rgetty/ttyS0.log` (the caller builds the path).
    pub file: Option<PathBuf>,
    /// mgetty level 0..=9 (`-x`), see [`level_filter`].
    pub level: u8,
    /// Last 3 characters of the device (`yS0`, `s/1`), shown on every file line.
    pub infix: String,
    /// syslog ident: `rgetty`, `rgetty-ringd`, `rgetty-share`.
    pub ident: String,
    /// Also write to stderr (only while stderr is not the line).
    pub stderr: bool,
    /// Send warnings, errors and audit records to syslog.
    pub syslog: bool,
    /// The syslog socket, normally [`DEFAULT_SYSLOG_SOCKET`]; tests use a temp path.
    pub syslog_socket: PathBuf,
}

impl Default for LogSetup {
    /// No file, level 4, no infix, ident `rgetty`, stderr on, syslog on `/dev/log`.
    fn default() -> Self {
        LogSetup {
            file: None,
            level: 4,
            infix: String::new(),
            ident: "rgetty".to_string(),
            stderr: true,
            syslog: true,
            syslog_socket: PathBuf::from(DEFAULT_SYSLOG_SOCKET),
        }
    }
}

/// How records are routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// File + stderr in mgetty's format, important records to syslog (LOG_AUTH).
    Getty,
    /// stderr only (`ident: level: msg`).
    DaemonForeground,
    /// Everything to syslog (LOG_DAEMON).
    DaemonSyslog,
}

#[derive(Debug, Clone)]
struct Config {
    setup: LogSetup,
    style: Style,
}

/// Mutable runtime state of the backend.
#[derive(Debug)]
struct Runtime {
    /// The `--` separator has been written in this process.
    separator_written: bool,
    /// A log file failure has been reported to syslog.
    file_failure_reported: bool,
    syslog: SyslogClient,
    journal: JournalSink,
}

/// Use the journal socket at `path` (`None`: never use the journal), instead of the default
/// rule (the systemd socket while syslog uses `/dev/log`).
pub fn set_journal_socket(path: Option<PathBuf>) {
    RUNTIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .journal
        .set_socket(path);
}

/// Send the journal field `name=value` with every later message (`None` removes it).
pub fn set_journal_field(name: &str, value: Option<&str>) {
    RUNTIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .journal
        .set_field(name, value);
}

/// The settings: the one admitted global (`log` is a process-wide facade anyway).
static CONFIG: RwLock<Option<Config>> = RwLock::new(None);

/// The syslog connection and once-flags; never held while `CONFIG` is being written.
static RUNTIME: Mutex<Runtime> = Mutex::new(Runtime {
    separator_written: false,
    file_failure_reported: false,
    syslog: SyslogClient {
        sock: None,
        path: None,
    },
    journal: JournalSink::new(),
});

static LOGGER: Logger = Logger;

/// Install the global logger (once per process) with these settings; a later call replaces
/// the settings. If some other `log` backend was installed first, it stays.
pub fn init(setup: LogSetup) {
    let level = setup.level;
    install(Config {
        setup,
        style: Style::Getty,
    });
    log::set_max_level(level_filter(level));
}

/// Logger for `rgetty-ringd` and `rgetty-share`: in the `foreground` everything goes to
/// stderr as `ident: level: msg`, else everything goes to syslog only (LOG_DAEMON, with
/// the record's severity). `level` is an mgetty level as for [`level_filter`]; a daemon with
/// its own level scale may call `log::set_max_level` afterwards, which is the only filter
/// applied in this mode.
pub fn init_daemon(ident: &str, level: u8, foreground: bool) {
    install(Config {
        setup: LogSetup {
            file: None,
            level,
            infix: String::new(),
            ident: ident.to_string(),
            stderr: foreground,
            syslog: !foreground,
            syslog_socket: PathBuf::from(DEFAULT_SYSLOG_SOCKET),
        },
        style: if foreground {
            Style::DaemonForeground
        } else {
            Style::DaemonSyslog
        },
    });
    log::set_max_level(level_filter(level));
}

fn install(config: Config) {
    *CONFIG.write().unwrap_or_else(PoisonError::into_inner) = Some(config);
    // Fails only if a logger is already installed: ours (fine) or a foreign one (kept).
    let _ = log::set_logger(&LOGGER);
}

fn with_setup(f: impl FnOnce(&mut LogSetup)) {
    if let Some(config) = CONFIG
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .as_mut()
    {
        f(&mut config.setup);
    }
}

/// Turn stderr output on or off (off once stderr is the line).
pub fn set_stderr(on: bool) {
    with_setup(|s| s.stderr = on);
}

/// Change the mgetty level (e.g. after reading the config).
pub fn set_level(level: u8) {
    with_setup(|s| s.level = level);
    log::set_max_level(level_filter(level));
}

/// Change or remove the log file.
pub fn set_file(file: Option<PathBuf>) {
    with_setup(|s| s.file = file);
}

/// The `log` filter for an mgetty level: 0–1 error, 2–3 warn (2 lets only audit records
/// through), 4 info, 5 debug, 6 and above trace.
pub fn level_filter(level: u8) -> log::LevelFilter {
    match level {
        0 | 1 => log::LevelFilter::Error,
        2 | 3 => log::LevelFilter::Warn,
        4 => log::LevelFilter::Info,
        5 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

/// Whether a record passes mgetty's level `level` (audit records need 2, warnings 3).
fn passes(level: u8, record_level: log::Level, audit: bool) -> bool {
    let needed = match record_level {
        log::Level::Error => 0,
        log::Level::Warn if audit => 2,
        log::Level::Warn => 3,
        log::Level::Info => 4,
        log::Level::Debug => 5,
        log::Level::Trace => 6,
    };
    level >= needed
}

/// One log file line (with its `\n`), mgetty's format (verified against mgetty 1.2.1):
/// `MM/DD hh:mm:ss yS0  msg`; debug messages get one more space before the text, trace two;
/// audit records `MM/DD hh:mm:ss ##### msg`. Characters outside printable ASCII become `_`.
///
/// ```
/// use rgetty::proto::issue::LocalTime;
/// let t = LocalTime { year: 2026, month: 11, day: 2, hour: 9, minute: 5, second: 1, weekday: 1 };
/// assert_eq!(
///     rgetty::sys::logging::format_line(&t, "yS0", log::Level::Info, false, "waiting..."),
///     "11/02 09:05:01 yS0  waiting...\n"
/// );
/// ```
pub fn format_line(
    now: &LocalTime,
    infix: &str,
    level: log::Level,
    audit: bool,
    msg: &str,
) -> String {
    let mut line = format!(
        "{:02}/{:02} {:02}:{:02}:{:02} ",
        now.month, now.day, now.hour, now.minute, now.second
    );
    if audit {
        line.push_str("##### ");
    } else {
        let pad = match level {
            log::Level::Debug => "  ",
            log::Level::Trace => "   ",
            _ => " ",
        };
        line.push_str(infix);
        line.push(' ');
        line.push_str(pad);
    }
    push_printable(&mut line, msg);
    line.push('\n');
    line
}

fn push_printable(out: &mut String, msg: &str) {
    out.extend(msg.chars().map(|c| {
        if c == ' ' || c.is_ascii_graphic() {
            c
        } else {
            '_'
        }
    }));
}

/// The RFC 3164 datagram (no trailing newline): `<PRI>Mmm dd hh:mm:ss ident[pid]: msg`.
/// Non-printables become `_`.
fn syslog_line(
    now: &LocalTime,
    facility: u8,
    severity: u8,
    ident: &str,
    pid: u32,
    msg: &str,
) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = usize::try_from(now.month)
        .ok()
        .and_then(|m| m.checked_sub(1))
        .and_then(|i| MONTHS.get(i))
        .unwrap_or(&"Jan");
    let mut line = String::new();
    let _ = write!(
        line,
        "<{}>{month} {:2} {:02}:{:02}:{:02} {ident}[{pid}]: ",
        facility | severity,
        now.day,
        now.hour,
        now.minute,
        now.second
    );
    push_printable(&mut line, msg);
    line
}

/// The local time now (`localtime_r`); all zeros if the clock or the conversion fails.
pub fn now_local() -> LocalTime {
    // SAFETY: time(NULL) only reads the clock.
    let t: libc::time_t = unsafe { libc::time(std::ptr::null_mut()) };
    local_at(t)
}

/// The local time of `t` seconds since the epoch (`localtime_r`); all zeros if the
/// conversion fails.
pub fn local_at(t: libc::time_t) -> LocalTime {
    // SAFETY: libc::tm is plain integers plus a pointer (tm_zone) for which null is valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers point to live, properly aligned locals; localtime_r is the
    // reentrant variant and writes only into `tm`.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return LocalTime::default();
    }
    let u = |v: libc::c_int| u32::try_from(v).unwrap_or(0);
    LocalTime {
        year: tm.tm_year.saturating_add(1900),
        month: u(tm.tm_mon.saturating_add(1)),
        day: u(tm.tm_mday),
        hour: u(tm.tm_hour),
        minute: u(tm.tm_min),
        second: u(tm.tm_sec),
        weekday: u(tm.tm_wday),
    }
}

/// A tiny syslog client: a non-blocking, connected `AF_UNIX` datagram socket.
#[derive(Debug)]
struct SyslogClient {
    sock: Option<UnixDatagram>,
    /// The path `sock` is connected to.
    path: Option<PathBuf>,
}

impl SyslogClient {
    /// Send one datagram; drop it when syslogd is absent or busy. On a send error,
    /// reconnect once and retry; while disconnected every call tries to connect.
    fn send(&mut self, path: &Path, data: &[u8]) {
        if self.path.as_deref() != Some(path) {
            self.sock = None;
            self.path = Some(path.to_path_buf());
        }
        if let Some(sock) = &self.sock {
            match sock.send(data) {
                Ok(_) => return,
                // syslogd is alive but its queue is full: drop this one, keep the socket.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => self.sock = None,
            }
        }
        let Ok(sock) = Self::connect(path) else {
            return;
        };
        let _ = sock.send(data);
        self.sock = Some(sock);
    }

    fn connect(path: &Path) -> io::Result<UnixDatagram> {
        // std creates the socket with SOCK_CLOEXEC, so exec'd programs never inherit it.
        let sock = UnixDatagram::unbound()?;
        sock.set_nonblocking(true)?;
        sock.connect(path)?;
        Ok(sock)
    }
}

/// The backend installed into `log`.
#[derive(Debug)]
struct Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let config = match CONFIG
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            Some(c) => c.clone(),
            None => return,
        };
        let audit = record.target() == AUDIT;
        let msg = record.args().to_string();
        let kv = crate::ops::journal::record_fields(record);
        match config.style {
            Style::Getty => log_getty(&config.setup, record.level(), audit, &msg, &kv),
            Style::DaemonForeground => {
                let level = match record.level() {
                    log::Level::Warn if audit => "audit".to_string(),
                    log::Level::Warn => "warning".to_string(),
                    other => other.as_str().to_ascii_lowercase(),
                };
                let mut line = format!("{}: {level}: ", config.setup.ident);
                push_printable(&mut line, &msg);
                line.push('\n');
                let _ = io::stderr().write_all(line.as_bytes());
            }
            Style::DaemonSyslog => {
                let severity = severity(record.level(), audit);
                send_syslog(&config.setup, LOG_DAEMON, severity, &msg, &kv);
            }
        }
    }

    fn flush(&self) {}
}

fn severity(level: log::Level, audit: bool) -> u8 {
    match level {
        log::Level::Error => LOG_ERR,
        log::Level::Warn if audit => LOG_NOTICE,
        log::Level::Warn => LOG_WARNING,
        log::Level::Info => LOG_INFO,
        log::Level::Debug | log::Level::Trace => LOG_DEBUG,
    }
}

/// To the journal if it takes it, else to syslog.
fn send_syslog(setup: &LogSetup, facility: u8, severity: u8, msg: &str, kv: &[(String, String)]) {
    let mut rt = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    let mut text = String::new();
    push_printable(&mut text, msg);
    let default = setup.syslog_socket == Path::new(DEFAULT_SYSLOG_SOCKET);
    if rt
        .journal
        .send(default, &setup.ident, facility >> 3, severity, &text, kv)
    {
        return;
    }
    let line = syslog_line(
        &now_local(),
        facility,
        severity,
        &setup.ident,
        std::process::id(),
        msg,
    );
    rt.syslog.send(&setup.syslog_socket, line.as_bytes());
}

fn log_getty(setup: &LogSetup, level: log::Level, audit: bool, msg: &str, kv: &[(String, String)]) {
    if !passes(setup.level, level, audit) {
        return;
    }
    let line = format_line(&now_local(), &setup.infix, level, audit, msg);
    let failure = setup
        .file
        .as_deref()
        .and_then(|path| append_to_file(path, &line).err().map(|e| (path, e)));
    if let Some((path, e)) = failure {
        let report = {
            let mut rt = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
            !std::mem::replace(&mut rt.file_failure_reported, true)
        };
        if report {
            let text = format!("cannot write log file {}: {e}", path.display());
            if setup.syslog {
                send_syslog(
                    setup,
                    LOG_AUTH,
                    LOG_ERR,
                    &with_infix(&setup.infix, &text),
                    &[],
                );
            }
            if setup.stderr {
                let _ = writeln!(io::stderr(), "{}: {text}", setup.ident);
            }
        }
    }
    if setup.stderr {
        let _ = io::stderr().write_all(line.as_bytes());
    }
    if setup.syslog && level <= log::Level::Warn {
        send_syslog(
            setup,
            LOG_AUTH,
            severity(level, audit),
            &with_infix(&setup.infix, msg),
            kv,
        );
    }
}

fn with_infix(infix: &str, msg: &str) -> String {
    if infix.is_empty() {
        msg.to_string()
    } else {
        format!("{infix}: {msg}")
    }
}

/// Open, append one line (plus the separator on the first open in this process), close.
fn append_to_file(path: &Path, line: &str) -> io::Result<()> {
    // O_NOFOLLOW, a regular file with one link: a symlink or hard link planted at the log
    // path never redirects the write (and a FIFO or tty there never blocks us).
    let mut file = crate::sys::safefile::open_append(path, 0o644)?;
    let mut rt = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    let mut buf = String::new();
    if !rt.separator_written {
        buf.push_str("\n--\n");
    }
    buf.push_str(line);
    file.write_all(buf.as_bytes())?;
    rt.separator_written = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: LocalTime = LocalTime {
        year: 2026,
        month: 11,
        day: 2,
        hour: 9,
        minute: 5,
        second: 1,
        weekday: 1,
    };

    #[test]
    fn format_table() {
        use log::Level::*;
        let cases: &[(&str, log::Level, bool, &str, &str)] = &[
            (
                "yS0",
                Info,
                false,
                "waiting...",
                "11/02 09:05:01 yS0  waiting...\n",
            ),
            (
                "s/1",
                Warn,
                false,
                "WARNING: x",
                "11/02 09:05:01 s/1  WARNING: x\n",
            ),
            ("s/1", Error, false, "bad", "11/02 09:05:01 s/1  bad\n"),
            (
                "yS0",
                Debug,
                false,
                "got: x",
                "11/02 09:05:01 yS0   got: x\n",
            ),
            ("yS0", Trace, false, "tick", "11/02 09:05:01 yS0    tick\n"),
            (
                "yS0",
                Warn,
                true,
                "data dev=ttyS0",
                "11/02 09:05:01 ##### data dev=ttyS0\n",
            ),
            (
                "yS0",
                Info,
                false,
                "a\r\nb\x1b\x7f",
                "11/02 09:05:01 yS0  a__b__\n",
            ),
            (
                "yS0",
                Warn,
                true,
                "caller='\n'",
                "11/02 09:05:01 ##### caller='_'\n",
            ),
            ("yS0", Info, false, "é", "11/02 09:05:01 yS0  _\n"),
            ("", Info, false, "x", "11/02 09:05:01   x\n"),
        ];
        for (infix, level, audit, msg, want) in cases {
            assert_eq!(
                format_line(&T, infix, *level, *audit, msg),
                *want,
                "{msg:?}"
            );
        }
    }

    #[test]
    fn levels() {
        use log::Level::*;
        assert_eq!(level_filter(0), log::LevelFilter::Error);
        assert_eq!(level_filter(2), log::LevelFilter::Warn);
        assert_eq!(level_filter(4), log::LevelFilter::Info);
        assert_eq!(level_filter(5), log::LevelFilter::Debug);
        assert_eq!(level_filter(9), log::LevelFilter::Trace);
        assert!(passes(0, Error, false));
        assert!(!passes(1, Warn, true));
        assert!(passes(2, Warn, true));
        assert!(!passes(2, Warn, false));
        assert!(passes(3, Warn, false));
        assert!(!passes(3, Info, false));
        assert!(passes(4, Info, false));
        assert!(!passes(4, Debug, false));
        assert!(passes(6, Trace, false));
    }

    #[test]
    fn syslog_format() {
        assert_eq!(
            syslog_line(&T, LOG_AUTH, LOG_NOTICE, "rgetty", 42, "yS0: data\n"),
            "<37>Nov  2 09:05:01 rgetty[42]: yS0: data_"
        );
        assert_eq!(
            syslog_line(&T, LOG_DAEMON, LOG_ERR, "rgetty-ringd", 7, "x"),
            "<27>Nov  2 09:05:01 rgetty-ringd[7]: x"
        );
    }

    #[test]
    fn now_is_plausible() {
        let t = now_local();
        assert!(t.year >= 2020 && (1..=12).contains(&t.month) && (1..=31).contains(&t.day));
    }
}
