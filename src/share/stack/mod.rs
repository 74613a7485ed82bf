//! Connection stacks: a connection is a stack of [`Layer`]s over one byte source, the way
//! gensio stacks `telnet(rfc2217),ssl,tcp`.
//!
//! ```text
//!   session logic (serve's pump, connect's link)   data + Control events
//!   ─────────────────────────────────────────────
//!   rfc2217   COM-PORT messages  <-> Control::Speed, ::Dtr, ::Break, ::Purge, ...
//!   websocket RFC 6455 frames (the web console): binary = data, text = control requests
//!   telnet    IAC escaping, option negotiation, IAC BRK <-> Control::BreakPulse
//!   tls       rustls records
//!   fd        the byte source: TCP, an inherited inetd/systemd socket, a unix socket,
//!             a pty or a device fd
//! ```
//!
//! Every layer owns the layer below it and sees nothing else: it turns the bytes it reads
//! from below into data for the layer above plus [`Control`] events, and the data and
//! events it is given back into bytes for the layer below. Session logic holds the top of
//! the stack, a [`Conn`], and never sees a telnet byte or a TLS record.
//!
//! ## One back-pressure rule
//!
//! A layer holds at most what it took in one [`Layer::write`] (after its own encoding), plus
//! the answers it must send on its own (telnet negotiation, COM-PORT replies). While it still
//! holds bytes it cannot push down, `write` answers `WouldBlock` and takes nothing. So the
//! caller's bounded queue counts everything waiting towards a peer, and [`Layer::held`]
//! reports the rest (the caller drops a peer whose queue plus held bytes pass its cap).
//!
//! ## Reading
//!
//! [`Layer::read`] returns data (`Ok(n)`, `Ok(0)` being the end of the stream) and appends
//! the events it found to `events`. A read that found only events answers
//! `ErrorKind::Interrupted`: call again. All fds are non-blocking and edge-triggered: after a
//! read shorter than asked, [`Layer::drained`] says whether the source is really empty (the
//! kernel signals new data) or bytes still wait inside a layer.
//!
//! ## Adding a layer
//!
//! A new layer is one file in this folder implementing [`Layer`] plus a `build` function,
//! and one line in [`LAYERS`] naming it. Tests (or a front end) can add one at run time
//! with [`register`]. See `docs/design.md` for a walk-through.

use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Mutex;

use crate::proto::telnet::{Parity, StopBits};
use crate::sys::tty::{Flow, Queue};

pub mod comport;
pub mod fd;
pub mod pkt;
pub mod telnet;
pub mod tls;
pub mod websocket;

pub use tls::TlsRole;

/// A control event: what a serial port does besides carrying data.
///
/// Coming up (from a peer) a value of `None` asks for the current setting; going down (to a
/// peer) the value is the setting as it now is (the answer, or a notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// The line speed in bits per second.
    Speed(Option<u32>),
    /// Data bits (5 to 8).
    DataBits(Option<u8>),
    /// Parity.
    Parity(Option<Parity>),
    /// Stop bits.
    StopBits(Option<StopBits>),
    /// Outbound flow control (`Flow::None`, `Soft` or `Hard`).
    OutFlow(Option<Flow>),
    /// Inbound flow control (`Flow::None`, `Soft` or `Hard`).
    InFlow(Option<Flow>),
    /// DTR on or off.
    Dtr(Option<bool>),
    /// RTS on or off.
    Rts(Option<bool>),
    /// The break condition held on or off.
    Break(Option<bool>),
    /// Send a break now (telnet `IAC BRK`).
    BreakPulse,
    /// Throw away queued data.
    Purge(Queue),
    /// The modem lines (RFC 2217 modem-state bits, delta bits included for a change). Going
    /// down, the first report and the answer to a [`Control::ModemStateQuery`] are always
    /// sent; any other report is a change, sent only to a peer that asked for them.
    ModemState(u8),
    /// The peer asks for the modem lines.
    ModemStateQuery,
    /// The line state (RFC 2217 line-state bits).
    LineState(u8),
    /// The peer asks for the line state.
    LineStateQuery,
    /// Which modem-state changes to report. A server echoes the request; its RFC 2217
    /// layer applies the mask as the echo goes down, so answers keep the requests' order.
    ModemStateMask(u8),
    /// Which line-state bits to report (echoed like [`Control::ModemStateMask`]).
    LineStateMask(u8),
    /// Stop sending data to the peer (its buffers are full).
    Suspend,
    /// Send data again.
    Resume,
    /// A signature: empty asks the peer for its own, otherwise the peer's (or ours).
    Signature(Vec<u8>),
    /// The program on a pty changed the line settings (packet mode's `TIOCPKT_IOCTL`): read
    /// them again.
    SettingsChanged,
    /// Between layers: a telnet sub-negotiation, `IAC SB option payload IAC SE`.
    Sub {
        /// The option.
        option: u8,
        /// The payload, unescaped.
        payload: Vec<u8>,
    },
    /// Between layers: the peer negotiated a telnet option. `will` is set for `IAC WILL`,
    /// `enabled` says whether the option is now on the peer's side.
    Negotiated {
        /// The option.
        option: u8,
        /// The peer said WILL.
        will: bool,
        /// The option is on at the peer's side.
        enabled: bool,
    },
}

