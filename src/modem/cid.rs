//! Caller-ID lines the virtual modem sends after the first RING of an incoming call.
//!
//! Pure: the caller passes the clock (seconds since the epoch). Three formats
//! (`rgetty-share modem --caller-id`):
//!
//! * [`Format::Mgetty`] (the default): `DATE = MMDD`, `TIME = HHMM` (UTC), `NMBR = <address>`,
//!   `NAME = <reverse DNS name or address>`, each framed by CR LF, as Rockwell/USR modems with
//!   `AT#CID=1` send them and mgetty reads them (`NMBR` is what dialin.config screens);
//! * [`Format::Clip`]: `+CLIP: "<address>",129,,,"<name>"` as GSM and ISDN terminal adapters
//!   send it (3GPP TS 27.007: number, type, subaddress, its type, the name);
//! * [`Format::Off`]: no caller ID at all.

use std::fmt::Write as _;

/// Which caller-ID lines to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// No caller ID.
    Off,
    /// `DATE`/`TIME`/`NMBR`/`NAME` lines.
    #[default]
    Mgetty,
    /// One `+CLIP: "number",type,,,"name"` line.
    Clip,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "off" => Ok(Format::Off),
            "mgetty" => Ok(Format::Mgetty),
            "clip" => Ok(Format::Clip),
            _ => Err(format!(
                "unknown caller-ID format {s:?} (off, mgetty, clip)"
            )),
        }
    }
}

/// Keep what is safe in a caller-ID line: letters, digits and `.-:_`; anything else (a
/// hostile reverse-DNS answer) becomes `?`, and the result is at most 64 characters.
pub fn clean(s: &str) -> String {
    s.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-:_".contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// The caller-ID bytes for a call from `number` (an address) named `name`, at `epoch_secs`.
pub fn lines(format: Format, number: &str, name: &str, epoch_secs: u64) -> Vec<u8> {
    let number = clean(number);
    let name = clean(name);
    let mut s = String::new();
    match format {
        Format::Off => {}
        Format::Mgetty => {
            let (month, day) = month_day(epoch_secs / 86_400);
            let hm = epoch_secs % 86_400;
            let _ = write!(
                s,
                "\r\nDATE = {month:02}{day:02}\r\nTIME = {:02}{:02}\r\nNMBR = {number}\r\n\
                 NAME = {name}\r\n",
                hm / 3600,
                hm % 3600 / 60
            );
        }
        Format::Clip => {
            let _ = write!(s, "\r\n+CLIP: \"{number}\",129,,,\"{name}\"\r\n");
        }
    }
    s.into_bytes()
}

/// Month and day of the civil date `days` after 1970-01-01 (H. Hinnant's algorithm).
pub fn month_day(days: u64) -> (u64, u64) {
    let z = days + 719_468;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(month_day(0), (1, 1));
        assert_eq!(month_day(59), (3, 1)); // 1970 is no leap year
        assert_eq!(month_day(19_723), (1, 1)); // 2024-01-01
        assert_eq!(month_day(19_723 + 59), (2, 29));
    }

    #[test]
    fn formats() {
        // 2024-02-29 19:51 UTC
        let t = (19_723 + 59) * 86_400 + 19 * 3600 + 51 * 60 + 7;
        assert_eq!(
            lines(Format::Mgetty, "127.0.0.1", "localhost", t),
            b"\r\nDATE = 0229\r\nTIME = 1951\r\nNMBR = 127.0.0.1\r\nNAME = localhost\r\n"
        );
        assert_eq!(
            lines(Format::Clip, "::1", "x", t),
            b"\r\n+CLIP: \"::1\",129,,,\"x\"\r\n"
        );
        assert!(lines(Format::Off, "::1", "x", t).is_empty());
        assert_eq!(clean("evil\r\nNMBR = 1\"'"), "evil??NMBR???1??");
        assert_eq!("clip".parse(), Ok(Format::Clip));
        assert!("x".parse::<Format>().is_err());
    }
}
