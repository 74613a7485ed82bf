//! Waiting (§4.3): the wait without reading, a lock appearing, stepping aside for a
//! dial-out (Dialout), and Jail, the way back to waiting after a call.

use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use crate::lock::{Holder, LockError};
use crate::logging::AUDIT;
use crate::utmp::Kind;

use super::common::{Getty, secs};
use super::line::{Wake, sleep};
use super::state::{Call, State};

impl Getty {
    // ---------------------------------------------------------------- waiting (§4.3)

    pub(super) fn waiting(&mut self) -> io::Result<State> {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        log::info!("waiting...");
        self.sig.clear_hangup();
        // Kept open for the whole run: closing an inotify instance waits for an RCU grace
        // period, which would delay the ATA after the first RING by 15-25 ms.
        if self.inotify.is_none() {
            self.inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok();
            if let Some(ino) = &self.inotify {
                if let Err(e) = ino.add_watch(
                    self.locks.dir(),
                    AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO,
                ) {
                    log::debug!("no inotify watch on {}: {e}", self.locks.dir().display());
                }
            }
        }
        let inotify = self.inotify.take();
        let mut trimmed = false;
        let check_modem = self.settings.modem_check_time_s >= 0 && !self.settings.direct;
        let deadline = check_modem.then(|| {
            Instant::now() + Duration::from_secs(self.settings.modem_check_time_s.unsigned_abs())
        });
        loop {
            if self.settings.blocking {
                break;
            }
            let line = self.line()?;
            if !trimmed {
                // Last thing before the long wait: what runs after this faults back in.
                crate::idle::trim_text_pages();
                trimmed = true;
            }
            let wake = line.wait(&self.sig, inotify.as_ref().map(AsFd::as_fd), deadline)?;
            match wake {
                Wake::Readable | Wake::Hangup => break,
                Wake::Timeout => return Ok(State::CheckModem),
                Wake::Extra => {
                    if let Some(ino) = &inotify {
                        let _ = ino.read_events();
                    }
                    if let Some(holder) = self.locks.check_path(&self.tty.lock) {
                        return Ok(State::Dialout(holder));
                    }
                }
                Wake::Signal => {
                    if let Some(n) = self.sig.term_signal() {
                        return Ok(self.goodbye_signal(n));
                    }
                    if self.sig.usr2() {
                        log::warn!(
                            target: AUDIT,
                            "exit dev={}, pid={}, got signal USR2, exiting",
                            self.tty.device,
                            self.pid()
                        );
                        return Ok(State::Exit(0));
                    }
                    if self.sig.virtual_ring() {
                        break;
                    }
                    self.sig.clear_hangup();
                }
            }
        }
        self.inotify = inotify;
        // Activity: take the lock, or yield to the dial-out that has it.
        match self.locks.acquire_path(self.tty.lock.clone()) {
            Ok(l) => self.lock = Some(l),
            Err(LockError::Held { holder, .. }) => return Ok(State::Dialout(holder)),
            Err(e) => {
                log::error!("cannot lock {}: {e}", self.tty.device);
                return Ok(State::Exit(1));
            }
        }
        // From now on SIGHUP (carrier loss) ends the call.
        self.sig.clear_hangup();
        let call = Call::default();
        if self.paths.nologin_file.exists() {
            return Ok(State::NoLogin(call));
        }
        if self.settings.direct {
            let mut call = call;
            call.info.connect = "DIRECT".into();
            return Ok(State::GetLogin(call));
        }
        Ok(State::WaitRings(call))
    }

    pub(super) fn dialout(&mut self, holder: &Holder) -> State {
        log::info!("dialout in progress: {:?}", holder.cmdline);
        let host: String = holder.cmdline.chars().take(59).collect();
        if let Err(e) = self
            .utmp
            .update(Kind::User, "dialout", &host, &self.tty.device)
        {
            log::debug!("utmp: {e}");
        }
        // Let go of the tty so the dialer has it to itself.
        self.line = None;
        self.lock = None;
        let lock_path = self.tty.lock.clone();
        loop {
            let sig = &self.sig;
            if !self
                .locks
                .wait_until_free_unless(&lock_path, Duration::from_secs(10), &|| {
                    sig.term_signal().is_some()
                })
            {
                return self.goodbye_signal(self.sig.term_signal().unwrap_or(15));
            }
            sleep(&self.sig, secs(self.cli.dialout_grace));
            if let Some(n) = self.sig.term_signal() {
                return self.goodbye_signal(n);
            }
            if self.locks.check_path(&lock_path).is_none() {
                log::info!("dialout finished, exiting so that init restarts us");
                return State::Exit(0);
            }
        }
    }

    pub(super) fn jail(&mut self) -> io::Result<State> {
        // mgetty never clears its SIGUSR1 flag; after a call that ends here that would wake
        // WAITING at once, forever.
        self.sig.clear_virtual_ring();
        self.rings.reader.new_call();
        self.ctx.splitter.clear();
        self.clean_line(Duration::from_millis(300), Duration::from_secs(3))?;
        self.release_lock();
        Ok(State::Waiting)
    }
}
