//! rgetty-ringd: a drop-in xringd. Watches a modem's RI line, matches ring cadences
//! ([`crate::proto::ring`]) from a pattern file ([`crate::config::xringd`]) and runs their commands.
//!
//! I/O shell around the pure matcher: argument parsing ([`Cli`]), the pattern file (read by
//! [`crate::config::load`]), the device, signals, commands. One loop on the main thread takes
//! rings from a [`crate::sys::ringsource::RingSource`] (RI edges and SIGUSR1) and waits as
//! [`crate::sys::wake`] describes, exactly until the matcher's next deadline. A termination signal
//! is looked at before any queued ring, and at most `--max-commands` commands run at once
//! ([`crate::sys::exec::Detached`]).
//!
//! Differences from xringd 1.20, on purpose (see also `rgetty-ringd(8)`):
//! - a device without an RI line (a pty: TIOCMIWAIT gives ENOTTY) is logged once and the daemon
//!   keeps running with SIGUSR1 as its only ring source; xringd exits;
//! - every bad line of the pattern file is reported and the good ones are used; on SIGHUP a file
//!   with errors is rejected as a whole and the old patterns stay in force;
//! - `-i` applies to every ring source (SIGUSR1 too), not only to RI edges;
//! - a pattern file readable by group or others is warned about; `--strict-perms` refuses it;
//!   a pattern file not owned by root, or writable by group or others, is always refused (its
//!   commands run as root), and so are FIFOs, devices, directories and files over 1 MiB;
//! - at most `--max-commands` commands (default [`DEFAULT_MAX_COMMANDS`]) run at once; a ring
//!   or match beyond that is logged and dropped (xringd forked one shell per ring);
//! - times are millisecond-exact (xringd's whole-second `time(2)` gaps accepted a 0.4 s gap
//!   for any range);
//! - commands run in their own session with stdin, stdout and stderr on /dev/null (stdout and
//!   stderr go to our stderr with `-d`), and get `RING_COUNT`, `RING_TIMES` and `DEVICE` in
//!   their environment.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::ConfigError;
use crate::config::load::{self as loader, Trust};
use crate::config::xringd::{self, FileOptions, MAX_MERGE_MS, PatternFile};
use crate::proto::ring::{Fired, Matcher, MatcherOptions, RingOutcome, Via, format_ring_times};
use crate::sys::exec::{Detached, Spawned};
use crate::sys::ringsource::{RiWatcher, RingEvent, RingSource, SignalRings};
use crate::sys::tty;
use crate::sys::wake::Signals;

/// The config file used when `-c` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/xringd.conf";
/// The device used when neither `-m` nor a device argument is given.
pub const DEFAULT_DEVICE: &str = "/dev/modem";
/// The init time when `-t` is not given (xringd's default).
pub const DEFAULT_INIT: Duration = Duration::from_secs(15);
/// Log level when `-l` is not given (xringd's default).
pub const DEFAULT_LOG_LEVEL: u32 = 1;
/// Log level implied by `-d` (xringd's "logging = 100").
pub const DEBUG_LOG_LEVEL: u32 = 100;
/// Commands run at once when `--max-commands` is not given.
pub const DEFAULT_MAX_COMMANDS: usize = 8;

/// The usage text printed for `-h` / `-?` and after a usage error.
pub const USAGE: &str = "usage: rgetty-ringd [-a rngcmd] [-c cfgfile] [-d] [-e] [-h] [-i ignore_msec] \
[-l loglevel] [-m device] [-n] [-t init_secs] [--strict-perms] [--max-commands N] [device]";

/// A command-line mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// An option that takes a value came last.
    #[error("option -{0} needs a value")]
    MissingValue(char),
    /// An option letter or long option we do not know.
    #[error("unknown option {0:?}")]
    Unknown(String),
    /// A value that does not parse.
    #[error("bad value {value:?} for -{opt}: {reason}")]
    BadValue {
        /// The option letter.
        opt: char,
        /// The value as typed.
        value: String,
        /// Why it is bad.
        reason: String,
    },
    /// A long option that takes a value came last.
    #[error("option --{0} needs a value")]
    MissingLongValue(&'static str),
    /// A long option's value that does not parse.
    #[error("bad value {value:?} for --{opt}: {reason}")]
    BadLongValue {
        /// The option name.
        opt: &'static str,
        /// The value as typed.
        value: String,
        /// Why it is bad.
        reason: &'static str,
    },
    /// A second device argument.
    #[error("unexpected argument {0:?} (only one device may be given)")]
    Extra(String),
}

