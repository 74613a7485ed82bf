//! remserial's web page, command line by command line: the three examples and the console-farm
//! loop, run by `sh` with `remserial` found on `$PATH` (a link to the built rgetty-share).
//!
//! Each script runs in a private mount namespace (`unshare --mount`) where a test /etc/hosts
//! names `server-name` and `control-server-name` (127.0.0.1) and /var/lock is a temp dir
//! of each machine (the server's, the client's); the
//! real ones are never touched. What the page's lines cannot have on a test machine, and only
//! that, is changed: `/dev/ttyS<n>` and `/dev/remserial1` become paths in a temp dir (the
//! ttys are symlinks to ptys: no real serial port is opened), and a port number already taken
//! on this machine becomes a free one. `/dev/ptmx` stays as it is.
//! Without root or `unshare --mount` the tests skip (and fail under CI=true).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::share_util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::termios::{BaudRate, LocalFlags, OutputFlags, cfgetospeed};
use rgetty::sys::tty;
use share_util::{BIN, DEADLINE, Dev, connect, dev, free_port, tmpdir, wait_for};

/// Example 1 of the page: give access to a RS232 device over a network.
const SERVER: &str = r#"remserial -d -p 23000 -s "9600 raw" /dev/ttyS0 &"#;
/// Example 2: connect an RS232 device to a specified server.
const BRIDGE: &str = r#"remserial -d -r server-name -p 23000 -s "9600 raw" /dev/ttyS0 &"#;
/// Example 3: connect a Linux program that needs a serial port to a remote serial port.
const VIRTUAL: &str = r#"remserial -d -r server-name -p 23000 -l /dev/remserial1 /dev/ptmx &"#;
/// The server farm's loop, as the page prints it (typographic opening quotes, one line).
const FARM_AS_PRINTED: &str = "remserial -d -p 23000 -s \u{201c}115200 raw\" /dev/ttyS0 & \
    remserial -d -p 23001 -s \u{201c}115200 raw\" /dev/ttyS1 & \
    remserial -d -p 23002 -s \u{201c}115200 raw\" /dev/ttyS2 & \
    remserial -d -p 23003 -s \u{201c}115200 raw\" /dev/ttyS3 &";

/// The page's world: temp dirs for the two machines' /dev, the lock dir, /etc/hosts, the
/// `remserial` link, and the processes the scripts started (stopped on drop).
struct Page {
    /// The seed's port numbers are shared: one page at a time.
    _one: std::sync::MutexGuard<'static, ()>,
    tmp: tempfile::TempDir,
    /// The seed's port numbers and the ones used here (the same unless taken).
    ports: Vec<(u16, u16)>,
    pids: Vec<i32>,
}

impl Page {
    fn new() -> Page {
        static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let one = ONE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tmp = tmpdir();
        let t = tmp.path();
        for d in [
            "bin",
            "server/dev",
            "server/lock",
            "client/dev",
            "client/lock",
        ] {
            std::fs::create_dir_all(t.join(d)).unwrap();
        }
        std::os::unix::fs::symlink(BIN, t.join("bin/remserial")).unwrap();
        std::fs::write(
            t.join("hosts"),
            "127.0.0.1 localhost server-name control-server-name\n",
        )
        .unwrap();
        std::fs::write(t.join("nsswitch.conf"), "hosts: files\n").unwrap();
        let ports = (23000..23004)
            .map(|p| {
                let free = TcpListener::bind(("127.0.0.1", p)).is_ok();
                (p, if free { p } else { free_port() })
            })
            .collect();
        Page {
            _one: one,
            tmp,
            ports,
            pids: Vec::new(),
        }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// The port used for the seed's `seed`.
    fn port(&self, seed: u16) -> u16 {
        self.ports.iter().find(|p| p.0 == seed).unwrap().1
    }

    /// A pty behind `<machine>/dev/<name>`.
    fn tty(&self, machine: &str, name: &str) -> Dev {
        let d = dev();
        let link = self.dir().join(machine).join("dev").join(name);
        std::os::unix::fs::symlink(&d.path, link).unwrap();
        d
    }

    /// The line as this machine can run it: device paths under `<machine>/dev`, free ports.
    fn adapt(&self, line: &str, machine: &str) -> String {
        let devdir = format!("{}/{machine}/dev/", self.dir().display());
        let mut s = line.replace("/dev/ptmx", "\0").replace("/dev/", &devdir);
        s = s.replace('\0', "/dev/ptmx");
        for (seed, used) in &self.ports {
            s = s.replace(&seed.to_string(), &used.to_string());
        }
        s
    }

    /// Run `line` with `sh` in the namespace; the pids it started in the background are
    /// remembered. Returns what the script wrote on stderr.
    fn run(&mut self, line: &str, machine: &str) -> String {
        let t = self.dir().to_path_buf();
        let script = format!(
            "mount --bind {t}/hosts /etc/hosts && mount --bind {t}/nsswitch.conf \
             /etc/nsswitch.conf && mount --bind {t}/{machine}/lock /var/lock || exit 99\n\
             PATH={t}/bin:$PATH\n{line}\necho $! >{t}/pid\n",
            t = t.display(),
            line = self.adapt(line, machine),
        );
        let out = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{script}");
        if let Ok(p) = std::fs::read_to_string(t.join("pid")) {
            self.pids.extend(p.trim().parse::<i32>().ok());
        }
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn addr(&self, seed: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port(seed)))
    }

