//! The repository stands on its own: every reference in a comment in `src/` can be followed in a
//! fresh clone.
//!
//! - A `§X` reference (`§4.4`, `§R2`, `§P1`) must name a heading of `docs/behaviour.md`, or of
//!   the document named earlier on the same comment line (`docs/platform.md §P1`). Headings are
//!   written `## §4.4 WAIT_RINGS and the RING reader`.
//! - A file cited in a comment (`foo.md`, `bar.rs`, `docs/x.md`, `etc/rgetty/mgetty.config`,
//!   `recorder.c`) must exist in the repository. This holds for C sources and headers too, so
//!   upstream mgetty's files are described (`mgetty's policy header`), not named; a system
//!   header in angle brackets (`<linux/serial.h>`) is the system's.
//!
//! Only comments are scanned (a small lexer skips strings, raw strings and char literals), and
//! only path-like tokens: a name with one of [`REPO_EXTENSIONS`], or a relative path starting
//! with a top-level directory of the repository. Absolute paths (`/etc/issue`) are the system's,
//! not the repository's; `.c`/`.h`/`.conf` names are upstream sources or users' config files.
//! `tools/fix-doc-refs.sh` rewrites the old references to documents outside the repository.
//! `DOC_REFS_ROOT=DIR cargo test --test doc_refs` checks another checkout (e.g. a branch about
//! to be merged) instead of this one.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Extensions of files that live in this repository and that comments cite.
const REPO_EXTENSIONS: &[&str] = &["md", "rs", "toml", "sh", "py", "c", "h"];

/// The document a `§` reference means when its line names no other.
const DEFAULT_DOC: &str = "docs/behaviour.md";

fn root() -> PathBuf {
    std::env::var_os("DOC_REFS_ROOT")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// Every file of the repository, relative to the root (build output and VCS data left out).
fn repo_files(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    stack.push(p);
                }
            } else if let Ok(rel) = p.strip_prefix(root) {
                out.insert(rel.to_string_lossy().into_owned());
            }
        }
    }
    out
}

/// One line of comment text: 1-based line number and the text after the comment opener.
#[derive(Debug, PartialEq)]
struct CommentLine {
    line: usize,
    text: String,
}