/// Which end of a connection a layer is at: protocols like RFC 2217 speak differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `serve`: the end with the device.
    Server,
    /// `connect`: the end with the program.
    Client,
}

/// One layer of a connection stack. See the module documentation for the rules.
///
/// Only [`Layer::read`], [`Layer::write`], [`Layer::below`] and [`Layer::below_mut`] must be
/// written; every other method passes the call to the layer below by default, and the bottom
/// ([`fd::FdLayer`]) answers it.
pub trait Layer: std::fmt::Debug {
    /// The layer's registered name (`"tls"`, `"telnet"`, ...).
    fn name(&self) -> &'static str;

    /// The layer below (`None` at the bottom).
    fn below(&self) -> Option<&dyn Layer>;

    /// The layer below, mutably.
    fn below_mut(&mut self) -> Option<&mut dyn Layer>;

    /// Read data for the layer above into `buf`, appending events found on the way to
    /// `events`. `Ok(0)` is the end of the stream; `WouldBlock` means nothing is waiting;
    /// `Interrupted` means only events were found (call again).
    fn read(&mut self, buf: &mut [u8], events: &mut Vec<Control>) -> io::Result<usize>;

    /// Take data to send; `WouldBlock` (taking nothing) while bytes held from before cannot
    /// be pushed down.
    fn write(&mut self, data: &[u8]) -> io::Result<usize>;

    /// Send a control event. A layer that does not speak it passes it down; the bottom drops
    /// it. The encoded bytes are held until [`Layer::flush`].
    fn control(&mut self, c: Control) -> io::Result<()> {
        match self.below_mut() {
            Some(b) => b.control(c),
            None => Ok(()),
        }
    }

    /// Called once the stack is built: send what a layer says first (telnet offers).
    fn start(&mut self) -> io::Result<()> {
        match self.below_mut() {
            Some(b) => b.start(),
            None => Ok(()),
        }
    }

    /// Ask the telnet layer below to negotiate `option` on both sides (used by layers that
    /// need an option, like RFC 2217's COM-PORT). True when some layer will.
    fn want_option(&mut self, option: u8) -> bool {
        self.below_mut().is_some_and(|b| b.want_option(option))
    }

    /// Push held bytes down. `Ok(true)` when nothing is held anywhere below.
    fn flush(&mut self) -> io::Result<bool> {
        match self.below_mut() {
            Some(b) => b.flush(),
            None => Ok(true),
        }
    }

    /// Bytes held in this layer and below, not yet handed to the kernel.
    fn held(&self) -> usize {
        self.below().map_or(0, |b| b.held())
    }

    /// After a read shorter than asked: nothing more waits in this layer or below.
    fn drained(&self) -> bool {
        self.below().is_none_or(|b| b.drained())
    }

    /// Input waits inside the stack: read before waiting for the fd.
    fn has_buffered(&self) -> bool {
        self.below().is_some_and(|b| b.has_buffered())
    }

    /// Still in a handshake (TLS).
    fn handshaking(&self) -> bool {
        self.below().is_some_and(|b| b.handshaking())
    }

