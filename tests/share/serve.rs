//! Integration tests of `rgetty-share`: real binaries, pty pairs as devices (the test holds the
//! master as the far end), a temp dir per test for locks and port files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rgetty::proto::telnet::{ComPort, Decoder, Event};
use rgetty::sys::tty;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::share_util;
use share_util::*;

#[test]
fn raw_port_is_binary_clean_both_ways() {
    let (tmp, mut d, srv) = serve_dev(&[]);
    let mut c = connect(srv.addrs[0]);
    let all: Vec<u8> = (0..=255u8)
        .chain([255, 253, 1, 255, 250, 44, 1, 255, 240])
        .collect();
    c.write_all(&all).unwrap();
    assert_eq!(d.read_n(all.len()), all);
    d.write_all(&all);
    let mut got = vec![0u8; all.len()];
    c.read_exact(&mut got).unwrap();
    assert_eq!(got, all);
    // The lock exists while connected, under every name of the device.
    let ld = rgetty::sys::lock::LockDir::new(
        tmp.path().join("lock"),
        rgetty::sys::lock::Naming::Upstream,
    );
    let mut names: Vec<String> = ld
        .lock_names_for(&d.path)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(lock_files(tmp.path()), names);
    assert!(
        names.contains(
            &lock_name(tmp.path(), &d.path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        )
    );
    drop(c);
    wait_for("the lock to go", || lock_files(tmp.path()).is_empty());
}

#[test]
fn telnet_port_escapes_iac() {
    let (_tmp, mut d, srv) = serve_dev(&["--mode", "rfc2217"]);
    let mut c = connect(srv.addrs[0]);
    c.write_all(b"a\xff\xffb\xff\xf1c").unwrap(); // IAC IAC = 0xff, IAC NOP dropped
    assert_eq!(d.read_n(4), b"a\xffbc");
    d.write_all(b"x\xffy");
    let mut dec = Decoder::new();
    let (mut data, mut ev) = (Vec::new(), Vec::new());
    let mut raw = Vec::new();
    let mut b = [0u8; 256];
    while data.len() < 3 {
        let n = c.read(&mut b).unwrap();
        assert!(n > 0);
        raw.extend_from_slice(&b[..n]);
        dec.feed(&b[..n], &mut data, &mut ev);
    }
    assert_eq!(data, b"x\xffy");
    assert!(raw.windows(4).any(|w| w == b"x\xff\xffy"), "{raw:?}");
}

#[test]
fn acl_refuses_without_touching_the_device() {
    let tmp = tmpdir();
    let d = dev();
    tty::set_speed(&d.slave, 1200).unwrap();
    let srv = serve(
        tmp.path(),
        &["-p", "0", "--allow", "127.0.0.1", d.path.to_str().unwrap()],
    );
    // Connect from 127.0.0.2.
    let mut s = connect_from("127.0.0.2", srv.addrs[0]);
    let msg = read_to_eof(&mut s);
    assert!(msg.contains("access denied"), "{msg:?}");
    assert!(lock_files(tmp.path()).is_empty());
    assert_eq!(tty::get_speed(&d.slave).unwrap(), 1200);
    // Loopback 127.0.0.1 is admitted.
    let mut c = connect(srv.addrs[0]);
    c.write_all(b"ok").unwrap();
    let mut d = d;
    assert_eq!(d.read_n(2), b"ok");
}

#[test]
fn default_acl_is_loopback_only_and_listens_on_loopback() {
    let (_tmp, _d, srv) = serve_dev(&[]);
    assert!(srv.addrs[0].ip().is_loopback());
}

#[test]
fn lock_held_by_a_getty_means_line_busy() {
    let tmp = tmpdir();
    let mut d = dev();
    tty::set_speed(&d.slave, 1200).unwrap();
    // The server is given a symlink; the getty locked the real name.
    let link = tmp.path().join("modem");
    std::os::unix::fs::symlink(&d.path, &link).unwrap();
    let srv = serve(
        tmp.path(),
        &["-p", "0", "-s", "9600", link.to_str().unwrap()],
    );
    let mut getty = getty_lock(tmp.path(), &d.path);
    let mut c = connect(srv.addrs[0]);
    let msg = read_to_eof(&mut c);
    assert!(msg.contains("line busy"), "{msg:?}");
    assert_eq!(tty::get_speed(&d.slave).unwrap(), 1200, "device touched");
    // The getty goes away: its lock is stale now and is taken over.
    let _ = getty.child.kill();
    let _ = getty.child.wait();
    let mut c = connect(srv.addrs[0]);
    c.write_all(b"hi").unwrap();
    assert_eq!(d.read_n(2), b"hi");
    assert_eq!(tty::get_speed(&d.slave).unwrap(), 9600);
    drop(c);
    wait_for("the lock to go", || lock_files(tmp.path()).is_empty());
    assert_eq!(
        tty::get_speed(&d.slave).unwrap(),
        1200,
        "termios not restored"
    );
}

#[test]
fn close_right_after_256k_loses_nothing_10_trials() {
    let (tmp, mut d, srv) = serve_dev(&[]);
    for trial in 0..10u32 {
        let data = pattern(256 * 1024, trial + 1);
        let a = srv.addrs[0];
        let sent = data.clone();
        let writer = std::thread::spawn(move || {
            let mut c = TcpStream::connect(a).unwrap();
            c.write_all(&sent).unwrap();
            // Close at once.
        });
        let got = d.read_n(data.len());
        writer.join().unwrap();
        assert!(got == data, "trial {trial}: data differs");
        wait_for("the session to close", || lock_files(tmp.path()).is_empty());
        assert!(d.drain_for(Duration::from_millis(50)).is_empty());
    }
}

#[test]
fn hundred_connect_cycles_leak_nothing() {
    let (tmp, mut d, srv) = serve_dev(&[]);
    let pid = srv.proc.pid();
    let cycle = |d: &mut Dev, i: usize| {
        let mut c = connect(srv.addrs[0]);
        c.write_all(&[i as u8]).unwrap();
        assert_eq!(d.read_n(1), [i as u8]);
        drop(c);
        wait_for("the lock to go", || lock_files(tmp.path()).is_empty());
    };
    for i in 0..5 {
        cycle(&mut d, i);
    }
    let (fds0, rss0) = (fd_count(pid), rss_kib(pid));
    for i in 0..100 {
        cycle(&mut d, i);
    }
    let (fds1, rss1) = (fd_count(pid), rss_kib(pid));
    assert_eq!(fds0, fds1, "fd count grew");
    assert!(rss1 <= rss0 + 64, "rss grew from {rss0} to {rss1} KiB");
}

#[test]
fn second_client_over_the_limit_is_refused_with_a_message() {
    let (_tmp, d, srv) = serve_dev(&[]);
    let mut c1 = connect(srv.addrs[0]);
    c1.write_all(b"1").unwrap();
    let mut d = d;
    assert_eq!(d.read_n(1), b"1");
    let mut c2 = connect(srv.addrs[0]);
    let msg = read_to_eof(&mut c2);
    let want = format!("device {} is in use by 1 client(s)\r\n", d.path.display());
    assert_eq!(msg, want);
    // The first client is unaffected.
    c1.write_all(b"2").unwrap();
    assert_eq!(d.read_n(1), b"2");
}

#[test]
fn shared_port_broadcasts_and_merges_and_drops_a_stalled_client() {
    let (_tmp, mut d, srv) = serve_dev(&["-m", "2"]);
    let mut a = connect(srv.addrs[0]);
    let mut b = connect(srv.addrs[0]);
    a.write_all(b"A").unwrap();
    assert_eq!(d.read_n(1), b"A");
    b.write_all(b"B").unwrap();
    assert_eq!(d.read_n(1), b"B");
    d.write_all(b"both");
    for c in [&mut a, &mut b] {
        let mut g = [0u8; 4];
        c.read_exact(&mut g).unwrap();
        assert_eq!(&g, b"both");
    }
    // b stops reading; a keeps up and receives everything while b is dropped.
    let total = 24 * 1024 * 1024;
    let mut a2 = a.try_clone().unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = 0usize;
        let mut buf = vec![0u8; 65536];
        while got < total {
            let n = a2.read(&mut buf).unwrap();
            assert!(n > 0, "a got eof after {got}");
            got += n;
        }
        got
    });
    let chunk = vec![0x55u8; 65536];
    for _ in 0..total / chunk.len() {
        d.write_all(&chunk);
    }
    assert_eq!(reader.join().unwrap(), total);
    // b was dropped: it reads its backlog and then EOF.
    b.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut sink = Vec::new();
    let r = b.read_to_end(&mut sink);
    assert!(r.is_ok() || sink.len() < total, "b was not dropped");
    assert!(sink.len() < total);
}