/// The command line of xringd(8), plus `--strict-perms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    /// `-a CMD`: command run on every ring.
    pub ring_command: Option<String>,
    /// `-c FILE`: the pattern file.
    pub config: PathBuf,
    /// `-d`: stay in the foreground, log to stderr at level 100.
    pub debug: bool,
    /// `-e`: disable ECHO on the device when opening it.
    pub no_echo: bool,
    /// `-h` / `-?`: print the usage and exit.
    pub help: bool,
    /// `-i MSECS`: rings closer than this count as one.
    pub merge: Option<Duration>,
    /// `-l LEVEL`: log level (0 none, 1 default, 10+ debug, 100 everything).
    pub log_level: Option<u32>,
    /// `-m DEV` or the last argument.
    pub device: Option<PathBuf>,
    /// `-n`: check the pattern file only (implies `-d`).
    pub check: bool,
    /// `-t SECS`: ignore rings this long after start or a reset (decimals allowed).
    pub init: Option<Duration>,
    /// `--strict-perms`: refuse a pattern file readable by group or others.
    pub strict_perms: bool,
    /// `--max-commands N`: commands run at once at most.
    pub max_commands: usize,
}

impl Default for Cli {
    fn default() -> Self {
        Cli {
            ring_command: None,
            config: PathBuf::from(DEFAULT_CONFIG),
            debug: false,
            no_echo: false,
            help: false,
            merge: None,
            log_level: None,
            device: None,
            check: false,
            init: None,
            strict_perms: false,
            max_commands: DEFAULT_MAX_COMMANDS,
        }
    }
}

impl Cli {
    /// Parse arguments the way xringd's getopt does (`-dn`, `-t5`, `-t 5`, `--`), without the
    /// program name.
    pub fn parse_from<I, S>(args: I) -> Result<Cli, CliError>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut cli = Cli::default();
        let args: Vec<String> = args
            .into_iter()
            .map(|a| a.into().to_string_lossy().into_owned())
            .collect();
        let mut it = args.into_iter();
        let mut only_positional = false;
        while let Some(arg) = it.next() {
            if only_positional || arg == "-" || !arg.starts_with('-') {
                if cli.device.is_some() {
                    return Err(CliError::Extra(arg));
                }
                cli.device = Some(PathBuf::from(arg));
                continue;
            }
            if arg == "--" {
                only_positional = true;
                continue;
            }
            if let Some(long) = arg.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (long, None),
                };
                match (name, inline) {
                    ("strict-perms", None) => cli.strict_perms = true,
                    ("help", None) => cli.help = true,
                    ("max-commands", value) => {
                        let value = match value {
                            Some(v) => v,
                            None => it
                                .next()
                                .ok_or(CliError::MissingLongValue("max-commands"))?,
                        };
                        cli.max_commands = parse_max_commands(&value)?;
                    }
                    _ => return Err(CliError::Unknown(arg)),
                }
                continue;
            }
            let letters = &arg[1..];
            for (pos, letter) in letters.char_indices() {
                match letter {
                    'd' => cli.debug = true,
                    'e' => cli.no_echo = true,
                    'h' | '?' => cli.help = true,
                    'n' => cli.check = true,
                    'a' | 'c' | 'i' | 'l' | 'm' | 't' => {
                        let attached = &letters[pos + letter.len_utf8()..];
                        let value = if attached.is_empty() {
                            it.next().ok_or(CliError::MissingValue(letter))?
                        } else {
                            attached.to_string()
                        };
                        cli.set_value(letter, value)?;
                        break;
                    }
                    other => return Err(CliError::Unknown(format!("-{other}"))),
                }
            }
        }
        Ok(cli)
    }

    fn set_value(&mut self, opt: char, value: String) -> Result<(), CliError> {
        let bad = |reason: String| CliError::BadValue {
            opt,
            value: value.clone(),
            reason,
        };
        match opt {
            'a' => self.ring_command = Some(value),
            'c' => self.config = PathBuf::from(value),
            'm' => self.device = Some(PathBuf::from(value)),
            'l' => self.log_level = Some(value.parse().map_err(|_| bad("not a number".into()))?),
            'i' => {
                let ms: u64 = value
                    .parse()
                    .map_err(|_| bad("not a number of milliseconds".into()))?;
                if ms > MAX_MERGE_MS {
                    return Err(bad(format!("at most {MAX_MERGE_MS}")));
                }
                self.merge = Some(Duration::from_millis(ms));
            }
            't' => self.init = Some(xringd::parse_secs(&value).map_err(bad)?),
            _ => return Err(CliError::Unknown(format!("-{opt}"))),
        }
        Ok(())
    }
}

