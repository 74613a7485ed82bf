//! The tty layer: the ONLY module that issues ioctls or changes termios, with one exception:
//! `rgetty-wait`'s three (FIONREAD, TIOCGICOUNT, TIOCMIWAIT) are in [`super::waitproto`], the
//! one file that small program includes (linking this library would cost the memory it saves).
//!
//! Everything here is a safe wrapper taking `impl AsFd`, so it works on a serial line, a pty
//! slave or a pty master alike. Modem-line calls (`TIOCM*`, `TIOCMIWAIT`, `TIOCGICOUNT`) fail
//! with `ENOTTY`/`EINVAL` on a pty: the wrappers turn that into `None`/`false` ("no modem
//! lines") instead of an error, so callers can log it once and carry on
//! (docs/behaviour.md §4.1 steps 8–11, docs/platform.md §P1).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::stat::Mode;
use nix::sys::termios::{self, SetArg, Termios};

/// A failed tty operation: which operation, on which device if known, and the OS error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening a device failed.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The device path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: Errno,
    },
    /// The path is not a terminal.
    #[error("{path} is not a tty")]
    NotATty {
        /// The device path.
        path: PathBuf,
    },
    /// An ioctl or termios call failed.
    #[error("{op}: {source}")]
    Op {
        /// The operation, e.g. `tcsetattr` or `TIOCMBIS`.
        op: &'static str,
        /// The OS error.
        #[source]
        source: Errno,
    },
    /// An stty word was not understood.
    #[error("unknown stty word {0:?}")]
    BadStty(String),
    /// A speed is not supported.
    #[error("unsupported speed {0}")]
    BadSpeed(u32),
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

fn op(op: &'static str) -> impl FnOnce(Errno) -> Error {
    move |source| Error::Op { op, source }
}

/// True for the errors a modem-line ioctl gives on a device without modem lines (a pty).
fn no_modem_lines(e: Errno) -> bool {
    matches!(e, Errno::ENOTTY | Errno::EINVAL | Errno::ENOTSUP)
}

mod ioctls {
    //! Raw ioctl declarations; private to `tty`.
    use nix::{ioctl_none_bad, ioctl_read_bad, ioctl_write_int_bad, ioctl_write_ptr_bad};

    ioctl_read_bad!(tiocmget, libc::TIOCMGET, libc::c_int);
    ioctl_write_ptr_bad!(tiocmbis, libc::TIOCMBIS, libc::c_int);
    ioctl_write_ptr_bad!(tiocmbic, libc::TIOCMBIC, libc::c_int);
    ioctl_write_ptr_bad!(tiocmset, libc::TIOCMSET, libc::c_int);
    ioctl_write_int_bad!(tiocmiwait, libc::TIOCMIWAIT);
    ioctl_read_bad!(tiocgicount, libc::TIOCGICOUNT, super::IcounterStruct);
    ioctl_write_int_bad!(tiocsctty, libc::TIOCSCTTY);
    ioctl_write_ptr_bad!(tiocpkt, libc::TIOCPKT, libc::c_int);
    ioctl_none_bad!(tiocsbrk, libc::TIOCSBRK);
    ioctl_none_bad!(tioccbrk, libc::TIOCCBRK);
    ioctl_read_bad!(tiocoutq, libc::TIOCOUTQ, libc::c_int);
    ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);
    ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);
}

/// `struct serial_icounter_struct` from `<linux/serial.h>` (for TIOCGICOUNT).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct IcounterStruct {
    cts: libc::c_int,
    dsr: libc::c_int,
    rng: libc::c_int,
    dcd: libc::c_int,
    rx: libc::c_int,
    tx: libc::c_int,
    frame: libc::c_int,
    overrun: libc::c_int,
    parity: libc::c_int,
    brk: libc::c_int,
    buf_overrun: libc::c_int,
    reserved: [libc::c_int; 9],
}

/// Interrupt counters of the modem status lines (TIOCGICOUNT).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ICount {
    /// RI transitions (trailing edges of ring pulses).
    pub rng: u32,
    /// DCD transitions.
    pub dcd: u32,
    /// DSR transitions.
    pub dsr: u32,
    /// CTS transitions.
    pub cts: u32,
}

/// Open a line the way mgetty does: `O_RDWR|O_NONBLOCK|O_NOCTTY` (without `O_NONBLOCK` when
/// `blocking`, which waits for DCD), then switch to blocking I/O. Close-on-exec is set; the
/// caller dups the fd onto 0–2 when handing it to a login program.
///
/// The path is resolved first (a udev name such as `/dev/modem` is a symlink to the real
/// device), and the real device is opened with `O_NOFOLLOW`; the open fd must be a character
/// device that is a tty, else [`Error::NotATty`]. Change owner and mode only through the
/// returned fd ([`set_owner`]), never by path: a path can be swapped for a symlink to
/// `/etc/shadow` between a check and a `chown`.
pub fn open_line(path: &Path, blocking: bool) -> Result<OwnedFd> {
    let open_err = |source| Error::Open {
        path: path.to_path_buf(),
        source,
    };
    let real = std::fs::canonicalize(path)
        .map_err(|e| open_err(Errno::from_raw(e.raw_os_error().unwrap_or(libc::ENOENT))))?;
    let mut flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
    if !blocking {
        flags |= OFlag::O_NONBLOCK;
    }
    let fd = loop {
        match nix::fcntl::open(&real, flags, Mode::empty()) {
            Ok(fd) => break fd,
            Err(Errno::EINTR) => continue,
            Err(source) => return Err(open_err(source)),
        }
    };
    if !is_tty_device(&fd) {
        return Err(Error::NotATty {
            path: path.to_path_buf(),
        });
    }
    set_nonblocking(&fd, false)?;
    Ok(fd)
}

/// True when `fd` is a character device (`fstat`). Unlike [`is_tty_device`] this holds for
/// a line hung up meanwhile, which fails every tty ioctl.
pub fn is_char_device(fd: impl AsFd) -> bool {
    nix::sys::stat::fstat(fd.as_fd()).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFCHR)
}

