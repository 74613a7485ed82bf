//! `rgetty ncid`: one NCID-compatible caller-ID server for all lines (I/O). It serves what the
//! gettys already write: the state files in the pid directory (watched with inotify, so a
//! call's `CID:` line goes out as soon as its getty has read the caller ID; nothing is polled)
//! and the call log (replayed to each client on connect). The lines are [`super::ncid`]'s.
//!
//! It listens on `127.0.0.1:3333` unless told otherwise; any other address needs `--allow`
//! (the ACL of rgetty-share: addresses and CIDRs), and peers outside the ACL are closed at once.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use super::ncid::{self, Tracker};
use super::store::{self, STATE_PREFIX};
use crate::share::acl::Acl;
use crate::sys::logging::local_at;
use crate::sys::wake::timeout_until;

/// At most this many clients at once; more are closed after the greeting's first line.
pub const MAX_CLIENTS: usize = 64;
/// A client that lets this much output pile up is dropped.
const MAX_BACKLOG: usize = 64 * 1024;

/// `rgetty ncid`.
#[derive(Debug, Parser)]
#[command(
    name = "rgetty ncid",
    about = "Serve the caller ID of every rgetty line to NCID clients"
)]
pub struct NcidArgs {
    /// Address and port to listen on; an address other than loopback needs --allow.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:3333")]
    pub listen: SocketAddr,
    /// Peers allowed to connect: addresses and CIDRs, comma-separated or repeated
    /// (default: loopback only).
    #[arg(long, value_name = "LIST")]
    pub allow: Vec<String>,
    /// Directory of the state files (rgetty's `--pid-dir`).
    #[arg(long, value_name = "DIR", default_value = "/run")]
    pub pid_dir: PathBuf,
    /// The call log replayed to each client.
    #[arg(long, value_name = "FILE", default_value = super::calllog::DEFAULT_CALL_LOG)]
    pub call_log: PathBuf,
    /// Replay at most this many calls.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub replay: usize,
}

/// Run `rgetty ncid`; returns the exit code (only on a start-up error or a fatal one).
pub fn run(a: NcidArgs) -> i32 {
    let acl = if a.allow.is_empty() {
        if !a.listen.ip().is_loopback() {
            eprintln!(
                "rgetty ncid: listening on {} needs --allow (the peers allowed to connect)",
                a.listen
            );
            return 2;
        }
        Acl::loopback_only()
    } else {
        match Acl::parse(&a.allow) {
            Ok(acl) => acl,
            Err(e) => {
                eprintln!("rgetty ncid: --allow: {e}");
                return 2;
            }
        }
    };
    match Server::start(&a, acl).and_then(|mut s| s.serve()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rgetty ncid: {e}");
            1
        }
    }
}

struct Client {
    stream: TcpStream,
    backlog: Vec<u8>,
}

struct Server {
    listener: TcpListener,
    ino: Inotify,
    acl: Acl,
    pid_dir: PathBuf,
    call_log: PathBuf,
    replay: usize,
    tracker: Tracker,
    clients: Vec<Client>,
}

impl Server {
    fn start(a: &NcidArgs, acl: Acl) -> io::Result<Server> {
        let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        ino.add_watch(
            &a.pid_dir,
            AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MOVED_TO,
        )
        .map_err(|e| io::Error::other(format!("cannot watch {}: {e}", a.pid_dir.display())))?;
        let listener = TcpListener::bind(a.listen)
            .map_err(|e| io::Error::other(format!("cannot listen on {}: {e}", a.listen)))?;
        listener.set_nonblocking(true)?;
        eprintln!(
            "rgetty ncid: listening on {}, state files in {}",
            listener.local_addr()?,
            a.pid_dir.display()
        );
        let mut s = Server {
            listener,
            ino,
            acl,
            pid_dir: a.pid_dir.clone(),
            call_log: a.call_log.clone(),
            replay: a.replay,
            tracker: Tracker::default(),
            clients: Vec::new(),
        };
        for st in store::read_states(&s.pid_dir).unwrap_or_default() {
            s.tracker.observe(st, Instant::now());
        }
        Ok(s)
    }

