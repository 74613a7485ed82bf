//! The web console (issue 20): `rgetty-share serve --web [ADDR:]PORT` answers HTTP on the
//! engine like the metrics listener does, and hands WebSocket upgrades to the port's sessions
//! as clients (a [`crate::share::stack::websocket`] layer on their connection): nothing here has a
//! loop or a timer of its own.
//!
//! Routes: `/` the dashboard, `/port/N` the console of the port listening on TCP port N (a
//! writer), `/port/N/watch` its read-only page, `/port/N/ws` and `/port/N/watch/ws` their
//! terminal sockets, `/events` the dashboard's live feed, `/static/...` the page's scripts and
//! styles (embedded in the binary: no CDN, no external font). Every page is sent with a
//! Content-Security-Policy that allows nothing but this server.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, OwnedFd};

use crate::ops::http::{self, Request};
use crate::proto::websocket as ws;
use crate::share::engine::{Engine, Token};
use crate::share::session::Role;
use crate::share::stack::{LayerArgs, Side};
use crate::share::transport::{Conn, TlsRole};

use super::{ServeError, ShareServer, Slot, T_WEB, io_err, key};
use crate::share::engine::TimerId;
use std::time::{Duration, Instant};

/// At most this many HTTP connections waiting for their request or answer.
const MAX_CONNS: usize = 64;
/// Time a connection has to send its request and take the answer (the live feed and the
/// terminal sockets leave this list once asked for).
const REQUEST_TIME: Duration = Duration::from_secs(10);
/// Largest request body (the login form).
const MAX_BODY: usize = 4096;

/// The policy sent with every answer: scripts, styles, sockets and images from this server
/// only; no inline script, no frames, no plugins. Inline *styles* are allowed: xterm.js
/// writes its colours and cell sizes into `<style>` elements it makes at run time (a style
/// cannot run code; scripts stay `'self'` only).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// The web listener and its connections that are still speaking HTTP.
#[derive(Debug)]
pub(super) struct Web {
    listener: TcpListener,
    tls: Option<TlsRole>,
    conns: HashMap<usize, WebConn>,
}

/// An HTTP connection: reading its request head, or writing a static answer.
#[derive(Debug)]
struct WebConn {
    conn: Conn,
    peer: SocketAddr,
    buf: Vec<u8>,
    out: Option<(Vec<u8>, usize)>,
    /// Its deadline ([`REQUEST_TIME`]).
    timer: TimerId,
    since: Instant,
}

/// An embedded file.
struct Asset {
    path: &'static str,
    ctype: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/static/xterm.js",
        ctype: "text/javascript",
        body: include_bytes!("../../../web/vendor/xterm.js"),
    },
    Asset {
        path: "/static/xterm.css",
        ctype: "text/css",
        body: include_bytes!("../../../web/vendor/xterm.css"),
    },
    Asset {
        path: "/static/addon-fit.js",
        ctype: "text/javascript",
        body: include_bytes!("../../../web/vendor/addon-fit.js"),
    },
    Asset {
        path: "/static/console.js",
        ctype: "text/javascript",
        body: include_bytes!("../../../web/console.js"),
    },
    Asset {
        path: "/static/dashboard.js",
        ctype: "text/javascript",
        body: include_bytes!("../../../web/dashboard.js"),
    },
    Asset {
        path: "/static/rgetty.css",
        ctype: "text/css",
        body: include_bytes!("../../../web/rgetty.css"),
    },
];

const CONSOLE_HTML: &[u8] = include_bytes!("../../../web/console.html");
const FAVICON: &[u8] = include_bytes!("../../../web/favicon.svg");
const DASHBOARD_HTML: &[u8] = include_bytes!("../../../web/dashboard.html");

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// An embedded page or file: content type and body.
    File(&'static str, &'static [u8]),
    /// A terminal socket on the port listening on this TCP port, in this role.
    Terminal(u16, Role),
    /// The dashboard's live feed.
    Events,
    /// 404.
    NotFound,
}

