//! Cutting device output into the lines alert regexes are tried on, cheaply: whatever the
//! reads' sizes, a line is the bytes between two LFs, matched in pieces of at most
//! [`MAX_LINE`] bytes (a longer line is cut every [`MAX_LINE`] bytes from its start), with
//! its trailing CRs removed.
//!
//! Most lab alert patterns need a literal (`PANIC: `, `login: `). When every pattern has a
//! finite set of literals one of which each of its matches holds (prefix or suffix literals,
//! [`regex_syntax::hir::literal`]), one search for those literals runs over each read's
//! complete lines at once, and only a line holding one is handed on; without such a set
//! every line is. Only the read's unfinished last line is copied (to a buffer of
//! [`MAX_LINE`] bytes made once), to be joined with the next read.

use memchr::{memchr, memrchr};
use regex::bytes::Regex;
use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};

/// Longest piece of a line matched; a longer line is matched in pieces of this size.
pub const MAX_LINE: usize = 4096;

/// Literals beyond this many (over all patterns) are cut shorter until they are fewer.
const MAX_LITERALS: usize = 64;

/// Device output cut into lines, with the optional literal prefilter.
#[derive(Debug)]
pub struct Lines {
    prefilter: Option<Regex>,
    carry: Vec<u8>,
}

/// Literals (at least one byte each) one of which every match of `pattern` holds; `None`
/// when there are no such.
fn needed(pattern: &str) -> Option<Seq> {
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()?;
    [ExtractKind::Prefix, ExtractKind::Suffix]
        .into_iter()
        .map(|k| Extractor::new().kind(k).extract(&hir))
        .find(|s| s.min_literal_len().is_some_and(|n| n > 0))
}

/// One search for literals one of which any match of any of `patterns` holds; `None` when
/// some pattern has none (every line must then be tried).
pub fn prefilter<S: AsRef<str>>(patterns: &[S]) -> Option<Regex> {
    let mut all = Seq::empty();
    for p in patterns {
        all.union(&mut needed(p.as_ref())?);
    }
    all.dedup();
    // Cutting a literal keeps it a part of every match that held it, so the search stays
    // sound; it only finds more lines to try.
    let mut keep = 16;
    while all.len()? > MAX_LITERALS && keep > 1 {
        keep /= 2;
        all.keep_first_bytes(keep);
        all.dedup();
    }
    all.minimize_by_preference();
    let lits = all.literals()?;
    if lits.is_empty() || lits.iter().any(|l| l.is_empty()) {
        return None;
    }
    let alts: Vec<String> = lits
        .iter()
        .map(|l| l.as_bytes().iter().map(|b| format!("\\x{b:02x}")).collect())
        .collect();
    Regex::new(&format!("(?-u:{})", alts.join("|"))).ok()
}

/// `line` without its trailing CRs (and LFs).
fn trim(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = line {
        line = rest;
    }
    line
}

/// Hand on the pieces of the complete line `line` (no LF).
fn pieces(line: &[u8], f: &mut impl FnMut(&[u8])) {
    if line.is_empty() {
        return f(line);
    }
    for p in line.chunks(MAX_LINE) {
        f(trim(p));
    }
}

