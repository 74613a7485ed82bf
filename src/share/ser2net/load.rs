//! A ser2net.yaml as a list of [`Connection`]s: documents, version 1 (`define:`, `default:`,
//! `delete_default:`, `connection: &NAME` repeated) and version 2 (`defines:`, `defaults:`,
//! `delete_defaults:`, `connections:`), `include:` (globs), and the string substitutions
//! `*(NAME)`/`*{FILE}` (version 2: `=(NAME)`/`={FILE}`). Sections rgetty-share has no
//! counterpart for (`admin`, `led`, `rotator`) are errors naming their line.
//!
//! Reads the files it is given and includes; everything else is pure.

use std::path::{Path, PathBuf};

use super::map::{Connection, Defaults};
use super::yaml::{self, Content, Node};
use crate::config::ConfigError;

/// Includes nested deeper than this are refused (a file including itself).
const MAX_DEPTH: usize = 8;

/// The state carried through a file and its includes.
#[derive(Debug)]
struct Ctx {
    etc: PathBuf,
    defines: Vec<(String, String)>,
    defaults: Defaults,
    out: Vec<Connection>,
    errors: Vec<ConfigError>,
}

/// Load `text` (read from `path`, which names it in messages and anchors relative
/// includes). `etc` is ser2net's configuration directory (default TLS key and certificate).
pub fn load_text(path: &Path, text: &str, etc: &Path) -> Result<Vec<Connection>, Vec<ConfigError>> {
    let mut cx = Ctx {
        etc: etc.to_path_buf(),
        defines: Vec::new(),
        defaults: Defaults::default(),
        out: Vec::new(),
        errors: Vec::new(),
    };
    cx.text(path, text, 0);
    check_duplicates(path, &mut cx);
    if cx.errors.is_empty() {
        Ok(cx.out)
    } else {
        Err(cx.errors)
    }
}

/// Load a file.
pub fn load_file(path: &Path, etc: &Path) -> Result<Vec<Connection>, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![ConfigError::new(path, 0, format!("cannot read: {e}"))])?;
    load_text(path, &text, etc)
}

/// Two connections on one address, or two with one name.
fn check_duplicates(path: &Path, cx: &mut Ctx) {
    for (i, c) in cx.out.iter().enumerate() {
        // Port 0 (the kernel picks one) never collides.
        let same = |o: &&Connection| o.port.listen == c.port.listen && c.port.listen.port() != 0;
        if let Some(o) = cx.out[..i].iter().find(same) {
            let msg = format!("port {} already used by {}", c.port.listen, o.name);
            cx.errors.push(ConfigError::new(path, c.line, msg));
        }
    }
}

impl Ctx {
    fn err(&mut self, path: &Path, line: usize, msg: impl Into<String>) {
        self.errors.push(ConfigError::new(path, line, msg));
    }

    fn text(&mut self, path: &Path, text: &str, depth: usize) {
        let docs = match yaml::parse(text) {
            Ok(d) => d,
            Err(e) => return self.err(path, e.line, e.msg),
        };
        for doc in &docs {
            let Some(pairs) = doc.pairs() else {
                if !doc.is_null() {
                    self.err(path, doc.line, "want a mapping at the top level");
                }
                continue;
            };
            let v2 = pairs.iter().any(|(k, _)| {
                matches!(
                    k.text(),
                    Some(
                        "defines"
                            | "defaults"
                            | "delete_defaults"
                            | "connections"
                            | "admins"
                            | "leds"
                            | "rotators"
                    )
                )
            });
            for (k, v) in pairs {
                let key = k.text().unwrap_or("");
                if v2 {
                    self.v2_entry(path, key, v, depth);
                } else {
                    self.v1_entry(path, key, v, depth);
                }
            }
        }
    }

