//! rgetty-share as a ser2net drop-in: ser2net's command line (labgrid's `-Y` lines, `-v`, the
//! binary called `ser2net`), `serve --ser2net-config` on real files (Debian's stock
//! ser2net.yaml, examples in ser2net.yaml(5)'s forms, a ConsolePi-style file), unsupported
//! options named by file:line, and 48 ports connected at once (ser2net #146).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rgetty::sys::tty;

use crate::share_util;
use share_util::*;

/// In CI a missing peer is a failure; elsewhere the test is skipped.
pub(crate) fn need(ok: bool, what: &str) -> bool {
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "{what} is missing in CI");
        println!("SKIP: {what} is not installed");
    }
    ok
}

pub(crate) fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// labgrid's exporter's command line for `port` and `dev` (labgrid/remote/exporter.py).
fn labgrid_args(port: u16, dev: &Path, speed: u32) -> Vec<String> {
    [
        "-d".to_string(),
        "-n".into(),
        "-Y".into(),
        format!("connection: &con01#  accepter: telnet(rfc2217,mode=server),tcp,{port}"),
        "-Y".into(),
        format!(
            "  connector: serialdev(nouucplock=true),{},{speed}n81,local",
            dev.display()
        ),
        "-Y".into(),
        "  options:".into(),
        "-Y".into(),
        "    max-connections: 10".into(),
    ]
    .into()
}

/// Wait until something listens on `a`.
fn wait_listening(p: &mut Proc, a: SocketAddr) {
    wait_for("the listener", || {
        if let Some(s) = p.child.try_wait().unwrap() {
            panic!("server exited: {s}");
        }
        TcpStream::connect(a).is_ok()
    });
}

/// `serve --check --ser2net-config FILE`.
fn check(f: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(["serve", "--check", "--ser2net-config"])
        .arg(f)
        .output()
        .unwrap()
}

/// Write `text` as `DIR/ser2net.yaml`, check that it has `ports` ports and no problem, and
/// serve it.
fn check_and_serve(dir: &Path, text: &str, ports: usize) -> Server {
    let f = dir.join("ser2net.yaml");
    std::fs::write(&f, text).unwrap();
    let out = check(&f);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("ok: {ports} ports\n"),
        "{out:?}"
    );
    serve(dir, &["--ser2net-config", f.to_str().unwrap()])
}

fn cflags(fd: &impl std::os::fd::AsFd) -> nix::sys::termios::ControlFlags {
    tty::get_termios(fd).unwrap().control_flags
}

#[test]
fn dash_y_lines_serve_a_pty_to_pyserial() {
    if !need(python_has("serial.rfc2217"), "python3 with pyserial") {
        return;
    }
    let mut d = dev();
    let port = free_port();
    let child = Command::new(BIN)
        .arg("ser2net")
        .args(labgrid_args(port, &d.path, 115_200))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut srv = Proc { child };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_listening(&mut srv, addr);
    let script = format!(
        "import serial,sys\n\
         s=serial.serial_for_url('rfc2217://127.0.0.1:{port}', baudrate=115200, timeout=5)\n\
         print('open', flush=True)\n\
         s.write(b'ping'); s.flush()\n\
         print(s.read(4).decode(), flush=True)\n\
         s.baudrate=9600\n\
         print('set', flush=True)\n\
         sys.stdin.readline()\n\
         s.reset_input_buffer(); s.reset_output_buffer()\n\
         print('purged', flush=True)\n\
         s.close()\n"
    );
    let (mut py, mut out) = python(&script, &[]);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "open");
    assert_eq!(d.read_n(4), b"ping");
    let c = cflags(&d.slave);
    use nix::sys::termios::ControlFlags as C;
    assert!(
        c.contains(C::CLOCAL) && c.contains(C::CS8) && !c.contains(C::PARENB),
        "{c:?}"
    );
    d.write_all(b"pong");
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "pong");
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "set");
    wait_for("9600 on the pty", || {
        tty::get_speed(&d.master).unwrap() == 9600
    });
    py.stdin.take().unwrap().write_all(b"\n").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "purged", "pyserial waits for the PURGE reply");
    assert!(py.wait().unwrap().success());
}

