//! login.config: the login dispatcher table (`docs/behaviour.md` §6, §11).
//!
//! Pure: [`Table::parse`] takes the file text (the caller checks ownership and mode — root,
//! no group/other bits — and falls back to [`default_entry`] otherwise) and the path for
//! messages. The line reader is mgetty.config's (continuations, `#` comment lines, whitespace
//! collapsed).
//!
//! Deliberate difference from mgetty: the literal pattern `/AutoPPP/` matches only
//! [`LoginName::AutoPpp`], i.e. a PPP LCP frame that was actually detected, never a typed
//! name. In mgetty a caller typing `/AutoPPP/` gets the PPP dispatch (§11). Wildcard patterns
//! such as `*` still match both kinds, so a `*` line placed before `/AutoPPP/` catches PPP
//! calls, as in mgetty. `/FIDO/` lines are parsed but never match (no FIDO support).
//!
//! ```
//! use std::path::Path;
//! use rgetty::config::login::{LoginName, Table};
//!
//! let text = "/AutoPPP/ - a_ppp /usr/sbin/pppd auth -chap +pap login\n* - - /bin/login @\n";
//! let (table, errors) = Table::parse(text, Path::new("login.config"));
//! assert!(errors.is_empty());
//! let ppp = table.lookup(&LoginName::AutoPpp, false).unwrap();
//! assert_eq!(ppp.argv("/AutoPPP/", "", "none")[0], "pppd");
//! // typing the magic name does not start pppd
//! let typed = table.lookup(&LoginName::Typed("/AutoPPP/"), false).unwrap();
//! assert_eq!(typed.argv("/AutoPPP/", "", "none"), ["login", "/AutoPPP/"]);
//! ```

use std::path::{Path, PathBuf};

use super::mgetty::read_lines;
use super::{ConfigError, Location};
use crate::proto::sanitize::argv_value;

/// The most arguments a login.config line can pass (mgetty's MAX_LOGIN_ARGS).
pub const MAX_ARGS: usize = 9;

/// The name produced by PPP detection, and the pattern that selects PPP calls.
pub const AUTOPPP: &str = "/AutoPPP/";

/// The FIDO pattern (parsed, never matches: rgetty has no FIDO support).
pub const FIDO: &str = "/FIDO/";

/// What the caller gave at the login prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginName<'a> {
    /// A name typed at the prompt (may be anything, including `/AutoPPP/`).
    Typed(&'a str),
    /// A PPP LCP frame was detected (§5.5). For wildcard matching and `@` its text is
    /// `/AutoPPP/`.
    AutoPpp,
}

impl LoginName<'_> {
    /// The text used for wildcard matching, `@` substitution and utmp: the typed name, or
    /// `/AutoPPP/`.
    pub fn as_str(&self) -> &str {
        match self {
            LoginName::Typed(s) => s,
            LoginName::AutoPpp => AUTOPPP,
        }
    }
}

/// The callback column of a version 2 file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    /// `-` (or anything not starting with Y/N), and every version 1 line: always.
    Any,
    /// `Y...`: only for callback logins.
    Only,
    /// `N...`: only for non-callback logins.
    Never,
}

/// One login.config line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where the line is.
    pub loc: Location,
    /// The pattern, as written (§6.2).
    pub pattern: String,
    /// Callback qualification (version 2 files; [`Callback::Any`] in version 1).
    pub callback: Callback,
    /// User to run the program as; `None` for `-` (stay root, required for `/bin/login`).
    pub userid: Option<String>,
    /// utmp user name; `None` for `-` (no record); `@` stands for the login name.
    pub utmp: Option<String>,
    /// Program to execute.
    pub program: PathBuf,
    /// Argument tokens, at most [`MAX_ARGS`]; `@`, `\I` and `\Y` are substituted by
    /// [`Entry::argv`].
    pub args: Vec<String>,
}