#[test]
fn inetd_mode_serves_the_socket_on_stdin() {
    let tmp = tmpdir();
    let mut d = dev();
    let (mut c, mut p) = spawn_inetd(tmp.path(), &["serve", "--inetd", "-s", "19200"], &d.path);
    c.write_all(b"ping").unwrap();
    assert_eq!(d.read_n(4), b"ping");
    assert_eq!(tty::get_speed(&d.slave).unwrap(), 19200);
    d.write_all(b"pong");
    let mut g = [0u8; 4];
    c.read_exact(&mut g).unwrap();
    assert_eq!(&g, b"pong");
    drop(c);
    let st = p.wait_exit(DEADLINE).expect("inetd server did not exit");
    assert!(st.success());
    assert!(lock_files(tmp.path()).is_empty());
}

/// Start the server with `fd` as systemd's fd 3.
fn spawn_systemd(tmp: &Path, fd: OwnedFd, dev: &Path) -> Proc {
    let lock = tmp.join("lock");
    std::fs::create_dir_all(&lock).unwrap();
    let raw = fd.as_raw_fd();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\"")
        .arg(BIN)
        .args(["serve", "--inetd", "--lock-dir"])
        .arg(&lock)
        .arg(dev)
        .stdin(Stdio::null());
    // SAFETY: dup2 is async-signal-safe; `raw` stays open in the parent until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    drop(fd);
    Proc { child }
}