    fn v1_entry(&mut self, path: &Path, key: &str, v: &Node, depth: usize) {
        match key {
            "define" => match (v.anchor.clone(), self.subst(path, v, '*')) {
                (Some(name), Some(n)) => {
                    let text = n.text().unwrap_or("").to_string();
                    self.defines.push((name, text));
                }
                (None, _) => self.err(path, v.line, "define without an &NAME"),
                _ => {}
            },
            "connection" => match v.anchor.clone() {
                Some(name) => self.connection(path, &name, v, '*'),
                None => self.err(path, v.line, "connection without an &NAME"),
            },
            "default" => self.default(path, v, false),
            "delete_default" => self.default(path, v, true),
            "include" => self.include(path, v, depth),
            other => self.unsupported(path, v.line, other),
        }
    }

    fn v2_entry(&mut self, path: &Path, key: &str, v: &Node, depth: usize) {
        let pairs = v.pairs().unwrap_or(&[]);
        match key {
            "defines" => {
                for (k, dv) in pairs {
                    if let Some(n) = self.subst(path, dv, '=') {
                        let text = n.text().unwrap_or("").to_string();
                        self.defines
                            .push((k.text().unwrap_or("").to_string(), text));
                    }
                }
            }
            "connections" => {
                for (k, c) in pairs {
                    self.connection(path, k.text().unwrap_or(""), c, '=');
                }
            }
            "defaults" => {
                for (k, dv) in pairs {
                    let entry = entry_fields(dv);
                    let value = entry.1.unwrap_or_default();
                    let name = k.text().unwrap_or("");
                    if let Err(m) = self.defaults.set(entry.0.as_deref(), name, &value, k.line) {
                        self.err(path, k.line, m);
                    }
                }
            }
            "delete_defaults" => {
                for (k, classes) in pairs {
                    if let Content::Seq(items) = &classes.kind {
                        for c in items {
                            self.defaults.delete(c.text(), k.text().unwrap_or(""));
                        }
                    }
                }
            }
            "include" => self.include(path, v, depth),
            other => self.unsupported(path, v.line, other),
        }
    }

    fn unsupported(&mut self, path: &Path, line: usize, key: &str) {
        let why = match key {
            "admin" | "admins" => "the admin interface is not supported by rgetty-share",
            "led" | "leds" => "LEDs are not supported by rgetty-share",
            "rotator" | "rotators" => {
                "rotators are not supported by rgetty-share (a pool: several devices on one rgetty-share.conf line)"
            }
            _ => "",
        };
        let msg = if why.is_empty() {
            format!("{key:?} not supported by rgetty-share")
        } else {
            format!("{key}: {why}")
        };
        self.err(path, line, msg);
    }

    /// `default:`/`delete_default:` of version 1 (`name`, `value`, `class`).
    fn default(&mut self, path: &Path, v: &Node, delete: bool) {
        let Some(n) = self.subst(path, v, '*') else {
            return;
        };
        let fields = n.pairs().unwrap_or(&[]);
        let get = |k: &str| {
            fields
                .iter()
                .find(|(fk, _)| fk.text() == Some(k))
                .and_then(|(_, fv)| fv.text())
                .map(|s| s.trim().trim_end_matches(',').to_string())
        };
        let Some(name) = get("name") else {
            return self.err(path, v.line, "default without a name");
        };
        let class = get("class");
        if delete {
            self.defaults.delete(class.as_deref(), &name);
        } else if let Err(m) = self.defaults.set(
            class.as_deref(),
            &name,
            &get("value").unwrap_or_default(),
            v.line,
        ) {
            self.err(path, v.line, m);
        }
    }

    fn connection(&mut self, path: &Path, name: &str, v: &Node, marker: char) {
        let Some(n) = self.subst(path, v, marker) else {
            return;
        };
        match super::options::connection(name, &n, &self.defaults, &self.etc) {
            Ok(Some(c)) => self.out.push(c),
            Ok(None) => log::info!(
                "{}:{}: connection {name} is disabled",
                path.display(),
                v.line
            ),
            Err(mut errs) => {
                errs.sort_by_key(|e| e.0);
                for (line, m) in errs {
                    self.err(path, line, m);
                }
            }
        }
    }

