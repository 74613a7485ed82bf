//! RFC 6455 WebSocket, the server side (pure): the opening handshake's headers and accept
//! key, and a frame decoder/encoder.
//!
//! The decoder enforces what a server must (RFC 6455 sections in brackets): client frames
//! are masked (5.1), control frames carry at most 125 bytes and are never fragmented (5.5),
//! continuation frames follow a started message (5.4), reserved bits and opcodes are refused
//! (5.2), text messages are UTF-8 (8.1), and no message grows past the decoder's cap. Each
//! refusal names the close code to send ([`WsError::close_code`]).

/// The GUID of RFC 6455 section 1.3, appended to the client's key.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Largest control-frame payload (RFC 6455 5.5).
pub const MAX_CONTROL: usize = 125;

/// Close code: normal closure.
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code: going away (server shutting down, client dropped).
pub const CLOSE_AWAY: u16 = 1001;
/// Close code: protocol error.
pub const CLOSE_PROTOCOL: u16 = 1002;
/// Close code: invalid payload data (bad UTF-8 in a text message).
pub const CLOSE_BAD_DATA: u16 = 1007;
/// Close code: policy violation (a watcher typing, a refused command).
pub const CLOSE_POLICY: u16 = 1008;
/// Close code: message too big.
pub const CLOSE_TOO_BIG: u16 = 1009;

/// Frame opcodes (RFC 6455 5.2).
pub mod op {
    /// Continuation of a fragmented message.
    pub const CONT: u8 = 0;
    /// Text (UTF-8) data.
    pub const TEXT: u8 = 1;
    /// Binary data.
    pub const BINARY: u8 = 2;
    /// Close.
    pub const CLOSE: u8 = 8;
    /// Ping.
    pub const PING: u8 = 9;
    /// Pong.
    pub const PONG: u8 = 10;
}

/// A complete message from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A binary message.
    Binary(Vec<u8>),
    /// A text message (valid UTF-8).
    Text(String),
    /// A ping: answer with a pong carrying the same payload.
    Ping(Vec<u8>),
    /// A pong (ignored).
    Pong,
    /// A close frame: the code (if any) and reason.
    Close(Option<u16>, String),
}

/// Why the peer's bytes were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// A protocol rule was broken.
    #[error("websocket protocol error: {0}")]
    Protocol(&'static str),
    /// A frame or message over the cap.
    #[error("websocket message over {0} bytes")]
    TooBig(usize),
    /// A text message that is not UTF-8.
    #[error("websocket text message is not UTF-8")]
    BadUtf8,
}

impl WsError {
    /// The close code to answer with.
    pub fn close_code(&self) -> u16 {
        match self {
            WsError::Protocol(_) => CLOSE_PROTOCOL,
            WsError::TooBig(_) => CLOSE_TOO_BIG,
            WsError::BadUtf8 => CLOSE_BAD_DATA,
        }
    }
}

/// Frame decoder for one connection (server side: frames must be masked).
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    /// A fragmented data message in progress: its opcode and payload so far.
    frag: Option<(u8, Vec<u8>)>,
    max: usize,
    /// A close frame was received: nothing after it is read.
    closed: bool,
}

/// One parsed frame header.
struct Head {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    len: usize,
    hlen: usize,
}

impl Decoder {
    /// A decoder refusing messages (and frames) over `max` bytes.
    pub fn new(max: usize) -> Decoder {
        Decoder {
            buf: Vec::new(),
            frag: None,
            max,
            closed: false,
        }
    }

