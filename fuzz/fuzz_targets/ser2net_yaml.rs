//! ser2net.yaml: `ser2net::yaml::parse` on any text never panics and every node's line lies
//! within the text; `ser2net::load_text` on the same text (when it names no file to read:
//! no `include`, no `*{FILE}`/`={FILE}`) returns connections or errors whose lines lie within
//! the text, never a panic.
//!
//! Input: the file (lossy UTF-8).
//!
//! The first run stopped on `yaml error line 3 of 2`: a file with CR line ends. That was the
//! target counting only LFs; YAML (libyaml and saphyr alike) counts CR as a line end too.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rgetty::share::ser2net::{self, yaml};

fn check(n: &yaml::Node, lines: usize) {
    assert!(n.line <= lines, "node line {} of {lines}", n.line);
    match &n.kind {
        yaml::Content::Scalar(..) => {}
        yaml::Content::Map(pairs) => pairs.iter().for_each(|(k, v)| {
            check(k, lines);
            check(v, lines);
        }),
        yaml::Content::Seq(items) => items.iter().for_each(|i| check(i, lines)),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // YAML ends a line at LF, CR or CRLF (one more for an error at the end of the file).
    let lines = text.matches(['\n', '\r']).count() + 2;
    match yaml::parse(&text) {
        Ok(docs) => docs.iter().for_each(|d| check(d, lines)),
        Err(e) => assert!(e.line <= lines, "yaml error line {} of {lines}", e.line),
    }
    if text.contains("include") || text.contains("*{") || text.contains("={") {
        return;
    }
    let path = Path::new("/nonexistent/ser2net.yaml");
    if let Err(errors) = ser2net::load_text(path, &text, Path::new("/nonexistent")) {
        for e in errors {
            assert!(
                e.loc.line <= lines,
                "error line {} of {lines}: {e}",
                e.loc.line
            );
        }
    }
});
