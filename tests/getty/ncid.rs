//! `rgetty ncid` against an NCID client written from the NCID API document (Feature Set 1):
//! the greeting (`200`, `210`), the call log replay (`CIDLOG:`/`HUPLOG:` lines, `250 End of
//! call log`), `300 End of connection startup`, then a live `CID:` line for a call on a real
//! rgetty line, and `HUP:` for a blocked one; lines end in CR LF and are `*LABEL*data*` pairs.

use crate::common;

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// `rgetty ncid` on a free loopback port for this harness's pid dir and call log.
fn ncid_server(h: &Harness) -> (Kill, u16) {
    let mut child = Command::new(RGETTY)
        .args(["ncid", "--listen", "127.0.0.1:0", "--pid-dir"])
        .arg(h.path("run"))
        .arg("--call-log")
        .arg(h.path("log/calls.jsonl"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let port = port_of(&mut child);
    (Kill(child), port)
}

/// The port from the server's first stderr line (`listening on 127.0.0.1:PORT, …`).
fn port_of(child: &mut Child) -> u16 {
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    first
        .split("listening on 127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"))
}

/// The client: reads CR LF lines.
struct Client {
    r: BufReader<TcpStream>,
}

impl Client {
    fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(s(20.0))).unwrap();
        Client {
            r: BufReader::new(stream),
        }
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        assert!(l.ends_with("\r\n"), "not CR LF: {l:?}");
        l.trim_end().to_string()
    }

    /// The start-up: every line up to `300 …`.
    fn startup(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let l = self.line();
            let end = l.starts_with("300 ");
            lines.push(l);
            if end {
                return lines;
            }
        }
    }
}

/// A call line's label and its `*LABEL*data*` pairs (the API: fields may come in any order).
fn parse(line: &str) -> (String, HashMap<String, String>) {
    let (label, rest) = line.split_once(": ").unwrap();
    let parts: Vec<&str> = rest.trim_matches('*').split('*').collect();
    let pairs = parts
        .chunks(2)
        .map(|p| (p[0].to_string(), p.get(1).unwrap_or(&"").to_string()))
        .collect();
    (label.to_string(), pairs)
}

const RECORDS: &str = "\
{\"start\":\"2026-12-01T13:03:04Z\",\"end\":\"2026-12-01T13:03:10Z\",\"line\":\"ttyS0\",\"caller_id\":\"5551234\",\"caller_name\":\"JOHN DOE\",\"connect\":null,\"outcome\":\"answered\",\"reason\":null,\"user\":\"bob\",\"program\":\"/bin/login\"}
{\"start\":\"2026-12-01T13:04:04Z\",\"end\":\"2026-12-01T13:04:05Z\",\"line\":\"ttyS0\",\"caller_id\":\"0900555\",\"caller_name\":null,\"connect\":null,\"outcome\":\"blocked\",\"reason\":\"blocked by b:1 (block 0900*)\",\"user\":null,\"program\":null}
{\"start\":\"2026-12-01T13:05:04Z\",\"end\":\"2026-12-01T13:05:05Z\",\"line\":\"ttyS0\",\"caller_id\":null,\"caller_name\":null,\"connect\":null,\"outcome\":\"dialout\",\"reason\":\"line used by pid 7\",\"user\":null,\"program\":\"cu\"}
";

#[test]
fn ncid_client_gets_greeting_replay_and_a_live_cid_line_within_200_ms() {
    let mut h = Harness::new(
        vmodem::Config::default(),
        &format!("{BASE_CONFIG}init-chat \"\" ATZ OK\nrings 4\nblock-list blocks\n"),
    );
    fs::write(h.path("etc/blocks"), "block 0900* premium\n").unwrap();
    fs::write(h.path("log/calls.jsonl"), RECORDS).unwrap();
    h.spawn_waiting(&["--ring-timeout", "1.5"]);
    let (_server, port) = ncid_server(&h);
    let mut c = Client::connect(port);
    let start = c.startup();
    assert!(
        start[0].starts_with("200 Server: ") && start[0].contains("(NCID)"),
        "{start:?}"
    );
    assert!(start[1].starts_with("210 API "), "{start:?}");
    let (label, f) = parse(&start[2]);
    assert_eq!(label, "CIDLOG", "{start:?}");
    assert_eq!(f["NMBR"], "5551234");
    assert_eq!(f["NAME"], "JOHN DOE");
    assert_eq!(f["LINE"], "ttyS0");
    assert_eq!(f["MESG"], "NONE");
    assert!(f["DATE"].len() == 8 && f["DATE"].ends_with("2026"), "{f:?}");
    assert_eq!(f["TIME"].len(), 4, "{f:?}");
    let (label, f) = parse(&start[3]);
    assert_eq!((label.as_str(), f["NMBR"].as_str()), ("HUPLOG", "0900555"));
    assert_eq!(f["NAME"], "NO NAME");
    assert_eq!(start[4], "250 End of call log");
    assert_eq!(start[5], "300 End of connection startup");
    assert_eq!(start.len(), 6);
    // a newline from the client is ignored (the API's "are you there")
    c.r.get_mut().write_all(b"\n").unwrap();

    // a live call: CID: as soon as the getty has read the caller ID and name
    let t0 = Instant::now();
    h.modem.ring(1, s(1.0), Some(cid("5557777", "ANN EXAMPLE")));
    let l = c.line();
    let took = t0.elapsed();
    let (label, f) = parse(&l);
    assert_eq!(label, "CID", "{l}");
    assert_eq!(f["NMBR"], "5557777");
    assert_eq!(f["NAME"], "ANN EXAMPLE");
    assert_eq!(f["LINE"], h.device);
    eprintln!(
        "CID: line {} ms after the modem sent the caller ID",
        took.as_millis()
    );
    assert!(took < s(2.0), "{took:?}: over the 200 ms target by far");
    h.wait_log("phone stopped ringing", s(20.0));
    let end = Instant::now() + s(20.0);
    while h.log().matches("waiting...").count() < 2 {
        assert!(Instant::now() < end, "{}", h.explain());
        std::thread::sleep(Duration::from_millis(20));
    }

    // a blocked call: HUP:, not CID:
    h.modem.ring(1, s(1.0), Some(cid("0900111", "ROBO")));
    let (label, f) = parse(&c.line());
    assert_eq!((label.as_str(), f["NMBR"].as_str()), ("HUP", "0900111"));
}

fn cid(number: &str, name: &str) -> CallerId {
    CallerId {
        date: "1206".into(),
        time: "2114".into(),
        number: number.into(),
        name: Some(name.into()),
    }
}

#[test]
fn ncid_server_needs_an_allow_list_off_loopback_and_applies_it() {
    let out = Command::new(RGETTY)
        .args(["ncid", "--listen", "0.0.0.0:0", "--pid-dir", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --allow"));
    let help = Command::new(RGETTY).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("\n  ncid    "));
    // an ACL that leaves out loopback: the connection is closed without a greeting
    let h = Harness::new(vmodem::Config::default(), BASE_CONFIG);
    let mut child = Command::new(RGETTY)
        .args([
            "ncid",
            "--listen",
            "127.0.0.1:0",
            "--allow",
            "10.0.0.0/8",
            "--pid-dir",
        ])
        .arg(h.path("run"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let port = port_of(&mut child);
    let _k = Kill(child);
    let mut c = Client::connect(port);
    let mut l = String::new();
    assert_eq!(c.r.read_line(&mut l).unwrap_or(0), 0, "{l:?}");
}
