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

use crate::proto::telnet::{self, Decoder, Event, Options, opt};

/// The codec of one call.
#[derive(Debug, Default)]
pub struct Wire {
    telnet: Option<Telnet>,
}

#[derive(Debug)]
struct Telnet {
    dec: Decoder,
    opts: Options,
    after_cr: bool,
}

impl Wire {
    /// A raw call.
    pub fn raw() -> Wire {
        Wire::default()
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
