//! The bytes of one call on the TCP side: raw, or telnet with BINARY negotiated.
//!
//! Pure. A raw call passes bytes unchanged (what binary transfers need: `+++` and 0xFF arrive
//! as they are). A telnet call escapes 0xFF as `IAC IAC`, answers option negotiation without
//! loops ([`crate::proto::telnet::Options`]) and offers BINARY both ways so 8-bit data survives:
//!
//! * answering (a telnet client called in): WILL BINARY, WILL ECHO, WILL SGA, DO BINARY,
//!   DO SGA (the client goes to character mode and leaves echo to the getty);
//! * dialling out: WILL BINARY, DO BINARY, DO ECHO, DO SGA (the BBS echoes).
//!
//! While the peer has not agreed to BINARY, the `CR NUL` it sends for a bare CR (RFC 854)
//! becomes `CR`.
//!
//! An answered call that is neither forced raw nor telnet starts raw and watches its first
//! bytes ([`Wire::detect`]): a telnet client either negotiates first (IAC and a verb), or, in
//! the line mode it starts in on a port other than 23 (Debian's telnet sends nothing first),
//! sends its first line as NVT text ending in `CR LF`. Such a caller gets the answering
//! negotiation then (WILL ECHO and WILL SGA take it to character mode without local echo, so
//! a password typed next is not shown). Anything else (a bare LF or CR, a control or 8-bit
//! byte, 256 bytes without a line end) makes the call raw for good. Bytes are never held
//! back while watching, except a first IAC until the next byte.

use crate::proto::telnet::{self, Decoder, Event, Options, opt};

/// The codec of one call.
#[derive(Debug, Default)]
pub struct Wire {
    telnet: Option<Telnet>,
    /// Watching a raw call's first bytes for a telnet client.
    sniff: Option<Sniff>,
}

/// What a raw call's first bytes say about the caller.
#[derive(Debug, Default)]
struct Sniff {
    /// Bytes seen so far.
    seen: usize,
    /// The byte before.
    prev: Option<u8>,
    /// The first byte was IAC and nothing followed yet: it waits for its verb.
    held: bool,
}

/// What [`Sniff::feed`] concluded from one more byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Not yet known.
    Open,
    /// A telnet client that negotiates first: everything is telnet.
    Negotiates,
    /// A telnet client in line mode: its first line (up to `CR LF`) is data, the rest telnet.
    LineMode,
    /// Anything else: raw for good.
    Raw,
}

#[derive(Debug)]
struct Telnet {
    dec: Decoder,
    opts: Options,
    after_cr: bool,
}

/// Longest first line watched for its `CR LF`.
const SNIFF_MAX: usize = 256;

impl Sniff {
    fn feed(&mut self, b: u8) -> Verdict {
        use crate::proto::telnet::cmd::{IAC, SB};
        let prev = self.prev.replace(b);
        self.seen += 1;
        match (prev, b) {
            (None, IAC) => Verdict::Open,
            (Some(IAC), v) if (SB..IAC).contains(&v) => Verdict::Negotiates,
            (Some(b'\r'), b'\n' | 0) => Verdict::LineMode,
            (Some(b'\r' | IAC), _) => Verdict::Raw,
            _ if self.seen > SNIFF_MAX => Verdict::Raw,
            (_, b'\r' | b'\t' | 0x08 | 0x20..=0x7f) => Verdict::Open,
            _ => Verdict::Raw,
        }
    }
}

impl Wire {
    /// A raw call.
    pub fn raw() -> Wire {
        Wire::default()
    }

    /// An answered call that starts raw and turns telnet if the caller is a telnet client
    /// (see the module text).
    pub fn detect() -> Wire {
        Wire {
            telnet: None,
            sniff: Some(Sniff::default()),
        }
    }

