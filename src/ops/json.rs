//! A small JSON writer and a reader for flat objects (pure).
//!
//! The state files and the call log are flat JSON objects whose values are strings, integers,
//! booleans or `null`. Writing them needs correct string escaping; reading them back
//! (`rgetty status`, `rgetty calls`) needs a parser for exactly that shape. Both fit in this
//! module, so no serde (and no proc-macro build) is needed. Nested arrays and objects are
//! skipped by the reader, so a later writer may add them.

use std::fmt::Write as _;

/// Append `s` as a JSON string literal (with quotes) to `out`: `"` and `\` escaped, control
/// characters as `\n`, `\r`, `\t`, `\b`, `\f` or `\u00XX`; U+2028/U+2029 as `\u` escapes too
/// (some JavaScript readers treat them as line ends). Everything else is kept as UTF-8.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Builds one flat JSON object, keys in the order they are added.
#[derive(Debug, Default, Clone)]
pub struct ObjWriter {
    buf: String,
}

impl ObjWriter {
    /// An empty object.
    pub fn new() -> ObjWriter {
        ObjWriter::default()
    }

    fn key(&mut self, key: &str) {
        self.buf.push(if self.buf.is_empty() { '{' } else { ',' });
        push_str(&mut self.buf, key);
        self.buf.push(':');
    }

    /// A string member.
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        push_str(&mut self.buf, value);
        self
    }

    /// A string member, or `null` for `None`.
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(key, v),
            None => self.null(key),
        }
    }

    /// An integer member.
    pub fn int(&mut self, key: &str, value: i64) -> &mut Self {
        self.key(key);
        let _ = write!(self.buf, "{value}");
        self
    }

    /// An integer member, or `null` for `None`.
    pub fn opt_int(&mut self, key: &str, value: Option<i64>) -> &mut Self {
        match value {
            Some(v) => self.int(key, v),
            None => self.null(key),
        }
    }

    /// A `null` member.
    pub fn null(&mut self, key: &str) -> &mut Self {
        self.key(key);
        self.buf.push_str("null");
        self
    }

    /// The object's text (no trailing newline).
    pub fn finish(&self) -> String {
        if self.buf.is_empty() {
            "{}".to_string()
        } else {
            format!("{}}}", self.buf)
        }
    }
}

