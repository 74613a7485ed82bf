//! `rgetty`'s lifecycle: carries out each [`State`] and moves to the next (mgetty §4–§6).

use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::callerid::{CallInfo, ModemAction, NmbrRule, RingLine, RingReader};
use crate::chat::{self, printable};
use crate::config::login::{LoginName, Table};
use crate::config::mgetty::{Profile, RingPatternsPerms, Settings};
use crate::config::{dialin, xringd};
use crate::issue::{self, Facts, IssueSource};
use crate::lock::{Holder, Lock, LockDir, LockError, Naming};
use crate::logging::{self, AUDIT};
use crate::logname::{self, Editor, EditorConfig, Outcome};
use crate::ring::{Matcher, MatcherOptions};
use crate::tty::{self, FinalMode, Flow};
use crate::utmp::{Kind, UtmpFiles};

use super::chatio::{ChatCtx, ChatOutcome, mdm_command, run_chat};
use super::cli::{Cli, Paths, dev_id, device_name, infix};
use super::line::{Line, Signals, Wake, sleep};
use super::state::{Call, Login, State};

/// Everything one rgetty run works with.
struct Getty {
    cli: Cli,
    paths: Paths,
    /// mgetty's Device (`ttyS0`, `pts/3`).
    device: String,
    dev_path: PathBuf,
    settings: Settings,
    sig: Signals,
    locks: LockDir,
    lock: Option<Lock>,
    line: Option<Line>,
    ctx: ChatCtx,
    utmp: UtmpFiles,
    ring_reader: RingReader,
    patterns: Option<xringd::PatternFile>,
    epoch: Instant,
    inotify: Option<nix::sys::inotify::Inotify>,
}

fn secs(f: f64) -> Duration {
    Duration::try_from_secs_f64(f.max(0.0)).unwrap_or(Duration::MAX)
}

/// Run rgetty with these arguments (from `main`) and return the exit code.
pub fn main_with(args: Vec<String>) -> i32 {
    use clap::Parser;
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp => 0,
                _ => 2,
            };
        }
    };
    run(cli)
}

/// Run rgetty and return the exit code (mgetty's table, §1).
pub fn run(cli: Cli) -> i32 {
    if cli.gettydefs.is_some() {
        eprintln_safe("rgetty: gettydefs not supported");
        return 2;
    }
    if cli.version {
        print_version(&cli);
        return 0;
    }
    if cli.check {
        return check(&cli);
    }
    let Some(tty_arg) = cli.tty.clone() else {
        eprintln_safe("rgetty: no line given\nUsage: rgetty [options] tty");
        return 2;
    };
    let device = device_name(&tty_arg);
    let id = dev_id(&device);
    let paths = cli.paths(&id);
    let early_level = cli
        .debug
        .as_deref()
        .and_then(crate::config::mgetty::parse_int)
        .map_or(4, |n| u8::try_from(n.clamp(0, 9)).unwrap_or(4));
    // The package cannot ship the empty log directory: create it (best effort).
    if let Some(dir) = paths.log_file.parent() {
        let _ = fs::create_dir_all(dir);
    }
    logging::init(logging::LogSetup {
        file: Some(paths.log_file.clone()),
        level: early_level,
        infix: infix(&device),
        ident: "rgetty".into(),
        stderr: false,
        syslog: true,
        syslog_socket: cli.syslog_socket.clone(),
    });
    let settings = match load_settings(&cli, &device) {
        Ok(s) => s,
        Err(code) => return code,
    };
    logging::set_level(settings.debug);
    let sig = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot install signal handlers: {e}");
            return 30;
        }
    };
    let naming = match cli.profile {
        Profile::Upstream => Naming::Upstream,
        Profile::Debian => Naming::Debian,
    };
    let mut g = Getty {
        locks: LockDir::new(&paths.lock_dir, naming),
        utmp: UtmpFiles {
            utmp: paths.utmp.clone(),
            wtmp: paths.wtmp.clone(),
        },
        dev_path: tty::device_path(&device),
        ring_reader: RingReader::new(match cli.profile {
            Profile::Upstream => NmbrRule::Upstream,
            Profile::Debian => NmbrRule::Debian,
        }),
        cli,
        paths,
        device,
        settings,
        sig,
        lock: None,
        line: None,
        ctx: ChatCtx::default(),
        patterns: None,
        epoch: Instant::now(),
        inotify: None,
    };
    g.run()
}

/// Print to stderr without panicking when stderr is closed.
fn eprintln_safe(msg: &str) {
    use std::io::Write;
    let _ = writeln!(io::stderr(), "{msg}");
}

fn print_version(cli: &Cli) {
    use std::io::Write;
    let dev = cli
        .tty
        .as_deref()
        .map_or("<DevID>".to_string(), |t| dev_id(&device_name(t)));
    let p = cli.paths(&dev);
    let mut out = io::stdout();
    let _ = writeln!(out, "rgetty {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "profile: {}", cli.profile);
    let _ = writeln!(
        out,
        "config: {}",
        p.config_dir.join("mgetty.config").display()
    );
    let _ = writeln!(
        out,
        "login config: {}",
        p.config_dir.join("login.config").display()
    );
    let _ = writeln!(
        out,
        "dialin config: {}",
        p.config_dir.join("dialin.config").display()
    );
    let _ = writeln!(out, "log file: {}", p.log_file.display());
    let _ = writeln!(out, "lock dir: {}", p.lock_dir.display());
    let _ = writeln!(out, "pid file: {}", p.pid_file.display());
    let _ = writeln!(out, "utmp: {}", p.utmp.display());
    let _ = writeln!(out, "wtmp: {}", p.wtmp.display());
    let _ = writeln!(out, "nologin file: {}", p.nologin_file.display());
}

/// Built-in defaults < mgetty.config < command line; config errors are logged with
/// file:line and the line is ignored, as mgetty does. An invalid speed exits 2.
fn load_settings(cli: &Cli, device: &str) -> Result<Settings, i32> {
    let mut s = Settings::defaults(cli.profile);
    let mut overridden = Vec::new();
    for (k, v) in cli.overrides() {
        if let Err(e) = s.set(k, &v) {
            log::error!("command line: {e}");
            eprintln_safe(&format!("rgetty: {e}"));
            return Err(2);
        }
        overridden.push(k);
    }
    let path = cli.config_dir.join("mgetty.config");
    match fs::read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let parsed =
                crate::config::mgetty::apply_text(&text, &path, device, &mut s, &overridden);
            for e in &parsed.errors {
                log::error!("{e}");
            }
            for (loc, kw) in &parsed.ignored {
                log::info!("{loc}: keyword {kw:?} accepted and ignored (fax/voice)");
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            log::warn!("no config file found: {}", path.display());
        }
        Err(e) => log::error!("cannot read {}: {e}", path.display()),
    }
    match s.sanitize() {
        Ok(notes) => {
            for n in notes {
                log::debug!("{n}");
            }
        }
        Err(e) => {
            log::error!("{e}");
            eprintln_safe(&format!("rgetty: {e}"));
            return Err(2);
        }
    }
    if is_getty_name() {
        s.blocking = true;
        s.direct = true;
    }
    if let Some(t) = cli.modem_check_interval {
        s.modem_check_time_s = t;
    }
    for (k, v) in s.describe() {
        log::debug!("key: '{k}', data={v:?}");
    }
    Ok(s)
}