#[test]
fn version_and_the_name_ser2net() {
    let tmp = tmpdir();
    let link = tmp.path().join("ser2net");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    for cmd in [
        Command::new(&link).arg("-v").output().unwrap(),
        Command::new(BIN).args(["ser2net", "-v"]).output().unwrap(),
    ] {
        assert!(cmd.status.success());
        let out = String::from_utf8(cmd.stdout).unwrap();
        // labgrid: `_, _, version = stdout.split(" ")`, then ints joined by dots.
        let parts: Vec<&str> = out.split(' ').collect();
        assert_eq!(parts.len(), 3, "{out:?}");
        assert_eq!(parts[0], "rgetty-share");
        let v: Vec<u32> = parts[2]
            .trim()
            .split('.')
            .map(|n| n.parse().unwrap())
            .collect();
        assert!(v >= vec![4, 2, 0], "{v:?}: labgrid uses -Y from 4.2.0 on");
    }
    let p = Command::new(&link).args(["-p", "2000"]).output().unwrap();
    assert!(!p.status.success());
    assert!(String::from_utf8_lossy(&p.stderr).contains("no ser2net admin interface"));
}

#[test]
fn unsupported_options_are_named_by_file_and_line() {
    let tmp = tmpdir();
    let f = tmp.path().join("ser2net.yaml");
    std::fs::write(
        &f,
        "%YAML 1.1\n---\nconnection: &a\n  accepter: telnet,tcp,2000\n  connector: serialdev,/dev/ttyUSB9,9600n81,local\n  options:\n    openstr: hi\n    led-rx: x\n",
    )
    .unwrap();
    let out = check(&f);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let name = f.display();
    assert!(
        err.contains(&format!("{name}:7: option \"openstr\" not supported")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{name}:8: option \"led-rx\" not supported")),
        "{err}"
    );
    // The same file under the ser2net name: the same messages.
    let out = Command::new(BIN)
        .args(["ser2net", "-n", "-c"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{name}:7:")));
}

/// Debian's stock /etc/ser2net.yaml (from the installed package: GPL, not copied here), with
/// its serial ports and TCP ports swapped for ptys and free ports.
fn debian_stock(a: &Path, b: &Path, ports: &[u16; 4]) -> Option<String> {
    let text = std::fs::read_to_string("/etc/ser2net.yaml")
        .or_else(|_| std::fs::read_to_string("/etc/ser2net/ser2net.yaml"))
        .ok()?;
    // The file names the machine's UARTs; only the text is changed, they are never opened.
    let uart = |n: u8| format!("/dev/{}{n}", "ttyS");
    let mut t = text
        .replace(&uart(0), &a.display().to_string())
        .replace(&uart(1), &b.display().to_string());
    for (old, new) in ["2000", "2001", "3000", "3001"].iter().zip(ports) {
        t = t.replace(&format!(",{old}\n"), &format!(",{new}\n"));
    }
    Some(t)
}

#[test]
fn debian_stock_file_serves_the_same_ports() {
    let (mut a, b) = (dev(), dev());
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let Some(text) = debian_stock(&a.path, &b.path, &ports) else {
        need(false, "ser2net's /etc/ser2net.yaml");
        return;
    };
    let tmp = tmpdir();
    let srv = check_and_serve(tmp.path(), &text, 4);
    let mut addrs = srv.addrs.clone();
    addrs.sort();
    let mut want: Vec<SocketAddr> = ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}").parse().unwrap())
        .collect();
    want.sort();
    assert_eq!(addrs, want, "tcp,localhost,PORT listens on loopback");
    // con0192: ttyS0 at 19200n81, local, with Debian's banner.
    let mut c = connect(format!("127.0.0.1:{}", ports[2]).parse().unwrap());
    let banner = format!(
        "\r\nser2net port {} device {} [19200N81] (Debian GNU/Linux)\r\n\r\n",
        ports[2],
        a.path.display()
    );
    let mut got = vec![0u8; banner.len()];
    c.read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), banner);
    assert_eq!(tty::get_speed(&a.master).unwrap(), 19200);
    use nix::sys::termios::ControlFlags as C;
    let cf = cflags(&a.slave);
    assert!(
        cf.contains(C::CLOCAL | C::CS8) && !cf.intersects(C::PARENB | C::CSTOPB | C::CRTSCTS),
        "{cf:?}"
    );
    c.write_all(b"x").unwrap();
    assert_eq!(a.read_n(1), b"x");
    // kickolduser: a second client takes the port over.
    let mut c2 = connect(format!("127.0.0.1:{}", ports[2]).parse().unwrap());
    let mut got = vec![0u8; banner.len()];
    c2.read_exact(&mut got).unwrap();
    assert!(read_to_eof(&mut c).contains("taken over"));
    drop(b);
}

