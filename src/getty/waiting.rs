//! Waiting (§4.3): the wait without reading, a lock appearing, stepping aside for a
//! dial-out (Dialout), and Jail, the way back to waiting after a call.

use super::exit;
use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use crate::sys::lock::Holder;
use crate::sys::logging::AUDIT;
use crate::sys::utmp::RecordType;
use crate::sys::waitproto::Resume;
use nix::sys::inotify::Inotify;

use super::common::{Getty, secs};
use super::line::{Wake, sleep};
use super::state::{Call, State};

impl Getty {
    /// Waiting (§4.3): sleep without reading until the line has data, a lock appears, a
    /// signal comes or the modem check is due.
    pub(super) fn waiting(&mut self) -> io::Result<State> {
        // Back from the waiter (`handoff`): all this was done before its wait, and RI edges
        // seen since the resume started a new watcher are this wait's.
        let resumed = self.resumed.take();
        if resumed.is_none() {
            log::info!("waiting...");
            self.sig.clear_hangup();
            self.watch_lock_dir();
            // A lock taken after ours was released but before the watch was armed wakes
            // nothing: look once now that it is armed.
            if let Some(holder) = self.locks.check(&self.tty.path) {
                return Ok(State::Dialout(holder));
            }
        }
        if resumed.is_none() {
            self.rings.forget_edges();
        }
        let inotify = self.inotify.take();
        self.rings.commands.reap();
        if let Some(state) = self.wait_for_activity(inotify.as_ref(), resumed)? {
            return Ok(state);
        }
        self.inotify = inotify;
        Ok(self.activity())
    }

    /// The wait itself: `None` on activity (data, hangup, SIGUSR1, or at once with
    /// `blocking`), else the state it ends in.
    fn wait_for_activity(
        &mut self,
        inotify: Option<&Inotify>,
        mut resumed: Option<Resume>,
    ) -> io::Result<Option<State>> {
        let mut trimmed = false;
        let deadline = self.wait_deadline(resumed.as_ref());
        loop {
            if self.settings.blocking {
                return Ok(None);
            }
            let wake = match resumed.take() {
                Some(r) => self.resumed_wake(&r),
                None => {
                    // The plain wait happens in the waiter, which comes back as a resume.
                    self.exec_waiter(inotify, deadline);
                    let line = self.line()?;
                    // Before the long wait: freed start-up heap goes back to the kernel.
                    crate::sys::idle::prepare_once(&mut trimmed);
                    line.wait(&self.sig, inotify.map(AsFd::as_fd), deadline)?
                }
            };
            match wake {
                Wake::Readable | Wake::Hangup => return Ok(None),
                Wake::Timeout => return Ok(Some(State::CheckModem)),
                Wake::Extra => {
                    if let Some(ino) = inotify {
                        let _ = ino.read_events();
                    }
                    if let Some(holder) = self.locks.check(&self.tty.path) {
                        return Ok(Some(State::Dialout(holder)));
                    }
                }
                Wake::Signal => {
                    if let Some(n) = self.sig.term_signal() {
                        return Ok(Some(self.goodbye_signal(n)));
                    }
                    if self.sig.usr2() {
                        log::warn!(
                            target: AUDIT,
                            "exit dev={}, pid={}, got signal USR2, exiting",
                            self.tty.device,
                            self.pid()
                        );
                        return Ok(Some(State::Exit(exit::OK)));
                    }
                    if self.sig.virtual_ring() || self.rings.ri_pending() {
                        return Ok(None);
                    }
                    self.sig.clear_hangup();
                }
            }
        }
    }

    /// Activity: take the lock, or yield to the dial-out that has it; then the call starts.
    fn activity(&mut self) -> State {
        match self.lock_line() {
            Ok(None) => {}
            Ok(Some(holder)) => return State::Dialout(holder),
            Err(e) => {
                log::error!("cannot lock {}: {e}", self.tty.device);
                return State::Exit(exit::CHAT_FAILED);
            }
        }
        // From now on SIGHUP (carrier loss) ends the call.
        self.sig.clear_hangup();
        let call = Call::default();
        if self.paths.nologin_file.exists() {
            return State::NoLogin(call);
        }
        if self.settings.direct {
            let mut call = call;
            call.info.connect = "DIRECT".into();
            return State::GetLogin(call);
        }
        State::WaitRings(call)
    }

    /// Dialout: let go of the line while a dial-out program holds the lock, then exit 0 so init
    /// restarts us.
    pub(super) fn dialout(&mut self, holder: &Holder) -> State {
        // A process's command line is anyone's text: no ESC or BEL into the log or utmp.
        let cmdline = crate::proto::sanitize::printable(&holder.cmdline);
        log::info!("dialout in progress: {cmdline:?}");
        let host: String = cmdline.chars().take(59).collect();
        if let Err(e) = self
            .utmp
            .update(RecordType::User, "dialout", &host, &self.tty.device)
        {
            log::debug!("utmp: {e}");
        }
        // Let go of the tty so the dialer has it to itself.
        self.rings.ri = None;
        self.line = None;
        self.lock = None;
        let device = self.tty.path.clone();
        loop {
            let sig = &self.sig;
            if !self
                .locks
                .wait_until_free_unless(&device, Duration::from_secs(10), &|| {
                    sig.term_signal().is_some()
                })
            {
                return self.goodbye_signal(self.sig.term_signal().unwrap_or(15));
            }
            sleep(&self.sig, secs(self.cli.dialout_grace));
            if let Some(n) = self.sig.term_signal() {
                return self.goodbye_signal(n);
            }
            if self.locks.check(&device).is_none() {
                log::info!("dialout finished, exiting so that init restarts us");
                return State::Exit(exit::OK);
            }
        }
    }

    /// Jail: forget the call, clean the line, release the lock and wait again.
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