/// mgetty forces `blocking` and `direct` when called as `getty`.
fn is_getty_name() -> bool {
    std::env::args()
        .next()
        .is_some_and(|a| Path::new(&a).file_name().is_some_and(|n| n == "getty"))
}

/// The file mode problem of a root-only file, if any (login.config, ring patterns).
fn perms_problem(path: &Path) -> Option<String> {
    let meta = fs::metadata(path).ok()?;
    if meta.uid() != 0 || meta.mode() & 0o077 != 0 {
        Some(format!(
            "{}: wrong permissions (owner uid {}, mode {:04o}): must be owned by root and not accessible by group or others",
            path.display(),
            meta.uid(),
            meta.mode() & 0o7777
        ))
    } else {
        None
    }
}

/// `rgetty --check`: parse every config file rgetty would read; exit 0 or 2.
fn check(cli: &Cli) -> i32 {
    let mut errors = 0;
    let report = |msg: String| {
        eprintln_safe(&format!("rgetty: {msg}"));
    };
    let path = cli.config_dir.join("mgetty.config");
    let mut settings = Settings::defaults(cli.profile);
    match fs::read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let parsed = crate::config::mgetty::check_text(&text, &path);
            for e in &parsed.errors {
                report(e.to_string());
                errors += 1;
            }
            let device = cli.tty.as_deref().map(device_name).unwrap_or_default();
            let _ = crate::config::mgetty::apply_text(&text, &path, &device, &mut settings, &[]);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            report(format!(
                "warning: {} not found, using defaults",
                path.display()
            ));
        }
        Err(e) => {
            report(format!("{}: {e}", path.display()));
            errors += 1;
        }
    }
    for (k, v) in cli.overrides() {
        if let Err(e) = settings.set(k, &v) {
            report(format!("command line: {e}"));
            errors += 1;
        }
    }
    if let Err(e) = settings.sanitize() {
        report(e);
        errors += 1;
    }
    let login = resolve_login_config(&cli.config_dir, &settings);
    match fs::read(&login) {
        Ok(bytes) => {
            let (_, errs) = Table::parse(&String::from_utf8_lossy(&bytes), &login);
            for e in errs {
                report(e.to_string());
                errors += 1;
            }
            if let Some(p) = perms_problem(&login) {
                report(format!("warning: {p}; it would be ignored"));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            report(format!("{}: {e}", login.display()));
            errors += 1;
        }
    }
    if let Some(configured) = &settings.ring_patterns {
        let rp = if configured.is_absolute() {
            configured.clone()
        } else {
            cli.config_dir.join(configured)
        };
        match fs::read(&rp) {
            Ok(bytes) => {
                let (file, errs) = xringd::parse(&String::from_utf8_lossy(&bytes), &rp);
                for e in errs {
                    report(e.to_string());
                    errors += 1;
                }
                for p in crate::ring::unreachable_patterns(&file.patterns, settings.rings) {
                    report(format!(
                        "warning: {}: pattern needs {} rings but rings is {}: the call is answered first, so it can never fire (set rings to {} or more)",
                        p.loc,
                        p.rings(),
                        settings.rings,
                        p.rings() + 1
                    ));
                }
                if let Some(p) = perms_problem(&rp) {
                    report(match settings.ring_patterns_perms {
                        RingPatternsPerms::Refuse => format!(
                            "warning: {p}; rgetty would refuse it (ring-patterns-perms refuse)"
                        ),
                        RingPatternsPerms::Warn => {
                            format!("warning: {p}; used anyway (ring-patterns-perms warn)")
                        }
                    });
                }
            }
            Err(e) => {
                report(format!("{}: {e}", rp.display()));
                errors += 1;
            }
        }
    }
    if errors > 0 { 2 } else { 0 }
}

fn resolve_login_config(config_dir: &Path, s: &Settings) -> PathBuf {
    let f = Path::new(&s.login_conf_file);
    if f.is_absolute() {
        f.to_path_buf()
    } else {
        config_dir.join(f)
    }
}

impl Getty {
    fn pid(&self) -> u32 {
        std::process::id()
    }

    fn line(&self) -> io::Result<&Line> {
        open_line(&self.line)
    }

    fn run(&mut self) -> i32 {
        log::info!("rgetty: {} on {}", env!("CARGO_PKG_VERSION"), self.device);
        log::debug!(
            "pid={} ppid={} uid={}",
            self.pid(),
            nix::unistd::getppid(),
            nix::unistd::getuid()
        );
        if let Err(e) = write_pid_file(&self.paths.pid_file) {
            log::warn!(
                "cannot write pid file {}: {e}",
                self.paths.pid_file.display()
            );
        }
        let mut state = State::Start;
        loop {
            let from = state.name();
            state = match self.step(state) {
                Ok(s) => s,
                Err(e) => {
                    log::error!("{e}");
                    State::Exit(if self.lock.is_some() { 10 } else { 30 })
                }
            };
            if let State::Exit(code) = state {
                log::info!("{from} -> exit {code}");
                self.lock = None;
                return code;
            }
            log::info!("{from} -> {}", state.name());
        }
    }

    fn step(&mut self, state: State) -> io::Result<State> {
        if let Some(n) = self.sig.term_signal() {
            return Ok(self.goodbye_signal(n));
        }
        match state {
            State::Start => self.start(),
            State::Waiting => self.waiting(),
            State::Dialout(holder) => Ok(self.dialout(&holder)),
            State::CheckModem => self.check_modem(),
            State::WaitRings(call) => self.wait_rings(call),
            State::NoLogin(call) => self.nologin(call),
            State::Answer(call) => self.answer(call),
            State::GetLogin(call) => self.get_login(call),
            State::Dispatch(call, login) => Ok(self.dispatch(&call, &login)),
            State::Jail => self.jail(),
            State::Exit(code) => Ok(State::Exit(code)),
        }
    }

    fn goodbye_signal(&mut self, n: i32) -> State {
        log::warn!(
            target: AUDIT,
            "failed dev={}, pid={}, got signal {n}, exiting",
            self.device,
            self.pid()
        );
        State::Exit(10)
    }

    // ---------------------------------------------------------------- start-up (§4.1)

