//! utmp and wtmp records for the line (`docs/behaviour.md` §8), through glibc's utmpx API.
//!
//! [`UtmpFiles::update`] does what mgetty does: it finds the utmp record of this process
//! (`ut_pid == getpid()`, type INIT, LOGIN or USER, normally written by init with the inittab
//! id), sets type, line, user, host and time, keeps its `ut_id`, writes it back with
//! `pututxline` and appends a copy to wtmp with `updwtmpx`.
//!
//! glibc's utmp file selection (`utmpxname`) and read position are process-global. The getty
//! is single-threaded; every use here is serialised by one `Mutex` anyway, and nothing else in
//! the crate calls the utmpx functions.
//!
//! # Deliberate differences from mgetty
//! * No record for our pid (systemd, tests): one is **created** with `ut_id` = the last 4
//!   characters of the line (agetty's convention). mgetty writes nothing and warns
//!   `no utmp/wtmp entry, expect issues`.
//! * utmp and wtmp are opened with `O_NOFOLLOW` and must be regular files with one link (a
//!   planted symlink never redirects the write), and control characters in user and host
//!   become `?`.
//! * A missing utmp or wtmp file is created (mode 0664); wtmp is best effort (its failure is
//!   logged, not returned), because some distributions replace wtmp with wtmpdb.
//! * `ut_user`, `ut_host` and `ut_line` are truncated to the field size − 1, so they always end
//!   in NUL (mgetty uses `strncpy` for `ut_user`, which may leave it unterminated).

use std::ffi::{CString, c_char};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::proto::sanitize;

unsafe extern "C" {
    /// glibc: append `ut` to the wtmp file `file` (libc 0.2 does not declare it).
    fn updwtmpx(file: *const c_char, ut: *const libc::utmpx);
}

/// Serialises all use of glibc's process-global utmp state.
static UTMP_LOCK: Mutex<()> = Mutex::new(());

/// The utmp and wtmp files to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtmpFiles {
    /// The utmp file, normally `/var/run/utmp`.
    pub utmp: PathBuf,
    /// The wtmp file, normally `/var/log/wtmp`.
    pub wtmp: PathBuf,
}

impl Default for UtmpFiles {
    /// `/var/run/utmp` and `/var/log/wtmp`.
    fn default() -> Self {
        UtmpFiles {
            utmp: PathBuf::from("/var/run/utmp"),
            wtmp: PathBuf::from("/var/log/wtmp"),
        }
    }
}

/// Record type (`ut_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    /// INIT_PROCESS: spawned by init.
    Init,
    /// LOGIN_PROCESS: waiting for a login (mgetty: user `LOGIN`).
    Login,
    /// USER_PROCESS: a session.
    User,
    /// DEAD_PROCESS: ended.
    Dead,
    /// Any other `ut_type` found in a file (boot time, run level, …).
    Other(i16),
}

impl RecordType {
    fn to_raw(self) -> libc::c_short {
        match self {
            RecordType::Init => libc::INIT_PROCESS,
            RecordType::Login => libc::LOGIN_PROCESS,
            RecordType::User => libc::USER_PROCESS,
            RecordType::Dead => libc::DEAD_PROCESS,
            RecordType::Other(t) => t,
        }
    }

    fn from_raw(t: libc::c_short) -> RecordType {
        match t {
            libc::INIT_PROCESS => RecordType::Init,
            libc::LOGIN_PROCESS => RecordType::Login,
            libc::USER_PROCESS => RecordType::User,
            libc::DEAD_PROCESS => RecordType::Dead,
            other => RecordType::Other(other),
        }
    }
}

/// One utmp/wtmp record, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `ut_type`.
    pub kind: RecordType,
    /// `ut_pid`.
    pub pid: i32,
    /// `ut_line`: the device without `/dev/` (`ttyS0`, `pts/1`).
    pub line: String,
    /// `ut_id`: the inittab id (up to 4 bytes).
    pub id: String,
    /// `ut_user`.
    pub user: String,
    /// `ut_host`.
    pub host: String,
    /// `ut_tv.tv_sec`.
    pub time_s: i64,
}