/// Map a path to what it asks for (pure).
///
/// ```
/// use rgetty::share::server::web::{route, Route};
/// use rgetty::share::session::Role;
/// assert_eq!(route("/port/5800/ws"), Route::Terminal(5800, Role::Writer));
/// assert_eq!(route("/port/5800/watch/ws"), Route::Terminal(5800, Role::Watcher));
/// assert_eq!(route("/port/x/ws"), Route::NotFound);
/// assert_eq!(route("/etc/passwd"), Route::NotFound);
/// ```
pub fn route(path: &str) -> Route {
    if path == "/" {
        return Route::File("text/html; charset=utf-8", DASHBOARD_HTML);
    }
    if path == "/favicon.ico" {
        return Route::File("image/svg+xml", FAVICON);
    }
    if path == "/events" {
        return Route::Events;
    }
    if let Some(a) = ASSETS.iter().find(|a| a.path == path) {
        return Route::File(a.ctype, a.body);
    }
    let Some(rest) = path.strip_prefix("/port/") else {
        return Route::NotFound;
    };
    let (num, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(n) = num.parse::<u16>() else {
        return Route::NotFound;
    };
    match tail {
        "" | "watch" => Route::File("text/html; charset=utf-8", CONSOLE_HTML),
        "ws" => Route::Terminal(n, Role::Writer),
        "watch/ws" => Route::Terminal(n, Role::Watcher),
        _ => Route::NotFound,
    }
}

/// A complete HTTP answer that closes the connection.
pub fn answer(status: &str, ctype: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
         Content-Security-Policy: {CSP}\r\nX-Content-Type-Options: nosniff\r\n\
         Referrer-Policy: no-referrer\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

fn text_answer(status: &str, msg: &str) -> Vec<u8> {
    answer(status, "text/plain; charset=utf-8", msg.as_bytes(), false)
}

impl ShareServer {
    /// Serve the web console on `listener` (TLS with `tls`).
    pub fn set_web(
        &mut self,
        listener: TcpListener,
        tls: Option<TlsRole>,
    ) -> Result<(), ServeError> {
        listener
            .set_nonblocking(true)
            .map_err(io_err("web listener"))?;
        let t = self.slot(Slot::Web);
        self.eng()?
            .register_read(listener.as_raw_fd(), t)
            .map_err(io_err("epoll"))?;
        self.web = Some(Web {
            listener,
            tls,
            conns: HashMap::new(),
        });
        Ok(())
    }

    pub(super) fn web_accept(&mut self, eng: &mut Engine) {
        loop {
            let Some(w) = self.web.as_ref() else {
                return;
            };
            let (sock, peer) = match w.listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("web: accept: {e}");
                    return;
                }
            };
            if w.conns.len() >= MAX_CONNS {
                crate::sys::loglimit::log_limited(
                    log::Level::Warn,
                    format!("web: {MAX_CONNS} requests in progress, the oldest dropped"),
                );
                let oldest = w.conns.iter().min_by_key(|(_, c)| c.since).map(|(k, _)| *k);
                if let Some(k) = oldest {
                    self.web_close(eng, Token(k));
                }
            }
            let Some(w) = self.web.as_ref() else { return };
            let conn = match Conn::new(OwnedFd::from(sock), w.tls.as_ref()) {
                Ok(c) => c,
                Err(e) => {
                    log::warn!("web: {peer}: {e}");
                    continue;
                }
            };
            let t = self.slot(Slot::WebConn);
            if eng.register(conn.fd(), t).is_err() {
                self.release(eng, t, conn.fd());
                continue;
            }
            if let Some(w) = self.web.as_mut() {
                let now = Instant::now();
                let c = WebConn {
                    conn,
                    peer,
                    buf: Vec::new(),
                    out: None,
                    timer: eng.add_timer(now + REQUEST_TIME, key(T_WEB, t)),
                    since: now,
                };
                w.conns.insert(t.0, c);
            }
            self.web_conn(eng, t);
        }
    }

    /// Progress on one HTTP connection.
    pub(super) fn web_conn(&mut self, eng: &mut Engine, t: Token) {
        let Some(w) = self.web.as_mut() else { return };
        let Some(c) = w.conns.get_mut(&t.0) else {
            return;
        };
        let done = match c.out.is_some() {
            true => c.write_out(),
            false => match c.read_request() {
                None => false,
                Some(Err(())) => true,
                Some(Ok((head, body))) => return self.web_request(eng, t, &head, &body),
            },
        };
        if done {
            self.web_close(eng, t);
        }
    }

    /// Take a connection off the HTTP list (its deadline cancelled).
    fn web_take(&mut self, eng: &mut Engine, t: Token) -> Option<WebConn> {
        let c = self.web.as_mut()?.conns.remove(&t.0)?;
        eng.cancel_timer(c.timer);
        Some(c)
    }

    /// Close an HTTP connection (answered, dead, or out of time).
    pub(super) fn web_close(&mut self, eng: &mut Engine, t: Token) {
        if let Some(mut c) = self.web_take(eng, t) {
            self.release(eng, t, c.conn.fd());
            c.conn.shutdown();
        }
    }

    /// A complete request head: answer it, or hand the connection to a port.
    fn web_request(&mut self, eng: &mut Engine, t: Token, head: &str, body: &str) {
        let req = http::parse(head.as_bytes());
        let Request::Head { method, path } = req else {
            return self.web_reply(eng, t, text_answer("400 Bad Request", "bad request\n"));
        };
        let peer = self
            .web
            .as_ref()
            .and_then(|w| Some(w.conns.get(&t.0)?.peer));
        let cert = self.web_cert_name(t);
        if let Some(peer) = peer {
            let cn = cert.as_deref();
            if let Some(a) = self.web_auth(peer.ip(), (&method, &path), head, body, cn) {
                return self.web_reply(eng, t, a);
            }
        }
        if method != "GET" && method != "HEAD" {
            let a = text_answer("405 Method Not Allowed", "method not allowed\n");
            return self.web_reply(eng, t, a);
        }
        match route(&path) {
            Route::File(ctype, body) => {
                self.web_reply(eng, t, answer("200 OK", ctype, body, method == "HEAD"))
            }
            Route::Terminal(n, role) => match self.web_role(head, cert.as_deref(), n, role) {
                Some(role) => {
                    if let (Some(cn), Some(p)) = (&cert, peer) {
                        let cn = crate::ops::state::printable(cn);
                        log::info!("web: {p}: certificate CN {cn:?} on port {n} as {role:?}");
                    }
                    self.web_upgrade(eng, t, head, n, role)
                }
                None => self.web_reply(eng, t, text_answer("403 Forbidden", "no access\n")),
            },
            Route::Events => {
                if let Some(c) = self.web_take(eng, t) {
                    if let Some(s) = self.slots.get_mut(t.0) {
                        *s = Slot::Feed;
                    }
                    self.add_feed(eng, t, c.conn);
                }
            }
            Route::NotFound => self.web_reply(eng, t, text_answer("404 Not Found", "not found\n")),
        }
    }

    fn web_reply(&mut self, eng: &mut Engine, t: Token, bytes: Vec<u8>) {
        if let Some(c) = self.web.as_mut().and_then(|w| w.conns.get_mut(&t.0)) {
            c.out = Some((bytes, 0));
            if c.write_out() {
                self.web_close(eng, t);
            }
        }
    }

    /// `/port/N/ws`: check the upgrade, the origin and the port's host list, then the
    /// connection becomes a client of the port.
    fn web_upgrade(&mut self, eng: &mut Engine, t: Token, head: &str, n: u16, role: Role) {
        let tls = self.web.as_ref().is_some_and(|w| w.tls.is_some());
        let Some(peer) = self
            .web
            .as_ref()
            .and_then(|w| Some(w.conns.get(&t.0)?.peer))
        else {
            return;
        };
        let up = match ws::upgrade(head) {
            Ok(u) => u,
            Err(why) => {
                let a = text_answer("400 Bad Request", &format!("{why}\n"));
                return self.web_reply(eng, t, a);
            }
        };
        if !ws::same_origin(up.origin.as_deref(), &up.host, tls) {
            crate::sys::loglimit::log_limited(
                log::Level::Warn,
                format!(
                    "web: refused {peer}: origin {:?} is not this server",
                    up.origin
                ),
            );
            let a = text_answer("403 Forbidden", "cross-origin request refused\n");
            return self.web_reply(eng, t, a);
        }
        let pi = self
            .ports
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| !p.retired && p.addr.port() == n));
        let Some(pi) = pi else {
            return self.web_reply(eng, t, text_answer("404 Not Found", "no such port\n"));
        };
        let allowed = self.ports[pi]
            .as_ref()
            .is_some_and(|p| p.cfg.acl.allows(peer.ip()));
        if !allowed {
            crate::sys::loglimit::log_limited(
                log::Level::Warn,
                format!(
                    "web: refused {}: not in the host list of port {n}",
                    peer.ip()
                ),
            );
            let a = text_answer("403 Forbidden", "access denied\n");
            return self.web_reply(eng, t, a);
        }
        let Some(c) = self.web_take(eng, t) else {
            return;
        };
        self.release(eng, t, c.conn.fd());
        let mut conn = c.conn;
        // A fresh connection takes the short answer whole (the kernel buffer, or TLS's).
        let head = ws::accept_response(&up.key);
        let args = LayerArgs {
            side: Side::Server,
            tls: None,
        };
        let r = match conn.write(head.as_bytes()) {
            Ok(n) if n == head.len() => conn.push("websocket", &args),
            Ok(_) => Err(std::io::ErrorKind::WouldBlock.into()),
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            log::warn!("web: {peer}: {e}");
            conn.shutdown();
            return;
        }
        self.admit_web(eng, pi, conn, role);
    }
}