/// True when `fd` is a character device and a terminal (`fstat` + `isatty`).
pub fn is_tty_device(fd: impl AsFd) -> bool {
    let fd = fd.as_fd();
    is_char_device(fd) && nix::unistd::isatty(fd).unwrap_or(false)
}

/// Give the open line to `uid`/`gid` with `mode` (each `None`: unchanged), through the fd
/// (`fchown`, `fchmod`): nothing but the device opened by [`open_line`] can be changed.
pub fn set_owner(
    fd: impl AsFd,
    uid: Option<nix::unistd::Uid>,
    gid: Option<nix::unistd::Gid>,
    mode: Option<u32>,
) -> Result<()> {
    let fd = fd.as_fd();
    if uid.is_some() || gid.is_some() {
        nix::unistd::fchown(fd, uid, gid).map_err(op("fchown"))?;
    }
    if let Some(mode) = mode {
        let mode = Mode::from_bits_truncate(mode & 0o7777);
        nix::sys::stat::fchmod(fd, mode).map_err(op("fchmod"))?;
    }
    Ok(())
}

/// Set or clear `O_NONBLOCK` on any fd.
pub fn set_nonblocking(fd: impl AsFd, on: bool) -> Result<()> {
    let fd = fd.as_fd();
    let cur = fcntl(fd, FcntlArg::F_GETFL).map_err(op("F_GETFL"))?;
    let mut fl = OFlag::from_bits_truncate(cur);
    fl.set(OFlag::O_NONBLOCK, on);
    fcntl(fd, FcntlArg::F_SETFL(fl)).map_err(op("F_SETFL"))?;
    Ok(())
}

/// A pseudo-terminal pair.
#[derive(Debug)]
pub struct Pty {
    /// The master side (the "modem" or the network side).
    pub master: OwnedFd,
    /// The slave side (what a getty or an application opens).
    pub slave: OwnedFd,
    /// The slave's path, e.g. `/dev/pts/7`.
    pub slave_path: PathBuf,
}

/// Create a pty pair; both fds are close-on-exec and the slave is in raw mode.
///
/// Both fds are opened with `O_CLOEXEC` directly (`posix_openpt`, then `open` of the slave):
/// setting it afterwards would leave a window in which another thread's fork+exec inherits the
/// master, and a master held open elsewhere keeps the slave from ever seeing a hang-up.
pub fn openpty() -> Result<Pty> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(op("posix_openpt"))?;
    nix::pty::grantpt(&master).map_err(op("grantpt"))?;
    nix::pty::unlockpt(&master).map_err(op("unlockpt"))?;
    let slave_path = PathBuf::from(nix::pty::ptsname_r(&master).map_err(op("ptsname_r"))?);
    let slave = nix::fcntl::open(
        &slave_path,
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| Error::Open {
        path: slave_path.clone(),
        source,
    })?;
    set_raw(&slave)?;
    // SAFETY: `into_raw_fd` hands over sole ownership of the master fd.
    let master = unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(master)) };
    Ok(Pty {
        master,
        slave,
        slave_path,
    })
}

/// Read the termios of a tty.
pub fn get_termios(fd: impl AsFd) -> Result<Termios> {
    termios::tcgetattr(fd.as_fd()).map_err(op("tcgetattr"))
}

/// Apply termios now (`TCSANOW`).
pub fn set_termios(fd: impl AsFd, t: &Termios) -> Result<()> {
    termios::tcsetattr(fd.as_fd(), SetArg::TCSANOW, t).map_err(op("tcsetattr"))
}

/// Apply termios after the output has drained (`TCSADRAIN`); pending input is kept.
pub fn set_termios_drain(fd: impl AsFd, t: &Termios) -> Result<()> {
    termios::tcsetattr(fd.as_fd(), SetArg::TCSADRAIN, t).map_err(op("tcsetattr"))
}

const SPEED_TABLE: &[(u32, libc::speed_t)] = &[
    (0, libc::B0),
    (50, libc::B50),
    (75, libc::B75),
    (110, libc::B110),
    (134, libc::B134),
    (150, libc::B150),
    (200, libc::B200),
    (300, libc::B300),
    (600, libc::B600),
    (1200, libc::B1200),
    (1800, libc::B1800),
    (2400, libc::B2400),
    (4800, libc::B4800),
    (9600, libc::B9600),
    (19200, libc::B19200),
    (38400, libc::B38400),
    (57600, libc::B57600),
    (115_200, libc::B115200),
    (230_400, libc::B230400),
    (460_800, libc::B460800),
    (500_000, libc::B500000),
    (576_000, libc::B576000),
    (921_600, libc::B921600),
    (1_000_000, libc::B1000000),
    (1_152_000, libc::B1152000),
    (1_500_000, libc::B1500000),
    (2_000_000, libc::B2000000),
    (2_500_000, libc::B2500000),
    (3_000_000, libc::B3000000),
    (3_500_000, libc::B3500000),
    (4_000_000, libc::B4000000),
];

fn speed_const(bps: u32) -> Result<libc::speed_t> {
    SPEED_TABLE
        .iter()
        .find(|(b, _)| *b == bps)
        .map(|(_, c)| *c)
        .ok_or(Error::BadSpeed(bps))
}

/// The output speed stored in a termios, in bits per second (0 if unknown).
pub fn termios_speed(t: &Termios) -> u32 {
    // Read the CBAUD bits from the public flags: nix's `cfgetospeed` panics on speeds its enum
    // lacks (BOTHER), and converting to `libc::termios` ignores unsynced field changes.
    let code = t.control_flags.bits() & libc::CBAUD;
    SPEED_TABLE
        .iter()
        .find(|(_, c)| *c == code)
        .map_or(0, |(b, _)| *b)
}

/// Store `bps` as input and output speed in a termios.
pub fn termios_set_speed(t: &mut Termios, bps: u32) -> Result<()> {
    let code = speed_const(bps)?;
    let baud = termios::BaudRate::try_from(code).map_err(|_| Error::BadSpeed(bps))?;
    termios::cfsetspeed(t, baud).map_err(op("cfsetspeed"))
}

