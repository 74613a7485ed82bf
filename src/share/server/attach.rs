//! Attaching to a port through the control socket (`{"cmd":"attach",...}`): the control
//! connection, already admitted by its peer's credentials, becomes a client of the port. It
//! goes through the same [`ShareServer::admit_via`] (line choice, take-over, disabled ports,
//! replay, banner, port log) and the same pump as a TCP client; only its name
//! (`control:uid=U:pid=P`) and the reply line before the raw bytes differ.

use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use super::ShareServer;
use crate::share::control::{self, Val};
use crate::share::engine::Engine;
use crate::share::session::{Client, Role};
use crate::share::stack::Conn;

/// Where a new client came from.
#[derive(Debug)]
pub(super) enum Via {
    /// The network (TCP, TLS, the web console), from this address.
    Net(SocketAddr),
    /// The control socket.
    Control(Attach),
}

/// A control connection turning into a client.
#[derive(Debug)]
pub(super) struct Attach {
    /// Its name, from its peer's credentials.
    pub(super) name: String,
    /// Replies to earlier requests on the connection, not written yet.
    out: Vec<u8>,
    /// Bytes that came after the request line: the client's first input.
    input: Vec<u8>,
}

impl Attach {
    /// A control connection named `name` with its unwritten replies and unread input.
    pub(super) fn new(name: String, out: Vec<u8>, input: Vec<u8>) -> Attach {
        Attach { name, out, input }
    }

    /// What a refused attach is told: its earlier replies, then the error line.
    pub(super) fn refused(&self, msg: &str) -> String {
        String::from_utf8_lossy(&self.out).into_owned() + &control::error(msg)
    }
}

impl Via {
    /// What a refused client is told: one line, for the control socket a JSON error line.
    pub(super) fn refusal(&self, msg: &str) -> String {
        match self {
            Via::Net(_) => format!("{msg}\r\n"),
            Via::Control(a) => a.refused(msg),
        }
    }

    /// Queue what a client from here gets before anything else (for the control socket: the
    /// earlier replies and the `"ok"` reply line) and name it; the input that came early.
    pub(super) fn start(self, c: &mut Client, port: SocketAddr, cap: usize) -> Vec<u8> {
        let Via::Control(a) = self else {
            return Vec::new();
        };
        let role = if c.role == Role::Watcher {
            "watcher"
        } else {
            "writer"
        };
        c.queue(&a.out, cap);
        let reply = control::ok(vec![
            ("port", Val::S(port.to_string())),
            ("client", Val::S(a.name.clone())),
            ("role", Val::S(role.into())),
        ]);
        c.queue(reply.as_bytes(), cap);
        c.name = Some(a.name);
        a.input
    }
}

impl ShareServer {
    /// Make control connection `sock` a client of port `port` (a writer, or a watcher when
    /// `spy`); an unknown port is answered with an error line and the connection closed.
    pub(super) fn attach(
        &mut self,
        eng: &mut Engine,
        sock: UnixStream,
        port: &str,
        spy: bool,
        a: Attach,
    ) {
        let pi = match self.control_port(port) {
            Ok(pi) => pi,
            Err(e) => {
                let _ = (&sock).write_all(a.refused(&e).as_bytes());
                return;
            }
        };
        let conn = match Conn::new(OwnedFd::from(sock), None) {
            Ok(c) => c,
            Err(e) => return log::warn!("control: attach {port}: {e}"),
        };
        let role = if spy { Role::Watcher } else { Role::Writer };
        self.admit_via(eng, pi, conn, Via::Control(a), role);
    }
}
