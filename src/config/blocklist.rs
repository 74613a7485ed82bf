//! The block list (`block-list FILE` in mgetty.config): which callers are picked up and hung
//! up on, which are left ringing, and which are always let through (`docs/behaviour.md` §4.6).
//!
//! Pure: [`BlockList::parse`] takes the file text and its path (for `file:line` in messages
//! and rules); [`decide`] combines it with dialin.config into one [`Verdict`].
//!
//! One entry per line, `ACTION NUMBER [NAME...]`; blank lines and lines starting with `#` are
//! skipped:
//!
//! * `ACTION` is `block` (go off-hook and back on: the caller is dropped and the phones stop
//!   ringing), `ignore` (mgetty's "don't answer": let it ring out) or `allow` (an allow entry
//!   wins over every `block` and `ignore` entry, wherever it stands in the file);
//! * `NUMBER` is a caller ID: exact, or with `*` (any run of characters, `0900*` is a prefix)
//!   and `?` (any one character); or a class: `private` (withheld: `P`, `PRIVATE`,
//!   `ANONYMOUS`, `WITHHELD`, `RESTRICTED`), `unavailable` (`O`, `OUT OF AREA`,
//!   `UNAVAILABLE`, `UNKNOWN`, an empty number), `none` (the modem sent no caller ID) or `any`;
//! * `NAME` is free text naming the entry, shown in the log, the call log and `rgetty status`.
//!
//! Among `block` and `ignore` entries the first match in file order decides.
//!
//! ```
//! use rgetty::config::blocklist::{Action, BlockList};
//! let (list, errors) = BlockList::parse("block 0900* premium rate\nallow 0900123 doctor\n", "b");
//! assert!(errors.is_empty());
//! assert_eq!(list.lookup("0900555").map(|e| e.action), Some(Action::Block));
//! assert_eq!(list.lookup("0900123").map(|e| e.action), Some(Action::Allow));
//! assert!(list.lookup("5551234").is_none());
//! ```

use std::path::Path;

use super::dialin;
use super::{ConfigError, Location};

/// What an entry does with a matching call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Pick up and hang up at once.
    Block,
    /// Do not answer; let the phone ring out (mgetty's refusal).
    Ignore,
    /// Let the call through: wins over every `block` and `ignore` entry.
    Allow,
}

impl Action {
    fn parse(word: &str) -> Option<Action> {
        match word {
            "block" => Some(Action::Block),
            "ignore" => Some(Action::Ignore),
            "allow" => Some(Action::Allow),
            _ => None,
        }
    }

    /// The word in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Block => "block",
            Action::Ignore => "ignore",
            Action::Allow => "allow",
        }
    }
}

/// What an entry matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A number, with `*` and `?` wildcards.
    Number(String),
    /// Withheld numbers.
    Private,
    /// Numbers the network could not deliver.
    Unavailable,
    /// No caller ID at all (`none`).
    NoCallerId,
    /// Every caller.
    Any,
}

/// Caller IDs that mean "withheld by the caller" (upper-cased).
const PRIVATE: &[&str] = &["P", "PRIVATE", "ANONYMOUS", "WITHHELD", "RESTRICTED"];
/// Caller IDs that mean "not available from the network" (upper-cased).
const UNAVAILABLE: &[&str] = &["O", "OUT OF AREA", "UNAVAILABLE", "UNKNOWN", ""];

impl Caller {
    fn parse(word: &str) -> Result<Caller, String> {
        match word {
            "private" => return Ok(Caller::Private),
            "unavailable" => return Ok(Caller::Unavailable),
            "none" => return Ok(Caller::NoCallerId),
            "any" => return Ok(Caller::Any),
            _ => {}
        }
        let ok = |c: char| c.is_ascii_alphanumeric() || "+*?#.-:_".contains(c);
        if word.chars().all(ok) {
            Ok(Caller::Number(word.to_string()))
        } else {
            Err(format!(
                "bad number {word:?}: digits, letters, + # . - : _ and the wildcards * ?, \
                 or private, unavailable, none, any"
            ))
        }
    }

    /// Whether the caller ID `cid` (`none` when the modem sent none) matches.
    pub fn matches(&self, cid: &str) -> bool {
        let class = cid.trim().to_ascii_uppercase();
        match self {
            Caller::Any => true,
            Caller::NoCallerId => cid == "none",
            Caller::Private => PRIVATE.contains(&class.as_str()),
            Caller::Unavailable => UNAVAILABLE.contains(&class.as_str()),
            Caller::Number(p) => wildcard(p.as_bytes(), cid.as_bytes()),
        }
    }
}

/// Glob match with `*` (any run) and `?` (any one byte); iterative, linear in practice.
fn wildcard(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == b'*')
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What a match does.
    pub action: Action,
    /// What it matches.
    pub pattern: Caller,
    /// The number or class as written.
    pub text: String,
    /// The entry's name (empty when the line has none).
    pub name: String,
    /// Where it is (`file:line`).
    pub loc: Location,
}

