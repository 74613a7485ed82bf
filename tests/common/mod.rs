//! Shared harness for the getty integration tests: a virtual modem on a pty, a temp dir for
//! every path rgetty uses, the real `rgetty` binary, and a compiled login recorder.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;
pub use support::{can_unshare_mount, copy_for_any_user, free_port, have};

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod dte;
pub mod real_mgetty;
pub mod vmodem;
pub use vmodem::{CallerId, CallerStep, InitReply, VModem};

pub const RGETTY: &str = env!("CARGO_BIN_EXE_rgetty");

/// Seconds as a Duration.
pub fn s(x: f64) -> Duration {
    Duration::from_secs_f64(x)
}

/// One getty under test.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub modem: VModem,
    pub child: Option<Child>,
    /// mgetty's Device name of the line, e.g. `pts/7`.
    pub device: String,
}

/// A minimal mgetty.config for tests: fast, root-owned port, a literal issue.
pub const BASE_CONFIG: &str = "\
port-owner root
port-group root
port-mode 0660
issue-file Welcome to \\P
login-prompt @ login:\\040
prompt-waittime 50
";

/// The `rgetty-share` binary (`rgetty-share modem` is the virtual modem on a pty).
pub const SHARE: &str = env!("CARGO_BIN_EXE_rgetty-share");

