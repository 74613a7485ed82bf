//! The files of `ops` (I/O): state files written atomically under the pid directory, the
//! liveness check behind `down`, and the call log.
//!
//! Files are written as root in directories others may be able to write into, so a path is
//! never followed through a symlink: the state file's temp file is created with
//! `O_CREAT|O_EXCL|O_NOFOLLOW` and renamed over the state file (rename replaces a symlink, it
//! does not follow it); the call log is opened with `O_NOFOLLOW` and must be a regular file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::calllog::CallRecord;
use super::state::{LineState, stat_field, stat_start_ticks};

/// Prefix of the state files in the pid directory: `rgetty.state.<DevID>`.
pub const STATE_PREFIX: &str = "rgetty.state.";

/// Largest state file read back (a state file is a few hundred bytes).
const MAX_STATE_FILE: u64 = 64 * 1024;

/// The state file of the line with this DevID.
pub fn state_path(pid_dir: &Path, dev_id: &str) -> PathBuf {
    pid_dir.join(format!("{STATE_PREFIX}{dev_id}"))
}

/// Replace `path` by a file holding `data`: write a temp file beside it (created exclusively,
/// never through a symlink) and rename it over `path`.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY)
            .open(&tmp)
    };
    let mut file = match open() {
        // Left by an earlier process with our pid: remove it (unlink never follows a link).
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(&tmp)?;
            open()?
        }
        other => other?,
    };
    let result = file.write_all(data).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes one line's state file, only when its facts change.
#[derive(Debug)]
pub struct StateWriter {
    path: PathBuf,
    last: Option<LineState>,
    pid: i32,
    start_ticks: Option<u64>,
}

impl StateWriter {
    /// The writer for the line with this DevID; its pid and start time are this process's.
    pub fn new(pid_dir: &Path, dev_id: &str) -> StateWriter {
        let pid = i32::try_from(std::process::id()).unwrap_or(0);
        StateWriter {
            path: state_path(pid_dir, dev_id),
            last: None,
            pid,
            start_ticks: fs::read_to_string("/proc/self/stat")
                .ok()
                .and_then(|s| stat_start_ticks(&s)),
        }
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record `next` (its `pid`, `start_ticks` and `since` are filled in here). Writes only if
    /// a fact changed; returns whether it wrote.
    pub fn update(&mut self, mut next: LineState, now: i64) -> io::Result<bool> {
        next.pid = self.pid;
        next.start_ticks = self.start_ticks;
        if let Some(last) = &self.last {
            if last.same_facts(&next) {
                return Ok(false);
            }
        }
        next.since = now;
        let text = next.to_json();
        self.last = Some(next);
        write_atomic(&self.path, text.as_bytes())?;
        Ok(true)
    }
}

/// Every state file in `pid_dir`, sorted by line; unreadable or foreign files are skipped
/// (see [`read_states_checked`]).
pub fn read_states(pid_dir: &Path) -> io::Result<Vec<LineState>> {
    Ok(read_states_checked(pid_dir)?.0)
}

/// A state file skipped because someone else wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Foreign {
    /// The file.
    pub path: PathBuf,
    /// Its owner.
    pub uid: u32,
}

/// [`read_states`], plus the state files owned by neither root nor the user running this
/// (rgetty writes them as root): anybody able to write into the pid directory could forge
/// a row, so they are skipped and listed for a warning.
pub fn read_states_checked(pid_dir: &Path) -> io::Result<(Vec<LineState>, Vec<Foreign>)> {
    let me = nix::unistd::geteuid().as_raw();
    let mut states = Vec::new();
    let mut foreign = Vec::new();
    for entry in fs::read_dir(pid_dir)? {
        let entry = entry?;
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with(STATE_PREFIX)
        {
            continue;
        }
        let path = entry.path();
        let Some((text, uid)) = read_small(&path) else {
            continue;
        };
        if uid != 0 && uid != me {
            foreign.push(Foreign { path, uid });
            continue;
        }
        if let Some(s) = LineState::from_json(&text) {
            states.push(s);
        }
    }
    states.sort_by(|a, b| a.line.cmp(&b.line));
    foreign.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((states, foreign))
}

/// One state file, read as [`read_states`] reads each; `None` if it is not one, or if it is
/// owned by neither root nor this user (anybody could have written it).
pub fn read_state(path: &Path) -> Option<LineState> {
    let me = nix::unistd::geteuid().as_raw();
    let (text, uid) = read_small(path)?;
    if uid != 0 && uid != me {
        return None;
    }
    LineState::from_json(&text)
}