    fn serve(&mut self) -> io::Result<()> {
        loop {
            let deadline = self.tracker.next_deadline();
            let (listen_ready, ino_ready, client_ready) = self.wait(deadline)?;
            if ino_ready {
                self.state_changes();
            }
            if listen_ready {
                self.accept();
            }
            for i in client_ready.into_iter().rev() {
                self.client_event(i);
            }
            let now = Instant::now();
            for (kind, st) in self.tracker.due(now) {
                let t = local_at(super::line::now());
                let caller = st.caller_id.as_deref().unwrap_or("");
                let name = st.caller_name.as_deref().unwrap_or("");
                let line = ncid::call_line(kind, false, &t, &st.line, caller, name);
                self.broadcast(line.as_bytes());
            }
        }
    }

    /// Wait for the listener, inotify or a client; which of them are ready.
    fn wait(&self, deadline: Option<Instant>) -> io::Result<(bool, bool, Vec<usize>)> {
        let mut fds: Vec<PollFd<'_>> = vec![
            PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.ino.as_fd(), PollFlags::POLLIN),
        ];
        for c in &self.clients {
            let mut ev = PollFlags::POLLIN;
            if !c.backlog.is_empty() {
                ev |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(c.stream.as_fd(), ev));
        }
        match poll(&mut fds, timeout_until(deadline)) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Ok((false, false, Vec::new())),
            Err(e) => return Err(e.into()),
        }
        let ready = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
        let clients = fds[2..]
            .iter()
            .enumerate()
            .filter(|(_, f)| ready(f))
            .map(|(i, _)| i)
            .collect();
        Ok((ready(&fds[0]), ready(&fds[1]), clients))
    }

    /// Read the state files inotify names.
    fn state_changes(&mut self) {
        let Ok(events) = self.ino.read_events() else {
            return;
        };
        let now = Instant::now();
        for ev in events {
            let Some(name) = ev.name else { continue };
            if !name.to_string_lossy().starts_with(STATE_PREFIX) {
                continue;
            }
            if let Some(st) = store::read_state(&self.pid_dir.join(&name)) {
                self.tracker.observe(st, now);
            }
        }
    }

    fn accept(&mut self) {
        while let Ok((stream, peer)) = self.listener.accept() {
            if !self.acl.allows(peer.ip()) {
                eprintln!("rgetty ncid: {peer} refused (not in --allow)");
                continue;
            }
            if self.clients.len() >= MAX_CLIENTS {
                let _ = (&stream).write_all(b"MSG: Too many clients connected\r\n");
                continue;
            }
            let _ = stream.set_nonblocking(true);
            let mut c = Client {
                stream,
                backlog: Vec::new(),
            };
            let hello = startup(&self.call_log, self.replay);
            queue(&mut c, hello.as_bytes());
            self.clients.push(c);
        }
    }

    /// Input from a client is ignored (a newline asks whether the server is there); end of
    /// file or an error closes it; pending output is written.
    fn client_event(&mut self, i: usize) {
        let mut buf = [0u8; 512];
        let c = &mut self.clients[i];
        let closed = match c.stream.read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        };
        if closed || !flush(c) {
            self.clients.swap_remove(i);
        }
    }

    fn broadcast(&mut self, bytes: &[u8]) {
        self.clients.retain_mut(|c| {
            queue(c, bytes);
            flush(c) && c.backlog.len() <= MAX_BACKLOG
        });
    }
}

/// The start-up a client gets: greeting, call log replay, end of start-up.
fn startup(call_log: &Path, max: usize) -> String {
    let mut s = ncid::greeting(env!("CARGO_PKG_VERSION"));
    match store::read_calls(call_log) {
        Ok((records, _)) => s.push_str(&ncid::replay(&records, max, local_at)),
        Err(_) => {
            s.push_str(ncid::NO_LOG);
            s.push_str("\r\n");
        }
    }
    s.push_str(ncid::END_STARTUP);
    s.push_str("\r\n");
    s
}

fn queue(c: &mut Client, bytes: &[u8]) {
    c.backlog.extend_from_slice(bytes);
}

/// Write what is pending; false when the client is gone.
fn flush(c: &mut Client) -> bool {
    while !c.backlog.is_empty() {
        match c.stream.write(&c.backlog) {
            Ok(0) => return false,
            Ok(n) => {
                c.backlog.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}