    fn start(&mut self) -> io::Result<State> {
        log::info!("check for lockfiles");
        if let Some(holder) = self.locks.check(&self.dev_path) {
            return Ok(State::Dialout(holder));
        }
        log::info!("locking the line");
        match self.locks.acquire(&self.dev_path) {
            Ok(l) => self.lock = Some(l),
            Err(LockError::Held { holder, .. }) => return Ok(State::Dialout(holder)),
            Err(e) => {
                log::error!("cannot lock {}: {e}", self.device);
                return Ok(self.init_failed(1));
            }
        }
        self.set_port_owner();
        let fd = match tty::open_line(&self.dev_path, self.settings.blocking) {
            Ok(fd) => fd,
            Err(e) => {
                log::error!("{e}");
                return Ok(self.init_failed(30));
            }
        };
        // Someone using flock(2) only (picocom, tio) owns the line: step aside unseen.
        if let Err(holder) = crate::lock::claim_flock(&fd, &self.dev_path) {
            self.release_lock();
            return Ok(State::Dialout(holder));
        }
        let line = Line::new(fd);
        match tty::modem_lines(&line) {
            Ok(Some(ml)) => {
                if ml.dcd {
                    log::warn!(
                        "WARNING: DCD line up before modem init (check modem settings, AT&Dx)"
                    );
                }
                if !ml.dsr {
                    log::warn!("WARNING: DSR is off - modem turned off or bad cable?");
                }
            }
            Ok(None) => log::info!("{}: no modem control lines (a pty?)", self.device),
            Err(e) => log::warn!("{e}"),
        }
        if self.settings.toggle_dtr {
            log::info!("lowering DTR to reset Modem");
            match tty::set_dtr(&line, false) {
                Ok(true) => {
                    std::thread::sleep(Duration::from_millis(self.settings.toggle_dtr_waittime_ms));
                    let _ = tty::set_dtr(&line, true);
                }
                Ok(false) => {} // no DTR on this device: nothing to wait for
                Err(e) => log::warn!("{e}"),
            }
        }
        if let Err(e) = tty::set_modem_mode(&line, self.settings.speed, Flow::Hard, true)
            .or_else(|_| tty::set_modem_mode(&line, self.settings.speed, Flow::Hard, true))
        {
            log::error!("cannot set up {}: {e}", self.device);
            return Ok(self.init_failed(30));
        }
        self.line = Some(line);
        if let Some(ms) = self.settings.open_delay_ms {
            sleep(&self.sig, Duration::from_millis(ms));
        }
        self.clean_line(Duration::from_millis(100), Duration::from_secs(2))?;
        if !self.settings.direct {
            if !self.init_modem()? {
                if let Some(n) = self.sig.term_signal() {
                    return Ok(self.goodbye_signal(n));
                }
                log::warn!(
                    target: AUDIT,
                    "failed in mg_init_data, dev={}, pid={}",
                    self.device,
                    self.pid()
                );
                if let Ok(l) = self.line() {
                    let _ = tty::flush(l, tty::Queue::Both);
                }
                return Ok(self.init_failed(1));
            }
            self.post_init()?;
        }
        self.clean_line(Duration::from_millis(300), Duration::from_secs(3))?;
        let _ = fs::remove_file(&self.paths.fail_file);
        self.release_lock();
        Ok(State::Waiting)
    }

    fn set_port_owner(&self) {
        use nix::unistd::{Group, User, chown};
        let s = &self.settings;
        let owner = s.port_owner.trim();
        let user = owner.parse::<u32>().ok().map_or_else(
            || User::from_name(owner).ok().flatten(),
            |uid| User::from_uid(uid.into()).ok().flatten(),
        );
        let (uid, primary_gid) = match &user {
            Some(u) => (u.uid, Some(u.gid)),
            None => {
                log::error!("port-owner {owner:?} unknown, using uid 0");
                (0.into(), None)
            }
        };
        let gid = s
            .port_group
            .as_deref()
            .map(str::trim)
            .and_then(|g| {
                g.parse::<u32>().ok().map_or_else(
                    || Group::from_name(g).ok().flatten().map(|g| g.gid),
                    |n| Some(n.into()),
                )
            })
            .or(primary_gid);
        if let Err(e) = chown(&self.dev_path, Some(uid), gid) {
            log::warn!("cannot chown {}: {e}", self.dev_path.display());
        }
        if let Err(e) = fs::set_permissions(&self.dev_path, fs::Permissions::from_mode(s.port_mode))
        {
            log::warn!("cannot chmod {}: {e}", self.dev_path.display());
        }
    }

    /// Count a start-up failure in the run dir; after `--backoff-after` failures in a row,
    /// sleep (doubling, up to `--backoff-max`) so that init does not respawn us in a loop.
    fn init_failed(&mut self, code: i32) -> State {
        self.release_lock();
        let n = fs::read_to_string(&self.paths.fail_file)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(0)
            + 1;
        let _ = fs::write(&self.paths.fail_file, format!("{n}\n"));
        if n >= self.cli.backoff_after {
            let exp = (n - self.cli.backoff_after).min(16);
            let wait = (f64::from(1u32 << exp)).min(self.cli.backoff_max.max(0.0));
            log::warn!("{n} start-up failures in a row: sleeping {wait:.1}s before exiting");
            sleep(&self.sig, secs(wait));
        }
        State::Exit(code)
    }

    fn release_lock(&mut self) {
        if let Some(l) = self.lock.take() {
            l.release();
        }
        if let Some(line) = &self.line {
            let _ = tty::unflock(line);
        }
    }

    /// Take the lock files and the flock on the open line; the foreign owner if there is one.
    fn lock_line(&mut self) -> Result<Option<Holder>, LockError> {
        match self.locks.acquire(&self.dev_path) {
            Ok(l) => self.lock = Some(l),
            Err(LockError::Held { holder, .. }) => return Ok(Some(holder)),
            Err(e) => return Err(e),
        }
        if let Some(line) = &self.line {
            if let Err(holder) = crate::lock::claim_flock(line, &self.dev_path) {
                self.release_lock();
                return Ok(Some(holder));
            }
        }
        Ok(None)
    }

    fn clean_line(&self, silence: Duration, max: Duration) -> io::Result<()> {
        let got = self.line()?.drain_silence(&self.sig, silence, max);
        if !got.is_empty() {
            log::debug!("clean line: discarded {}", printable(&got));
        }
        Ok(())
    }

    /// init-chat; on a timeout force-init-chat and one more init-chat (§3.3).
    fn init_modem(&mut self) -> io::Result<bool> {
        let timeout = secs(self.cli.init_chat_timeout);
        let script = chat::parse_chat(&self.settings.init_chat);
        match self.chat(&script, chat::INIT_ABORTS, timeout)? {
            ChatOutcome::Ok => return Ok(true),
            ChatOutcome::Timeout { .. } => {}
            ChatOutcome::Abort(i) => {
                log::error!(
                    "init chat failed: modem said {:?}",
                    chat::INIT_ABORTS
                        .get(i)
                        .map(|a| printable(a))
                        .unwrap_or_default()
                );
                return Ok(false);
            }
            ChatOutcome::Signal | ChatOutcome::Hangup => return Ok(false),
        }
        log::warn!("init chat timed out, trying force-init-chat");
        let force = chat::parse_chat(&self.settings.force_init_chat);
        match self.chat(&force, chat::INIT_ABORTS, timeout)? {
            ChatOutcome::Ok | ChatOutcome::Abort(_) => {}
            _ => return Ok(false),
        }
        self.clean_line(Duration::from_millis(300), Duration::from_secs(3))?;
        Ok(self.chat(&script, chat::INIT_ABORTS, timeout)? == ChatOutcome::Ok)
    }