    /// Drive a handshake as far as the fd allows; `Ok(true)` once done.
    fn handshake(&mut self) -> io::Result<bool> {
        match self.below_mut() {
            Some(b) => b.handshake(),
            None => Ok(true),
        }
    }

    /// The peer asked for modem-state change notifications.
    fn wants_modem_state(&self) -> bool {
        self.below().is_some_and(|b| b.wants_modem_state())
    }

    /// Close: say goodbye where the protocol has a way (TLS close_notify), then shut down.
    fn shutdown(&mut self) {
        if let Some(b) = self.below_mut() {
            b.shutdown();
        }
    }

    /// The fd at the bottom.
    fn fd(&self) -> RawFd {
        self.below().map_or(-1, |b| b.fd())
    }

    /// The peer's address (0.0.0.0:0 when the source has none).
    fn peer(&self) -> SocketAddr {
        self.below()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |b| b.peer())
    }

    /// Writes go straight to the fd: a short write means the kernel buffer is full.
    fn direct(&self) -> bool {
        false
    }

    /// The peer's certificate (DER), once a TLS handshake that asked for one is done.
    fn peer_certificate(&self) -> Option<Vec<u8>> {
        self.below().and_then(|b| b.peer_certificate())
    }
}

/// What a layer's `build` function gets.
#[derive(Debug, Clone)]
pub struct LayerArgs<'a> {
    /// Which end we are.
    pub side: Side,
    /// TLS configuration (for the `tls` layer).
    pub tls: Option<&'a TlsRole>,
}

/// Builds a layer over `below`.
pub type Build = fn(&LayerArgs<'_>, Box<dyn Layer>) -> io::Result<Box<dyn Layer>>;

/// The layers by name: a new layer is one line here.
pub const LAYERS: &[(&str, Build)] = &[
    ("tls", tls::build),
    ("telnet", telnet::build),
    ("telnet-brk-on-sync", telnet::build_brk_on_sync),
    ("rfc2217", comport::build),
    ("pty-packet", pkt::build),
    ("websocket", websocket::build),
];

/// Layers added at run time with [`register`].
static EXTRA: Mutex<Vec<(&'static str, Build)>> = Mutex::new(Vec::new());

/// Add a layer by name at run time (tests, front ends). A later registration of the same
/// name wins over earlier ones and over [`LAYERS`].
pub fn register(name: &'static str, build: Build) {
    if let Ok(mut v) = EXTRA.lock() {
        v.push((name, build));
    }
}

fn lookup(name: &str) -> Option<Build> {
    let extra = EXTRA
        .lock()
        .ok()
        .and_then(|v| v.iter().rev().find(|(n, _)| *n == name).map(|(_, b)| *b));
    extra.or_else(|| LAYERS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b))
}

/// Whether a layer of that name is registered.
pub fn is_layer(name: &str) -> bool {
    lookup(name).is_some()
}

/// A connection: the top of a stack of layers.
#[derive(Debug)]
pub struct Conn {
    top: Box<dyn Layer>,
    /// Events of a [`Conn::read`] whose caller does not want them.
    dropped: Vec<Control>,
}

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the fd belongs to the bottom layer, which lives as long as `self`.
        unsafe { BorrowedFd::borrow_raw(self.top.fd()) }
    }
}

impl Conn {
    /// A stack over `fd` (made non-blocking): `layers` bottom-up by name, e.g.
    /// `["tls", "telnet", "rfc2217"]`; then every layer's [`Layer::start`].
    pub fn build(fd: OwnedFd, layers: &[&str], args: &LayerArgs<'_>) -> io::Result<Conn> {
        let mut top: Box<dyn Layer> = Box::new(fd::FdLayer::new(fd)?);
        for name in layers {
            let b = lookup(name).ok_or_else(|| {
                io::Error::new(ErrorKind::InvalidInput, format!("no layer {name:?}"))
            })?;
            top = b(args, top)?;
        }
        top.start()?;
        Ok(Conn {
            top,
            dropped: Vec::new(),
        })
    }

    /// A stack whose layers the caller built itself (layers with state of their own, like
    /// the virtual modem's, which [`Conn::build`] cannot make by name); not started.
    pub fn from_layer(top: Box<dyn Layer>) -> Conn {
        Conn {
            top,
            dropped: Vec::new(),
        }
    }

