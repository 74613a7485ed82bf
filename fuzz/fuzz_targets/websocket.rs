//! WebSocket: the frame `Decoder` on arbitrary bytes in any chunking gives the same messages
//! (or the same error), never a message over its cap; frames it encodes decode back.
//!
//! Input: the first byte sets the chunk size, the rest is the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgetty::proto::websocket::{Decoder, Message, WsError, encode, op};

const MAX: usize = 4096;

fn decode(chunks: &mut dyn Iterator<Item = &[u8]>) -> (Vec<Message>, Option<WsError>) {
    let mut d = Decoder::new(MAX);
    let mut out = Vec::new();
    for c in chunks {
        if let Err(e) = d.feed(c, &mut out) {
            return (out, Some(e));
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, stream)) = data.split_first() else {
        return;
    };
    let whole = decode(&mut std::iter::once(stream));
    let size = usize::from(sel % 7) + 1;
    assert_eq!(whole, decode(&mut stream.chunks(size)), "chunk size {size}");
    for m in &whole.0 {
        match m {
            Message::Binary(b) => assert!(b.len() <= MAX),
            Message::Text(t) => assert!(t.len() <= MAX),
            Message::Ping(p) => assert!(p.len() <= 125),
            _ => {}
        }
    }
    let mut wire = Vec::new();
    encode(op::BINARY, stream, Some([sel, 1, 2, 3]), &mut wire);
    let back = decode(&mut std::iter::once(&wire[..]));
    if stream.len() <= MAX {
        assert_eq!(back, (vec![Message::Binary(stream.to_vec())], None));
    }
});
