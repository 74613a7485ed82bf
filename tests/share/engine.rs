//! Integration tests of the `rgetty-share serve` engine's newer behaviours: TLS, watchers,
//! take-over, replay, port logs, bounded queues, command-line forms, pyserial's poll_modem.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rgetty::sys::tty;

use crate::share_util;
use share_util::*;

/// Read exactly `n` bytes from a socket.
fn read_sock(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut g = vec![0u8; n];
    s.read_exact(&mut g).unwrap();
    g
}

#[test]
fn watcher_gets_output_and_its_input_never_reaches_the_device() {
    let (_tmp, mut d, srv) = serve_dev(&["--watch-port", "0", "--banner", "B"]);
    assert_eq!(srv.addrs.len(), 2, "port file: main port, then watch port");
    // Each connection is attached once its banner arrived.
    let attach = |a| {
        let mut s = connect(a);
        assert_eq!(read_sock(&mut s, 1), b"B");
        s
    };
    // A watcher alone opens the device and sees its output.
    let mut w = attach(srv.addrs[1]);
    d.write_all(b"boot\r\n");
    assert_eq!(read_sock(&mut w, 6), b"boot\r\n");
    w.write_all(b"evil").unwrap();
    assert!(d.drain_for(Duration::from_millis(500)).is_empty());
    // The writer is admitted beside it; both see the output, only the writer's input counts.
    let mut c = attach(srv.addrs[0]);
    c.write_all(b"ok").unwrap();
    assert_eq!(d.read_n(2), b"ok");
    let mut w2 = attach(srv.addrs[1]);
    w2.write_all(b"nope").unwrap();
    d.write_all(b"all");
    for s in [&mut w, &mut c, &mut w2] {
        assert_eq!(read_sock(s, 3), b"all");
    }
    assert!(d.drain_for(Duration::from_millis(300)).is_empty());
}

#[test]
fn takeover_replaces_the_writer_with_a_notice() {
    let (_tmp, mut d, srv) = serve_dev(&["--takeover"]);
    let mut a = connect(srv.addrs[0]);
    a.write_all(b"1").unwrap();
    assert_eq!(d.read_n(1), b"1");
    let mut b = connect(srv.addrs[0]);
    let notice = read_to_eof(&mut a);
    assert!(notice.contains("taken over by 127.0.0.1"), "{notice:?}");
    assert_eq!(notice.matches('\n').count(), 2, "one line: {notice:?}");
    b.write_all(b"2").unwrap();
    assert_eq!(d.read_n(1), b"2");
}

#[test]
fn replay_sends_recent_output_on_attach() {
    let (tmp, mut d, srv) = serve_dev(&["--replay", "16"]);
    let mut a = connect(srv.addrs[0]);
    a.write_all(b"x").unwrap();
    assert_eq!(d.read_n(1), b"x");
    d.write_all(b"0123456789abcdefXYZ");
    assert_eq!(read_sock(&mut a, 19), b"0123456789abcdefXYZ");
    drop(a);
    wait_for("the session to close", || lock_files(tmp.path()).is_empty());
    let mut b = connect(srv.addrs[0]);
    assert_eq!(read_sock(&mut b, 16), b"3456789abcdefXYZ");
}

#[test]
fn port_log_has_stamped_lines_and_events_and_reopens_on_sighup() {
    let tmp = tmpdir();
    let mut d = dev();
    let log = tmp.path().join("port.log");
    let srv = serve_logged(tmp.path(), &d.path, &log);
    let mut a = connect(srv.addrs[0]);
    a.write_all(b"x").unwrap();
    assert_eq!(d.read_n(1), b"x");
    d.write_all(b"line one\r\nline two\n");
    read_sock(&mut a, 19);
    drop(a);
    let has = |p: &Path, s: &str| std::fs::read_to_string(p).is_ok_and(|t| t.contains(s));
    wait_for("the disconnect line", || has(&log, "[disconnect client"));
    let text = std::fs::read_to_string(&log).unwrap();
    let stamp = regex::Regex::new(r"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d line one$").unwrap();
    assert!(stamp.is_match(&text), "{text}");
    assert!(text.contains(" line two\n"), "{text}");
    assert!(text.contains("[connect client 127.0.0.1:"), "{text}");
    // logrotate: move the file, SIGHUP, the next lines go to a new file.
    let old = tmp.path().join("port.log.1");
    std::fs::rename(&log, &old).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(srv.proc.pid()),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    wait_for("the new log file", || log.exists());
    let _b = connect(srv.addrs[0]);
    wait_for("the connect line in the new file", || {
        has(&log, "[connect client")
    });
}

