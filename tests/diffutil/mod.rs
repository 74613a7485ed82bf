//! Differential harness: the same virtual-modem scenario against Debian's `/sbin/mgetty`
//! (in a private mount namespace) and `rgetty --profile debian`, and what an outsider observes,
//! normalised (see docs/differential.md).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use crate::common::{BASE_CONFIG, s, vmodem};
use crate::common::{build_recorder, device_name, getty_dir, recorder_lines};
pub use vmodem::{CallerId, CallerStep, Dir, InitReply, VModem};

pub const RGETTY: &str = env!("CARGO_BIN_EXE_rgetty");
pub const MGETTY: &str = "/sbin/mgetty";

/// Which getty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mgetty,
    Rgetty,
}

/// Why the differential tests cannot run here, if they cannot.
pub fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (mgetty must run in a private mount namespace)".into());
    }
    if !Path::new(MGETTY).exists() {
        return Some(format!("{MGETTY} missing (apt-get install mgetty)"));
    }
    let ok = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return Some("`unshare --mount` missing or not permitted".into());
    }
    None
}

/// One getty on its own virtual modem and private directory.
///
/// Layout of the dir `T` (the same for both getties, mgetty sees it through bind mounts):
/// `T/etc` = /etc/mgetty, `T/run` = /run (`T/run/lock` = /var/lock, `T/run/utmp`,
/// pid file), `T/varlog` = /var/log (`T/varlog/mgetty/mg_<DevID>.log`, `T/varlog/wtmp`),
/// `T/nologin/nologin.<DevID>` copied into an overlay of /etc for mgetty.
pub struct Side {
    pub kind: Kind,
    pub dir: tempfile::TempDir,
    pub modem: VModem,
    pub child: Option<Child>,
    /// `pts/7`.
    pub device: String,
    pub started: Option<Instant>,
}

