//! PPP async-HDLC framing (RFC 1662): FCS-16, frame encoding and decoding, and a genuine LCP
//! Configure-Request, used by the virtual modem's caller to start PPP the way a real peer does.
//!
//! Pure: no I/O. The FCS is CRC-16/IBM-SDLC (reflected 0x8408, init 0xFFFF, final XOR 0xFFFF):
//! check value 0x906E over `"123456789"`; over a good frame including its FCS the raw register
//! leaves the residue 0xF0B8 (0x0F47 after the final XOR).

/// The flag byte that opens and closes every frame.
pub const FLAG: u8 = 0x7e;
/// The control-escape byte.
pub const ESCAPE: u8 = 0x7d;
/// The default async-control-character map: escape every byte below 0x20.
pub const DEFAULT_ACCM: u32 = 0xffff_ffff;
/// The LCP protocol number.
pub const PROTO_LCP: u16 = 0xc021;

/// Why [`decode_frame`] rejected a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer than 2 bytes between the flags (no room for an FCS).
    #[error("frame too short: {0} bytes")]
    TooShort(usize),
    /// The frame ends with a control-escape byte.
    #[error("frame ends in an escape byte")]
    DanglingEscape,
    /// The FCS does not check out.
    #[error("bad fcs: residue {0:#06x}")]
    BadFcs(u16),
}

/// Run the FCS-16 register over `data`, starting from `fcs` (no final XOR).
fn fcs_update(mut fcs: u16, data: &[u8]) -> u16 {
    for &b in data {
        fcs ^= u16::from(b);
        for _ in 0..8 {
            fcs = if fcs & 1 != 0 {
                (fcs >> 1) ^ 0x8408
            } else {
                fcs >> 1
            };
        }
    }
    fcs
}

/// The PPP FCS-16 of `data` (CRC-16/IBM-SDLC, final XOR applied): `fcs16(b"123456789") == 0x906e`.
pub fn fcs16(data: &[u8]) -> u16 {
    fcs_update(0xffff, data) ^ 0xffff
}

/// Frame `payload` (address, control, protocol and information, without FCS): append the FCS
/// (little-endian), escape flag and escape bytes and every byte below 0x20 whose bit is set in
/// `accm`, and enclose in flags.
pub fn encode_frame(payload: &[u8], accm: u32) -> Vec<u8> {
    let fcs = fcs16(payload).to_le_bytes();
    let mut out = Vec::with_capacity(payload.len() * 2 + 6);
    out.push(FLAG);
    for &b in payload.iter().chain(fcs.iter()) {
        let needs = b == FLAG || b == ESCAPE || (b < 0x20 && accm & (1 << b) != 0);
        if needs {
            out.push(ESCAPE);
            out.push(b ^ 0x20);
        } else {
            out.push(b);
        }
    }
    out.push(FLAG);
    out
}

/// Decode one frame: `bytes` may include the enclosing flags. Returns the payload without FCS.
pub fn decode_frame(bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let inner = bytes.strip_prefix(&[FLAG]).unwrap_or(bytes);
    let inner = inner.strip_suffix(&[FLAG]).unwrap_or(inner);
    let mut out = Vec::with_capacity(inner.len());
    let mut esc = false;
    for &b in inner {
        if esc {
            out.push(b ^ 0x20);
            esc = false;
        } else if b == ESCAPE {
            esc = true;
        } else {
            out.push(b);
        }
    }
    if esc {
        return Err(DecodeError::DanglingEscape);
    }
    if out.len() < 2 {
        return Err(DecodeError::TooShort(out.len()));
    }
    let residue = fcs_update(0xffff, &out);
    if residue != 0xf0b8 {
        return Err(DecodeError::BadFcs(residue));
    }
    out.truncate(out.len() - 2);
    Ok(out)
}

/// A framed LCP Configure-Request (address FF, control 03, protocol C021, code 1) with the
/// options ACCM 0x00000000 and Magic-Number `magic`, framed with the default ACCM, so the frame
/// starts `7E FF 7D 23 C0 21` as pppd's first frame does.
pub fn lcp_configure_request(id: u8, magic: u32) -> Vec<u8> {
    let mut opts = vec![2, 6, 0, 0, 0, 0]; // ACCM: 0x00000000
    opts.extend_from_slice(&[5, 6]); // Magic-Number
    opts.extend_from_slice(&magic.to_be_bytes());
    let len = u16::try_from(4 + opts.len())
        .unwrap_or(u16::MAX)
        .to_be_bytes();
    let mut payload = vec![0xff, 0x03, 0xc0, 0x21, 1, id, len[0], len[1]];
    payload.extend_from_slice(&opts);
    encode_frame(&payload, DEFAULT_ACCM)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fcs_check_value() {
        assert_eq!(fcs16(b"123456789"), 0x906e);
        // residue over data + FCS (little-endian), with the final XOR
        let mut d = b"123456789".to_vec();
        d.extend_from_slice(&0x906e_u16.to_le_bytes());
        assert_eq!(fcs_update(0xffff, &d) ^ 0xffff, 0x0f47);
    }

    #[test]
    fn encode_escapes() {
        let table: &[(&[u8], u32, &[u8])] = &[
            (b"", 0, &[0x7e, 0x00, 0x00, 0x7e]),
            (&[0x7e], 0, &[0x7e, 0x7d, 0x5e]),
            (&[0x7d], 0, &[0x7e, 0x7d, 0x5d]),
            (&[0x03], 0xffff_ffff, &[0x7e, 0x7d, 0x23]),
            (&[0x03], 0, &[0x7e, 0x03]),
            (&[0x11], 1 << 0x11, &[0x7e, 0x7d, 0x31]),
            (&[0x20], 0xffff_ffff, &[0x7e, 0x20]),
        ];
        for (payload, accm, prefix) in table {
            let f = encode_frame(payload, *accm);
            assert!(f.starts_with(prefix), "{payload:?} {accm:#x}: {f:02x?}");
            assert_eq!(f.last(), Some(&FLAG));
            assert_eq!(decode_frame(&f).unwrap(), *payload);
        }
    }

    #[test]
    fn lcp_request() {
        let f = lcp_configure_request(1, 0x1234_5678);
        assert!(
            f.starts_with(&[0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21, 0x7d, 0x21]),
            "{f:02x?}"
        );
        let p = decode_frame(&f).unwrap();
        assert_eq!(
            p,
            [
                0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 16, 2, 6, 0, 0, 0, 0, 5, 6, 0x12, 0x34, 0x56, 0x78
            ]
        );
        assert_eq!(&f[f.len() - 1..], &[FLAG]);
    }

    #[test]
    fn decode_errors() {
        assert_eq!(decode_frame(&[0x7e, 0x7e]), Err(DecodeError::TooShort(0)));
        assert_eq!(
            decode_frame(&[0x7e, 1, 0x7d, 0x7e]),
            Err(DecodeError::DanglingEscape)
        );
        let mut f = encode_frame(b"hello", 0);
        f[2] ^= 1;
        assert!(matches!(decode_frame(&f), Err(DecodeError::BadFcs(_))));
    }

    proptest! {
        #[test]
        fn roundtrip(payload in proptest::collection::vec(any::<u8>(), 0..200), accm in any::<u32>()) {
            let f = encode_frame(&payload, accm);
            prop_assert!(!f[1..f.len() - 1].contains(&FLAG));
            prop_assert_eq!(decode_frame(&f).unwrap(), payload);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = decode_frame(&bytes);
        }
    }
}
