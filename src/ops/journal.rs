//! systemd journal's native protocol, encoding only (pure); `logging` sends the datagram to
//! [`SOCKET`]. A field is `NAME=value\n`; a value holding a newline is sent as `NAME\n`, its
//! length as 64-bit little endian, the bytes, `\n`. No crate is needed for this.

/// The journal's socket.
pub const SOCKET: &str = "/run/systemd/journal/socket";

/// Whether `name` is a valid journal field name: `A-Z`, `0-9` and `_`, not starting with a
/// digit or `_` (those are trusted fields), at most 64 characters.
pub fn valid_field(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(|c: char| c == '_' || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// One datagram with these fields; invalid names are dropped.
pub fn encode(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields.iter().filter(|(n, _)| valid_field(n)) {
        out.extend_from_slice(name.as_bytes());
        if value.contains('\n') {
            out.push(b'\n');
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        } else {
            out.push(b'=');
        }
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    out
}

/// A field name from a `log` key-value key: `caller_id` → `CALLER_ID`; `None` if it cannot be
/// a journal field.
pub fn field_name(key: &str) -> Option<String> {
    let name = key.to_ascii_uppercase().replace(['-', '.'], "_");
    valid_field(&name).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding() {
        assert_eq!(
            encode(&[
                ("MESSAGE", "hi"),
                ("_PID", "1"),
                ("bad", "x"),
                ("X", "a\nb")
            ]),
            b"MESSAGE=hi\nX\n\x03\0\0\0\0\0\0\0a\nb\n".to_vec()
        );
        assert_eq!(field_name("caller_id").as_deref(), Some("CALLER_ID"));
        assert_eq!(field_name("_x"), None);
        assert!(valid_field("RGETTY_LINE") && !valid_field("9A") && !valid_field(""));
    }
}
