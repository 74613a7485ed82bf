//! PPP's HDLC-like framing (what AutoPPP and the virtual modem's PPP probe speak):
//! `proto::hdlc::encode_frame` and `decode_frame`. Every payload decodes back from its frame
//! whatever the ACCM; a frame holds no flag byte inside and none of the control bytes its ACCM
//! escapes; decoding arbitrary bytes never panics.
//!
//! Input: 4 bytes of ACCM, then the payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgetty::proto::hdlc::{FLAG, decode_frame, encode_frame};

fuzz_target!(|data: &[u8]| {
    let _ = decode_frame(data);
    let Some((accm, payload)) = data.split_first_chunk::<4>() else {
        return;
    };
    let accm = u32::from_le_bytes(*accm);
    let frame = encode_frame(payload, accm);
    assert!(frame.len() >= payload.len() + 4);
    assert_eq!((frame[0], frame[frame.len() - 1]), (FLAG, FLAG));
    for &b in &frame[1..frame.len() - 1] {
        assert_ne!(b, FLAG, "a flag inside the frame");
        assert!(b >= 0x20 || accm & (1 << b) == 0, "{b:#04x} is not escaped");
    }
    assert_eq!(decode_frame(&frame).as_deref(), Ok(payload));
});
