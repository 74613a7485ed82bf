//! Who may use the web console (`--web-users FILE`): users with an argon2 password hash and a
//! role per port, logins, sessions (a random cookie), and a brake on password guessing.
//!
//! The users file is read through the checked loader ([`crate::config::load`]) with the
//! trust of a file that runs commands: owned by root, not writable by group or others. One
//! user per line, `NAME:HASH:ROLES`; `#` starts a comment:
//!
//! ```text
//! # NAME:HASH:ROLES (HASH in PHC form, e.g. from `argon2 SALT -id -e`)
//! alice:$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$...:rw
//! bob:$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$...:*=ro,5800=rw
//! ```
//!
//! ROLES is `rw` or `ro` for every port, or `PORT=ROLE` pairs (`*` for the others). A user
//! without a role on a port gets nothing there. `rw` writes (and takes over where the port
//! allows), `ro` watches.
//!
//! When the web listener's TLS has a client CA (`tls-client-ca`), every client shows a
//! certificate signed by it at the handshake, and the certificate's subject CN is the user's
//! name: no login page, no cookie. Such users may have `cert` (or `-`) as HASH: no password
//! logs them in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordVerifier};

use crate::config::ConfigError;
use crate::share::session::Role;

/// Failed logins from one address before it must wait.
const FREE_FAILS: u32 = 3;
/// Longest wait imposed after failed logins.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Sessions kept at most (the oldest go first).
const MAX_SESSIONS: usize = 1024;
/// The session cookie's name.
pub const COOKIE: &str = "rgetty_session";
/// A HASH field for a user who logs in only with a client certificate (whose subject CN is
/// the user's name): no password matches it.
pub const CERT_ONLY: [&str; 2] = ["cert", "-"];

/// One user.
#[derive(Debug, Clone)]
pub struct User {
    /// The name.
    pub name: String,
    hash: String,
    /// `(port, role)`; port 0 stands for `*`.
    roles: Vec<(u16, Role)>,
}

impl User {
    /// The user's role on TCP port `port`, if any.
    pub fn role(&self, port: u16) -> Option<Role> {
        let exact = self.roles.iter().find(|(p, _)| *p == port);
        exact
            .or_else(|| self.roles.iter().find(|(p, _)| *p == 0))
            .map(|(_, r)| *r)
    }
}

/// Parse a users file (every bad line reported, as `file:line: message`).
pub fn parse_users(path: &Path, text: &str) -> Result<Vec<User>, Vec<ConfigError>> {
    let mut users = Vec::new();
    let mut errors = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_user(line) {
            Ok(u) => users.push(u),
            Err(m) => errors.push(ConfigError::new(path, n + 1, m)),
        }
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        Err(errors)
    }
}

fn parse_user(line: &str) -> Result<User, String> {
    let mut f = line.splitn(3, ':');
    let (Some(name), Some(hash), Some(roles)) = (f.next(), f.next(), f.next()) else {
        return Err("want NAME:HASH:ROLES".into());
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(format!("bad user name {name:?}"));
    }
    if !CERT_ONLY.contains(&hash) {
        PasswordHash::new(hash).map_err(|e| format!("user {name}: bad password hash: {e}"))?;
    }
    let role = |r: &str| match r {
        "rw" => Ok(Role::Writer),
        "ro" => Ok(Role::Watcher),
        _ => Err(format!("user {name}: bad role {r:?} (rw or ro)")),
    };
    let mut v = Vec::new();
    for item in roles.split(',') {
        match item.split_once('=') {
            None => v.push((0, role(item)?)),
            Some(("*", r)) => v.push((0, role(r)?)),
            Some((p, r)) => {
                let p: u16 = p
                    .parse()
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or(format!("user {name}: bad port {p:?}"))?;
                v.push((p, role(r)?));
            }
        }
    }
    Ok(User {
        name: name.to_string(),
        hash: hash.to_string(),
        roles: v,
    })
}

