//! The hand-off between `rgetty` and `rgetty-wait` (docs/behaviour.md §4.3): the waiter's
//! command line, the `--resume` argument it execs rgetty back with, and the signals both
//! sides block across the two `execve`s.
//!
//! Shared source: `src/bin/rgetty-wait.rs` includes this file with `#[path]` (the waiter links
//! neither the rgetty library nor std: it is `no_std`, with `core` and `libc` only), so everything here is plain
//! byte and number handling with no allocation in what the waiter calls.
//!
//! The waiter's command line (all numbers decimal, every part required):
//!
//! ```text
//! TITLE LINE_FD INOTIFY_FD|- EXE_FD DEADLINE_MS|- [-ri=COUNT] NAME... -- RGETTY_ARGV...
//! ```
//!
//! `TITLE` (`argv[0]`) is what `ps` shows (`rgetty: ttyS0 waiting`); `DEADLINE_MS` is the
//! modem check's absolute `CLOCK_MONOTONIC` time in milliseconds; each `NAME` is the basename
//! of one lock file of this line in the watched lock directory. `-ri=COUNT` (a lock name never
//! starts with `-`) asks the waiter to watch the line's RI pin too: `COUNT` is the RI count
//! (`TIOCGICOUNT`) rgetty has accounted for, so an edge it has not seen wakes the waiter at once. rgetty is exec'd back with
//! `RGETTY_ARGV[0]`, [`RESUME`]`REASON,LINE_FD,INOTIFY_FD|-,DEADLINE_MS|-,WOKE_US:BYTES|-`,
//! then the rest of `RGETTY_ARGV`. `WOKE_US:BYTES` ([`Backlog`]) is given when the line woke
//! the waiter: when it did (`CLOCK_MONOTONIC`, µs) and how many bytes were waiting then.

/// The hidden option the waiter puts right after rgetty's `argv[0]`.
pub const RESUME: &str = "--resume=";

/// Lock names the waiter accepts at most (a line has a handful: upstream and Debian names,
/// SVR4, aliases).
pub const MAX_NAMES: usize = 32;

/// Arguments of rgetty the waiter passes back at most.
pub const MAX_ARGS: usize = 256;

/// Why the waiter went back to rgetty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The line is readable or hung up.
    Line,
    /// A lock file of the line appeared or was written.
    Lock,
    /// An RI edge (its time is the [`Backlog`]'s).
    Ri,
    /// SIGUSR1: a virtual ring.
    Ring,
    /// SIGUSR2: exit while idle.
    Exit,
    /// A terminating signal (its number).
    Signal(i32),
    /// The modem check is due.
    Check,
}

/// What rgetty is resumed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// Why the wait ended.
    pub reason: Reason,
    /// The line's fd (open across both execs).
    pub line_fd: i32,
    /// The lock directory's inotify fd, if rgetty had one.
    pub inotify_fd: Option<i32>,
    /// The modem check's deadline (absolute `CLOCK_MONOTONIC`, ms), if any.
    pub deadline_ms: Option<u64>,
    /// When the line woke the waiter and what it held then ([`Reason::Line`], [`Reason::Ri`]).
    pub backlog: Option<Backlog>,
}

/// Input that had arrived when the waiter woke: those bytes came in no later than `woke_us`,
/// however long the exec back took (so the answer's pause can count from then, §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// When the waiter woke (`CLOCK_MONOTONIC`, µs).
    pub woke_us: u64,
    /// Bytes in the line's input queue then.
    pub bytes: u32,
}

/// Now on `CLOCK_MONOTONIC`, in ms ([`now_us`]).
pub fn now_ms() -> u64 {
    now_us() / 1000
}

/// Now on `CLOCK_MONOTONIC` (the clock of `Instant` on Linux), in µs.
pub fn now_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the timespec, which lives through the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000
        + u64::try_from(ts.tv_nsec).unwrap_or(0) / 1000
}

/// Bytes waiting in `fd`'s input queue (`FIONREAD`), 0 when it cannot be asked.
///
/// The one ioctl outside `sys::tty`: this file is compiled into the waiter, which links no
/// part of the rgetty library (see the module docs).
pub fn input_pending(fd: i32) -> u32 {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int, which lives through the call; a bad fd only fails.
    let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    if r < 0 {
        0
    } else {
        u32::try_from(n).unwrap_or(0)
    }
}

