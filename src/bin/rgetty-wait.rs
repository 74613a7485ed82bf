//! `rgetty-wait`: where an idle rgetty waits (docs/behaviour.md §4.3).
//!
//! rgetty execs this small program for the plain wait of the Waiting state, in the same
//! process, and it execs rgetty back (the same binary, through an `O_PATH` fd of it) as soon
//! as something happens: the line is readable or hung up, a lock file of this line appears,
//! an RI edge (with `-ri=COUNT`), SIGUSR1, SIGUSR2, a terminating signal, or the modem
//! check's deadline. It never reads the line and parses nothing that comes from it; its
//! command line comes from rgetty only and is checked strictly (`waitproto`). Its reason for
//! waking goes back as a hidden `--resume` argument. What it saves: a waiting line privately
//! owns only this program's few pages, not rgetty's heap, stack and relocated data
//! (bench/getty).
//!
//! `no_std` and `no_main`, with `core` and `libc` only: no allocation, no std runtime, no
//! unwinder (a panic aborts; every profile builds with `panic = "abort"`, see Cargo.toml), so
//! a waiting line privately owns little more than libc's own pages. One `ppoll` with the
//! caught signals unblocked only inside it, so a signal is either handled there or stays
//! pending, blocked, across the exec back to rgetty, which unblocks it once its handlers are
//! in place.
// `clippy --all-targets` also checks it as a test, which needs std.
#![cfg_attr(not(test), no_std)]
#![no_main]

// libc's functions: std links libc for the other programs; without std, say so here.
#[cfg(not(test))]
#[link(name = "c")]
unsafe extern "C" {}

/// A panic (a bug: every index is guarded) aborts; rgetty's init then starts a fresh getty.
#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: abort never returns and needs nothing.
    unsafe { libc::abort() }
}

/// What the precompiled `core` names for unwinding; never called, since nothing unwinds here
/// (`panic = "abort"`). An optimised build drops the reference; a debug build needs the symbol.
#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

#[allow(dead_code)]
#[path = "../sys/waitproto.rs"]
mod waitproto;

use core::ffi::{CStr, c_char, c_int};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

use waitproto::{Backlog, Reason, Resume};

static USR1: AtomicBool = AtomicBool::new(false);
static USR2: AtomicBool = AtomicBool::new(false);
static TERM: AtomicI32 = AtomicI32::new(0);

/// Exit code when rgetty cannot be exec'd back (rgetty's "cannot be set up").
const EXEC_FAILED: c_int = 30;
/// Exit code for a command line rgetty did not write.
const USAGE: c_int = 2;

/// The checked command line.
struct Args<'a> {
    line_fd: c_int,
    inotify_fd: Option<c_int>,
    exe_fd: c_int,
    deadline_ms: Option<u64>,
    /// Watch the RI pin, from this count on.
    ri: Option<u32>,
    names: &'a [*const c_char],
    rgetty: &'a [*const c_char],
}

fn bytes<'a>(p: *const c_char) -> &'a [u8] {
    // SAFETY: `p` is one of the NUL-terminated strings of argv, alive for the whole run.
    unsafe { CStr::from_ptr(p) }.to_bytes()
}

fn say(msg: &[u8]) {
    let mut b = waitproto::Buf::<256>::default();
    b.push(b"rgetty-wait: ");
    b.push(msg);
    b.push(b"\n");
    // SAFETY: writes the initialised bytes of `b` to stderr; a failure is ignored.
    unsafe {
        libc::write(2, b.as_bytes().as_ptr().cast(), b.as_bytes().len());
    }
}

/// Whether `fd` is open.
fn is_open(fd: c_int) -> bool {
    // SAFETY: F_GETFD only reads the fd's flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

fn parse<'a>(argv: &'a [*const c_char]) -> Result<Args<'a>, &'static [u8]> {
    const BAD: &[u8] = b"started by rgetty only (bad arguments)";
    let at = |i: usize| argv.get(i).map(|&p| bytes(p)).ok_or(BAD);
    let line_fd = waitproto::parse_fd(at(1)?).ok_or(BAD)?;
    let inotify_fd = waitproto::parse_opt_fd(at(2)?).ok_or(BAD)?;
    let exe_fd = waitproto::parse_fd(at(3)?).ok_or(BAD)?;
    let deadline_ms = waitproto::parse_opt_ms(at(4)?).ok_or(BAD)?;
    let mut rest = argv.get(5..).ok_or(BAD)?;
    let ri = rest.first().and_then(|&p| waitproto::parse_ri(bytes(p)));
    if ri.is_some() {
        rest = &rest[1..];
    }
    let sep = rest.iter().position(|&p| bytes(p) == b"--").ok_or(BAD)?;
    let (names, rgetty) = (&rest[..sep], &rest[sep + 1..]);
    let fds_distinct = line_fd != exe_fd && inotify_fd.is_none_or(|i| i != line_fd && i != exe_fd);
    if !waitproto::names_ok(names.iter().map(|&p| bytes(p)))
        || rgetty.is_empty()
        || rgetty.len() >= waitproto::MAX_ARGS
        || bytes(rgetty[0]).is_empty()
        || !fds_distinct
    {
        return Err(BAD);
    }
    // A character device (not isatty: a tty hung up meanwhile fails every tty ioctl, and
    // rgetty must still see that hang-up).
    // SAFETY: fstat fills the zeroed stat of the fd.
    let line_ok = unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        libc::fstat(line_fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFCHR
    };
    if !line_ok || !is_open(exe_fd) || !inotify_fd.is_none_or(is_open) {
        return Err(b"the line, rgetty or the inotify fd is not open");
    }
    Ok(Args {
        line_fd,
        inotify_fd,
        exe_fd,
        deadline_ms,
        ri,
        names,
        rgetty,
    })
}