impl Entry {
    /// The argument vector for exec: `argv[0]` is the program's basename, then the argument
    /// tokens with exactly `@` → `name` (dropped if `name` is empty), `\I` → `connect` (`??`
    /// if empty), `\Y` → `caller_id`; every other token verbatim (`b@` stays `b@`). The name
    /// is always one element, whatever it contains. Substituted values pass through
    /// [`crate::proto::sanitize::argv_value`]: control characters become `?` and a leading `-` gets
    /// a `_` in front (`-froot` → `_-froot`), so caller data is never taken for an option.
    pub fn argv(&self, name: &str, connect: &str, caller_id: &str) -> Vec<String> {
        let program = self.program.to_string_lossy();
        let argv0 = program.rsplit('/').next().unwrap_or_default().to_string();
        let mut argv = vec![argv0];
        for arg in &self.args {
            match arg.as_str() {
                "@" => {
                    if !name.is_empty() {
                        argv.push(argv_value(name));
                    }
                }
                "\\I" => argv.push(argv_value(if connect.is_empty() { "??" } else { connect })),
                "\\Y" => argv.push(argv_value(caller_id)),
                other => argv.push(other.to_string()),
            }
        }
        argv
    }

    /// The utmp user name to record: `None` for `-`, the login name for `@`, else the literal.
    pub fn utmp_user(&self, name: &str) -> Option<String> {
        match self.utmp.as_deref() {
            None => None,
            Some("@") => Some(name.to_string()),
            Some(other) => Some(other.to_string()),
        }
    }

    /// True when this line's pattern selects `name` (ignoring the callback column).
    pub fn matches(&self, name: &LoginName<'_>) -> bool {
        pattern_matches(&self.pattern, name)
    }

    fn allows_callback(&self, callback: bool) -> bool {
        match self.callback {
            Callback::Any => true,
            Callback::Only => callback,
            Callback::Never => !callback,
        }
    }
}

/// The built-in dispatch, used when there is no file, its permissions are wrong, or no line
/// matches: `/bin/login @` as root without a utmp record (argv `["login", name]`).
pub fn default_entry() -> Entry {
    Entry {
        loc: Location {
            path: PathBuf::from("<built-in>"),
            line: 0,
        },
        pattern: "*".to_string(),
        callback: Callback::Any,
        userid: None,
        utmp: None,
        program: PathBuf::from("/bin/login"),
        args: vec!["@".to_string()],
    }
}

/// mgetty's `match` (§6.2), on text: `*`/`**` anything; `*abc*` contains; `*abc` ends with;
/// `abc*` starts with; otherwise exact. Empty never matches. Case-sensitive.
fn wildcard(pattern: &str, text: &str) -> bool {
    if pattern.is_empty() {
        return false;
    }
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(rest), Some(_)) => match rest.strip_suffix('*') {
            Some(inner) => text.contains(inner),
            None => true, // the pattern is a single "*"
        },
        (Some(suffix), None) => text.ends_with(suffix),
        (None, Some(prefix)) => text.starts_with(prefix),
        (None, None) => text == pattern,
    }
}

/// Whether `pattern` selects `name`: `/AutoPPP/` only a detected PPP frame, `/FIDO/` never,
/// everything else by [mgetty's wildcard rules](Table) on [`LoginName::as_str`].
///
/// ```
/// use rgetty::config::login::{pattern_matches, LoginName};
/// assert!(pattern_matches("U*", &LoginName::Typed("Uhost")));
/// assert!(pattern_matches("*", &LoginName::AutoPpp));
/// assert!(!pattern_matches("/AutoPPP/", &LoginName::Typed("/AutoPPP/")));
/// ```
pub fn pattern_matches(pattern: &str, name: &LoginName<'_>) -> bool {
    match pattern {
        AUTOPPP => matches!(name, LoginName::AutoPpp),
        FIDO => false,
        _ => wildcard(pattern, name.as_str()),
    }
}