/// A child process, killed and reaped when dropped.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `rgetty-share modem --link LINK ARGS` (stderr discarded), after waiting up to 10 s for
/// its link to appear.
pub fn share_modem(link: &std::path::Path, args: &[&str]) -> Kill {
    let modem = Kill(
        Command::new(SHARE)
            .args(["modem", "--link"])
            .arg(link)
            .args(args)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let end = Instant::now() + Duration::from_secs(10);
    while !link.exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    modem
}

/// A temp dir for a getty's paths: world-readable and -writable (the login recorder may run
/// as `nobody`: it must reach its binary and output file), with the sub-dirs `dirs` and
/// `config` as `etc/mgetty.config`.
pub fn getty_dir(dirs: &[&str], config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    for d in dirs {
        fs::create_dir(dir.path().join(d)).unwrap();
    }
    fs::write(dir.path().join("etc/mgetty.config"), config).unwrap();
    dir
}

/// mgetty's Device name of the modem's line, e.g. `pts/7`.
pub fn device_name(modem: &VModem) -> String {
    modem
        .slave_path()
        .to_string_lossy()
        .trim_start_matches("/dev/")
        .to_string()
}

/// Compile the login recorder as `dir/name`: it writes what it sees (argv, ids, session,
/// tty, termios, environment) to `dir/<name>.out` and what it reads on stdin within 1.5 s to
/// `<name>.out.stdin`.
pub fn build_recorder(dir: &std::path::Path, name: &str) -> PathBuf {
    let out = dir.join(format!("{name}.out"));
    let src = dir.join(format!("{name}.c"));
    let bin = dir.join(name);
    fs::write(&src, RECORDER_C).unwrap();
    let st = Command::new("cc")
        .arg(format!("-DOUT=\"{}\"", out.display()))
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .status()
        .expect("cc (gcc) is needed to build the login recorder");
    assert!(st.success());
    bin
}

/// The lines of the recorder `name` in `dir`, or `None` if it did not run within `timeout`.
pub fn recorder_lines(dir: &std::path::Path, name: &str, timeout: Duration) -> Option<Vec<String>> {
    let out = dir.join(format!("{name}.out"));
    let end = Instant::now() + timeout;
    loop {
        if let Ok(t) = fs::read_to_string(&out) {
            return Some(t.lines().map(str::to_string).collect());
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// BASE_CONFIG's additions for answering calls: an init chat, and answer at the second RING.
pub const CALL_CONFIG: &str = "init-chat \"\" ATZ OK\nrings 2\n";

/// A harness for calls: BASE_CONFIG, CALL_CONFIG, then `extra`, on a default modem.
pub fn call_harness(extra: &str) -> Harness {
    Harness::new(
        vmodem::Config::default(),
        &format!("{BASE_CONFIG}{CALL_CONFIG}{extra}"),
    )
}

impl Harness {
    /// A modem and a temp dir with `config` as mgetty.config.
    pub fn new(cfg: vmodem::Config, config: &str) -> Harness {
        let dir = getty_dir(&["etc", "lock", "log", "run", "nologin"], config);
        fs::write(dir.path().join("utmp"), b"").unwrap();
        fs::write(dir.path().join("wtmp"), b"").unwrap();
        let modem = VModem::start(cfg).unwrap();
        let device = device_name(&modem);
        Harness {
            dir,
            modem,
            child: None,
            device,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The DevID (`pts-7`).
    pub fn dev_id(&self) -> String {
        self.device.replace('/', "-")
    }

    /// Upstream lock naming: `LCK..7` for `pts/7`.
    pub fn lock_path(&self) -> PathBuf {
        let base = self.device.rsplit('/').next().unwrap();
        self.path("lock").join(format!("LCK..{base}"))
    }

    pub fn log_path(&self) -> PathBuf {
        self.path("log").join(format!("{}.log", self.dev_id()))
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Write login.config (root-owned, mode 0600 as rgetty requires).
    pub fn login_config(&self, text: &str) {
        let p = self.path("etc/login.config");
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// Compile the login recorder: it writes what it sees (argv, ids, session, tty, termios,
    /// environment) to `<dir>/<name>.out` and what it reads on stdin within 1.5 s to
    /// `<name>.out.stdin`.
    pub fn recorder(&self, name: &str) -> PathBuf {
        build_recorder(self.dir.path(), name)
    }

    /// Wait for the recorder's output file and parse it into `key=value` lines.
    pub fn recorded(&self, name: &str, timeout: Duration) -> Vec<String> {
        recorder_lines(self.dir.path(), name, timeout).unwrap_or_else(|| {
            panic!(
                "recorder {name} did not run\nlog:\n{}\ntranscript:\n{}",
                self.log(),
                self.modem.transcript().printable()
            )
        })
    }

    pub fn args(&self) -> Vec<String> {
        let p = |r: &str| self.path(r).to_string_lossy().into_owned();
        vec![
            "--config-dir".into(),
            p("etc"),
            "--lock-dir".into(),
            p("lock"),
            "--log-dir".into(),
            p("log"),
            "--pid-dir".into(),
            p("run"),
            "--utmp".into(),
            p("utmp"),
            "--wtmp".into(),
            p("wtmp"),
            "--nologin-dir".into(),
            p("nologin"),
            "--syslog-socket".into(),
            p("no-syslog"),
            "-x".into(),
            "9".into(),
        ]
    }

    /// Start rgetty on the modem's line with extra arguments (before the tty).
    pub fn spawn(&mut self, extra: &[&str]) {
        self.spawn_env(extra, &[]);
    }

    /// [`Harness::spawn`] with extra environment variables.
    pub fn spawn_env(&mut self, extra: &[&str], env: &[(&str, &std::path::Path)]) {
        self.spawn_prog(Path::new(RGETTY), extra, env);
    }

    /// [`Harness::spawn_env`] with another copy of rgetty.
    pub fn spawn_prog(&mut self, prog: &Path, extra: &[&str], env: &[(&str, &std::path::Path)]) {
        let mut cmd = Command::new(prog);
        cmd.envs(env.iter().copied());
        cmd.args(self.args())
            .args(extra)
            .arg(format!("/dev/{}", self.device))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        self.child = Some(cmd.spawn().unwrap());
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.as_ref().unwrap().id()).unwrap()
    }

    /// Wait for rgetty to exit; its exit code, or `None` on timeout / death by signal.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let end = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        while Instant::now() < end {
            if let Some(st) = child.try_wait().unwrap() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Wait until the log matches `re`.
    pub fn wait_log(&self, re: &str, timeout: Duration) {
        let re = regex::Regex::new(re).unwrap();
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if re.is_match(&self.log()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "log never matched {re}\nlog:\n{}\ntranscript:\n{}",
            self.log(),
            self.modem.transcript().printable()
        );
    }

    /// Start rgetty and wait until it is idle in WAITING.
    pub fn spawn_waiting(&mut self, extra: &[&str]) {
        self.spawn(extra);
        self.wait_log(r"waiting\.\.\.", s(20.0));
    }

    /// The getty waits in `rgetty-wait` (§4.3): that is its program, and the waiter has set
    /// its command name (a moment after the exec, the kernel's name is still the file's).
    pub fn in_waiter(&self) -> bool {
        let pid = self.pid();
        let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        exe.file_name().is_some_and(|n| n == "rgetty-wait") && comm.trim() == "rgetty"
    }

    /// Wait until the getty waits in `rgetty-wait` (panics after 20 s).
    pub fn wait_in_waiter(&self) {
        let end = Instant::now() + s(20.0);
        while !self.in_waiter() {
            assert!(
                Instant::now() < end,
                "never waited in rgetty-wait\n{}",
                self.explain()
            );
            std::thread::sleep(s(0.02));
        }
    }

    /// A call: start the getty and wait until it waits, set the caller's script, then ring
    /// `rings` times `gap` apart (caller ID `cid` after the first).
    pub fn call(
        &mut self,
        caller: Vec<CallerStep>,
        rings: u32,
        gap: Duration,
        cid: Option<CallerId>,
    ) {
        self.spawn_waiting(&[]);
        self.modem.set_caller(caller);
        self.modem.ring(rings, gap, cid);
    }

    /// The usual call: two RINGs half a second apart, no caller ID.
    pub fn answer(&mut self, caller: Vec<CallerStep>) {
        self.call(caller, 2, s(0.5), None);
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig).unwrap();
    }

    /// Fail with the log and transcript attached.
    pub fn explain(&self) -> String {
        format!(
            "log:\n{}\ntranscript:\n{}",
            self.log(),
            self.modem.transcript().printable()
        )
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `(utime + stime, voluntary + involuntary context switches)` of a process.
pub fn cpu_and_switches(pid: i32) -> (u64, u64) {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let cpu = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let sw: u64 = status
        .lines()
        .filter(|l| l.contains("ctxt_switches"))
        .map(|l| l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    (cpu, sw)
}

/// A recorder line's value.
pub fn field<'a>(lines: &'a [String], key: &str) -> Option<&'a str> {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// Whether the recorder saw `env:K=V`.
pub fn has_env(lines: &[String], kv: &str) -> bool {
    lines.iter().any(|l| l == &format!("env:{kv}"))
}

/// The login recorder's C source (shared with the differential suite).
/// An LD_PRELOAD shim that fakes the RI ioctls on a pty: TIOCMIWAIT returns when a byte can be
/// read from the fifo named by `RI_FIFO`, TIOCGICOUNT counts those bytes as RI edges.
pub const RI_SHIM_C: &str = include_str!("../ri_shim.c");

/// Build [`RI_SHIM_C`] in `dir`; `None` when there is no C compiler.
pub fn build_ri_shim(dir: &std::path::Path) -> Option<PathBuf> {
    build_shim(dir, "ri_shim", RI_SHIM_C)
}

/// Build the C source `src` into the shared object `dir/NAME.so`; `None` when there is no C
/// compiler.
pub fn build_shim(dir: &std::path::Path, name: &str, src: &str) -> Option<PathBuf> {
    let c = dir.join(format!("{name}.c"));
    let so = dir.join(format!("{name}.so"));
    fs::write(&c, src).ok()?;
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&c)
        .arg("-ldl")
        .status();
    matches!(built, Ok(s) if s.success()).then_some(so)
}

pub const RECORDER_C: &str = include_str!("../recorder.c");