/// `--max-commands`: a whole number from 1 to 1000.
fn parse_max_commands(value: &str) -> Result<usize, CliError> {
    match value.parse::<usize>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(n),
        _ => Err(CliError::BadLongValue {
            opt: "max-commands",
            value: value.to_string(),
            reason: "a number from 1 to 1000",
        }),
    }
}

/// Settings in force: the file's options over the command line's, over the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingdSettings {
    /// Command run on every ring.
    pub ring_command: Option<String>,
    /// Foreground with logs on stderr.
    pub debug: bool,
    /// Disable ECHO on the device.
    pub no_echo: bool,
    /// Log level.
    pub log_level: u32,
    /// The device watched.
    pub device: PathBuf,
    /// Matcher timing (`-t`, `-i`).
    pub timing: MatcherOptions,
}

impl RingdSettings {
    /// Resolve: options in the file take precedence over the command line (xringd(8)).
    pub fn resolve(cli: &Cli, file: &FileOptions) -> RingdSettings {
        let debug = cli.debug || cli.check || file.debug;
        let default_level = if debug {
            DEBUG_LOG_LEVEL
        } else {
            DEFAULT_LOG_LEVEL
        };
        RingdSettings {
            ring_command: file
                .ring_command
                .clone()
                .or_else(|| cli.ring_command.clone()),
            debug,
            no_echo: cli.no_echo || file.no_echo,
            log_level: file.log_level.or(cli.log_level).unwrap_or(default_level),
            device: file
                .device
                .clone()
                .or_else(|| cli.device.clone())
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DEVICE)),
            timing: MatcherOptions {
                init: file.init.or(cli.init).unwrap_or(DEFAULT_INIT),
                merge: file.merge.or(cli.merge).unwrap_or_default(),
            },
        }
    }
}