    /// A stack of the bottom layer alone (a device, a pty): bytes in, bytes out.
    pub fn bare(fd: OwnedFd) -> io::Result<Conn> {
        let args = LayerArgs {
            side: Side::Server,
            tls: None,
        };
        Conn::build(fd, &[], &args)
    }

    /// A socket, plain or with TLS.
    pub fn new(fd: OwnedFd, tls: Option<&TlsRole>) -> io::Result<Conn> {
        let side = match tls {
            Some(TlsRole::Client(..)) => Side::Client,
            _ => Side::Server,
        };
        let layers: &[&str] = if tls.is_some() { &["tls"] } else { &[] };
        Conn::build(fd, layers, &LayerArgs { side, tls })
    }

    /// Put one more layer on top (e.g. telnet once a TLS handshake is done), and start it.
    pub fn push(&mut self, name: &str, args: &LayerArgs<'_>) -> io::Result<()> {
        let b = lookup(name)
            .ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, format!("no layer {name:?}")))?;
        let below = std::mem::replace(&mut self.top, Box::new(fd::Placeholder));
        self.top = b(args, below)?;
        Ok(())
    }

    /// Start the layers (send what they say first); after [`Conn::push`].
    pub fn start(&mut self) -> io::Result<()> {
        self.top.start()
    }

    /// The names of the layers, top first.
    pub fn layers(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut l: Option<&dyn Layer> = Some(self.top.as_ref());
        while let Some(x) = l {
            v.push(x.name());
            l = x.below();
        }
        v
    }

    /// The fd to register with the engine or poll.
    pub fn fd(&self) -> RawFd {
        self.top.fd()
    }

    /// The peer's address (0.0.0.0:0 for a socket that has none, e.g. a Unix socket on stdin).
    pub fn peer(&self) -> SocketAddr {
        self.top.peer()
    }

    /// The peer's TLS client certificate (DER), when it gave one.
    pub fn peer_certificate(&self) -> Option<Vec<u8>> {
        self.top.peer_certificate()
    }

    /// No TLS: nothing to wait for before the connection is usable.
    pub fn is_plain(&self) -> bool {
        !self.layers().contains(&"tls")
    }

    /// Writes go straight to the fd (no layer): a short write means the kernel buffer is full.
    pub fn direct(&self) -> bool {
        self.top.direct()
    }

    /// After a read that returned less than asked: nothing more is waiting, neither in the
    /// kernel nor inside a layer, so the kernel signals new data.
    pub fn drained(&self) -> bool {
        self.top.drained()
    }

    /// Input is waiting inside a layer: read before waiting for the fd.
    pub fn has_buffered(&self) -> bool {
        self.top.has_buffered()
    }

    /// Still in the TLS handshake.
    pub fn handshaking(&self) -> bool {
        self.top.handshaking()
    }

    /// Push held bytes to the kernel. `Ok(true)` when nothing is left.
    pub fn flush(&mut self) -> io::Result<bool> {
        self.top.flush()
    }

    /// Bytes held in the layers (encoded, not yet handed to the kernel).
    pub fn held(&self) -> usize {
        self.top.held()
    }

    /// Drive a handshake as far as the fd allows. `Ok(true)` once it is done.
    pub fn handshake(&mut self) -> io::Result<bool> {
        self.top.handshake()
    }

    /// Read data, dropping control events. `Ok(0)` is the end of the stream.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut ev = std::mem::take(&mut self.dropped);
        let r = self.top.read(buf, &mut ev);
        ev.clear();
        self.dropped = ev;
        r
    }

    /// Read data and control events (see [`Layer::read`]).
    pub fn read_events(&mut self, buf: &mut [u8], events: &mut Vec<Control>) -> io::Result<usize> {
        self.top.read(buf, events)
    }

    /// Write data; `WouldBlock` while earlier bytes are still held.
    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.top.write(data)
    }

    /// Send a control event (held until the next flush or write).
    pub fn control(&mut self, c: Control) -> io::Result<()> {
        self.top.control(c)
    }

    /// The peer asked for modem-state change notifications.
    pub fn wants_modem_state(&self) -> bool {
        self.top.wants_modem_state()
    }

    /// Close: TLS close_notify (best effort), then shut the socket down both ways.
    pub fn shutdown(&mut self) {
        self.top.shutdown()
    }
}