/// The line's current output speed in bits per second (termios2's `c_ospeed` when the line
/// runs at a `BOTHER` speed).
pub fn get_speed(fd: impl AsFd) -> Result<u32> {
    let fd = fd.as_fd();
    speed_of(fd, &get_termios(fd)?)
}

fn speed_of(fd: BorrowedFd, t: &Termios) -> Result<u32> {
    if t.control_flags.bits() & libc::CBAUD == libc::BOTHER {
        return Ok(get_termios2(fd)?.c_ospeed);
    }
    Ok(termios_speed(t))
}

/// `struct serial_rs485` of `<linux/serial.h>` (32 bytes).
#[repr(C)]
#[derive(Default)]
struct SerialRs485 {
    flags: u32,
    delay_rts_before_send: u32,
    delay_rts_after_send: u32,
    padding: [u32; 5],
}

/// Put the line in RS-485 mode (or out of it) with `TIOCSRS485`, then read back what the
/// driver kept with `TIOCGRS485` (drivers clamp delays and drop flags they lack).
pub fn set_rs485(
    fd: impl AsFd,
    r: &crate::proto::rs485::Rs485,
) -> Result<crate::proto::rs485::Rs485> {
    let fd = fd.as_fd();
    let set = SerialRs485 {
        flags: r.flags,
        delay_rts_before_send: r.delay_before,
        delay_rts_after_send: r.delay_after,
        ..SerialRs485::default()
    };
    // SAFETY: a valid fd and a serial_rs485 that lives through the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSRS485, &set) };
    Errno::result(rc).map_err(op("TIOCSRS485"))?;
    let mut got = SerialRs485::default();
    // SAFETY: as above; TIOCGRS485 fills the struct.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGRS485, &mut got) };
    Errno::result(rc).map_err(op("TIOCGRS485"))?;
    Ok(crate::proto::rs485::Rs485 {
        flags: got.flags,
        delay_before: got.delay_rts_before_send,
        delay_after: got.delay_rts_after_send,
    })
}

/// True when `bps` has no `B*` constant, so it is set with termios2 (`BOTHER`).
pub fn is_custom_speed(bps: u32) -> bool {
    bps > 0 && speed_const(bps).is_err()
}

fn get_termios2(fd: BorrowedFd) -> Result<libc::termios2> {
    // SAFETY: TCGETS2 fills a termios2, which is plain data and may start zeroed.
    let mut t: libc::termios2 = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd and a pointer to a termios2 that lives through the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TCGETS2, &mut t) };
    Errno::result(r).map_err(op("TCGETS2"))?;
    Ok(t)
}

/// Set any integer speed with termios2: `BOTHER` in `c_cflag` (input speed follows output)
/// and `bps` in `c_ispeed`/`c_ospeed`, every other setting kept.
pub fn set_custom_speed(fd: impl AsFd, bps: u32) -> Result<()> {
    let fd = fd.as_fd();
    let mut t = get_termios2(fd)?;
    t.c_cflag &= !(libc::CBAUD | libc::CIBAUD);
    t.c_cflag |= libc::BOTHER;
    t.c_ispeed = bps;
    t.c_ospeed = bps;
    // SAFETY: a valid fd and a pointer to a termios2 that lives through the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TCSETS2, &t) };
    Errno::result(r).map_err(op("TCSETS2")).map(drop)
}

/// Set input and output speed (any integer: one without a `B*` constant goes through
/// [`set_custom_speed`]).
pub fn set_speed(fd: impl AsFd, bps: u32) -> Result<()> {
    let fd = fd.as_fd();
    if is_custom_speed(bps) {
        return set_custom_speed(fd, bps);
    }
    let mut t = get_termios(fd)?;
    termios_set_speed(&mut t, bps)?;
    set_termios(fd, &t)
}

/// Raw mode (like `cfmakeraw`), keeping the speed and `CLOCAL`/`HUPCL`/`CRTSCTS`.
pub fn set_raw(fd: impl AsFd) -> Result<()> {
    let fd = fd.as_fd();
    let mut t = get_termios(fd)?;
    termios::cfmakeraw(&mut t);
    t.control_chars[libc::VMIN] = 1;
    t.control_chars[libc::VTIME] = 0;
    set_termios(fd, &t)
}

/// Flow control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flow {
    /// No flow control.
    None,
    /// RTS/CTS (mgetty's FLOW_HARD, its default for data).
    #[default]
    Hard,
    /// XON/XOFF.
    Soft,
    /// Both RTS/CTS and XON/XOFF.
    Both,
}

fn termios_set_flow(t: &mut Termios, flow: Flow) {
    use termios::{ControlFlags as C, InputFlags as I};
    let hard = matches!(flow, Flow::Hard | Flow::Both);
    let soft = matches!(flow, Flow::Soft | Flow::Both);
    t.control_flags.set(C::CRTSCTS, hard);
    t.input_flags.set(I::IXON | I::IXOFF, soft);
    t.input_flags.remove(I::IXANY);
}

/// Set the flow control of a line.
pub fn set_flow(fd: impl AsFd, flow: Flow) -> Result<()> {
    let fd = fd.as_fd();
    let mut t = get_termios(fd)?;
    termios_set_flow(&mut t, flow);
    set_termios(fd, &t)
}

/// Set or clear `CLOCAL` (ignore modem control lines). Clearing it after CONNECT makes a
/// carrier loss raise SIGHUP for the session.
pub fn set_clocal(fd: impl AsFd, on: bool) -> Result<()> {
    let fd = fd.as_fd();
    let mut t = get_termios(fd)?;
    t.control_flags.set(termios::ControlFlags::CLOCAL, on);
    set_termios(fd, &t)
}

