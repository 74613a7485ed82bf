//! RFC 2217 answers go out at once: a client that sends one COM-PORT request and then waits
//! (as pyserial does: each setting waits for its answer, 3 s at most) must get the answer
//! without sending anything else.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::share_util;
use rgetty::proto::telnet::{ComPort, Decoder, Event, cmd, opt};
use share_util::*;

/// Longer than any answer takes on a loaded machine, shorter than pyserial's 3 s.
const ANSWER: Duration = Duration::from_secs(2);

/// A telnet client reading COM-PORT messages.
struct Peer {
    s: TcpStream,
    dec: Decoder,
    msgs: Vec<ComPort>,
}

impl Peer {
    fn connect(srv: &Server) -> Peer {
        let s = connect(srv.addrs[0]);
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        Peer {
            s,
            dec: Decoder::new(),
            msgs: Vec::new(),
        }
    }

    /// Send `req` and wait for the server's `want`; how long it took.
    fn ask(&mut self, req: &[u8], want: &ComPort) -> Duration {
        let t0 = Instant::now();
        self.s.write_all(req).unwrap();
        let (mut data, mut ev) = (Vec::new(), Vec::new());
        let mut b = [0u8; 4096];
        while !self.msgs.contains(want) {
            assert!(
                t0.elapsed() < ANSWER,
                "no answer {want:?} in {ANSWER:?}; got {:?}",
                self.msgs
            );
            match self.s.read(&mut b) {
                Ok(0) => panic!("closed"),
                Ok(n) => self.dec.feed(&b[..n], &mut data, &mut ev),
                Err(_) => {}
            }
            for e in ev.drain(..) {
                if let Event::Sub { payload, .. } = e {
                    self.msgs.push(ComPort::parse(&payload).unwrap().0);
                }
            }
        }
        self.msgs.clear();
        t0.elapsed()
    }
}

fn set_baudrate(b: u32, will: bool) -> Vec<u8> {
    let mut req = if will {
        vec![cmd::IAC, cmd::WILL, opt::COM_PORT]
    } else {
        Vec::new()
    };
    ComPort::SetBaudrate(b).encode(false, &mut req);
    req
}

/// 300 SET-BAUDRATEs on one connection, and 50 connections whose first bytes are WILL
/// COM-PORT and a SET-BAUDRATE (as pyserial opens a port): each answer comes without the
/// client sending more. The slowest answer is printed.
#[test]
fn comport_answers_come_without_more_traffic() {
    let tmp = tmpdir();
    let d = dev();
    let args = ["-p", "0", "--mode", "rfc2217", d.path.to_str().unwrap()];
    let srv = serve(tmp.path(), &args);
    let speeds = [9600, 19200, 38400, 57600, 115_200];
    let mut worst = Duration::ZERO;
    let mut p = Peer::connect(&srv);
    for i in 0..300 {
        let b = speeds[i % speeds.len()];
        worst = worst.max(p.ask(&set_baudrate(b, i == 0), &ComPort::SetBaudrate(b)));
    }
    for i in 0..50 {
        drop(p);
        // one writer at a time: the last session closes first
        wait_for("the session to close", || lock_files(tmp.path()).is_empty());
        let b = speeds[i % speeds.len()];
        p = Peer::connect(&srv);
        worst = worst.max(p.ask(&set_baudrate(b, true), &ComPort::SetBaudrate(b)));
    }
    eprintln!("slowest COM-PORT answer: {worst:?}");
}