    /// A telnet call; the opening negotiation is appended to `out`. `answering`: the peer
    /// called us.
    pub fn telnet(answering: bool, out: &mut Vec<u8>) -> Wire {
        let mut opts = if answering {
            Options::new(
                &[opt::BINARY, opt::ECHO, opt::SGA],
                &[opt::BINARY, opt::SGA],
            )
        } else {
            Options::new(&[opt::BINARY], &[opt::BINARY, opt::ECHO, opt::SGA])
        };
        opts.start(out);
        Wire {
            telnet: Some(Telnet {
                dec: Decoder::new(),
                opts,
                after_cr: false,
            }),
            sniff: None,
        }
    }

    /// Whether this is a telnet call.
    pub fn is_telnet(&self) -> bool {
        self.telnet.is_some()
    }

    /// Whether BINARY is in effect in both directions (always true for raw calls).
    pub fn binary(&self) -> bool {
        self.telnet
            .as_ref()
            .is_none_or(|t| t.opts.local_enabled(opt::BINARY) && t.opts.remote_enabled(opt::BINARY))
    }

    /// Bytes received from the peer: data to `data`, negotiation answers to `reply`.
    pub fn decode(&mut self, input: &[u8], data: &mut Vec<u8>, reply: &mut Vec<u8>) {
        let input = &self.sniffed(input, data, reply);
        let Some(t) = &mut self.telnet else {
            data.extend_from_slice(input);
            return;
        };
        let mut plain = Vec::with_capacity(input.len());
        let mut events = Vec::new();
        t.dec.feed(input, &mut plain, &mut events);
        for e in events {
            if let Event::Negotiate(verb, option) = e {
                t.opts.handle(verb, option, reply);
            }
        }
        let binary = t.opts.remote_enabled(opt::BINARY);
        for b in plain {
            if !binary && t.after_cr && b == 0 {
                t.after_cr = false;
                continue;
            }
            t.after_cr = b == b'\r';
            data.push(b);
        }
    }

    /// While watching a raw call: pass the bytes before the verdict to `data` (a first IAC is
    /// kept back until the next byte), and switch to telnet (its negotiation to `reply`) when
    /// the caller turns out to be a telnet client. Returns the bytes still to decode.
    fn sniffed(&mut self, input: &[u8], data: &mut Vec<u8>, reply: &mut Vec<u8>) -> Vec<u8> {
        let Some(sn) = &mut self.sniff else {
            return input.to_vec();
        };
        let mut bytes = Vec::with_capacity(input.len() + 1);
        if std::mem::take(&mut sn.held) {
            bytes.push(telnet::cmd::IAC);
        }
        let offset = bytes.len();
        bytes.extend_from_slice(input);
        for (i, &b) in input.iter().enumerate() {
            let cut = match sn.feed(b) {
                Verdict::Open => continue,
                Verdict::Raw => {
                    self.sniff = None;
                    return bytes;
                }
                Verdict::Negotiates => 0,
                Verdict::LineMode => offset + i + 1,
            };
            self.sniff = None;
            data.extend_from_slice(&bytes[..cut]);
            self.telnet = Wire::telnet(true, reply).telnet;
            return bytes.split_off(cut);
        }
        if bytes == [telnet::cmd::IAC] {
            sn.held = true;
        } else {
            data.extend_from_slice(&bytes);
        }
        Vec::new()
    }