fn default_control_chars(t: &mut Termios) {
    use termios::SpecialCharacterIndices as S;
    let cc = &mut t.control_chars;
    cc[S::VINTR as usize] = 0x03;
    cc[S::VQUIT as usize] = 0x1c;
    cc[S::VERASE as usize] = 0x7f;
    cc[S::VKILL as usize] = 0x15;
    cc[S::VEOF as usize] = 0x04;
    cc[S::VSTART as usize] = 0x11;
    cc[S::VSTOP as usize] = 0x13;
    cc[S::VSUSP as usize] = 0x1a;
    cc[S::VEOL as usize] = 0;
    cc[S::VMIN as usize] = 1;
    cc[S::VTIME as usize] = 0;
}

/// The mode mgetty uses while talking to the modem (§4.1 step 11): raw 8 bit, `CS8|CREAD|HUPCL`,
/// `CLOCAL` as given, VMIN 1 VTIME 0, the given speed and flow control.
pub fn set_modem_mode(fd: impl AsFd, bps: u32, flow: Flow, clocal: bool) -> Result<()> {
    use termios::{ControlFlags as C, InputFlags as I, LocalFlags as L, OutputFlags as O};
    let fd = fd.as_fd();
    let mut t = get_termios(fd)?;
    default_control_chars(&mut t);
    t.input_flags &= I::IXON | I::IXOFF | I::IXANY;
    t.output_flags = O::empty();
    t.local_flags = L::empty();
    t.control_flags &= !(C::CSIZE | C::PARENB | C::PARODD | C::CSTOPB);
    t.control_flags |= C::CS8 | C::CREAD | C::HUPCL;
    t.control_flags.set(C::CLOCAL, clocal);
    termios_set_flow(&mut t, flow);
    termios_set_speed(&mut t, bps)?;
    set_termios(fd, &t)
}

/// The terminal mode handed to the login program (§5 step b, §5.3, §5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinalMode {
    /// Map CR to NL on input and NL to CR-NL on output (the name ended with CR).
    pub crlf: bool,
    /// Raw mode for PPP (no echo, no canonical processing, no output processing).
    pub raw: bool,
    /// Keep `CLOCAL` (ignore-carrier).
    pub clocal: bool,
    /// Flow control.
    pub flow: Flow,
    /// An upper-case-only terminal: map upper to lower case on input, lower to upper on
    /// output (`IUCLC`, `OLCUC`, `XCASE`).
    pub lcuc: bool,
}

/// Apply a [`FinalMode`] after the output drained (pending input is kept for the program).
pub fn set_final_mode(fd: impl AsFd, m: FinalMode) -> Result<()> {
    use termios::{ControlFlags as C, InputFlags as I, LocalFlags as L, OutputFlags as O};
    let fd = fd.as_fd();
    let mut t = get_termios(fd)?;
    default_control_chars(&mut t);
    t.input_flags = I::BRKINT | I::IGNPAR;
    t.output_flags = O::OPOST | O::TAB3;
    t.local_flags = L::ECHO | L::ECHOE | L::ECHOK | L::ISIG | L::ICANON;
    t.control_flags &= !(C::CSIZE | C::PARENB | C::PARODD | C::CSTOPB);
    t.control_flags |= C::CS8 | C::CREAD | C::HUPCL;
    t.control_flags.set(C::CLOCAL, m.clocal);
    termios_set_flow(&mut t, m.flow);
    if m.raw {
        t.input_flags &= !(I::BRKINT);
        t.output_flags.remove(O::OPOST);
        t.local_flags = L::empty();
    }
    if m.crlf {
        t.input_flags |= I::ICRNL;
        t.output_flags |= O::ONLCR;
    }
    if m.lcuc {
        t.input_flags |= I::IUCLC;
        t.output_flags |= O::OLCUC;
        t.local_flags |= L::XCASE;
    }
    set_termios_drain(fd, &t)
}

pub use crate::proto::speed::{Parity, StopBits};

/// The serial parameters RFC 2217 can set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialParams {
    /// Bits per second.
    pub baud: u32,
    /// 5..=8.
    pub data_bits: u8,
    /// Parity.
    pub parity: Parity,
    /// Stop bits.
    pub stop_bits: StopBits,
}

/// Read speed, data size, parity and stop bits. On a pty the kernel reports what it keeps.
pub fn get_params(fd: impl AsFd) -> Result<SerialParams> {
    use termios::ControlFlags as C;
    let fd = fd.as_fd();
    let t = get_termios(fd)?;
    let c = t.control_flags;
    let data_bits = match c & C::CSIZE {
        x if x == C::CS5 => 5,
        x if x == C::CS6 => 6,
        x if x == C::CS7 => 7,
        _ => 8,
    };
    let parity = if !c.contains(C::PARENB) {
        Parity::None
    } else if c.contains(C::CMSPAR) {
        if c.contains(C::PARODD) {
            Parity::Mark
        } else {
            Parity::Space
        }
    } else if c.contains(C::PARODD) {
        Parity::Odd
    } else {
        Parity::Even
    };
    let stop_bits = if c.contains(C::CSTOPB) {
        StopBits::Two
    } else {
        StopBits::One
    };
    Ok(SerialParams {
        baud: speed_of(fd, &t)?,
        data_bits,
        parity,
        stop_bits,
    })
}

/// Apply speed, data size, parity and stop bits in one `tcsetattr`.
pub fn set_params(fd: impl AsFd, p: &SerialParams) -> Result<()> {
    use termios::ControlFlags as C;
    let fd = fd.as_fd();
    let mut t = get_termios(fd)?;
    if !is_custom_speed(p.baud) {
        termios_set_speed(&mut t, p.baud)?;
    }
    let c = &mut t.control_flags;
    c.remove(C::CSIZE);
    c.insert(match p.data_bits {
        5 => C::CS5,
        6 => C::CS6,
        7 => C::CS7,
        _ => C::CS8,
    });
    c.remove(C::PARENB | C::PARODD | C::CMSPAR);
    match p.parity {
        Parity::None => {}
        Parity::Even => c.insert(C::PARENB),
        Parity::Odd => c.insert(C::PARENB | C::PARODD),
        Parity::Mark => c.insert(C::PARENB | C::PARODD | C::CMSPAR),
        Parity::Space => c.insert(C::PARENB | C::CMSPAR),
    }
    c.set(C::CSTOPB, p.stop_bits != StopBits::One);
    set_termios(fd, &t)?;
    if is_custom_speed(p.baud) {
        set_custom_speed(fd, p.baud)?;
    }
    Ok(())
}