    /// Whether the pty's UUCP lock is in the machine's /var/lock.
    fn locked(&self, machine: &str, d: &Dev) -> bool {
        share_util::lock_name(&self.dir().join(machine), &d.path).exists()
    }

    /// Wait until the seed's port `seed` takes connections.
    fn listening(&self, seed: u16) {
        wait_for("the server's port", || {
            TcpStream::connect(self.addr(seed)).is_ok()
        });
    }
}

/// The processes whose command line names `dir` (what the page's scripts started).
fn started_in(dir: &Path) -> Vec<i32> {
    let key = dir.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&key))
        })
        .collect()
}

impl Drop for Page {
    fn drop(&mut self) {
        self.pids.extend(started_in(self.dir()));
        for &p in &self.pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let end = Instant::now() + DEADLINE;
        while Instant::now() < end && self.pids.iter().any(|p| alive(*p)) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn alive(pid: i32) -> bool {
    // A zombie (exited, not yet reaped by init) counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// What `-d` promises: its own session, stdin/stdout/stderr on /dev/null.
fn detached(pid: i32) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(fields[3], pid.to_string(), "session id: {stat}");
    for fd in 0..3 {
        let l = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
        assert_eq!(l, PathBuf::from("/dev/null"), "fd {fd}");
    }
}

/// Bytes both ways between a network client and the pty's far end.
fn both_ways(sock: &mut TcpStream, d: &mut Dev, tag: &str) {
    let out = format!("to the device via {tag}\r\n");
    sock.write_all(out.as_bytes()).unwrap();
    assert_eq!(d.read_n(out.len()), out.as_bytes());
    let back = format!("from the device via {tag}\r\n");
    d.write_all(back.as_bytes());
    let mut got = vec![0u8; back.len()];
    sock.read_exact(&mut got).unwrap();
    assert_eq!(got, back.as_bytes());
}

/// The device is raw at `speed`, as `-s "<speed> raw"` asks.
fn raw_at(d: &Dev, speed: BaudRate) {
    let t = tty::get_termios(&d.slave).unwrap();
    assert_eq!(cfgetospeed(&t), speed);
    assert!(!t.local_flags.contains(LocalFlags::ICANON));
    assert!(!t.local_flags.contains(LocalFlags::ECHO));
    assert!(!t.output_flags.contains(OutputFlags::OPOST));
}

/// Example 1 with `nc server-name 23000` / `telnet server-name 23000` on the other side.
#[test]
fn example_1_serves_the_port_at_9600_raw() {
    if share_util::skip_without_mount_ns() {
        return;
    }
    let mut page = Page::new();
    let mut tty0 = page.tty("server", "ttyS0");
    let err = page.run(SERVER, "server");
    assert!(err.starts_with("remserial mode: "), "{err}");
    assert!(err.contains("loopback"), "{err}");
    page.listening(23000);
    detached(page.pids[0]);
    let mut c = connect(page.addr(23000));
    both_ways(&mut c, &mut tty0, "example 1");
    raw_at(&tty0, BaudRate::B9600);
    // The UUCP lock is in the (namespace's) /var/lock while the client is connected.
    assert!(page.locked("server", &tty0));
}

/// Examples 1 and 2 together: what goes in one serial port comes out of the other.
#[test]
fn example_2_joins_two_serial_ports_end_to_end() {
    if share_util::skip_without_mount_ns() {
        return;
    }
    let mut page = Page::new();
    let mut server_tty = page.tty("server", "ttyS0");
    let mut client_tty = page.tty("client", "ttyS0");
    page.run(SERVER, "server");
    page.listening(23000);
    let err = page.run(BRIDGE, "client");
    assert!(err.contains("UUCP-locked"), "{err}");
    detached(page.pids[1]);
    wait_for("the client's lock", || page.locked("client", &client_tty));
    wait_for("the bridge's session", || {
        page.locked("server", &server_tty)
    });
    client_tty.write_all(b"in at the client machine\r\n");
    assert_eq!(server_tty.read_n(26), b"in at the client machine\r\n");
    server_tty.write_all(b"in at the server machine\r\n");
    assert_eq!(client_tty.read_n(26), b"in at the server machine\r\n");
    raw_at(&server_tty, BaudRate::B9600);
    raw_at(&client_tty, BaudRate::B9600);
}

/// Examples 1 and 3: a program opens /dev/remserial1 and talks to the server's serial port.
#[test]
fn example_3_makes_the_link_to_a_pty() {
    if share_util::skip_without_mount_ns() {
        return;
    }
    let mut page = Page::new();
    let mut server_tty = page.tty("server", "ttyS0");
    page.run(SERVER, "server");
    page.listening(23000);
    page.run(VIRTUAL, "client");
    let link = page.dir().join("client/dev/remserial1");
    wait_for("/dev/remserial1", || link.exists());
    let target = std::fs::read_link(&link).unwrap();
    assert!(target.starts_with("/dev/pts/"), "{}", target.display());
    let mut app = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&link)
        .unwrap();
    tty::set_raw(&app).unwrap();
    wait_for("the session", || page.locked("server", &server_tty));
    server_tty.exchange(&mut app, b"AT\r", b"OK\r\n");
    // Stopped, it takes its link away (remserial unlinks it on SIGTERM too).
    let pid = page.pids.pop().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_for("the link to go", || !link.exists() && !alive(pid));
}

/// The console farm: one server per serial port; `telnet control-server-name 23002` reaches
/// the third server's console.
#[test]
fn console_farm_of_four_servers() {
    if share_util::skip_without_mount_ns() {
        return;
    }
    let mut page = Page::new();
    let mut ttys: Vec<Dev> = (0..4)
        .map(|i| page.tty("server", &format!("ttyS{i}")))
        .collect();
    // As a script would hold it: the page's line, one command per line, straight quotes.
    let farm = FARM_AS_PRINTED
        .replace('\u{201c}', "\"")
        .replace(" & ", " &\n");
    page.run(&farm, "server");
    for (i, p) in (23000..23004).enumerate() {
        page.listening(p);
        let mut c = connect(page.addr(p));
        both_ways(&mut c, &mut ttys[i], &format!("port {p}"));
        raw_at(&ttys[i], BaudRate::B115200);
    }
    let mut third = connect(page.addr(23002));
    third.write_all(b"root\r").unwrap();
    assert_eq!(ttys[2].read_n(5), b"root\r");
    for (i, d) in ttys.iter_mut().enumerate() {
        if i != 2 {
            assert!(d.drain_for(Duration::from_millis(300)).is_empty());
        }
    }
}

/// The farm's line exactly as printed: its typographic quotes reach remserial inside the
/// words, and the error says so instead of exporting something half right.
#[test]
fn console_farm_as_printed_names_the_typographic_quote() {
    if share_util::skip_without_mount_ns() {
        return;
    }
    let mut page = Page::new();
    let _ttys: Vec<Dev> = (0..4)
        .map(|i| page.tty("server", &format!("ttyS{i}")))
        .collect();
    let err = page.run(FARM_AS_PRINTED, "server");
    assert!(
        err.contains("unknown stty word \"\u{201c}115200\""),
        "{err}"
    );
    assert!(err.contains("typographic quote"), "{err}");
    std::thread::sleep(Duration::from_millis(300));
    for p in 23000..23004 {
        assert!(TcpStream::connect(page.addr(p)).is_err(), "port {p}");
    }
}

/// `rgetty-share remserial ARGS` is the same as the `remserial` link.
#[test]
fn subcommand_and_link_agree() {
    let t = tmpdir();
    std::os::unix::fs::symlink(BIN, t.path().join("remserial")).unwrap();
    for prog in [t.path().join("remserial"), PathBuf::from(BIN)] {
        let mut cmd = Command::new(&prog);
        if prog == Path::new(BIN) {
            cmd.arg("remserial");
        }
        let out = cmd.args(["-r", "h", "/dev/ptmx"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("remserial: /dev/ptmx needs -l linkname\nusage: remserial"),
            "{err}"
        );
    }
}

/// `make install-remserial-link`: the link when the name is free, never over a remserial.
#[test]
fn make_install_remserial_link_never_replaces_a_remserial() {
    if !share_util::have("make") {
        return;
    }
    let t = tmpdir();
    let make = |dest: &Path| {
        Command::new("make")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["-s", "install-remserial-link", "PREFIX=/usr"])
            .arg(format!("DESTDIR={}", dest.display()))
            .output()
            .unwrap()
    };
    let free = t.path().join("free");
    let out = make(&free);
    assert!(out.status.success(), "{out:?}");
    let link = free.join("usr/bin/remserial");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("rgetty-share")
    );
    assert!(make(&free).status.success(), "again: the link is there");
    let taken = t.path().join("taken");
    std::fs::create_dir_all(taken.join("usr/bin")).unwrap();
    std::fs::write(taken.join("usr/bin/remserial"), "the real one").unwrap();
    let out = make(&taken);
    assert_eq!(
        out.status.code(),
        Some(2),
        "make's status for a failed recipe"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("a remserial is installed"));
    let kept = std::fs::read_to_string(taken.join("usr/bin/remserial")).unwrap();
    assert_eq!(kept, "the real one");
}