#[test]
fn negotiation_flooder_that_never_reads_is_dropped_and_rss_stays_bounded() {
    let (_tmp, mut d, srv) = serve_dev(&["-m", "2", "--mode", "rfc2217"]);
    let mut good = connect(srv.addrs[0]);
    let flood = TcpStream::connect(srv.addrs[0]).unwrap();
    // SIGNATURE requests: 6 bytes each, every one answered with ~40 bytes; never read.
    let a = srv.addrs[0];
    let flooder = std::thread::spawn(move || {
        let _ = a;
        let mut f = flood;
        f.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
        let req = [255u8, 250, 44, 0, 255, 240].repeat(10_000);
        let end = Instant::now() + Duration::from_secs(20);
        let mut sent = 0usize;
        while Instant::now() < end {
            match f.write(&req) {
                Ok(n) => sent += n,
                Err(_) => return (sent, true),
            }
        }
        (sent, false)
    });
    // The other client keeps moving meanwhile.
    let start = Instant::now();
    let mut rounds = 0;
    while start.elapsed() < Duration::from_secs(3) || !flooder.is_finished() {
        d.write_all(b"tick");
        let mut got = Vec::new();
        while got.len() < 4 {
            let mut b = [0u8; 64];
            let n = good.read(&mut b).unwrap();
            assert!(n > 0);
            // Telnet negotiation may come first on an RFC 2217 port.
            got.extend(b[..n].iter().copied().filter(|c| b"tick".contains(c)));
        }
        rounds += 1;
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "flooder never dropped"
        );
    }
    let (sent, dropped) = flooder.join().unwrap();
    assert!(dropped, "the flooder was not dropped after {sent} bytes");
    assert!(rounds > 0);
    let rss = rss_kib(srv.proc.pid());
    assert!(rss < 32 * 1024, "server RSS {rss} KiB");
}

#[test]
fn stty_words_may_be_comma_separated() {
    let (_tmp, mut d, srv) = serve_dev(&["-s", "38400,raw"]);
    let mut c = connect(srv.addrs[0]);
    c.write_all(b"s").unwrap();
    assert_eq!(d.read_n(1), b"s");
    assert_eq!(tty::get_speed(&d.slave).unwrap(), 38400);
}

#[test]
fn listen_on_ipv6_loopback_without_a_port_number() {
    if TcpListener::bind("[::1]:0").is_err() {
        println!("SKIP: no IPv6 loopback");
        return;
    }
    let tmp = tmpdir();
    let mut d = dev();
    let srv = serve(
        tmp.path(),
        &["--listen", "[::1]", "-p", "0", d.path.to_str().unwrap()],
    );
    assert!(srv.addrs[0].ip().is_loopback() && srv.addrs[0].is_ipv6());
    let mut c = connect(srv.addrs[0]);
    c.write_all(b"v6").unwrap();
    assert_eq!(d.read_n(2), b"v6");
}

/// The arguments after the binary in the man page's inetd.conf line.
fn man_inetd_args() -> Vec<String> {
    let words = man_inetd_line();
    let at = words
        .iter()
        .position(|w| w.ends_with("/rgetty-share"))
        .unwrap();
    words[at + 1..].to_vec()
}

#[test]
fn man_page_inetd_example_works_as_written() {
    let tmp = tmpdir();
    let mut d = dev();
    let mut args = man_inetd_args();
    assert_eq!(args[0], "serve");
    let devarg = args.pop().unwrap();
    assert!(devarg.starts_with("/dev/"), "{devarg}");
    let (mut c, mut p) = spawn_inetd(tmp.path(), &args, &d.path);
    c.write_all(b"ping").unwrap();
    assert_eq!(d.read_n(4), b"ping");
    assert_eq!(tty::get_speed(&d.slave).unwrap(), 115_200);
    drop(c);
    assert!(p.wait_exit(DEADLINE).expect("did not exit").success());
}

