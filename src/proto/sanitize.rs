//! Text from outside (a dial-out program's command line, a caller's number or CONNECT string)
//! made safe for the places it goes: utmp and log fields, and the argv of a login program.
//! Pure: no I/O.

/// `s` with every control character (C0, DEL, C1) replaced by `?`, so an ESC or BEL in a
/// process's command line cannot reach a terminal through `who`, `last` or a log viewer.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Caller data substituted into a login program's argv (`\Y`, `\I`, `@`): control characters
/// become `?`, and a value starting with `-` gets a `_` in front, so it can never be taken for
/// an option (`NMBR=-froot` with `/bin/login -h \Y` gives `_-froot`, not `-f root`).
pub fn argv_value(s: &str) -> String {
    let clean = printable(s);
    if clean.starts_with('-') {
        format!("_{clean}")
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn control_chars_become_question_marks() {
        assert_eq!(printable("cu -l ttyS0"), "cu -l ttyS0");
        assert_eq!(printable("x\u{1b}[2J\u{7}y\u{7f}\u{9b}z"), "x?[2J?y??z");
        assert_eq!(printable("tab\there\n"), "tab?here?");
        assert_eq!(printable("Grüße"), "Grüße");
    }

    #[test]
    fn argv_values_never_start_with_a_dash() {
        assert_eq!(argv_value("-froot"), "_-froot");
        assert_eq!(argv_value("--"), "_--");
        assert_eq!(argv_value("0301234567"), "0301234567");
        assert_eq!(argv_value("a-b"), "a-b");
        assert_eq!(argv_value("\u{1b}-x"), "?-x");
    }

    proptest! {
        #[test]
        fn argv_value_is_safe(s in ".*") {
            let v = argv_value(&s);
            prop_assert!(!v.starts_with('-'));
            prop_assert!(!v.chars().any(char::is_control));
        }
    }
}