/// A non-negative decimal number of at most 19 digits, nothing else.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Whether `n` may be passed as an fd: above stderr (the line and the others are never 0-2;
/// a getty started with stdin closed may have the line at 0) and below 2^20.
pub fn fd_ok(n: i32) -> bool {
    (3..1 << 20).contains(&n)
}

/// An fd number ([`fd_ok`]) in decimal.
pub fn parse_fd(s: &[u8]) -> Option<i32> {
    parse_u64(s)
        .and_then(|n| i32::try_from(n).ok())
        .filter(|&n| fd_ok(n))
}

/// `-` (none) or an fd ([`parse_fd`]); the outer `None` means neither.
pub fn parse_opt_fd(s: &[u8]) -> Option<Option<i32>> {
    if s == b"-" {
        Some(None)
    } else {
        parse_fd(s).map(Some)
    }
}

/// `-` (none) or a deadline in ms; the outer `None` means neither.
pub fn parse_opt_ms(s: &[u8]) -> Option<Option<u64>> {
    if s == b"-" {
        Some(None)
    } else {
        parse_u64(s).map(Some)
    }
}

/// The `-ri=COUNT` token: `COUNT`, or `None` for anything else.
pub fn parse_ri(s: &[u8]) -> Option<u32> {
    u32::try_from(parse_u64(s.strip_prefix(b"-ri=")?)?).ok()
}

/// The RI count of `fd` (`TIOCGICOUNT`'s `rng`), `None` where the line has none.
///
/// Like [`input_pending`], a waiter's ioctl outside `sys::tty` (whose `icount` it mirrors).
pub fn ri_count(fd: i32) -> Option<u32> {
    // struct serial_icounter_struct: 11 counters, then 9 reserved ints.
    let mut c = [0 as libc::c_int; 20];
    // SAFETY: TIOCGICOUNT fills a serial_icounter_struct, which `c` is the size of.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGICOUNT, c.as_mut_ptr()) };
    (r == 0).then(|| u32::try_from(c[2]).unwrap_or(0))
}

/// The calling thread's `errno` (the waiter has no `std::io::Error`).
pub fn errno() -> i32 {
    // SAFETY: glibc's errno location is valid for the calling thread's whole life.
    unsafe { *libc::__errno_location() }
}

/// Block until the RI pin of `fd` changes (`TIOCMIWAIT`); false when it cannot be waited on.
pub fn wait_ri_change(fd: i32) -> bool {
    loop {
        // SAFETY: TIOCMIWAIT takes the mask of lines as its integer argument.
        let r = unsafe { libc::ioctl(fd, libc::TIOCMIWAIT, libc::TIOCM_RNG) };
        if r == 0 {
            return true;
        }
        if errno() != libc::EINTR {
            return false;
        }
    }
}

/// The lock names of one line, as both sides check them: 1 to [`MAX_NAMES`], each
/// [`valid_name`].
pub fn names_ok<'a>(mut names: impl ExactSizeIterator<Item = &'a [u8]>) -> bool {
    (1..=MAX_NAMES).contains(&names.len()) && names.all(valid_name)
}

/// A lock file basename: 1-255 printable ASCII bytes, no `/`, not `.` or `..`, not starting
/// with `-`.
pub fn valid_name(s: &[u8]) -> bool {
    (1..=255).contains(&s.len())
        && s.iter().all(|b| b.is_ascii_graphic() && *b != b'/')
        && s != b"."
        && s != b".."
        && s[0] != b'-'
}

impl Reason {
    /// The word in [`RESUME`] (`signal` is followed by its number).
    pub fn word(self) -> &'static str {
        match self {
            Reason::Line => "line",
            Reason::Lock => "lock",
            Reason::Ri => "ri",
            Reason::Ring => "ring",
            Reason::Exit => "exit",
            Reason::Signal(_) => "signal",
            Reason::Check => "check",
        }
    }

    fn parse(s: &str) -> Option<Reason> {
        Some(match s {
            "line" => Reason::Line,
            "lock" => Reason::Lock,
            "ri" => Reason::Ri,
            "ring" => Reason::Ring,
            "exit" => Reason::Exit,
            "check" => Reason::Check,
            _ => {
                let n = parse_u64(s.strip_prefix("signal")?.as_bytes())?;
                Reason::Signal(i32::try_from(n).ok().filter(|n| (1..=64).contains(n))?)
            }
        })
    }
}