extern "C" fn on_signal(sig: c_int) {
    if sig == libc::SIGUSR1 {
        USR1.store(true, Ordering::SeqCst);
    } else if sig == libc::SIGUSR2 {
        USR2.store(true, Ordering::SeqCst);
    } else if waitproto::TERM.contains(&sig) {
        TERM.store(sig, Ordering::SeqCst);
    }
}

/// Block the caught signals, give each a flag handler; the mask to wait with (the old one,
/// without them).
fn install_handlers() -> libc::sigset_t {
    let caught = waitproto::caught_set();
    // SAFETY: plain libc calls on initialised sets; the handler only stores atomics
    // (async-signal-safe) and runs with every caught signal blocked.
    unsafe {
        let mut wait_mask: libc::sigset_t = core::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &caught, &mut wait_mask);
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(c_int) as libc::sighandler_t;
        sa.sa_mask = caught;
        for sig in 1..=libc::SIGRTMAX() {
            if waitproto::caught(sig) {
                libc::sigaction(sig, &sa, core::ptr::null_mut());
                libc::sigdelset(&mut wait_mask, sig);
            }
        }
        wait_mask
    }
}

/// The line and the count for the RI thread, and the pipe's end it writes to.
static RI_LINE: AtomicI32 = AtomicI32::new(-1);
static RI_PIPE: AtomicI32 = AtomicI32::new(-1);
static RI_LAST: AtomicU32 = AtomicU32::new(0);

/// The RI thread: blocked in `TIOCMIWAIT` until the RI count moves past the one rgetty
/// accounted for, then one byte into the pipe the main `ppoll` watches. It ends with the
/// process at the exec (or on its own when the pin cannot be waited on).
extern "C" fn watch_ri(_: *mut libc::c_void) -> *mut libc::c_void {
    let fd = RI_LINE.load(Ordering::SeqCst);
    loop {
        if waitproto::ri_count(fd).is_some_and(|c| c != RI_LAST.load(Ordering::SeqCst)) {
            // SAFETY: one byte from a live buffer into our pipe.
            unsafe { libc::write(RI_PIPE.load(Ordering::SeqCst), c"r".as_ptr().cast(), 1) };
            return core::ptr::null_mut();
        }
        if !waitproto::wait_ri_change(fd) {
            return core::ptr::null_mut();
        }
    }
}

/// Start the RI thread (with the caught signals blocked, as they are here, so their handlers
/// run in the main thread's `ppoll`); the pipe end to watch, or -1.
fn start_ri(line_fd: c_int, last: u32) -> c_int {
    let mut p = [-1 as c_int; 2];
    // SAFETY: pipe2 fills two fds; the thread attributes are initialised before use and the
    // thread only reads atomics set before it starts.
    unsafe {
        if libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return -1;
        }
        RI_LINE.store(line_fd, Ordering::SeqCst);
        RI_PIPE.store(p[1], Ordering::SeqCst);
        RI_LAST.store(last, Ordering::SeqCst);
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        libc::pthread_attr_init(&mut attr);
        // room for glibc's static TLS too; only the pages it touches cost memory
        libc::pthread_attr_setstacksize(&mut attr, 64 * 1024);
        let mut t: libc::pthread_t = 0;
        let ok = libc::pthread_create(&mut t, &attr, watch_ri, core::ptr::null_mut()) == 0;
        libc::pthread_attr_destroy(&mut attr);
        if !ok {
            libc::close(p[0]);
            libc::close(p[1]);
            return -1;
        }
    }
    p[0]
}

/// Read every queued inotify event; whether one names a lock file of this line (or the
/// queue overflowed, which may have lost one).
fn lock_event(fd: c_int, names: &[*const c_char]) -> bool {
    #[repr(C, align(8))]
    struct Events([u8; 4096]);
    let mut buf = Events([0; 4096]);
    let head = core::mem::size_of::<libc::inotify_event>();
    let mut hit = false;
    loop {
        // SAFETY: reads at most the buffer's size into it.
        let n = unsafe { libc::read(fd, buf.0.as_mut_ptr().cast(), buf.0.len()) };
        let Ok(n) = usize::try_from(n) else {
            return hit; // EAGAIN: drained (the fd is non-blocking), or an error
        };
        if n == 0 {
            return hit;
        }
        let mut off = 0;
        while off + head <= n {
            // SAFETY: a whole event header lies at `off` inside what the kernel wrote.
            let ev: libc::inotify_event =
                unsafe { core::ptr::read_unaligned(buf.0.as_ptr().add(off).cast()) };
            let len = ev.len as usize;
            let name = buf
                .0
                .get(off + head..(off + head + len).min(n))
                .unwrap_or(&[]);
            let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
            hit |= ev.mask & libc::IN_Q_OVERFLOW != 0
                || (!name.is_empty() && names.iter().any(|&p| bytes(p) == name));
            off += head + len;
        }
    }
}