impl Side {
    pub fn new(kind: Kind, cfg: vmodem::Config, config: &str) -> Side {
        let dir = getty_dir(
            &[
                "etc",
                "run",
                "run/lock",
                "varlog",
                "varlog/mgetty",
                "nologin",
                "ovl",
            ],
            config,
        );
        fs::write(dir.path().join("run/utmp"), b"").unwrap();
        fs::write(dir.path().join("varlog/wtmp"), b"").unwrap();
        let modem = VModem::start(cfg).unwrap();
        let device = device_name(&modem);
        Side {
            kind,
            dir,
            modem,
            child: None,
            device,
            started: None,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn dev_id(&self) -> String {
        self.device.replace('/', "-")
    }

    /// Debian lock naming: `LCK..pts_7`.
    pub fn lock_path(&self) -> PathBuf {
        self.path("run/lock")
            .join(format!("LCK..{}", self.device.replace('/', "_")))
    }

    pub fn log(&self) -> String {
        fs::read_to_string(
            self.path("varlog/mgetty")
                .join(format!("mg_{}.log", self.dev_id())),
        )
        .unwrap_or_default()
    }

    pub fn login_config(&self, text: &str) {
        let p = self.path("etc/login.config");
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    }

    pub fn set_nologin(&self) {
        fs::write(
            self.path("nologin")
                .join(format!("nologin.{}", self.dev_id())),
            "",
        )
        .unwrap();
    }

    /// Compile the login recorder (see tests/common): `<T>/<name>.out` and `.out.stdin`.
    pub fn recorder(&self, name: &str) -> PathBuf {
        build_recorder(self.dir.path(), name)
    }

    /// The recorder's lines, or `None` if it did not run within `timeout`.
    pub fn recorded(&self, name: &str, timeout: Duration) -> Option<Vec<String>> {
        recorder_lines(self.dir.path(), name, timeout)
    }

    /// Start the getty with `-x 5` and `extra` options before the line.
    pub fn spawn(&mut self, extra: &[&str]) {
        let t = self.dir.path().to_string_lossy().into_owned();
        let mut cmd = match self.kind {
            Kind::Mgetty => {
                let mut c = Command::new("unshare");
                c.args([
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-ec",
                    NS_SCRIPT,
                ])
                .arg("mgetty")
                .arg(&t)
                .arg(MGETTY)
                .args(["-x", "5"]);
                c
            }
            Kind::Rgetty => {
                let p = |r: &str| format!("{t}/{r}");
                let mut c = Command::new(RGETTY);
                c.args(["--profile", "debian", "-x", "5"])
                    .args(["--config-dir", &p("etc")])
                    .args(["--lock-dir", &p("run/lock")])
                    .args(["--log-dir", &p("varlog/mgetty")])
                    .args(["--log-file", &p("varlog/mgetty/mg_%s.log")])
                    .args(["--pid-dir", &p("run")])
                    .args(["--utmp", &p("run/utmp")])
                    .args(["--wtmp", &p("varlog/wtmp")])
                    .args(["--nologin-dir", &p("nologin")])
                    .args(["--syslog-socket", &p("no-syslog")]);
                c
            }
        };
        cmd.args(extra)
            .arg(&self.device)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.started = Some(Instant::now());
        let child = cmd.spawn().unwrap();
        // What init does from inittab: an INIT_PROCESS record for the getty's pid (mgetty only
        // updates an existing record, §8). `unshare` and `sh` exec, so the pid is mgetty's.
        let rec = rgetty::sys::utmp::Record {
            kind: rgetty::sys::utmp::RecordType::Init,
            pid: i32::try_from(child.id()).unwrap(),
            line: self.device.clone(),
            id: "dx".into(),
            user: String::new(),
            host: String::new(),
            time_s: 0,
        };
        rgetty::sys::utmp::append_record(&self.path("run/utmp"), &rec).unwrap();
        self.child = Some(child);
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.as_ref().unwrap().id()).unwrap()
    }

    /// Exit code, or `None` on timeout or death by signal.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let end = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st.code();
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Still running?
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Wait until the log matches `re`; false on timeout.
    pub fn wait_log(&self, re: &str, timeout: Duration) -> bool {
        let re = regex::Regex::new(re).unwrap();
        let end = Instant::now() + timeout;
        loop {
            if re.is_match(&self.log()) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start and wait until the getty logged `waiting...` (idle, lock released).
    pub fn spawn_waiting(&mut self, extra: &[&str]) {
        self.spawn(extra);
        assert!(
            self.wait_log(r"waiting\.\.\.", s(30.0)),
            "{:?} never reached WAITING\n{}",
            self.kind,
            self.explain()
        );
        // mgetty logs "waiting..." just before select(); give both a moment to get there.
        std::thread::sleep(s(0.2));
    }

    pub fn explain(&self) -> String {
        format!(
            "== {:?} log:\n{}\n== transcript:\n{}",
            self.kind,
            self.log(),
            self.modem.transcript().printable()
        )
    }

    /// Replace what legitimately differs between two runs by placeholders: the getty's pid,
    /// the pts number (in `pts/N`, `pts-N`, `pts_N`), and the temp dir.
    pub fn norm(&self, text: &str) -> String {
        let n = self.device.trim_start_matches("pts/");
        let mut t = text.replace(&self.dir.path().to_string_lossy().into_owned(), "<T>");
        for sep in ['/', '-', '_'] {
            let re = regex::Regex::new(&format!(r"pts{sep}{n}\b")).unwrap();
            t = re.replace_all(&t, format!("pts{sep}<N>")).into_owned();
        }
        let host = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !host.is_empty() {
            let re = regex::Regex::new(&format!(r"\b{}\b", regex::escape(&host))).unwrap();
            t = re.replace_all(&t, "<HOST>").into_owned();
        }
        if let Some(c) = &self.child {
            let re = regex::Regex::new(&format!(r"\b{}\b", c.id())).unwrap();
            t = re.replace_all(&t, "<PID>").into_owned();
        }
        t
    }

    /// All bytes the getty wrote to the modem, printable and normalised.
    pub fn to_modem(&self) -> String {
        self.norm(&vmodem::printable_bytes(
            &self.modem.transcript().to_modem_bytes(),
        ))
    }

    /// What the caller saw: bytes written after `ATA\r`, printable and normalised.
    pub fn caller_saw(&self) -> String {
        let b = self.modem.transcript().to_modem_bytes();
        let at = b
            .windows(4)
            .position(|w| w == b"ATA\r")
            .map_or(b.len(), |p| p + 4);
        self.norm(&vmodem::printable_bytes(&b[at..]))
    }

    /// How many RINGs the modem had delivered when the getty sent `ATA` (None: no ATA).
    pub fn rings_before_ata(&self) -> Option<usize> {
        let t = self.modem.transcript();
        let mut rings = 0;
        let mut sent = Vec::new();
        for e in &t.entries {
            match e.dir {
                Dir::ToDte => rings += String::from_utf8_lossy(&e.bytes).matches("RING").count(),
                Dir::ToModem => {
                    sent.extend_from_slice(&e.bytes);
                    if sent.windows(4).any(|w| w == b"ATA\r") {
                        return Some(rings);
                    }
                }
                Dir::Note => {}
            }
        }
        None
    }

    /// The recorder's lines, normalised; `pid`/`sid` equal to the getty's become `<PID>`.
    pub fn recorded_norm(&self, name: &str, timeout: Duration) -> Option<Vec<String>> {
        self.recorded(name, timeout).map(|v| {
            // Supplementary groups differ on purpose: rgetty calls initgroups(), mgetty keeps
            // root's (docs/differences-from-mgetty.md); uid and gid are still compared.
            let mut v: Vec<String> = v
                .iter()
                .filter(|l| !l.starts_with("groups="))
                .map(|l| self.norm(l))
                .collect();
            // The environment's order is not observable by a program that uses getenv().
            v.sort_by_key(|l| l.starts_with("env:"));
            let env_at = v
                .iter()
                .position(|l| l.starts_with("env:"))
                .unwrap_or(v.len());
            v[env_at..].sort();
            v
        })
    }

    /// utmp records of this test (type, user, host, line), normalised.
    pub fn utmp(&self, file: &str) -> Vec<String> {
        rgetty::sys::utmp::read_records(&self.path(file))
            .unwrap_or_default()
            .iter()
            .map(|r| {
                self.norm(&format!(
                    "{:?} pid={} user={:?} host={:?} line={:?}",
                    r.kind, r.pid, r.user, r.host, r.line
                ))
            })
            .collect()
    }
}

impl Drop for Side {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Run `scenario` against mgetty and rgetty at the same time (two threads, two modems);
/// `None` (after printing why) when the differential tests cannot run here.
pub fn both<T: Send>(
    cfg: impl Fn() -> vmodem::Config + Sync,
    config: &str,
    scenario: impl Fn(&mut Side) -> T + Sync,
) -> Option<(T, T)> {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED: {why}");
        return None;
    }
    let run = |kind| {
        let mut side = Side::new(kind, cfg(), config);
        scenario(&mut side)
    };
    std::thread::scope(|sc| {
        let m = sc.spawn(|| run(Kind::Mgetty));
        let r = sc.spawn(|| run(Kind::Rgetty));
        let (m, r) = (m.join(), r.join());
        match (m, r) {
            (Ok(m), Ok(r)) => Some((m, r)),
            (Err(e), _) | (_, Err(e)) => std::panic::resume_unwind(e),
        }
    })
}

/// Inside `unshare --mount --propagation private`: $1 = the test dir, then the mgetty command.
/// /etc becomes an overlay with a tmpfs upper dir (so `nologin.<DevID>` exists only here),
/// /etc/mgetty, /run (and so /var/run, /var/lock) and /var/log are the test's dirs, and
/// /dev is a private tmpfs with only null, zero, tty, ptmx and the ptys (Debian's mgetty
/// writes fatal messages to the console, which so does not exist there).
const NS_SCRIPT: &str = include_str!("../mgetty-ns.sh");