#[test]
fn systemd_socket_activation_accept_no_and_yes() {
    // Accept=no: a listening socket on fd 3, served for ever.
    let tmp = tmpdir();
    let mut d = dev();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    let _p = spawn_systemd(tmp.path(), OwnedFd::from(l), &d.path);
    for i in 0..2u8 {
        let mut c = connect(a);
        c.write_all(&[b'0' + i]).unwrap();
        assert_eq!(d.read_n(1), [b'0' + i]);
        drop(c);
        wait_for("the lock to go", || lock_files(tmp.path()).is_empty());
    }
    // Accept=yes: a connected socket on fd 3, one connection then exit.
    let tmp = tmpdir();
    let mut d = dev();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = connect(l.local_addr().unwrap());
    let (s, _) = l.accept().unwrap();
    let mut p = spawn_systemd(tmp.path(), OwnedFd::from(s), &d.path);
    c.write_all(b"yes").unwrap();
    assert_eq!(d.read_n(3), b"yes");
    drop(c);
    assert!(p.wait_exit(DEADLINE).is_some(), "did not exit");
}

#[test]
fn pool_gives_free_lines_then_all_lines_busy() {
    let tmp = tmpdir();
    let mut devs = [dev(), dev(), dev()];
    let _getty = getty_lock(tmp.path(), &devs[1].path);
    let conf = tmp.path().join("share.conf");
    std::fs::write(
        &conf,
        format!(
            "# pool\n127.0.0.1:0 {},{},{} 9600,8,N,1 127.0.0.1\n",
            devs[0].path.display(),
            devs[1].path.display(),
            devs[2].path.display()
        ),
    )
    .unwrap();
    let srv = serve(tmp.path(), &["--config", conf.to_str().unwrap()]);
    let mut c1 = connect(srv.addrs[0]);
    c1.write_all(b"one").unwrap();
    assert_eq!(devs[0].read_n(3), b"one");
    let mut c2 = connect(srv.addrs[0]);
    c2.write_all(b"two").unwrap();
    assert_eq!(devs[2].read_n(3), b"two");
    assert!(devs[1].drain_for(Duration::from_millis(100)).is_empty());
    let mut c3 = connect(srv.addrs[0]);
    let msg = read_to_eof(&mut c3);
    assert!(msg.contains("all lines busy"), "{msg:?}");
}