    /// Data for the peer, encoded, appended to `out`.
    pub fn encode(&self, data: &[u8], out: &mut Vec<u8>) {
        if self.telnet.is_some() {
            telnet::escape_into(data, out);
        } else {
            out.extend_from_slice(data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::telnet::cmd::{DO, DONT, IAC, WILL, WONT};

    #[test]
    fn raw_is_transparent() {
        let mut w = Wire::raw();
        let (mut d, mut r) = (Vec::new(), Vec::new());
        w.decode(b"+++\xff\xff\r\0", &mut d, &mut r);
        assert_eq!(d, b"+++\xff\xff\r\0");
        assert!(r.is_empty());
        let mut o = Vec::new();
        w.encode(b"\xff", &mut o);
        assert_eq!(o, b"\xff");
        assert!(w.binary() && !w.is_telnet());
    }

    #[test]
    fn telnet_answering_and_dialling_agree() {
        let (mut a_out, mut b_out) = (Vec::new(), Vec::new());
        let mut a = Wire::telnet(false, &mut a_out);
        let mut b = Wire::telnet(true, &mut b_out);
        assert_eq!(
            b_out,
            [
                IAC, WILL, 0, IAC, WILL, 1, IAC, WILL, 3, IAC, DO, 0, IAC, DO, 3
            ]
        );
        // exchange negotiation until both are quiet
        for _ in 0..5 {
            let (mut d, mut ra, mut rb) = (Vec::new(), Vec::new(), Vec::new());
            a.decode(&std::mem::take(&mut b_out), &mut d, &mut ra);
            b.decode(&std::mem::take(&mut a_out), &mut d, &mut rb);
            assert!(d.is_empty());
            a_out = ra;
            b_out = rb;
        }
        assert!(a_out.is_empty() && b_out.is_empty());
        assert!(a.binary() && b.binary());
        // 0xFF survives both ways
        let mut wire = Vec::new();
        a.encode(b"x\xffy\r\0", &mut wire);
        assert_eq!(wire, b"x\xff\xffy\r\0");
        let (mut d, mut r) = (Vec::new(), Vec::new());
        b.decode(&wire, &mut d, &mut r);
        assert_eq!(d, b"x\xffy\r\0", "BINARY: CR NUL stays");
    }

    /// Feed `chunks` to a detecting wire: (data, replies, telnet now).
    fn detect(chunks: &[&[u8]]) -> (Vec<u8>, Vec<u8>, bool) {
        let mut w = Wire::detect();
        let (mut d, mut r) = (Vec::new(), Vec::new());
        for c in chunks {
            w.decode(c, &mut d, &mut r);
        }
        (d, r, w.is_telnet())
    }

    #[test]
    fn a_telnet_client_in_line_mode_is_detected_at_its_first_cr_lf() {
        let (d, r, telnet) = detect(&[b"ro", b"ot\r", b"\npw\xff\xff"]);
        assert!(telnet);
        assert_eq!(d, b"root\r\npw\xff");
        assert_eq!(
            &r[..15],
            [
                IAC, WILL, 0, IAC, WILL, 1, IAC, WILL, 3, IAC, DO, 0, IAC, DO, 3
            ]
        );
    }

    #[test]
    fn a_telnet_client_negotiating_first_is_detected() {
        // the first IAC waits for its verb; the negotiation never reaches the data
        let (d, r, telnet) = detect(&[&[IAC], &[DO, 3, b'x']]);
        assert!(telnet);
        assert_eq!(d, b"x");
        assert!(r.starts_with(&[IAC, WILL, 0]), "{r:?}");
    }

    #[test]
    fn other_callers_stay_raw() {
        for chunks in [
            &[&b"root\n"[..], b"\xff\xfd\x03"][..],
            &[b"root\r", b"x\r\n"],
            &[b"\x18B00\r\n"],
            &[&[IAC], b"a\r\n"],
            &[&[b'a'; 300][..], b"\r\n"],
        ] {
            let (d, r, telnet) = detect(chunks);
            assert!(!telnet && r.is_empty(), "{chunks:?}");
            assert_eq!(d, chunks.concat(), "raw data passes unchanged");
        }
    }

    #[test]
    fn telnet_without_binary_drops_nul_after_cr() {
        let mut out = Vec::new();
        let mut w = Wire::telnet(true, &mut out);
        let (mut d, mut r) = (Vec::new(), Vec::new());
        w.decode(&[IAC, WONT, 0, IAC, DONT, 0, b'a', b'\r'], &mut d, &mut r);
        w.decode(&[0, b'b', b'\r', b'\n'], &mut d, &mut r);
        assert_eq!(d, b"a\rb\r\n");
        assert_eq!(r, [IAC, DONT, 0, IAC, WONT, 0]);
        assert!(!w.binary());
    }
}
