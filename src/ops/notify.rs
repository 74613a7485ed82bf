//! systemd's notification protocol (`sd_notify`) in a few lines, no crate: one datagram of
//! `KEY=value` lines to the `AF_UNIX` socket named by `NOTIFY_SOCKET` (a path, or an abstract
//! name written with a leading `@`). Nothing happens when the variable is unset, so an
//! rgetty started by init never makes a syscall for it.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Where notifications go.
#[derive(Debug, Clone)]
pub struct Notifier {
    addr: SocketAddr,
}

impl Notifier {
    /// The notifier for `$NOTIFY_SOCKET`, if it is set and names an `AF_UNIX` socket.
    pub fn from_env() -> Option<Notifier> {
        let v = std::env::var_os("NOTIFY_SOCKET")?;
        Notifier::new(v.to_str()?).ok()
    }

    /// The notifier for a `NOTIFY_SOCKET` value: `/path` or `@abstract`.
    pub fn new(socket: &str) -> io::Result<Notifier> {
        let addr = if let Some(name) = socket.strip_prefix('@') {
            SocketAddr::from_abstract_name(name.as_bytes())?
        } else if socket.starts_with('/') {
            SocketAddr::from_pathname(socket)?
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "NOTIFY_SOCKET is neither a path nor an abstract name",
            ));
        };
        Ok(Notifier { addr })
    }

    /// Send one message (`READY=1`, `STATUS=...`; several lines allowed) from a fresh
    /// unbound socket, so nothing stays open between notifications.
    pub fn send(&self, msg: &str) -> io::Result<()> {
        let sock = UnixDatagram::unbound()?;
        sock.send_to_addr(msg.as_bytes(), &self.addr)?;
        Ok(())
    }
}

/// The `STATUS=` message for a text: control characters become blanks, so the text stays
/// one line.
pub fn status_message(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("STATUS={clean}")
}

/// Send `msg` to `$NOTIFY_SOCKET` if it is set; errors are ignored (systemd may be gone).
pub fn notify(msg: &str) {
    if let Some(n) = Notifier::from_env() {
        let _ = n.send(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_abstract() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        Notifier::new(path.to_str().unwrap())
            .unwrap()
            .send(&status_message("pts/3 waiting\n"))
            .unwrap();
        let mut buf = [0u8; 256];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STATUS=pts/3 waiting ");

        let name = format!("rgetty-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        Notifier::new(&format!("@{name}"))
            .unwrap()
            .send("READY=1")
            .unwrap();
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        assert!(Notifier::new("relative").is_err());
        assert!(
            Notifier::new("/nonexistent/x")
                .unwrap()
                .send("X=1")
                .is_err()
        );
    }
}