/// A ConsolePi-style file (one connection per adapter alias, telnet with RFC 2217, a banner
/// define, a trace file, a disabled port): it loads and serves.
#[test]
fn consolepi_style_file() {
    let tmp = tmpdir();
    let d = dev();
    let f = tmp.path().join("consolepi.yaml");
    let log = tmp.path().join("trace-\\p");
    let port = free_port();
    std::fs::write(
        &f,
        format!(
            "%YAML 1.1\n---\ndefine: &banner '\\r\\nConsolePi port \\p: \\d at \\B\\r\\n'\n\
             connection: &r1-8360-TOP\n  accepter: telnet(rfc2217),tcp,127.0.0.1,{port}\n  connector: serialdev,{},9600n81,local\n  options:\n    banner: *banner\n    max-connections: 3\n    trace-read: {}\n    trace-timestamp: true\n\
             connection: &toS0telnet\n  accepter: telnet(rfc2217),tcp,127.0.0.1,{}\n  enable: off\n  connector: serialdev,/dev/ttyS0,local\n",
            d.path.display(),
            log.display(),
            free_port()
        ),
    )
    .unwrap();
    let mport = free_port().to_string();
    let srv = serve(
        tmp.path(),
        &["--ser2net-config", f.to_str().unwrap(), "--metrics", &mport],
    );
    assert_eq!(srv.addrs.len(), 1, "the disabled connection is not served");
    let mut m = connect(format!("127.0.0.1:{mport}").parse().unwrap());
    m.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let metrics = read_to_eof(&mut m);
    assert!(
        metrics.contains(&format!("port=\"127.0.0.1:{port}\"")),
        "{metrics}"
    );
    let mut c = connect(srv.addrs[0]);
    let mut dec = rgetty::proto::telnet::Decoder::new();
    let (mut data, mut ev) = (Vec::new(), Vec::new());
    let want = format!("ConsolePi port {port}: {} at 9600N81", d.path.display());
    let mut b = [0u8; 512];
    while !String::from_utf8_lossy(&data).contains(&want) {
        let n = c.read(&mut b).unwrap();
        assert!(
            n > 0,
            "eof before the banner: {:?}",
            String::from_utf8_lossy(&data)
        );
        dec.feed(&b[..n], &mut data, &mut ev);
    }
    let traced = tmp.path().join(format!("trace-{port}"));
    wait_for("the trace file", || traced.exists());
}

/// ser2net #146: 4.3.5 hangs when more than 8 of 48 ports connect at once.
#[test]
fn forty_eight_ports_forty_eight_clients_at_once() {
    let tmp = tmpdir();
    let devs: Vec<Dev> = (0..48).map(|_| dev()).collect();
    let mut text = String::from("define: &b \\o\\r\\n\n");
    for (i, d) in devs.iter().enumerate() {
        text.push_str(&format!(
            "connection: &p{i:02}\n  accepter: tcp,127.0.0.1,0\n  connector: serialdev,{},115200n81,local\n  options:\n    banner: *b\n",
            d.path.display()
        ));
    }
    let f = tmp.path().join("48.yaml");
    std::fs::write(&f, text).unwrap();
    let srv = serve(tmp.path(), &["--ser2net-config", f.to_str().unwrap()]);
    assert_eq!(srv.addrs.len(), 48);
    let start = Instant::now();
    let handles: Vec<_> = srv
        .addrs
        .iter()
        .map(|&a| {
            std::thread::spawn(move || {
                let mut c = connect(a);
                let mut got = [0u8; 5];
                c.read_exact(&mut got).unwrap();
                (Instant::now(), String::from_utf8_lossy(&got).into_owned())
            })
        })
        .collect();
    let mut names = Vec::new();
    let mut last = start;
    for h in handles {
        let (t, n) = h.join().unwrap();
        last = last.max(t);
        names.push(n);
    }
    names.sort();
    assert_eq!(names.len(), 48);
    assert!(
        names
            .iter()
            .all(|n| n.starts_with('p') && n.ends_with("\r\n")),
        "{names:?}"
    );
    let took = last - start;
    assert!(
        took < Duration::from_secs(1),
        "48 clients served in {took:?}"
    );
}

