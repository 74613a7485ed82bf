//! xringd.conf / ring-patterns files: ring cadences and the commands they start.
//!
//! Pure: parses text handed in by the caller, never opens a file or reads a clock. The format is
//! xringd 1.20's (see `docs/behaviour.md` §R1):
//!
//! ```text
//! # comment (a '#' after optional blanks)            empty lines are ignored
//! -t 10                                              option lines start with '-'
//! R 10-16 R 30 : /etc/ppp/ppp.start office1          R gap R gap ... R silence : command
//! ```
//!
//! Each number or `a-b` range between two `R`s is the allowed gap between those rings (seconds);
//! the number after the last `R` is the silence that must follow the last ring. The command is
//! everything after the first `:`, trimmed; it is admin text and may use shell syntax.
//!
//! Differences from xringd, on purpose:
//! - every bad line is reported as `file:line` and the good lines are kept (xringd drops the bad
//!   line and everything after it);
//! - numbers may have decimals (`R 0.5-1.5 R 2`), xringd only takes whole seconds;
//! - a single number `n` as a gap matches `n-0.5 ..= n+0.5` seconds: xringd's whole-second clock
//!   accepted about that much, and an exact millisecond match would be impossible to dial;
//! - things xringd silently accepts are errors here: an empty command, an empty range (`4-2`),
//!   an unknown option, an option missing its value or with a bad one, values above a day;
//! - a range as the silence (`R 2 R 5-7`) is accepted like xringd does and, like xringd, only its
//!   lower bound counts (the pattern fires once that much silence has passed).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{ConfigError, Location};

/// The largest number of seconds accepted anywhere in the file (one day).
pub const MAX_SECS: u64 = 86_400;

/// The largest `-i` merge window accepted, in milliseconds (one minute).
pub const MAX_MERGE_MS: u64 = 60_000;

/// How far a single-number gap `n` may be off: it matches `n - 0.5 ..= n + 0.5` seconds.
pub const EXACT_TOLERANCE: Duration = Duration::from_millis(500);

/// A closed range of allowed gaps between two rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GapRange {
    /// Shortest allowed gap.
    pub min: Duration,
    /// Longest allowed gap.
    pub max: Duration,
}

impl GapRange {
    /// Whether `gap` lies in `min..=max`.
    pub fn contains(&self, gap: Duration) -> bool {
        self.min <= gap && gap <= self.max
    }
}

/// One cadence line: `R gap R gap ... R silence : command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cadence {
    /// Where the line is (for messages).
    pub loc: Location,
    /// Allowed gap before each ring after the first (`rings() - 1` entries).
    pub gaps: Vec<GapRange>,
    /// Silence that must follow the last ring before the pattern counts as matched.
    pub silence: Duration,
    /// The command, run with `/bin/sh -c` (admin text, may use shell syntax).
    pub command: String,
}

impl Cadence {
    /// Number of rings in the cadence (`gaps.len() + 1`).
    pub fn rings(&self) -> usize {
        self.gaps.len() + 1
    }
}

/// Options found on `-x` lines of the file; `None`/`false` = not given there.
///
/// They take precedence over the command line (xringd(8)); `-c` and `-n` are ignored in a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileOptions {
    /// `-a CMD`: command run on every ring.
    pub ring_command: Option<String>,
    /// `-l N`: log level.
    pub log_level: Option<u32>,
    /// `-i MS`: rings closer than this are taken as one.
    pub merge: Option<Duration>,
    /// `-t S`: after start or a reset, ignore rings for this long.
    pub init: Option<Duration>,
    /// `-d`: debug (foreground, log to stderr, level 100).
    pub debug: bool,
    /// `-e`: disable ECHO on the device when opening it.
    pub no_echo: bool,
    /// `-m DEV`: the modem device.
    pub device: Option<PathBuf>,
}

/// A parsed pattern file: the good patterns in file order plus the options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatternFile {
    /// Patterns in file order (file order breaks ties between patterns).
    pub patterns: Vec<Cadence>,
    /// Options given in the file.
    pub options: FileOptions,
}