/// A small regular file's text and owner, not through a symlink, without blocking on a FIFO.
fn read_small(path: &Path) -> Option<(String, u32)> {
    use std::os::unix::fs::MetadataExt;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut text = String::new();
    file.take(MAX_STATE_FILE).read_to_string(&mut text).ok()?;
    Some((text, meta.uid()))
}

/// Whether the process a state file names still runs: its pid exists, is not a zombie, and
/// (when recorded) has the same start time, so a reused pid does not count.
pub fn is_alive(pid: i32, start_ticks: Option<u64>) -> bool {
    if pid <= 0 {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let zombie = matches!(stat_field(&stat, 3), Some("Z" | "X"));
            let same = start_ticks.is_none_or(|t| stat_start_ticks(&stat) == Some(t));
            !zombie && same
        }
        // No /proc: ask the kernel (EPERM means it exists).
        Err(_) => !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        ),
    }
}

/// The state `rgetty status` shows for `s`: its own, or `down` when its process is gone.
pub fn effective_state(s: &LineState) -> String {
    if is_alive(s.pid, s.start_ticks) {
        s.state.clone()
    } else {
        super::state::DOWN.to_string()
    }
}

/// Append one record to the call log (created mode 0640 with its directory if missing).
/// One `write` of one line with `O_APPEND`, so records of several lines never interleave.
pub fn append_call(path: &Path, record: &CallRecord) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        let _ = fs::create_dir_all(dir);
    }
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "call log is not a regular file",
        ));
    }
    file.write_all(record.to_json_line().as_bytes())
}

/// Every record of a call log and the number of lines that were not records. A missing file
/// has no records.
pub fn read_calls(path: &Path) -> io::Result<(Vec<CallRecord>, usize)> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut records = Vec::new();
    let mut bad = 0;
    for line in BufReader::new(file).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match CallRecord::from_json_line(&line) {
            Some(r) => records.push(r),
            None => bad += 1,
        }
    }
    Ok((records, bad))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::calllog::Outcome;
    use std::os::unix::fs::symlink;

    fn st(state: &str) -> LineState {
        LineState {
            line: "pts/3".into(),
            state: state.into(),
            ..LineState::default()
        }
    }

    #[test]
    fn writes_only_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = StateWriter::new(dir.path(), "pts-3");
        assert!(w.update(st("waiting"), 10).unwrap());
        assert!(!w.update(st("waiting"), 20).unwrap());
        let got = read_states(dir.path()).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].state.as_str(), got[0].since), ("waiting", 10));
        assert_eq!(got[0].pid, i32::try_from(std::process::id()).unwrap());
        assert_eq!(effective_state(&got[0]), "waiting");
        assert!(w.update(st("ringing"), 30).unwrap());
        assert_eq!(read_states(dir.path()).unwrap()[0].state, "ringing");
        // no temp files left behind
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn never_follows_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep").unwrap();
        let path = state_path(dir.path(), "pts-3");
        symlink(&victim, &path).unwrap();
        // a planted temp-file symlink is removed, not followed
        let tmp = dir
            .path()
            .join(format!(".rgetty.state.pts-3.{}.tmp", std::process::id()));
        symlink(&victim, &tmp).unwrap();
        let mut w = StateWriter::new(dir.path(), "pts-3");
        w.update(st("waiting"), 1).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
        assert!(
            !fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // the call log refuses a symlink
        let log = dir.path().join("calls.jsonl");
        symlink(&victim, &log).unwrap();
        let r = CallRecord::from_json_line(
            r#"{"start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:00:00Z","line":"x","outcome":"error"}"#,
        )
        .unwrap();
        assert!(append_call(&log, &r).is_err());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
    }

    #[test]
    fn dead_pid_is_down() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        child.wait().unwrap();
        let s = LineState {
            pid,
            ..st("waiting")
        };
        assert_eq!(effective_state(&s), "down");
        let me = i32::try_from(std::process::id()).unwrap();
        assert!(is_alive(me, None));
        assert!(!is_alive(me, Some(1)), "start time differs: pid reused");
        assert!(!is_alive(0, None));
    }

    #[test]
    fn call_log_append_and_read() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sub/calls.jsonl");
        assert_eq!(read_calls(&log).unwrap(), (Vec::new(), 0));
        let mut r = CallRecord::from_json_line(
            r#"{"start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:00:05Z","line":"pts/3","outcome":"answered","user":"bob"}"#,
        )
        .unwrap();
        append_call(&log, &r).unwrap();
        r.outcome = Outcome::Refused;
        append_call(&log, &r).unwrap();
        fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .unwrap()
            .write_all(b"not json\n\n")
            .unwrap();
        let (recs, bad) = read_calls(&log).unwrap();
        assert_eq!(bad, 1);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1], r);
    }
}