/// Why a utmp update failed (wtmp failures are only logged).
#[derive(Debug, thiserror::Error)]
pub enum UtmpError {
    /// A path contains a NUL byte.
    #[error("utmp path contains a NUL byte: {0:?}")]
    Nul(PathBuf),
    /// The file could not be created or opened.
    #[error("cannot create {path}: {source}")]
    Create {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// `utmpxname` refused the path.
    #[error("utmpxname({path}) failed: {source}")]
    Name {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// `pututxline` failed.
    #[error("cannot write the utmp record for {line:?} to {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The line of the record.
        line: String,
        /// The error.
        source: io::Error,
    },
}

/// Open `path` (created with mode 0664, before the umask, if missing) without following a
/// symlink and check it is a regular file with one link ([`crate::sys::safefile`]). Returns the
/// open file and the path glibc must use: `/proc/self/fd/N`, which reopens exactly this
/// inode, so a symlink swapped in after the check cannot redirect glibc's write either.
fn open_checked(path: &Path) -> Result<(std::fs::File, CString), UtmpError> {
    let file = crate::sys::safefile::open_rw(path, 0o664).map_err(|source| UtmpError::Create {
        path: path.to_path_buf(),
        source,
    })?;
    let c = match crate::sys::safefile::fd_path(&file) {
        Some(p) => c_path(&p)?,
        None => c_path(path)?,
    };
    Ok((file, c))
}

fn c_path(path: &Path) -> Result<CString, UtmpError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| UtmpError::Nul(path.to_path_buf()))
}

/// Copy `s` into a C char field, truncated to the field size − 1 and NUL-padded.
fn fill(field: &mut [c_char], s: &str) {
    field.fill(0);
    let max = field.len().saturating_sub(1);
    for (dst, &b) in field.iter_mut().zip(s.as_bytes().iter().take(max)) {
        *dst = b as c_char;
    }
}

/// Copy `s` into a field that need not be NUL-terminated (`ut_id`).
fn fill_unterminated(field: &mut [c_char], s: &[u8]) {
    field.fill(0);
    for (dst, &b) in field.iter_mut().zip(s) {
        *dst = b as c_char;
    }
}