/// Apply `stty`-style words (as remserial's `-s "9600 raw -crtscts"`), validated first and
/// applied with one `tcsetattr`. The words: [`crate::proto::stty`].
pub fn apply_stty(fd: impl AsFd, words: &str) -> Result<()> {
    let fd = fd.as_fd();
    let mut t = get_termios(fd)?;
    stty_to_termios(&mut t, words)?;
    set_termios(fd, &t)?;
    match custom_stty_speed(words) {
        Some(bps) => set_custom_speed(fd, bps),
        None => Ok(()),
    }
}

/// The last speed word of `words` when it needs termios2 (applied after the `tcsetattr`).
fn custom_stty_speed(words: &str) -> Option<u32> {
    use crate::proto::stty::Word;
    let last = crate::proto::stty::parse(words)
        .ok()?
        .into_iter()
        .rev()
        .find_map(|w| match w {
            Word::Speed(bps) => Some(bps),
            _ => None,
        })?;
    is_custom_speed(last).then_some(last)
}

/// The pure part of [`apply_stty`]: change a termios according to stty words.
pub fn stty_to_termios(t: &mut Termios, words: &str) -> Result<()> {
    use crate::proto::stty::{Field, Word};
    use termios::{ControlFlags as C, InputFlags as I, LocalFlags as L, OutputFlags as O};
    for word in crate::proto::stty::parse(words).map_err(Error::BadStty)? {
        match word {
            // A termios2 speed is set by `apply_stty` after the `tcsetattr`.
            Word::Speed(bps) if is_custom_speed(bps) => {}
            Word::Speed(bps) => termios_set_speed(t, bps)?,
            Word::Raw => {
                // cfmakeraw keeps the speed bits (a BOTHER speed among them).
                termios::cfmakeraw(t);
            }
            Word::Sane => {
                t.input_flags = I::BRKINT | I::ICRNL | I::IXON;
                t.output_flags = O::OPOST | O::ONLCR;
                t.local_flags = L::ECHO | L::ECHOE | L::ECHOK | L::ISIG | L::ICANON;
                t.control_flags |= C::CREAD;
                default_control_chars(t);
            }
            Word::Size(n) => {
                t.control_flags.remove(C::CSIZE);
                t.control_flags.insert(match n {
                    5 => C::CS5,
                    6 => C::CS6,
                    7 => C::CS7,
                    _ => C::CS8,
                });
            }
            Word::Flag { field, flag, on } => {
                let bad = || Error::BadStty(format!("{}{}", if on { "" } else { "-" }, flag));
                match field {
                    Field::Control => t.control_flags.set(C::from_name(flag).ok_or_else(bad)?, on),
                    Field::Input => t.input_flags.set(I::from_name(flag).ok_or_else(bad)?, on),
                    Field::Output => t.output_flags.set(O::from_name(flag).ok_or_else(bad)?, on),
                    Field::Local => t.local_flags.set(L::from_name(flag).ok_or_else(bad)?, on),
                }
            }
        }
    }
    Ok(())
}

/// The RS-232 status and control lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ModemLines {
    /// Data Terminal Ready (output).
    pub dtr: bool,
    /// Request To Send (output).
    pub rts: bool,
    /// Clear To Send.
    pub cts: bool,
    /// Data Set Ready.
    pub dsr: bool,
    /// Data Carrier Detect.
    pub dcd: bool,
    /// Ring Indicator.
    pub ri: bool,
}

/// Read the modem lines; `None` when the device has none (a pty).
pub fn modem_lines(fd: impl AsFd) -> Result<Option<ModemLines>> {
    let mut bits: libc::c_int = 0;
    // SAFETY: the fd is valid for the borrow and `bits` is a live c_int the ioctl writes to.
    match unsafe { ioctls::tiocmget(fd.as_fd().as_raw_fd(), &mut bits) } {
        Ok(_) => Ok(Some(ModemLines {
            dtr: bits & libc::TIOCM_DTR != 0,
            rts: bits & libc::TIOCM_RTS != 0,
            cts: bits & libc::TIOCM_CTS != 0,
            dsr: bits & libc::TIOCM_DSR != 0,
            dcd: bits & libc::TIOCM_CAR != 0,
            ri: bits & libc::TIOCM_RNG != 0,
        })),
        Err(e) if no_modem_lines(e) => Ok(None),
        Err(e) => Err(op("TIOCMGET")(e)),
    }
}

fn set_mctrl(fd: BorrowedFd<'_>, bit: libc::c_int, on: bool) -> Result<bool> {
    let r = if on {
        // SAFETY: valid fd; the pointer refers to a live c_int for the duration of the call.
        unsafe { ioctls::tiocmbis(fd.as_raw_fd(), &bit) }
    } else {
        // SAFETY: as above.
        unsafe { ioctls::tiocmbic(fd.as_raw_fd(), &bit) }
    };
    match r {
        Ok(_) => Ok(true),
        Err(e) if no_modem_lines(e) => Ok(false),
        Err(e) => Err(op(if on { "TIOCMBIS" } else { "TIOCMBIC" })(e)),
    }
}