/// A small buffer the waiter formats into without allocating.
#[derive(Debug)]
pub struct Buf<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Default for Buf<N> {
    fn default() -> Self {
        Buf {
            bytes: [0; N],
            len: 0,
        }
    }
}

impl<const N: usize> Buf<N> {
    /// Append bytes (cut at the capacity, which [`resume_arg`] never reaches).
    pub fn push(&mut self, s: &[u8]) {
        let n = s.len().min(N - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }

    /// Append a number in decimal.
    pub fn push_u64(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    /// What was written.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The [`RESUME`] argument for `r`, NUL-terminated (at most 90 bytes).
pub fn resume_arg(r: &Resume) -> Buf<96> {
    let mut b = Buf::default();
    b.push(RESUME.as_bytes());
    b.push(r.reason.word().as_bytes());
    if let Reason::Signal(n) = r.reason {
        b.push_u64(u64::from(n.unsigned_abs()));
    }
    b.push(b",");
    b.push_u64(u64::from(r.line_fd.unsigned_abs()));
    b.push(b",");
    match r.inotify_fd {
        Some(fd) => b.push_u64(u64::from(fd.unsigned_abs())),
        None => b.push(b"-"),
    }
    b.push(b",");
    match r.deadline_ms {
        Some(ms) => b.push_u64(ms),
        None => b.push(b"-"),
    }
    b.push(b",");
    match r.backlog {
        Some(k) => {
            b.push_u64(k.woke_us);
            b.push(b":");
            b.push_u64(u64::from(k.bytes));
        }
        None => b.push(b"-"),
    }
    b.push(b"\0");
    b
}

/// The value of [`RESUME`] (what follows `=`), checked strictly.
pub fn parse_resume(value: &str) -> Option<Resume> {
    let mut parts = value.split(',');
    let reason = Reason::parse(parts.next()?)?;
    let line_fd = parse_fd(parts.next()?.as_bytes())?;
    let inotify_fd = parse_opt_fd(parts.next()?.as_bytes())?;
    let deadline_ms = parse_opt_ms(parts.next()?.as_bytes())?;
    let backlog = parse_backlog(parts.next()?)?;
    if parts.next().is_some() || inotify_fd == Some(line_fd) {
        return None;
    }
    if backlog.is_some() && !matches!(reason, Reason::Line | Reason::Ri) {
        return None;
    }
    Some(Resume {
        reason,
        line_fd,
        inotify_fd,
        deadline_ms,
        backlog,
    })
}

/// `-` (none) or `WOKE_US:BYTES`; the outer `None` means neither.
fn parse_backlog(s: &str) -> Option<Option<Backlog>> {
    if s == "-" {
        return Some(None);
    }
    let (us, n) = s.split_once(':')?;
    let bytes = u32::try_from(parse_u64(n.as_bytes())?).ok()?;
    Some(Some(Backlog {
        woke_us: parse_u64(us.as_bytes())?,
        bytes,
    }))
}

/// Signals that terminate rgetty cleanly (`sys::wake::TERM_SIGNALS` is this list).
pub const TERM: [i32; 7] = [
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    libc::SIGPWR,
    libc::SIGABRT,
];

/// Whether rgetty catches `sig` (a meaning of its own, a clean end, or ignored by a handler):
/// these are blocked across both execs, where a caught signal is back to its default (which
/// ends or stops most), and unblocked only where a handler is in place. Not SIGCHLD, SIGCONT,
/// SIGURG, SIGWINCH (their default does nothing), SIGKILL and SIGSTOP (uncatchable) or the
/// faults (a bug: the default core dump).
pub fn caught(sig: i32) -> bool {
    let left_alone = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGCHLD,
        libc::SIGCONT,
        libc::SIGURG,
        libc::SIGWINCH,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGTRAP,
        libc::SIGSYS,
    ];
    (1..=libc::SIGRTMAX()).contains(&sig)
        && !left_alone.contains(&sig)
        && (sig < 32 || sig >= libc::SIGRTMIN())
}

/// The set of [`caught`] signals.
pub fn caught_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set; sigaddset takes valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in 1..=libc::SIGRTMAX() {
            if caught(sig) {
                libc::sigaddset(&mut set, sig);
            }
        }
        set
    }
}

