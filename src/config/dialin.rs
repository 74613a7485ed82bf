//! dialin.config: caller-ID screening before answering (`docs/behaviour.md` §4.6).
//!
//! Pure: [`Rules::parse`] takes the file text; the caller reads the file (a missing file means
//! "allow everybody": use [`Rules::default`]).
//!
//! The file is a list of tokens separated by blanks, tabs, commas and newlines. Tokens are
//! tried in order against the caller ID (`none` when unknown); the first match decides:
//!
//! * `all` matches any caller;
//! * any other token matches when it is a **prefix** of the caller ID;
//! * a leading `!` turns the token into a deny rule (`!555` refuses `5551234`, `!all` refuses
//!   everybody, and a lone `!` — an empty prefix — refuses everybody too);
//! * no match: allow (an implicit `all` at the end).
//!
//! ```
//! use rgetty::config::dialin::Rules;
//! let rules = Rules::parse("# friends\n5551212, 4164646777\n!416\n!none\n");
//! assert!(rules.allows("5551212"));
//! assert!(!rules.allows("4165551234"));
//! assert!(!rules.allows("none"));
//! assert!(rules.allows("0891234"));
//! ```

/// One token of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `true` for a `!` token: a match refuses the call.
    pub deny: bool,
    /// The token without its `!`; `all` matches anything, otherwise a caller-ID prefix.
    pub prefix: String,
}

impl Rule {
    fn matches(&self, caller_id: &str) -> bool {
        self.prefix == "all" || caller_id.starts_with(self.prefix.as_str())
    }
}

/// The parsed dialin.config: rules in file order. The default (no rules) allows everybody.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// The tokens, in file order.
    pub rules: Vec<Rule>,
}

/// Token separators: space, TAB, comma, newline, and CR (so that files with CRLF line ends
/// work; mgetty keeps the CR in the last token of each line, which then never matches).
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | ',' | '\n' | '\r')
}

/// C `isspace` in the C locale.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r')
}

impl Rules {
    /// Parse dialin.config text. Never fails: every word is a token.
    ///
    /// Comments: a line whose first non-blank character is `#` is skipped. This is mgetty's
    /// only comment rule, and it is kept on purpose: a `#` in the middle of a line does **not**
    /// start a comment, so the words after it are still tokens — `555 # allow all` contains
    /// the tokens `555`, `#`, `allow` and `all`, and that `all` admits every caller.
    pub fn parse(text: &str) -> Rules {
        let mut rules = Vec::new();
        for line in text.lines() {
            if line.trim_start_matches(is_c_space).starts_with('#') {
                continue;
            }
            for token in line.split(is_separator).filter(|t| !t.is_empty()) {
                let (deny, prefix) = match token.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (false, token),
                };
                rules.push(Rule {
                    deny,
                    prefix: prefix.to_string(),
                });
            }
        }
        Rules { rules }
    }

    /// The first rule matching `caller_id` (pass `none` when the caller ID is unknown), or
    /// `None` when no rule matches.
    pub fn first_match(&self, caller_id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matches(caller_id))
    }

    /// True when the call may be answered: the first matching rule is not a `!` rule, or no
    /// rule matches.
    pub fn allows(&self, caller_id: &str) -> bool {
        self.first_match(caller_id).is_none_or(|r| !r.deny)
    }
}

/// What makes dialin.config unusable for rgetty, which fails closed on it (mgetty would
/// screen with whatever tokens it finds): a line holding a control character other than
/// blanks (a binary file, a NUL) or bytes that are not UTF-8. One error per bad line.
pub fn check_text(text: &str, path: &std::path::Path) -> Vec<super::ConfigError> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let bad = line.chars().find(|&c| {
                (c.is_control() && !is_c_space(c)) || c == char::REPLACEMENT_CHARACTER
            })?;
            Some(super::ConfigError::new(
                path,
                i + 1,
                format!("not a dialin.config line: {bad:?} in it (binary or garbage)"),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rules_table() {
        let table: &[(&str, &str, bool)] = &[
            ("", "5551234", true),
            ("", "none", true),
            ("!555", "5551234", false),
            ("!555", "4441234", true),
            ("444\n!all", "4441234", true),
            ("444\n!all", "5551234", false),
            ("!all", "none", false),
            ("all\n!555", "5551234", true),
            ("!none", "none", false),
            ("!none", "5551234", true),
            ("5551212\n!555", "5551212", true),
            ("5551212\n!555", "5559999", false),
            ("!5551212,555", "5551212", false),
            ("!5551212,555", "5559999", true),
            ("555,!5", "5", false),
            ("55512345", "555", true), // the token is longer than the ID: no match
            ("!55512345", "555", true),
            ("!", "5551234", false), // a lone "!" is an empty deny prefix
            ("ALL", "5", true),
            ("!ALL", "5", true), // only lowercase "all" is special
        ];
        for (text, id, want) in table {
            assert_eq!(Rules::parse(text).allows(id), *want, "{text:?} / {id:?}");
        }
    }

    #[test]
    fn comments_and_separators() {
        let r = Rules::parse("# !all\n   #!all\n\t!555, 444\t333\r\n");
        assert_eq!(
            r.rules,
            [
                Rule {
                    deny: true,
                    prefix: "555".into()
                },
                Rule {
                    deny: false,
                    prefix: "444".into()
                },
                Rule {
                    deny: false,
                    prefix: "333".into()
                },
            ]
        );
        assert!(!r.allows("5551234"));
        // the mid-line "#" quirk: "all" after a "#" is still a token
        let r = Rules::parse("555 # allow all\n!none\n");
        assert!(r.allows("none"));
        let r = Rules::parse("555 # allow everyone\n!none\n");
        assert!(!r.allows("none"));
    }

    #[test]
    fn sample_is_sane() {
        let r = Rules::parse(include_str!("../../etc/dialin.config"));
        assert!(
            r.rules.is_empty(),
            "the sample has only comments: {:?}",
            r.rules
        );
    }

    #[test]
    fn garbage_is_named() {
        let p = std::path::Path::new("d");
        assert!(check_text("!555, 444\t333\r\n# x\n", p).is_empty());
        let e = check_text("555\n\u{7f}ELF\u{0}\u{1}\n", p);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].to_string()
                .starts_with("d:2: not a dialin.config line"),
            "{}",
            e[0]
        );
        assert_eq!(check_text("\u{fffd}", p).len(), 1);
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in "(?s).{0,200}", id in ".{0,12}") {
            let r = Rules::parse(&text);
            let _ = r.allows(&id);
            prop_assert!(r.rules.iter().all(|t| !t.prefix.contains([' ', ',', '\t', '\n'])));
        }

        #[test]
        fn deny_prefix(id in "[0-9]{1,12}", cut in 1usize..12) {
            let prefix = &id[..cut.min(id.len())];
            let deny = format!("!{prefix}");
            let allow = format!("{prefix}\n!all");
            prop_assert!(!Rules::parse(&deny).allows(&id));
            prop_assert!(Rules::parse(&allow).allows(&id));
        }
    }
}
