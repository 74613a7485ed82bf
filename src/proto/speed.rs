//! Serial line parameters: the table of valid Linux bit rates, speed words, parity and stop bits.
//!
//! Pure: no I/O. The mapping to termios `B*` constants lives in [`crate::sys::tty`].

/// Parity setting of a serial line (shared by the tty layer and the RFC 2217 codec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    /// No parity bit.
    None,
    /// Odd parity.
    Odd,
    /// Even parity.
    Even,
    /// Parity bit always 1.
    Mark,
    /// Parity bit always 0.
    Space,
}

/// Stop bits of a serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopBits {
    /// One stop bit.
    One,
    /// 1.5 stop bits (Linux sets two; the tty layer then reports `Two`).
    OneAndHalf,
    /// Two stop bits.
    Two,
}

/// Every bit rate that Linux termios supports up to 460800 (mgetty's list, §1).
pub const SPEEDS: &[u32] = &[
    50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600,
    115_200, 230_400, 460_800,
];

/// True when `bps` is one of [`SPEEDS`].
pub fn is_valid(bps: u32) -> bool {
    SPEEDS.contains(&bps)
}

/// Parse a decimal speed word such as `38400`; `None` unless it is a valid speed.
///
/// ```
/// assert_eq!(rgetty::proto::speed::parse("115200"), Some(115200));
/// assert_eq!(rgetty::proto::speed::parse("12345"), None);
/// ```
pub fn parse(word: &str) -> Option<u32> {
    let bps: u32 = word.trim().parse().ok()?;
    is_valid(bps).then_some(bps)
}

/// The highest speed [`parse_any`] accepts (well above any UART's clock).
pub const MAX_ANY: u32 = 16_000_000;

/// Parse a decimal speed word that may be any positive integer up to [`MAX_ANY`] (`250000`,
/// `74880`); the tty layer applies one that has no `B*` constant with termios2 (`BOTHER`).
///
/// ```
/// assert_eq!(rgetty::proto::speed::parse_any("250000"), Some(250000));
/// assert_eq!(rgetty::proto::speed::parse_any("0"), None);
/// assert_eq!(rgetty::proto::speed::parse_any("+9600"), None);
/// ```
pub fn parse_any(word: &str) -> Option<u32> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let bps: u32 = word.parse().ok()?;
    (1..=MAX_ANY).contains(&bps).then_some(bps)
}

/// The leading decimal digits of `s` as a number, like C `atoi` (0 when there are none).
///
/// Used for `CONNECT 28800/ARQ` → 28800 when autobauding.
pub fn atoi(s: &str) -> u32 {
    let digits: String = s
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert!(is_valid(38400));
        assert!(is_valid(460_800));
        assert!(!is_valid(0));
        assert!(!is_valid(921_600));
        assert_eq!(parse(" 9600 "), Some(9600));
        assert_eq!(parse("9600x"), None);
        assert_eq!(atoi("28800/ARQ/V34"), 28800);
        assert_eq!(atoi(""), 0);
        assert_eq!(atoi("x"), 0);
        assert_eq!(parse_any("74880"), Some(74880));
        assert_eq!(parse_any("16000000"), Some(MAX_ANY));
        assert_eq!(parse_any("16000001"), None);
        assert_eq!(parse_any(" 9600"), None);
        assert_eq!(parse_any("99999999999"), None);
        assert_eq!(parse_any(""), None);
    }
}
