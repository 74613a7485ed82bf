//! The web console (`rgetty-share serve --web`) in real headless Chromium, driven through
//! Debian's chromium-driver by tests/share/web/driver.py (a thin remote: the asserting is here), and
//! the WebSocket protocol checked with python `websockets` (tests/share/web/protocol.py).
//!
//! Every step saves a screenshot under target/web-screenshots/ for a person to look at.
//! Without chromium, chromium-driver or the python modules the tests skip, except in CI
//! (`CI=true`), where they fail.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::share_util::{Dev, Server, dev, free_port, serve_env, tmpdir, wait_for};

mod tls;

/// Debian's python (python3-selenium is installed for it), else the first on PATH.
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Whether a test peer is there: a missing one skips the test locally, fails it in CI.
fn need(what: &str, ok: bool) -> bool {
    if !ok && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what} is missing in CI (.ci/run installs it)");
    }
    if !ok {
        println!("SKIP: {what} is not installed");
    }
    ok
}

fn python_has(module: &str) -> bool {
    Command::new(python())
        .args(["-c", &format!("import {module}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn browser_ready() -> bool {
    need(
        "chromium",
        Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists(),
    ) && need("python3-selenium", python_has("selenium"))
}

fn shots() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A JSON string.
fn js(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Headless Chromium behind tests/share/web/driver.py.
struct Browser {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        let profile = tmpdir();
        let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/share/web/driver.py");
        let mut child = Command::new(python())
            .arg(driver)
            .arg(profile.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        let mut b = Browser {
            child,
            input,
            output,
            _profile: profile,
        };
        let hello = b.answer();
        assert!(hello.contains("ready"), "driver: {hello}");
        b
    }

    fn answer(&mut self) -> String {
        let mut l = String::new();
        self.output.read_line(&mut l).unwrap();
        assert!(!l.is_empty(), "the browser driver died");
        l
    }

    /// Send one command; the answer's JSON (panics on an error answer).
    fn cmd(&mut self, op: &str, fields: &[(&str, &str)]) -> String {
        let mut line = format!("{{\"op\":{}", js(op));
        for (k, v) in fields {
            line.push_str(&format!(",{}:{}", js(k), v));
        }
        line.push_str("}\n");
        self.input.write_all(line.as_bytes()).unwrap();
        let a = self.answer();
        assert!(a.starts_with("{\"ok\""), "{op}: {a}");
        a
    }

    fn open(&mut self, url: &str) {
        self.cmd("open", &[("url", &js(url))]);
    }

    /// Wait until the JS expression is true (up to `secs`).
    fn wait(&mut self, expr: &str, secs: u32) {
        let code = format!("return !!({expr})");
        self.cmd(
            "wait",
            &[("js", &js(&code)), ("timeout", &secs.to_string())],
        );
    }

    fn eval(&mut self, expr: &str) -> String {
        self.cmd("eval", &[("js", &js(&format!("return {expr}")))])
    }

    fn type_keys(&mut self, text: &str) {
        self.cmd("type", &[("text", &js(text))]);
    }

    fn click(&mut self, id: &str) {
        self.cmd("click", &[("id", &js(id))]);
    }

    fn shot(&mut self, name: &str) {
        let p = shots().join(format!("{name}.png"));
        self.cmd("shot", &[("path", &js(&p.display().to_string()))]);
    }

    /// Every URL the page loaded (the page's own first).
    fn resources(&mut self) -> String {
        self.cmd("resources", &[])
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.input.write_all(b"{\"op\":\"quit\"}\n");
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY-free: the driver leads its own process group (chromedriver, chromium).
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.child.wait();
    }
}

/// The text of a terminal's buffer (all lines).
const TERM_TEXT: &str = "(() => { const b = window.rgettyTerm.buffer.active; let s = ''; \
    for (let i = 0; i < b.length; i++) { s += b.getLine(i).translateToString(true) + '\\n'; } \
    return s; })()";

fn term_has(text: &str) -> String {
    format!("window.rgettyTerm && {TERM_TEXT}.includes({})", js(text))
}

/// A server on a pty with the web console, under the BREAK-counting shim.
struct Setup {
    tmp: tempfile::TempDir,
    dev: Dev,
    srv: Server,
    port: u16,
    web: u16,
}

impl Setup {
    fn new() -> Setup {
        Setup::with(tmpdir(), &[])
    }

    fn with(tmp: tempfile::TempDir, extra: &[&str]) -> Setup {
        let shim =
            crate::common::build_shim(tmp.path(), "break_shim", include_str!("../break_shim.c"))
                .expect("cc builds the break shim");
        let dev = dev();
        let (port, web) = (free_port(), free_port());
        let count = tmp.path().join("breaks");
        let (p, w) = (port.to_string(), web.to_string());
        let mut args = vec!["-p", &p, "--web", &w];
        args.extend_from_slice(extra);
        args.push(dev.path.to_str().unwrap());
        let srv = serve_env(
            tmp.path(),
            &args,
            Stdio::inherit(),
            &[("LD_PRELOAD", &shim), ("BREAK_COUNT", &count)],
        );
        Setup {
            tmp,
            dev,
            srv,
            port,
            web,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.web)
    }

    fn breaks(&self) -> usize {
        std::fs::read(self.tmp.path().join("breaks")).map_or(0, |b| b.len())
    }
}

#[test]
fn console_in_chromium() {
    if !browser_ready() {
        return;
    }
    let mut s = Setup::new();
    let mut b = Browser::start();
    let console = s.url(&format!("/port/{}", s.port));
    b.open(&console);
    b.wait(
        "document.getElementById('state').textContent == 'connected'",
        15,
    );
    b.shot("01-console-connected");

    // Typing reaches the device.
    b.type_keys("uname -a\n");
    assert_eq!(s.dev.read_n(9), b"uname -a\r");

    // Device output is rendered (colours and all).
    s.dev
        .write_all(b"\x1b[1;32mLinux lab-router\x1b[0m 6.1.0 armv7l\r\nrouter# ");
    b.wait(&term_has("Linux lab-router 6.1.0 armv7l"), 10);
    b.shot("02-device-output");

    // BREAK: the server sends one on the line.
    assert_eq!(s.breaks(), 0);
    b.click("break");
    wait_for("a break on the line", || s.breaks() >= 1);

    // The speed selector sets the line's speed.
    b.eval(
        "(() => { const e = document.getElementById('speed'); e.value = '9600'; \
            e.dispatchEvent(new Event('change')); return true; })()",
    );
    wait_for("9600 baud on the line", || {
        rgetty::sys::tty::get_params(&s.dev.slave).is_ok_and(|p| p.baud == 9600)
    });
    b.shot("03-break-and-speed");

    // Nothing but the server: every resource came from it.
    let res = b.resources();
    let origin = s.url("/");
    let urls: Vec<&str> = res.split('"').filter(|u| u.contains("://")).collect();
    assert!(urls.len() >= 5, "{res}");
    assert!(urls.iter().all(|u| u.starts_with(&origin)), "{res}");

    // A watcher sees the output and cannot type.
    let mut w = Browser::start();
    w.open(&s.url(&format!("/port/{}/watch", s.port)));
    w.wait(
        "document.getElementById('state').textContent == 'connected'",
        15,
    );
    w.type_keys("reboot\n");
    s.dev.write_all(b"\r\nuptime 42 days\r\n");
    w.wait(&term_has("uptime 42 days"), 10);
    b.wait(&term_has("uptime 42 days"), 10);
    let leaked = s.dev.drain_for(Duration::from_millis(500));
    assert!(
        leaked.is_empty(),
        "a watcher's keys reached the device: {leaked:?}"
    );
    w.shot("04-watcher-read-only");
    drop(w);
    drop(b);
    s.srv.proc.child.kill().unwrap();
}

/// Write rgetty's state file for line `line` (this process stands for rgetty: alive).
fn write_state(dir: &Path, line: &str, state: &str, caller: Option<&str>) {
    let st = rgetty::ops::state::LineState {
        line: line.into(),
        state: state.into(),
        since: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
        pid: std::process::id() as i32,
        caller_id: caller.map(str::to_string),
        ..Default::default()
    };
    let path = rgetty::ops::store::state_path(dir, line);
    rgetty::ops::store::write_atomic(&path, st.to_json().as_bytes()).unwrap();
}

/// Context switches of every thread of `pid` so far (a process asleep in epoll_wait has none).
fn ctxt_switches(pid: i32) -> u64 {
    let mut n = 0;
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let st = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        n += st
            .lines()
            .filter(|l| l.contains("ctxt_switches"))
            .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
            .sum::<u64>();
    }
    n
}

#[test]
fn dashboard_in_chromium() {
    if !browser_ready() {
        return;
    }
    let tmp = tmpdir();
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let calls = tmp.path().join("calls.jsonl");
    std::fs::write(
        &calls,
        "{\"start\":\"2026-12-06T20:01:00Z\",\"end\":\"2026-12-06T20:01:09Z\",\
         \"line\":\"ttyS0\",\"caller_id\":\"5551234\",\"caller_name\":\"ALICE\",\
         \"outcome\":\"answered\",\"user\":\"alice\",\"program\":\"/bin/login\"}\n",
    )
    .unwrap();
    write_state(&state, "ttyS0", "waiting", None);
    write_state(&state, "ttyS1", "session", None);
    let (sd, cl) = (state.display().to_string(), calls.display().to_string());
    let s = Setup::with(tmp, &["--web-state-dir", &sd, "--web-call-log", &cl]);
    let mut b = Browser::start();
    b.open(&s.url("/"));
    let row = |line: &str, state: &str| {
        format!(
            "document.querySelector('tr[data-line=\"{line}\"] td.state')?.textContent == '{state}'"
        )
    };
    b.wait(&row("ttyS0", "waiting"), 15);
    b.wait(
        "document.querySelector('#calls tbody').textContent.includes('ALICE')",
        5,
    );
    b.wait(
        &format!(
            "document.querySelector('tr[data-port=\"{}\"]') != null",
            s.port
        ),
        5,
    );

    // Nothing changes: the server sleeps (no timer, no periodic push).
    let pid = s.srv.proc.pid();
    std::thread::sleep(Duration::from_millis(300));
    let before = ctxt_switches(pid);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(ctxt_switches(pid), before, "the server woke up while idle");

    // A line changes state: the page shows it within a second, without reloading.
    let t0 = Instant::now();
    write_state(&state, "ttyS0", "ringing", Some("5550199"));
    b.wait(&row("ttyS0", "ringing"), 5);
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "dashboard updated after {took:?}"
    );
    b.wait(
        "document.querySelector('#lines tbody').textContent.includes('5550199')",
        5,
    );

    // The engine's own events: a console client appears in the port's row.
    let mut c = Browser::start();
    c.open(&s.url(&format!("/port/{}", s.port)));
    c.wait(
        "document.getElementById('state').textContent == 'connected'",
        15,
    );
    b.wait(
        &format!(
            "document.querySelector('tr[data-port=\"{}\"]').textContent.includes('rw (web)')",
            s.port
        ),
        5,
    );
    b.shot("05-dashboard");
    assert_eq!(
        b.eval("location.pathname"),
        "{\"ok\": \"/\"}\n",
        "no reload"
    );
}

/// Type into a field of the login page.
fn log_in(b: &mut Browser, user: &str, password: &str) {
    for (id, v) in [("user", user), ("password", password)] {
        b.eval(&format!(
            "document.getElementById('{id}').value = {}",
            js(v)
        ));
    }
    b.click("login");
}

#[test]
fn logins_and_roles_in_chromium() {
    if !browser_ready() {
        return;
    }
    let tmp = tmpdir();
    let users = tmp.path().join("web-users");
    let h = rgetty::share::server::auth::hash_password("correct horse", true);
    std::fs::write(&users, format!("alice:{h}:rw\nbob:{h}:ro\n")).unwrap();
    std::fs::set_permissions(&users, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let u = users.display().to_string();
    let mut s = Setup::with(tmp, &["--web-users", &u]);
    let console = s.url(&format!("/port/{}", s.port));

    // Without a session: the login page; the socket itself answers 401.
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", s.web)).unwrap();
    let host = format!("127.0.0.1:{}", s.web);
    write!(
        raw,
        "GET /port/{}/ws HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n",
        s.port
    )
    .unwrap();
    let answer = crate::share_util::read_to_eof(&mut raw);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    let mut b = Browser::start();
    b.open(&console);
    b.wait("location.pathname == '/login'", 10);

    // A wrong password is refused.
    log_in(&mut b, "bob", "Tr0ub4dor&3");
    b.wait(
        "document.getElementById('msg')?.textContent == 'wrong user or password'",
        10,
    );
    b.shot("06-login-refused");

    // bob is a watcher: the console sends him to the watcher page, and his keys go nowhere.
    log_in(&mut b, "bob", "correct horse");
    b.wait("location.pathname == '/'", 10);
    assert_eq!(
        b.eval("document.cookie"),
        "{\"ok\": \"\"}\n",
        "the cookie is HttpOnly"
    );
    b.open(&console);
    b.wait(
        &format!("location.pathname == '/port/{}/watch'", s.port),
        10,
    );
    b.wait(
        "document.getElementById('state').textContent == 'connected'",
        15,
    );
    b.type_keys("shutdown -h now\n");
    s.dev.write_all(b"login: ");
    b.wait(&term_has("login:"), 10);
    let leaked = s.dev.drain_for(Duration::from_millis(500));
    assert!(
        leaked.is_empty(),
        "an ro user's keys reached the device: {leaked:?}"
    );
    b.shot("07-ro-user-watching");
    // Even on the writers' socket, bob's role holds: the server makes him a watcher.
    b.eval(&format!(
        "(() => {{ const w = new WebSocket('ws://' + location.host + '/port/{}/ws'); \
         w.onopen = () => {{ w.send(new TextEncoder().encode('reboot\\n')); window.sent = 1; }}; \
         return true; }})()",
        s.port
    ));
    b.wait("window.sent == 1", 10);
    let leaked = s.dev.drain_for(Duration::from_millis(500));
    assert!(
        leaked.is_empty(),
        "an ro user wrote through /ws: {leaked:?}"
    );
    drop(b);

    // alice may write.
    let mut a = Browser::start();
    a.open(&console);
    log_in(&mut a, "alice", "correct horse");
    a.wait("location.pathname == '/'", 10);
    a.open(&console);
    a.wait(
        "document.getElementById('state').textContent == 'connected'",
        15,
    );
    a.type_keys("id\n");
    assert_eq!(s.dev.read_n(3), b"id\r");
}

#[test]
fn websocket_protocol() {
    if !need("python3 websockets", python_has("websockets")) {
        return;
    }
    let s = Setup::new();
    // The far end echoes: what a client sends comes back to it.
    let mut echo = s.dev.master.try_clone().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let echoer = std::thread::spawn(move || {
        use std::io::Read;
        let mut b = [0u8; 4096];
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            match echo.read(&mut b) {
                Ok(n) if n > 0 => crate::share_util::write_all_fd(&mut echo, &b[..n]),
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/share/web/protocol.py");
    let out = Command::new(python())
        .arg(script)
        .arg(s.url(""))
        .arg(s.port.to_string())
        .arg(s.dev.path.to_str().unwrap())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    echoer.join().unwrap();
    assert!(out.status.success(), "protocol.py failed");
    assert!(text.contains("all protocol checks passed"), "{text}");
}

/// The vendored xterm.js is what tools/refresh-xterm.sh fetched: web/vendor/SHA256SUMS holds.
#[test]
fn vendored_xterm_matches_its_checksums() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/vendor");
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let mut n = 0;
    for line in sums.lines() {
        let (want, name) = line.split_once("  ").unwrap();
        let data = std::fs::read(dir.join(name)).unwrap();
        let got = ring::digest::digest(&ring::digest::SHA256, &data);
        let hex: String = got.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, want, "web/vendor/{name} differs from SHA256SUMS");
        n += 1;
    }
    assert!(n >= 6, "SHA256SUMS lists {n} files");
    let versions = std::fs::read_to_string(dir.join("VERSIONS")).unwrap();
    let script = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/refresh-xterm.sh"),
    )
    .unwrap();
    for (pkg, var) in [("@xterm/xterm", "XTERM"), ("@xterm/addon-fit", "FIT")] {
        let v = versions
            .lines()
            .find_map(|l| l.strip_prefix(pkg)?.strip_prefix(' '))
            .unwrap();
        assert!(
            script.contains(&format!("{var}={v}\n")),
            "{pkg} {v} not pinned in the script"
        );
    }
}

/// A connection that never finishes its request is closed after its 10 s.
#[test]
fn a_silent_http_connection_is_closed() {
    let s = Setup::new();
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.web)).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let t0 = Instant::now();
    let got = crate::share_util::read_to_eof(&mut c);
    assert!(got.is_empty(), "{got}");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(20),
        "{took:?}"
    );
}
