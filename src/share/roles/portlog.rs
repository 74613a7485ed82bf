//! The per-port log: device output with a time stamp on each line, and connection events.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Splits device output into lines, each prefixed with the time its first byte arrived.
#[derive(Debug, Default)]
pub struct Stamper {
    partial: Vec<u8>,
    stamp: String,
}

/// Longest line kept before it is written out anyway.
const MAX_LINE: usize = 4096;

impl Stamper {
    /// Feed output; complete lines (`stamp` text, a blank, the line without CR/LF, a newline)
    /// are appended to `out`.
    pub fn feed(&mut self, b: &[u8], stamp: &str, out: &mut Vec<u8>) {
        for &c in b {
            if self.partial.is_empty() && self.stamp.is_empty() {
                self.stamp = stamp.to_string();
            }
            if c == b'\n' || self.partial.len() >= MAX_LINE {
                self.emit(out);
                if c == b'\n' {
                    continue;
                }
                self.stamp = stamp.to_string();
            }
            if c != b'\r' {
                self.partial.push(c);
            }
        }
    }

    fn emit(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.stamp.as_bytes());
        out.push(b' ');
        escape_line(&self.partial, out);
        out.push(b'\n');
        self.partial.clear();
        self.stamp.clear();
    }

    /// Write out an unfinished line (on close).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.partial.is_empty() {
            self.emit(out);
        }
    }
}

/// Device text as it goes into the port log: control characters (C0 but tab, DEL, C1) and
/// bytes that are not UTF-8 as `\xNN` (each byte), a backslash as `\\`, and a `[` that
/// starts the line as `\[`: only event lines start with `[` after the time stamp, so no
/// device output can pass for one, and none reaches a terminal that displays the log.
pub fn escape_line(b: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hex = |out: &mut Vec<u8>, bytes: &[u8]| {
        for &x in bytes {
            out.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[usize::from(x >> 4)],
                HEX[usize::from(x & 15)],
            ]);
        }
    };
    let rest = match b.split_first() {
        Some((b'[', rest)) => {
            out.extend_from_slice(b"\\[");
            rest
        }
        _ => b,
    };
    for chunk in rest.utf8_chunks() {
        for c in chunk.valid().chars() {
            let mut u = [0u8; 4];
            let enc = c.encode_utf8(&mut u).as_bytes();
            match c {
                '\\' => out.extend_from_slice(b"\\\\"),
                '\t' => out.push(b'\t'),
                c if c.is_control() => hex(out, enc),
                _ => out.extend_from_slice(enc),
            }
        }
        hex(out, chunk.invalid());
    }
}

/// Local time as `YYYY-MM-DD HH:MM:SS`.
pub fn timestamp() -> String {
    let t = crate::sys::logging::now_local();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// A port's log file: device output line by line with timestamps, and `[event]` lines for
/// connects and disconnects. Reopened on SIGHUP (after logrotate moved it).
#[derive(Debug)]
pub struct PortLog {
    path: PathBuf,
    file: Option<File>,
    stamper: Stamper,
    buf: Vec<u8>,
}

fn open_log(path: &Path) -> Option<File> {
    match std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => Some(f),
        Err(e) => {
            log::error!("{}: {e}", path.display());
            None
        }
    }
}

impl PortLog {
    /// Open (append, never through a symlink).
    pub fn open(path: &Path) -> PortLog {
        PortLog {
            path: path.to_path_buf(),
            file: open_log(path),
            stamper: Stamper::default(),
            buf: Vec::new(),
        }
    }

    /// Close and open again (SIGHUP).
    pub fn reopen(&mut self) {
        self.file = open_log(&self.path);
    }

    fn write_buf(&mut self) {
        if let Some(f) = self.file.as_mut() {
            if let Err(e) = f.write_all(&self.buf) {
                log::warn!("{}: {e}", self.path.display());
            }
        }
        self.buf.clear();
    }

    /// Device output.
    pub fn output(&mut self, b: &[u8]) {
        self.stamper.feed(b, &timestamp(), &mut self.buf);
        if !self.buf.is_empty() {
            self.write_buf();
        }
    }

    /// A connect or disconnect line (an unfinished output line is written first).
    pub fn event(&mut self, what: &str) {
        self.stamper.finish(&mut self.buf);
        let _ = writeln!(self.buf, "{} [{what}]", timestamp());
        self.write_buf();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamper_lines() {
        let mut s = Stamper::default();
        let mut out = Vec::new();
        s.feed(b"boot\r\nlog", "T1", &mut out);
        s.feed(b"in: ", "T2", &mut out);
        assert_eq!(out, b"T1 boot\n");
        s.feed(b"\n", "T3", &mut out);
        assert_eq!(out, b"T1 boot\nT1 login: \n");
        s.feed(b"x", "T4", &mut out);
        s.finish(&mut out);
        assert_eq!(out, b"T1 boot\nT1 login: \nT4 x\n");
    }

    #[test]
    fn device_text_is_escaped_and_cannot_forge_events() {
        let mut out = Vec::new();
        escape_line(b"[connect client 6.6.6.6:1]", &mut out);
        assert_eq!(out, b"\\[connect client 6.6.6.6:1]");
        out.clear();
        escape_line(b"\x1b[31mred\x07 a\\b \xc2\x9b\xff\tok \xc3\xa9", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\\x1b[31mred\\x07 a\\\\b \\xc2\\x9b\\xff\tok \u{e9}"
        );
        let mut s = Stamper::default();
        let mut out = Vec::new();
        s.feed(b"ok [x]\r\n[connect watcher 1.2.3.4:5]\n", "T", &mut out);
        assert_eq!(out, b"T ok [x]\nT \\[connect watcher 1.2.3.4:5]\n");
    }
}