/// Read the users file through the checked loader.
pub fn load_users(path: &Path) -> Result<Vec<User>, String> {
    let src = crate::config::load::load(path, crate::config::load::Trust::Commands)
        .map_err(|e| e.to_string())?;
    if let Some(w) = src.others_can_read() {
        log::warn!("{w}");
    }
    parse_users(path, &src.text).map_err(|errs| {
        errs.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// Users, sessions and the failure brake.
#[derive(Debug, Default)]
pub struct Auth {
    users: Vec<User>,
    sessions: HashMap<String, (String, Instant)>,
    fails: HashMap<IpAddr, (u32, Instant)>,
}

/// What a login attempt gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    /// A new session: the cookie value.
    Ok(String),
    /// Wrong name or password.
    Refused,
    /// Too many failures from this address: try again later.
    Wait(Duration),
}

impl Auth {
    /// For these users.
    pub fn new(users: Vec<User>) -> Auth {
        Auth {
            users,
            ..Auth::default()
        }
    }

    /// Check a name and password from `peer`.
    pub fn login(&mut self, peer: IpAddr, name: &str, password: &str) -> Attempt {
        if let Some(&(n, at)) = self.fails.get(&peer) {
            if n >= FREE_FAILS {
                let wait = Duration::from_secs(1 << (n - FREE_FAILS).min(6)).min(MAX_WAIT);
                if at.elapsed() < wait {
                    return Attempt::Wait(wait - at.elapsed());
                }
            }
        }
        let ok = self.users.iter().find(|u| u.name == name).is_some_and(|u| {
            PasswordHash::new(&u.hash).is_ok_and(|h| {
                argon2::Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
        });
        if !ok {
            let e = self.fails.entry(peer).or_insert((0, Instant::now()));
            *e = (e.0 + 1, Instant::now());
            return Attempt::Refused;
        }
        self.fails.remove(&peer);
        if self.sessions.len() >= MAX_SESSIONS {
            let oldest = self
                .sessions
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.sessions.remove(&k);
            }
        }
        let token = random_token();
        self.sessions
            .insert(token.clone(), (name.to_string(), Instant::now()));
        Attempt::Ok(token)
    }

    /// The user a client certificate with subject CN `cn` stands for.
    pub fn cert_user(&self, cn: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == cn)
    }

    /// The user of a request, from its `Cookie` header.
    pub fn user(&self, cookie_header: Option<&str>) -> Option<&User> {
        let token = cookie(cookie_header?, COOKIE)?;
        let (name, _) = self.sessions.get(token)?;
        self.users.iter().find(|u| &u.name == name)
    }
}

/// 32 random bytes as hex.
fn random_token() -> String {
    use ::ring::rand::SecureRandom;
    let mut b = [0u8; 32];
    let _ = ::ring::rand::SystemRandom::new().fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A cookie's value from a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// One field of an `application/x-www-form-urlencoded` body, decoded.
pub fn form_field(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| url_decode(v))
    })
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An argon2id hash of `password` in PHC form (for tests and tools; cheap parameters when
/// `cheap`).
pub fn hash_password(password: &str, cheap: bool) -> String {
    use ::ring::rand::SecureRandom;
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    let _ = ::ring::rand::SystemRandom::new().fill(&mut salt);
    let params = if cheap {
        argon2::Params::new(1024, 1, 1, None).unwrap_or_default()
    } else {
        argon2::Params::default()
    };
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let Ok(s) = SaltString::encode_b64(&salt) else {
        return String::new();
    };
    a.hash_password(password.as_bytes(), &s)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// The login page, and the same with the refusal shown.
const LOGIN_HTML: &str = include_str!("../../../web/login.html");

fn see_other(to: &str, cookie: Option<&str>) -> Vec<u8> {
    let mut h = format!(
        "HTTP/1.1 303 See Other\r\nLocation: {to}\r\nContent-Length: 0\r\nCache-Control: no-store\r\n"
    );
    if let Some(c) = cookie {
        h.push_str(&format!("Set-Cookie: {c}\r\n"));
    }
    h.push_str("Connection: close\r\n\r\n");
    h.into_bytes()
}

fn login_page(status: &str, msg: Option<&str>) -> Vec<u8> {
    let page = match msg {
        Some(m) => LOGIN_HTML.replace(
            "<p id=\"msg\" hidden></p>",
            &format!("<p id=\"msg\">{m}</p>"),
        ),
        None => LOGIN_HTML.to_string(),
    };
    super::web::answer(status, "text/html; charset=utf-8", page.as_bytes(), false)
}

/// A watcher opening a port's console gets the watcher page; a user without a role on the
/// port gets nothing.
fn port_gate(user: &User, path: &str) -> Option<Vec<u8>> {
    let port = path
        .strip_prefix("/port/")
        .and_then(|p| p.parse::<u16>().ok());
    match port.map(|n| (n, user.role(n))) {
        Some((n, Some(Role::Watcher))) => Some(see_other(&format!("/port/{n}/watch"), None)),
        Some((_, None)) => Some(super::web::answer(
            "403 Forbidden",
            "text/plain",
            b"no access to this port\n",
            false,
        )),
        _ => None,
    }
}

/// A request over TLS with a client certificate whose subject CN is `cn`: that names the
/// user; there is no login page and no cookie.
fn cert_gate(auth: &Auth, peer: IpAddr, cn: &str, path: &str) -> Option<Vec<u8>> {
    if path.starts_with("/static/") || path == "/favicon.ico" {
        return None;
    }
    let Some(user) = auth.cert_user(cn) else {
        crate::sys::loglimit::log_limited(
            log::Level::Warn,
            format!(
                "web: {peer}: certificate CN {:?} is not in the users file",
                crate::ops::state::printable(cn)
            ),
        );
        return Some(super::web::answer(
            "403 Forbidden",
            "text/plain",
            b"this certificate has no user here\n",
            false,
        ));
    };
    if path == "/login" {
        return Some(see_other("/", None));
    }
    port_gate(user, path)
}

impl super::ShareServer {
    /// Use these users for the web console: every page but the login page and the static
    /// files then needs a session.
    pub fn set_web_users(&mut self, users: Vec<User>) {
        self.web_auth = Some(Auth::new(users));
    }

    /// The login page and the session check. `Some(answer)` ends the request here.
    pub(super) fn web_auth(
        &mut self,
        peer: IpAddr,
        req: (&str, &str),
        head: &str,
        body: &str,
        cert: Option<&str>,
    ) -> Option<Vec<u8>> {
        let (method, path) = req;
        let tls = self.web.as_ref().is_some_and(|w| w.has_tls());
        let auth = self.web_auth.as_mut()?;
        if let Some(cn) = cert {
            return cert_gate(auth, peer, cn, path);
        }
        if path == "/login" && method == "POST" {
            let user = form_field(body, "user").unwrap_or_default();
            let pw = form_field(body, "password").unwrap_or_default();
            return Some(match auth.login(peer, &user, &pw) {
                Attempt::Ok(tok) => {
                    log::info!("web: {peer}: {user:?} logged in");
                    let secure = if tls { "; Secure" } else { "" };
                    let c = format!("{COOKIE}={tok}; HttpOnly; SameSite=Strict; Path=/{secure}");
                    see_other("/", Some(&c))
                }
                Attempt::Refused => {
                    crate::sys::loglimit::log_limited(
                        log::Level::Warn,
                        format!(
                            "web: {peer}: failed login as {:?}",
                            crate::ops::state::printable(&user)
                        ),
                    );
                    login_page("403 Forbidden", Some("wrong user or password"))
                }
                Attempt::Wait(d) => {
                    crate::sys::loglimit::log_limited(
                        log::Level::Warn,
                        format!("web: {peer}: login refused, too many failures"),
                    );
                    let m = format!("too many failures: wait {} s", d.as_secs() + 1);
                    login_page("429 Too Many Requests", Some(&m))
                }
            });
        }
        if path == "/login" || path.starts_with("/static/") || path == "/favicon.ico" {
            return (path == "/login").then(|| login_page("200 OK", None));
        }
        let cookie = crate::proto::websocket::header(head, "Cookie");
        let Some(user) = auth.user(cookie) else {
            let socket = path == "/events" || path.ends_with("/ws");
            return Some(if socket {
                super::web::answer("401 Unauthorized", "text/plain", b"log in first\n", false)
            } else {
                see_other("/login", None)
            });
        };
        port_gate(user, path)
    }

    /// The role a terminal socket gets: the one asked for, at most the user's on port `n`.
    /// With a client certificate, its subject CN `cert` names the user (no cookie).
    pub(super) fn web_role(
        &self,
        head: &str,
        cert: Option<&str>,
        n: u16,
        asked: Role,
    ) -> Option<Role> {
        let Some(auth) = self.web_auth.as_ref() else {
            return Some(asked);
        };
        let user = match cert {
            Some(cn) => auth.cert_user(cn)?,
            None => auth.user(crate::proto::websocket::header(head, "Cookie"))?,
        };
        match user.role(n)? {
            Role::Writer => Some(asked),
            Role::Watcher => Some(Role::Watcher),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_roles_logins_and_the_brake() {
        let h = hash_password("s3cret pass", true);
        let text = format!("# users\nalice:{h}:rw\nbob:{h}:*=ro,5800=rw\ncarol:{h}:5801=ro\n");
        let users = parse_users(Path::new("u"), &text).unwrap();
        assert_eq!(users[0].role(5800), Some(Role::Writer));
        assert_eq!(users[1].role(5800), Some(Role::Writer));
        assert_eq!(users[1].role(5801), Some(Role::Watcher));
        assert_eq!(users[2].role(5800), None);
        let bad = parse_users(Path::new("u"), "x\nd:nothash:rw\ne:{h}:admin\n").unwrap_err();
        assert_eq!(bad.len(), 3);
        assert!(bad[0].to_string().starts_with("u:1: "), "{}", bad[0]);

        let mut a = Auth::new(users);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let Attempt::Ok(tok) = a.login(ip, "bob", "s3cret pass") else {
            panic!("login");
        };
        let hdr = format!("x=1; {COOKIE}={tok}");
        assert_eq!(a.user(Some(&hdr)).map(|u| u.name.as_str()), Some("bob"));
        assert!(a.user(Some("rgetty_session=forged")).is_none());
        for _ in 0..FREE_FAILS {
            assert_eq!(a.login(ip, "bob", "guess"), Attempt::Refused);
        }
        assert!(
            matches!(a.login(ip, "bob", "s3cret pass"), Attempt::Wait(_)),
            "braked"
        );
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(matches!(
            a.login(other, "alice", "s3cret pass"),
            Attempt::Ok(_)
        ));
        assert_eq!(
            form_field("user=bob&password=a+b%21", "password").as_deref(),
            Some("a b!")
        );
    }

    #[test]
    fn certificate_users_have_no_password() {
        let users = parse_users(
            Path::new("u"),
            "dave:cert:ro
erin:-:5800=rw
",
        )
        .unwrap();
        let mut a = Auth::new(users);
        assert_eq!(
            a.cert_user("dave").and_then(|u| u.role(1)),
            Some(Role::Watcher)
        );
        assert_eq!(
            a.cert_user("erin").and_then(|u| u.role(5800)),
            Some(Role::Writer)
        );
        assert!(a.cert_user("mallory").is_none());
        let ip: IpAddr = "10.0.0.3".parse().unwrap();
        for pw in ["cert", "-", ""] {
            assert_eq!(a.login(ip, "dave", pw), Attempt::Refused);
        }
    }
}