impl Entry {
    /// `file:line (block 0900* "premium rate")` for logs and reasons.
    pub fn describe(&self) -> String {
        let name = if self.name.is_empty() {
            String::new()
        } else {
            format!(" \"{}\"", self.name)
        };
        format!(
            "{} ({} {}{name})",
            self.loc,
            self.action.as_str(),
            self.text
        )
    }
}

/// The parsed block list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockList {
    /// The entries in file order.
    pub entries: Vec<Entry>,
}

impl BlockList {
    /// Parse the file text; every bad line is an error naming `path:line` (the good lines are
    /// kept, but a caller that fails closed refuses to use a list with errors).
    pub fn parse(text: &str, path: impl AsRef<Path>) -> (BlockList, Vec<ConfigError>) {
        let path = path.as_ref();
        let mut list = BlockList::default();
        let mut errors = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |m: String| ConfigError::new(path, i + 1, m);
            if let Some(c) = line.chars().find(|c| c.is_control() && *c != '\t') {
                errors.push(err(format!("control character {c:?} in the line")));
                continue;
            }
            let mut words = line.split_ascii_whitespace();
            let (Some(a), Some(n)) = (words.next(), words.next()) else {
                errors.push(err(format!(
                    "{line:?}: expected ACTION NUMBER [NAME] (block, ignore or allow)"
                )));
                continue;
            };
            let Some(action) = Action::parse(a) else {
                errors.push(err(format!(
                    "unknown action {a:?} (block, ignore or allow)"
                )));
                continue;
            };
            match Caller::parse(n) {
                Ok(pattern) => list.entries.push(Entry {
                    action,
                    pattern,
                    text: n.to_string(),
                    name: words.collect::<Vec<_>>().join(" "),
                    loc: Location {
                        path: path.to_path_buf(),
                        line: i + 1,
                    },
                }),
                Err(m) => errors.push(err(m)),
            }
        }
        (list, errors)
    }

    /// The entry deciding for `cid`: the first `allow` match if there is one, else the first
    /// `block`/`ignore` match; `None` when nothing matches.
    pub fn lookup(&self, cid: &str) -> Option<&Entry> {
        let mut hits = self.entries.iter().filter(|e| e.pattern.matches(cid));
        let first = hits.next()?;
        if first.action == Action::Allow {
            return Some(first);
        }
        Some(hits.find(|e| e.action == Action::Allow).unwrap_or(first))
    }
}

/// What screening (dialin.config and the block list) decided for one caller ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Answer (cnd-program may still refuse at the answer).
    Answer,
    /// Do not answer; let it ring out. The reason names the rule.
    Refuse(String),
    /// Pick up and hang up. The reason names the rule.
    Block(String),
}

/// What the getty knows about a screening file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen<T> {
    /// No such file: it does not screen.
    Missing,
    /// Read and parsed.
    Ok(T),
    /// It exists but cannot be used: every call is refused with this reason (fail closed).
    Broken(String),
}

/// The verdict for `cid` (`none` when unknown): a broken file refuses every call; a block
/// list `allow` entry skips the block list (dialin.config still applies, with mgetty's
/// meaning); a block list `block`/`ignore` entry decides; otherwise dialin.config does.
pub fn decide(
    dialin: &Screen<dialin::Rules>,
    block: &Screen<BlockList>,
    dialin_name: &str,
    cid: &str,
) -> Verdict {
    if let Some(broken) = dialin_broken(dialin).or_else(|| block_broken(block)) {
        return Verdict::Refuse(format!("screening fails closed: {broken}"));
    }
    if let Screen::Ok(list) = block {
        if let Some(e) = list.lookup(cid) {
            match e.action {
                Action::Block => return Verdict::Block(format!("blocked by {}", e.describe())),
                Action::Ignore => return Verdict::Refuse(format!("ignored by {}", e.describe())),
                Action::Allow => {}
            }
        }
    }
    if let Screen::Ok(rules) = dialin {
        if let Some(rule) = rules.first_match(cid).filter(|r| r.deny) {
            return Verdict::Refuse(format!(
                "{dialin_name} denies {cid} (rule !{})",
                rule.prefix
            ));
        }
    }
    Verdict::Answer
}

fn dialin_broken(s: &Screen<dialin::Rules>) -> Option<&str> {
    match s {
        Screen::Broken(why) => Some(why),
        _ => None,
    }
}

