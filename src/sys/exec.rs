//! Starting programs: the login program at the end of a call (`docs/behaviour.md` §6.2,
//! §6.3, §10, §11) and the caller-ID screening programs (§4.6).
//!
//! [`exec`] replaces the getty: it resolves the user first, resets every signal disposition
//! and the signal mask (both survive `execve`), drops privileges with `setgid`, `initgroups`,
//! `setuid` and checks they cannot be regained, then calls `execve` with the getty's
//! environment plus the call's variables. The pid does not change, so the UUCP lock stays
//! valid for the session.
//!
//! [`run_program`] runs `cnd-program`/`cid-program` without a shell, with its output thrown
//! away and a time limit.
//!
//! [`Detached`] starts admin-written ring commands through `/bin/sh -c` in their own session,
//! at most N at once, and reaps them without a thread.
//!
//! # Deliberate differences from mgetty
//! * An unknown login.config user is an error and nothing is run (mgetty runs the program as
//!   root).
//! * `initgroups` is called, so the target user gets its own supplementary groups, not root's
//!   (mgetty calls only setgid/setuid).
//! * Signal dispositions and the mask are reset before exec (mgetty leaves SIGHUP etc. as set).
//! * cnd/cid programs get no shell: the command is split on whitespace and caller-ID values are
//!   separate argv elements, so no quoting or sanitising is needed (mgetty builds a
//!   `/bin/sh -c` line with single-quoted values).

use std::ffi::{CString, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, killpg, sigprocmask};
use nix::unistd::{Pid, Uid, User};

/// What to exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSpec {
    /// Path of the program, as given to `execve`.
    pub program: PathBuf,
    /// The complete argv, including argv\[0\] (login.config: the program's basename).
    pub argv: Vec<String>,
    /// Variables added to (or overriding) the current environment.
    pub env: Vec<(String, String)>,
    /// Run as this user; `None` = stay root (login.config userid `-`).
    pub user: Option<String>,
}

/// Why [`exec`] did not replace the process (each names the operation and its argument).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The user does not exist.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// The password database could not be read.
    #[error("cannot look up user {user:?}: {source}")]
    Lookup {
        /// The user name.
        user: String,
        /// The error from `getpwnam_r`.
        source: Errno,
    },
    /// A string for `execve` contains a NUL byte.
    #[error("{what} contains a NUL byte: {value:?}")]
    Nul {
        /// Which string: `program`, `argument`, `environment` or `user name`.
        what: &'static str,
        /// The string.
        value: String,
    },
    /// argv is empty.
    #[error("empty argument list for {0}")]
    EmptyArgv(PathBuf),
    /// Clearing the signal mask failed.
    #[error("cannot clear the signal mask: {0}")]
    SignalMask(Errno),
    /// `setgid` failed.
    #[error("setgid({gid}) for user {user:?} failed: {source}")]
    Setgid {
        /// The user name.
        user: String,
        /// The group id.
        gid: u32,
        /// The error.
        source: Errno,
    },
    /// `initgroups` failed.
    #[error("initgroups({user:?}, {gid}) failed: {source}")]
    Initgroups {
        /// The user name.
        user: String,
        /// The primary group id.
        gid: u32,
        /// The error.
        source: Errno,
    },
    /// `setuid` failed.
    #[error("setuid({uid}) for user {user:?} failed: {source}")]
    Setuid {
        /// The user name.
        user: String,
        /// The user id.
        uid: u32,
        /// The error.
        source: Errno,
    },
    /// After switching to a non-root user, root could be regained.
    #[error("privileges not dropped for user {user:?}: setuid(0) still succeeds")]
    PrivilegesKept {
        /// The user name.
        user: String,
    },
    /// `execve` failed.
    #[error("cannot exec {program}: {source}")]
    Exec {
        /// The program.
        program: PathBuf,
        /// The error.
        source: Errno,
    },
}

/// Look a user up by name (`getpwnam_r`). A numeric string is a name like any other, not a uid.
pub fn lookup_user(name: &str) -> Result<User, ExecError> {
    match User::from_name(name) {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(ExecError::UnknownUser(name.to_string())),
        Err(source) => Err(ExecError::Lookup {
            user: name.to_string(),
            source,
        }),
    }
}

