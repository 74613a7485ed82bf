//! One open device of `serve` and its clients: the [`Pump`] between them, plus what the
//! device needs besides bytes (its lock, the termios to restore, shadow DTR/RTS/break for
//! devices without modem lines, timers).

use std::path::PathBuf;
use std::time::Instant;

use nix::sys::termios::Termios;

use crate::share::engine::{TimerId, Token};
use crate::share::stack::Control;
use crate::sys::lock::Lock;

pub use crate::share::pump::{
    Buf, Client, DEVICE, Pump, PumpCfg, Role, SCRATCH, Scratch, TO_DEV_LIMIT,
};

/// An open device.
#[derive(Debug)]
pub struct Session {
    /// The device and its clients.
    pub pump: Pump,
    /// Its engine token.
    pub token: Token,
    /// Its path.
    pub path: PathBuf,
    /// The UUCP lock, held while open.
    pub lock: Lock,
    /// The termios to restore.
    pub saved: Option<Termios>,
    /// Closing: nobody left, draining until this time.
    pub closing: Option<Instant>,
    /// TIOCMGET works.
    pub has_modem_lines: bool,
    /// Shadow DTR (devices without modem lines).
    pub dtr: bool,
    /// Shadow RTS.
    pub rts: bool,
    /// Break on.
    pub brk: bool,
    /// Last modem state sent.
    pub modem_prev: Option<u8>,
    /// The modem-line poll timer, while someone wants notifications.
    pub modem_timer: Option<TimerId>,
    /// The drain check timer, while closing.
    pub drain_timer: Option<TimerId>,
}

/// Handles the control events of client `ci` (RFC 2217 requests, telnet BRK).
pub type ControlFn<'a> = &'a mut dyn FnMut(&mut Session, usize, Control);

impl Session {
    /// A session for a device just opened, locked and set up: `saved` is the termios to
    /// restore, `has_modem_lines` whether TIOCMGET works, `(dtr, rts)` the lines as opening
    /// left them. Its token is the placeholder
    /// `usize::MAX` until it is registered.
    pub fn new(
        pump: Pump,
        path: &std::path::Path,
        lock: Lock,
        saved: Option<Termios>,
        has_modem_lines: bool,
        (dtr, rts): (bool, bool),
    ) -> Session {
        Session {
            pump,
            token: Token(usize::MAX),
            path: path.to_path_buf(),
            lock,
            saved,
            closing: None,
            has_modem_lines,
            dtr,
            rts,
            brk: false,
            modem_prev: None,
            modem_timer: None,
            drain_timer: None,
        }
    }

    /// Move bytes until nothing can move, handing control events to `on_control` before the
    /// data read with them reaches the device. `on_output` sees every chunk read from the
    /// device (replay buffer, port log). Returns true when work is left (call again soon).
    pub fn run(
        &mut self,
        cap: usize,
        write_only: bool,
        sc: &mut Scratch,
        on_output: &mut dyn FnMut(&[u8]),
        on_control: ControlFn<'_>,
    ) -> bool {
        loop {
            let cfg = PumpCfg {
                cap,
                read_dev: !write_only && self.closing.is_none(),
            };
            let more = self.pump.run(cfg, sc, on_output);
            if sc.events.is_empty() {
                return more;
            }
            let mut events = std::mem::take(&mut sc.events);
            for (ci, ev) in events.drain(..) {
                if ci != DEVICE {
                    on_control(self, ci, ev);
                }
            }
            sc.events = events;
        }
    }

    /// The device fd (for the engine).
    pub fn dev_fd(&self) -> i32 {
        self.pump.dev.fd()
    }

    /// Writers connected (watchers not counted).
    pub fn writers(&self) -> usize {
        self.pump.writers()
    }
}
