//! ser2net's YAML read into a small tree of nodes that know their line.
//!
//! ser2net reads its file from libyaml's event stream, not as a standard document: a version 1
//! file repeats the same key at the top level (`connection:` once per port, `define:`,
//! `default:`). So this module builds its own tree from the events of `saphyr-parser` and keeps
//! every key in order, duplicates included. Aliases are resolved here (the aliased node is
//! copied; a scalar takes the alias's line, so a message names the line that used it), and each
//! node keeps its anchor's name (`connection: &con01` names the port `con01`).
//!
//! Pure: parses text handed in.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// What it holds.
    pub kind: Content,
    /// Line (1-based) where it starts.
    pub line: usize,
    /// Its anchor's name (`&NAME`), if it has one.
    pub anchor: Option<String>,
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A scalar: its text, and whether it was written plain (unquoted).
    Scalar(String, bool),
    /// A mapping: its key/value pairs in file order, repeated keys kept.
    Map(Vec<(Node, Node)>),
    /// A sequence.
    Seq(Vec<Node>),
}

impl Node {
    /// The text of a scalar.
    pub fn text(&self) -> Option<&str> {
        match &self.kind {
            Content::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// The pairs of a mapping.
    pub fn pairs(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Content::Map(p) => Some(p),
            _ => None,
        }
    }

    /// A plain empty scalar or `~`/`null`: a key given without a value.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Content::Scalar(s, true) if s.is_empty() || s == "~" || s == "null")
    }
}

/// A YAML syntax error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// Line (1-based).
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

/// A mapping or sequence being built.
#[derive(Debug)]
struct Frame {
    node: Node,
    anchor_id: usize,
    key: Option<Node>,
}

/// Builds the tree from parser events.
#[derive(Debug)]
struct Builder {
    chars: Vec<char>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    docs: Vec<Node>,
    prev_end: usize,
}

/// Parse every document of `text` (a file may hold several, separated by `---`).
pub fn parse(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut b = Builder {
        chars: text.chars().collect(),
        stack: Vec::new(),
        anchors: HashMap::new(),
        docs: Vec::new(),
        prev_end: 0,
    };
    let mut parser = Parser::new_from_str(text);
    while let Some(ev) = parser.next_event() {
        let (ev, span) = ev.map_err(|e| YamlError {
            line: e.marker().line(),
            msg: e.info().to_string(),
        })?;
        b.event(ev, span)?;
        b.prev_end = b.prev_end.max(span.end.index());
    }
    Ok(b.docs)
}

impl Builder {
    fn event(&mut self, ev: Event<'_>, span: Span) -> Result<(), YamlError> {
        let line = span.start.line().max(1);
        match ev {
            Event::Scalar(s, style, id, _) => {
                let node = Node {
                    kind: Content::Scalar(s.into_owned(), style == ScalarStyle::Plain),
                    line,
                    anchor: self.anchor_name(id, span),
                };
                self.complete(node, id)
            }
            Event::MappingStart(id, _) | Event::SequenceStart(id, _) => {
                let kind = if matches!(ev, Event::MappingStart(..)) {
                    Content::Map(Vec::new())
                } else {
                    Content::Seq(Vec::new())
                };
                let anchor = self.anchor_name(id, span);
                self.stack.push(Frame {
                    node: Node { kind, line, anchor },
                    anchor_id: id,
                    key: None,
                });
                Ok(())
            }
            Event::MappingEnd | Event::SequenceEnd => match self.stack.pop() {
                Some(f) => self.complete(f.node, f.anchor_id),
                None => Err(YamlError {
                    line,
                    msg: "unbalanced collection".into(),
                }),
            },
            Event::Alias(id) => {
                let Some(mut node) = self.anchors.get(&id).cloned() else {
                    return Err(YamlError {
                        line,
                        msg: "alias to an anchor not (yet) defined".into(),
                    });
                };
                if matches!(node.kind, Content::Scalar(..)) {
                    node.line = line;
                }
                self.complete(node, 0)
            }
            Event::DocumentStart(_) => {
                self.anchors.clear();
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Put a finished node into its parent (or make it a document).
    fn complete(&mut self, node: Node, anchor_id: usize) -> Result<(), YamlError> {
        if anchor_id != 0 {
            self.anchors.insert(anchor_id, node.clone());
        }
        let Some(top) = self.stack.last_mut() else {
            self.docs.push(node);
            return Ok(());
        };
        match &mut top.node.kind {
            Content::Seq(items) => items.push(node),
            Content::Map(pairs) => match top.key.take() {
                None => top.key = Some(node),
                Some(k) => pairs.push((k, node)),
            },
            Content::Scalar(..) => {}
        }
        Ok(())
    }

    /// The anchor's name: the first `&NAME` between the previous event and this one (the
    /// parser numbers anchors but does not hand their names out).
    fn anchor_name(&self, id: usize, span: Span) -> Option<String> {
        if id == 0 {
            return None;
        }
        let end = span
            .end
            .index()
            .max(span.start.index() + 1)
            .min(self.chars.len());
        let region = self.chars.get(self.prev_end..end)?;
        let at = region.iter().position(|&c| c == '&')?;
        let name: String = region[at + 1..]
            .iter()
            .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
            .collect();
        (!name.is_empty()).then_some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: &Node) -> Vec<(String, usize)> {
        n.pairs()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.text().unwrap().to_string(), v.line))
            .collect()
    }

    #[test]
    fn repeated_keys_anchors_and_aliases() {
        let text = "%YAML 1.1\n---\ndefine: &banner \\r\\nport \\p\\r\\n\n\
            connection: &con0\n  accepter: tcp,2000\n  options:\n    banner: *banner\n\
            connection: &con1\n  accepter: tcp,2001\n";
        let docs = parse(text).unwrap();
        assert_eq!(docs.len(), 1);
        let root = &docs[0];
        assert_eq!(
            keys(root),
            vec![
                ("define".into(), 3),
                ("connection".into(), 4),
                ("connection".into(), 8)
            ]
        );
        let pairs = root.pairs().unwrap();
        assert_eq!(pairs[0].1.anchor.as_deref(), Some("banner"));
        assert_eq!(pairs[0].1.text(), Some("\\r\\nport \\p\\r\\n"));
        assert_eq!(pairs[1].1.anchor.as_deref(), Some("con0"));
        assert_eq!(pairs[2].1.anchor.as_deref(), Some("con1"));
        let opts = &pairs[1].1.pairs().unwrap()[1].1;
        let banner = &opts.pairs().unwrap()[0].1;
        assert_eq!(banner.text(), Some("\\r\\nport \\p\\r\\n"));
        assert_eq!(banner.line, 7, "an alias takes the line that used it");
    }

    #[test]
    fn folded_plain_scalars_and_errors() {
        let docs =
            parse("c:\n  connector: serialdev,\n     /dev/ttyS0,\n     9600n81,local\n").unwrap();
        let c = &docs[0].pairs().unwrap()[0].1;
        assert_eq!(
            c.pairs().unwrap()[0].1.text(),
            Some("serialdev, /dev/ttyS0, 9600n81,local")
        );
        let e = parse("a: b\nc: *nope\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse("a: [b\n").unwrap_err();
        assert!(e.line >= 1, "{e:?}");
    }

    #[test]
    fn several_documents() {
        let docs = parse("a: 1\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert!(parse("a:\n").unwrap()[0].pairs().unwrap()[0].1.is_null());
    }
}