/// A `port-owner`-style user: a name, or a number taken as a uid. `None` if unknown.
pub fn user_by_name_or_id(spec: &str) -> Option<User> {
    let spec = spec.trim();
    match spec.parse::<u32>() {
        Ok(uid) => User::from_uid(uid.into()).ok().flatten(),
        Err(_) => User::from_name(spec).ok().flatten(),
    }
}

/// A `port-group`-style group: a name, or a number taken as a gid (known or not). `None` if
/// the name is unknown.
pub fn group_by_name_or_id(spec: &str) -> Option<nix::unistd::Gid> {
    let spec = spec.trim();
    match spec.parse::<u32>() {
        Ok(gid) => Some(gid.into()),
        Err(_) => nix::unistd::Group::from_name(spec)
            .ok()
            .flatten()
            .map(|g| g.gid),
    }
}

fn cstring(what: &'static str, bytes: Vec<u8>) -> Result<CString, ExecError> {
    CString::new(bytes).map_err(|e| ExecError::Nul {
        what,
        value: String::from_utf8_lossy(&e.into_vec()).into_owned(),
    })
}

/// Variables addressed to rgetty itself by systemd (its notification socket, handed-over
/// sockets, watchdog): the login program and pppd must not inherit them, or they would speak
/// for rgetty's unit.
const OURS_ONLY: &[&str] = &[
    "NOTIFY_SOCKET",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
];

/// The current environment with `overrides` replacing or adding variables, as `KEY=value`.
fn merged_env(overrides: &[(String, String)]) -> Vec<(OsString, OsString)> {
    merge_env(std::env::vars_os(), overrides)
}

/// `vars` less [`OURS_ONLY`], with `overrides` replacing or adding variables.
fn merge_env(
    vars: impl Iterator<Item = (OsString, OsString)>,
    overrides: &[(String, String)],
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = vars
        .filter(|(k, _)| !overrides.iter().any(|(o, _)| k.as_bytes() == o.as_bytes()))
        .filter(|(k, _)| !OURS_ONLY.iter().any(|o| k.as_bytes() == o.as_bytes()))
        .collect();
    env.extend(
        overrides
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
    );
    env
}

/// Set every catchable signal back to `SIG_DFL`. Only calls `signal(2)` and the raw
/// `rt_sigaction` syscall, both async-signal-safe, so this may run between fork and exec.
fn reset_signal_dispositions() {
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL runs no code of ours; invalid numbers make signal()
        // fail with EINVAL.
        let failed = unsafe { libc::signal(sig, libc::SIG_DFL) } == libc::SIG_ERR;
        if failed {
            // glibc refuses its internal signals (32, 33), but an ignored one is inherited
            // (seen from test harnesses), so ask the kernel directly. An all-zero kernel
            // `struct sigaction` is SIG_DFL with no flags and an empty mask on every layout;
            // the buffer is larger than any of them.
            let act = [0u64; 8];
            // SAFETY: `act` is a live, aligned buffer at least as large as the kernel's
            // struct sigaction; no old action is requested (null); 8 = sizeof(sigset_t) for
            // the kernel's 64 signals. Errors are ignored.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    libc::c_long::from(sig),
                    act.as_ptr(),
                    std::ptr::null::<u64>(),
                    8 as libc::c_long,
                );
            }
        }
    }
}