    /// Feed bytes from the socket; complete messages are appended to `out`. After an error
    /// the connection must be closed with [`WsError::close_code`].
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<Message>) -> Result<(), WsError> {
        if self.closed {
            return Ok(());
        }
        self.buf.extend_from_slice(data);
        let mut at = 0;
        let r = loop {
            match self.head(&self.buf[at..]) {
                Ok(Some(h)) if self.buf.len() - at >= h.hlen + h.len => {
                    let start = at + h.hlen;
                    let mut payload = self.buf[start..start + h.len].to_vec();
                    unmask(&mut payload, h.mask, 0);
                    at = start + h.len;
                    if let Err(e) = self.frame(h.fin, h.opcode, payload, out) {
                        break Err(e);
                    }
                    if self.closed {
                        break Ok(());
                    }
                }
                Ok(_) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.buf.drain(..at);
        r
    }

    /// Parse a frame header at the front of `b` (`None`: not all there yet).
    fn head(&self, b: &[u8]) -> Result<Option<Head>, WsError> {
        if b.len() < 2 {
            return Ok(None);
        }
        let (fin, rsv, opcode) = (b[0] & 0x80 != 0, b[0] & 0x70, b[0] & 0x0f);
        if rsv != 0 {
            return Err(WsError::Protocol("reserved bits set"));
        }
        if !matches!(opcode, 0..=2 | 8..=10) {
            return Err(WsError::Protocol("unknown opcode"));
        }
        if b[1] & 0x80 == 0 {
            return Err(WsError::Protocol("client frame not masked"));
        }
        let (len, at) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as u64, 4),
            127 if b.len() >= 10 => {
                let mut l = [0u8; 8];
                l.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(l), 10)
            }
            126 | 127 => return Ok(None),
            n => (n as u64, 2),
        };
        if opcode >= 8 && (len as usize > MAX_CONTROL || !fin) {
            return Err(WsError::Protocol("control frame too long or fragmented"));
        }
        if len > self.max as u64 {
            return Err(WsError::TooBig(self.max));
        }
        if b.len() < at + 4 {
            return Ok(None);
        }
        let mut mask = [0u8; 4];
        mask.copy_from_slice(&b[at..at + 4]);
        Ok(Some(Head {
            fin,
            opcode,
            mask,
            len: len as usize,
            hlen: at + 4,
        }))
    }

    /// Handle one unmasked frame.
    fn frame(
        &mut self,
        fin: bool,
        opcode: u8,
        payload: Vec<u8>,
        out: &mut Vec<Message>,
    ) -> Result<(), WsError> {
        match opcode {
            op::PING => out.push(Message::Ping(payload)),
            op::PONG => out.push(Message::Pong),
            op::CLOSE => {
                self.closed = true;
                out.push(parse_close(&payload)?);
            }
            op::CONT => {
                let Some((_, so_far)) = self.frag.as_mut() else {
                    return Err(WsError::Protocol("continuation without a message"));
                };
                if so_far.len() + payload.len() > self.max {
                    return Err(WsError::TooBig(self.max));
                }
                so_far.extend_from_slice(&payload);
                if fin {
                    if let Some((first, all)) = self.frag.take() {
                        out.push(data_message(first, all)?);
                    }
                }
            }
            _ if self.frag.is_some() => {
                return Err(WsError::Protocol("new message inside a fragmented one"));
            }
            _ if fin => out.push(data_message(opcode, payload)?),
            _ => self.frag = Some((opcode, payload)),
        }
        Ok(())
    }
}

fn data_message(opcode: u8, payload: Vec<u8>) -> Result<Message, WsError> {
    if opcode == op::TEXT {
        String::from_utf8(payload)
            .map(Message::Text)
            .map_err(|_| WsError::BadUtf8)
    } else {
        Ok(Message::Binary(payload))
    }
}

fn parse_close(p: &[u8]) -> Result<Message, WsError> {
    match p {
        [] => Ok(Message::Close(None, String::new())),
        [_] => Err(WsError::Protocol("close payload of one byte")),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            // RFC 6455 7.4: 1004-1006 and 1015 are never sent; <1000 and 1016-2999 unassigned.
            let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !valid {
                return Err(WsError::Protocol("bad close code"));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| WsError::BadUtf8)?;
            Ok(Message::Close(Some(code), reason.to_string()))
        }
    }
}

/// XOR `data` with `mask`, starting at mask offset `off`.
pub fn unmask(data: &mut [u8], mask: [u8; 4], off: usize) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= mask[(i + off) % 4];
    }
}

/// Append one unfragmented frame (server side: unmasked; `mask` for a client).
pub fn encode(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    out.push(0x80 | opcode);
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(m | n as u8),
        n @ 126..=0xffff => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            let at = out.len();
            out.extend_from_slice(payload);
            unmask(&mut out[at..], k, 0);
        }
        None => out.extend_from_slice(payload),
    }
}