/// Set DTR and RTS together, in one TIOCMSET (the other bits read with TIOCMGET first), so
/// that both edges happen at the same instant; `None` leaves a line as it is. `Ok(false)`
/// when the device has no modem lines.
pub fn set_dtr_rts(fd: impl AsFd, dtr: Option<bool>, rts: Option<bool>) -> Result<bool> {
    let fd = fd.as_fd().as_raw_fd();
    let mut bits: libc::c_int = 0;
    // SAFETY: the fd is valid for the borrow and `bits` is a live c_int the ioctl writes to.
    match unsafe { ioctls::tiocmget(fd, &mut bits) } {
        Ok(_) => {}
        Err(e) if no_modem_lines(e) => return Ok(false),
        Err(e) => return Err(op("TIOCMGET")(e)),
    }
    for (want, bit) in [(dtr, libc::TIOCM_DTR), (rts, libc::TIOCM_RTS)] {
        match want {
            Some(true) => bits |= bit,
            Some(false) => bits &= !bit,
            None => {}
        }
    }
    // SAFETY: as above; the pointer refers to a live c_int for the duration of the call.
    match unsafe { ioctls::tiocmset(fd, &bits) } {
        Ok(_) => Ok(true),
        Err(e) if no_modem_lines(e) => Ok(false),
        Err(e) => Err(op("TIOCMSET")(e)),
    }
}

/// Raise or drop DTR. `Ok(false)` when the device has no modem lines.
pub fn set_dtr(fd: impl AsFd, on: bool) -> Result<bool> {
    set_mctrl(fd.as_fd(), libc::TIOCM_DTR, on)
}

/// Raise or drop RTS. `Ok(false)` when the device has no modem lines.
pub fn set_rts(fd: impl AsFd, on: bool) -> Result<bool> {
    set_mctrl(fd.as_fd(), libc::TIOCM_RTS, on)
}

/// Which status lines [`wait_modem_change`] waits for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ModemMask {
    /// Ring Indicator.
    pub ri: bool,
    /// Carrier detect.
    pub dcd: bool,
    /// Data Set Ready.
    pub dsr: bool,
    /// Clear To Send.
    pub cts: bool,
}

/// Block until one of the masked status lines changes (TIOCMIWAIT): `Ok(Some(true))`, or
/// `Ok(Some(false))` when a signal without `SA_RESTART` interrupted the wait (how the owner
/// stops the thread that waits here). `Ok(None)` when the device cannot do this (a pty).
pub fn wait_modem_change(fd: impl AsFd, mask: ModemMask) -> Result<Option<bool>> {
    let mut bits = 0;
    if mask.ri {
        bits |= libc::TIOCM_RNG;
    }
    if mask.dcd {
        bits |= libc::TIOCM_CAR;
    }
    if mask.dsr {
        bits |= libc::TIOCM_DSR;
    }
    if mask.cts {
        bits |= libc::TIOCM_CTS;
    }
    // SAFETY: valid fd; TIOCMIWAIT takes the mask by value.
    match unsafe { ioctls::tiocmiwait(fd.as_fd().as_raw_fd(), bits) } {
        Ok(_) => Ok(Some(true)),
        Err(Errno::EINTR) => Ok(Some(false)),
        Err(e) if no_modem_lines(e) => Ok(None),
        Err(e) => Err(op("TIOCMIWAIT")(e)),
    }
}

/// Read the modem-line interrupt counters (TIOCGICOUNT); `None` on a pty.
pub fn icount(fd: impl AsFd) -> Result<Option<ICount>> {
    let mut ic = IcounterStruct::default();
    // SAFETY: valid fd; `ic` is a live repr(C) serial_icounter_struct the kernel fills in.
    match unsafe { ioctls::tiocgicount(fd.as_fd().as_raw_fd(), &mut ic) } {
        Ok(_) => Ok(Some(ICount {
            rng: u32::try_from(ic.rng).unwrap_or(0),
            dcd: u32::try_from(ic.dcd).unwrap_or(0),
            dsr: u32::try_from(ic.dsr).unwrap_or(0),
            cts: u32::try_from(ic.cts).unwrap_or(0),
        })),
        Err(e) if no_modem_lines(e) => Ok(None),
        Err(e) => Err(op("TIOCGICOUNT")(e)),
    }
}

/// Wait until all output has been transmitted (`tcdrain`). This can block for a long time on
/// a flow-controlled line: use [`output_pending`] with a deadline for a bounded drain.
pub fn drain(fd: impl AsFd) -> Result<()> {
    termios::tcdrain(fd.as_fd()).map_err(op("tcdrain"))
}

/// Bytes still in the output queue (TIOCOUTQ).
pub fn output_pending(fd: impl AsFd) -> Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: valid fd; `n` is a live c_int.
    unsafe { ioctls::tiocoutq(fd.as_fd().as_raw_fd(), &mut n) }.map_err(op("TIOCOUTQ"))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Which queue to flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Received, unread data.
    Input,
    /// Written, untransmitted data.
    Output,
    /// Both.
    Both,
}

/// Discard queued data (`tcflush`).
pub fn flush(fd: impl AsFd, q: Queue) -> Result<()> {
    use termios::FlushArg;
    let arg = match q {
        Queue::Input => FlushArg::TCIFLUSH,
        Queue::Output => FlushArg::TCOFLUSH,
        Queue::Both => FlushArg::TCIOFLUSH,
    };
    termios::tcflush(fd.as_fd(), arg).map_err(op("tcflush"))
}

/// Send a BREAK of the default duration (`tcsendbreak(fd, 0)`).
pub fn send_break(fd: impl AsFd) -> Result<()> {
    termios::tcsendbreak(fd.as_fd(), 0).map_err(op("tcsendbreak"))
}

/// Start (`true`) or stop a BREAK condition (TIOCSBRK/TIOCCBRK).
pub fn set_break(fd: impl AsFd, on: bool) -> Result<()> {
    let raw = fd.as_fd().as_raw_fd();
    let r = if on {
        // SAFETY: valid fd, no argument.
        unsafe { ioctls::tiocsbrk(raw) }
    } else {
        // SAFETY: valid fd, no argument.
        unsafe { ioctls::tioccbrk(raw) }
    };
    r.map(drop).map_err(op("TIOCSBRK"))
}