/// A member value of a flat object.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    Str(String),
    /// An integer (JSON numbers without fraction or exponent that fit in i64).
    Int(i64),
    /// Any other number.
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`, and nested arrays or objects (skipped).
    Null,
}

/// Why a text is not a flat JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad JSON at byte {at}: {what}")]
pub struct JsonError {
    /// Byte offset of the problem.
    pub at: usize,
    /// What was expected or found.
    pub what: &'static str,
}

/// The members of a flat JSON object, in order. Nested arrays/objects are read as
/// [`Value::Null`]; anything after the closing brace other than white space is an error.
pub fn parse_object(text: &str) -> Result<Obj, JsonError> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let obj = p.object()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(obj)
}

/// A parsed flat object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Obj(pub Vec<(String, Value)>);

impl Obj {
    /// The value of `key` (the last one if repeated).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The string value of `key`; `None` if absent, null or not a string.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The integer value of `key`; `None` if absent or not an integer.
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key) {
            Some(Value::Int(n)) => Some(*n),
            _ => None,
        }
    }
}

/// Deepest nesting the skipper follows (a hostile file cannot blow the stack).
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &'static str) -> JsonError {
        JsonError { at: self.i, what }
    }

    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8, what: &'static str) -> Result<(), JsonError> {
        self.ws();
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn object(&mut self) -> Result<Obj, JsonError> {
        self.eat(b'{', "expected '{'")?;
        let mut members = Vec::new();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Obj(members));
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.eat(b':', "expected ':'")?;
            let value = self.value()?;
            members.push((key, value));
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Obj(members));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn value(&mut self) -> Result<Value, JsonError> {
        match self.peek() {
            Some(b'"') => self.string().map(Value::Str),
            Some(b'{' | b'[') => {
                self.skip_nested(0)?;
                Ok(Value::Null)
            }
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'n') => self.word("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("expected a value")),
        }
    }

    fn word(&mut self, w: &str, v: Value) -> Result<Value, JsonError> {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(v)
        } else {
            Err(self.err("expected true, false or null"))
        }
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.i;
        while matches!(
            self.s.get(self.i),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.err("number"))?;
        if let Ok(n) = text.parse::<i64>() {
            return Ok(Value::Int(n));
        }
        text.parse::<f64>()
            .map(Value::Float)
            .map_err(|_| JsonError {
                at: start,
                what: "bad number",
            })
    }

    /// Skip an array or object (any content) at the cursor.
    fn skip_nested(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deep"));
        }
        let close = if self.s.get(self.i) == Some(&b'{') {
            b'}'
        } else {
            b']'
        };
        self.i += 1;
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated array or object")),
                Some(c) if c == close => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b'{' | b'[') => self.skip_nested(depth + 1)?,
                Some(_) => self.i += 1,
            }
        }
    }

    fn string(&mut self) -> Result<String, JsonError> {
        if self.s.get(self.i) != Some(&b'"') {
            return Err(self.err("expected a string"));
        }
        self.i += 1;
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(&b) = self.s.get(self.i) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.i += 1;
            }
            // The input is a &str and we stop only at ASCII bytes: a char boundary.
            out.push_str(
                std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.err("utf-8"))?,
            );
            match self.s.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    out.push(self.escape()?);
                }
                Some(_) => return Err(self.err("control character in string")),
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    fn escape(&mut self) -> Result<char, JsonError> {
        let c = *self
            .s
            .get(self.i)
            .ok_or_else(|| self.err("unterminated escape"))?;
        self.i += 1;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'u' => {
                let hi = self.hex4()?;
                if (0xD800..0xDC00).contains(&hi) && self.s[self.i..].starts_with(b"\\u") {
                    let back = self.i;
                    self.i += 2;
                    let lo = self.hex4()?;
                    if (0xDC00..0xE000).contains(&lo) {
                        let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        return Ok(char::from_u32(cp).unwrap_or('\u{fffd}'));
                    }
                    // not a low surrogate: the lone high one is U+FFFD, the next escape stays
                    self.i = back;
                    return Ok('\u{fffd}');
                }
                char::from_u32(hi).unwrap_or('\u{fffd}')
            }
            _ => return Err(self.err("bad escape")),
        })
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lit(s: &str) -> String {
        let mut o = String::new();
        push_str(&mut o, s);
        o
    }

    #[test]
    fn unicode_escapes_are_hex_and_a_lone_high_surrogate_loses_nothing_after_it() {
        let get = |text: &str| {
            parse_object(text)
                .ok()
                .and_then(|o| o.str("k").map(str::to_string))
        };
        assert_eq!(get(r#"{"k":"\u0041"}"#).as_deref(), Some("A"));
        assert_eq!(get(r#"{"k":"\u+041"}"#), None);
        assert_eq!(get(r#"{"k":"\u-041"}"#), None);
        assert_eq!(get(r#"{"k":"\ud83d\ude00"}"#).as_deref(), Some("\u{1f600}"));
        assert_eq!(get(r#"{"k":"\ud800\u0041"}"#).as_deref(), Some("\u{fffd}A"));
        assert_eq!(get(r#"{"k":"\ud800x"}"#).as_deref(), Some("\u{fffd}x"));
    }

    #[test]
    fn escapes() {
        assert_eq!(lit("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(lit("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(lit("\u{1}\u{1f}\u{7f}"), "\"\\u0001\\u001f\u{7f}\"");
        assert_eq!(lit("é\u{2028}"), "\"é\\u2028\"");
        assert_eq!(lit("</script>"), "\"</script>\"");
    }

    #[test]
    fn writer() {
        let mut w = ObjWriter::new();
        w.str("a", "x")
            .int("n", -3)
            .opt_str("u", None)
            .opt_int("p", Some(7));
        assert_eq!(w.finish(), r#"{"a":"x","n":-3,"u":null,"p":7}"#);
        assert_eq!(ObjWriter::new().finish(), "{}");
    }

    #[test]
    fn reader() {
        let o = parse_object(
            r#" {"a" : "x\u00e9\ud83d\ude00", "n":12, "f":1.5, "b":true, "z":null,
               "nested":{"x":[1,{"y":"}"}]}, "last":"\/"} "#,
        )
        .unwrap();
        assert_eq!(o.str("a"), Some("xé😀"));
        assert_eq!(o.int("n"), Some(12));
        assert_eq!(o.get("f"), Some(&Value::Float(1.5)));
        assert_eq!(o.get("b"), Some(&Value::Bool(true)));
        assert_eq!(o.get("z"), Some(&Value::Null));
        assert_eq!(o.get("nested"), Some(&Value::Null));
        assert_eq!(o.str("last"), Some("/"));
        assert_eq!(parse_object("{}").unwrap(), Obj::default());
        for bad in [
            "",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":\"\n\"}",
            "[1]",
            "{} x",
            "{\"a\":tru}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12\"}",
        ] {
            assert!(parse_object(bad).is_err(), "{bad:?}");
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert!(parse_object(&deep).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(k in "\\PC{0,8}", v in any::<String>(), n in any::<i64>()) {
            let mut w = ObjWriter::new();
            w.str(&k, &v).int("n", n);
            let text = w.finish();
            prop_assert!(!text.contains('\n'));
            let o = parse_object(&text).unwrap();
            prop_assert_eq!(&o.0[0], &(k.clone(), Value::Str(v.clone())));
            prop_assert_eq!(o.int("n"), Some(n));
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = parse_object(&s);
        }
    }
}
