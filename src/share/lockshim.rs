//! TEMPORARY stand-in for `crate::lock` (the lead's module), with the planned API, so that the
//! share server builds and is tested before `lock.rs` is merged. Delete once merged.
#![allow(missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    Upstream,
    Debian,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("locked by pid {pid}")]
    Held { pid: i32, cmdline: String },
    #[error("lock {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct LockDir {
    dir: PathBuf,
    _naming: Naming,
}

#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Lock {
    pub fn release(self) {}
}

fn alive(pid: i32) -> bool {
    pid > 0
        && !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        )
}

pub fn holder(path: &Path) -> Option<(i32, String)> {
    let s = std::fs::read_to_string(path).ok()?;
    let pid: i32 = s.trim().parse().ok()?;
    alive(pid).then(|| (pid, String::new()))
}

impl LockDir {
    pub fn new(dir: PathBuf, naming: Naming) -> Self {
        LockDir {
            dir,
            _naming: naming,
        }
    }

    pub fn lock_name_for(&self, device: &Path) -> Result<PathBuf, LockError> {
        let real = std::fs::canonicalize(device).map_err(|source| LockError::Io {
            path: device.to_path_buf(),
            source,
        })?;
        let s = real.to_string_lossy();
        let rel = s.strip_prefix("/dev/").unwrap_or(&s).replace('/', "_");
        Ok(self.dir.join(format!("LCK..{rel}")))
    }

    pub fn acquire(&self, device: &Path) -> Result<Lock, LockError> {
        let path = self.lock_name_for(device)?;
        for _ in 0..3 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let _ = write!(f, "{:>10}\n", std::process::id());
                    return Ok(Lock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if let Some((pid, cmdline)) = holder(&path) {
                        return Err(LockError::Held { pid, cmdline });
                    }
                    let _ = std::fs::remove_file(&path);
                }
                Err(source) => return Err(LockError::Io { path, source }),
            }
        }
        Err(LockError::Io {
            path,
            source: std::io::Error::other("cannot take over a stale lock"),
        })
    }
}
