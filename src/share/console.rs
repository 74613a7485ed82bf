//! `rgetty-share console`: an interactive client for one port, with conserver-style escapes
//! at line start ([`crate::proto::escape`]).
//!
//! The terminal is made raw while the console runs. BREAK, DTR and RTS go as RFC 2217
//! requests on an `rfc2217` port, else through the control socket when `--control` is given.
//! `~s` reattaches to the watch port (read-only); a spy stays one: `~f` and every other
//! writing escape are refused, and nothing it types is sent. `~p N` replays the last N lines
//! this console received; `~w` asks the control socket who is attached.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::proto::escape::{self, Action, Escapes, Item};
use crate::proto::telnet::{self, ComPort, Decoder, rfc2217 as r};
use crate::share::transport::{Conn, TlsRole};
use crate::sys::tty;

/// Lines kept for `~p`.
const KEEP_LINES: usize = 1000;

/// What `rgetty-share console` was asked for.
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// The port, `HOST:PORT`.
    pub server: String,
    /// The port's watch port, `HOST:PORT` (for `~s` and `--spy`).
    pub watch: Option<String>,
    /// TLS client settings.
    pub tls: Option<TlsRole>,
    /// The port speaks RFC 2217.
    pub rfc2217: bool,
    /// The escape character.
    pub escape: u8,
    /// Start read-only, on the watch port.
    pub spy: bool,
    /// The server's control socket.
    pub control: Option<PathBuf>,
}

/// Why the console stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The server could not be reached.
    #[error("cannot connect to {0}: {1}")]
    Connect(String, std::io::Error),
    /// `--spy` without a watch port.
    #[error("--spy needs --watch-port")]
    NoWatch,
    /// The terminal failed.
    #[error("terminal: {0}")]
    Local(std::io::Error),
}

/// Connect (TLS handshake included) to `server`.
fn dial(server: &str, tls: Option<&TlsRole>) -> std::io::Result<Conn> {
    let mut last = std::io::Error::new(ErrorKind::NotFound, "no address");
    let mut sock = None;
    for a in server.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, Duration::from_secs(10)) {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut conn = Conn::new(OwnedFd::from(sock.ok_or(last)?), tls)?;
    while !conn.handshake()? {
        let fd = conn_fd(&conn);
        let mut p = [PollFd::new(fd, PollFlags::POLLIN | PollFlags::POLLOUT)];
        if poll(&mut p, PollTimeout::from(10_000u16))? == 0 {
            return Err(std::io::Error::new(ErrorKind::TimedOut, "TLS handshake"));
        }
    }
    Ok(conn)
}

fn conn_fd(c: &Conn) -> BorrowedFd<'_> {
    // SAFETY: the fd belongs to `c` and is open for the borrow's lifetime.
    unsafe { BorrowedFd::borrow_raw(c.fd()) }
}

/// One request on the control socket; its reply line.
fn control_request(path: &Path, req: &str) -> std::io::Result<String> {
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("{req}\n").as_bytes())?;
    let mut reply = Vec::new();
    let mut b = [0u8; 4096];
    while !reply.ends_with(b"\n") {
        let n = s.read(&mut b)?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&b[..n]);
    }
    Ok(String::from_utf8_lossy(&reply).trim_end().to_string())
}

/// The terminal in raw mode while this lives (nothing when stdin is not a terminal).
struct Raw(Option<nix::sys::termios::Termios>);

impl Raw {
    fn enter() -> Raw {
        let stdin = std::io::stdin();
        let Ok(saved) = tty::get_termios(&stdin) else {
            return Raw(None);
        };
        let mut t = saved.clone();
        nix::sys::termios::cfmakeraw(&mut t);
        if tty::set_termios(&stdin, &t).is_err() {
            return Raw(None);
        }
        Raw(Some(saved))
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = tty::set_termios(std::io::stdin(), t);
        }
    }
}

/// The last lines received, for `~p`.
#[derive(Debug, Default)]
struct Lines {
    done: VecDeque<Vec<u8>>,
    partial: Vec<u8>,
}

impl Lines {
    fn feed(&mut self, b: &[u8]) {
        for &c in b {
            if c == b'\n' {
                let mut l = std::mem::take(&mut self.partial);
                if l.last() == Some(&b'\r') {
                    l.pop();
                }
                if self.done.len() == KEEP_LINES {
                    self.done.pop_front();
                }
                self.done.push_back(l);
            } else if self.partial.len() < 4096 {
                self.partial.push(c);
            }
        }
    }

    fn last(&self, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for l in self.done.iter().skip(self.done.len().saturating_sub(n)) {
            out.extend_from_slice(l);
            out.extend_from_slice(b"\r\n");
        }
        out
    }
}

