//! One server, one pump, every kind of connection stack: raw, TLS, telnet with RFC 2217, and
//! a layer the test adds itself (upper-casing what a client sends) with one registration
//! line; with a slow reader, a watcher and a take-over on the raw port in the same run.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rgetty::proto::telnet::{ComPort, Decoder, Event};
use rgetty::share::conf::{PortConfig, PortMode};
use rgetty::share::server::{self, ServeSignals, ServerSettings, ShareServer};
use rgetty::share::stack::{self, Control, Layer, LayerArgs};
use rgetty::share::transport::{self, Conn, TlsRole};
use rgetty::sys::lock::{LockDir, Naming};
use rgetty::sys::tty;

use crate::share_util;
use share_util::*;

// ------------------------------------------------------------------ the test's own layer

/// Upper-cases what the client sends: a whole layer in a dozen lines.
#[derive(Debug)]
struct Upper {
    below: Box<dyn Layer>,
}

impl Layer for Upper {
    fn name(&self) -> &'static str {
        "upper"
    }
    fn below(&self) -> Option<&dyn Layer> {
        Some(self.below.as_ref())
    }
    fn below_mut(&mut self) -> Option<&mut dyn Layer> {
        Some(self.below.as_mut())
    }
    fn read(&mut self, buf: &mut [u8], events: &mut Vec<Control>) -> io::Result<usize> {
        let n = self.below.read(buf, events)?;
        buf[..n].make_ascii_uppercase();
        Ok(n)
    }
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.below.write(data)
    }
}

fn upper(_args: &LayerArgs<'_>, below: Box<dyn Layer>) -> io::Result<Box<dyn Layer>> {
    Ok(Box::new(Upper { below }))
}

// ------------------------------------------------------------------ an in-process server

