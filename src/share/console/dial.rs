//! How the console reaches a port: over TCP (TLS handshake included), or through the
//! server's control socket (`attach`), plus one-off control requests (`~w`, `~b`, ...).

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::share::control::{self, Val};
use crate::share::transport::{Conn, TlsRole};

/// How long the server may take to answer.
const ANSWER_TIME: Duration = Duration::from_secs(10);
/// Longest reply line read (a `show` of a busy port is long).
const MAX_REPLY: usize = 1 << 20;

/// Connect (TLS handshake included) to `server`.
pub(super) fn tcp(server: &str, tls: Option<&TlsRole>) -> std::io::Result<Conn> {
    let sock = crate::share::client::connect(server)?;
    let mut conn = Conn::new(OwnedFd::from(sock), tls)?;
    let wait = PollTimeout::try_from(ANSWER_TIME).unwrap_or(PollTimeout::MAX);
    while !conn.handshake()? {
        let fd = conn_fd(&conn);
        let mut p = [PollFd::new(fd, PollFlags::POLLIN | PollFlags::POLLOUT)];
        if poll(&mut p, wait)? == 0 {
            return Err(std::io::Error::new(ErrorKind::TimedOut, "TLS handshake"));
        }
    }
    Ok(conn)
}

/// The fd of a connection, for poll.
pub(super) fn conn_fd(c: &Conn) -> BorrowedFd<'_> {
    // SAFETY: the fd belongs to `c` and is open for the borrow's lifetime.
    unsafe { BorrowedFd::borrow_raw(c.fd()) }
}

/// Read one line from `s`, a byte at a time (through a buffer when what follows the line may
/// be taken too).
fn read_line(s: &mut impl Read) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while line.len() < MAX_REPLY {
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(_) if b[0] == b'\n' => break,
            Ok(_) => line.push(b[0]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Attach to `port` through the control socket at `path`, as a watcher when `spy`: the
/// connection (raw bytes from here on) and the name the server gave this client, or why not.
pub(super) fn attach(path: &Path, port: &str, spy: bool) -> Result<(Conn, String), String> {
    let io = |e: std::io::Error| format!("control socket {}: {e}", path.display());
    let s = UnixStream::connect(path).map_err(io)?;
    s.set_read_timeout(Some(ANSWER_TIME)).map_err(io)?;
    let mode = if spy { "spy" } else { "write" };
    let req = control::request("attach", port, vec![("mode", Val::S(mode.into()))]);
    // what follows the reply is the port's data: not ours to take
    let answer = ask(&s, &req, false).map_err(io)?;
    let name = control::reply(&answer)?
        .str("client")
        .unwrap_or_default()
        .to_string();
    let conn = Conn::new(OwnedFd::from(s), None).map_err(io)?;
    Ok((conn, name))
}

/// Send a request line, read the reply line (buffered when it is the last thing on `s`). A
/// server that refuses a peer answers before it reads (and closes): that answer is read even
/// when sending failed.
fn ask(mut s: &UnixStream, req: &str, last: bool) -> std::io::Result<String> {
    let sent = s.write_all(format!("{req}\n").as_bytes());
    let answer = if last {
        read_line(&mut std::io::BufReader::new(s))
    } else {
        read_line(&mut s)
    };
    match (answer, sent) {
        (Ok(a), _) if !a.is_empty() => Ok(a),
        (_, Err(e)) | (Err(e), _) => Err(e),
        (Ok(_), Ok(())) => Err(std::io::Error::new(ErrorKind::UnexpectedEof, "no answer")),
    }
}

/// One request on the control socket; its reply line.
pub(super) fn request(path: &Path, req: &str) -> std::io::Result<String> {
    let s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(ANSWER_TIME))?;
    ask(&s, req, true)
}