    fn post_init(&mut self) -> io::Result<()> {
        for raw in [
            self.settings.statistics_chat.clone(),
            self.settings.post_init_chat.clone(),
        ]
        .into_iter()
        .flatten()
        {
            let script = chat::parse_chat(&raw);
            let r = self.chat(&script, &[], chat::AUX_CHAT_TIMEOUT)?;
            if r != ChatOutcome::Ok {
                log::warn!("post-init chat: {r:?} (ignored)");
            }
        }
        Ok(())
    }

    fn chat(
        &mut self,
        script: &chat::Script,
        aborts: &[&[u8]],
        timeout: Duration,
    ) -> io::Result<ChatOutcome> {
        let mut info = CallInfo::default();
        self.chat_with(script, aborts, timeout, &mut info)
    }

    fn chat_with(
        &mut self,
        script: &chat::Script,
        aborts: &[&[u8]],
        timeout: Duration,
        info: &mut CallInfo,
    ) -> io::Result<ChatOutcome> {
        let line = open_line(&self.line)?;
        run_chat(
            line,
            &self.sig,
            &mut self.ctx,
            info,
            script,
            aborts,
            timeout,
        )
    }

    fn mdm(&mut self, cmd: &str) -> io::Result<Option<bool>> {
        let line = open_line(&self.line)?;
        mdm_command(
            line,
            &self.sig,
            &mut self.ctx,
            cmd,
            chat::MDM_COMMAND_TIMEOUT,
        )
    }

    // ---------------------------------------------------------------- waiting (§4.3)

    fn waiting(&mut self) -> io::Result<State> {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        log::info!("waiting...");
        self.sig.clear_hangup();
        // Kept open for the whole run: closing an inotify instance waits for an RCU grace
        // period, which would delay the ATA after the first RING by 15-25 ms.
        if self.inotify.is_none() {
            self.inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok();
            if let Some(ino) = &self.inotify {
                if let Err(e) = ino.add_watch(
                    self.locks.dir(),
                    AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO,
                ) {
                    log::debug!("no inotify watch on {}: {e}", self.locks.dir().display());
                }
            }
        }
        let inotify = self.inotify.take();
        let mut trimmed = false;
        let check_modem = self.settings.modem_check_time_s >= 0 && !self.settings.direct;
        let deadline = check_modem.then(|| {
            Instant::now() + Duration::from_secs(self.settings.modem_check_time_s.unsigned_abs())
        });
        loop {
            if self.settings.blocking {
                break;
            }
            let line = self.line()?;
            if !trimmed {
                // Last thing before the long wait: what runs after this faults back in.
                crate::idle::trim_text_pages();
                trimmed = true;
            }
            let wake = line.wait(&self.sig, inotify.as_ref().map(AsFd::as_fd), deadline)?;
            match wake {
                Wake::Readable | Wake::Hangup => break,
                Wake::Timeout => return Ok(State::CheckModem),
                Wake::Extra => {
                    if let Some(ino) = &inotify {
                        let _ = ino.read_events();
                    }
                    if let Some(holder) = self.locks.check(&self.dev_path) {
                        return Ok(State::Dialout(holder));
                    }
                }
                Wake::Signal => {
                    if let Some(n) = self.sig.term_signal() {
                        return Ok(self.goodbye_signal(n));
                    }
                    if self.sig.usr2() {
                        log::warn!(
                            target: AUDIT,
                            "exit dev={}, pid={}, got signal USR2, exiting",
                            self.device,
                            self.pid()
                        );
                        return Ok(State::Exit(0));
                    }
                    if self.sig.virtual_ring() {
                        break;
                    }
                    self.sig.clear_hangup();
                }
            }
        }
        self.inotify = inotify;
        // Activity: take the lock, or yield to the dial-out that has it.
        match self.lock_line() {
            Ok(None) => {}
            Ok(Some(holder)) => return Ok(State::Dialout(holder)),
            Err(e) => {
                log::error!("cannot lock {}: {e}", self.device);
                return Ok(State::Exit(1));
            }
        }
        // From now on SIGHUP (carrier loss) ends the call.
        self.sig.clear_hangup();
        let call = Call::default();
        if self.paths.nologin_file.exists() {
            return Ok(State::NoLogin(call));
        }
        if self.settings.direct {
            let mut call = call;
            call.info.connect = "DIRECT".into();
            return Ok(State::GetLogin(call));
        }
        Ok(State::WaitRings(call))
    }

    fn dialout(&mut self, holder: &Holder) -> State {
        log::info!("dialout in progress: {:?}", holder.cmdline);
        let host: String = holder.cmdline.chars().take(59).collect();
        if let Err(e) = self.utmp.update(Kind::User, "dialout", &host, &self.device) {
            log::debug!("utmp: {e}");
        }
        // Let go of the tty so the dialer has it to itself.
        self.line = None;
        self.lock = None;
        loop {
            let sig = &self.sig;
            if !self
                .locks
                .wait_until_free_unless(&self.dev_path, Duration::from_secs(10), &|| {
                    sig.term_signal().is_some()
                })
            {
                return self.goodbye_signal(self.sig.term_signal().unwrap_or(15));
            }
            sleep(&self.sig, secs(self.cli.dialout_grace));
            if let Some(n) = self.sig.term_signal() {
                return self.goodbye_signal(n);
            }
            if self.locks.check(&self.dev_path).is_none() {
                log::info!("dialout finished, exiting so that init restarts us");
                return State::Exit(0);
            }
        }
    }

    fn check_modem(&mut self) -> io::Result<State> {
        log::info!("checking if modem is still alive");
        match self.lock_line() {
            Ok(None) => {}
            Ok(Some(holder)) => return Ok(State::Dialout(holder)),
            Err(e) => {
                log::error!("cannot lock {}: {e}", self.device);
                return Ok(State::Waiting);
            }
        }
        for _ in 0..2 {
            if self.mdm("AT")? == Some(true) {
                return Ok(State::Jail);
            }
        }
        log::error!("modem on dev={} doesn't react!", self.device);
        Ok(State::Exit(30))
    }

    fn jail(&mut self) -> io::Result<State> {
        // mgetty never clears its SIGUSR1 flag; after a call that ends here that would wake
        // WAITING at once, forever.
        self.sig.clear_virtual_ring();
        self.ring_reader.new_call();
        self.ctx.splitter.clear();
        self.clean_line(Duration::from_millis(300), Duration::from_secs(3))?;
        self.release_lock();
        Ok(State::Waiting)
    }

    // ---------------------------------------------------------------- rings (§4.4)