/// Map an xringd log level to a `log` filter: 0 off, 1–9 info, 10–99 debug, 100+ trace.
pub fn level_filter(level: u32) -> log::LevelFilter {
    match level {
        0 => log::LevelFilter::Off,
        1..=9 => log::LevelFilter::Info,
        10..=99 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

/// Why a pattern file cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum PatternFileError {
    /// The file could not be read, or the loader's policy refused it (it names the file and
    /// the reason: not root's, writable by others, not a regular file, over 1 MiB, …).
    #[error("cannot read {0}")]
    File(#[from] loader::LoadError),
    /// The file is readable by group or others and `--strict-perms` is on.
    #[error("{0}; refusing it (--strict-perms)")]
    Perms(String),
}

/// A pattern file read from disk: what parsed, every error, and a permission warning.
#[derive(Debug)]
pub struct Loaded {
    /// The good patterns and the options.
    pub file: PatternFile,
    /// One error per bad line.
    pub errors: Vec<ConfigError>,
    /// Set when group or others can read the file.
    pub perms_warning: Option<String>,
}

/// Read and parse the pattern file at `path`. Its lines run commands as root, so the loader
/// refuses it unless root owns it and only root can write it (with or without
/// `--strict-perms`); readable by others is a warning, refused with `strict_perms`.
pub fn load(path: &Path, strict_perms: bool) -> Result<Loaded, PatternFileError> {
    let source = loader::load(path, Trust::Commands)?;
    let perms_warning = source.others_can_read().map(|w| {
        format!(
            "{w}: a ring cadence is a password, anyone who knows it can phone it in; chmod 600 it"
        )
    });
    if let (true, Some(w)) = (strict_perms, &perms_warning) {
        return Err(PatternFileError::Perms(w.clone()));
    }
    let (file, errors) = xringd::parse(&source.text, path);
    Ok(Loaded {
        file,
        errors,
        perms_warning,
    })
}

/// The whole daemon: returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let loaded = load(&cli.config, cli.strict_perms);
    // Decide foreground/level before logging anything: the file may say -d or -l.
    let file_opts = loaded
        .as_ref()
        .map(|l| l.file.options.clone())
        .unwrap_or_default();
    let settings = RingdSettings::resolve(&cli, &file_opts);
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            init_logger(settings.log_level.max(1), true);
            log::error!("{e}");
            return 1;
        }
    };
    if cli.check {
        init_logger(settings.log_level.max(1), true);
        return check(&cli.config, &loaded);
    }
    if !settings.debug {
        // Fork before any thread exists: the parent exits 0, the child leaves the session,
        // changes to / and puts fds 0-2 on /dev/null.
        if let Err(e) = nix::unistd::daemon(false, false) {
            init_logger(settings.log_level, true);
            log::error!("cannot become a daemon: {e}");
            return 1;
        }
    }
    init_logger(settings.log_level, settings.debug);
    report_load(&loaded);
    match Daemon::start(cli, settings, loaded.file) {
        Ok(mut d) => d.event_loop(),
        Err(e) => {
            log::error!("{e}");
            1
        }
    }
}

/// `-n`: report every problem, exit 0 when the file is clean.
fn check(path: &Path, loaded: &Loaded) -> i32 {
    report_load(loaded);
    if loaded.errors.is_empty() {
        log::info!(
            "config file {} -> syntax ok ({} patterns)",
            path.display(),
            loaded.file.patterns.len()
        );
        0
    } else {
        log::error!(
            "config file {}: {} bad line(s)",
            path.display(),
            loaded.errors.len()
        );
        1
    }
}

fn report_load(loaded: &Loaded) {
    if let Some(w) = &loaded.perms_warning {
        log::warn!("{w}");
    }
    for e in &loaded.errors {
        log::error!("{e}");
    }
}

