//! `rgetty-share modem` on the event engine shared with `serve` ([`crate::share::engine`]).
//!
//! The engine is edge-triggered and registers each fd once, so [`Driver`] keeps the line's
//! fds ([`ModemLine::sources`]) registered: a new fd, or a new generation behind a token (a new pty
//! after a carrier drop, the waiting caller becoming the call), is (re-)registered; a
//! vanished one was closed, which took it out of epoll. After every batch the line's
//! [`ModemLine::tick`] runs and one timer is set for [`ModemLine::deadline`].

use std::collections::HashMap;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::ModemServer;
use super::line::ModemLine;
use super::poll::{LineFd, Ready};
use crate::share::engine::{self, Engine, Handler};

const TOKENS: [LineFd; 5] = [
    LineFd::Listener,
    LineFd::Master,
    LineFd::Call,
    LineFd::Incoming,
    LineFd::Wake,
];

fn index(t: LineFd) -> usize {
    TOKENS.iter().position(|x| *x == t).unwrap_or(0)
}

/// The engine's handler for one modem.
pub(super) struct Driver<'a> {
    server: &'a mut ModemServer,
    stop: &'a AtomicBool,
    registered: HashMap<RawFd, (LineFd, u64)>,
    timer: Option<engine::TimerId>,
}

impl std::fmt::Debug for Driver<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").finish_non_exhaustive()
    }
}

impl<'a> Driver<'a> {
    pub(super) fn new(server: &'a mut ModemServer, stop: &'a AtomicBool) -> Driver<'a> {
        Driver {
            server,
            stop,
            registered: HashMap::new(),
            timer: None,
        }
    }

    /// Register the listener and the line's fds; run until `stop`.
    pub(super) fn run(&mut self) -> std::io::Result<()> {
        let mut eng = Engine::new()?;
        eng.register_read(
            self.server.listener.as_raw_fd(),
            engine::Token(index(LineFd::Listener)),
        )?;
        self.sync(&eng);
        eng.add_timer(Instant::now(), 0);
        eng.run(self)
    }

    fn sync(&mut self, eng: &Engine) {
        let want: HashMap<RawFd, (LineFd, u64)> = self
            .server
            .line
            .sources()
            .into_iter()
            .map(|(t, fd, g)| (fd, (t, g)))
            .collect();
        // gone: closed, and closing took it out of epoll
        self.registered.retain(|fd, _| want.contains_key(fd));
        for (fd, tg) in want {
            if self.registered.get(&fd) == Some(&tg) {
                continue;
            }
            if self.registered.remove(&fd).is_some() {
                eng.deregister(fd); // the same fd under another token
            }
            match eng.register(fd, engine::Token(index(tg.0))) {
                Ok(()) => {
                    self.registered.insert(fd, tg);
                }
                Err(e) => log::warn!("modem: cannot watch fd {fd}: {e}"),
            }
        }
    }
}

impl Handler for Driver<'_> {
    fn ready(&mut self, _eng: &mut Engine, token: engine::Token, r: engine::Ready) {
        let Some(&t) = TOKENS.get(token.0) else {
            return;
        };
        if t == LineFd::Listener {
            self.server.accept();
            return;
        }
        let r = Ready {
            read: r.readable,
            write: r.writable,
            hangup: r.closed,
        };
        ModemLine::ready(&mut self.server.line, t, r);
    }

    fn timer(&mut self, _eng: &mut Engine, _key: u64) {}

    fn tick(&mut self, eng: &mut Engine) -> bool {
        self.server.line.tick();
        self.sync(eng);
        if let Some(id) = self.timer.take() {
            eng.cancel_timer(id);
        }
        let next = Instant::now() + self.server.line.deadline();
        self.timer = Some(eng.add_timer(next, 0));
        !self.stop.load(Ordering::Relaxed)
    }
}