/// Turn packet mode on a pty master on or off (TIOCPKT). In packet mode every read starts with
/// a status byte; [`PKT_IOCTL`] signals a termios change by the slave (with [`set_extproc`]).
pub fn set_packet_mode(master: impl AsFd, on: bool) -> Result<()> {
    let v: libc::c_int = i32::from(on);
    // SAFETY: valid fd; the pointer refers to a live c_int.
    unsafe { ioctls::tiocpkt(master.as_fd().as_raw_fd(), &v) }.map_err(op("TIOCPKT"))?;
    Ok(())
}

/// The packet-mode status bit for "the slave changed its termios" (`TIOCPKT_IOCTL`, 0x40; libc
/// has no constant for it).
pub const PKT_IOCTL: u8 = 0x40;

/// Set or clear `EXTPROC` on a pty so that termios changes by the slave reach a packet-mode
/// master as [`PKT_IOCTL`].
pub fn set_extproc(fd: impl AsFd, on: bool) -> Result<()> {
    let fd = fd.as_fd();
    let mut t = get_termios(fd)?;
    t.local_flags.set(termios::LocalFlags::EXTPROC, on);
    set_termios(fd, &t)
}

/// Set the terminal size the session sees (`TIOCSWINSZ`): `stty size` prints `rows cols`.
pub fn set_winsize(fd: impl AsFd, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: valid fd; `ws` is a live winsize the ioctl only reads.
    unsafe { ioctls::tiocswinsz(fd.as_fd().as_raw_fd(), &ws) }.map_err(op("TIOCSWINSZ"))?;
    Ok(())
}

/// The terminal size (`TIOCGWINSZ`) as `(rows, cols)`; `(0, 0)` when never set.
pub fn get_winsize(fd: impl AsFd) -> Result<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: valid fd; `ws` is a live winsize the ioctl writes to.
    unsafe { ioctls::tiocgwinsz(fd.as_fd().as_raw_fd(), &mut ws) }.map_err(op("TIOCGWINSZ"))?;
    Ok((ws.ws_row, ws.ws_col))
}

/// Make the line the controlling tty of this process: `setsid()` (EPERM, meaning we already
/// lead a process group or session, is tolerated) then `TIOCSCTTY`.
pub fn make_controlling(fd: impl AsFd) -> Result<()> {
    match nix::unistd::setsid() {
        Ok(_) | Err(Errno::EPERM) => {}
        Err(e) => return Err(op("setsid")(e)),
    }
    // SAFETY: valid fd; argument 0 = do not steal from another session.
    match unsafe { ioctls::tiocsctty(fd.as_fd().as_raw_fd(), 0) } {
        Ok(_) => Ok(()),
        Err(Errno::EPERM) if is_controlling(fd.as_fd()) => Ok(()),
        Err(e) => Err(op("TIOCSCTTY")(e)),
    }
}

/// True when `fd` is this process's controlling terminal.
pub fn is_controlling(fd: impl AsFd) -> bool {
    termios::tcgetsid(fd.as_fd()).is_ok_and(|sid| sid == nix::unistd::getsid(None).unwrap_or(sid))
}

/// `vhangup(2)`: hang up the controlling terminal so that no earlier session keeps an fd that
/// still works on it. Every fd of ours on the tty is invalidated too: reopen afterwards.
pub fn vhangup() -> Result<()> {
    // SIGHUP is delivered to us as well; the caller ignores it around this call.
    // SAFETY: no arguments; affects only the calling process's controlling terminal.
    let r = unsafe { libc::vhangup() };
    if r == 0 {
        Ok(())
    } else {
        Err(op("vhangup")(Errno::last()))
    }
}

/// Duplicate `fd` onto stdin, stdout and stderr (for the login program).
pub fn dup_to_stdio(fd: impl AsFd) -> Result<()> {
    let raw = fd.as_fd().as_raw_fd();
    for target in 0..=2 {
        if raw != target {
            // SAFETY: dup2 on a valid fd onto a standard descriptor number.
            let r = unsafe { libc::dup2(raw, target) };
            if r < 0 {
                return Err(op("dup2")(Errno::last()));
            }
        }
    }
    Ok(())
}