/// Opening the device failed.
#[derive(Debug, thiserror::Error)]
enum DeviceError {
    /// A tty operation failed (it names the operation).
    #[error("{path}: {source}")]
    Tty {
        path: PathBuf,
        #[source]
        source: tty::Error,
    },
    /// Starting the RI watcher failed.
    #[error("cannot watch the RI line: {0}")]
    Watch(#[source] io::Error),
}

/// The running daemon's state (owned by the event loop).
struct Daemon {
    cli: Cli,
    settings: RingdSettings,
    patterns: PatternFile,
    matcher: Matcher,
    epoch: Instant,
    sig: Signals,
    device: Option<OwnedFd>,
    ri: Option<RiWatcher>,
    /// RI edges taken from the watcher and not handled yet.
    edges: VecDeque<Instant>,
    commands: Detached,
    /// The "no RI line" warning was given (it is logged once).
    no_ri_logged: bool,
}

impl Daemon {
    fn start(cli: Cli, settings: RingdSettings, patterns: PatternFile) -> io::Result<Daemon> {
        let sig = Signals::install()?;
        let epoch = Instant::now();
        let matcher = Matcher::new(&patterns.patterns, settings.timing, Duration::ZERO);
        let mut d = Daemon {
            commands: Detached::new(cli.max_commands),
            cli,
            settings,
            patterns,
            matcher,
            epoch,
            sig,
            device: None,
            ri: None,
            edges: VecDeque::new(),
            no_ri_logged: false,
        };
        d.open_device()
            .map_err(|e| io::Error::other(format!("{e}")))?;
        log::info!(
            "started on {} with {} pattern(s), init time {:.1} s, merge {} ms, at most {} command(s) at once",
            d.settings.device.display(),
            d.patterns.patterns.len(),
            d.settings.timing.init.as_secs_f64(),
            d.settings.timing.merge.as_millis(),
            d.cli.max_commands
        );
        Ok(d)
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Open the device and start watching its RI line if it has one.
    fn open_device(&mut self) -> Result<(), DeviceError> {
        self.ri = None;
        self.edges.clear();
        self.device = None;
        let path = self.settings.device.clone();
        let in_tty = |source| DeviceError::Tty {
            path: path.clone(),
            source,
        };
        let fd = tty::open_line(&self.settings.device, false).map_err(in_tty)?;
        if self.settings.no_echo {
            tty::apply_stty(&fd, "-echo").map_err(in_tty)?;
        }
        let waker = self.sig.waker().map_err(DeviceError::Watch)?;
        self.ri = RiWatcher::start(&fd, waker).map_err(DeviceError::Watch)?;
        if self.ri.is_none() {
            let msg = format!(
                "{} has no RI line (not a serial port?): only SIGUSR1 rings will be seen",
                self.settings.device.display()
            );
            if std::mem::replace(&mut self.no_ri_logged, true) {
                log::debug!("{msg}");
            } else {
                log::warn!("{msg}");
            }
        }
        self.device = Some(fd);
        Ok(())
    }

    /// Wait for rings and signals until a termination signal; returns the exit code.
    fn event_loop(&mut self) -> i32 {
        loop {
            // Termination first: nothing queued can delay it.
            if let Some(n) = self.sig.term_signal() {
                log::info!("signal {n}: exiting");
                return 0;
            }
            if self.sig.usr2() {
                log::info!("signal {}: exiting", libc::SIGUSR2);
                return 0;
            }
            if self.sig.take_hangup() {
                self.reload();
                continue;
            }
            if self.sig.take_child_ended() {
                self.commands.reap();
            }
            if let Some(why) = self.ri.as_ref().and_then(RiWatcher::ended) {
                log::warn!("RI watcher stopped: {why}; only SIGUSR1 rings will be seen");
                self.ri = None;
            }
            let deadline = self
                .matcher
                .next_deadline()
                .and_then(|d| self.epoch.checked_add(d));
            let mut src = SignalRings::new(&self.sig, self.ri.as_ref(), &mut self.edges);
            let event = src.next_event(deadline);
            match event {
                Ok(Some(RingEvent::Ring { at, via, .. })) => {
                    let at = at.saturating_duration_since(self.epoch);
                    self.ring(at, via);
                }
                Ok(_) => {}
                Err(e) => {
                    log::error!("cannot wait for rings: {e}");
                    return 1;
                }
            }
            let now = self.now();
            while let Some(fired) = self.matcher.poll(now) {
                self.launch(&fired);
            }
        }
    }

    fn ring(&mut self, at: Duration, via: Via) {
        let source = via.name();
        let event = self.matcher.ring(at);
        if let Some(fired) = &event.fired {
            self.launch(fired);
        }
        // A ring storm (a noisy RI line, a SIGUSR1 loop) must not flood the log: identical
        // lines are rate-limited as on the share side.
        let info = |m: String| crate::sys::loglimit::log_limited(log::Level::Info, m);
        match event.outcome {
            RingOutcome::Merged => log::debug!("{source} ring merged with the previous one"),
            RingOutcome::Ignored => info(format!("{source} ring ignored (init time)")),
            RingOutcome::Counted { count } => info(format!("RING #{count} ({source})")),
            RingOutcome::Reset => info(format!("{source} ring fits no pattern: reset")),
        }
        if !event.outcome.is_ring() {
            return;
        }
        if let Some(cmd) = self.settings.ring_command.clone() {
            let env = self.env(self.matcher.ring_count(), &self.matcher.ring_times());
            log::debug!("running (per ring): {cmd:?}");
            self.spawn(&cmd, &env);
        }
    }

    fn env(&self, count: usize, times: &[Duration]) -> Vec<(&'static str, String)> {
        vec![
            ("RING_COUNT", count.to_string()),
            ("RING_TIMES", format_ring_times(times)),
            ("DEVICE", self.settings.device.display().to_string()),
        ]
    }

    /// Start a command, unless `--max-commands` are running: then drop it, loudly.
    fn spawn(&mut self, cmd: &str, env: &[(&'static str, String)]) {
        match self.commands.spawn(cmd, env, self.settings.debug) {
            Ok(Spawned::Started(pid)) => log::debug!("command pid {pid} started"),
            Ok(Spawned::Dropped { limit }) => {
                let msg = format!("{limit} command(s) still running: {cmd:?} dropped");
                crate::sys::loglimit::log_limited(log::Level::Warn, msg);
            }
            Err(e) => log::error!("cannot run {cmd:?}: {e}"),
        }
    }

    fn launch(&mut self, fired: &Fired) {
        log::info!(
            "pattern {} matched ({} rings at {} s): launching {:?}",
            fired.loc,
            fired.ring_count(),
            fired.ring_times_env(),
            fired.command
        );
        let env = self.env(fired.ring_count(), &fired.ring_times);
        self.spawn(&fired.command, &env);
    }

    /// SIGHUP: reset, reread the file (keep the old one if the new one has errors), reopen.
    fn reload(&mut self) {
        log::info!("SIGHUP: resetting, rereading {}", self.cli.config.display());
        match load(&self.cli.config, self.cli.strict_perms) {
            Err(e) => log::error!("{e}; keeping the old patterns"),
            Ok(loaded) if !loaded.errors.is_empty() => {
                report_load(&loaded);
                log::error!(
                    "{} has {} bad line(s); keeping the old patterns",
                    self.cli.config.display(),
                    loaded.errors.len()
                );
            }
            Ok(loaded) => {
                report_load(&loaded);
                let new = RingdSettings::resolve(&self.cli, &loaded.file.options);
                if new.debug != self.settings.debug || new.log_level != self.settings.log_level {
                    log::set_max_level(level_filter(new.log_level));
                }
                // Foreground/daemon cannot change any more.
                self.settings = RingdSettings {
                    debug: self.settings.debug,
                    ..new
                };
                self.patterns = loaded.file;
                log::info!("{} pattern(s) loaded", self.patterns.patterns.len());
            }
        }
        self.matcher = Matcher::new(&self.patterns.patterns, self.settings.timing, self.now());
        if let Err(e) = self.open_device() {
            log::error!(
                "cannot reopen {}: {e}; only SIGUSR1 rings will be seen",
                self.settings.device.display()
            );
        }
    }
}

/// Install the logger: stderr in the foreground, syslog (LOG_DAEMON) when daemonised; the
/// xringd level scale of [`level_filter`] decides what passes.
fn init_logger(level: u32, foreground: bool) {
    crate::sys::logging::init_daemon("rgetty-ringd", 9, foreground);
    log::set_max_level(level_filter(level));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, CliError> {
        Cli::parse_from(args.iter().copied())
    }

    #[test]
    fn cli_flags() {
        let cli = parse(&[
            "-a",
            "play ring.au",
            "-c",
            "x.conf",
            "-d",
            "-e",
            "-i",
            "300",
            "-l",
            "10",
            "-t",
            "2.5",
            "/dev/ttyUSB1",
        ])
        .unwrap();
        assert_eq!(cli.ring_command.as_deref(), Some("play ring.au"));
        assert_eq!(cli.config, PathBuf::from("x.conf"));
        assert!(cli.debug && cli.no_echo && !cli.check && !cli.help);
        assert_eq!(cli.merge, Some(Duration::from_millis(300)));
        assert_eq!(cli.log_level, Some(10));
        assert_eq!(cli.init, Some(Duration::from_millis(2500)));
        assert_eq!(cli.device, Some(PathBuf::from("/dev/ttyUSB1")));

        let cli = parse(&["-dn", "-t0", "-mdev", "--strict-perms"]).unwrap();
        assert!(cli.debug && cli.check && cli.strict_perms);
        assert_eq!(cli.init, Some(Duration::ZERO));
        assert_eq!(cli.device, Some(PathBuf::from("dev")));
        assert!(parse(&["-?"]).unwrap().help);
        assert!(parse(&["-h"]).unwrap().help);
        assert_eq!(parse(&[]).unwrap(), Cli::default());
        assert_eq!(
            parse(&["--", "-weird"]).unwrap().device,
            Some(PathBuf::from("-weird"))
        );
    }

    #[test]
    fn cli_errors() {
        let table: &[(&[&str], &str)] = &[
            (&["-t"], "option -t needs a value"),
            (&["-x"], "unknown option \"-x\""),
            (&["--bogus"], "unknown option \"--bogus\""),
            (&["-t", "soon"], "bad value \"soon\" for -t"),
            (&["-i", "1.5"], "bad value \"1.5\" for -i"),
            (&["-i", "999999"], "at most 60000"),
            (&["-l", "high"], "bad value \"high\" for -l"),
            (&["/dev/a", "/dev/b"], "unexpected argument \"/dev/b\""),
        ];
        for (args, want) in table {
            let e = parse(args).unwrap_err().to_string();
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }

    #[test]
    fn file_options_win() {
        let cli = parse(&[
            "-a", "cli", "-t", "3", "-i", "100", "-l", "5", "-m", "/dev/cli",
        ])
        .unwrap();
        let file = FileOptions {
            ring_command: Some("file".into()),
            init: Some(Duration::from_secs(7)),
            device: Some(PathBuf::from("/dev/file")),
            ..Default::default()
        };
        let s = RingdSettings::resolve(&cli, &file);
        assert_eq!(s.ring_command.as_deref(), Some("file"));
        assert_eq!(s.timing.init, Duration::from_secs(7));
        assert_eq!(s.timing.merge, Duration::from_millis(100));
        assert_eq!(s.log_level, 5);
        assert_eq!(s.device, PathBuf::from("/dev/file"));
        assert!(!s.debug);

        let s = RingdSettings::resolve(&Cli::default(), &FileOptions::default());
        assert_eq!(s.device, PathBuf::from(DEFAULT_DEVICE));
        assert_eq!(s.timing.init, DEFAULT_INIT);
        assert_eq!(s.log_level, DEFAULT_LOG_LEVEL);
        let s = RingdSettings::resolve(&parse(&["-n"]).unwrap(), &FileOptions::default());
        assert!(s.debug);
        assert_eq!(s.log_level, DEBUG_LOG_LEVEL);
    }

    #[test]
    fn levels() {
        assert_eq!(level_filter(0), log::LevelFilter::Off);
        assert_eq!(level_filter(1), log::LevelFilter::Info);
        assert_eq!(level_filter(10), log::LevelFilter::Debug);
        assert_eq!(level_filter(100), log::LevelFilter::Trace);
    }

    proptest::proptest! {
        #[test]
        fn cli_never_panics(args in proptest::collection::vec("[-a-z?0-9./ ]{0,8}|\\PC{0,6}", 0..6)) {
            let _ = Cli::parse_from(args);
        }
    }

    #[test]
    fn max_commands_flag() {
        assert_eq!(parse(&[]).unwrap().max_commands, DEFAULT_MAX_COMMANDS);
        assert_eq!(parse(&["--max-commands", "3"]).unwrap().max_commands, 3);
        assert_eq!(parse(&["--max-commands=1"]).unwrap().max_commands, 1);
        for bad in ["0", "x", "1001", "-1"] {
            let e = parse(&["--max-commands", bad]).unwrap_err().to_string();
            assert!(
                e.contains("bad value") && e.contains("--max-commands"),
                "{e}"
            );
        }
        let e = parse(&["--max-commands"]).unwrap_err().to_string();
        assert_eq!(e, "option --max-commands needs a value");
    }
}