/// A parsed login.config: the usable lines in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Lines with all fields present, in file order (bad lines are left out).
    pub entries: Vec<Entry>,
}

/// C `atoi`: optional blanks and sign, then decimal digits; 0 when there are none.
fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |acc, d| {
            acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    if neg { -n } else { n }
}

impl Table {
    /// Parse login.config text. `path` is for messages only.
    ///
    /// * `!version 1|2` switches the format for the following lines (invalid → error,
    ///   version 1).
    /// * Version 1: `<pattern> <userid> <utmp> <program> [args…]`; version 2 adds the
    ///   callback column after the pattern.
    /// * A line with a missing field is reported and left out, so lookup continues with the
    ///   next line (mgetty: "field blank, skipping line").
    /// * More than [`MAX_ARGS`] arguments: reported, truncated.
    pub fn parse(text: &str, path: &Path) -> (Table, Vec<ConfigError>) {
        let mut table = Table::default();
        let mut errors = Vec::new();
        let mut version = 1;
        for l in read_lines(text) {
            if l.key == "!version" {
                match atoi(&l.value) {
                    v @ (1 | 2) => version = v,
                    _ => {
                        errors.push(ConfigError::new(
                            path,
                            l.line,
                            format!("invalid file version {:?}, using 1", l.value),
                        ));
                        version = 1;
                    }
                }
                continue;
            }
            let mut fields = l.value.split(' ').filter(|f| !f.is_empty());
            let callback = if version > 1 {
                match fields.next() {
                    None => {
                        errors.push(blank(path, l.line, "callback field blank"));
                        continue;
                    }
                    Some(cb) => match cb.as_bytes().first().map(u8::to_ascii_uppercase) {
                        Some(b'Y') => Callback::Only,
                        Some(b'N') => Callback::Never,
                        _ => Callback::Any,
                    },
                }
            } else {
                Callback::Any
            };
            let Some(userid) = fields.next() else {
                errors.push(blank(path, l.line, "userid field blank"));
                continue;
            };
            let Some(utmp) = fields.next() else {
                errors.push(blank(path, l.line, "utmp field blank"));
                continue;
            };
            let Some(program) = fields.next() else {
                errors.push(blank(path, l.line, "no login program"));
                continue;
            };
            let mut args: Vec<String> = fields.map(str::to_string).collect();
            if args.len() > MAX_ARGS {
                errors.push(ConfigError::new(
                    path,
                    l.line,
                    format!(
                        "max. {MAX_ARGS} command line arguments possible, truncated at: {:?}",
                        args[MAX_ARGS]
                    ),
                ));
                args.truncate(MAX_ARGS);
            }
            let dash = |s: &str| (s != "-").then(|| s.to_string());
            table.entries.push(Entry {
                loc: Location {
                    path: path.to_path_buf(),
                    line: l.line,
                },
                pattern: l.key,
                callback,
                userid: dash(userid),
                utmp: dash(utmp),
                program: PathBuf::from(program),
                args,
            });
        }
        (table, errors)
    }

    /// The first line whose pattern matches `name` and whose callback column allows
    /// `callback`; `None` means: use [`default_entry`].
    pub fn lookup(&self, name: &LoginName<'_>, callback: bool) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.matches(name) && e.allows_callback(callback))
    }

    /// [`Table::lookup`], falling back to [`default_entry`].
    pub fn dispatch(&self, name: &LoginName<'_>, callback: bool) -> Entry {
        self.lookup(name, callback)
            .cloned()
            .unwrap_or_else(default_entry)
    }