#[test]
fn pyserial_poll_modem_reads_modem_lines_without_stalling() {
    if !have("python3") || !python_has_serial() {
        return;
    }
    let (_tmp, _d, srv) = serve_dev(&["--mode", "rfc2217"]);
    let script = format!(
        "import serial, time\n\
         s = serial.serial_for_url('rfc2217://127.0.0.1:{}?poll_modem', timeout=1)\n\
         time.sleep(0.5)\n\
         t = time.time()\n\
         v = (s.cts, s.dsr, s.cd)\n\
         time.sleep(0.4)\n\
         v = v + (s.cts,)\n\
         print(round(time.time() - t - 0.4, 3), v)\n\
         s.close()\n",
        srv.addrs[0].port()
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secs: f64 = text.split_whitespace().next().unwrap().parse().unwrap();
    // Unanswered, each poll waits 3 s (pyserial's time-out): four reads would take 6-12 s.
    assert!(secs < 2.5, "modem-line reads took {secs} s: {text}");
    assert!(text.contains("True"), "{text}");
}

/// Whether python3 has pyserial (prints a SKIP line when not).
pub(crate) fn python_has_serial() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import serial.rfc2217"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("SKIP: python3-serial is not installed");
    }
    ok
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl in
/// `dir` (nothing secret is kept in the repository).
pub(crate) fn make_certs(dir: &Path) -> bool {
    if !have("openssl") {
        return false;
    }
    let sh = format!(
        "set -e; cd {}; \
         K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'; \
         openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca; \
         printf 'basicConstraints=CA:FALSE\\nsubjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > srv.ext; \
         printf 'basicConstraints=CA:FALSE\\nextendedKeyUsage=clientAuth\\n' > cli.ext; \
         for n in srv cli; do \
           openssl req $K -keyout $n.key -out $n.csr -subj /CN=$n; \
           openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
             -out $n.pem -days 2 -extfile $n.ext; \
         done",
        dir.display()
    );
    let st = Command::new("sh")
        .arg("-c")
        .arg(sh)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "openssl failed");
    true
}

/// A python TLS client: sends `hi`, prints what comes back (or the error).
fn tls_client(dir: &Path, port: u16, with_cert: bool) -> std::process::Child {
    let cert = if with_cert {
        "ctx.load_cert_chain('cli.pem', 'cli.key')"
    } else {
        "pass"
    };
    let script = format!(
        "import ssl, socket\n\
         ctx = ssl.create_default_context(cafile='ca.pem')\n\
         {cert}\n\
         s = socket.create_connection(('127.0.0.1', {port})); s.settimeout(10)\n\
         try:\n\
         \x20   t = ctx.wrap_socket(s, server_hostname='127.0.0.1')\n\
         \x20   t.sendall(b'hi')\n\
         \x20   print('GOT', t.recv(100))\n\
         except Exception as e:\n\
         \x20   print('ERR', type(e).__name__)\n"
    );
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `serve -p 0` with the certificate `make_certs` left in `tmp`, `extra` options, on `d`.
fn serve_tls(tmp: &Path, d: &Dev, extra: &[&str]) -> Server {
    let f = |n: &str| tmp.join(n).to_str().unwrap().to_string();
    let (cert, key) = (f("srv.pem"), f("srv.key"));
    let mut args = vec!["-p", "0", "--tls-cert", &cert, "--tls-key", &key];
    args.extend_from_slice(extra);
    args.push(d.path.to_str().unwrap());
    serve(tmp, &args)
}

#[test]
fn tls_with_and_without_a_client_certificate() {
    let tmp = tmpdir();
    if !make_certs(tmp.path()) || !have("python3") {
        return;
    }
    let f = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    let mut d = dev();
    let srv = serve_tls(tmp.path(), &d, &["--tls-client-ca", &f("ca.pem")]);
    let port = srv.addrs[0].port();
    // Without a certificate: the handshake fails, nothing is sent, the device stays closed.
    let out = tls_client(tmp.path(), port, false)
        .wait_with_output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ERR") || text.contains("GOT b''"), "{text}");
    assert!(d.drain_for(Duration::from_millis(300)).is_empty());
    assert!(lock_files(tmp.path()).is_empty());
    // A plain client gets nothing either.
    let mut plain = connect(srv.addrs[0]);
    plain.write_all(b"hello\r\n").unwrap();
    assert!(!read_to_eof(&mut plain).contains("hello"));
    assert!(lock_files(tmp.path()).is_empty());
    // With a certificate: bytes both ways.
    let child = tls_client(tmp.path(), port, true);
    assert_eq!(d.read_n(2), b"hi");
    d.write_all(b"yo");
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("GOT b'yo'"), "{text}");
    wait_for("the session to close", || lock_files(tmp.path()).is_empty());
    // Our own client: connect --tls with the client certificate, through a virtual port.
    let link = tmp.path().join("vport");
    let _cl = Proc {
        child: Command::new(BIN)
            .args(["connect", "--tls", "--tls-ca", &f("ca.pem")])
            .args(["--tls-cert", &f("cli.pem"), "--tls-key", &f("cli.key")])
            .arg("--link")
            .arg(&link)
            .arg(format!("127.0.0.1:{port}"))
            .spawn()
            .unwrap(),
    };
    wait_for("the link", || link.exists());
    let mut app = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&link)
        .unwrap();
    tty::set_raw(&app).unwrap();
    d.exchange(&mut app, b"via tls", b"back");
}