/// Parse a whole pattern file. Every bad line gives one error (`path:line: msg`) and is skipped;
/// all the good lines are kept.
///
/// ```
/// use std::path::Path;
/// use std::time::Duration;
/// let (file, errors) = rgetty::config::xringd::parse(
///     "# office\n-t 5\nR 10-16 R 30 : /etc/ppp/ppp.start office1\nbogus\n",
///     Path::new("/etc/xringd.conf"),
/// );
/// assert_eq!(file.patterns.len(), 1);
/// assert_eq!(file.patterns[0].rings(), 2);
/// assert_eq!(file.patterns[0].silence, Duration::from_secs(30));
/// assert_eq!(file.options.init, Some(Duration::from_secs(5)));
/// assert_eq!(errors[0].to_string().split(": ").next(), Some("/etc/xringd.conf:4"));
/// ```
pub fn parse(text: &str, path: &Path) -> (PatternFile, Vec<ConfigError>) {
    let mut file = PatternFile::default();
    let mut errors = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let result = if let Some(opt) = line.strip_prefix('-') {
            parse_option(opt, &mut file.options)
        } else if line.starts_with('R') {
            parse_pattern(line).map(|(gaps, silence, command)| {
                file.patterns.push(Cadence {
                    loc: Location {
                        path: path.to_path_buf(),
                        line: line_no,
                    },
                    gaps,
                    silence,
                    command,
                });
            })
        } else {
            Err(format!(
                "expected a pattern starting with 'R', an option starting with '-' or a '#' comment, got {line:?}"
            ))
        };
        if let Err(msg) = result {
            errors.push(ConfigError::new(path, line_no, msg));
        }
    }
    (file, errors)
}

/// Parse the text after the leading `-` of an option line into `opts`.
fn parse_option(opt: &str, opts: &mut FileOptions) -> Result<(), String> {
    let mut chars = opt.chars();
    let Some(letter) = chars.next() else {
        return Err("option line without an option letter".to_string());
    };
    let value = chars.as_str().trim();
    let need = |what: &str| -> Result<&str, String> {
        if value.is_empty() {
            Err(format!("option -{letter} needs {what}"))
        } else {
            Ok(value)
        }
    };
    let single = |what: &str| -> Result<&str, String> {
        let v = need(what)?;
        if v.split_whitespace().count() > 1 {
            Err(format!("option -{letter} takes one value, got {v:?}"))
        } else {
            Ok(v)
        }
    };
    let flag = || -> Result<(), String> {
        if value.is_empty() {
            Ok(())
        } else {
            Err(format!("option -{letter} takes no value, got {value:?}"))
        }
    };
    match letter {
        'a' => opts.ring_command = Some(need("a command")?.to_string()),
        'l' => {
            let v = single("a log level")?;
            opts.log_level = Some(
                v.parse::<u32>()
                    .map_err(|_| format!("bad log level {v:?} for -l"))?,
            );
        }
        'i' => {
            let v = single("milliseconds")?;
            let ms = v
                .parse::<u64>()
                .map_err(|_| format!("bad milliseconds {v:?} for -i"))?;
            if ms > MAX_MERGE_MS {
                return Err(format!("-i {ms} is too large (at most {MAX_MERGE_MS} ms)"));
            }
            opts.merge = Some(Duration::from_millis(ms));
        }
        't' => {
            let v = single("seconds")?;
            opts.init = Some(parse_secs(v).map_err(|e| format!("{e} for -t"))?);
        }
        'd' => {
            flag()?;
            opts.debug = true;
        }
        'e' => {
            flag()?;
            opts.no_echo = true;
        }
        'm' => opts.device = Some(PathBuf::from(single("a device")?)),
        // xringd(8): "-c and -n are ignored in the config file".
        'c' | 'n' => {}
        other => return Err(format!("unknown option -{other} in the config file")),
    }
    Ok(())
}

/// A token of the part of a pattern line before the `:`.
#[derive(Debug, PartialEq)]
enum Token<'a> {
    Ring,
    Number(&'a str),
}

/// Split `R 10-16 R30` into `R`, `10-16`, `R`, `30` (xringd needs no blank after `R`).
fn tokens(spec: &str) -> Result<Vec<Token<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = spec.trim_start();
    while let Some(c) = rest.chars().next() {
        if c == 'R' {
            out.push(Token::Ring);
            rest = rest[1..].trim_start();
        } else if c.is_ascii_digit() || c == '.' || c == '-' {
            let end = rest
                .find(|ch: char| !(ch.is_ascii_digit() || ch == '.' || ch == '-'))
                .unwrap_or(rest.len());
            out.push(Token::Number(&rest[..end]));
            rest = rest[end..].trim_start();
        } else {
            let bad: String = rest.chars().take_while(|ch| !ch.is_whitespace()).collect();
            return Err(format!("unexpected {bad:?} in the cadence"));
        }
    }
    Ok(out)
}