/// Wait until something happens; why, and with [`Reason::Line`] what the line held then.
fn wait(a: &Args<'_>, wait_mask: &libc::sigset_t) -> (Reason, Option<Backlog>) {
    let ri_pipe = a.ri.map_or(-1, |last| start_ri(a.line_fd, last));
    if a.ri.is_some() && ri_pipe < 0 {
        say(b"cannot watch the RI pin: waiting for RING text only");
    }
    let woke = |reason| {
        // Bytes in by now came no later than now, however long the exec back takes.
        let backlog = Backlog {
            woke_us: waitproto::now_us(),
            bytes: waitproto::input_pending(a.line_fd),
        };
        (reason, Some(backlog))
    };
    loop {
        match TERM.load(Ordering::SeqCst) {
            0 => {}
            n => return (Reason::Signal(n), None),
        }
        if USR2.load(Ordering::SeqCst) {
            return (Reason::Exit, None);
        }
        if USR1.load(Ordering::SeqCst) {
            return (Reason::Ring, None);
        }
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        if let Some(deadline) = a.deadline_ms {
            let left = deadline.saturating_sub(waitproto::now_ms());
            if left == 0 {
                return (Reason::Check, None);
            }
            ts.tv_sec = libc::time_t::try_from(left / 1000).unwrap_or(libc::time_t::MAX);
            ts.tv_nsec = libc::c_long::try_from(left % 1000 * 1_000_000).unwrap_or(0);
        }
        let timeout = if a.deadline_ms.is_some() {
            &raw const ts
        } else {
            core::ptr::null()
        };
        let mut fds = [
            libc::pollfd {
                fd: a.line_fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: a.inotify_fd.unwrap_or(-1),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: ri_pipe,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: three initialised pollfds, a valid timespec or null, an initialised mask.
        let r = unsafe { libc::ppoll(fds.as_mut_ptr(), 3, timeout, wait_mask) };
        if r < 0 {
            if waitproto::errno() == libc::EINTR {
                continue;
            }
            return (Reason::Line, None); // cannot wait: rgetty looks at the line itself
        }
        if fds[0].revents != 0 {
            return woke(Reason::Line);
        }
        if fds[2].revents & libc::POLLIN != 0 {
            return woke(Reason::Ri);
        }
        if fds[1].revents != 0 && lock_event(fds[1].fd, a.names) {
            return (Reason::Lock, None);
        }
    }
}

/// Exec rgetty again with `--resume`; on failure say so and exit.
fn exec_back(
    a: &Args<'_>,
    (reason, backlog): (Reason, Option<Backlog>),
    envp: *const *const c_char,
) -> c_int {
    let resume = waitproto::resume_arg(&Resume {
        reason,
        line_fd: a.line_fd,
        inotify_fd: a.inotify_fd,
        deadline_ms: a.deadline_ms,
        backlog,
    });
    let mut argv = [core::ptr::null::<c_char>(); waitproto::MAX_ARGS + 2];
    argv[0] = a.rgetty[0];
    argv[1] = resume.as_bytes().as_ptr().cast();
    argv[2..a.rgetty.len() + 1].copy_from_slice(&a.rgetty[1..]);
    // SAFETY: the exe fd is ours; argv is NULL-terminated (the array is longer than the
    // arguments and starts all null) and points at live NUL-terminated strings; envp is the
    // environment we were given.
    unsafe {
        libc::fcntl(a.exe_fd, libc::F_SETFD, libc::FD_CLOEXEC);
        libc::syscall(
            libc::SYS_execveat,
            a.exe_fd,
            c"".as_ptr(),
            argv.as_ptr(),
            envp,
            libc::AT_EMPTY_PATH,
        );
    }
    say(b"cannot exec rgetty again: exiting so that init restarts it");
    EXEC_FAILED
}

/// The program (no std runtime: argv and envp straight from the C start-up code).
#[unsafe(no_mangle)]
extern "C" fn main(argc: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    let n = usize::try_from(argc).unwrap_or(0);
    if argv.is_null() || n == 0 {
        return USAGE;
    }
    // SAFETY: the C start-up code passes argc valid pointers at argv.
    let args = unsafe { core::slice::from_raw_parts(argv, n) };
    let a = match parse(args) {
        Ok(a) => a,
        Err(msg) => {
            say(msg);
            return USAGE;
        }
    };
    let wait_mask = install_handlers();
    // The command name stays `rgetty` for `pgrep -x rgetty` and `killall rgetty`.
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, c"rgetty".as_ptr());
    }
    let woke = wait(&a, &wait_mask);
    exec_back(&a, woke, envp)
}