/// Block (`how` = `SIG_BLOCK`) or unblock (`SIG_UNBLOCK`) the [`caught`] signals.
pub fn mask_caught(how: libc::c_int) {
    let set = caught_set();
    // SAFETY: `set` is an initialised signal set; the old mask is not asked for.
    unsafe {
        libc::pthread_sigmask(how, &set, core::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_are_strict() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"123"), Some(123));
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b"1 ",
            b"0x1",
            b"12345678901234567890",
        ] {
            assert_eq!(parse_u64(bad), None, "{bad:?}");
        }
        assert_eq!(parse_fd(b"2"), None);
        assert_eq!(parse_fd(b"3"), Some(3));
        assert_eq!(parse_fd(b"1048576"), None);
        assert_eq!(parse_opt_fd(b"-"), Some(None));
        assert_eq!(parse_opt_fd(b"x"), None);
        assert_eq!(parse_opt_ms(b"17"), Some(Some(17)));
        assert!(valid_name(b"LCK..ttyS0"));
        assert!(valid_name(b"LCK.004.064"));
        for bad in [
            &b""[..],
            b".",
            b"..",
            b"a/b",
            b"-x",
            b"a b",
            b"a\x1b",
            &[b'x'; 256],
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn resume_round_trips() {
        assert_eq!(parse_ri(b"-ri=7"), Some(7));
        assert_eq!(parse_ri(b"-ri=4294967296"), None);
        assert_eq!(parse_ri(b"-ri="), None);
        assert_eq!(parse_ri(b"LCK..ttyS0"), None);
        let reasons = [
            Reason::Line,
            Reason::Lock,
            Reason::Ri,
            Reason::Ring,
            Reason::Exit,
            Reason::Signal(15),
            Reason::Check,
        ];
        for reason in reasons {
            for (ino, ms) in [(Some(7), Some(123_456_789)), (None, None)] {
                let backlog = matches!(reason, Reason::Line | Reason::Ri).then_some(Backlog {
                    woke_us: 98_765_432_101,
                    bytes: 8,
                });
                let r = Resume {
                    reason,
                    line_fd: 5,
                    inotify_fd: ino,
                    deadline_ms: ms,
                    backlog,
                };
                let arg = resume_arg(&r);
                let text = std::str::from_utf8(arg.as_bytes()).unwrap();
                let value = text.strip_prefix(RESUME).unwrap().strip_suffix('\0');
                assert_eq!(parse_resume(value.unwrap()), Some(r), "{text}");
            }
        }
        assert_eq!(
            resume_arg(&Resume {
                reason: Reason::Signal(15),
                line_fd: 5,
                inotify_fd: Some(6),
                deadline_ms: None,
                backlog: None,
            })
            .as_bytes(),
            b"--resume=signal15,5,6,-,-\0"
        );
        assert_eq!(
            resume_arg(&Resume {
                reason: Reason::Line,
                line_fd: 5,
                inotify_fd: None,
                deadline_ms: Some(9),
                backlog: Some(Backlog {
                    woke_us: 12,
                    bytes: 8
                }),
            })
            .as_bytes(),
            b"--resume=line,5,-,9,12:8\0"
        );
        for bad in [
            "",
            "line",
            "line,5,6",
            "line,5,6,-",
            "line,5,6,-,x",
            "line,5,6,-,-,-",
            "line,5,6,-,12",
            "line,5,6,-,12:",
            "line,5,6,-,:8",
            "line,5,6,-,12:99999999999",
            "ring,5,6,-,12:8",
            "signal0,5,6,-,-",
            "signal65,5,6,-,-",
            "nap,5,6,-,-",
            "line,1,6,-,-",
            "line,5,5,-,-",
            "line,5,6,1.5,-",
        ] {
            assert_eq!(parse_resume(bad), None, "{bad}");
        }
    }

    #[test]
    fn caught_signals() {
        for sig in [libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2, libc::SIGPIPE] {
            assert!(caught(sig), "{sig}");
        }
        assert!(caught(libc::SIGRTMIN()) && caught(libc::SIGRTMAX()));
        for sig in [
            libc::SIGCHLD,
            libc::SIGKILL,
            libc::SIGSEGV,
            libc::SIGWINCH,
            0,
            32,
        ] {
            assert!(!caught(sig), "{sig}");
        }
        assert!(TERM.iter().all(|&s| caught(s)));
    }
}
