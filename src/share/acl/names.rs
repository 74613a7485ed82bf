//! Host and domain names in host lists, with tcp-wrappers' meaning: `host.example.org`
//! matches that host, `.example.org` (or Masqdialer's `*.example.org`) every host below the
//! domain. Pure: the name matched is the peer's *verified* name (reverse lookup confirmed by a
//! forward lookup, `sys::names`), found by `share::resolve` off the event loop.

/// One name entry of a host list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NamePattern {
    /// One host (lower case, no trailing dot).
    Host(String),
    /// Every host whose name ends in `.domain` (stored with its leading dot, lower case).
    Domain(String),
}

/// Whether `s` is a host name: dot-separated labels of letters, digits and `-` (not first or
/// last), 1..=63 bytes each, 253 in all, and not all digits (that would be a mistyped
/// address).
pub fn is_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && !s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

impl NamePattern {
    /// Parse `host.example.org`, `.example.org` or `*.example.org`; `None` when it is not a
    /// name.
    pub fn parse(item: &str) -> Option<NamePattern> {
        let lower = item.to_ascii_lowercase();
        let lower = lower.strip_suffix('.').unwrap_or(&lower);
        if let Some(dom) = lower.strip_prefix("*.").or_else(|| lower.strip_prefix('.')) {
            return is_host_name(dom).then(|| NamePattern::Domain(format!(".{dom}")));
        }
        is_host_name(lower).then(|| NamePattern::Host(lower.to_string()))
    }

    /// Whether the (verified) host name `name` matches, ignoring case and a trailing dot.
    pub fn matches(&self, name: &str) -> bool {
        let name = name.strip_suffix('.').unwrap_or(name);
        match self {
            NamePattern::Host(h) => name.eq_ignore_ascii_case(h),
            NamePattern::Domain(d) => {
                name.len() > d.len()
                    && name.is_char_boundary(name.len() - d.len())
                    && name[name.len() - d.len()..].eq_ignore_ascii_case(d)
            }
        }
    }
}

impl std::fmt::Display for NamePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NamePattern::Host(h) | NamePattern::Domain(h) => f.write_str(h),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_match() {
        let cases: &[(&str, &str, bool)] = &[
            ("host.example.org", "host.example.org", true),
            ("host.example.org", "HOST.Example.ORG.", true),
            ("host.example.org", "other.example.org", false),
            ("host.example.org", "xhost.example.org", false),
            (".example.org", "a.example.org", true),
            (".example.org", "a.b.example.org", true),
            (".example.org", "example.org", false),
            (".example.org", "badexample.org", false),
            ("*.example.org", "pc7.example.org", true),
            ("*.Example.Org.", "pc7.example.org", true),
            ("localhost", "localhost", true),
            ("modem-1", "modem-1", true),
        ];
        for (pat, name, want) in cases {
            let p = NamePattern::parse(pat).unwrap();
            assert_eq!(p.matches(name), *want, "{pat} {name}");
        }
    }

    #[test]
    fn not_names() {
        for s in [
            "",
            ".",
            "*",
            "*.",
            "-a.org",
            "a-.org",
            "a..org",
            "10.0.0",
            "1.2.3.4.5",
            "a_b.org",
            "host name",
            "*.*.org",
            "a.org/24",
            "ä.org",
            "..org",
        ] {
            assert_eq!(NamePattern::parse(s), None, "{s:?}");
        }
        assert!(!is_host_name(&"a".repeat(64)));
        assert!(is_host_name(&"a".repeat(63)));
    }
}