/// The `connection: &name` examples of ser2net.yaml(5) (the installed page's roff: `.RS`/`.RE`
/// nest, `.br` breaks lines), as YAML texts.
fn man_examples(roff: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<(String, i32)> = None;
    let mut depth = 0i32;
    for l in roff.lines() {
        let text = l.replace("\\-", "-").replace("\\e", "\\");
        match l {
            ".RS" => depth += 1,
            ".RE" => {
                depth -= 1;
                if let Some((y, _)) = cur.take_if(|(_, s)| depth < *s) {
                    out.push(y);
                }
            }
            _ if l.starts_with('.') => {}
            _ if l.starts_with("connection: &") && !l.contains('<') => {
                cur = Some((format!("{text}\n"), depth))
            }
            _ => {
                if let Some((y, start)) = cur.as_mut() {
                    let indent = usize::try_from(2 * (depth - *start)).unwrap_or(0);
                    y.push_str(&format!("{}{}\n", " ".repeat(indent), text.trim()));
                }
            }
        }
    }
    out
}

/// Every example connection of the installed ser2net.yaml(5) loads, or each problem is named
/// by file:line inside the example.
#[test]
fn every_man_page_example_loads_or_is_refused_by_line() {
    let man = Command::new("sh")
        .args([
            "-c",
            "zcat /usr/share/man/man5/ser2net.yaml.5.gz 2>/dev/null",
        ])
        .output()
        .unwrap();
    let roff = String::from_utf8_lossy(&man.stdout);
    let examples = man_examples(&roff);
    if !need(
        examples.len() >= 4,
        "ser2net.yaml(5) (Debian's ser2net package)",
    ) {
        return;
    }
    let tmp = tmpdir();
    let (mut loaded, mut refused) = (0, 0);
    for (i, y) in examples.iter().enumerate() {
        let f = tmp.path().join(format!("man{i}.yaml"));
        std::fs::write(&f, y).unwrap();
        let out = check(&f);
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stdout), "ok: 1 ports\n", "{y}");
            loaded += 1;
            continue;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        let lines = y.lines().count();
        let named: Vec<&str> = err
            .lines()
            .filter(|l| l.contains(&format!("{}:", f.display())))
            .collect();
        assert!(named.len() >= 2, "{y}\n{err}");
        for l in named {
            let Some(rest) = l.split(&format!("{}:", f.display())).nth(1) else {
                continue;
            };
            let n = rest.split(':').next().unwrap_or("");
            if let Ok(n) = n.parse::<usize>() {
                assert!((1..=lines).contains(&n), "{l} outside the example:\n{y}");
                assert!(
                    rest.contains("not supported") || rest.contains("bad"),
                    "{l}"
                );
            }
        }
        refused += 1;
    }
    println!("ser2net.yaml(5): {loaded} examples load, {refused} refused by line");
    assert!(loaded >= 2, "the plain tcp and telnet examples load");
}

/// `-P pidfile` names the server; SIGHUP re-reads the file (a port added is served, a port
/// turned `enable: off` is not); `-C` with ser2net 3's one-line form serves too.
#[test]
fn pidfile_reload_and_the_v3_line() {
    let tmp = tmpdir();
    let (a, b) = (dev(), dev());
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let f = tmp.path().join("s.yaml");
    let conn = |name: &str, port: u16, d: &Path, extra: &str| {
        format!(
            "connection: &{name}\n  accepter: tcp,127.0.0.1,{port}\n{extra}  connector: serialdev(nouucplock),{},9600n81,local\n",
            d.display()
        )
    };
    std::fs::write(&f, conn("a", pa, &a.path, "")).unwrap();
    let pidfile = tmp.path().join("ser2net.pid");
    let v3 = format!(
        "127.0.0.1,{pc}:raw:0:{}:19200 EVEN 7DATABITS LOCAL",
        b.path.display()
    );
    let child = Command::new(BIN)
        .args(["ser2net", "-n", "-u", "-c"])
        .arg(&f)
        .arg("-P")
        .arg(&pidfile)
        .args(["-C", &v3])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut srv = Proc { child };
    wait_listening(&mut srv, format!("127.0.0.1:{pa}").parse().unwrap());
    wait_for("the pid file", || pidfile.exists());
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    assert_eq!(pid.trim(), srv.pid().to_string());
    // the -C line: raw TCP, 19200 on the device
    let mut c = connect(format!("127.0.0.1:{pc}").parse().unwrap());
    c.write_all(b"v3").unwrap();
    let mut b = b;
    assert_eq!(b.read_n(2), b"v3");
    assert_eq!(tty::get_speed(&b.master).unwrap(), 19200);
    // (a pty keeps CS8 and no parity whatever is asked: Linux's pty_set_termios)
    use nix::sys::termios::ControlFlags as C;
    assert!(cflags(&b.slave).contains(C::CLOCAL));
    drop(c);
    // reload: port a off, port b on
    let text = conn("a", pa, &a.path, "  enable: off\n") + &conn("b", pb, &a.path, "");
    std::fs::write(&f, text).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(srv.pid()),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    wait_for("port b after SIGHUP", || {
        TcpStream::connect(("127.0.0.1", pb)).is_ok()
    });
    wait_for("port a gone after SIGHUP", || {
        TcpStream::connect(("127.0.0.1", pa)).is_err()
    });
}