/// Parse `R d R d ... R s : command` into (gaps, silence, command).
fn parse_pattern(line: &str) -> Result<(Vec<GapRange>, Duration, String), String> {
    let Some((spec, command)) = line.split_once(':') else {
        return Err(format!("missing ':' before the command in {line:?}"));
    };
    let command = command.trim();
    if command.is_empty() {
        return Err(format!("missing command after ':' in {line:?}"));
    }
    let toks = tokens(spec)?;
    let grammar = || {
        format!(
            "cadence {:?} must be R gap R gap ... R silence (an 'R' before each number)",
            spec.trim()
        )
    };
    if toks.is_empty() || toks.len() % 2 != 0 {
        return Err(grammar());
    }
    let mut numbers = Vec::with_capacity(toks.len() / 2);
    for pair in toks.chunks(2) {
        match pair {
            [Token::Ring, Token::Number(n)] => numbers.push(*n),
            _ => return Err(grammar()),
        }
    }
    let Some((silence, gaps)) = numbers.split_last() else {
        return Err(format!("cadence {:?} is empty", spec.trim()));
    };
    let gaps = gaps
        .iter()
        .map(|g| parse_gap(g))
        .collect::<Result<Vec<_>, _>>()?;
    // xringd accepts a range as the silence and waits for its lower bound only.
    let silence = parse_gap_bounds(silence)?.0;
    Ok((gaps, silence, command.to_string()))
}

/// Parse a gap `n` or `a-b`. A single `n` gets [`EXACT_TOLERANCE`] either side.
fn parse_gap(text: &str) -> Result<GapRange, String> {
    let (min, max, exact) = parse_gap_bounds(text)?;
    if exact {
        Ok(GapRange {
            min: min.saturating_sub(EXACT_TOLERANCE),
            max: max + EXACT_TOLERANCE,
        })
    } else {
        Ok(GapRange { min, max })
    }
}

/// Parse `n` (→ (n, n, true)) or `a-b` (→ (a, b, false)); an empty range is an error.
fn parse_gap_bounds(text: &str) -> Result<(Duration, Duration, bool), String> {
    match text.split_once('-') {
        None => {
            let n = parse_secs(text)?;
            Ok((n, n, true))
        }
        Some((a, b)) => {
            let (min, max) = (parse_secs(a)?, parse_secs(b)?);
            if min > max {
                return Err(format!("empty range {text:?} (the first number is larger)"));
            }
            Ok((min, max, false))
        }
    }
}