    /// `include: GLOB`: each matching file, in name order, in this context.
    fn include(&mut self, path: &Path, v: &Node, depth: usize) {
        let Some(pattern) = v.text() else {
            return self.err(path, v.line, "include: want a file name or glob");
        };
        if depth >= MAX_DEPTH {
            return self.err(path, v.line, "include: nested too deep");
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let pat = base.join(pattern.trim());
        let files = glob(&pat);
        if files.is_empty() && !pattern.contains(['*', '?']) {
            return self.err(path, v.line, format!("include: no file {}", pat.display()));
        }
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(t) => self.text(&f, &t, depth + 1),
                Err(e) => self.err(path, v.line, format!("include {}: {e}", f.display())),
            }
        }
    }

    /// A copy of `node` with `*(NAME)` and `*{FILE}` (or `=`…) replaced in every scalar.
    fn subst(&mut self, path: &Path, node: &Node, marker: char) -> Option<Node> {
        let mut n = node.clone();
        let mut errs = Vec::new();
        subst_node(&mut n, marker, &self.defines, &mut errs);
        let ok = errs.is_empty();
        for (line, m) in errs {
            self.err(path, line, m);
        }
        ok.then_some(n)
    }
}

/// `value` and `class` of a version 2 default.
fn entry_fields(n: &Node) -> (Option<String>, Option<String>) {
    let get = |k: &str| {
        n.pairs()?
            .iter()
            .find(|(fk, _)| fk.text() == Some(k))
            .and_then(|(_, v)| v.text())
            .map(str::to_string)
    };
    (get("class"), get("value"))
}

fn subst_node(
    n: &mut Node,
    marker: char,
    defines: &[(String, String)],
    errs: &mut Vec<(usize, String)>,
) {
    let line = n.line;
    match &mut n.kind {
        Content::Scalar(s, _) => match substitute(s, marker, defines) {
            Ok(t) => *s = t,
            Err(m) => errs.push((line, m)),
        },
        Content::Map(pairs) => pairs
            .iter_mut()
            .for_each(|(_, v)| subst_node(v, marker, defines, errs)),
        Content::Seq(items) => items
            .iter_mut()
            .for_each(|v| subst_node(v, marker, defines, errs)),
    }
}

/// Replace `M(NAME)` by the define, `M{FILE}` by the file's contents (`M(M` and `M{M` stand
/// for themselves), where `M` is `*` in version 1 and `=` in version 2.
pub fn substitute(s: &str, m: char, defines: &[(String, String)]) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(m) {
        out.push_str(&rest[..i]);
        let after = &rest[i + m.len_utf8()..];
        let (open, close) = match after.chars().next() {
            Some('(') => ('(', ')'),
            Some('{') => ('{', '}'),
            _ => {
                out.push(m);
                rest = after;
                continue;
            }
        };
        let inner = &after[1..];
        if inner.starts_with(m) {
            out.push(m);
            out.push(open);
            rest = &inner[m.len_utf8()..];
            continue;
        }
        let Some(end) = inner.find(close) else {
            return Err(format!("unterminated {m}{open}"));
        };
        let name = &inner[..end];
        if open == '(' {
            let v = defines.iter().rev().find(|(n, _)| n == name);
            out.push_str(&v.ok_or_else(|| format!("no define {name:?}"))?.1);
        } else {
            let t = std::fs::read_to_string(name).map_err(|e| format!("{m}{{{name}}}: {e}"))?;
            out.push_str(t.trim_end_matches('\n'));
        }
        rest = &inner[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The files matching a pattern whose last component may hold `*` and `?`, sorted.
fn glob(pat: &Path) -> Vec<PathBuf> {
    let name = pat
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return if pat.exists() {
            vec![pat.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let dir = pat.parent().unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_file() && wildcard(&name, &e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// Shell-style `*` and `?` match.
fn wildcard(p: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (p.chars().collect(), s.chars().collect());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}
