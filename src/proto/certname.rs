//! The subject common name (CN) of an X.509 certificate in DER: the name a web console user
//! is known by when they log in with a client certificate. Only the few DER elements on the
//! way to the subject are read; the certificate itself was checked by rustls beforehand.

/// The OID 2.5.4.3 (commonName), DER-encoded content.
const CN_OID: &[u8] = &[0x55, 0x04, 0x03];

/// One DER element: tag, content, and what follows.
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first()?;
    let (&first, b) = b.split_first()?;
    let (len, b) = if first < 0x80 {
        (usize::from(first), b)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || b.len() < n {
            return None;
        }
        let len = b[..n]
            .iter()
            .fold(0usize, |a, &x| (a << 8) | usize::from(x));
        (len, &b[n..])
    };
    if b.len() < len {
        return None;
    }
    Some((tag, &b[..len], &b[len..]))
}

/// The content of a SEQUENCE (tag 0x30).
fn seq(b: &[u8]) -> Option<&[u8]> {
    match tlv(b)? {
        (0x30, c, _) => Some(c),
        _ => None,
    }
}

/// The subject's first common name, when it is a UTF8String, PrintableString or IA5String.
///
/// ```
/// // SEQUENCE { SEQUENCE { INTEGER 1, SEQ{}, SEQ{} issuer, SEQ{} validity,
/// //   SEQ { SET { SEQ { OID 2.5.4.3, UTF8String "alice" } } } } }
/// let subject = [0x30, 0x10, 0x31, 0x0e, 0x30, 0x0c, 0x06, 0x03, 0x55, 0x04, 0x03,
///                0x0c, 0x05, b'a', b'l', b'i', b'c', b'e'];
/// let mut tbs = vec![0x02, 0x01, 0x01, 0x30, 0x00, 0x30, 0x00, 0x30, 0x00];
/// tbs.extend_from_slice(&subject);
/// let mut cert = vec![0x30, tbs.len() as u8 + 2, 0x30, tbs.len() as u8];
/// cert.extend_from_slice(&tbs);
/// assert_eq!(rgetty::proto::certname::subject_cn(&cert).as_deref(), Some("alice"));
/// assert_eq!(rgetty::proto::certname::subject_cn(&cert[..10]), None);
/// ```
pub fn subject_cn(der: &[u8]) -> Option<String> {
    let mut tbs = seq(seq(der)?)?;
    // The optional version ([0]), then serial, signature algorithm, issuer, validity.
    if tbs.first() == Some(&0xa0) {
        tbs = tlv(tbs)?.2;
    }
    for _ in 0..4 {
        tbs = tlv(tbs)?.2;
    }
    let mut rdns = seq(tbs)?;
    while !rdns.is_empty() {
        let (tag, set, rest) = tlv(rdns)?;
        rdns = rest;
        if tag != 0x31 {
            return None;
        }
        let mut atvs = set;
        while !atvs.is_empty() {
            let (_, atv, rest) = tlv(atvs)?;
            atvs = rest;
            let (otag, oid, value) = tlv(atv)?;
            if otag != 0x06 || oid != CN_OID {
                continue;
            }
            return match tlv(value)? {
                (0x0c | 0x13 | 0x16, s, _) => std::str::from_utf8(s).ok().map(str::to_string),
                _ => None,
            };
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lengths_and_garbage() {
        assert_eq!(
            tlv(&[0x30, 0x81, 0x02, 1, 2, 9]),
            Some((0x30, &[1u8, 2][..], &[9u8][..]))
        );
        assert_eq!(tlv(&[0x30, 0x82, 0x01]), None);
        assert_eq!(tlv(&[0x30, 0x05, 1]), None);
        assert_eq!(subject_cn(&[]), None);
        assert_eq!(subject_cn(&[0x30, 0x02, 0x31, 0x00]), None);
    }
}