/// Hands every TLS record `from` wants to send to `to`, and has `to` process them.
fn tls_hand_over(from: &mut rustls::Connection, to: &mut rustls::Connection) {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).unwrap();
    }
    let mut rest = &buf[..];
    while !rest.is_empty() {
        to.read_tls(&mut rest).unwrap();
        to.process_new_packets().unwrap();
    }
}

/// The TLS server issues no TLS 1.3 session ticket (rgetty-share(8), TLS): one arriving after
/// the handshake made Python's `websockets` sync client lose its first request now and then.
#[test]
fn tls_server_sends_no_session_ticket() {
    use rgetty::share::transport;
    use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Resumption};
    use std::sync::Arc;
    let tmp = tmpdir();
    if !make_certs(tmp.path()) {
        return;
    }
    let p = |n: &str| tmp.path().join(n);
    let srv = transport::server_config(&p("srv.pem"), &p("srv.key"), Some(&p("ca.pem"))).unwrap();
    let cli = transport::client_config(&p("ca.pem"), Some((&p("cli.pem"), &p("cli.key"))));
    let mut cli = (*cli.unwrap()).clone();
    let cache = Arc::new(ClientSessionMemoryCache::new(4));
    cli.resumption = Resumption::store(cache.clone());
    let name = transport::server_name("127.0.0.1:1").unwrap();
    let c = rustls::ClientConnection::new(Arc::new(cli), name.clone()).unwrap();
    let mut c = rustls::Connection::Client(c);
    let mut s = rustls::Connection::Server(rustls::ServerConnection::new(srv).unwrap());
    for _ in 0..4 {
        tls_hand_over(&mut c, &mut s);
        tls_hand_over(&mut s, &mut c);
    }
    assert!(!c.is_handshaking() && !s.is_handshaking());
    assert!(
        cache.take_tls13_ticket(&name).is_none(),
        "the server sent a session ticket"
    );
}

#[test]
fn connect_drops_a_server_that_floods_negotiation_and_never_reads() {
    let tmp = tmpdir();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let link = tmp.path().join("v");
    let mut cl = Proc {
        child: Command::new(BIN)
            .args(["connect", "--mode", "rfc2217", "--once", "--link"])
            .arg(&link)
            .arg(format!("127.0.0.1:{port}"))
            .spawn()
            .unwrap(),
    };
    let (mut s, _) = l.accept().unwrap();
    s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    // DO for an option the client refuses: every 3 bytes ask for a 3-byte WONT.
    let flood = [255u8, 253, 200].repeat(20_000);
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end && cl.child.try_wait().unwrap().is_none() {
        let _ = s.write(&flood);
    }
    let st = cl.wait_exit(Duration::from_secs(10));
    assert!(
        st.is_some(),
        "connect kept answering a server that never reads"
    );
}

