//! Chat scripts: `parse_chat` on the input as text, then an `Expecter` for every expect step fed
//! the input bytes, and the `LineSplitter` over the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgetty::proto::chat::{
    ExpectResult, Expecter, INIT_ABORTS, LineSplitter, MAX_LINE, SendPiece, Step, WINDOW,
    answer_aborts, mdm_command_reply, parse_chat, printable,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let script = parse_chat(&text);
    let mut expects = vec![b"OK".to_vec()];
    for (i, step) in script.steps.iter().enumerate() {
        match step {
            Step::Expect(e) => {
                assert_eq!(i % 2, 0);
                expects.push(e.clone());
            }
            Step::Send(pieces) => {
                assert_eq!(i % 2, 1);
                assert!(matches!(pieces.first(), Some(SendPiece::Delay(_))));
            }
        }
    }
    let _ = script.sent_bytes();

    let answer = answer_aborts(true);
    for (k, expect) in expects.iter().take(8).enumerate() {
        let aborts: &[&[u8]] = if k % 2 == 0 { INIT_ABORTS } else { &answer };
        let mut ex = Expecter::new(expect, aborts);
        if ex.is_trivially_found() {
            assert_eq!(ex.feed(b'x'), Some(ExpectResult::Found));
            continue;
        }
        for i in 0..data.len() {
            let seen = &data[..=i];
            match ex.feed(data[i]) {
                Some(ExpectResult::Found) => {
                    assert!(expect.len() <= WINDOW && seen.ends_with(expect));
                    break;
                }
                Some(ExpectResult::Abort(a)) => {
                    assert!(seen.ends_with(aborts[a]), "abort {a} at {i}");
                    break;
                }
                None => assert!(!seen.ends_with(expect) || expect.len() > WINDOW),
            }
        }
    }

    let mut split = LineSplitter::new();
    for &b in data {
        if let Some(line) = split.feed(b) {
            assert!(!line.is_empty() && line.len() <= MAX_LINE);
            assert!(!line.contains(&b'\r') && !line.contains(&b'\n'));
            let _ = mdm_command_reply(&line);
            assert!(printable(&line).bytes().all(|c| (0x20..0x7f).contains(&c)));
        }
    }
});