#[test]
fn sighup_reload_keeps_sessions_on_unchanged_ports() {
    let tmp = tmpdir();
    let (mut d1, mut d2) = (dev(), dev());
    let conf = tmp.path().join("share.conf");
    // Fixed ports are needed to match lines across reloads: pick free ones.
    let free = free_port;
    let (p1, p2, p3) = (free(), free(), free());
    let line = |p: u16, d: &Path, extra: &str| {
        format!("127.0.0.1:{p} {} - 127.0.0.1 {extra}\n", d.display())
    };
    std::fs::write(&conf, line(p1, &d1.path, "") + &line(p2, &d2.path, "")).unwrap();
    let srv = serve(tmp.path(), &["--config", conf.to_str().unwrap()]);
    let mut c = connect(srv.addrs[0]);
    c.write_all(b"before").unwrap();
    assert_eq!(d1.read_n(6), b"before");
    let mut c2 = connect(srv.addrs[1]);
    c2.write_all(b"two").unwrap();
    assert_eq!(d2.read_n(3), b"two");
    let d3 = dev();
    std::fs::write(
        &conf,
        line(p1, &d1.path, "")
            + &line(p2, &d2.path, "banner=\"new\\r\\n\"")
            + &line(p3, &d3.path, ""),
    )
    .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(srv.proc.pid()),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    // The new port comes up.
    wait_for("the new port", || {
        TcpStream::connect(("127.0.0.1", p3)).is_ok()
    });
    c.write_all(b"after").unwrap();
    assert_eq!(d1.read_n(5), b"after");
    d1.write_all(b"back");
    let mut g = [0u8; 4];
    c.read_exact(&mut g).unwrap();
    assert_eq!(&g, b"back");
    // The changed port: the live session goes on with the old settings, and the line stays
    // busy for newcomers until it ends; then they get the new settings.
    c2.write_all(b"still").unwrap();
    assert_eq!(d2.read_n(5), b"still");
    let mut c3 = connect(SocketAddr::from(([127, 0, 0, 1], p2)));
    assert!(read_to_eof(&mut c3).contains("line busy"));
    drop(c2);
    let l2 = lock_name(tmp.path(), &d2.path);
    wait_for("the old session to end", || !l2.exists());
    let mut c4 = connect(SocketAddr::from(([127, 0, 0, 1], p2)));
    let mut g = [0u8; 5];
    c4.read_exact(&mut g).unwrap();
    assert_eq!(&g, b"new\r\n");
}

#[test]
fn idle_timeout_and_banner() {
    let (_tmp, d, srv) = serve_dev(&["--idle-timeout", "1", "--banner", "hello \\d\\r\\n"]);
    let mut c = connect(srv.addrs[0]);
    let t = Instant::now();
    let text = read_to_eof(&mut c);
    assert_eq!(text, format!("hello {}\r\n", d.path.display()));
    assert!(t.elapsed() >= Duration::from_millis(900));
}

/// `rgetty-share connect ARGS --link LINK --lock-dir LOCK_DIR`: the virtual port's client.
fn connect_link(args: &[&str], link: &Path, lock_dir: &Path) -> Proc {
    let child = Command::new(BIN)
        .arg("connect")
        .args(args)
        .arg("--link")
        .arg(link)
        .arg("--lock-dir")
        .arg(lock_dir)
        .spawn()
        .unwrap();
    Proc { child }
}

/// The application's end of the virtual port: `link`, once it is there, opened raw.
fn open_link(link: &Path) -> OwnedFd {
    wait_for("the link", || link.exists());
    let app = tty::open_line(link, false).unwrap();
    tty::set_raw(&app).unwrap();
    app
}

/// The client with --link against our RFC 2217 server: data and termios changes go through.
#[test]
fn virtual_port_forwards_termios_to_our_server() {
    let (tmp, mut d, srv) = serve_dev(&["--mode", "rfc2217"]);
    let link = tmp.path().join("vcom");
    let _client = connect_link(
        &[&srv.addrs[0].to_string(), "--mode", "rfc2217"],
        &link,
        &tmp.path().join("clock"),
    );
    let app = open_link(&link);
    tty::set_speed(&app, 19200).unwrap();
    wait_for("19200 at the far end", || {
        tty::get_speed(&d.master).unwrap() == 19200
    });
    tty::set_speed(&app, 115_200).unwrap();
    wait_for("115200 at the far end", || {
        tty::get_speed(&d.master).unwrap() == 115_200
    });
    // Stop bits too (a pty keeps CSTOPB; it forces CS8 and no parity, so those cannot be
    // observed on a pty at either end).
    let mut p = tty::get_params(&app).unwrap();
    p.stop_bits = tty::StopBits::Two;
    tty::set_params(&app, &p).unwrap();
    wait_for("2 stop bits at the far end", || {
        tty::get_params(&d.master).unwrap().stop_bits == tty::StopBits::Two
    });
    let mut app = std::fs::File::from(app);
    d.exchange(&mut app, b"through\xff", b"back\xff");
}

