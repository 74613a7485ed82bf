//! systemd journal's native protocol: the encoding (pure: [`encode`], [`field_name`]) and the
//! sink `logging` uses ([`JournalSink`]: one datagram per record to [`SOCKET`]). A field is
//! `NAME=value\n`; a value holding a newline is sent as `NAME\n`, its length as 64-bit little
//! endian, the bytes, `\n`. No crate is needed for this.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

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

/// A field name from a `log` key-value key: `caller_id` → `CALLER_ID`, `r#match` (a keyword
/// written raw) → `MATCH`; `None` if it cannot be a journal field.
pub fn field_name(key: &str) -> Option<String> {
    let key = key.strip_prefix("r#").unwrap_or(key);
    let name = key.to_ascii_uppercase().replace(['-', '.'], "_");
    valid_field(&name).then_some(name)
}

/// The record's `log` key-values as journal fields (`caller_id` → `CALLER_ID`).
pub fn record_fields(record: &log::Record<'_>) -> Vec<(String, String)> {
    struct Collect(Vec<(String, String)>);
    impl<'kvs> log::kv::VisitSource<'kvs> for Collect {
        fn visit_pair(
            &mut self,
            key: log::kv::Key<'kvs>,
            value: log::kv::Value<'kvs>,
        ) -> Result<(), log::kv::Error> {
            if let Some(name) = field_name(key.as_str()) {
                self.0.push((name, value.to_string()));
            }
            Ok(())
        }
    }
    let mut c = Collect(Vec::new());
    let _ = record.key_values().visit(&mut c);
    c.0
}

/// The journal sink of `logging`: which socket, the fields sent with every message, and an
/// unbound datagram socket (opened on first use).
#[derive(Debug)]
pub struct JournalSink {
    /// `None`: [`SOCKET`] while syslog uses its default socket; `Some(None)`: off.
    socket: Option<Option<PathBuf>>,
    fields: Vec<(String, String)>,
    sock: Option<UnixDatagram>,
}

impl JournalSink {
    /// The default sink (see [`JournalSink::send`]).
    pub const fn new() -> JournalSink {
        JournalSink {
            socket: None,
            fields: Vec::new(),
            sock: None,
        }
    }

    /// Use this socket (`None`: never use the journal) instead of the default rule.
    pub fn set_socket(&mut self, path: Option<PathBuf>) {
        self.socket = Some(path);
    }

    /// Send `name=value` with every later message (`None` removes it).
    pub fn set_field(&mut self, name: &str, value: Option<&str>) {
        self.fields.retain(|(n, _)| n != name);
        if let Some(v) = value {
            self.fields.push((name.to_string(), v.to_string()));
        }
    }

    /// Send one record; `false` if there is no journal or it did not take the datagram (the
    /// caller then uses syslog). `default_syslog`: syslog uses its default socket, so the
    /// default journal socket may be tried.
    pub fn send(
        &mut self,
        default_syslog: bool,
        ident: &str,
        facility: u8,
        severity: u8,
        msg: &str,
        kv: &[(String, String)],
    ) -> bool {
        let path = match &self.socket {
            Some(p) => p.clone(),
            None => default_syslog.then(|| PathBuf::from(SOCKET)),
        };
        let Some(path) = path else {
            return false;
        };
        let (pri, fac, pid) = (
            severity.to_string(),
            facility.to_string(),
            std::process::id().to_string(),
        );
        let mut fields: Vec<(&str, &str)> = vec![
            ("MESSAGE", msg),
            ("PRIORITY", &pri),
            ("SYSLOG_FACILITY", &fac),
            ("SYSLOG_IDENTIFIER", ident),
            ("SYSLOG_PID", &pid),
        ];
        fields.extend(self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        fields.extend(kv.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        self.send_to(&path, &encode(&fields))
    }

    fn send_to(&mut self, path: &Path, data: &[u8]) -> bool {
        if self.sock.is_none() {
            self.sock = UnixDatagram::unbound().ok();
        }
        self.sock
            .as_ref()
            .is_some_and(|s| s.send_to(data, path).is_ok())
    }
}

impl Default for JournalSink {
    fn default() -> Self {
        JournalSink::new()
    }
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
        assert_eq!(field_name("r#match").as_deref(), Some("MATCH"));
        assert_eq!(field_name("_x"), None);
        assert!(valid_field("RGETTY_LINE") && !valid_field("9A") && !valid_field(""));
    }

    #[test]
    fn sink() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let rx = UnixDatagram::bind(&path).unwrap();
        let mut j = JournalSink::new();
        assert!(
            !j.send(false, "rgetty", 4, 5, "x", &[]),
            "no journal for a relocated syslog"
        );
        j.set_socket(Some(path));
        j.set_field("RGETTY_LINE", Some("pts/3"));
        let kv = [("OUTCOME".to_string(), "refused".to_string())];
        assert!(j.send(false, "rgetty", 4, 5, "two\nlines", &kv));
        let mut buf = [0u8; 512];
        let n = rx.recv(&mut buf).unwrap();
        let got = &buf[..n];
        assert!(got.starts_with(b"MESSAGE\n\x09\0\0\0\0\0\0\0two\nlines\nPRIORITY=5\n"));
        let text = String::from_utf8_lossy(got);
        assert!(
            text.contains("SYSLOG_IDENTIFIER=rgetty\nSYSLOG_PID="),
            "{text}"
        );
        assert!(
            text.ends_with("RGETTY_LINE=pts/3\nOUTCOME=refused\n"),
            "{text}"
        );
        j.set_socket(None);
        assert!(!j.send(true, "rgetty", 4, 5, "x", &[]));
    }
}
