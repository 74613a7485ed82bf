//! RFC 2217 answers go out at once: a client that sends one COM-PORT request and then waits
//! (as pyserial does: each setting waits for its answer, 3 s at most) must get the answer
//! without sending anything else.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::lab::read_rfc2217;
use crate::share_util;
use rgetty::proto::telnet::{ComPort, cmd, opt};
use share_util::*;

/// Longer than any answer takes on a loaded machine, shorter than pyserial's 3 s.
const ANSWER: Duration = Duration::from_secs(2);

/// Send `req` on `c` and wait for the server's `want`, which must come within [`ANSWER`];
/// how long it took.
fn ask(c: &mut TcpStream, req: &[u8], want: &ComPort) -> Duration {
    let t0 = Instant::now();
    c.write_all(req).unwrap();
    let (_, msgs) = read_rfc2217(c, |_, msgs| msgs.contains(want));
    let took = t0.elapsed();
    assert!(
        took < ANSWER,
        "no answer {want:?} in {ANSWER:?} (it took {took:?}); got {msgs:?}"
    );
    took
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
    let (tmp, _d, srv) = serve_dev(&["--mode", "rfc2217"]);
    let speeds = [9600, 19200, 38400, 57600, 115_200];
    let mut worst = Duration::ZERO;
    let mut p = connect(srv.addrs[0]);
    for i in 0..300 {
        let b = speeds[i % speeds.len()];
        worst = worst.max(ask(
            &mut p,
            &set_baudrate(b, i == 0),
            &ComPort::SetBaudrate(b),
        ));
    }
    for i in 0..50 {
        drop(p);
        // one writer at a time: the last session closes first
        wait_for("the session to close", || lock_files(tmp.path()).is_empty());
        let b = speeds[i % speeds.len()];
        p = connect(srv.addrs[0]);
        worst = worst.max(ask(
            &mut p,
            &set_baudrate(b, true),
            &ComPort::SetBaudrate(b),
        ));
    }
    eprintln!("slowest COM-PORT answer: {worst:?}");
}