/// Parse seconds: digits with an optional fraction (`10`, `0.5`, `1.25`), at most [`MAX_SECS`],
/// kept to the millisecond (further digits are dropped).
pub fn parse_secs(text: &str) -> Result<Duration, String> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty())
        || !digits_only(whole)
        || !digits_only(frac)
        || (text.contains('.') && frac.is_empty())
    {
        return Err(format!("bad number of seconds {text:?}"));
    }
    let whole_n: u64 = if whole.is_empty() {
        0
    } else {
        match whole.trim_start_matches('0') {
            "" => 0,
            w if w.len() > 6 => return Err(format!("{text:?} seconds is too large")),
            w => w
                .parse()
                .map_err(|_| format!("bad number of seconds {text:?}"))?,
        }
    };
    let mut ms: u64 = 0;
    for (i, b) in frac.bytes().take(3).enumerate() {
        ms += u64::from(b - b'0') * [100, 10, 1][i];
    }
    let total = Duration::from_secs(whole_n) + Duration::from_millis(ms);
    if total > Duration::from_secs(MAX_SECS) {
        return Err(format!(
            "{text:?} seconds is too large (at most {MAX_SECS})"
        ));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }
    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }
    fn range(a: u64, b: u64) -> GapRange {
        GapRange {
            min: ms(a),
            max: ms(b),
        }
    }
    fn p(text: &str) -> (PatternFile, Vec<ConfigError>) {
        parse(text, Path::new("x.conf"))
    }

    #[test]
    fn manual_sample() {
        let text = "# xringd configuration file -- sample\n\
            -a /usr/local/audio/bin/play /usr/local/lib/sounds/ring.au\n\
            -l 100\n\
            # 2 rings 10-16 sec apart followed by 30 secs silence\n\
            R 10-16 R 30 : /etc/ppp/ppp.start office1\n\
            # 3 rings 10-20 sec apart followed by 20 secs silence\n\
            R 10-20 R 10-20 R 20 : /etc/ppp/ppp.start office2\n\
            # 2 nearish rings then 1 ring after 20-26 secs, silence for 30 secs\n\
            R 1-5 R 20-26 R 30 : /usr/local/bin/turn-heater on\n";
        let (f, errs) = p(text);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            f.options.ring_command.as_deref(),
            Some("/usr/local/audio/bin/play /usr/local/lib/sounds/ring.au")
        );
        assert_eq!(f.options.log_level, Some(100));
        assert_eq!(f.patterns.len(), 3);
        let p0 = &f.patterns[0];
        assert_eq!(p0.loc.line, 5);
        assert_eq!(p0.gaps, vec![range(10_000, 16_000)]);
        assert_eq!(p0.silence, s(30));
        assert_eq!(p0.command, "/etc/ppp/ppp.start office1");
        assert_eq!(f.patterns[1].rings(), 3);
        assert_eq!(
            f.patterns[2].gaps,
            vec![range(1000, 5000), range(20_000, 26_000)]
        );
        assert_eq!(f.patterns[2].command, "/usr/local/bin/turn-heater on");
    }

    #[test]
    fn good_lines() {
        // (line, gaps, silence ms, command)
        let table: &[(&str, &[GapRange], u64, &str)] = &[
            ("R 2-4 R 5 : TWO", &[range(2000, 4000)], 5000, "TWO"),
            ("  R 2 R 3 : x", &[range(1500, 2500)], 3000, "x"),
            ("R2 R3:z", &[range(1500, 2500)], 3000, "z"),
            ("R 0 : one ring", &[], 0, "one ring"),
            ("R 5 : z", &[], 5000, "z"),
            ("R 0.5-1.5 R 2 : dec", &[range(500, 1500)], 2000, "dec"),
            ("R 0.25 R .5 : d", &[range(0, 750)], 500, "d"),
            ("R 02 R 3 : z", &[range(1500, 2500)], 3000, "z"),
            (
                "R 2-4 R 5-7 : range silence",
                &[range(2000, 4000)],
                5000,
                "range silence",
            ),
            (
                "R 1.2345-2 R 1 : trunc",
                &[range(1234, 2000)],
                1000,
                "trunc",
            ),
            (
                "R 2 R 3 : a: b # c ; $(x)",
                &[range(1500, 2500)],
                3000,
                "a: b # c ; $(x)",
            ),
            ("R\t2-2\tR\t3\t:\tt", &[range(2000, 2000)], 3000, "t"),
        ];
        for (line, gaps, silence, command) in table {
            let (f, errs) = p(line);
            assert!(errs.is_empty(), "{line:?}: {errs:?}");
            assert_eq!(f.patterns.len(), 1, "{line:?}");
            let pat = &f.patterns[0];
            assert_eq!(&pat.gaps[..], *gaps, "{line:?}");
            assert_eq!(pat.silence, ms(*silence), "{line:?}");
            assert_eq!(pat.command, *command, "{line:?}");
        }
    }

    #[test]
    fn bad_lines_each_reported_and_rest_kept() {
        let table: &[(&str, &str)] = &[
            ("r 2 r 3 : y", "expected a pattern"),
            ("R 2-4 R 5", "missing ':'"),
            ("R 2 R 3 :", "missing command"),
            ("R 2 R 3 R : z", "must be R gap"),
            ("R 2- R 3 : z", "bad number"),
            ("R 2 -4 R 3 : z", "must be R gap"),
            ("R 4-2 R 3 : z", "empty range \"4-2\""),
            ("R 99999999999 R 3 : z", "too large"),
            ("R 86401 R 3 : z", "too large"),
            ("R 1..2 R 3 : z", "bad number"),
            ("R 1. R 3 : z", "bad number"),
            ("R 2 x R 3 : z", "unexpected \"x\""),
            ("R : z", "must be R gap"),
            ("R R 2 : z", "must be R gap"),
            ("-x 5", "unknown option -x"),
            ("-t", "option -t needs seconds"),
            ("-t 5 6", "takes one value"),
            ("-t abc", "bad number of seconds \"abc\" for -t"),
            ("-l x", "bad log level \"x\""),
            ("-i 1.5", "bad milliseconds"),
            ("-i 70000", "too large"),
            ("-a", "needs a command"),
            ("-d now", "takes no value"),
            ("-", "without an option letter"),
            ("hello", "expected a pattern"),
        ];
        for (line, want) in table {
            let text = format!("# head\nR 2-4 R 5 : before\n{line}\nR 2-4 R 6 : after\n");
            let (f, errs) = p(&text);
            assert_eq!(errs.len(), 1, "{line:?}: {errs:?}");
            let msg = errs[0].to_string();
            assert!(msg.starts_with("x.conf:3: "), "{line:?}: {msg}");
            assert!(msg.contains(want), "{line:?}: {msg} lacks {want:?}");
            let cmds: Vec<_> = f.patterns.iter().map(|p| p.command.as_str()).collect();
            assert_eq!(cmds, ["before", "after"], "{line:?}");
            assert_eq!(f.patterns[1].loc.line, 4);
        }
    }

    #[test]
    fn every_bad_line_reported() {
        let (f, errs) = p("bad1\nR 2 R 3 : ok\nR 2\n-q\n");
        let lines: Vec<_> = errs.iter().map(|e| e.loc.line).collect();
        assert_eq!(lines, [1, 3, 4]);
        assert_eq!(f.patterns.len(), 1);
    }

    #[test]
    fn options() {
        let (f, errs) = p(
            "-a play ring.au\n-l 10\n-i 300\n-t 0.5\n-d\n-e\n-m /dev/ttyUSB1\n-c /other\n-n\n-t2\n",
        );
        assert!(errs.is_empty(), "{errs:?}");
        let o = &f.options;
        assert_eq!(o.ring_command.as_deref(), Some("play ring.au"));
        assert_eq!(o.log_level, Some(10));
        assert_eq!(o.merge, Some(ms(300)));
        // The last -t wins; `-t2` (value attached) works like getopt.
        assert_eq!(o.init, Some(s(2)));
        assert!(o.debug && o.no_echo);
        assert_eq!(o.device.as_deref(), Some(Path::new("/dev/ttyUSB1")));
        let (f, _) = p("# nothing\n\n   \n\t# indented comment\n");
        assert_eq!(f, PatternFile::default());
    }

    #[test]
    fn secs() {
        assert_eq!(parse_secs("0"), Ok(ms(0)));
        assert_eq!(parse_secs("86400"), Ok(s(86400)));
        assert_eq!(parse_secs("0.001"), Ok(ms(1)));
        assert_eq!(parse_secs("000000000000010"), Ok(s(10)));
        for bad in ["", ".", "-1", "1e3", "+1", " 1", "1.2.3", "inf", "NaN"] {
            assert!(parse_secs(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn gap_contains_is_closed() {
        let r = range(2000, 4000);
        assert!(r.contains(ms(2000)) && r.contains(ms(4000)));
        assert!(!r.contains(ms(1999)) && !r.contains(ms(4001)));
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,200}") {
            let (f, errs) = p(&text);
            let lines = text.lines().count();
            prop_assert!(f.patterns.len() + errs.len() <= lines);
        }

        #[test]
        fn pattern_like_lines_never_panic(text in "[R0-9.: \\-]{0,40}") {
            let _ = p(&text);
        }

        #[test]
        fn generated_patterns_round_trip(
            gaps in proptest::collection::vec((0u64..100_000, 0u64..100_000), 0..5),
            silence in 0u64..100_000,
            cmd in "[a-z][a-z /]{0,20}[a-z]",
        ) {
            let secs = |m: u64| format!("{}.{:03}", m / 1000, m % 1000);
            let mut line = String::new();
            let mut want = Vec::new();
            for (a, b) in &gaps {
                let (lo, hi) = (*a.min(b), *a.max(b));
                line.push_str(&format!("R {}-{} ", secs(lo), secs(hi)));
                want.push(range(lo, hi));
            }
            line.push_str(&format!("R {} : {cmd}", secs(silence)));
            let (f, errs) = p(&line);
            prop_assert!(errs.is_empty(), "{:?}", errs);
            prop_assert_eq!(&f.patterns[0].gaps, &want);
            prop_assert_eq!(f.patterns[0].silence, ms(silence));
            prop_assert_eq!(&f.patterns[0].command, cmd.trim());
        }
    }
}