impl ShareServer {
    /// The subject CN of the client certificate a web connection showed at its TLS handshake
    /// (only a listener with `tls-client-ca` asks for one).
    fn web_cert_name(&self, t: Token) -> Option<String> {
        let c = self.web.as_ref()?.conns.get(&t.0)?;
        crate::proto::certname::subject_cn(&c.conn.peer_certificate()?)
    }
}

impl Web {
    /// The listener speaks TLS.
    pub(super) fn has_tls(&self) -> bool {
        self.tls.is_some()
    }
}

impl WebConn {
    /// Read until the head is complete: `None` while not, `Some(Err)` when the connection is
    /// dead or the head is bad.
    /// Read until the head (and a POST's body, at most [`MAX_BODY`] bytes) is complete:
    /// `None` while not, `Some(Err)` when the connection is dead or the request is bad.
    fn read_request(&mut self) -> Option<Result<(String, String), ()>> {
        let head = match self.read_head()? {
            Ok(h) => h,
            Err(()) => return Some(Err(())),
        };
        let len: usize = match ws::header(&head, "Content-Length").map(str::parse) {
            None => 0,
            Some(Ok(n)) if n <= MAX_BODY => n,
            Some(_) => return Some(Err(())),
        };
        let have = self.buf.len() - head.len();
        if have < len {
            return None;
        }
        let body = String::from_utf8_lossy(&self.buf[head.len()..head.len() + len]).into_owned();
        Some(Ok((head, body)))
    }