/// Take `flock(LOCK_EX|LOCK_NB)` on an open device: `Ok(true)` when we hold it now (or
/// already did, on this open file description), `Ok(false)` when another open file holds one
/// (picocom, tio and other flock users).
pub fn try_flock(fd: impl AsFd) -> Result<bool> {
    // SAFETY: flock(2) on a valid fd with constant flags.
    let r = unsafe { libc::flock(fd.as_fd().as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(true);
    }
    match Errno::last() {
        Errno::EWOULDBLOCK => Ok(false),
        e => Err(Error::Op {
            op: "flock",
            source: e,
        }),
    }
}

/// Release an flock taken with [`try_flock`] (the line stays open).
pub fn unflock(fd: impl AsFd) -> Result<()> {
    // SAFETY: flock(2) on a valid fd with constant flags.
    let r = unsafe { libc::flock(fd.as_fd().as_raw_fd(), libc::LOCK_UN) };
    if r == 0 {
        Ok(())
    } else {
        Err(op("flock(LOCK_UN)")(Errno::last()))
    }
}

/// Whether some other open file holds an flock on the device at `path`, tested without
/// owning the line: open it `O_RDONLY|O_NONBLOCK|O_NOCTTY`, try `LOCK_EX|LOCK_NB`, close
/// (which releases a lock we got). A device opened exclusively (`TIOCEXCL`, `EBUSY`) counts
/// as held too.
pub fn flock_busy(path: &Path) -> Result<bool> {
    let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let fd = match nix::fcntl::open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::EBUSY) => return Ok(true),
        Err(source) => {
            return Err(Error::Open {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    Ok(!try_flock(&fd)?)
}

/// Adopt an fd number inherited from a parent (e.g. systemd's LISTEN_FDS, or inetd's 0).
///
/// Returns `None` if the fd is not open.
pub fn adopt_fd(raw: i32) -> Option<OwnedFd> {
    fcntl(
        // SAFETY: only used for the F_GETFD probe; ownership is taken below if it is open.
        unsafe { BorrowedFd::borrow_raw(raw) },
        FcntlArg::F_GETFD,
    )
    .ok()?;
    // SAFETY: the fd is open (F_GETFD succeeded) and the caller gives up any other owner.
    Some(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// The `/dev/` path for an mgetty Device name (`ttyS0` → `/dev/ttyS0`, `pts/3` →
/// `/dev/pts/3`); absolute paths outside /dev are kept as they are (an rgetty extension).
pub fn device_path(device: &str) -> PathBuf {
    if device.starts_with('/') {
        PathBuf::from(device)
    } else {
        Path::new("/dev").join(device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn open_line_refuses_files_and_symlinks_to_them() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("somefile");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = d.path().join("fakeline");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        for p in [&file, &link] {
            let e = open_line(p, false).unwrap_err();
            assert!(matches!(e, Error::NotATty { .. }), "{e}");
            assert_eq!(e.to_string(), format!("{} is not a tty", p.display()));
        }
        let fifo = d.path().join("fifo");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(
            open_line(&fifo, false),
            Err(Error::NotATty { .. })
        ));
        let dev_null = open_line(Path::new("/dev/null"), false).unwrap_err();
        assert!(matches!(dev_null, Error::NotATty { .. }));
        assert!(matches!(
            open_line(&d.path().join("missing"), false),
            Err(Error::Open { .. })
        ));
    }

    #[test]
    fn open_line_follows_a_udev_style_symlink_to_a_tty_and_set_owner_uses_the_fd() {
        let p = openpty().unwrap();
        let d = tempfile::tempdir().unwrap();
        let link = d.path().join("modem");
        std::os::unix::fs::symlink(&p.slave_path, &link).unwrap();
        let fd = open_line(&link, false).unwrap();
        assert!(is_tty_device(&fd));
        set_owner(&fd, None, None, Some(0o620)).unwrap();
        let meta = std::fs::metadata(&p.slave_path).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o620);
    }

    #[test]
    fn pty_has_no_modem_lines() {
        let p = openpty().unwrap();
        assert_eq!(modem_lines(&p.slave).unwrap(), None);
        assert!(!set_dtr(&p.slave, false).unwrap());
        assert_eq!(icount(&p.slave).unwrap(), None);
        assert_eq!(
            wait_modem_change(&p.slave, ModemMask::default()).unwrap(),
            None
        );
    }

    #[test]
    fn speeds_and_params() {
        let p = openpty().unwrap();
        for &bps in crate::proto::speed::SPEEDS {
            set_speed(&p.slave, bps).unwrap();
            assert_eq!(get_speed(&p.slave).unwrap(), bps);
        }
        set_modem_mode(&p.slave, 38400, Flow::Hard, true).unwrap();
        let t = get_termios(&p.slave).unwrap();
        // The pty driver does not keep CRTSCTS; CLOCAL and HUPCL stick.
        assert!(t.control_flags.contains(termios::ControlFlags::CLOCAL));
        assert!(t.control_flags.contains(termios::ControlFlags::HUPCL));
        assert_eq!(get_speed(&p.slave).unwrap(), 38400);
        apply_stty(&p.slave, "9600 -crtscts -clocal").unwrap();
        let t = get_termios(&p.slave).unwrap();
        assert!(!t.control_flags.contains(termios::ControlFlags::CLOCAL));
        assert_eq!(termios_speed(&t), 9600);
        assert!(
            matches!(apply_stty(&p.slave, "9600 bogus"), Err(Error::BadStty(w)) if w == "bogus")
        );
        // Any integer speed goes through termios2 (BOTHER) and reads back; `raw` keeps it; a
        // standard speed afterwards is a B* constant again.
        set_speed(&p.slave, 12345).unwrap();
        assert_eq!(get_speed(&p.slave).unwrap(), 12345);
        apply_stty(&p.slave, "raw").unwrap();
        assert_eq!(get_params(&p.slave).unwrap().baud, 12345);
        apply_stty(&p.slave, "9600").unwrap();
        assert_eq!(termios_speed(&get_termios(&p.slave).unwrap()), 9600);
        let params = get_params(&p.slave).unwrap();
        assert_eq!(params.baud, 9600);
        assert_eq!(params.data_bits, 8);
    }

    #[test]
    fn raw_pty_passes_bytes() {
        let p = openpty().unwrap();
        let mut m = std::fs::File::from(p.master);
        let mut s = std::fs::File::from(p.slave);
        m.write_all(b"a\rb\xff").unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"a\rb\xff");
    }

    #[test]
    fn packet_mode_reports_termios_change() {
        let p = openpty().unwrap();
        set_packet_mode(&p.master, true).unwrap();
        set_extproc(&p.slave, true).unwrap();
        set_speed(&p.slave, 19200).unwrap();
        let mut m = std::fs::File::from(p.master);
        let mut buf = [0u8; 8];
        let n = m.read(&mut buf).unwrap();
        assert!(n >= 1 && buf[0] & PKT_IOCTL != 0, "{:?}", &buf[..n]);
    }

    #[test]
    fn flock_is_per_open_file() {
        let p = openpty().unwrap();
        assert!(!flock_busy(&p.slave_path).unwrap());
        let a = open_line(&p.slave_path, false).unwrap();
        assert!(try_flock(&a).unwrap());
        assert!(
            try_flock(&a).unwrap(),
            "again on the same open file: still ours"
        );
        assert!(flock_busy(&p.slave_path).unwrap());
        let b = open_line(&p.slave_path, false).unwrap();
        assert!(!try_flock(&b).unwrap());
        unflock(&a).unwrap();
        assert!(try_flock(&b).unwrap());
        drop(b);
        assert!(!flock_busy(&p.slave_path).unwrap());
    }

    #[test]
    fn device_paths() {
        assert_eq!(device_path("ttyUSB0"), PathBuf::from("/dev/ttyUSB0"));
        assert_eq!(device_path("pts/3"), PathBuf::from("/dev/pts/3"));
        assert_eq!(device_path("/tmp/x"), PathBuf::from("/tmp/x"));
    }
}
