//! The control socket (`--control PATH`, config `control=PATH`): a unix socket on the
//! engine, JSON lines ([`crate::share::control`]). The socket is mode 0600 and a peer is
//! served only when its credentials (SO_PEERCRED) say root or the server's own user. An
//! `attach` request hands the connection to the port as a client ([`super::attach`]).
//!
//! Events for subscribers are queued by [`emit`] (a per-thread queue: the server is one
//! thread) only while someone subscribed, and written at the end of the loop's turn.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use super::{ServeError, ShareServer, Slot, io_err};
use crate::share::control::{self, Command, Val};
use crate::share::engine::{Engine, Token};
use crate::share::session::Role;

/// Output queued for one control connection before it is dropped (a subscriber not reading).
const MAX_OUT: usize = 1 << 20;

thread_local! {
    static EVENTS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static SUBSCRIBED: Cell<bool> = const { Cell::new(false) };
}

/// Queue an event for the subscribers (nothing is built while nobody subscribed).
pub(super) fn emit(
    kind: &str,
    port: std::net::SocketAddr,
    fields: impl FnOnce() -> Vec<(&'static str, Val)>,
) {
    if SUBSCRIBED.get() {
        let line = control::event(kind, &port.to_string(), fields());
        EVENTS.with_borrow_mut(|e| e.push(line));
    }
}

/// A `connect` event.
pub(super) fn connected(port: std::net::SocketAddr, who: &str, role: Role) {
    emit("connect", port, || {
        let role = if role == Role::Watcher {
            "watcher"
        } else {
            "writer"
        };
        vec![
            ("client", Val::S(who.to_string())),
            ("role", Val::S(role.into())),
        ]
    });
}

/// A `device-gone` event (`held`: the clients stay, `hold-session`).
pub(super) fn gone(port: std::net::SocketAddr, dev: &str, why: &str, held: bool) {
    emit("device-gone", port, || {
        vec![
            ("device", Val::S(dev.to_string())),
            ("reason", Val::S(why.to_string())),
            ("held", Val::B(held)),
        ]
    });
}

/// The listener and its connections.
#[derive(Debug)]
pub(super) struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
    conns: HashMap<usize, Conn>,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[derive(Debug)]
struct Conn {
    sock: UnixStream,
    /// Its name as an attached client, from its credentials.
    name: String,
    input: Vec<u8>,
    out: Vec<u8>,
    subscribed: bool,
    closed: bool,
}

/// Bind the control socket: a stale socket left by a previous run is replaced, anything else
/// at the path is an error; mode 0600.
fn bind(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.file_type().is_socket() {
            return Err(std::io::Error::new(
                ErrorKind::AlreadyExists,
                "exists and is not a socket",
            ));
        }
        std::fs::remove_file(path)?;
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Whether the peer of `s` is root or runs as the server's user; its name as a client.
fn peer_allowed(s: &UnixStream) -> Result<String, String> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let cred = getsockopt(s, PeerCredentials).map_err(|e| format!("SO_PEERCRED: {e}"))?;
    let me = nix::unistd::geteuid().as_raw();
    if cred.uid() == 0 || cred.uid() == me {
        Ok(control::attached_name(cred.uid(), cred.pid()))
    } else {
        Err(format!(
            "uid {} (pid {}) not allowed",
            cred.uid(),
            cred.pid()
        ))
    }
}

impl ShareServer {
    /// Serve the control socket at `path`.
    pub fn set_control(&mut self, path: &Path) -> Result<(), ServeError> {
        let listener = bind(path).map_err(io_err(format!("control socket {}", path.display())))?;
        let t = self.slot(Slot::Control);
        self.eng()?
            .register_read(listener.as_raw_fd(), t)
            .map_err(io_err("epoll"))?;
        self.control = Some(ControlSocket {
            listener,
            path: path.to_path_buf(),
            conns: HashMap::new(),
        });
        Ok(())
    }

    pub(super) fn control_accept(&mut self, eng: &mut Engine) {
        loop {
            let Some(c) = self.control.as_ref() else {
                return;
            };
            let sock = match c.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    crate::sys::loglimit::log_limited(
                        log::Level::Warn,
                        format!("control: accept: {e}"),
                    );
                    return;
                }
            };
            let name = match peer_allowed(&sock) {
                Ok(name) => name,
                Err(why) => {
                    crate::sys::loglimit::log_limited(
                        log::Level::Warn,
                        format!("control: refused {why}"),
                    );
                    let _ = (&sock).write_all(control::error("not allowed").as_bytes());
                    continue;
                }
            };
            if sock.set_nonblocking(true).is_err() {
                continue;
            }
            let t = self.slot(Slot::ControlConn);
            if eng.register(sock.as_raw_fd(), t).is_err() {
                self.release(eng, t, sock.as_raw_fd());
                continue;
            }
            let conn = Conn {
                sock,
                name,
                input: Vec::new(),
                out: Vec::new(),
                subscribed: false,
                closed: false,
            };
            if let Some(c) = self.control.as_mut() {
                c.conns.insert(t.0, conn);
            }
            self.control_conn(eng, t);
        }
    }

    /// Read requests from a control connection, answer each, write what is queued.
    pub(super) fn control_conn(&mut self, eng: &mut Engine, t: Token) {
        let Some(mut conn) = self.control.as_mut().and_then(|c| c.conns.remove(&t.0)) else {
            return;
        };
        let mut b = [0u8; 4096];
        loop {
            match conn.sock.read(&mut b) {
                Ok(0) => {
                    conn.closed = true;
                    break;
                }
                Ok(n) => conn.input.extend_from_slice(&b[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        while let Some(nl) = conn.input.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = conn.input.drain(..=nl).collect();
            let text = String::from_utf8_lossy(&line);
            let reply = match control::parse(&text) {
                Ok(Command::Attach(port, spy)) if !conn.subscribed => {
                    // The rest of the input is the new client's.
                    let a = super::attach::Attach::new(conn.name, conn.out, conn.input);
                    self.release(eng, t, conn.sock.as_raw_fd());
                    return self.attach(eng, conn.sock, &port, spy, a);
                }
                Ok(Command::Attach(..)) => control::error("attach on a subscribed connection"),
                Ok(Command::Subscribe) => {
                    conn.subscribed = true;
                    SUBSCRIBED.set(true);
                    control::ok(vec![("subscribed", Val::B(true))])
                }
                Ok(r) => self
                    .control_request(eng, r)
                    .unwrap_or_else(|e| control::error(&e)),
                Err(e) => control::error(&e),
            };
            conn.out.extend_from_slice(reply.as_bytes());
        }
        if conn.input.len() > control::MAX_REQUEST {
            conn.out
                .extend_from_slice(control::error("request too long").as_bytes());
            conn.closed = true;
        }
        self.control_put_back(eng, t, conn);
    }

    /// Flush a connection and keep it, or close it (closed, failed, or too far behind).
    fn control_put_back(&mut self, eng: &mut Engine, t: Token, mut conn: Conn) {
        while !conn.out.is_empty() {
            match conn.sock.write(&conn.out) {
                Ok(n) => {
                    conn.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    conn.closed = true;
                    break;
                }
            }
        }
        if conn.closed || conn.out.len() > MAX_OUT {
            self.release(eng, t, conn.sock.as_raw_fd());
            let any = self
                .control
                .as_ref()
                .is_some_and(|c| c.conns.values().any(|c| c.subscribed));
            SUBSCRIBED.set(any);
            return;
        }
        if let Some(c) = self.control.as_mut() {
            c.conns.insert(t.0, conn);
        }
    }

    /// Hand the queued events to the subscribers (end of a loop turn).
    pub(super) fn control_events(&mut self, eng: &mut Engine) {
        let events = EVENTS.with_borrow_mut(std::mem::take);
        if events.is_empty() {
            return;
        }
        let Some(c) = self.control.as_mut() else {
            return;
        };
        let subs: Vec<usize> = c
            .conns
            .iter()
            .filter(|(_, c)| c.subscribed)
            .map(|(t, _)| *t)
            .collect();
        for t in subs {
            let Some(mut conn) = self.control.as_mut().and_then(|c| c.conns.remove(&t)) else {
                continue;
            };
            for e in &events {
                conn.out.extend_from_slice(e.as_bytes());
            }
            self.control_put_back(eng, Token(t), conn);
        }
    }
}