    /// Read the `ring-patterns` file, once per process (relative names are relative to the
    /// config dir, like `login-conf-file`).
    ///
    /// The file is a secret: a cadence is a password that anyone who can phone the line can
    /// replay. When it is not owned by root or group or others have any access to it, it is
    /// refused (`ring-patterns-perms refuse`, the default: cadence matching stays off and calls
    /// are answered after `rings` as usual) or used with a warning (`warn`). Owner and mode are
    /// taken from the opened file, so what is checked is what is read. A refused or unreadable
    /// file is tried again (and logged again) at the next call.
    fn load_patterns(&mut self) {
        let Some(configured) = self.settings.ring_patterns.clone() else {
            return;
        };
        if self.patterns.is_some() {
            return;
        }
        let path = if configured.is_absolute() {
            configured
        } else {
            self.paths.config_dir.join(configured)
        };
        let read = fs::File::open(&path).and_then(|mut f| {
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
                return;
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
                    return;
                }
                RingPatternsPerms::Warn => log::warn!(
                    "WARNING: ring patterns used although {problem} (ring-patterns-perms warn): anyone who can read the file can replay its cadences"
                ),
            }
        }
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
        self.patterns = Some(file);
    }

    /// mgetty's environment for cid/cnd programs and the login program: the call's data
    /// (CALLER_ID, CONNECT, CALL_DATE, …) plus DEVICE.
    fn call_env(&self, call: &Call) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = call
            .info
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        env.push(("DEVICE".into(), self.device.clone()));
        env
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// The environment of a ring command (the per-ring `-a` command or a pattern's command):
    /// exactly `CALLER_ID` (`none` when the modem sent no caller ID), `DEVICE` and `extra`
    /// (`RING_COUNT`, `RING_TIMES`). Caller data reaches commands only this way, never in the
    /// command text.
    fn ring_env(
        &self,
        call: &Call,
        extra: &[(&'static str, String)],
    ) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("CALLER_ID", call.info.caller_id.clone()),
            ("DEVICE", self.device.clone()),
        ];
        env.extend(extra.iter().cloned());
        env
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
    fn next_ring(
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
                    until = self.epoch.checked_add(d).or(deadline);
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
                    if let Some(ev) = self.ring_reader.feed(buf[0], &mut call.info, &msn) {
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

    /// Count RINGs up to the `rings` threshold, feeding each one to the cadence matcher.
    ///
    /// The threshold wins: on the `rings`-th RING the call is answered even when a cadence is
    /// still under way, so a pattern of N rings can only fire with `rings` above N (the log at
    /// load time and `rgetty --check` warn about the others). A shorter pattern cannot be
    /// cut off this way: the RING that reaches the threshold breaks its silence anyway.
    fn wait_rings(&mut self, mut call: Call) -> io::Result<State> {
        self.load_patterns();
        // The matcher starts afresh for each call. xringd's -t (ignore rings after start-up)
        // and -i (merge RI double beeps) do not apply to RING text: both stay off.
        let mut matcher = self
            .patterns
            .as_ref()
            .map(|f| Matcher::new(&f.patterns, MatcherOptions::default(), self.now()));
        let per_ring = self
            .patterns
            .as_ref()
            .and_then(|f| f.options.ring_command.clone());
        // When each RING of this call came (for the per-ring command's RING_TIMES).
        let mut seen: Vec<Duration> = Vec::new();
        let ring_timeout = secs(self.cli.ring_timeout);
        let mut wanted = self.settings.rings.max(1);
        let mut cid_done = false;
        if self.settings.ringback {
            // Ring-twice: let the first call ring out, then answer the next one at once.
            loop {
                // mgetty waits 17 s for the next ring of the first call (1.7 ring timeouts).
                match self.next_ring(&mut call, secs(self.cli.ring_timeout * 1.7), None)? {
                    Ok(RingLine::Ring { .. }) => call.rings += 1,
                    Ok(RingLine::Action(a)) => return self.ring_action(call, a),
                    Ok(RingLine::Other) => {}
                    Err(RingWait::Timeout) => break,
                    Err(w) => return Ok(self.ring_wait_end(call, w)),
                }
            }
            log::info!(
                "ringback: phone stopped after {} RINGs, waiting for re-ring",
                call.rings
            );
            call.rings = 0;
        }
        while call.rings < wanted {
            let timeout = if self.settings.ringback && call.rings == 0 {
                Duration::from_secs(self.settings.ringback_time_s)
            } else {
                ring_timeout
            };
            let mut phone_ring = true;
            let ev = self.next_ring(
                &mut call,
                timeout,
                matcher.as_mut().map(|m| (m, &mut phone_ring)),
            )?;
            match ev {
                Ok(RingLine::Ring { dist }) => {
                    // A dial-out that got hold of the line meanwhile wins over the call.
                    if let Some(holder) = self.locks.check(&self.dev_path) {
                        return Ok(State::Dialout(holder));
                    }
                    let now = self.now();
                    call.rings += 1;
                    call.dist = dist;
                    log::info!(
                        "RING #{} (dist {dist}, caller {:?})",
                        call.rings,
                        call.info.caller_id
                    );
                    if !phone_ring {
                        // Counts towards `rings` as in mgetty, but the phone did not ring.
                        log::debug!("ring patterns: a caller-ID line, not a ring of a cadence");
                    } else {
                        seen.push(now);
                        if let Some(cmd) = &per_ring {
                            let first = seen.first().copied().unwrap_or(now);
                            let times: Vec<Duration> =
                                seen.iter().map(|t| t.saturating_sub(first)).collect();
                            let env = self.ring_env(
                                &call,
                                &[
                                    ("RING_COUNT", seen.len().to_string()),
                                    ("RING_TIMES", crate::ring::format_ring_times(&times)),
                                ],
                            );
                            log::debug!("running the per-ring command {cmd:?}");
                            if let Err(e) = crate::ringd::spawn_detached(cmd, &env) {
                                log::error!("cannot run the per-ring command {cmd:?}: {e}");
                            }
                        }
                        if let Some(m) = matcher.as_mut() {
                            let rung = m.ring(now);
                            if let Some(f) = rung.fired {
                                // Its silence had ended before this RING was read: it matched.
                                return Ok(self.ring_wait_end(call, RingWait::Cadence(f)));
                            }
                            log::debug!("ring patterns: {:?}", rung.outcome);
                        }
                    }
                }
                Ok(RingLine::Action(a)) => return self.ring_action(call, a),
                Ok(RingLine::Other) => continue,
                Err(RingWait::Timeout) if call.rings == 0 => {
                    if self.settings.ringback {
                        log::warn!(target: AUDIT, "missed ringback!");
                        return Ok(State::Jail);
                    }
                    log::warn!("huh? Junk on the line?");
                    log::warn!(
                        " >>> could be a dial-out program without proper locking - check this!"
                    );
                    return Ok(State::Exit(0));
                }
                Err(w) => return Ok(self.ring_wait_end(call, w)),
            }
            if !cid_done
                && (call.rings >= 2
                    || !call.info.call_name.is_empty()
                    || call.info.caller_id != "none")
            {
                if let Some(prog) = self.settings.cid_program.clone() {
                    cid_done = true;
                    if let Some(n) = self.run_screen_program(&prog, &call) {
                        if n > 10 {
                            wanted = u32::try_from(n - 10).unwrap_or(wanted);
                            log::info!("cid-program: answer after {wanted} rings");
                        }
                    }
                }
            }
            if self.paths.nologin_file.exists() {
                return Ok(State::NoLogin(call));
            }
        }
        if let Some(m) = matcher.as_ref().filter(|m| m.could_still_match()) {
            log::info!(
                "answering at RING #{}: the rings threshold wins over the cadence under way ({} rings so far)",
                call.rings,
                m.ring_count()
            );
        }
        Ok(State::Answer(call))
    }

    fn ring_wait_end(&mut self, call: Call, w: RingWait) -> State {
        match w {
            RingWait::Signal(n) => self.goodbye_signal(n),
            RingWait::Hangup => {
                log::warn!("line hung up while waiting for RING");
                State::Exit(10)
            }
            RingWait::Timeout => {
                log::warn!(
                    target: AUDIT,
                    "phone stopped ringing (rings={}, dev={}, pid={}, caller='{}')",
                    call.rings,
                    self.device,
                    self.pid(),
                    call.info.caller_id
                );
                State::Jail
            }
            RingWait::Cadence(f) => {
                log::info!(
                    "ring pattern {} matched ({} rings at {} s): running {:?}, call not answered",
                    f.loc,
                    f.ring_count(),
                    f.ring_times_env(),
                    f.command
                );
                let env = self.ring_env(
                    &call,
                    &[
                        ("RING_COUNT", f.ring_count().to_string()),
                        ("RING_TIMES", f.ring_times_env()),
                    ],
                );
                // Detached: own session, stdin and output on /dev/null, reaped by a thread;
                // the getty goes on at once.
                match crate::ringd::spawn_detached(&f.command, &env) {
                    Ok(pid) => log::debug!("ring pattern command: pid {pid}"),
                    Err(e) => log::error!("cannot run ring pattern command {:?}: {e}", f.command),
                }
                State::Jail
            }
        }
    }

    fn ring_action(&mut self, call: Call, a: ModemAction) -> io::Result<State> {
        log::info!("found action string: ``{}''", a.text());
        match a {
            ModemAction::Connect => {
                if let Ok(l) = self.line() {
                    if let Err(e) = tty::make_controlling(l) {
                        log::warn!("{e}");
                    }
                }
                Ok(State::GetLogin(call))
            }
            a if a.is_fax() => {
                log::error!(
                    "fax call on {}, but rgetty has no fax support: hanging up",
                    self.device
                );
                let _ = self.mdm("ATH0");
                Ok(State::Exit(0))
            }
            _ => {
                log::warn!(
                    target: AUDIT,
                    "failed A_FAIL dev={}, pid={}, caller='{}'",
                    self.device,
                    self.pid(),
                    call.info.caller_id
                );
                Ok(State::Exit(20))
            }
        }
    }

    fn nologin(&mut self, mut call: Call) -> io::Result<State> {
        log::info!(
            "{} exists - do not accept call!",
            self.paths.nologin_file.display()
        );
        let ring_timeout = secs(self.cli.ring_timeout);
        loop {
            match self.next_ring(&mut call, ring_timeout, None)? {
                Ok(RingLine::Ring { .. }) => {
                    call.rings += 1;
                    if !self.paths.nologin_file.exists() || self.sig.virtual_ring() {
                        return Ok(State::WaitRings(call));
                    }
                }
                Ok(RingLine::Action(ModemAction::Connect)) => {
                    self.clean_line(Duration::from_millis(500), Duration::from_secs(2))?;
                    let line = self.line()?;
                    line.write_all(b"\r\n\r\nSorry, no login allowed\r\n\r\nGoodbye...\r\n\r\n")?;
                    sleep(&self.sig, Duration::from_secs(5));
                    return Ok(State::Exit(20));
                }
                Ok(RingLine::Action(_)) => return Ok(State::Exit(20)),
                Ok(RingLine::Other) => {}
                Err(RingWait::Timeout) => {
                    log::warn!(target: AUDIT, "rejected, rings={}", call.rings);
                    return Ok(State::Jail);
                }
                Err(w) => return Ok(self.ring_wait_end(call, w)),
            }
        }
    }

    /// Run cid-program or cnd-program without a shell: the configured command (split on
    /// blanks), then Device, caller ID, name, distinctive ring and called number as separate
    /// arguments. Returns the exit code.
    fn run_screen_program(&self, prog: &str, call: &Call) -> Option<i32> {
        let mut argv = crate::exec::split_command(prog);
        if argv.is_empty() {
            return None;
        }
        argv.extend([
            self.device.clone(),
            call.info.caller_id.clone(),
            call.info.call_name.clone(),
            call.dist.to_string(),
            call.info.called_nr.clone(),
        ]);
        let env = self.call_env(call);
        log::debug!("running {argv:?}");
        match crate::exec::run_program(&argv, &env, Duration::from_secs(30)) {
            Ok(Some(st)) => st.code(),
            Ok(None) => {
                log::warn!("{argv:?} timed out and was killed");
                None
            }
            Err(e) => {
                log::error!("cannot run {:?}: {e}", argv.first());
                None
            }
        }
    }

    // ---------------------------------------------------------------- answer (§4.6, §4.7)

    fn answer(&mut self, mut call: Call) -> io::Result<State> {
        if let Some(raw) = self.settings.get_cnd_chat.clone() {
            let script = chat::parse_chat(&raw);
            let _ = self.chat_with(&script, &[], chat::AUX_CHAT_TIMEOUT, &mut call.info)?;
        }
        call.info.decode_rockwell_mesg();
        let dialin_path = self.paths.config_dir.join("dialin.config");
        let mut allowed = match fs::read(&dialin_path) {
            Ok(b) => {
                dialin::Rules::parse(&String::from_utf8_lossy(&b)).allows(&call.info.caller_id)
            }
            Err(_) => true,
        };
        if allowed {
            if let Some(prog) = self.settings.cnd_program.clone() {
                allowed = self.run_screen_program(&prog, &call) != Some(1);
            }
        }
        if !allowed {
            log::warn!(
                target: AUDIT,
                "denied caller dev={}, pid={}, caller='{}'",
                self.device,
                self.pid(),
                call.info.caller_id
            );
            self.clean_line(Duration::from_secs(8), Duration::from_secs(120))?;
            return Ok(State::Jail);
        }
        if let Err(e) = tty::make_controlling(self.line()?) {
            log::warn!("{e}");
        }
        let script = chat::parse_chat(&self.settings.answer_chat);
        let fax = !(self.settings.data_only || self.settings.modem_type.trim() == "data");
        let aborts = chat::answer_aborts(fax);
        let timeout = Duration::from_secs(self.settings.answer_chat_timeout_s);
        match self.chat_with(&script, &aborts, timeout, &mut call.info)? {
            ChatOutcome::Ok => {}
            ChatOutcome::Abort(i) if i >= chat::ANSWER_ABORTS.len() => {
                return self.ring_action(call, ModemAction::Fax);
            }
            other => {
                let why = if matches!(other, ChatOutcome::Timeout { .. }) {
                    "timeout"
                } else {
                    "A_FAIL"
                };
                log::warn!(
                    target: AUDIT,
                    "failed {why} dev={}, pid={}, caller='{}', conn='{}', name='{}'",
                    self.device,
                    self.pid(),
                    call.info.caller_id,
                    call.info.connect,
                    call.info.call_name
                );
                return Ok(State::Exit(if self.sig.hangup() { 10 } else { 1 }));
            }
        }
        if self.settings.autobauding {
            let bps = crate::speed::atoi(&call.info.connect);
            let bps = if bps == 0 { 300 } else { bps };
            if crate::speed::is_valid(bps) {
                log::info!("autobauding: switching to {bps} bps");
                if let Err(e) = tty::set_speed(self.line()?, bps) {
                    log::warn!("{e}");
                }
            } else {
                log::warn!("autobauding: cannot parse 'CONNECT {}'", call.info.connect);
            }
        }
        Ok(State::GetLogin(call))
    }

    // ---------------------------------------------------------------- login (§5)

    fn facts(&self, call: &Call) -> Facts {
        let uts = nix::sys::utsname::uname().ok();
        let s = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            uts.as_ref()
                .map(|u| f(u).to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        Facts {
            nodename: s(nix::sys::utsname::UtsName::nodename),
            sysname: s(nix::sys::utsname::UtsName::sysname),
            machine: s(nix::sys::utsname::UtsName::machine),
            release: s(nix::sys::utsname::UtsName::release),
            version: s(nix::sys::utsname::UtsName::version),
            device: self.device.clone(),
            caller_id: call.info.caller_id.clone(),
            connect: call.info.connect.clone(),
            users: self.utmp.count_users(),
            speed: self
                .line()
                .ok()
                .and_then(|l| tty::get_speed(l).ok())
                .unwrap_or(0),
            now: logging::now_local(),
        }
    }

    fn issue_bytes(&self, facts: &Facts) -> Vec<u8> {
        match IssueSource::from_setting(&self.settings.issue_file) {
            IssueSource::Literal(t) => issue::render_literal(&t, facts),
            IssueSource::File(p) => match fs::read(&p) {
                Ok(b) => issue::render_file_lines(&b, facts),
                Err(_) => Vec::new(),
            },
            IssueSource::Command(cmd) => {
                // Admin-configured (`issue-file !cmd`); runs with the line as its output.
                match std::process::Command::new("/bin/sh")
                    .arg("-c")
                    .arg(&cmd)
                    .stdin(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .output()
                {
                    Ok(o) => o.stdout,
                    Err(e) => {
                        log::error!("issue-file command {cmd:?}: {e}");
                        Vec::new()
                    }
                }
            }
        }
    }

    fn get_login(&mut self, call: Call) -> io::Result<State> {
        let line = self.line()?;
        if let Err(e) = tty::make_controlling(line) {
            log::warn!("{e}");
        }
        self.clean_line(Duration::from_millis(300), Duration::from_secs(3))?;
        let line = self.line()?;
        let clocal = self.settings.ignore_carrier;
        if clocal {
            log::warn!("warning: carrier signal is ignored");
        }
        let speed = tty::get_speed(line).unwrap_or(self.settings.speed);
        if let Err(e) = tty::set_modem_mode(line, speed, Flow::Hard, clocal) {
            log::warn!("{e}");
        }
        let host = if call.info.caller_id == "none" {
            call.info.connect.clone()
        } else {
            call.info.caller_id.clone()
        };
        if let Err(e) = self.utmp.update(Kind::Login, "LOGIN", &host, &self.device) {
            log::warn!("utmp: {e}");
        }
        sleep(
            &self.sig,
            Duration::from_millis(self.settings.prompt_waittime_ms),
        );
        let login_time = (self.settings.login_time_s > 0 && !self.settings.blocking)
            .then(|| Instant::now() + Duration::from_secs(self.settings.login_time_s));
        let mut editor = Editor::new(EditorConfig::default());
        let mut lcuc_hinted = false;
        'issue: loop {
            let facts = self.facts(&call);
            let mut out = b"\r".to_vec();
            out.extend(self.issue_bytes(&facts));
            self.line()?.write_all(&out)?;
            if let Err(e) = fs::set_permissions(&self.dev_path, fs::Permissions::from_mode(0o600)) {
                log::warn!("cannot chmod {}: {e}", self.dev_path.display());
            }
            self.line()?
                .write_all(&issue::render_prompt(&self.settings.login_prompt, &facts))?;
            let mut pending: Vec<u8> = Vec::new();
            loop {
                let step = if let Some(s) = editor.resume() {
                    s
                } else if let Some(b) = pending.pop() {
                    editor.feed(b)
                } else {
                    let mut buf = [0u8; 1];
                    match self.line()?.read_until(&self.sig, &mut buf, login_time)? {
                        Some(0) => {
                            if self.sig.hangup() {
                                return Ok(self.carrier_lost());
                            }
                            log::info!("getlogname: got EOF, exiting");
                            return Ok(State::Exit(0));
                        }
                        Some(_) => {
                            log::trace!("getlogname: got {}", printable(&buf));
                            pending.push(buf[0]);
                            continue;
                        }
                        None => {
                            if let Some(n) = self.sig.term_signal() {
                                return Ok(self.goodbye_signal(n));
                            }
                            if self.sig.hangup() {
                                return Ok(self.carrier_lost());
                            }
                            if login_time.is_some_and(|t| Instant::now() >= t) {
                                return self.login_timeout();
                            }
                            continue;
                        }
                    }
                };
                if !step.echo.is_empty() {
                    self.line()?.write_all(&step.echo)?;
                }
                match step.outcome {
                    None => {}
                    Some(Outcome::Name { name, terminator }) => {
                        self.line()?.write_all(terminator.extra_echo())?;
                        if logname::is_modem_error(&name) {
                            log::warn!(
                                target: AUDIT,
                                "failed dev={}, pid={}, got modem error '{name}'",
                                self.device,
                                self.pid()
                            );
                            return Ok(State::Exit(0));
                        }
                        // An upper-case-only terminal (mgetty's DO_LCUC_MAP): the first
                        // all-upper-case name gets a hint and a new prompt; the second is
                        // lower-cased and the terminal mapped (IUCLC, OLCUC, XCASE).
                        let upper = name.bytes().any(|b| b.is_ascii_uppercase())
                            && !name.bytes().any(|b| b.is_ascii_lowercase());
                        if upper && !lcuc_hinted {
                            lcuc_hinted = true;
                            self.line()?.write_all(
                                b"\r\nIf your terminal can do lower case letters, please use them.\r\n",
                            )?;
                            editor.reset_name();
                            let facts = self.facts(&call);
                            self.line()?.write_all(&issue::render_prompt(
                                &self.settings.login_prompt,
                                &facts,
                            ))?;
                            continue;
                        }
                        let (name, lcuc) = if upper {
                            log::info!("upper-case-only terminal: mapping case");
                            (name.to_ascii_lowercase(), true)
                        } else {
                            (name, false)
                        };
                        return Ok(State::Dispatch(call, Login::Name(name, terminator, lcuc)));
                    }
                    Some(Outcome::Empty { terminator }) => {
                        self.line()?.write_all(terminator.extra_echo())?;
                        editor.reset_name();
                        continue 'issue;
                    }
                    Some(Outcome::Reprompt) => {
                        let facts = self.facts(&call);
                        self.line()?.write_all(&issue::render_prompt(
                            &self.settings.login_prompt,
                            &facts,
                        ))?;
                    }
                    Some(Outcome::Eof) => {
                        log::info!("getlogname: got EOF, exiting");
                        return Ok(State::Exit(0));
                    }
                    Some(Outcome::AutoPpp { .. }) => {
                        log::info!("AutoPPP: LCP frame detected");
                        return Ok(State::Dispatch(call, Login::AutoPpp));
                    }
                }
            }
        }
    }

    fn carrier_lost(&mut self) -> State {
        log::warn!(
            target: AUDIT,
            "failed dev={}, pid={}, got signal 1, exiting",
            self.device,
            self.pid()
        );
        State::Exit(10)
    }

    /// rgetty hangs up when login-time expires (mgetty's documented behaviour; its select
    /// build never does, Q1).
    fn login_timeout(&mut self) -> io::Result<State> {
        let minutes = self.settings.login_time_s / 60 + 1;
        let line = self.line()?;
        let _ = line.write_all(
            format!("\r\n\x07\r\nYour login time ({minutes} minutes) ran out. Goodbye.\r\n")
                .as_bytes(),
        );
        let _ = tty::drain(line);
        log::info!("login timeout, exit.");
        log::warn!(
            target: AUDIT,
            "failed dev={}, pid={}, login time out",
            self.device,
            self.pid()
        );
        // Hang up: drop DTR (speed 0) where the device has modem lines.
        let _ = tty::set_dtr(line, false);
        Ok(State::Exit(0))
    }

    // ---------------------------------------------------------------- dispatch (§6)

    fn login_table(&self) -> Table {
        let path = resolve_login_config(&self.paths.config_dir, &self.settings);
        match fs::metadata(&path) {
            Err(e) => {
                log::info!("login.config {}: {e}; using /bin/login", path.display());
                return Table::default();
            }
            Ok(_) => {
                if let Some(p) = perms_problem(&path) {
                    log::error!("login: {p}; ignored, using /bin/login");
                    return Table::default();
                }
            }
        }
        match fs::read(&path) {
            Ok(b) => {
                let (t, errs) = Table::parse(&String::from_utf8_lossy(&b), &path);
                for e in errs {
                    log::error!("{e}");
                }
                t
            }
            Err(e) => {
                log::error!("cannot read {}: {e}", path.display());
                Table::default()
            }
        }
    }

    fn dispatch(&mut self, call: &Call, login: &Login) -> State {
        let _ = fs::remove_file(&self.paths.pid_file);
        let (lname, name_str, final_mode) = match login {
            Login::Name(n, t, lcuc) => (
                LoginName::Typed(n),
                n.clone(),
                FinalMode {
                    crlf: t.map_cr(),
                    raw: false,
                    clocal: self.settings.ignore_carrier,
                    flow: Flow::Hard,
                    lcuc: *lcuc,
                },
            ),
            Login::AutoPpp => (
                LoginName::AutoPpp,
                crate::config::login::AUTOPPP.to_string(),
                FinalMode {
                    crlf: false,
                    raw: true,
                    clocal: self.settings.ignore_carrier,
                    flow: Flow::Hard,
                    lcuc: false,
                },
            ),
        };
        if matches!(login, Login::Name(..)) && !logname::is_safe_name(&name_str) {
            log::error!("refusing unsafe login name {name_str:?}");
            return State::Exit(0);
        }
        let table = self.login_table();
        let entry = table.dispatch(&lname, false);
        let argv = entry.argv(&name_str, &call.info.connect, &call.info.caller_id);
        log::debug!("match: user={name_str:?}, line {}", entry.loc);
        if let Some(u) = &entry.userid {
            if let Err(e) = crate::exec::lookup_user(u) {
                log::error!(
                    "{}: unknown userid {u:?}: call refused (mgetty would run {:?} as root): {e}",
                    entry.loc,
                    entry.program
                );
                log::warn!(
                    target: AUDIT,
                    "failed dev={}, pid={}, unknown userid '{u}'",
                    self.device,
                    self.pid()
                );
                return State::Exit(1);
            }
        }
        if let Some(u) = entry.utmp_user(&name_str) {
            if let Err(e) = self
                .utmp
                .update(Kind::User, &u, &call.info.connect, &self.device)
            {
                log::warn!("utmp: {e}");
            }
        }
        let mut env = self.call_env(call);
        if let Some(t) = &self.settings.term {
            env.push(("TERM".into(), t.clone()));
        }
        if let Ok(l) = self.line() {
            if let Ok(Some(ml)) = tty::modem_lines(l) {
                if !ml.dcd {
                    log::warn!("WARNING: starting login while DCD is low!");
                }
            }
        }
        log::warn!(
            target: AUDIT,
            "data dev={}, pid={}, caller='{}', conn='{}', name='{}', cmd='{}', user='{}'",
            self.device,
            self.pid(),
            call.info.caller_id,
            call.info.connect,
            call.info.call_name,
            entry.program.display(),
            name_str
        );
        log::debug!(
            "calling login: cmd='{}', argv[]={argv:?}",
            entry.program.display()
        );
        let Some(line) = self.line.take() else {
            return State::Exit(30);
        };
        if let Err(e) = tty::set_final_mode(&line, final_mode) {
            log::warn!("{e}");
        }
        if let Err(e) = tty::dup_to_stdio(&line) {
            log::error!("{e}");
            return State::Exit(30);
        }
        drop(line);
        let spec = crate::exec::ExecSpec {
            program: entry.program.clone(),
            argv,
            env,
            user: entry.userid.clone(),
        };
        // The lock stays: the program inherits our pid (§7). exec only returns on failure.
        let err = crate::exec::exec(&spec);
        log::error!("cannot execute '{}': {err}", entry.program.display());
        State::Exit(255)
    }
}

/// Why a ring wait ended without a ring line.
#[derive(Debug)]
enum RingWait {
    Timeout,
    Signal(i32),
    Hangup,
    Cadence(crate::ring::Fired),
}

/// The open line, or an error once it was handed away (dial-out, exec). A free function so
/// callers can borrow other fields of `Getty` at the same time.
fn open_line(line: &Option<Line>) -> io::Result<&Line> {
    line.as_ref()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "line is not open"))
}

fn write_pid_file(path: &Path) -> io::Result<()> {
    fs::write(path, format!("{}\n", std::process::id()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
}