/// Two machines' worth: pty A exported by a server, pty B bridged by a client.
#[test]
fn two_ptys_joined_end_to_end() {
    let tmp = tmpdir();
    let mut a = dev();
    let mut b = dev();
    let srv = serve(tmp.path(), &["-p", "0", a.path.to_str().unwrap()]);
    let clock = tmp.path().join("clock");
    std::fs::create_dir_all(&clock).unwrap();
    let child = Command::new(BIN)
        .args(["connect", &srv.addrs[0].to_string()])
        .arg(&b.path)
        .arg("--lock-dir")
        .arg(&clock)
        .spawn()
        .unwrap();
    let _client = Proc { child };
    wait_for("the session", || !lock_files(tmp.path()).is_empty());
    let data = pattern(100_000, 7);
    a.write_all(&data);
    assert!(b.read_n(data.len()) == data);
    b.write_all(&data);
    assert!(a.read_n(data.len()) == data);
}

#[test]
fn pyserial_strict_open_and_baud_change() {
    let ok = Command::new("python3")
        .args(["-c", "import serial.rfc2217"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("SKIP: python3 with pyserial is not installed");
        return;
    }
    let tmp = tmpdir();
    let d = dev();
    tty::set_speed(&d.slave, 1200).unwrap();
    let srv = serve(
        tmp.path(),
        &["-p", "0", "--mode", "rfc2217", d.path.to_str().unwrap()],
    );
    let script = format!(
        "import serial,sys,time\n\
         s=serial.serial_for_url('rfc2217://127.0.0.1:{}', baudrate=9600, timeout=2)\n\
         print('open', flush=True)\n\
         sys.stdin.readline()\n\
         s.baudrate=115200\n\
         print('set', flush=True)\n\
         s.write(b'\\xffpy'); s.flush()\n\
         d=s.read(3); print(d.hex(), flush=True)\n\
         sys.stdin.readline()\n\
         s.close()\n",
        srv.addrs[0].port()
    );
    let mut py = Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(py.stdout.take().unwrap());
    let mut inp = py.stdin.take().unwrap();
    let mut line = String::new();
    use std::io::BufRead;
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "open", "strict open failed");
    assert_eq!(tty::get_speed(&d.master).unwrap(), 9600);
    inp.write_all(b"\n").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "set");
    wait_for("115200", || tty::get_speed(&d.master).unwrap() == 115_200);
    let mut d = d;
    assert_eq!(d.read_n(3), b"\xffpy");
    d.write_all(b"\xff\x00z");
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ff007a");
    inp.write_all(b"\n").unwrap();
    assert!(py.wait().unwrap().success());
}

#[test]
fn rfc2217_requests_are_answered_from_the_device() {
    let (_tmp, d, srv) = serve_dev(&["--mode", "rfc2217"]);
    let mut c = connect(srv.addrs[0]);
    let mut req = Vec::new();
    for m in [
        ComPort::SetBaudrate(38400),
        ComPort::SetDatasize(8),
        ComPort::SetParity(1),
        ComPort::SetStopsize(2),
        ComPort::SetControl(8),
        ComPort::SetControl(11),
        ComPort::SetControl(1),
        ComPort::Purge(3),
        ComPort::SetBaudrate(0),
        ComPort::NotifyModemstate(0),
    ] {
        m.encode(false, &mut req);
    }
    c.write_all(&req).unwrap();
    let mut dec = Decoder::new();
    let (mut data, mut ev) = (Vec::new(), Vec::new());
    let mut replies = Vec::new();
    let mut b = [0u8; 512];
    while replies.len() < 11 {
        let n = c.read(&mut b).unwrap();
        assert!(n > 0, "eof after {replies:?}");
        dec.feed(&b[..n], &mut data, &mut ev);
        for e in ev.drain(..) {
            if let Event::Sub { payload, .. } = e {
                let (m, server) = ComPort::parse(&payload).unwrap();
                assert!(server);
                replies.push(m);
            }
        }
    }
    assert_eq!(
        replies,
        vec![
            ComPort::NotifyModemstate(0xb0), // sent on connect
            ComPort::SetBaudrate(38400),
            ComPort::SetDatasize(8),
            ComPort::SetParity(1),
            ComPort::SetStopsize(2),
            ComPort::SetControl(8),
            ComPort::SetControl(11),
            ComPort::SetControl(1),
            ComPort::Purge(3),
            ComPort::SetBaudrate(38400),
            ComPort::NotifyModemstate(0xb0),
        ]
    );
    assert_eq!(tty::get_speed(&d.master).unwrap(), 38400);
    // Masks, BREAK (IAC BRK and SET-CONTROL), DTR off, queries.
    let mut req = vec![0xff, 0xf3];
    for m in [
        ComPort::SetModemstateMask(0x10),
        ComPort::NotifyModemstate(0),
        ComPort::SetLinestateMask(0x60),
        ComPort::NotifyLinestate(0),
        ComPort::SetControl(5),
        ComPort::SetControl(4),
        ComPort::SetControl(6),
        ComPort::SetControl(9),
        ComPort::SetControl(7),
        ComPort::SetControl(0),
        ComPort::SetParity(0),
        ComPort::Signature(Vec::new()),
    ] {
        m.encode(false, &mut req);
    }
    c.write_all(&req).unwrap();
    replies.clear();
    while replies.len() < 12 {
        let n = c.read(&mut b).unwrap();
        assert!(n > 0, "eof after {replies:?}");
        dec.feed(&b[..n], &mut data, &mut ev);
        for e in ev.drain(..) {
            if let Event::Sub { payload, .. } = e {
                replies.push(ComPort::parse(&payload).unwrap().0);
            }
        }
    }
    let sig = format!(
        "rgetty-share {} {}",
        env!("CARGO_PKG_VERSION"),
        d.path.display()
    );
    assert_eq!(
        replies,
        vec![
            ComPort::SetModemstateMask(0x10),
            ComPort::NotifyModemstate(0x10),
            ComPort::SetLinestateMask(0x60),
            ComPort::NotifyLinestate(0x60),
            ComPort::SetControl(5),
            ComPort::SetControl(5),
            ComPort::SetControl(6),
            ComPort::SetControl(9),
            ComPort::SetControl(9),
            ComPort::SetControl(1),
            ComPort::SetParity(1),
            ComPort::Signature(sig.into_bytes()),
        ]
    );
}