/// A running console.
struct Console<'a> {
    opts: &'a ConsoleOptions,
    conn: Conn,
    esc: Escapes,
    spy: bool,
    dtr: bool,
    rts: bool,
    lines: Lines,
    dec: Decoder,
    net_out: Vec<u8>,
    exit: Option<i32>,
}

/// Run the console; the exit status (0: `~.` or end of input, 1: the server closed).
pub fn run(opts: &ConsoleOptions) -> Result<i32, ConsoleError> {
    let target = if opts.spy {
        opts.watch.as_deref().ok_or(ConsoleError::NoWatch)?
    } else {
        &opts.server
    };
    let conn =
        dial(target, opts.tls.as_ref()).map_err(|e| ConsoleError::Connect(target.into(), e))?;
    let _raw = Raw::enter();
    let mut c = Console {
        opts,
        conn,
        esc: Escapes::new(opts.escape),
        spy: opts.spy,
        dtr: true,
        rts: true,
        lines: Lines::default(),
        dec: Decoder::new(),
        net_out: Vec::new(),
        exit: None,
    };
    c.say(&format!(
        "connected to {target}{}; {}? for help",
        if c.spy { " (spy, read-only)" } else { "" },
        char::from(opts.escape)
    ));
    c.run().map_err(ConsoleError::Local)
}