fn block_broken(s: &Screen<BlockList>) -> Option<&str> {
    match s {
        Screen::Broken(why) => Some(why),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn list(text: &str) -> BlockList {
        let (l, e) = BlockList::parse(text, "blocks");
        assert!(e.is_empty(), "{e:?}");
        l
    }

    #[test]
    fn patterns() {
        let table: &[(&str, &str, bool)] = &[
            ("5551234", "5551234", true),
            ("5551234", "55512345", false),
            ("555*", "5551234", true),
            ("555*", "555", true),
            ("555*", "4555", false),
            ("*1234", "5551234", true),
            ("555?234", "5551234", true),
            ("555?234", "555234", false),
            ("0*9*", "0123956", true),
            ("127.0.0.*", "127.0.0.1", true),
            ("private", "P", true),
            ("private", "anonymous", true),
            ("private", "5551234", false),
            ("unavailable", "O", true),
            ("unavailable", "Out of area", true),
            ("unavailable", "", true),
            ("none", "none", true),
            ("none", "P", false),
            ("any", "none", true),
        ];
        for (p, cid, want) in table {
            let pat = Caller::parse(p).unwrap();
            assert_eq!(pat.matches(cid), *want, "{p:?} / {cid:?}");
        }
    }

    #[test]
    fn allow_wins_wherever_it_stands() {
        let l = list(
            "# robocalls\nblock 0900* premium rate\nignore 5551234 ex\n\nallow 0900123 the doctor\nblock any\n",
        );
        assert_eq!(l.lookup("0900999").map(|e| e.action), Some(Action::Block));
        let e = l.lookup("0900123").unwrap();
        assert_eq!((e.action, e.name.as_str()), (Action::Allow, "the doctor"));
        assert_eq!(e.loc.to_string(), "blocks:5");
        assert_eq!(l.lookup("5551234").map(|e| e.action), Some(Action::Ignore));
        let e = l.lookup("4441234").unwrap();
        assert_eq!(e.describe(), "blocks:6 (block any)");
        assert_eq!(
            l.entries[0].describe(),
            "blocks:2 (block 0900* \"premium rate\")"
        );
    }

    #[test]
    fn errors_name_the_line() {
        let (l, e) = BlockList::parse(
            "block 555\nreject 444\nblock\nblock 5 5$\nallow a;b\nblock \x01\n",
            "f",
        );
        assert_eq!(l.entries.len(), 2);
        let lines: Vec<usize> = e.iter().map(|e| e.loc.line).collect();
        assert_eq!(lines, [2, 3, 5, 6], "{e:?}");
        assert!(
            e[0].to_string()
                .starts_with("f:2: unknown action \"reject\""),
            "{}",
            e[0]
        );
    }

    #[test]
    fn verdicts() {
        let dialin = Screen::Ok(dialin::Rules::parse("!555\n"));
        let block = Screen::Ok(list("block 0900* premium\nallow 5551212 mum\n"));
        let v = |d: &Screen<dialin::Rules>, b: &Screen<BlockList>, cid: &str| {
            decide(d, b, "dialin.config", cid)
        };
        assert_eq!(v(&dialin, &block, "4441234"), Verdict::Answer);
        assert_eq!(
            v(&dialin, &block, "0900111"),
            Verdict::Block("blocked by blocks:1 (block 0900* \"premium\")".into())
        );
        assert_eq!(
            v(&dialin, &block, "5559999"),
            Verdict::Refuse("dialin.config denies 5559999 (rule !555)".into())
        );
        // allow skips the block list only; dialin.config keeps mgetty's meaning
        assert!(matches!(v(&dialin, &block, "5551212"), Verdict::Refuse(_)));
        assert_eq!(v(&Screen::Missing, &block, "5551212"), Verdict::Answer);
        let broken = Screen::Broken("dialin.config: is a directory".into());
        assert_eq!(
            v(&broken, &Screen::Missing, "4441234"),
            Verdict::Refuse("screening fails closed: dialin.config: is a directory".into())
        );
        let broken = Screen::Broken("blocks:3: unknown action".into());
        assert!(
            matches!(v(&Screen::Missing, &broken, "x"), Verdict::Refuse(r) if r.contains("blocks:3"))
        );
    }

    #[test]
    fn sample_is_clean() {
        let (l, e) = BlockList::parse(include_str!("../../etc/block-list"), "etc/block-list");
        assert!(e.is_empty() && l.entries.is_empty(), "{e:?} {l:?}");
        let commented: String = include_str!("../../etc/block-list")
            .lines()
            .filter_map(|l| l.strip_prefix('#'))
            .filter(|l| {
                l.starts_with("block ") || l.starts_with("allow ") || l.starts_with("ignore ")
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let (l, e) = BlockList::parse(&commented, "examples");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(l.entries.len(), 4);
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in "(?s).{0,300}", cid in ".{0,16}") {
            let (l, _) = BlockList::parse(&text, "f");
            let _ = l.lookup(&cid);
        }

        #[test]
        fn prefix_star(cid in "[0-9]{1,12}", cut in 0usize..12) {
            let p = format!("{}*", &cid[..cut.min(cid.len())]);
            prop_assert!(Caller::parse(&p).unwrap().matches(&cid));
            prop_assert!(Caller::parse(&cid).unwrap().matches(&cid));
        }
    }
}
