//! One connection of `connect` on the shared [`Pump`]: the local end (the virtual COM port's
//! pty master in packet mode, or a local device) is the pump's device end, the server its one
//! peer. The pump's back-pressure rule applies as for `serve`: the local end is read only
//! while the server's queue has room, the server only while the local queue has room.
//!
//! Local settings changes and flushes (packet mode) come up from the local end's stack as
//! control events and go to the server as RFC 2217 requests.

use std::io::{self, ErrorKind, Write};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::local::{LocalEnd, Sent, local_settings, settings_requests};
use super::{ConnectOptions, SessionEnd};
use crate::share::conf::PortMode;
use crate::share::engine::{Engine, Handler, Ready, Token};
use crate::share::pump::{Client, DEVICE, Pump, PumpCfg, Role, Scratch};
use crate::share::stack::comport::control_of;
use crate::share::stack::{Conn, Control, LayerArgs, Side};

/// Replies and data queued towards the server (or the local end) before the connection
/// counts as hostile; the pump reads the other end only while there is room.
const NET_CAP: usize = 256 * 1024;
const LOCAL: Token = Token(0);
const NET: Token = Token(1);
/// How often `connect` looks at the stop flag.
const TERM_CHECK: Duration = Duration::from_millis(500);

/// The local end as a stack: a dup of its fd, with the packet-mode layer on a pty.
fn local_stack(local: &LocalEnd) -> io::Result<Conn> {
    let fd = OwnedFd::from(local.file.try_clone()?);
    let layers: &[&str] = if local.packet { &["pty-packet"] } else { &[] };
    let args = LayerArgs {
        side: Side::Client,
        tls: None,
    };
    Conn::build(fd, layers, &args)
}

/// Move bytes until the connection ends.
pub(super) fn session(
    opts: &ConnectOptions,
    local: &mut LocalEnd,
    mut sock: Conn,
    term: &AtomicBool,
) -> Result<(), SessionEnd> {
    let rfc = opts.mode == PortMode::Rfc2217;
    if rfc {
        let args = LayerArgs {
            side: Side::Client,
            tls: None,
        };
        sock.push("telnet", &args).map_err(SessionEnd::Net)?;
        sock.push("rfc2217", &args).map_err(SessionEnd::Net)?;
        sock.start().map_err(SessionEnd::Net)?;
    }
    let mut eng = Engine::new().map_err(SessionEnd::Local)?;
    let mut pump = Pump::new(local_stack(local).map_err(SessionEnd::Local)?);
    eng.register(pump.dev.fd(), LOCAL)
        .map_err(SessionEnd::Local)?;
    eng.register(sock.fd(), NET).map_err(SessionEnd::Net)?;
    let peer = sock.peer();
    pump.clients
        .push(Client::new(NET, sock, peer, Role::Writer));
    let mut link = Link {
        rfc,
        local,
        pump,
        term,
        sent: None,
        scratch: Scratch::default(),
        end: None,
    };
    if link.rfc {
        if let Some(s) = local_settings(&link.local.file) {
            link.send_settings(None, s);
            link.sent = Some(s);
        }
    }
    eng.add_timer(Instant::now(), 0);
    eng.run(&mut link).map_err(SessionEnd::Local)?;
    link.end.unwrap_or(Ok(()))
}

/// One connection of `connect`: the local end and the server, on the engine.
struct Link<'a> {
    rfc: bool,
    local: &'a mut LocalEnd,
    pump: Pump,
    term: &'a AtomicBool,
    sent: Option<Sent>,
    scratch: Scratch,
    end: Option<Result<(), SessionEnd>>,
}

impl Handler for Link<'_> {
    fn ready(&mut self, _eng: &mut Engine, t: Token, r: Ready) {
        if t == LOCAL {
            self.pump.dev_readable |= r.readable;
            self.pump.dev_writable |= r.writable;
            self.pump.dev_hup |= r.closed;
        } else if let Some(c) = self.pump.clients.first_mut() {
            c.readable |= r.readable;
            c.writable |= r.writable;
            c.hup |= r.closed;
        }
    }

    fn timer(&mut self, eng: &mut Engine, key: u64) {
        eng.add_timer(Instant::now() + TERM_CHECK, key);
    }

    fn tick(&mut self, eng: &mut Engine) -> bool {
        let cfg = PumpCfg {
            cap: NET_CAP,
            read_dev: true,
        };
        let more = self.pump.run(cfg, &mut self.scratch, &mut |_| {});
        let events = std::mem::take(&mut self.scratch.events);
        for (from, ev) in &events {
            if *from == DEVICE {
                self.local_event(ev);
            }
        }
        self.scratch.events = events;
        self.scratch.events.clear();
        self.settle();
        if more {
            eng.wake_soon();
        }
        self.end.is_none() && !self.term.load(Ordering::Relaxed)
    }
}

impl Link<'_> {
    /// A settings change or a flush on the local end: tell the server (RFC 2217 only).
    fn local_event(&mut self, ev: &Control) {
        if !self.rfc {
            return;
        }
        match ev {
            Control::SettingsChanged => {
                let Some(s) = local_settings(&self.local.file) else {
                    return;
                };
                if self.sent != Some(s) {
                    log::info!(
                        "local settings changed: {} baud, {} bits, {:?}, {:?}",
                        s.params.baud,
                        s.params.data_bits,
                        s.params.parity,
                        s.params.stop_bits
                    );
                    self.send_settings(self.sent, s);
                    self.sent = Some(s);
                }
            }
            // The local program flushed its queues (tcflush): purge the remote's.
            Control::Purge(q) => self.control(Control::Purge(*q)),
            _ => {}
        }
    }

    /// Send a control event to the server.
    fn control(&mut self, c: Control) {
        if let Some(net) = self.pump.clients.first_mut() {
            net.control(c, NET_CAP);
        }
    }

    /// Forward the local settings that changed as RFC 2217 requests.
    fn send_settings(&mut self, old: Option<Sent>, new: Sent) {
        let mut reqs = Vec::new();
        settings_requests(old, new, &mut reqs);
        for m in &reqs {
            if let Some(c) = control_of(m) {
                self.control(c);
            }
        }
    }

    /// The end of the connection: the local end failed, or the server went away (what it
    /// sent last is handed to the local side first).
    fn settle(&mut self) {
        if let Some(why) = self.pump.gone.take() {
            self.end = Some(Err(SessionEnd::Local(io::Error::other(why))));
            return;
        }
        let Some(net) = self.pump.clients.first_mut() else {
            self.end = Some(Ok(()));
            return;
        };
        let Some(why) = net.dead.take() else {
            return;
        };
        if net.eof {
            flush_local(self.local, &mut self.pump);
            self.end = Some(Ok(()));
        } else {
            self.end = Some(Err(SessionEnd::Net(io::Error::other(why))));
        }
    }
}

/// Best effort: hand what the server sent last to the local side before reconnecting.
fn flush_local(local: &mut LocalEnd, pump: &mut Pump) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !pump.to_dev.is_empty() && Instant::now() < deadline {
        match local.file.write(pump.to_dev.as_slice()) {
            Ok(n) => pump.to_dev.consume(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => break,
        }
    }
}
