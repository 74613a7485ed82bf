//! Legal but suspect mgetty.config values, for `rgetty --check`'s warnings (pure).
//!
//! mgetty reads numbers with C `strtol(…, 0)` and booleans by their first letter, so some
//! values are accepted but do not mean what they look like: `speed 38400x` is 38400 (the
//! `x` is dropped), `rings 08` is 0 (a leading 0 means octal and `8` stops it), and
//! `direct 1` is *no* (only `y`, `t`, `on` and an empty value are yes). rgetty reads them the
//! same way; `--check` warns about each.

use std::path::Path;

use super::mgetty::{ValueType, kind_of, parse_int, read_lines};

/// What is suspect about `value` for `key`, a keyword of `kind`, if anything.
fn suspect(key: &str, kind: ValueType, value: &str) -> Option<String> {
    match kind {
        ValueType::Int => {
            let n = parse_int(value)?;
            let digits = value.strip_prefix('-').unwrap_or(value);
            let hex = digits.starts_with("0x") || digits.starts_with("0X");
            let octal = digits.len() > 1 && digits.starts_with('0') && !hex;
            let clean = if hex {
                digits[2..].bytes().all(|b| b.is_ascii_hexdigit())
            } else if octal {
                digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
            } else {
                digits.bytes().all(|b| b.is_ascii_digit())
            };
            if !clean && octal {
                Some(format!(
                    "{value:?} is read as {n} (a leading 0 means octal, which stops at 8 or 9)"
                ))
            } else if !clean {
                Some(format!(
                    "{value:?} is read as {n} (C strtol: the rest is ignored)"
                ))
            } else if octal && key != "port-mode" {
                Some(format!("{value:?} is octal: it is read as {n}"))
            } else {
                None
            }
        }
        ValueType::Bool => {
            let yes = super::mgetty::parse_bool(value);
            let plain = matches!(
                value.to_ascii_lowercase().as_str(),
                "" | "y" | "yes" | "n" | "no" | "t" | "true" | "f" | "false" | "on" | "off"
            );
            (!plain).then(|| {
                let means = if yes { "yes" } else { "no" };
                format!("{value:?} means {means} (only y, t, on and an empty value are yes)")
            })
        }
        _ => None,
    }
}

/// Warnings for the legal but suspect values of an mgetty.config text, as
/// `file:line: keyword value: why`, in line order.
///
/// ```
/// use std::path::Path;
/// let w = rgetty::config::suspect::warnings("speed 38400x\ndirect 1\nrings 08\nrings 3\n", Path::new("m"));
/// assert_eq!(w.len(), 3);
/// assert!(w[1].starts_with("m:2: direct \"1\" means no"), "{}", w[1]);
/// ```
pub fn warnings(text: &str, path: &Path) -> Vec<String> {
    read_lines(text)
        .into_iter()
        .filter_map(|l| {
            let why = suspect(&l.key, kind_of(&l.key)?, &l.value)?;
            Some(format!("{}:{}: {} {why}", path.display(), l.line, l.key))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspect_and_plain_values() {
        let p = Path::new("c");
        let text = "speed 38400x\ndirect 1\nrings 08\nrings 010\nspeed 38400\ndirect y\n\
                    blocking no\nport-mode 0660\nrings 0x10\ntoggle-dtr yes please\n";
        let w = warnings(text, p);
        assert_eq!(
            w,
            vec![
                "c:1: speed \"38400x\" is read as 38400 (C strtol: the rest is ignored)",
                "c:2: direct \"1\" means no (only y, t, on and an empty value are yes)",
                "c:3: rings \"08\" is read as 0 (a leading 0 means octal, which stops at 8 or 9)",
                "c:4: rings \"010\" is octal: it is read as 8",
                "c:10: toggle-dtr \"yes please\" means yes (only y, t, on and an empty value are yes)",
            ]
        );
    }
}