/// Replace this process with `spec.program` (see the module docs for the order of steps).
/// Returns only on failure; an unknown user fails before anything has been changed.
pub fn exec(spec: &ExecSpec) -> ExecError {
    match try_exec(spec) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn try_exec(spec: &ExecSpec) -> Result<std::convert::Infallible, ExecError> {
    let user = spec.user.as_deref().map(lookup_user).transpose()?;
    let program = cstring("program", spec.program.as_os_str().as_bytes().to_vec())?;
    if spec.argv.is_empty() {
        return Err(ExecError::EmptyArgv(spec.program.clone()));
    }
    let argv = spec
        .argv
        .iter()
        .map(|a| cstring("argument", a.clone().into_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let env = merged_env(&spec.env)
        .into_iter()
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            cstring("environment", kv)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let user_name = user
        .as_ref()
        .map(|u| cstring("user name", u.name.clone().into_bytes()))
        .transpose()?;

    reset_signal_dispositions();
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(ExecError::SignalMask)?;

    if let (Some(user), Some(name)) = (&user, &user_name) {
        drop_privileges(user, name)?;
    }

    match nix::unistd::execve(&program, &argv, &env) {
        Ok(never) => match never {},
        Err(source) => Err(ExecError::Exec {
            program: spec.program.clone(),
            source,
        }),
    }
}

fn drop_privileges(user: &User, name: &std::ffi::CStr) -> Result<(), ExecError> {
    let gid = user.gid;
    nix::unistd::setgid(gid).map_err(|source| ExecError::Setgid {
        user: user.name.clone(),
        gid: gid.as_raw(),
        source,
    })?;
    nix::unistd::initgroups(name, gid).map_err(|source| ExecError::Initgroups {
        user: user.name.clone(),
        gid: gid.as_raw(),
        source,
    })?;
    nix::unistd::setuid(user.uid).map_err(|source| ExecError::Setuid {
        user: user.name.clone(),
        uid: user.uid.as_raw(),
        source,
    })?;
    if !user.uid.is_root()
        && (nix::unistd::setuid(Uid::from_raw(0)).is_ok()
            || nix::unistd::geteuid() != user.uid
            || nix::unistd::getegid() != gid
            || nix::unistd::getgid() != gid)
    {
        return Err(ExecError::PrivilegesKept {
            user: user.name.clone(),
        });
    }
    Ok(())
}

/// Run a screening program (`cnd-program`, `cid-program`) without a shell: stdin, stdout and
/// stderr on `/dev/null`, in its own process group, signal dispositions reset, with `env`
/// added to the environment. Returns its exit status, or `Ok(None)` when it ran longer than
/// `timeout` and its process group was killed. Runs as the caller (root in the getty).
pub fn run_program(
    argv: &[String],
    env: &[(String, String)],
    timeout: Duration,
) -> std::io::Result<Option<ExitStatus>> {
    let Some((program, args)) = argv.split_first() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "empty command",
        ));
    };
    let mut cmd = Command::new(Path::new(program));
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    OURS_ONLY.iter().for_each(|k| {
        cmd.env_remove(k);
    });
    // SAFETY: the closure runs between fork and exec and only calls signal(2), which is
    // async-signal-safe; it allocates nothing and takes no locks.
    unsafe {
        cmd.pre_exec(|| {
            reset_signal_dispositions();
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
    let pid = i32::try_from(child.id()).unwrap_or(0);
    if pid > 0 {
        // The whole group: a screening script may have started children of its own.
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = child.kill();
    child.wait()?;
    Ok(None)
}

/// Detached commands (ring-pattern and per-ring commands): `/bin/sh -c CMD` in its own
/// session, stdin, stdout and stderr on `/dev/null` (stdout and stderr on our stderr when
/// asked), never waited for by the caller. At most `limit` run at once; more are dropped, so
/// a ring storm cannot fork a shell per ring. No thread: finished children are reaped by
/// [`Detached::reap`], which [`Detached::spawn`] calls first.
#[derive(Debug)]
pub struct Detached {
    limit: usize,
    running: Vec<std::process::Child>,
}

/// What [`Detached::spawn`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spawned {
    /// The command runs with this pid.
    Started(u32),
    /// `limit` commands were already running: this one was not started.
    Dropped {
        /// The limit in force.
        limit: usize,
    },
}

impl Detached {
    /// A pool that runs at most `limit` commands at once (at least one).
    pub fn new(limit: usize) -> Detached {
        Detached {
            limit: limit.max(1),
            running: Vec::new(),
        }
    }

    /// How many commands are still running (as of the last reap).
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Collect the exit status of every finished command; returns how many finished.
    pub fn reap(&mut self) -> usize {
        let before = self.running.len();
        self.running.retain_mut(|child| match child.try_wait() {
            Ok(Some(status)) => {
                log::debug!("command pid {} ended: {status}", child.id());
                false
            }
            Ok(None) => true,
            Err(e) => {
                log::warn!("cannot wait for command pid {}: {e}", child.id());
                false
            }
        });
        before - self.running.len()
    }

    /// Start `cmd` (admin text; caller data goes only into `env`), unless `limit` commands
    /// are running. `to_stderr` puts its stdout and stderr on ours (rgetty-ringd `-d`).
    pub fn spawn(
        &mut self,
        cmd: &str,
        env: &[(&str, String)],
        to_stderr: bool,
    ) -> std::io::Result<Spawned> {
        self.reap();
        if self.running.len() >= self.limit {
            return Ok(Spawned::Dropped { limit: self.limit });
        }
        let mut command = Command::new("/bin/sh");
        command.arg("-c").arg(cmd).stdin(Stdio::null());
        if to_stderr {
            let err = std::os::fd::AsFd::as_fd(&std::io::stderr()).try_clone_to_owned()?;
            command.stdout(Stdio::from(err)).stderr(Stdio::inherit());
        } else {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
        command.envs(env.iter().map(|(k, v)| (k, v)));
        OURS_ONLY.iter().for_each(|k| {
            command.env_remove(k);
        });
        // SAFETY: the closure runs in the forked child before exec and only calls setsid(2),
        // which is async-signal-safe and touches no memory shared with the parent.
        unsafe {
            command.pre_exec(|| {
                nix::unistd::setsid()
                    .map(|_| ())
                    .map_err(std::io::Error::from)
            });
        }
        let child = command.spawn()?;
        let pid = child.id();
        self.running.push(child);
        Ok(Spawned::Started(pid))
    }
}

/// Split an admin-written command line from the config on whitespace (no shell, no quoting).
/// The caller appends caller-ID values as separate argv elements.
pub fn split_command(cmd: &str) -> Vec<String> {
    cmd.split_whitespace().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detached_commands_are_bounded_and_reaped() {
        let mut pool = Detached::new(2);
        let a = pool.spawn("sleep 5", &[], false).unwrap();
        let b = pool.spawn("sleep 5", &[("X", "1".into())], false).unwrap();
        assert!(matches!(a, Spawned::Started(_)) && matches!(b, Spawned::Started(_)));
        for _ in 0..50 {
            assert_eq!(
                pool.spawn("sleep 5", &[], false).unwrap(),
                Spawned::Dropped { limit: 2 }
            );
        }
        assert_eq!(pool.running(), 2);
        for s in [a, b] {
            if let Spawned::Started(pid) = s {
                let pid = Pid::from_raw(i32::try_from(pid).unwrap());
                let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.running() > 0 {
            pool.reap();
            assert!(Instant::now() < deadline, "not reaped");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(matches!(
            pool.spawn("true", &[], false),
            Ok(Spawned::Started(_))
        ));
    }

    #[test]
    fn split() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("   ", &[]),
            ("/usr/bin/cnd", &["/usr/bin/cnd"]),
            (" /bin/x  -a\tb \n", &["/bin/x", "-a", "b"]),
            ("a 'b c'", &["a", "'b", "c'"]),
        ];
        for (cmd, want) in cases {
            assert_eq!(split_command(cmd), *want, "{cmd:?}");
        }
    }

    #[test]
    fn users() {
        assert_eq!(lookup_user("root").unwrap().uid.as_raw(), 0);
        assert!(matches!(lookup_user("0"), Err(ExecError::UnknownUser(u)) if u == "0"));
        assert!(matches!(lookup_user(""), Err(ExecError::UnknownUser(_))));
        assert!(matches!(
            lookup_user("a\0b"),
            Err(ExecError::UnknownUser(_))
        ));
    }

    #[test]
    fn systemd_variables_for_rgetty_are_not_inherited() {
        let vars = [
            ("NOTIFY_SOCKET", "/run/systemd/notify"),
            ("LISTEN_FDS", "1"),
            ("HOME", "/"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let env = merge_env(vars.into_iter(), &[("CALLER_ID".into(), "1".into())]);
        let keys: Vec<_> = env
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(keys, ["HOME", "CALLER_ID"]);
    }

    #[test]
    fn env_override() {
        let env = merged_env(&[
            ("PATH".to_string(), "/x".to_string()),
            ("RGETTY_NEW".to_string(), "1".to_string()),
        ]);
        let paths: Vec<_> = env.iter().filter(|(k, _)| k == "PATH").collect();
        assert_eq!(paths.len(), 1);
        assert_eq!(paths[0].1, "/x");
        assert!(env.iter().any(|(k, v)| k == "RGETTY_NEW" && v == "1"));
    }

    #[test]
    fn errors_name_values() {
        let e = ExecError::Exec {
            program: PathBuf::from("/bin/nope"),
            source: Errno::ENOENT,
        };
        assert!(e.to_string().contains("/bin/nope"));
        assert_eq!(
            ExecError::UnknownUser("bob".into()).to_string(),
            "unknown user \"bob\""
        );
    }
}