impl Lines {
    /// Lines for these patterns (their literals, when all have some, make the prefilter).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Lines {
        Lines::with_prefilter(prefilter(patterns))
    }

    /// Lines with this prefilter (`None`: every line is handed on).
    pub fn with_prefilter(prefilter: Option<Regex>) -> Lines {
        Lines {
            prefilter,
            carry: Vec::with_capacity(MAX_LINE),
        }
    }

    /// Whether a literal search narrows the lines handed on.
    pub fn filtered(&self) -> bool {
        self.prefilter.is_some()
    }

    /// Feed device output: each line (piece) that may match goes to `f`, trailing CRs
    /// removed.
    pub fn feed(&mut self, mut b: &[u8], f: &mut impl FnMut(&[u8])) {
        if !self.carry.is_empty() {
            let Some(nl) = memchr(b'\n', b) else {
                return self.push(b, f);
            };
            self.push(&b[..nl], f);
            if self.wanted(&self.carry) {
                f(trim(&self.carry));
            }
            self.carry.clear();
            b = &b[nl + 1..];
        }
        let Some(last) = memrchr(b'\n', b) else {
            return self.push(b, f);
        };
        self.complete(&b[..=last], f);
        self.push(&b[last + 1..], f);
    }

    /// Does `text` (a piece or a few lines) hold a literal of the prefilter?
    fn wanted(&self, text: &[u8]) -> bool {
        self.prefilter.as_ref().is_none_or(|p| p.is_match(text))
    }

    /// Lines that all end in `region` (which ends with LF).
    fn complete(&self, region: &[u8], f: &mut impl FnMut(&[u8])) {
        let Some(p) = &self.prefilter else {
            let mut start = 0;
            for nl in memchr::memchr_iter(b'\n', region) {
                pieces(&region[start..nl], f);
                start = nl + 1;
            }
            return;
        };
        let mut at = 0;
        while let Some(m) = p.find_at(region, at) {
            let start = memrchr(b'\n', &region[..m.start()]).map_or(0, |i| i + 1);
            let end = memchr(b'\n', &region[m.start()..]).map_or(region.len(), |i| m.start() + i);
            pieces(&region[start..end], f);
            at = end + 1;
            if at >= region.len() {
                break;
            }
        }
    }

    /// Keep `b` (no LF) as the unfinished line; a full piece followed by more goes on.
    fn push(&mut self, mut b: &[u8], f: &mut impl FnMut(&[u8])) {
        while !b.is_empty() {
            if self.carry.len() == MAX_LINE {
                if self.wanted(&self.carry) {
                    f(trim(&self.carry));
                }
                self.carry.clear();
            }
            let take = (MAX_LINE - self.carry.len()).min(b.len());
            self.carry.extend_from_slice(&b[..take]);
            b = &b[take..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use regex::bytes::RegexSet;

    const PATTERNS: [&str; 5] = [r"PANIC: \w+", r"login: $", r"Oops: [0-9a-f]{4}", "^$", "x"];

    /// What the alerts must see: each LF-ended line of `stream`, in pieces, that some
    /// pattern matches.
    fn reference(set: &RegexSet, stream: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let body = stream.strip_suffix(b"\n").unwrap_or(stream);
        for line in body.split(|&c| c == b'\n') {
            pieces(line, &mut |p| {
                if set.is_match(p) {
                    out.push(p.to_vec());
                }
            });
        }
        out
    }

    /// The lines `Lines` hands on for `stream` fed in reads cut at `cuts`, kept when some
    /// pattern matches them.
    fn scanned(set: &RegexSet, lines: &mut Lines, stream: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut f = |p: &[u8]| {
            assert!(p.len() <= MAX_LINE);
            if set.is_match(p) {
                out.push(p.to_vec());
            }
        };
        let mut from = 0;
        for &c in cuts.iter().chain([&stream.len()]) {
            let c = c.clamp(from, stream.len());
            lines.feed(&stream[from..c], &mut f);
            from = c;
        }
        out
    }

    fn both(patterns: &[&str], stream: &[u8], cuts: &[usize]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let set = RegexSet::new(patterns).unwrap();
        let mut lines = Lines::new(patterns);
        (
            reference(&set, stream),
            scanned(&set, &mut lines, stream, cuts),
        )
    }

    #[test]
    fn literals_make_the_prefilter() {
        assert!(Lines::new(&PATTERNS[..3]).filtered());
        assert!(!Lines::new(&PATTERNS).filtered(), "^$ needs no literal");
        assert!(Lines::new(&[r"\w+ failed"]).filtered(), "a suffix literal");
        assert!(Lines::new(&[r"(?i)kernel panic"]).filtered());
        assert!(!Lines::new(&[r".*"]).filtered());
        let p = prefilter(&[r"U-Boot 20\d\d", r"ERROR \d+: .+"]).unwrap();
        assert!(p.is_match(b"U-Boot 2023.04") && p.is_match(b"ERROR 5: x"));
        // lines without the literals are never handed on; the one with one is
        let mut lines = Lines::new(&PATTERNS[..3]);
        let mut seen = Vec::new();
        let text = b"booting\nplain text\r\nmore PANIC and Oops\nkernel PANIC: x\nend\n";
        lines.feed(text, &mut |l| seen.push(l.to_vec()));
        assert_eq!(seen, [b"kernel PANIC: x".to_vec()]);
    }

    #[test]
    fn a_match_split_at_every_byte() {
        let stream = b"boot\r\nkernel PANIC: oops\r\nlogin: \nOops: 00ff\n\n".as_slice();
        for patterns in [&PATTERNS[..3], &PATTERNS[..]] {
            for i in 0..=stream.len() {
                let (want, got) = both(patterns, stream, &[i]);
                assert_eq!(got, want, "cut at {i}");
                assert!(want.iter().any(|l| l == b"kernel PANIC: oops"));
            }
            let every: Vec<usize> = (0..stream.len()).collect();
            let (want, got) = both(patterns, stream, &every);
            assert_eq!(got, want, "one byte per read");
        }
    }

    #[test]
    fn overlong_lines_go_in_pieces() {
        let mut stream = vec![b'.'; MAX_LINE - 3];
        stream.extend_from_slice(b"PANIC: split"); // over the cut: in no piece whole
        stream.extend_from_slice(&[b'.'; MAX_LINE]);
        stream.extend_from_slice(b"PANIC: whole\r\n");
        for cuts in [vec![], vec![MAX_LINE], vec![1, MAX_LINE + 5, 3 * MAX_LINE]] {
            let (want, got) = both(&PATTERNS[..3], &stream, &cuts);
            assert_eq!(got, want);
            assert_eq!(got.len(), 1);
            assert!(got[0].ends_with(b"PANIC: whole"));
        }
        // exactly MAX_LINE bytes is one piece: no empty piece after it
        let mut exact = vec![b'x'; MAX_LINE];
        exact.push(b'\n');
        let (want, got) = both(&["x", "^$"], &exact, &[MAX_LINE]);
        assert_eq!((got.len(), &got), (1, &want));
    }

    #[test]
    fn invalid_utf8_and_cr_variants() {
        let stream = b"\xff\xfePANIC: ok\xc3\x28\r\r\n\rlogin: \r\nlogin: \rx\nOops: beef\n\x00\n";
        for i in 0..=stream.len() {
            let (want, got) = both(&PATTERNS[..3], stream, &[i]);
            assert_eq!(got, want, "cut at {i}");
            assert_eq!(got.len(), 3, "{got:?}");
        }
    }

    proptest! {
        #[test]
        fn same_lines_as_whole_lines_whatever_the_reads(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just(b"PANIC: ".to_vec()), Just(b"PANIC".to_vec()), Just(b"login: ".to_vec()),
                    Just(b"Oops: 1f2e".to_vec()), Just(b"\r".to_vec()), Just(b"\n".to_vec()),
                    Just(b"\r\n".to_vec()), Just(vec![b'a'; 1500]), Just(vec![0xff, 0xc3]),
                    proptest::collection::vec(any::<u8>(), 0..8),
                ],
                0..40),
            cuts in proptest::collection::vec(0usize..10_000, 0..12),
            all in any::<bool>(),
        ) {
            let mut stream: Vec<u8> = parts.concat();
            stream.push(b'\n');
            let mut cuts = cuts;
            cuts.sort_unstable();
            let patterns = if all { &PATTERNS[..] } else { &PATTERNS[..3] };
            let (want, got) = both(patterns, &stream, &cuts);
            prop_assert_eq!(got, want);
        }
    }
}
