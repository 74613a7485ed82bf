//! stty words (`-s "9600 raw"`, a config line's `crtscts`): parsed, all or nothing, into what
//! `sys::tty::stty_to_termios` applies with one `tcsetattr`. Pure.
//!
//! The words are those of stty(1) for the modes a serial line has, remserial's table among
//! them: a speed, `raw`, `sane`, `cs5`..`cs8`, and flags that take a leading `-` to clear
//! them (`-parenb`, `-crtscts`, `-echo`). An unknown word is an error naming it.

/// Which termios field a flag lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `c_cflag`.
    Control,
    /// `c_iflag`.
    Input,
    /// `c_oflag`.
    Output,
    /// `c_lflag`.
    Local,
}

/// One parsed word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word {
    /// A speed in bits per second (input and output): any positive integer, applied with
    /// termios2 (`BOTHER`) when it has no `B*` constant.
    Speed(u32),
    /// `raw`: no input or output processing, no echo, no signals; speed kept.
    Raw,
    /// `sane`: the usual cooked settings.
    Sane,
    /// `cs5`..`cs8`.
    Size(u8),
    /// Set (`on`) or clear a flag named by its C name (`PARENB`).
    Flag {
        /// The termios field.
        field: Field,
        /// The C name of the flag, as the termios bitflags know it.
        flag: &'static str,
        /// Set, or clear (a leading `-`).
        on: bool,
    },
}

/// Flag words: stty's name, the field, the C name.
const FLAGS: &[(&str, Field, &str)] = &[
    ("parenb", Field::Control, "PARENB"),
    ("parodd", Field::Control, "PARODD"),
    ("cmspar", Field::Control, "CMSPAR"),
    ("cstopb", Field::Control, "CSTOPB"),
    ("crtscts", Field::Control, "CRTSCTS"),
    ("clocal", Field::Control, "CLOCAL"),
    ("hupcl", Field::Control, "HUPCL"),
    ("cread", Field::Control, "CREAD"),
    ("ignbrk", Field::Input, "IGNBRK"),
    ("brkint", Field::Input, "BRKINT"),
    ("ignpar", Field::Input, "IGNPAR"),
    ("parmrk", Field::Input, "PARMRK"),
    ("inpck", Field::Input, "INPCK"),
    ("istrip", Field::Input, "ISTRIP"),
    ("inlcr", Field::Input, "INLCR"),
    ("igncr", Field::Input, "IGNCR"),
    ("icrnl", Field::Input, "ICRNL"),
    ("ixon", Field::Input, "IXON"),
    ("ixany", Field::Input, "IXANY"),
    ("ixoff", Field::Input, "IXOFF"),
    ("imaxbel", Field::Input, "IMAXBEL"),
    ("iutf8", Field::Input, "IUTF8"),
    ("opost", Field::Output, "OPOST"),
    ("onlcr", Field::Output, "ONLCR"),
    ("ocrnl", Field::Output, "OCRNL"),
    ("onocr", Field::Output, "ONOCR"),
    ("onlret", Field::Output, "ONLRET"),
    ("ofill", Field::Output, "OFILL"),
    ("ofdel", Field::Output, "OFDEL"),
    ("isig", Field::Local, "ISIG"),
    ("icanon", Field::Local, "ICANON"),
    ("iexten", Field::Local, "IEXTEN"),
    ("echo", Field::Local, "ECHO"),
    ("echoe", Field::Local, "ECHOE"),
    ("echok", Field::Local, "ECHOK"),
    ("echonl", Field::Local, "ECHONL"),
    ("echoctl", Field::Local, "ECHOCTL"),
    ("echoprt", Field::Local, "ECHOPRT"),
    ("echoke", Field::Local, "ECHOKE"),
    ("noflsh", Field::Local, "NOFLSH"),
    ("tostop", Field::Local, "TOSTOP"),
];

/// Parse one word; `None` when it is not one.
pub fn word(w: &str) -> Option<Word> {
    if w.bytes().all(|b| b.is_ascii_digit()) {
        return crate::proto::speed::parse_any(w).map(Word::Speed);
    }
    let (on, name) = match w.strip_prefix('-') {
        Some(rest) => (false, rest),
        None => (true, w),
    };
    match (name, on) {
        ("raw", true) => Some(Word::Raw),
        ("sane", true) => Some(Word::Sane),
        ("cs5", true) => Some(Word::Size(5)),
        ("cs6", true) => Some(Word::Size(6)),
        ("cs7", true) => Some(Word::Size(7)),
        ("cs8", true) => Some(Word::Size(8)),
        _ => FLAGS
            .iter()
            .find(|f| f.0 == name)
            .map(|&(_, field, flag)| Word::Flag { field, flag, on }),
    }
}

/// Parse blank-separated words, all or nothing; the error is the first unknown word.
///
/// ```
/// use rgetty::proto::stty::{parse, Word, Field};
/// assert_eq!(parse("9600 raw").unwrap(), [Word::Speed(9600), Word::Raw]);
/// assert_eq!(parse("-crtscts").unwrap(),
///            [Word::Flag { field: Field::Control, flag: "CRTSCTS", on: false }]);
/// assert_eq!(parse("9600 bogus").unwrap_err(), "bogus");
/// ```
pub fn parse(words: &str) -> Result<Vec<Word>, String> {
    words
        .split_whitespace()
        .map(|w| word(w).ok_or_else(|| w.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn remserial_and_config_words() {
        let w = parse("115200 raw cs8 -parenb cstopb crtscts ixon -echo icrnl").unwrap();
        assert_eq!(w[0], Word::Speed(115_200));
        assert_eq!(w[1], Word::Raw);
        assert_eq!(w[2], Word::Size(8));
        let flag = |field, flag, on| Word::Flag { field, flag, on };
        assert_eq!(
            w[3..],
            [
                flag(Field::Control, "PARENB", false),
                flag(Field::Control, "CSTOPB", true),
                flag(Field::Control, "CRTSCTS", true),
                flag(Field::Input, "IXON", true),
                flag(Field::Local, "ECHO", false),
                flag(Field::Input, "ICRNL", true),
            ]
        );
        assert_eq!(parse("").unwrap(), []);
        assert_eq!(parse("250000").unwrap(), [Word::Speed(250_000)]);
    }

    #[test]
    fn unknown_words_are_named() {
        for bad in [
            "0", "99999999", "-raw", "-cs8", "cs9", "RAW", "-", "--echo", "+9600", "hubcl",
        ] {
            assert_eq!(
                parse(&format!("9600 {bad} raw")),
                Err(bad.to_string()),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_flag_name_is_a_c_name_of_its_field() {
        use nix::sys::termios::{ControlFlags, InputFlags, LocalFlags, OutputFlags};
        for &(name, field, c) in FLAGS {
            let known = match field {
                Field::Control => ControlFlags::from_name(c).is_some(),
                Field::Input => InputFlags::from_name(c).is_some(),
                Field::Output => OutputFlags::from_name(c).is_some(),
                Field::Local => LocalFlags::from_name(c).is_some(),
            };
            assert!(known, "{name} -> {c}");
            assert_eq!(name.to_ascii_uppercase(), c);
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse(&s);
        }
    }
}
