//! Alert line cutting: whatever the reads, `alert_scan::Lines` (with the literal prefilter)
//! hands on every line piece that a regex matches, the same as cutting the whole stream into
//! lines at once; no piece holds LF, ends in CR or is longer than `MAX_LINE`.
//!
//! Input: the first byte picks the patterns (a bit each), the second the read sizes, the rest
//! is device output (an LF is added at its end).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use regex::bytes::{Regex, RegexSet};
use rgetty::share::alert_scan::{Lines, MAX_LINE, prefilter};

const PATTERNS: [&str; 8] = [
    r"PANIC: \w+",
    r"login: $",
    r"Oops: [0-9a-f]{4}",
    r"(?i)kernel panic",
    r"\d+ failed",
    r"^\x00\xff",
    "^$",
    r"U-Boot 20\d\d",
];

/// The regex set and `Lines`' prefilter for each pattern mask, built once: compiling them for
/// every input would leave the fuzzer a hundred runs a second.
static COMPILED: [OnceLock<(RegexSet, Option<Regex>)>; 256] = [const { OnceLock::new() }; 256];

fn want(set: &RegexSet, stream: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for line in stream[..stream.len() - 1].split(|&c| c == b'\n') {
        let pieces: Vec<&[u8]> = if line.is_empty() {
            vec![line]
        } else {
            line.chunks(MAX_LINE).collect()
        };
        for mut p in pieces {
            while let [rest @ .., b'\r'] = p {
                p = rest;
            }
            if set.is_match(p) {
                out.push(p.to_vec());
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let [mask, sizes, body @ ..] = data else {
        return;
    };
    if *mask == 0 {
        return;
    }
    let (set, pre) = COMPILED[usize::from(*mask)].get_or_init(|| {
        let patterns: Vec<&str> = (0..8)
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| PATTERNS[i])
            .collect();
        (RegexSet::new(&patterns).unwrap(), prefilter(&patterns))
    });
    let mut stream = body.to_vec();
    stream.push(b'\n');
    let mut lines = Lines::with_prefilter(pre.clone());
    let mut got = Vec::new();
    let step = 1 + usize::from(*sizes) * 37;
    for read in stream.chunks(step) {
        lines.feed(read, &mut |p| {
            assert!(p.len() <= MAX_LINE && !p.contains(&b'\n') && !p.ends_with(b"\r"));
            if set.is_match(p) {
                got.push(p.to_vec());
            }
        });
    }
    assert_eq!(got, want(set, &stream));
});