#[test]
fn socat_and_nc_as_raw_clients() {
    let (tmp, mut d, srv) = serve_dev(&[]);
    let a = srv.addrs[0];
    if have("socat") {
        let mut p = Command::new("socat")
            .args(["-u", "-", &format!("TCP:{a}")])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        p.stdin.take().unwrap().write_all(b"via socat\xff").unwrap();
        assert_eq!(d.read_n(10), b"via socat\xff");
        assert!(p.wait().unwrap().success());
        wait_for("the lock to go", || lock_files(tmp.path()).is_empty());
    }
    if have("nc") {
        let mut p = Command::new("nc")
            .args(["-N", &a.ip().to_string(), &a.port().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        p.stdin.take().unwrap().write_all(b"via nc").unwrap();
        assert_eq!(d.read_n(6), b"via nc");
        let _ = p.wait();
    }
}

#[test]
fn our_client_against_sredird() {
    if !have("sredird") {
        return;
    }
    let tmp = tmpdir();
    let mut d = dev();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    let link = tmp.path().join("vcom");
    let _client = connect_link(&[&a.to_string(), "--mode", "rfc2217"], &link, tmp.path());
    let (s, _) = l.accept().unwrap();
    let child = Command::new("sredird")
        .arg("5")
        .arg(&d.path)
        .arg(tmp.path().join("LCK..sredird"))
        .stdin(Stdio::from(OwnedFd::from(s.try_clone().unwrap())))
        .stdout(Stdio::from(OwnedFd::from(s)))
        .spawn()
        .unwrap();
    let _sredird = Proc { child };
    let app = open_link(&link);
    tty::set_speed(&app, 57600).unwrap();
    wait_for("57600 at the far end", || {
        tty::get_speed(&d.master).unwrap() == 57600
    });
    let mut app = std::fs::File::from(app);
    d.exchange(&mut app, b"sred\xff", b"dird\xff");
}

#[test]
fn cyclades_serial_client_against_our_server() {
    if !have("cyclades-ser-cli") {
        return;
    }
    let (tmp, mut d, srv) = serve_dev(&["--mode", "rfc2217"]);
    let port = srv.addrs[0].port();
    let link = tmp.path().join("cyc");
    let child = Command::new("cyclades-ser-cli")
        .args(["-x", "-m", "1", "-p", &(port - 1).to_string()])
        .arg(&link)
        .args(["127.0.0.1", "1"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let _cyc = Proc { child };
    wait_for("the cyclades link", || link.exists());
    wait_for("the session", || !lock_files(tmp.path()).is_empty());
    let app = tty::open_line(&link, false).unwrap();
    tty::set_raw(&app).unwrap();
    let mut app = std::fs::File::from(app);
    d.exchange(&mut app, b"cyc\xff", b"lades");
}

/// `rgetty-share serve --check --config CONF`: its exit status and output.
fn check_config(conf: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(["serve", "--check", "--config"])
        .arg(conf)
        .output()
        .unwrap()
}

#[test]
fn bad_config_lines_are_all_reported() {
    let tmp = tmpdir();
    let conf = tmp.path().join("bad.conf");
    std::fs::write(&conf, "5800 /dev/x 9600\n5801 /dev/y 9600 * mode=nope\n").unwrap();
    let out = check_config(&conf);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.conf:1:"), "{err}");
    assert!(err.contains("bad.conf:2: bad mode \"nope\""), "{err}");
}

/// The client waits for a server that is not up yet, and reconnects after it restarts.
#[test]
fn client_reconnects_with_backoff() {
    let tmp = tmpdir();
    let mut d = dev();
    let port = free_port();
    let link = tmp.path().join("vcom");
    let _client = connect_link(
        &[&format!("127.0.0.1:{port}"), "--max-backoff", "2"],
        &link,
        tmp.path(),
    );
    let app = open_link(&link);
    let mut app = std::fs::File::from(app);
    let p = port.to_string();
    let dp = d.path.to_str().unwrap().to_string();
    for round in 0..2u8 {
        let srv = serve(tmp.path(), &["-p", &p, &dp]);
        wait_for("the client to connect", || {
            !lock_files(tmp.path()).is_empty()
        });
        d.exchange(&mut app, &[b'a' + round], &[b'A' + round]);
        // A clean stop (SIGTERM) removes the lock.
        let mut srv = srv;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(srv.proc.pid()),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        assert!(srv.proc.wait_exit(DEADLINE).is_some_and(|s| s.success()));
        assert!(lock_files(tmp.path()).is_empty());
    }
}

/// A pool with max=2 fills free lines first, then shares.
#[test]
fn pool_prefers_free_lines_then_shares_up_to_max() {
    let tmp = tmpdir();
    let mut devs = [dev(), dev()];
    let conf = tmp.path().join("share.conf");
    std::fs::write(
        &conf,
        format!(
            "127.0.0.1:0 {},{} - 127.0.0.1 max=2\n",
            devs[0].path.display(),
            devs[1].path.display()
        ),
    )
    .unwrap();
    let srv = serve(tmp.path(), &["--config", conf.to_str().unwrap()]);
    let mut cs: Vec<TcpStream> = (0..4).map(|_| connect(srv.addrs[0])).collect();
    for (i, c) in cs.iter_mut().enumerate() {
        c.write_all(&[b'0' + i as u8]).unwrap();
        // 0 → line 0, 1 → line 1, 2 → shares line 0, 3 → shares line 1.
        assert_eq!(devs[i % 2].read_n(1), [b'0' + i as u8]);
    }
    let mut c5 = connect(srv.addrs[0]);
    let msg = read_to_eof(&mut c5);
    assert!(msg.contains("all lines busy"), "{msg:?}");
}

#[test]
fn write_only_port_never_reads_the_device() {
    let (_tmp, mut d, srv) = serve_dev(&["-w"]);
    let mut c = connect(srv.addrs[0]);
    c.write_all(b"in").unwrap();
    assert_eq!(d.read_n(2), b"in");
    d.write_all(b"out");
    c.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut g = [0u8; 3];
    assert!(
        c.read(&mut g).is_err(),
        "device data reached a write-only client"
    );
}

#[test]
fn sample_config_is_valid() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/rgetty-share.conf");
    let out = check_config(&conf);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The commented-out lines are valid too: ports and the lab example's server-wide lines.
    let text = std::fs::read_to_string(&conf).unwrap();
    let uncommented: String = text
        .lines()
        .map(|l| {
            let t = l.trim_start_matches('#');
            let server_wide = ["control=", "reset-seq ", "alert "];
            if t.starts_with(|c: char| c.is_ascii_digit())
                || server_wide.iter().any(|w| t.starts_with(w))
            {
                t
            } else {
                l
            }
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let tmp = tmpdir();
    let all = tmp.path().join("all.conf");
    std::fs::write(&all, uncommented).unwrap();
    let out = check_config(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One device on two ports (once through a symlink): only one session at a time.
#[test]
fn same_device_on_two_ports_is_busy_on_the_second() {
    let tmp = tmpdir();
    let mut d = dev();
    let link = tmp.path().join("alias");
    std::os::unix::fs::symlink(&d.path, &link).unwrap();
    let conf = tmp.path().join("share.conf");
    std::fs::write(
        &conf,
        format!(
            "127.0.0.1:0 {} - 127.0.0.1\n127.0.0.2:0 {} - 127.0.0.1\n",
            d.path.display(),
            link.display()
        ),
    )
    .unwrap();
    let srv = serve(tmp.path(), &["--config", conf.to_str().unwrap()]);
    let mut c1 = connect(srv.addrs[0]);
    c1.write_all(b"1").unwrap();
    assert_eq!(d.read_n(1), b"1");
    let mut c2 = connect(srv.addrs[1]);
    let msg = read_to_eof(&mut c2);
    assert!(msg.contains("line busy"), "{msg:?}");
    drop(c1);
    wait_for("the lock to go", || lock_files(tmp.path()).is_empty());
    let mut c3 = connect(srv.addrs[1]);
    c3.write_all(b"3").unwrap();
    assert_eq!(d.read_n(1), b"3");
}

/// A SET request for the value the line already has makes no tcsetattr: 5,000 requests for
/// the current speed, then 500 that alternate, give about 500 `TCSETS*` calls (strace
/// attached to the running server), not 5,500.
#[test]
fn set_requests_that_change_nothing_make_no_tcsetattr() {
    if !have("strace") {
        return;
    }
    let tmp = tmpdir();
    let mut d = dev();
    tty::set_speed(&d.slave, 9600).unwrap();
    let srv = serve(
        tmp.path(),
        &["-p", "0", "--mode", "rfc2217", d.path.to_str().unwrap()],
    );
    let mut c = connect(srv.addrs[0]);
    c.write_all(b"a").unwrap();
    assert_eq!(d.read_n(1), b"a", "session up before tracing");
    let out = tmp.path().join("strace.txt");
    let Some(strace) = strace_attach(srv.proc.pid(), &["-e", "trace=ioctl"], &out) else {
        return;
    };
    let before = tcsets(&out);
    let mut req = Vec::new();
    for _ in 0..5_000 {
        ComPort::SetBaudrate(9600).encode(false, &mut req);
    }
    for i in 0..500 {
        ComPort::SetBaudrate(if i % 2 == 0 { 19_200 } else { 9600 }).encode(false, &mut req);
    }
    send_draining(&mut c, &req, &mut d);
    strace_detach(strace);
    let calls = tcsets(&out) - before;
    assert!(
        (500..=600).contains(&calls),
        "{calls} TCSETS* calls for 500 changes among 5,500 requests"
    );
}

/// How many tcsetattr calls (`ioctl(…, TCSETS…)`) an strace output file holds.
fn tcsets(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("TCSETS"))
        .count()
}

/// Idle means asleep: with 64 ports (one on an absent device) and no client, the server makes
/// no system call in 2 s; nor after a client has come and gone (its timers do not keep
/// firing).
#[test]
fn an_idle_server_makes_no_system_calls() {
    if !have("strace") {
        return;
    }
    let tmp = tmpdir();
    let mut d = dev();
    // 64 distinct free ports: hold them all bound while choosing, then release.
    let held: Vec<TcpListener> = (0..64)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = held
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    drop(held);
    let mut conf = format!(
        "127.0.0.1:{} {} - 127.0.0.1 mode=rfc2217\n",
        ports[0],
        d.path.display()
    );
    conf.push_str(&format!(
        "127.0.0.1:{} {}/absent - *\n",
        ports[1],
        tmp.path().display()
    ));
    for (i, p) in ports[2..].iter().enumerate() {
        conf.push_str(&format!("127.0.0.1:{p} /dev/rgetty-test-idle-{i} - *\n"));
    }
    let cf = tmp.path().join("share.conf");
    std::fs::write(&cf, conf).unwrap();
    let srv = serve(tmp.path(), &["--config", cf.to_str().unwrap()]);
    let traces = tmpdir();
    let quiet = |what: &str| {
        // Not in `tmp`: that directory is watched (the absent device), so a file made there
        // would wake the server.
        let out = traces.path().join(format!("strace-{}.txt", what.len()));
        let Some(st) = strace_attach(srv.proc.pid(), &[], &out) else {
            return false;
        };
        std::thread::sleep(Duration::from_secs(2));
        strace_detach(st);
        let calls = completed_calls(&out);
        assert!(
            calls.is_empty(),
            "{what}: {} calls: {calls:#?}",
            calls.len()
        );
        true
    };
    if !quiet("idle at start") {
        return;
    }
    let mut c = connect(srv.addrs[0]);
    c.write_all(b"hi").unwrap();
    assert_eq!(d.read_n(2), b"hi");
    drop(c);
    wait_for("the lock to go", || lock_files(tmp.path()).is_empty());
    std::thread::sleep(Duration::from_secs(1));
    quiet("idle after a client left");
}
