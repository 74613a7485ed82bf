//! One connection to a metrics listener (I/O, non-blocking): read the request head, write the
//! answer, close. Driven by readiness events; nothing blocks and nothing is polled.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use super::http::{self, Request};

/// A connection in progress.
#[derive(Debug)]
pub struct HttpConn {
    sock: TcpStream,
    buf: Vec<u8>,
    out: Option<Vec<u8>>,
    sent: usize,
}

impl HttpConn {
    /// Take over an accepted connection (made non-blocking).
    pub fn new(sock: TcpStream) -> io::Result<HttpConn> {
        sock.set_nonblocking(true)?;
        Ok(HttpConn {
            sock,
            buf: Vec::new(),
            out: None,
            sent: 0,
        })
    }

    /// The socket (to register it).
    pub fn socket(&self) -> &TcpStream {
        &self.sock
    }

    /// Make progress after a readiness event. `path` is the one path served, `body` builds its
    /// text when a request for it is complete. Returns `true` when the connection is done
    /// (answered, or dead) and should be dropped.
    pub fn progress(
        &mut self,
        path: &str,
        content_type: &str,
        body: &mut dyn FnMut() -> String,
    ) -> bool {
        if self.out.is_none() {
            let mut chunk = [0u8; 1024];
            loop {
                match self.sock.read(&mut chunk) {
                    Ok(0) => return true,
                    Ok(n) => {
                        self.buf.extend_from_slice(&chunk[..n]);
                        if self.buf.len() > http::MAX_HEAD {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return true,
                }
            }
            let req = http::parse(&self.buf);
            if req == Request::Partial {
                return false;
            }
            let text = match &req {
                Request::Head { path: p, .. } if p == path => body(),
                _ => String::new(),
            };
            self.out = Some(http::respond(&req, path, content_type, &text));
        }
        let Some(out) = &self.out else {
            return true;
        };
        while self.sent < out.len() {
            match self.sock.write(&out[self.sent..]) {
                Ok(0) => return true,
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
        let _ = self.sock.shutdown(std::net::Shutdown::Write);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn answers_one_request() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (sock, _) = l.accept().unwrap();
        let mut c = HttpConn::new(sock).unwrap();
        let mut body = || "m 1\n".to_string();
        assert!(
            !c.progress("/metrics", "text/plain", &mut body),
            "nothing read yet"
        );
        client
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            !c.progress("/metrics", "text/plain", &mut body),
            "head incomplete"
        );
        client.write_all(b"\r\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(c.progress("/metrics", "text/plain", &mut body));
        drop(c);
        let mut got = String::new();
        client.read_to_string(&mut got).unwrap();
        assert!(
            got.starts_with("HTTP/1.1 200 OK\r\n") && got.ends_with("\r\n\r\nm 1\n"),
            "{got}"
        );
    }
}