impl Console<'_> {
    /// A console message on the terminal.
    fn say(&self, msg: &str) {
        let mut o = std::io::stdout();
        let _ = write!(o, "\r\n[console: {msg}]\r\n");
        let _ = o.flush();
    }

    fn run(&mut self) -> std::io::Result<i32> {
        let mut b = vec![0u8; 16 * 1024];
        loop {
            self.flush_net();
            if let Some(code) = self.exit {
                return Ok(code);
            }
            let stdin = std::io::stdin();
            let mut ev = PollFlags::POLLIN;
            if !self.net_out.is_empty() {
                ev |= PollFlags::POLLOUT;
            }
            let mut p = [
                PollFd::new(stdin.as_fd(), PollFlags::POLLIN),
                PollFd::new(conn_fd(&self.conn), ev),
            ];
            match poll(&mut p, PollTimeout::NONE) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(_) => {}
            }
            let (kbd, net) = (p[0].revents(), p[1].revents());
            if net.is_some_and(|r| !r.is_empty()) {
                self.read_net(&mut b)?;
            }
            if kbd.is_some_and(|r| !r.is_empty()) {
                let n = match stdin.lock().read(&mut b) {
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                if n == 0 {
                    self.flush_net();
                    return Ok(0);
                }
                let items = self.esc.feed(&b[..n]);
                for it in items {
                    match it {
                        Item::Data(d) => self.send(&d),
                        Item::Act(a) => self.act(a),
                    }
                }
            }
        }
    }

    /// Keyboard data for the port (never from a spy).
    fn send(&mut self, d: &[u8]) {
        if self.spy {
            return;
        }
        if self.opts.rfc2217 {
            telnet::escape_into(d, &mut self.net_out);
        } else {
            self.net_out.extend_from_slice(d);
        }
    }

    fn flush_net(&mut self) {
        while !self.net_out.is_empty() {
            match self.conn.write(&self.net_out) {
                Ok(0) => break,
                Ok(n) => {
                    self.net_out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = self.conn.flush();
    }

    fn read_net(&mut self, b: &mut [u8]) -> std::io::Result<()> {
        let mut out = std::io::stdout();
        loop {
            match self.conn.read(b) {
                Ok(0) => {
                    self.say("connection closed by the server");
                    self.exit = Some(1);
                    return Ok(());
                }
                Ok(n) => {
                    let data = if self.opts.rfc2217 {
                        let (mut d, mut ev) = (Vec::new(), Vec::new());
                        self.dec.feed(&b[..n], &mut d, &mut ev);
                        d
                    } else {
                        b[..n].to_vec()
                    };
                    self.lines.feed(&data);
                    out.write_all(&data)?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.say(&format!("connection failed: {e}"));
                    self.exit = Some(1);
                    return Ok(());
                }
            }
        }
        out.flush()
    }

    fn act(&mut self, a: Action) {
        match a {
            Action::Disconnect => {
                self.say("disconnected");
                self.exit = Some(0);
            }
            Action::Help => self.say(&format!(
                "escapes at line start:\r\n{}",
                escape::help(char::from(self.opts.escape))
            )),
            Action::Replay(n) => {
                let text = self.lines.last(n as usize);
                self.say(&format!("the last {n} lines"));
                let _ = std::io::stdout().write_all(&text);
                let _ = std::io::stdout().flush();
            }
            Action::Who => self.who(),
            Action::Spy => self.reattach(true),
            Action::Force => self.reattach(false),
            Action::Reset(name) => self.reset(&name),
            Action::Break | Action::ToggleDtr | Action::ToggleRts => self.line_control(a),
        }
    }

    /// `~s` and `~f`: a new connection, to the watch port or as a writer.
    fn reattach(&mut self, spy: bool) {
        if self.spy && !spy {
            self.say("a spy stays read-only: start a new console to write");
            return;
        }
        let target = if spy {
            match &self.opts.watch {
                Some(w) => w.clone(),
                None => return self.say("no watch port: give --watch-port"),
            }
        } else {
            self.opts.server.clone()
        };
        match dial(&target, self.opts.tls.as_ref()) {
            Ok(c) => {
                self.conn.shutdown();
                self.conn = c;
                self.dec = Decoder::new();
                self.net_out.clear();
                self.spy = spy;
                self.say(&format!(
                    "reattached to {target}{}",
                    if spy { " (spy, read-only)" } else { "" }
                ));
            }
            Err(e) => self.say(&format!("cannot connect to {target}: {e}")),
        }
    }

    /// The control socket request for a port (by its port number).
    fn control(&self, json: &str) -> Option<String> {
        let path = self.opts.control.as_ref()?;
        let port = self.opts.server.rsplit_once(':').map_or("", |(_, p)| p);
        let req = json.replace("PORT", port);
        Some(control_request(path, &req).unwrap_or_else(|e| format!("control socket: {e}")))
    }

    /// `~!NAME`: the server runs its reset sequence NAME (control socket).
    fn reset(&mut self, name: &str) {
        if self.spy {
            return self.say("a spy cannot run a reset sequence");
        }
        let req = format!(r#"{{"cmd":"reset","port":"PORT","name":"{name}"}}"#);
        match self.control(&req) {
            Some(r) if r.contains("\"ok\":true") => self.say(&format!("reset {name} running")),
            Some(r) => self.say(&r),
            None => self.say("reset sequences need --control"),
        }
    }

    fn who(&mut self) {
        let Some(reply) = self.control(r#"{"cmd":"show","port":"PORT"}"#) else {
            return self.say("who needs --control");
        };
        let re = regex::Regex::new(r#""client":"([^"]*)","role":"([^"]*)""#);
        let who: Vec<String> = re
            .map(|re| {
                re.captures_iter(&reply)
                    .map(|c| format!("{} ({})", &c[1], &c[2]))
                    .collect()
            })
            .unwrap_or_default();
        if who.is_empty() {
            self.say(&reply);
        } else {
            self.say(&format!("attached: {}", who.join(", ")));
        }
    }

    /// `~b`, `~d`, `~r`: RFC 2217 on an rfc2217 port, else the control socket.
    fn line_control(&mut self, a: Action) {
        if self.spy {
            return self.say("a spy cannot send BREAK or set DTR/RTS");
        }
        let (what, on) = match a {
            Action::ToggleDtr => ("dtr", !self.dtr),
            Action::ToggleRts => ("rts", !self.rts),
            _ => ("break", true),
        };
        if self.opts.rfc2217 {
            let m = match (what, on) {
                ("break", _) => None,
                ("dtr", true) => Some(r::CONTROL_DTR_ON),
                ("dtr", false) => Some(r::CONTROL_DTR_OFF),
                (_, true) => Some(r::CONTROL_RTS_ON),
                (_, false) => Some(r::CONTROL_RTS_OFF),
            };
            match m {
                Some(v) => ComPort::SetControl(v).encode(false, &mut self.net_out),
                None => self
                    .net_out
                    .extend_from_slice(&[telnet::cmd::IAC, telnet::cmd::BRK]),
            }
        } else {
            let req = if what == "break" {
                r#"{"cmd":"break","port":"PORT","ms":250}"#.to_string()
            } else {
                let state = if on { "on" } else { "off" };
                format!(
                    r#"{{"cmd":"set-control","port":"PORT","line":"{what}","state":"{state}"}}"#
                )
            };
            match self.control(&req) {
                Some(r) if r.contains("\"ok\":true") => {}
                Some(r) => return self.say(&r),
                None => return self.say("BREAK, DTR and RTS need --mode rfc2217 or --control"),
            }
        }
        match what {
            "dtr" => self.dtr = on,
            "rts" => self.rts = on,
            _ => {}
        }
        let state = if on { "on" } else { "off" };
        let msg = if what == "break" {
            "BREAK sent".to_string()
        } else {
            format!("{} {state}", what.to_uppercase())
        };
        self.say(&msg);
    }
}
