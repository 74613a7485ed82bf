//! `rgetty-share console`: an interactive client for one port, with conserver-style escapes
//! at line start ([`crate::proto::escape`]).
//!
//! The port is reached over TCP (TLS) or, on the server's machine, through its control
//! socket (`--local`, or a port without a host: the `attach` request, then raw bytes).
//! The terminal is made raw while the console runs. BREAK, DTR and RTS go as RFC 2217
//! requests on an `rfc2217` port over TCP, else through the control socket when `--control`
//! is given. `~s` reattaches read-only (to the watch port, or as a watcher through the
//! control socket); a spy stays one: `~f` and every other
//! writing escape are refused, and nothing it types is sent. `~p N` replays the last N lines
//! this console received; `~w` asks the control socket who is attached.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::proto::escape::{self, Action, Escapes, Item};
use crate::proto::telnet::{self, ComPort, Decoder, rfc2217 as r};
use crate::share::control::{self, Val};
use crate::share::transport::{Conn, TlsRole};
use crate::sys::tty;

mod dial;
use dial::conn_fd;

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
    /// The port speaks RFC 2217 (not for `local`: an attached client gets raw bytes).
    pub rfc2217: bool,
    /// The escape character.
    pub escape: u8,
    /// Start read-only, on the watch port.
    pub spy: bool,
    /// The server's control socket.
    pub control: Option<PathBuf>,
    /// Attach through the control socket: `server` is the port's name there (its port
    /// number or listen address).
    pub local: bool,
}

/// Why the console stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The port could not be reached (or the control socket refused the attach).
    #[error("{0}")]
    Connect(String),
    /// The terminal failed.
    #[error("terminal: {0}")]
    Local(std::io::Error),
}

/// A connection to the port.
struct Link {
    conn: Conn,
    /// What it reached, for messages.
    to: String,
    /// The name the server gave us (an attach through the control socket).
    me: Option<String>,
}

/// Reach the port as a writer, or as a watcher (`spy`): over TCP (a spy on the watch port),
/// or with `--local` through the control socket.
fn open(opts: &ConsoleOptions, spy: bool) -> Result<Link, String> {
    if opts.local {
        let path = opts
            .control
            .as_ref()
            .ok_or("attaching through the control socket needs --control PATH")?;
        let (conn, me) = dial::attach(path, &opts.server, spy)
            .map_err(|e| format!("cannot attach to {}: {e}", opts.server))?;
        let to = format!("{} through {}", opts.server, path.display());
        return Ok(Link {
            conn,
            to,
            me: Some(me),
        });
    }
    let to = if spy {
        opts.watch
            .clone()
            .ok_or("no watch port: give --watch-port")?
    } else {
        opts.server.clone()
    };
    let conn =
        dial::tcp(&to, opts.tls.as_ref()).map_err(|e| format!("cannot connect to {to}: {e}"))?;
    Ok(Link { conn, to, me: None })
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
    /// Our name on the server, when it gave one.
    me: Option<String>,
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
    let link = open(opts, opts.spy).map_err(ConsoleError::Connect)?;
    let _raw = Raw::enter();
    let mut c = Console {
        opts,
        conn: link.conn,
        me: link.me,
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
        "connected to {}{}; {}? for help",
        link.to,
        if c.spy { " (spy, read-only)" } else { "" },
        char::from(opts.escape)
    ));
    c.run().map_err(ConsoleError::Local)
}

impl Console<'_> {
    /// The connection speaks telnet and RFC 2217 (a TCP connection to an rfc2217 port).
    fn telnet(&self) -> bool {
        self.opts.rfc2217 && !self.opts.local
    }

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
        if self.telnet() {
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
                    let data = if self.telnet() {
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
        match open(self.opts, spy) {
            Ok(l) => {
                self.conn.shutdown();
                self.conn = l.conn;
                self.me = l.me;
                self.dec = Decoder::new();
                self.net_out.clear();
                self.spy = spy;
                self.say(&format!(
                    "reattached to {}{}",
                    l.to,
                    if spy { " (spy, read-only)" } else { "" }
                ));
            }
            Err(e) => self.say(&e),
        }
    }

    /// The port's name on the control socket: as given with `--local`, else its port number.
    fn port_name(&self) -> &str {
        let s = &self.opts.server;
        match s.rsplit_once(':') {
            Some((_, p)) if !self.opts.local => p,
            _ => s,
        }
    }

    /// A control socket request about the port: `None` without `--control`, else the reply
    /// line or why the request failed.
    fn control(&self, cmd: &str, fields: Vec<(&str, Val)>) -> Option<Result<String, String>> {
        let path = self.opts.control.as_ref()?;
        let req = control::request(cmd, self.port_name(), fields);
        Some(match dial::request(path, &req) {
            Ok(line) => control::reply(&line).map(|_| line),
            Err(e) => Err(format!("control socket {}: {e}", path.display())),
        })
    }

    /// `~!NAME`: the server runs its reset sequence NAME (control socket).
    fn reset(&mut self, name: &str) {
        if self.spy {
            return self.say("a spy cannot run a reset sequence");
        }
        match self.control("reset", vec![("name", Val::S(name.into()))]) {
            Some(Ok(_)) => self.say(&format!("reset {name} running")),
            Some(Err(e)) => self.say(&e),
            None => self.say("reset sequences need --control"),
        }
    }

    /// `~w`: who is attached (control socket), this console marked.
    fn who(&mut self) {
        let reply = match self.control("show", vec![]) {
            Some(Ok(r)) => r,
            Some(Err(e)) => return self.say(&e),
            None => return self.say("who needs --control"),
        };
        let re = regex::Regex::new(r#""client":"([^"]*)","role":"([^"]*)""#);
        let me = self.me.as_deref();
        let who: Vec<String> = re
            .map(|re| {
                re.captures_iter(&reply)
                    .map(|c| {
                        let you = if Some(&c[1]) == me { ", you" } else { "" };
                        format!("{} ({}{you})", &c[1], &c[2])
                    })
                    .collect()
            })
            .unwrap_or_default();
        if who.is_empty() {
            self.say("nobody attached");
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
        if self.telnet() {
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
            let r = if what == "break" {
                self.control("break", vec![("ms", Val::I(250))])
            } else {
                let state = if on { "on" } else { "off" };
                let fields = vec![
                    ("line", Val::S(what.into())),
                    ("state", Val::S(state.into())),
                ];
                self.control("set-control", fields)
            };
            match r {
                Some(Ok(_)) => {}
                Some(Err(e)) => return self.say(&e),
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
