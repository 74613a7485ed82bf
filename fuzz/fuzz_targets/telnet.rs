//! Telnet / RFC 2217: the IAC `Decoder` on arbitrary bytes in any chunking, `escape_into`
//! round trips, `ComPort` parse/encode round trips, and two `Options` negotiators that must
//! settle instead of looping.
//!
//! Input: the first byte sets the chunk size and the option sets, the rest is the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgetty::proto::telnet::{ComPort, Decoder, Event, MAX_SB, Options, escape_into, opt};

fn decode(chunks: &mut dyn Iterator<Item = &[u8]>) -> (Vec<u8>, Vec<Event>) {
    let mut d = Decoder::new();
    let (mut data, mut ev) = (Vec::new(), Vec::new());
    for c in chunks {
        d.feed(c, &mut data, &mut ev);
    }
    (data, ev)
}

/// Two negotiators answering each other until nothing more is said: must end quickly.
fn settle(a_local: &[u8], a_remote: &[u8], b_local: &[u8], b_remote: &[u8]) {
    let mut a = Options::new(a_local, a_remote);
    let mut b = Options::new(b_local, b_remote);
    let mut to_b = Vec::new();
    a.start(&mut to_b);
    let mut to_a = Vec::new();
    b.start(&mut to_a);
    for _round in 0..8 {
        if to_a.is_empty() && to_b.is_empty() {
            return;
        }
        let (_, ev_b) = decode(&mut std::iter::once(&to_b[..]));
        let (_, ev_a) = decode(&mut std::iter::once(&to_a[..]));
        to_a.clear();
        to_b.clear();
        for e in ev_b {
            if let Event::Negotiate(v, o) = e {
                b.handle(v, o, &mut to_a);
            }
        }
        for e in ev_a {
            if let Event::Negotiate(v, o) = e {
                a.handle(v, o, &mut to_b);
            }
        }
    }
    panic!("negotiation did not settle: {a_local:?}/{a_remote:?} vs {b_local:?}/{b_remote:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, stream)) = data.split_first() else {
        return;
    };

    // chunking does not matter
    let whole = decode(&mut std::iter::once(stream));
    let size = usize::from(sel % 7) + 1;
    let chunked = decode(&mut stream.chunks(size));
    assert_eq!(whole, chunked, "chunk size {size}");
    let (plain, events) = whole;
    assert!(plain.len() <= stream.len());

    // data survives escaping
    let mut escaped = Vec::new();
    escape_into(stream, &mut escaped);
    let (back, ev) = decode(&mut std::iter::once(&escaped[..]));
    assert_eq!(back, stream);
    assert!(ev.is_empty());

    let mut server = Options::new(&[opt::BINARY, opt::SGA, opt::COM_PORT], &[opt::BINARY]);
    let mut out = Vec::new();
    for e in &events {
        match e {
            Event::Sub {
                option,
                payload,
                truncated,
            } => {
                assert!(payload.len() <= MAX_SB);
                assert!(!*truncated || payload.len() == MAX_SB);
                if *option == opt::COM_PORT
                    && let Ok((msg, from_server)) = ComPort::parse(payload)
                {
                    let mut wire = Vec::new();
                    msg.encode(from_server, &mut wire);
                    let (d, ev) = decode(&mut std::iter::once(&wire[..]));
                    assert!(d.is_empty());
                    let [
                        Event::Sub {
                            option: 44,
                            payload: p2,
                            truncated: false,
                        },
                    ] = &ev[..]
                    else {
                        panic!("re-encoded {msg:?} decodes as {ev:?}");
                    };
                    assert_eq!(ComPort::parse(p2), Ok((msg, from_server)));
                }
            }
            Event::Negotiate(v, o) => {
                out.clear();
                server.handle(*v, *o, &mut out);
                assert!(out.is_empty() || out.len() == 3);
                if out.len() == 3 {
                    assert_eq!((out[0], out[2]), (255, *o));
                }
            }
            Event::Command(c) => assert!(!matches!(*c, 250..=255)),
        }
    }

    // option sets from the input: negotiation terminates
    let sets: Vec<u8> = stream.iter().take(4).copied().collect();
    let pick = |mask: u8| -> Vec<u8> {
        sets.iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, &o)| o)
            .collect()
    };
    settle(
        &pick(sel),
        &pick(sel >> 4),
        &pick(!sel),
        &pick(sel.rotate_left(2)),
    );
});