    fn read_head(&mut self) -> Option<Result<String, ()>> {
        let mut chunk = [0u8; 2048];
        loop {
            match self.conn.read(&mut chunk) {
                Ok(0) => return Some(Err(())),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if self.conn.handshaking() {
                        crate::sys::loglimit::log_limited(
                            log::Level::Warn,
                            format!("web: {}: TLS handshake failed: {e}", self.peer),
                        );
                    }
                    return Some(Err(()));
                }
            }
            if self.buf.len() > http::MAX_HEAD {
                return Some(Err(()));
            }
        }
        let end = self.buf.windows(4).position(|w| w == b"\r\n\r\n")?;
        match std::str::from_utf8(&self.buf[..end + 4]) {
            Ok(h) => Some(Ok(h.to_string())),
            Err(_) => Some(Err(())),
        }
    }

    /// Write the answer; `true` when done (or dead).
    fn write_out(&mut self) -> bool {
        let Some((out, sent)) = self.out.as_mut() else {
            return true;
        };
        while *sent < out.len() {
            match self.conn.write(&out[*sent..]) {
                Ok(0) => return true,
                Ok(n) => *sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
        !matches!(self.conn.flush(), Ok(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_answers() {
        assert!(matches!(route("/"), Route::File(_, b) if b == DASHBOARD_HTML));
        assert!(matches!(route("/port/5800"), Route::File(_, b) if b == CONSOLE_HTML));
        assert!(matches!(route("/port/5800/watch"), Route::File(_, b) if b == CONSOLE_HTML));
        assert!(matches!(
            route("/static/xterm.js"),
            Route::File("text/javascript", _)
        ));
        assert_eq!(route("/static/../Cargo.toml"), Route::NotFound);
        assert_eq!(route("/port/99999/ws"), Route::NotFound);
        assert_eq!(route("/events"), Route::Events);
        let a = String::from_utf8(answer("200 OK", "text/plain", b"hi", false)).unwrap();
        assert!(
            a.contains("Content-Security-Policy: default-src 'none'"),
            "{a}"
        );
        assert!(a.ends_with("\r\n\r\nhi"));
    }

    #[test]
    fn pages_load_nothing_from_elsewhere_and_run_no_inline_script() {
        let login = include_bytes!("../../../web/login.html");
        let handler = regex::Regex::new(r"<[^>]*\son[a-z]+\s*=").unwrap();
        for page in [CONSOLE_HTML, DASHBOARD_HTML, login] {
            let p = std::str::from_utf8(page).unwrap();
            assert!(!p.contains("http://") && !p.contains("https://"), "{p}");
            // Every script comes from a file; no event-handler attribute (onclick=...).
            assert!(
                p.matches("<script").count() == p.matches("<script src=").count(),
                "{p}"
            );
            assert!(!handler.is_match(p), "{p}");
        }
    }
}