/// A close frame with `code` and a short reason (cut to fit a control frame).
pub fn close_frame(code: u16, reason: &str, out: &mut Vec<u8>) {
    let mut p = code.to_be_bytes().to_vec();
    let mut r = reason;
    while r.len() > MAX_CONTROL - 2 {
        let mut cut = MAX_CONTROL - 2;
        while !r.is_char_boundary(cut) {
            cut -= 1;
        }
        r = &r[..cut];
    }
    p.extend_from_slice(r.as_bytes());
    encode(op::CLOSE, &p, None, out);
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (RFC 6455 4.2.2).
///
/// ```
/// use rgetty::proto::websocket::accept_key;
/// assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &str) -> String {
    let mut ctx = ::ring::digest::Context::new(&::ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.trim().as_bytes());
    ctx.update(GUID.as_bytes());
    base64(ctx.finish().as_ref())
}

/// Standard base64 with padding (RFC 4648 section 4).
pub fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// The parts of an HTTP request head a WebSocket upgrade needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Upgrade {
    /// `Sec-WebSocket-Key`.
    pub key: String,
    /// `Origin`, if sent.
    pub origin: Option<String>,
    /// `Host`.
    pub host: String,
}

/// One header's value (case-insensitive name; the first occurrence).
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Check a request head (`GET ... HTTP/1.1` and headers) for a WebSocket upgrade (RFC 6455 4.2.1).
pub fn upgrade(head: &str) -> Result<Upgrade, &'static str> {
    let has = |name: &str, word: &str| {
        header(head, name)
            .is_some_and(|v| v.split(',').any(|w| w.trim().eq_ignore_ascii_case(word)))
    };
    if !head.starts_with("GET ") {
        return Err("a websocket upgrade must be a GET");
    }
    if !has("Upgrade", "websocket") || !has("Connection", "upgrade") {
        return Err("not a websocket upgrade");
    }
    if header(head, "Sec-WebSocket-Version") != Some("13") {
        return Err("websocket version is not 13");
    }
    let key = header(head, "Sec-WebSocket-Key").ok_or("no Sec-WebSocket-Key")?;
    let host = header(head, "Host").ok_or("no Host header")?;
    Ok(Upgrade {
        key: key.to_string(),
        origin: header(head, "Origin").map(str::to_string),
        host: host.to_string(),
    })
}

/// Whether `origin` is the page's own: `scheme://host` where host is the request's `Host`.
///
/// ```
/// use rgetty::proto::websocket::same_origin;
/// assert!(same_origin(Some("http://127.0.0.1:8080"), "127.0.0.1:8080", false));
/// assert!(!same_origin(Some("http://evil.example"), "127.0.0.1:8080", false));
/// assert!(!same_origin(Some("http://127.0.0.1:8080"), "127.0.0.1:8080", true));
/// assert!(!same_origin(None, "127.0.0.1:8080", false));
/// ```
pub fn same_origin(origin: Option<&str>, host: &str, tls: bool) -> bool {
    let scheme = if tls { "https://" } else { "http://" };
    origin.is_some_and(|o| {
        o.strip_prefix(scheme)
            .is_some_and(|h| h.eq_ignore_ascii_case(host))
    })
}