/// Decode a C char field up to its first NUL (lossy UTF-8).
fn field_str(field: &[c_char]) -> String {
    let bytes: Vec<u8> = field
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// agetty's `ut_id` for a line: its last 4 bytes (`ttyS0` → `tyS0`, `pts/12` → `s/12`).
fn default_id(line: &str) -> &[u8] {
    let b = line.as_bytes();
    &b[b.len().saturating_sub(4)..]
}

fn decode(ut: &libc::utmpx) -> Record {
    Record {
        kind: RecordType::from_raw(ut.ut_type),
        pid: ut.ut_pid,
        line: field_str(&ut.ut_line),
        id: field_str(&ut.ut_id),
        user: field_str(&ut.ut_user),
        host: field_str(&ut.ut_host),
        time_s: i64::from(ut.ut_tv.tv_sec),
    }
}

fn is_process_record(ut: &libc::utmpx) -> bool {
    matches!(
        ut.ut_type,
        libc::INIT_PROCESS | libc::LOGIN_PROCESS | libc::USER_PROCESS
    )
}

/// This pid's process record in the utmp file glibc has open (after `utmpxname`), if any.
/// The caller holds `UTMP_LOCK`.
fn find_process_record(pid: i32) -> Option<libc::utmpx> {
    // SAFETY: rewinds glibc's utmp stream; the caller serialises through UTMP_LOCK.
    unsafe { libc::setutxent() };
    loop {
        // SAFETY: getutxent returns null at the end or a pointer to glibc's static
        // record, valid until the next utmp call; it is copied out at once.
        let p = unsafe { libc::getutxent() };
        if p.is_null() {
            return None;
        }
        // SAFETY: p is non-null and points to a valid utmpx (see above).
        let ut = unsafe { *p };
        if ut.ut_pid == pid && is_process_record(&ut) {
            return Some(ut);
        }
    }
}

impl UtmpFiles {
    /// Mark this process's record as `kind` with `user`/`host` on `line` (the device without
    /// `/dev/`) in utmp, and append the same record to wtmp. See the module docs.
    pub fn update(
        &self,
        kind: RecordType,
        user: &str,
        host: &str,
        line: &str,
    ) -> Result<(), UtmpError> {
        let (_utmp_file, utmp_c) = open_checked(&self.utmp)?;
        // Nothing a process put in its command line (ESC, BEL) reaches who(1) or last(1).
        let (user, host) = (sanitize::printable(user), sanitize::printable(host));
        let pid = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();

        let _guard = UTMP_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: utmpxname copies the NUL-terminated path; serialised by UTMP_LOCK.
        if unsafe { libc::utmpxname(utmp_c.as_ptr()) } != 0 {
            return Err(UtmpError::Name {
                path: self.utmp.clone(),
                source: io::Error::last_os_error(),
            });
        }
        let found = find_process_record(pid);
        let created = found.is_none();
        let mut ut = found.unwrap_or_else(|| {
            // SAFETY: utmpx is plain integers and char arrays; all zeros is a valid value.
            let mut ut: libc::utmpx = unsafe { std::mem::zeroed() };
            fill_unterminated(&mut ut.ut_id, default_id(line));
            ut.ut_pid = pid;
            ut
        });
        ut.ut_type = kind.to_raw();
        fill(&mut ut.ut_line, line);
        fill(&mut ut.ut_user, &user);
        fill(&mut ut.ut_host, &host);
        ut.ut_tv.tv_sec = now.as_secs().try_into().unwrap_or_default();
        ut.ut_tv.tv_usec = now.subsec_micros().try_into().unwrap_or_default();

        // SAFETY: `ut` is a valid record on our stack; glibc copies it. Rewinding first makes
        // pututxline search the whole file for the slot with this ut_id.
        let written = unsafe {
            libc::setutxent();
            libc::pututxline(&ut)
        };
        let write_error = written.is_null().then(io::Error::last_os_error);
        // SAFETY: closes glibc's utmp stream and points glibc back at the default file
        // (a static NUL-terminated string); serialised by UTMP_LOCK.
        unsafe {
            libc::endutxent();
            libc::utmpxname(c"/var/run/utmp".as_ptr());
        }
        if let Some(source) = write_error {
            return Err(UtmpError::Write {
                path: self.utmp.clone(),
                line: line.to_string(),
                source,
            });
        }
        if created {
            log::debug!(
                "utmp: no record for pid {pid}, created one with id {:?}",
                field_str(&ut.ut_id)
            );
        }
        self.append_wtmp(&ut);
        Ok(())
    }

    /// Best effort: create wtmp if missing and append `ut`; failures are logged.
    fn append_wtmp(&self, ut: &libc::utmpx) {
        let (_wtmp_file, wtmp_c) = match open_checked(&self.wtmp) {
            Ok(opened) => opened,
            Err(e) => {
                log::warn!("wtmp not written: {e}");
                return;
            }
        };
        // SAFETY: both pointers are valid for the call; updwtmpx opens, locks, appends and
        // closes the file itself.
        unsafe { updwtmpx(wtmp_c.as_ptr(), ut) };
    }

    /// Close this process's LOGIN or USER record (getty exit without exec: signal, error,
    /// dial-out over): it becomes DEAD_PROCESS with empty user and host, and wtmp gets the
    /// logout record. Returns false when there was no such record (nothing written), so a
    /// getty that never wrote one leaves utmp alone.
    pub fn close(&self, line: &str) -> Result<bool, UtmpError> {
        let pid = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
        let open = read_records(&self.utmp).is_ok_and(|records| {
            records
                .iter()
                .any(|r| r.pid == pid && matches!(r.kind, RecordType::Login | RecordType::User))
        });
        if open {
            self.update(RecordType::Dead, "", "", line)?;
        }
        Ok(open)
    }

    /// The number of USER_PROCESS records in utmp (issue escapes `\N`, `\U`); 0 if unreadable.
    pub fn count_users(&self) -> usize {
        read_records(&self.utmp)
            .map(|records| {
                records
                    .iter()
                    .filter(|r| r.kind == RecordType::User)
                    .count()
            })
            .unwrap_or(0)
    }
}

/// Read all records of a utmp or wtmp file directly (fixed-size `struct utmpx` records; a
/// trailing partial record is ignored).
pub fn read_records(path: &Path) -> io::Result<Vec<Record>> {
    let data = std::fs::read(path)?;
    let size = std::mem::size_of::<libc::utmpx>();
    Ok(data
        .chunks_exact(size)
        .map(|chunk| {
            // SAFETY: `chunk` holds exactly size_of::<utmpx>() bytes and utmpx is plain
            // integers and char arrays, for which every bit pattern is valid;
            // read_unaligned copes with the Vec's alignment.
            let ut: libc::utmpx = unsafe { std::ptr::read_unaligned(chunk.as_ptr().cast()) };
            decode(&ut)
        })
        .collect())
}

/// Append one record to a utmp or wtmp file as raw bytes (no glibc): for test harnesses that
/// need a pre-existing record, like the INIT_PROCESS record init writes from inittab.
pub fn append_record(path: &Path, record: &Record) -> io::Result<()> {
    use std::io::Write;
    // SAFETY: utmpx is plain integers and char arrays; all zeros is a valid value.
    let mut ut: libc::utmpx = unsafe { std::mem::zeroed() };
    ut.ut_type = record.kind.to_raw();
    ut.ut_pid = record.pid;
    fill(&mut ut.ut_line, &record.line);
    fill_unterminated(&mut ut.ut_id, record.id.as_bytes());
    fill(&mut ut.ut_user, &record.user);
    fill(&mut ut.ut_host, &record.host);
    ut.ut_tv.tv_sec = record.time_s.try_into().unwrap_or_default();
    // SAFETY: `ut` is a live, initialised value; viewing its bytes is sound because utmpx
    // is repr(C) plain data (the zeroed() above also zeroed any padding).
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&raw const ut).cast::<u8>(),
            std::mem::size_of::<libc::utmpx>(),
        )
    };
    crate::sys::safefile::open_append(path, 0o664)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(default_id("ttyS0"), b"tyS0");
        assert_eq!(default_id("pts/12"), b"s/12");
        assert_eq!(default_id("x"), b"x");
        assert_eq!(default_id(""), b"");
    }

    #[test]
    fn fields_truncate_and_terminate() {
        let mut f = [1 as c_char; 4];
        fill(&mut f, "abcdef");
        assert_eq!(field_str(&f), "abc");
        assert_eq!(f[3], 0);
        fill(&mut f, "");
        assert_eq!(f, [0; 4]);
        let mut id = [0 as c_char; 4];
        fill_unterminated(&mut id, b"tyS0");
        assert_eq!(field_str(&id), "tyS0");
    }

    #[test]
    fn kinds_round_trip() {
        for k in [
            RecordType::Init,
            RecordType::Login,
            RecordType::User,
            RecordType::Dead,
            RecordType::Other(2),
        ] {
            assert_eq!(RecordType::from_raw(k.to_raw()), k);
        }
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn update_never_writes_through_a_symlink_and_cleans_host() {
        use std::os::unix::fs::symlink;
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep\n").unwrap();
        let files = UtmpFiles {
            utmp: d.path().join("utmp"),
            wtmp: d.path().join("wtmp"),
        };
        symlink(&victim, &files.utmp).unwrap();
        let e = files
            .update(RecordType::Login, "LOGIN", "", "pts/99")
            .unwrap_err();
        assert!(e.to_string().contains("is a symlink"), "{e}");
        std::fs::remove_file(&files.utmp).unwrap();
        symlink(&victim, &files.wtmp).unwrap();
        files
            .update(RecordType::User, "dialout", "cu \u{1b}[2J\u{7}", "pts/99")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep\n");
        let records = read_records(&files.utmp).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].host, "cu ?[2J?");
        assert!(
            std::fs::symlink_metadata(&files.wtmp)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn close_marks_our_record_dead_only_if_there_is_one() {
        let d = tempfile::tempdir().unwrap();
        let files = UtmpFiles {
            utmp: d.path().join("utmp"),
            wtmp: d.path().join("wtmp"),
        };
        assert!(!files.close("/tmp/line").unwrap());
        assert!(!files.utmp.exists());
        files
            .update(RecordType::Login, "LOGIN", "", "/tmp/line")
            .unwrap();
        assert!(files.close("/tmp/line").unwrap());
        let records = read_records(&files.utmp).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].kind, RecordType::Dead);
        assert_eq!(records[0].user, "");
        assert_eq!(read_records(&files.wtmp).unwrap().len(), 2);
        assert!(!files.close("/tmp/line").unwrap());
    }
}
