//! Just enough HTTP/1.x for `GET /metrics` (pure): read a request head, build a response
//! that closes the connection. Anything else gets a short error status.

/// Largest request head accepted.
pub const MAX_HEAD: usize = 8 * 1024;

/// What a buffer holds so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The head is not complete yet.
    Partial,
    /// A complete head: method and path (query string removed).
    Head {
        /// `GET`, `HEAD`, ...
        method: String,
        /// `/metrics`.
        path: String,
    },
    /// Not HTTP, or too long.
    Bad,
}

/// Parse the request head in `buf` (the bytes read so far).
pub fn parse(buf: &[u8]) -> Request {
    let Some(end) = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| buf.windows(2).position(|w| w == b"\n\n"))
    else {
        return if buf.len() > MAX_HEAD {
            Request::Bad
        } else {
            Request::Partial
        };
    };
    let Ok(head) = std::str::from_utf8(&buf[..end]) else {
        return Request::Bad;
    };
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(target), Some(v)) if v.starts_with("HTTP/1.") && !m.is_empty() => {
            Request::Head {
                method: m.to_string(),
                path: target.split('?').next().unwrap_or("").to_string(),
            }
        }
        _ => Request::Bad,
    }
}

/// The full response (head and body) for a request: `200` with `body` for `GET`/`HEAD` of
/// `path`, `404` for another path, `405` for another method, `400` for a bad request.
pub fn respond(req: &Request, path: &str, content_type: &str, body: &str) -> Vec<u8> {
    let (status, ctype, text, head_only) = match req {
        Request::Head { method, path: p } if p == path && (method == "GET" || method == "HEAD") => {
            ("200 OK", content_type, body, method == "HEAD")
        }
        Request::Head { method, .. } if method != "GET" && method != "HEAD" => (
            "405 Method Not Allowed",
            "text/plain",
            "method not allowed\n",
            false,
        ),
        Request::Head { .. } => ("404 Not Found", "text/plain", "not found\n", false),
        _ => ("400 Bad Request", "text/plain", "bad request\n", false),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        text.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(text.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        assert_eq!(
            parse(b"GET /metrics HTTP/1.1\r\nHost: x\r\n"),
            Request::Partial
        );
        let r = parse(b"GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            r,
            Request::Head {
                method: "GET".into(),
                path: "/metrics".into()
            }
        );
        assert_eq!(parse(b"hello\n\n"), Request::Bad);
        assert_eq!(parse(&vec![b'a'; MAX_HEAD + 1]), Request::Bad);
        let ok = String::from_utf8(respond(&r, "/metrics", "text/plain", "m 1\n")).unwrap();
        assert!(
            ok.starts_with("HTTP/1.1 200 OK\r\n") && ok.ends_with("\r\n\r\nm 1\n"),
            "{ok}"
        );
        assert!(ok.contains("Content-Length: 4\r\n"));
        let nf = respond(&parse(b"GET / HTTP/1.0\n\n"), "/metrics", "t", "");
        assert!(nf.starts_with(b"HTTP/1.1 404"));
        let na = respond(&parse(b"POST /metrics HTTP/1.0\n\n"), "/metrics", "t", "");
        assert!(na.starts_with(b"HTTP/1.1 405"));
        let head = respond(
            &parse(b"HEAD /metrics HTTP/1.0\n\n"),
            "/metrics",
            "t",
            "abc",
        );
        assert!(head.ends_with(b"Content-Length: 3\r\nConnection: close\r\n\r\n"));
    }
}