/// The `101 Switching Protocols` answer for a key.
pub fn accept_response(key: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode(opcode, payload, Some([1, 2, 3, 4]), &mut v);
        if !fin {
            v[0] &= 0x7f;
        }
        v
    }

    fn feed(d: &mut Decoder, b: &[u8]) -> Result<Vec<Message>, WsError> {
        let mut out = Vec::new();
        d.feed(b, &mut out).map(|()| out)
    }

    #[test]
    fn rfc_examples() {
        // RFC 6455 section 5.7: a masked "Hello".
        let hello = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let mut d = Decoder::new(1024);
        assert_eq!(
            feed(&mut d, &hello),
            Ok(vec![Message::Text("Hello".into())])
        );
        let mut v = Vec::new();
        encode(op::TEXT, b"Hello", None, &mut v);
        assert_eq!(v, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(b"fooba"), "Zm9vYmE=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn byte_by_byte_and_lengths() {
        for n in [0usize, 125, 126, 300, 65535, 65536] {
            let p: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let f = masked(true, op::BINARY, &p);
            let mut d = Decoder::new(1 << 20);
            let mut out = Vec::new();
            for b in &f {
                d.feed(std::slice::from_ref(b), &mut out).unwrap();
            }
            assert_eq!(out, vec![Message::Binary(p)], "length {n}");
        }
    }

    #[test]
    fn fragments_with_a_ping_between() {
        let mut b = masked(false, op::TEXT, b"ab");
        b.extend(masked(true, op::PING, b"p"));
        b.extend(masked(false, op::CONT, b"c"));
        b.extend(masked(true, op::CONT, b"d"));
        let mut d = Decoder::new(100);
        assert_eq!(
            feed(&mut d, &b),
            Ok(vec![
                Message::Ping(b"p".to_vec()),
                Message::Text("abcd".into())
            ])
        );
    }

    #[test]
    fn refusals() {
        let mut unmasked = Vec::new();
        encode(op::TEXT, b"x", None, &mut unmasked);
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (unmasked, CLOSE_PROTOCOL),
            (masked(true, op::BINARY, &[0; 101]), CLOSE_TOO_BIG),
            (masked(false, op::PING, b""), CLOSE_PROTOCOL),
            (masked(true, op::PING, &[0; 126]), CLOSE_PROTOCOL),
            (masked(true, op::CONT, b"x"), CLOSE_PROTOCOL),
            (masked(true, op::TEXT, &[0xff]), CLOSE_BAD_DATA),
            (masked(true, 3, b""), CLOSE_PROTOCOL),
            (masked(true, op::CLOSE, &[3, 0xed]), CLOSE_PROTOCOL),
            (masked(true, op::CLOSE, &[1]), CLOSE_PROTOCOL),
            (
                [masked(false, op::TEXT, b"a"), masked(true, op::TEXT, b"b")].concat(),
                CLOSE_PROTOCOL,
            ),
            (
                [
                    masked(false, op::TEXT, &[0; 60]),
                    masked(true, op::CONT, &[0; 60]),
                ]
                .concat(),
                CLOSE_TOO_BIG,
            ),
        ];
        for (i, (bytes, code)) in cases.into_iter().enumerate() {
            let mut d = Decoder::new(100);
            let e = feed(&mut d, &bytes).expect_err(&format!("case {i}"));
            assert_eq!(e.close_code(), code, "case {i}: {e}");
        }
        let mut rsv = masked(true, op::TEXT, b"x");
        rsv[0] |= 0x40;
        assert!(feed(&mut Decoder::new(100), &rsv).is_err());
    }

    #[test]
    fn oversized_length_refused_before_the_payload_arrives() {
        let mut d = Decoder::new(1000);
        let head = [0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(feed(&mut d, &head), Err(WsError::TooBig(1000)));
    }

    #[test]
    fn close_and_nothing_after() {
        let mut b = Vec::new();
        let mut c = Vec::new();
        close_frame(1000, "bye", &mut c);
        // A client close is masked: re-encode the payload masked.
        b.extend(masked(true, op::CLOSE, &c[2..]));
        b.extend(masked(true, op::TEXT, b"late"));
        let mut d = Decoder::new(100);
        assert_eq!(
            feed(&mut d, &b),
            Ok(vec![Message::Close(Some(1000), "bye".into())])
        );
        let mut long = Vec::new();
        close_frame(1000, &"é".repeat(100), &mut long);
        assert!(long.len() <= 2 + MAX_CONTROL);
    }

    #[test]
    fn handshake() {
        let head = "GET /port/5800/ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n\
                    Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                    Origin: http://127.0.0.1:8080\r\nSec-WebSocket-Version: 13";
        let u = upgrade(head).unwrap();
        assert_eq!(u.host, "127.0.0.1:8080");
        assert!(same_origin(u.origin.as_deref(), &u.host, false));
        assert!(accept_response(&u.key).contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        assert!(upgrade(&head.replace("13", "8")).is_err());
        assert!(upgrade(&head.replace("Upgrade: websocket", "X: y")).is_err());
    }
}