/// A server on its own thread; stopped (SIGTERM's flag and a wake-up) on drop.
struct Running {
    addrs: Vec<SocketAddr>,
    term: Arc<AtomicBool>,
    wake: UnixStream,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.term.store(true, Ordering::Relaxed);
        let _ = self.wake.write_all(b"x");
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run_server(ports: Vec<PortConfig>, lock_dir: &std::path::Path, buffer: usize) -> Running {
    let (tx, rx) = std::sync::mpsc::channel();
    let (wake_tx, wake_rx) = UnixStream::pair().unwrap();
    let sig = ServeSignals::default();
    let term = sig.term.clone();
    let lock_dir = LockDir::new(lock_dir, Naming::Upstream);
    let thread = std::thread::spawn(move || {
        let settings = ServerSettings {
            lock_dir,
            client_buffer: buffer,
        };
        let mut srv = ShareServer::new(settings).unwrap();
        for p in ports {
            let l = server::bind(&p).unwrap();
            srv.add_port(p, Some(l)).unwrap();
        }
        srv.set_signals(sig, wake_rx).unwrap();
        tx.send(srv.local_addrs()).unwrap();
        srv.run().unwrap();
    });
    Running {
        addrs: rx.recv().unwrap(),
        term,
        wake: wake_tx,
        thread: Some(thread),
    }
}

fn port(dev: &Dev) -> PortConfig {
    PortConfig::new("127.0.0.1:0".parse().unwrap(), vec![dev.path.clone()])
}

// ------------------------------------------------------------------ clients

/// Read from a TLS client stack until `n` bytes came.
fn tls_read(c: &mut Conn, n: usize) -> Vec<u8> {
    let end = Instant::now() + DEADLINE;
    let mut out = Vec::new();
    let mut b = [0u8; 4096];
    while out.len() < n {
        assert!(Instant::now() < end, "TLS read timed out after {out:?}");
        let _ = c.flush();
        match c.read(&mut b) {
            Ok(0) => panic!("eof after {out:?}"),
            Ok(k) => out.extend_from_slice(&b[..k]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("TLS read: {e}"),
        }
    }
    out
}

fn tls_write(c: &mut Conn, mut data: &[u8]) {
    let end = Instant::now() + DEADLINE;
    while !data.is_empty() || !c.flush().unwrap() {
        assert!(Instant::now() < end, "TLS write timed out");
        match c.write(data) {
            Ok(k) => data = &data[k..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("TLS write: {e}"),
        }
    }
}

/// Read a telnet stream until `n` data bytes came; the COM-PORT answers seen on the way.
fn telnet_read(s: &mut TcpStream, n: usize) -> (Vec<u8>, Vec<ComPort>) {
    let (mut dec, mut data, mut ev) = (Decoder::new(), Vec::new(), Vec::new());
    let mut b = [0u8; 4096];
    while data.len() < n {
        let k = s.read(&mut b).unwrap();
        assert!(k > 0, "eof after {data:?}");
        dec.feed(&b[..k], &mut data, &mut ev);
    }
    let answers = ev
        .into_iter()
        .filter_map(|e| match e {
            Event::Sub { payload, .. } => ComPort::parse(&payload).ok().map(|m| m.0),
            _ => None,
        })
        .collect();
    (data, answers)
}

/// Read everything until the server closes (or the deadline).
fn read_all(mut s: TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = s.read_to_end(&mut v);
    v
}

// ------------------------------------------------------------------ the run

#[test]
fn every_stack_runs_through_the_one_pump() {
    stack::register("upper", upper);
    let tmp = tmpdir();
    let have_tls = crate::engine::make_certs(tmp.path());
    let (mut raw_dev, mut tls_dev, mut rfc_dev, mut up_dev) = (dev(), dev(), dev(), dev());
    let mut raw = port(&raw_dev);
    raw.takeover = true;
    raw.watch = Some(0);
    let mut tls = port(&tls_dev);
    if have_tls {
        tls.tls = rgetty::share::conf::tls_files(
            Some(tmp.path().join("srv.pem")),
            Some(tmp.path().join("srv.key")),
            None,
        )
        .unwrap();
    }
    let mut rfc = port(&rfc_dev);
    rfc.mode = PortMode::Rfc2217;
    let mut up = port(&up_dev);
    up.layers = vec!["upper".into()];
    let lock = tmp.path().join("lock");
    std::fs::create_dir(&lock).unwrap();
    let srv = run_server(vec![raw, tls, rfc, up], &lock, 64 * 1024);
    let [raw_a, tls_a, rfc_a, up_a, watch_a] = srv.addrs[..] else {
        panic!("addresses {:?}", srv.addrs);
    };

    // Raw: a writer, a watcher and a watcher that never reads. 16 MiB is well past what the
    // kernel buffers for the slow one on loopback (about 4 MiB) plus its 64 KiB queue.
    let mut w1 = connect(raw_a);
    w1.write_all(b"ping").unwrap();
    assert_eq!(raw_dev.read_n(4), b"ping");
    let watcher = connect(watch_a);
    let slow = connect(watch_a);
    std::thread::sleep(Duration::from_millis(200));
    let total = 16 << 20;
    let data = pattern(total, 7);
    let readers: Vec<_> = [w1.try_clone().unwrap(), watcher.try_clone().unwrap()]
        .into_iter()
        .map(|mut s| std::thread::spawn(move || read_n_fd(&mut s, total)))
        .collect();
    write_all_fd(&mut raw_dev.master, &data);
    for r in readers {
        assert!(r.join().unwrap() == data, "a reader lost bytes");
    }
    // The slow watcher was dropped, the others went on at full speed.
    let got = read_all(slow);
    assert!(got.len() < total, "the slow watcher got everything");
    assert_eq!(got[..], data[..got.len()]);

    // Take-over: the new writer gets the line, the old one a notice and the end.
    let mut w2 = connect(raw_a);
    let notice = String::from_utf8_lossy(&read_all(w1)).into_owned();
    assert!(notice.contains("taken over"), "{notice:?}");
    w2.write_all(b"over").unwrap();
    assert_eq!(raw_dev.read_n(4), b"over");
    raw_dev.write_all(b"seen");
    assert_eq!(read_n_fd(&mut w2, 4), b"seen");
    let mut watcher = watcher;
    assert_eq!(read_n_fd(&mut watcher, 4), b"seen");

    // TLS.
    if have_tls {
        let ca = transport::client_config(&tmp.path().join("ca.pem"), None).unwrap();
        let name = transport::server_name(&tls_a.to_string()).unwrap();
        let sock = TcpStream::connect(tls_a).unwrap();
        let mut c = Conn::new(OwnedFd::from(sock), Some(&TlsRole::Client(ca, name))).unwrap();
        let end = Instant::now() + DEADLINE;
        while !c.handshake().unwrap() {
            assert!(Instant::now() < end, "TLS handshake timed out");
            std::thread::sleep(Duration::from_millis(2));
        }
        tls_write(&mut c, b"tls!");
        assert_eq!(tls_dev.read_n(4), b"tls!");
        tls_dev.write_all(b"back");
        assert_eq!(tls_read(&mut c, 4), b"back");
    } else if std::env::var_os("CI").is_some() {
        panic!("openssl is missing");
    }

    // Telnet and RFC 2217: escaped data both ways, a speed change carried out on the device.
    let mut t = connect(rfc_a);
    let mut req = b"a\xff\xffb".to_vec();
    ComPort::SetBaudrate(19200).encode(false, &mut req);
    t.write_all(&req).unwrap();
    assert_eq!(rfc_dev.read_n(3), b"a\xffb");
    rfc_dev.write_all(b"\xff");
    let (got, answers) = telnet_read(&mut t, 1);
    assert_eq!(got, b"\xff");
    assert!(
        answers.contains(&ComPort::SetBaudrate(19200)),
        "{answers:?}"
    );
    assert_eq!(tty::get_speed(&rfc_dev.slave).unwrap(), 19200);

    // The test's own layer, registered above with one line.
    let mut u = connect(up_a);
    u.write_all(b"shout").unwrap();
    assert_eq!(up_dev.read_n(5), b"SHOUT");
    up_dev.write_all(b"quiet");
    assert_eq!(read_n_fd(&mut u, 5), b"quiet");
    drop(srv);
}