/// Push `held` down into `below`: `Ok(true)` when all of it went.
pub(crate) fn push_down(held: &mut Vec<u8>, below: &mut dyn Layer) -> io::Result<bool> {
    let mut off = 0;
    let r = loop {
        if off == held.len() {
            break Ok(true);
        }
        match below.write(&held[off..]) {
            Ok(0) => break Err(ErrorKind::WriteZero.into()),
            Ok(n) => off += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    held.drain(..off);
    match r {
        Ok(true) => below.flush(),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::telnet::{ComPort, Decoder, Event};
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    fn pair(layers: &[&str], side: Side) -> (Conn, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        let c = Conn::build(OwnedFd::from(a), layers, &LayerArgs { side, tls: None }).unwrap();
        (c, b)
    }

    fn read_all(c: &mut Conn, ev: &mut Vec<Control>) -> Vec<u8> {
        let mut buf = [0u8; 256];
        let mut out = Vec::new();
        loop {
            match c.read_events(&mut buf, ev) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        out
    }

    #[test]
    fn a_bare_stack_is_direct() {
        let (mut c, mut peer) = pair(&[], Side::Server);
        assert!(c.direct() && c.is_plain());
        assert_eq!(c.layers(), vec!["fd"]);
        c.write(b"a\xffb").unwrap();
        let mut b = [0u8; 3];
        peer.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"a\xffb");
    }

    #[test]
    fn rfc2217_requests_come_up_as_controls() {
        let (mut c, mut peer) = pair(&["telnet", "rfc2217"], Side::Server);
        assert_eq!(c.layers(), vec!["rfc2217", "telnet", "fd"]);
        let mut wire = b"x\xff\xffy".to_vec();
        ComPort::SetBaudrate(9600).encode(false, &mut wire);
        ComPort::SetControl(crate::proto::telnet::rfc2217::CONTROL_DTR_OFF)
            .encode(false, &mut wire);
        wire.extend_from_slice(&[0xff, crate::proto::telnet::cmd::BRK]);
        peer.write_all(&wire).unwrap();
        let mut ev = Vec::new();
        assert_eq!(read_all(&mut c, &mut ev), b"x\xffy");
        assert_eq!(
            ev,
            vec![
                Control::Speed(Some(9600)),
                Control::Dtr(Some(false)),
                Control::BreakPulse
            ]
        );
        assert!(c.wants_modem_state(), "it spoke RFC 2217");
    }

    #[test]
    fn answers_and_data_go_down_encoded() {
        let (mut c, mut peer) = pair(&["telnet", "rfc2217"], Side::Server);
        c.control(Control::Speed(Some(19200))).unwrap();
        c.write(b"\xff").unwrap();
        assert!(c.flush().unwrap());
        drop(c);
        let mut wire = Vec::new();
        peer.read_to_end(&mut wire).unwrap();
        let (mut data, mut ev) = (Vec::new(), Vec::new());
        Decoder::new().feed(&wire, &mut data, &mut ev);
        assert_eq!(data, b"\xff");
        let subs: Vec<_> = ev
            .into_iter()
            .filter_map(|e| match e {
                Event::Sub { payload, .. } => Some(ComPort::parse(&payload).unwrap()),
                _ => None,
            })
            .collect();
        assert_eq!(subs, vec![(ComPort::SetBaudrate(19200), true)]);
    }

    #[test]
    fn a_registered_layer_is_found_by_name() {
        fn build(_a: &LayerArgs<'_>, below: Box<dyn Layer>) -> io::Result<Box<dyn Layer>> {
            Ok(below)
        }
        register("unit-test-identity", build);
        let (c, _peer) = pair(&["unit-test-identity"], Side::Client);
        assert_eq!(c.layers(), vec!["fd"]);
        let (a, _b) = UnixStream::pair().unwrap();
        let e = Conn::build(
            OwnedFd::from(a),
            &["nonesuch"],
            &LayerArgs {
                side: Side::Client,
                tls: None,
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("nonesuch"));
    }
}