/// The comments of a Rust source, line by line. Strings, raw strings, byte strings and char
/// literals are skipped so that `"a // b"` is not a comment; block comments nest.
fn comments(src: &str) -> Vec<CommentLine> {
    let b: Vec<char> = src.chars().collect();
    let mut out: Vec<CommentLine> = Vec::new();
    let (mut i, mut line) = (0usize, 1usize);
    let push = |out: &mut Vec<CommentLine>, line: usize, c: char| match out.last_mut() {
        Some(last) if last.line == line => last.text.push(c),
        _ => out.push(CommentLine {
            line,
            text: c.to_string(),
        }),
    };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c == '/' && next == Some('/') {
            i += 2;
            push(&mut out, line, ' ');
            while i < b.len() && b[i] != '\n' {
                push(&mut out, line, b[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 1;
            i += 2;
            push(&mut out, line, ' ');
            while i < b.len() && depth > 0 {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                } else {
                    if b[i] == '\n' {
                        line += 1;
                    }
                    push(&mut out, line, b[i]);
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('#') || next == Some('"')) && !ident_before(&b, i) {
            i = skip_raw_string(&b, i + 1, &mut line);
        } else if c == '"' {
            i = skip_string(&b, i + 1, &mut line);
        } else if c == '\'' {
            i = skip_char_or_lifetime(&b, i);
        } else {
            i += 1;
        }
    }
    out
}

fn ident_before(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_') && !(i > 1 && b[i - 1] == 'b')
}

/// `i` is just after the opening quote; returns the index after the closing one.
fn skip_string(b: &[char], mut i: usize, line: &mut usize) -> usize {
    while i < b.len() {
        match b[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            '\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    i
}

/// `i` is just after the `r`; returns the index after the closing `"#…`.
fn skip_raw_string(b: &[char], mut i: usize, line: &mut usize) -> usize {
    let mut hashes = 0;
    while b.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    if b.get(i) != Some(&'"') {
        return i; // `r#ident`, a raw identifier
    }
    i += 1;
    while i < b.len() {
        if b[i] == '\n' {
            *line += 1;
        }
        if b[i] == '"' && (1..=hashes).all(|k| b.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

/// `i` is at a `'`: a char literal (`'a'`, `'\n'`, `'\''`) or a lifetime (`'a`).
fn skip_char_or_lifetime(b: &[char], i: usize) -> usize {
    if b.get(i + 1) == Some(&'\\') {
        let mut j = i + 3;
        while j < b.len() && b[j] != '\'' && b[j] != '\n' {
            j += 1;
        }
        return j + 1;
    }
    if b.get(i + 2) == Some(&'\'') {
        return i + 3;
    }
    i + 1
}

/// The `§` references of one comment line, each with the document it points into.
fn section_refs(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut doc = DEFAULT_DOC.to_string();
    let mut rest = text;
    loop {
        let next_doc = doc_mention(rest);
        let next_sec = rest.find('§');
        match (next_doc, next_sec) {
            (Some((at, end, d)), Some(s)) if at < s => {
                doc = d;
                rest = &rest[end..];
            }
            (_, Some(s)) => {
                let after = &rest[s + '§'.len_utf8()..];
                let id: String = after
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
                    .collect();
                let id = id.trim_end_matches('.').to_string();
                out.push((doc.clone(), id));
                rest = after;
            }
            _ => return out,
        }
    }
}

/// The first `docs/….md` named in `text`: (start, end, path).
fn doc_mention(text: &str) -> Option<(usize, usize, String)> {
    let mut from = 0;
    while let Some(off) = text[from..].find("docs/") {
        let at = from + off;
        let tail = &text[at..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_./-".contains(c)))
            .unwrap_or(tail.len());
        let path = tail[..len].trim_end_matches('.');
        if path.ends_with(".md") {
            return Some((at, at + len, path.to_string()));
        }
        from = at + len;
    }
    None
}

/// The `§` ids a markdown document defines: every heading `#… §ID title`.
fn headings(doc: &str) -> BTreeSet<String> {
    doc.lines()
        .filter(|l| l.starts_with('#'))
        .filter_map(|l| {
            let t = l.trim_start_matches('#').trim_start();
            let t = t.strip_prefix('§')?;
            let id: String = t
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
                .collect();
            Some(id.trim_end_matches('.').to_string())
        })
        .collect()
}

/// Path-like tokens in a comment line that name (or claim to name) a file of the repository.
fn cited_files(text: &str, top_dirs: &BTreeSet<String>) -> Vec<String> {
    let is_tok = |c: char| c.is_ascii_alphanumeric() || "_./-".contains(c);
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut k = 0;
    while k < chars.len() {
        if !is_tok(chars[k].1) {
            k += 1;
            continue;
        }
        let start = chars[k].0;
        let prev = text[..start].chars().next_back();
        while k < chars.len() && is_tok(chars[k].1) {
            k += 1;
        }
        let end = chars.get(k).map_or(text.len(), |c| c.0);
        let next = text[end..].chars().next();
        let tok = text[start..end].trim_end_matches(['.', '-', '/']);
        // `now.mdy()`, `x.rs::f` and `a/b` inside expressions are not file names; neither are
        // absolute system paths nor URLs.
        if tok.starts_with('/') || tok.starts_with('.') || prev == Some(':') {
            continue;
        }
        // `<linux/serial.h>`, `<termios.h>`: a system header, not a file of the repository.
        if prev == Some('<') && next == Some('>') {
            continue;
        }
        if next == Some('(') || tok.contains("//") {
            continue;
        }
        let ext = tok.rsplit_once('.').map(|(_, e)| e);
        let stem_ok = tok
            .rsplit('/')
            .next()
            .and_then(|n| n.rsplit_once('.'))
            .is_some_and(|(s, _)| s.chars().any(|c| c.is_ascii_alphabetic()));
        let by_ext = stem_ok && ext.is_some_and(|e| REPO_EXTENSIONS.contains(&e));
        let by_dir = tok
            .split_once('/')
            .is_some_and(|(d, rest)| top_dirs.contains(d) && !rest.is_empty());
        if by_ext || by_dir {
            out.push(tok.to_string());
        }
    }
    out
}

/// A cited name exists: as a path from the root or from `src/`, or as the tail of a path.
fn exists(tok: &str, files: &BTreeSet<String>, root: &Path) -> bool {
    if root.join(tok).exists() || root.join("src").join(tok).exists() {
        return true;
    }
    let tail = format!("/{tok}");
    files.iter().any(|f| f == tok || f.ends_with(&tail))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Every problem in `src/`, as `file:line: message`.
fn problems(root: &Path) -> Vec<String> {
    let files = repo_files(root);
    let top_dirs: BTreeSet<String> = files
        .iter()
        .filter_map(|f| f.split_once('/').map(|(d, _)| d.to_string()))
        .collect();
    let mut docs: std::collections::BTreeMap<String, Option<BTreeSet<String>>> = Default::default();
    let mut sources = Vec::new();
    rust_files(&root.join("src"), &mut sources);
    sources.sort();
    let mut out = Vec::new();
    for path in sources {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let text = fs::read_to_string(&path).unwrap_or_default();
        for c in comments(&text) {
            for (doc, id) in section_refs(&c.text) {
                let ids = docs.entry(doc.clone()).or_insert_with(|| {
                    fs::read_to_string(root.join(&doc))
                        .ok()
                        .map(|d| headings(&d))
                });
                match ids {
                    None => out.push(format!("{rel}:{}: §{id}: {doc} does not exist", c.line)),
                    Some(ids) if !ids.contains(&id) => {
                        out.push(format!("{rel}:{}: §{id} is no heading of {doc}", c.line))
                    }
                    Some(_) => {}
                }
            }
            for tok in cited_files(&c.text, &top_dirs) {
                if !exists(&tok, &files, root) {
                    out.push(format!(
                        "{rel}:{}: cites {tok}, which is not in the repository",
                        c.line
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn every_reference_in_src_comments_resolves() {
    let found = problems(&root());
    assert!(
        found.is_empty(),
        "{} unresolved reference(s) in src/ comments (tools/fix-doc-refs.sh rewrites the old \
         ones):\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn the_reference_documents_have_headings() {
    let ids = headings(&fs::read_to_string(root().join(DEFAULT_DOC)).unwrap());
    // mgetty's numbering, kept so that every existing citation keeps its meaning.
    let mgetty = "0 1 2 2.1 2.2 2.3 3 3.1 3.2 3.3 3.4 4 4.1 4.2 4.3 4.4 4.5 4.6 4.7 4.8 4.9 4.10 \
                  4.11 5 5.1 5.2 5.3 5.4 5.5 6 6.1 6.2 6.3 7 8 9 9.1 9.2 9.3 9.4 10 11 12 13";
    let xringd = "R1 R2 R3 R4 R5 R6";
    for id in mgetty.split_whitespace().chain(xringd.split_whitespace()) {
        assert!(ids.contains(id), "{DEFAULT_DOC} lacks §{id}");
    }
    let ids = headings(&fs::read_to_string(root().join("docs/platform.md")).unwrap());
    assert!(ids.contains("P1"), "docs/platform.md lacks §P1");
}

#[test]
fn comments_are_found_outside_strings_only() {
    let src = "let a = \"x // y\"; // one §1\nlet c = '\\''; /* two\n three */ let r = r#\"// no\"#; // four\nfn f<'a>(x: &'a str) {} // five\n";
    let got: Vec<(usize, String)> = comments(src)
        .into_iter()
        .map(|c| {
            (
                c.line,
                c.text.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "one §1".to_string()),
            (2, "two".to_string()),
            (3, "three four".to_string()),
            (4, "five".to_string()),
        ]
    );
}

#[test]
fn section_refs_follow_the_document_named_before_them() {
    let got = section_refs(" (docs/behaviour.md §4.1 steps 8–11, docs/platform.md §P1; §5.5.)");
    assert_eq!(
        got,
        vec![
            ("docs/behaviour.md".to_string(), "4.1".to_string()),
            ("docs/platform.md".to_string(), "P1".to_string()),
            ("docs/platform.md".to_string(), "5.5".to_string()),
        ]
    );
    assert_eq!(section_refs(" mgetty §4–§6")[1].1, "6");
}

#[test]
fn only_path_like_tokens_count_as_files() {
    let top: BTreeSet<String> = ["docs", "src", "etc"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let got = cited_files(
        " see docs/x.md, bar.rs and etc/rgetty/y; not now.mdy(), /etc/issue, 4.5, <linux/serial.h>,
         https://a.b/c.md, crate::x.rs or 2.md; but mgetty's cnd.c and policy.h, e.g. i.e.",
        &top,
    );
    assert_eq!(
        got,
        vec!["docs/x.md", "bar.rs", "etc/rgetty/y", "cnd.c", "policy.h"]
    );
}

#[test]
fn the_check_catches_a_missing_file_and_a_missing_section() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("src")).unwrap();
    fs::create_dir_all(root.join("docs")).unwrap();
    fs::write(
        root.join("docs/behaviour.md"),
        "# x\n## §1 One\n### §1.2 Two\n",
    )
    .unwrap();
    fs::write(
        root.join("src/a.rs"),
        "//! ok §1, §1.2 and docs/behaviour.md; a.rs, <sys/ioctl.h>\nfn f() {} // gone.md §9, cnd.c\n",
    )
    .unwrap();
    let got = problems(root);
    assert_eq!(
        got,
        vec![
            "src/a.rs:2: §9 is no heading of docs/behaviour.md".to_string(),
            "src/a.rs:2: cites gone.md, which is not in the repository".to_string(),
            "src/a.rs:2: cites cnd.c, which is not in the repository".to_string(),
        ]
    );
}