    /// What `--check` finds beyond the syntax: a line whose user `user_exists` denies (every
    /// call it matches would be refused), or whose program `program_problem` objects to
    /// (missing, not executable). The lookups are passed in, so this stays pure.
    pub fn check_names(
        &self,
        user_exists: impl Fn(&str) -> bool,
        program_problem: impl Fn(&Path) -> Option<String>,
    ) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        for e in &self.entries {
            let at = |msg: String| ConfigError {
                loc: e.loc.clone(),
                msg,
            };
            if let Some(user) = e.userid.as_deref().filter(|u| !user_exists(u)) {
                errors.push(at(format!(
                    "user {user:?} does not exist: calls matching {:?} would be refused",
                    e.pattern
                )));
            }
            if let Some(why) = program_problem(&e.program) {
                errors.push(at(format!("program {}: {why}", e.program.display())));
            }
        }
        errors
    }
}

fn blank(path: &Path, line: usize, what: &str) -> ConfigError {
    ConfigError::new(path, line, format!("{what}, skipping line"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn check_names_reports_unknown_users_and_programs_by_line() {
        let (t, errs) = parse(
            "# x\n* nosuchuser - /bin/login @\nfoo - - /no/such/prog\nbar uucp - /bin/login\n",
        );
        assert!(errs.is_empty());
        let found = t.check_names(
            |u| u == "uucp",
            |p| (p == Path::new("/no/such/prog")).then(|| "not found".to_string()),
        );
        let text: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "login.config:2: user \"nosuchuser\" does not exist: calls matching \"*\" would be refused",
                "login.config:3: program /no/such/prog: not found"
            ]
        );
    }

    fn parse(text: &str) -> (Table, Vec<ConfigError>) {
        Table::parse(text, Path::new("login.config"))
    }

    #[test]
    fn pattern_forms() {
        let t = LoginName::Typed;
        let table: &[(&str, LoginName<'_>, bool)] = &[
            ("*", t("anything"), true),
            ("*", t(""), true),
            ("**", t("x"), true),
            ("**", t(""), true),
            ("*abc*", t("xxabcyy"), true),
            ("*abc*", t("abc"), true),
            ("*abc*", t("ab"), false),
            ("*abc", t("xabc"), true),
            ("*abc", t("abcx"), false),
            ("*abc", t("bc"), false),
            ("abc*", t("abcdef"), true),
            ("abc*", t("abc"), true),
            ("abc*", t("xabc"), false),
            ("abc", t("abc"), true),
            ("abc", t("ABC"), false),
            ("abc", t("abcd"), false),
            ("a*c", t("abc"), false),
            ("a*c", t("a*c"), true),
            ("a?c", t("abc"), false),
            ("", t(""), false),
            ("U*", t("Uhost"), true),
            ("U*", t("uhost"), false),
            // the /AutoPPP/ rule
            ("/AutoPPP/", LoginName::AutoPpp, true),
            ("/AutoPPP/", t("/AutoPPP/"), false),
            ("*", LoginName::AutoPpp, true),
            ("/Auto*", LoginName::AutoPpp, true),
            ("/Auto*", t("/AutoPPP/"), true),
            ("*PPP/", LoginName::AutoPpp, true),
            ("ppp", LoginName::AutoPpp, false),
            // /FIDO/ never matches
            ("/FIDO/", t("/FIDO/"), false),
            ("/FIDO/", t("\u{ff}x"), false),
            ("/FIDO/", LoginName::AutoPpp, false),
        ];
        for (pat, name, want) in table {
            assert_eq!(pattern_matches(pat, name), *want, "{pat:?} vs {name:?}");
        }
    }

    #[test]
    fn version1_and_first_match() {
        let text = "# comment\n\
                    /AutoPPP/ -\ta_ppp\t/usr/sbin/pppd auth -chap +pap login debug\n\
                    U* uucp @ /usr/sbin/uucico -l -u @\n\
                    /FIDO/ uucp fido /usr/lib/fnet/ifcico @\n\
                    * - - /bin/login @\n\
                    root - - /bin/false\n";
        let (t, e) = parse(text);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(t.entries.len(), 5);
        let ppp = t.lookup(&LoginName::AutoPpp, false).unwrap();
        assert_eq!(ppp.loc.line, 2);
        assert_eq!(ppp.userid, None);
        assert_eq!(ppp.utmp_user("/AutoPPP/"), Some("a_ppp".to_string()));
        assert_eq!(
            ppp.argv("/AutoPPP/", "31200", "none"),
            ["pppd", "auth", "-chap", "+pap", "login", "debug"]
        );
        let uu = t.lookup(&LoginName::Typed("Ufoo"), false).unwrap();
        assert_eq!(uu.userid.as_deref(), Some("uucp"));
        assert_eq!(uu.utmp_user("Ufoo"), Some("Ufoo".to_string()));
        assert_eq!(uu.argv("Ufoo", "", ""), ["uucico", "-l", "-u", "Ufoo"]);
        // first match wins: root is caught by "*"
        let root = t.lookup(&LoginName::Typed("root"), false).unwrap();
        assert_eq!(root.program, PathBuf::from("/bin/login"));
        assert_eq!(root.utmp_user("root"), None);
        // typed /AutoPPP/ falls through to /bin/login
        let typed = t.lookup(&LoginName::Typed("/AutoPPP/"), false).unwrap();
        assert_eq!(typed.argv("/AutoPPP/", "", ""), ["login", "/AutoPPP/"]);
        // v1 lines ignore callback
        assert!(t.lookup(&LoginName::AutoPpp, true).is_some());
    }

    #[test]
    fn star_before_autoppp_catches_ppp() {
        let (t, _) = parse("* - - /bin/login @\n/AutoPPP/ - a_ppp /usr/sbin/pppd\n");
        assert_eq!(t.lookup(&LoginName::AutoPpp, false).unwrap().loc.line, 1);
    }

    #[test]
    fn version2_callback_column() {
        let text = "!version 2\n\
                    cb Y - - /usr/local/bin/cb-login @\n\
                    cb n - - /bin/nocb\n\
                    * - - - /bin/login @\n";
        let (t, e) = parse(text);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(t.entries[0].callback, Callback::Only);
        assert_eq!(t.entries[1].callback, Callback::Never);
        assert_eq!(t.entries[2].callback, Callback::Any);
        let n = LoginName::Typed("cb");
        assert_eq!(t.lookup(&n, true).unwrap().loc.line, 2);
        assert_eq!(t.lookup(&n, false).unwrap().loc.line, 3);
        assert_eq!(t.lookup(&LoginName::Typed("x"), true).unwrap().loc.line, 4);
        // the version applies to the following lines only, and can change back
        let (t, e) = parse("a - - /bin/a\n!version 2\nb - - - /bin/b\n!version 1\nc - - /bin/c\n");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(t.entries.len(), 3);
        assert_eq!(t.entries[1].program, PathBuf::from("/bin/b"));
    }

    #[test]
    fn bad_version() {
        let (t, e) = parse("!version 2\n!version 3\nx - - /bin/x\n!version\n");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].loc.line, 2);
        assert!(e[0].msg.contains("\"3\""));
        assert_eq!(
            t.entries[0].program,
            PathBuf::from("/bin/x"),
            "back to version 1"
        );
    }

    #[test]
    fn blank_fields_are_skipped() {
        let text = "a\nb -\nc - -\n!version 2\nd\n* - - -\n* - - - /bin/ok\n";
        let (t, e) = parse(text);
        let msgs: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            [
                "login.config:1: userid field blank, skipping line",
                "login.config:2: utmp field blank, skipping line",
                "login.config:3: no login program, skipping line",
                "login.config:5: callback field blank, skipping line",
                "login.config:6: no login program, skipping line",
            ]
        );
        assert_eq!(t.entries.len(), 1);
        // lookup continues past the skipped lines
        assert_eq!(t.lookup(&LoginName::Typed("a"), false).unwrap().loc.line, 7);
    }

    #[test]
    fn too_many_args() {
        let (t, e) = parse("* - - /bin/x 1 2 3 4 5 6 7 8 9 10 11\n");
        assert_eq!(e.len(), 1);
        assert_eq!(
            e[0].to_string(),
            "login.config:1: max. 9 command line arguments possible, truncated at: \"10\""
        );
        assert_eq!(t.entries[0].args.len(), 9);
        let (_, e) = parse("* - - /bin/x 1 2 3 4 5 6 7 8 9\n");
        assert!(e.is_empty());
    }

    #[test]
    fn substitution() {
        let (t, _) = parse("* - @ /usr/bin/prog @ \\I \\Y b@ @@ \\i x\\I\n");
        let e = &t.entries[0];
        assert_eq!(
            e.argv("joe", "33600/ARQ", "5551234"),
            [
                "prog",
                "joe",
                "33600/ARQ",
                "5551234",
                "b@",
                "@@",
                "\\i",
                "x\\I"
            ]
        );
        assert_eq!(
            e.argv("", "", "none"),
            ["prog", "??", "none", "b@", "@@", "\\i", "x\\I"]
        );
        // a name with spaces stays one element
        assert_eq!(e.argv("root -f", "", "")[1], "root -f");
        // caller data never becomes an option, nor carries control characters
        assert_eq!(
            e.argv("joe", "-x\u{1b}", "-froot")[1..4],
            ["joe", "_-x?", "_-froot"]
        );
        assert_eq!(e.utmp_user("joe"), Some("joe".to_string()));
        let d = default_entry();
        assert_eq!(d.argv("joe", "", ""), ["login", "joe"]);
        assert_eq!(d.argv("", "", ""), ["login"]);
        assert_eq!(d.utmp_user("joe"), None);
        assert_eq!(Table::default().dispatch(&LoginName::Typed("x"), false), d);
    }

    #[test]
    fn continuation_and_quotes() {
        let (t, e) = parse("x - - /bin/prog \\\n  \"a   b\"\n");
        assert!(e.is_empty());
        assert_eq!(t.entries[0].args, ["\"a", "b\""]);
    }

    #[test]
    fn sample_is_clean() {
        let text = include_str!("../../etc/login.config");
        let (t, e) = Table::parse(text, Path::new("etc/login.config"));
        assert!(e.is_empty(), "{e:?}");
        let ppp = t.lookup(&LoginName::AutoPpp, false).unwrap();
        assert_eq!(ppp.program, PathBuf::from("/usr/sbin/pppd"));
        assert_eq!(ppp.utmp.as_deref(), Some("a_ppp"));
        // the commented-out uucico example is valid too
        let (t2, e) = Table::parse(&text.replace("#U*", "U*"), Path::new("x"));
        assert!(e.is_empty(), "{e:?}");
        let uu = t2.lookup(&LoginName::Typed("Uhost"), false).unwrap();
        assert_eq!(uu.program, PathBuf::from("/usr/sbin/uucico"));
        let any = t.lookup(&LoginName::Typed("joe"), false).unwrap();
        assert_eq!(any.argv("joe", "", ""), ["login", "joe"]);
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in "(?s).{0,300}") {
            let (t, _) = parse(&text);
            for e in &t.entries {
                let _ = e.argv("n", "", "");
                prop_assert!(e.args.len() <= MAX_ARGS);
            }
            let _ = t.lookup(&LoginName::Typed(&text), true);
        }

        #[test]
        fn star_matches_everything(name in "(?s).{0,20}") {
            prop_assert!(pattern_matches("*", &LoginName::Typed(&name)));
            prop_assert!(pattern_matches("**", &LoginName::Typed(&name)));
            prop_assert!(!pattern_matches("/AutoPPP/", &LoginName::Typed(&name)));
            prop_assert!(!pattern_matches("", &LoginName::Typed(&name)));
        }
    }
}