/// The shape of ConsolePi's shipped ser2net.yaml (src/ser2net.yaml there): a banner define,
/// trace-file defines with per-open time escapes (defined, unused), `mdns` defaults, one
/// `telnet(rfc2217)` connection per adapter with `kickolduser` and `telnet-brk-on-sync: true`:
/// it loads with no error and serves, kickolduser taking a port over.
#[test]
fn consolepi_shipped_shape() {
    let tmp = tmpdir();
    let devs: Vec<Dev> = (0..3).map(|_| dev()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut text = String::from(
        "%YAML 1.1\n---\n# ConsolePi-style\n\n\
         define: &banner \\r\\nser2net port \\p device \\d [\\B] (Debian GNU/Linux)\\r\\n\\r\\n\n\n\
         # TRACEFILE DEFINITIONS\n\
         define: &trace0 /var/log/ser2net/trace0-\\p-\\d-\\s\\p-\\M-\\D-\\Y_\\H\\i\\s.\\U\n\n\
         default:\n  name: mdns\n  value: false\n\n\
         default:\n  name: mdns-sysattrs\n  value: false\n\n",
    );
    for (i, (d, p)) in devs.iter().zip(&ports).enumerate() {
        text.push_str(&format!(
            "connection: &ttyUSB{i}\n  accepter: telnet(rfc2217),tcp,127.0.0.1,{p}\n  connector: serialdev,{},9600n81,local\n  enable: on\n  options:\n    banner: *banner\n    kickolduser: true\n",
            d.path.display()
        ));
        text.push_str("    telnet-brk-on-sync: true\n");
    }
    let srv = check_and_serve(tmp.path(), &text, 3);
    assert_eq!(srv.addrs.len(), 3);
    let banner = format!(
        "ser2net port {} device {} [9600N81] (Debian GNU/Linux)",
        ports[1],
        devs[1].path.display()
    );
    let read_banner = |c: &mut TcpStream| {
        let mut dec = rgetty::proto::telnet::Decoder::new();
        let (mut data, mut ev) = (Vec::new(), Vec::new());
        let mut b = [0u8; 512];
        while !String::from_utf8_lossy(&data).contains(&banner) {
            let n = c.read(&mut b).unwrap();
            assert!(n > 0, "eof: {:?}", String::from_utf8_lossy(&data));
            dec.feed(&b[..n], &mut data, &mut ev);
        }
    };
    let addr: SocketAddr = format!("127.0.0.1:{}", ports[1]).parse().unwrap();
    let mut first = connect(addr);
    read_banner(&mut first);
    let mut second = connect(addr);
    read_banner(&mut second);
    assert!(read_to_eof(&mut first).contains("taken over"));
}

/// Where something listens on `port`, as `ss` shows it (`ADDR:PORT`), once it does.
fn listening_on(port: u16) -> String {
    let mut found = String::new();
    wait_for("the listener in ss", || {
        let out = Command::new("ss")
            .args(["-ltnH", &format!("sport = :{port}")])
            .output()
            .unwrap();
        found = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(3)
            .unwrap_or("")
            .to_string();
        !found.is_empty()
    });
    found
}

/// ser2net admits everyone on a bare `tcp,PORT`; rgetty-share listens on loopback until an
/// allow list says otherwise: `--allow` or, for engines that start `ser2net` with fixed
/// options (labgrid's exporter), `RGETTY_SHARE_ALLOW`.
#[test]
fn a_bare_tcp_port_is_loopback_until_an_allow_list_is_given() {
    if !need(have("ss"), "ss (iproute2)") {
        return;
    }
    let d = dev();
    for (env, want) in [(None, "127.0.0.1"), (Some("10.0.0.0/8"), "0.0.0.0")] {
        let port = free_port();
        let mut cmd = Command::new(BIN);
        cmd.arg("ser2net")
            .args(labgrid_args(port, &d.path, 115_200))
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .env_remove("RGETTY_SHARE_ALLOW");
        if let Some(v) = env {
            cmd.env("RGETTY_SHARE_ALLOW", v);
        }
        let _srv = Proc {
            child: cmd.spawn().unwrap(),
        };
        assert_eq!(listening_on(port), format!("{want}:{port}"), "{env:?}");
    }
}
