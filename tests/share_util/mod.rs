//! Helpers shared by the rgetty-share integration tests.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

// A test that uses both `common` and `share_util` loads this file twice: harmless.
#[allow(clippy::duplicate_mod)]
#[path = "../support/mod.rs"]
mod support;
pub use support::{can_unshare_mount, copy_for_any_user, free_port, have};

use rgetty::proto::telnet::{ComPort, Decoder, Event};
use rgetty::sys::tty;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_rgetty-share");
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A pty pair: `master` is the far end, the server opens `path`.
pub struct Dev {
    pub master: std::fs::File,
    pub slave: OwnedFd,
    pub path: PathBuf,
}

pub fn dev() -> Dev {
    let p = tty::openpty().unwrap();
    tty::set_raw(&p.master).unwrap();
    tty::set_nonblocking(&p.master, true).unwrap();
    Dev {
        master: std::fs::File::from(p.master),
        slave: p.slave,
        path: p.slave_path,
    }
}

impl Dev {
    /// Read exactly `n` bytes from the far end, within the deadline.
    pub fn read_n(&mut self, n: usize) -> Vec<u8> {
        read_n_fd(&mut self.master, n)
    }
    pub fn write_all(&mut self, data: &[u8]) {
        write_all_fd(&mut self.master, data);
    }
    /// `out` written by the application reaches this far end, and `back` written here reaches
    /// the application.
    pub fn exchange(&mut self, app: &mut std::fs::File, out: &[u8], back: &[u8]) {
        app.write_all(out).unwrap();
        assert_eq!(self.read_n(out.len()), out);
        self.write_all(back);
        let mut g = vec![0u8; back.len()];
        app.read_exact(&mut g).unwrap();
        assert_eq!(g, back);
    }
    /// Whatever arrives within `d`.
    pub fn drain_for(&mut self, d: Duration) -> Vec<u8> {
        let mut out = Vec::new();
        let end = Instant::now() + d;
        let mut b = [0u8; 4096];
        while Instant::now() < end {
            match self.master.read(&mut b) {
                Ok(n) if n > 0 => out.extend_from_slice(&b[..n]),
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        out
    }
}

pub fn read_n_fd(f: &mut impl Read, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let end = Instant::now() + DEADLINE;
    let mut b = vec![0u8; 65536];
    while out.len() < n {
        assert!(
            Instant::now() < end,
            "timed out: got {} of {n} bytes",
            out.len()
        );
        match f.read(&mut b[..(n - out.len()).min(65536)]) {
            Ok(0) => panic!("eof after {} of {n} bytes", out.len()),
            Ok(k) => out.extend_from_slice(&b[..k]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("read: {e} after {} bytes", out.len()),
        }
    }
    out
}

pub fn write_all_fd(f: &mut impl Write, mut data: &[u8]) {
    let end = Instant::now() + DEADLINE;
    while !data.is_empty() {
        assert!(Instant::now() < end, "write timed out");
        match f.write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("write: {e}"),
        }
    }
}

/// A running binary, killed on drop.
pub struct Proc {
    pub child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }
    pub fn wait_exit(&mut self, d: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// A server with its own lock dir; `addrs` come from the port file.
pub struct Server {
    pub proc: Proc,
    pub addrs: Vec<SocketAddr>,
}

pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A plain port on `dev` with its port log at `log`.
pub fn serve_logged(tmp: &Path, dev: &Path, log: &Path) -> Server {
    serve(
        tmp,
        &[
            "-p",
            "0",
            "--log-file",
            log.to_str().unwrap(),
            dev.to_str().unwrap(),
        ],
    )
}

/// `rgetty-share serve --lock-dir <tmp>/lock --port-file <tmp>/ports ARGS`; its log is
/// appended to `<tmp>/server.log` (kept out of the test output; read it when a test fails).
pub fn serve(tmp: &Path, args: &[&str]) -> Server {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(tmp.join("server.log"))
        .unwrap();
    serve_to(tmp, args, Stdio::from(log))
}

/// A temp dir, a device, and a server on the device (port 0) with the options `extra`.
pub fn serve_dev(extra: &[&str]) -> (tempfile::TempDir, Dev, Server) {
    let tmp = tmpdir();
    let d = dev();
    let mut args = vec!["-p", "0"];
    args.extend_from_slice(extra);
    args.push(d.path.to_str().unwrap());
    let srv = serve(tmp.path(), &args);
    (tmp, d, srv)
}

/// [`serve`] with the server's standard error (its log in the foreground) going to `stderr`.
pub fn serve_to(tmp: &Path, args: &[&str], stderr: Stdio) -> Server {
    serve_env(tmp, args, stderr, &[])
}

/// [`serve_to`] with these variables added to the server's environment.
pub fn serve_env(tmp: &Path, args: &[&str], stderr: Stdio, env: &[(&str, &Path)]) -> Server {
    let pf = tmp.join("ports");
    let _ = std::fs::remove_file(&pf);
    let lock = tmp.join("lock");
    std::fs::create_dir_all(&lock).unwrap();
    let child = Command::new(BIN)
        .arg("serve")
        .arg("--lock-dir")
        .arg(&lock)
        .arg("--port-file")
        .arg(&pf)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut proc = Proc { child };
    wait_for("the port file", || {
        if let Some(s) = proc.child.try_wait().unwrap() {
            panic!("server exited: {s}");
        }
        pf.exists()
    });
    let addrs = std::fs::read_to_string(&pf)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    Server { proc, addrs }
}

pub fn lock_files(tmp: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(tmp.join("lock"))
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub fn lock_name(tmp: &Path, dev: &Path) -> PathBuf {
    rgetty::sys::lock::LockDir::new(tmp.join("lock"), rgetty::sys::lock::Naming::Upstream)
        .lock_name_for(dev)
}

/// A live "getty" holding the lock of `dev`: a `sleep` child whose pid is in the lock file.
pub fn getty_lock(tmp: &Path, dev: &Path) -> Proc {
    let child = Command::new("sleep").arg("60").spawn().unwrap();
    let p = Proc { child };
    std::fs::create_dir_all(tmp.join("lock")).unwrap();
    std::fs::write(lock_name(tmp, dev), format!("{:>10}\n", p.pid())).unwrap();
    p
}

/// `rgetty-share ARGS --lock-dir <tmp>/lock DEV` started inetd-style: a connected socket is
/// its stdin and stdout. The client's end of the connection and the server.
pub fn spawn_inetd<S: AsRef<std::ffi::OsStr>>(
    tmp: &Path,
    args: &[S],
    dev: &Path,
) -> (TcpStream, Proc) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = connect(l.local_addr().unwrap());
    let (s, _) = l.accept().unwrap();
    let lock = tmp.join("lock");
    std::fs::create_dir_all(&lock).unwrap();
    let child = Command::new(BIN)
        .args(args)
        .arg("--lock-dir")
        .arg(&lock)
        .arg(dev)
        .stdin(Stdio::from(OwnedFd::from(s.try_clone().unwrap())))
        .stdout(Stdio::from(OwnedFd::from(s)))
        .spawn()
        .unwrap();
    (c, Proc { child })
}

pub fn connect(a: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s
}

/// Read until EOF (for refusal messages).
pub fn read_to_eof(s: &mut TcpStream) -> String {
    let mut v = Vec::new();
    let _ = s.read_to_end(&mut v);
    String::from_utf8_lossy(&v).into_owned()
}

pub fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn pattern(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

pub fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

pub fn rss_kib(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// A TCP connection to `to` from the local address `from` (e.g. 127.0.0.2, outside an allow
/// list that names 127.0.0.1).
pub fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, socket};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    let src: std::net::SocketAddrV4 = format!("{from}:0").parse().unwrap();
    bind(fd.as_raw_fd(), &SockaddrIn::from(src)).unwrap();
    let SocketAddr::V4(a) = to else {
        panic!("IPv4 only")
    };
    nix::sys::socket::connect(fd.as_raw_fd(), &SockaddrIn::from(a)).unwrap();
    let s = TcpStream::from(fd);
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s
}

/// The words of the man page's inetd.conf example line (inetd splits on blanks and does not
/// quote).
pub fn man_inetd_line() -> Vec<String> {
    let man = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/rgetty-share.8"))
        .unwrap();
    let line = man
        .lines()
        .find(|l| l.contains("stream tcp nowait") && l.contains("rgetty-share"))
        .expect("inetd example in the man page");
    line.split_whitespace().map(ToString::to_string).collect()
}

/// Send `req` to the server while a thread throws away whatever comes back (replies), then
/// `end`, which must reach the device after all of `req`; then shut the connection down.
pub fn send_draining(c: &mut TcpStream, req: &[u8], d: &mut Dev) {
    let reader = {
        let mut r = c.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut sink = [0u8; 65536];
            while matches!(r.read(&mut sink), Ok(n) if n > 0) {}
        })
    };
    c.write_all(req).unwrap();
    c.write_all(b"end").unwrap();
    assert_eq!(d.read_n(3), b"end");
    c.shutdown(std::net::Shutdown::Both).unwrap();
    reader.join().unwrap();
}

/// `strace -f -o OUT EXTRA… -p PID`, returned once strace says it has attached; None (and a
/// line saying why) when strace cannot trace here.
pub fn strace_attach(pid: i32, extra: &[&str], out: &Path) -> Option<std::process::Child> {
    use std::io::BufRead;
    let mut st = Command::new("strace")
        .arg("-f")
        .args(extra)
        .arg("-o")
        .arg(out)
        .args(["-p", &pid.to_string()])
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let err = st.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    while let Ok(l) = rx.recv_timeout(DEADLINE) {
        if l.contains("attached") {
            return Some(st);
        }
    }
    let _ = st.kill();
    let _ = st.wait();
    eprintln!("strace cannot attach here; skipped");
    None
}

/// Stop tracing (SIGINT: strace detaches and flushes its output).
pub fn strace_detach(mut st: std::process::Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(st.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    st.wait().unwrap();
}

/// The system calls an strace output file shows as completed (the wait strace found the
/// process in shows as `<unfinished ...>`).
pub fn completed_calls(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("= ") && !l.contains("resumed") && !l.contains("+++"))
        .map(str::to_string)
        .collect()
}

/// True (and why, printed) when a test needing a private mount namespace cannot run here: not
/// root, or no `unshare --mount`. Under CI=true that is a failure, not a skip.
pub fn skip_without_mount_ns() -> bool {
    let ok = can_unshare_mount();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI: needs root and `unshare --mount`"
        );
        println!("SKIP: needs root and `unshare --mount`");
    }
    !ok
}

/// `python3 -c SCRIPT ARGS...` with its standard input and output piped: the child, and its
/// output to read line by line.
pub fn python(
    script: &str,
    args: &[&str],
) -> (Child, std::io::BufReader<std::process::ChildStdout>) {
    let mut py = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(py.stdout.take().unwrap());
    (py, out)
}