#[test]
fn a_flood_of_set_baudrate_gives_a_few_log_lines() {
    let tmp = tmpdir();
    let mut d = dev();
    tty::set_speed(&d.slave, 9600).unwrap();
    let log = tmp.path().join("stderr");
    let srv = serve_to(
        tmp.path(),
        &["-p", "0", "--mode", "rfc2217", d.path.to_str().unwrap()],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    let mut c = connect(srv.addrs[0]);
    let mut req = Vec::new();
    // 10,000 requests for the speed the line already has, then 2,000 alternating ones.
    for _ in 0..10_000 {
        rgetty::proto::telnet::ComPort::SetBaudrate(9600).encode(false, &mut req);
    }
    for i in 0..2_000 {
        let b = if i % 2 == 0 { 19_200 } else { 9600 };
        rgetty::proto::telnet::ComPort::SetBaudrate(b).encode(false, &mut req);
    }
    send_draining(&mut c, &req, &mut d);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines = text.lines().filter(|l| l.contains("baud rate")).count();
    assert!(lines <= 12, "{lines} baud rate lines:\n{text}");
}

/// The bytes of the TLS back-pressure test: `k`-th byte of stream `seed`.
fn tls_byte(k: usize, seed: usize) -> u8 {
    ((k * seed + k / 251) % 256) as u8
}

/// The python client of [`tls_moves_megabytes_both_ways_through_full_queues`].
const TLS_PACED_CLIENT: &str = r"
import ssl, socket, threading, time
ctx = ssl.create_default_context(cafile='ca.pem')
t = ctx.wrap_socket(socket.create_connection(('127.0.0.1', @PORT@)), server_hostname='127.0.0.1')
t.settimeout(60)
def stream(n, seed):
    return bytes((k * seed + k // 251) % 256 for k in range(n))
# 0: tell the far end of the device we are in, wait for its go (it has sent XOFF first).
t.sendall(b'r')
assert t.recv(1) == b'g'
# 1: one TLS record at a time, a pause after each, while the device takes nothing.
paced = stream(@RECS@ * @REC@, 31)
for i in range(@RECS@):
    t.sendall(paced[i * @REC@:(i + 1) * @REC@])
    time.sleep(0.05)
print('SENT', flush=True)
g = b''
while len(g) < 2:
    b = t.recv(2 - len(g))
    if not b:
        break
    g += b
# 2: megabytes both ways; this end reads nothing until a second after it has sent all.
# (XON and XOFF would be flow control on the device's input: none in this stream)
want = stream(@N@, 13).translate(bytes.maketrans(b'\x11\x13', b'\x00\x00'))
got = 0
ok = True
sent = threading.Event()
def rd():
    global got, ok
    sent.wait(120)
    time.sleep(1)
    while got < @N@:
        b = t.recv(65536)
        if not b:
            break
        ok = ok and b == want[got:got + len(b)]
        got += len(b)
r = threading.Thread(target=rd); r.start()
t.sendall(stream(@N@, 7))
sent.set()
r.join()
print('GOT', got, 'IN ORDER' if ok else 'OUT OF ORDER', flush=True)
";

#[test]
fn tls_moves_megabytes_both_ways_through_full_queues() {
    let tmp = tmpdir();
    if !make_certs(tmp.path()) || !have("python3") {
        return;
    }
    let mut d = dev();
    // With ixon on the device, an XOFF from the far end stops its output: nothing more
    // can be written to it, and the server's 64 KiB device queue fills up.
    let srv = serve_tls(tmp.path(), &d, &["-s", "ixon"]);
    // 9 records of 10007 bytes, paced: the server reads each as soon as it arrives, so the
    // socket read that completes a record empties the kernel buffer. The seventh does not
    // fit the 64 KiB queue and is left half-read inside TLS; the last two wait in the
    // kernel (they fit its receive window, so all of them are there), their readiness
    // already reported. When the device takes output again (XON) and the rest of the
    // seventh has been read, the connection must not call itself drained on the strength
    // of that earlier short socket read, or the last two records are stranded.
    let (recs, rec, n) = (9, 10_007, 8 << 20);
    let script = TLS_PACED_CLIENT
        .replace("@PORT@", &srv.addrs[0].port().to_string())
        .replace("@RECS@", &recs.to_string())
        .replace("@REC@", &rec.to_string())
        .replace("@N@", &n.to_string());
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(tmp.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The device is open and set up once the client's first byte arrives: stop its output.
    assert_eq!(d.read_n(1), b"r");
    d.write_all(b"\x13g");
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "SENT\n");
    d.write_all(b"\x11");
    let got = d.read_n(recs * rec);
    assert!(got.iter().enumerate().all(|(k, &b)| b == tls_byte(k, 31)));
    d.write_all(b"go");
    // Megabytes both ways: the device end reads everything, then writes N bytes while the
    // client does not read for a second (the server's queue and its TLS send path fill up).
    let got = d.read_n(n);
    assert!(got.iter().enumerate().all(|(k, &b)| b == tls_byte(k, 7)));
    let back: Vec<u8> = (0..n)
        .map(|k| match tls_byte(k, 13) {
            0x11 | 0x13 => 0,
            b => b,
        })
        .collect();
    for chunk in back.chunks(65536) {
        d.write_all(chunk);
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut out, &mut text).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(text.contains(&format!("GOT {n} IN ORDER")), "{text}");
}

#[test]
fn watch_port_applies_the_host_list() {
    let tmp = tmpdir();
    let d = dev();
    let dp = d.path.to_str().unwrap();
    let args = ["-p", "0", "--watch-port", "0", "--allow", "127.0.0.1", dp];
    let srv = serve(tmp.path(), &args);
    let mut w = connect_from("127.0.0.2", srv.addrs[1]);
    let msg = read_to_eof(&mut w);
    assert!(msg.contains("access denied"), "{msg:?}");
    assert!(lock_files(tmp.path()).is_empty());
}
