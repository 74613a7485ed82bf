//! Console escapes (pure), conserver-style with ssh's rule: the escape character (`~` by
//! default) is recognised only at the start of a line (the first byte, or after CR or LF).
//!
//! `~.` disconnect, `~b` BREAK, `~d` toggle DTR, `~r` toggle RTS, `~s` spy (read-only),
//! `~f` force (take over as writer), `~p N` + Enter replay the last N lines (10 without N),
//! `~w` who is attached, `~!NAME` + Enter run the server's reset sequence NAME, `~?` help;
//! `~~` sends one `~`; `~` and any other byte send both.

/// What an escape asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `~.`
    Disconnect,
    /// `~b`
    Break,
    /// `~d`
    ToggleDtr,
    /// `~r`
    ToggleRts,
    /// `~s`
    Spy,
    /// `~f`
    Force,
    /// `~p N`: the last N lines.
    Replay(u32),
    /// `~w`
    Who,
    /// `~?`
    Help,
    /// `~!NAME`: run the named reset sequence.
    Reset(String),
}

/// Longest reset sequence name `~!` takes.
pub const MAX_NAME: usize = 64;

/// Keyboard input split into data for the line and escape actions, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Bytes to send.
    Data(Vec<u8>),
    /// An escape.
    Act(Action),
}

/// Lines `~p` replays when no number is given.
pub const DEFAULT_REPLAY: u32 = 10;
/// Most lines `~p` asks for.
pub const MAX_REPLAY: u32 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Normal,
    Escape,
    Count(Option<u32>),
    Name,
}

/// The recogniser's state across reads.
#[derive(Debug, Clone)]
pub struct Escapes {
    esc: u8,
    line_start: bool,
    st: St,
    name: String,
}

/// The help text `~?` shows (with `~` replaced by the escape character).
pub fn help(esc: char) -> String {
    [
        ". disconnect",
        "b send a BREAK",
        "d toggle DTR",
        "r toggle RTS",
        "s spy: reattach read-only (for good)",
        "f force: reattach as writer, taking over",
        "p N replay the last N lines (Enter ends N)",
        "w who is attached",
        "!NAME run the server's reset sequence NAME (Enter ends NAME)",
        "? this help",
    ]
    .iter()
    .map(|l| format!("{esc}{l}"))
    .collect::<Vec<_>>()
    .join("\r\n")
}

fn push(out: &mut Vec<Item>, b: &[u8]) {
    if let Some(Item::Data(d)) = out.last_mut() {
        d.extend_from_slice(b);
    } else {
        out.push(Item::Data(b.to_vec()));
    }
}

impl Escapes {
    /// A recogniser for escape character `esc`, at the start of a line.
    pub fn new(esc: u8) -> Escapes {
        Escapes {
            esc,
            line_start: true,
            st: St::Normal,
            name: String::new(),
        }
    }

    /// Split `input` into data and actions.
    pub fn feed(&mut self, input: &[u8]) -> Vec<Item> {
        let mut out = Vec::new();
        for &b in input {
            match self.st {
                St::Normal => self.normal(b, &mut out),
                St::Escape => self.escape(b, &mut out),
                St::Count(n) => self.count(n, b, &mut out),
                St::Name => self.name(b, &mut out),
            }
        }
        out
    }

    fn normal(&mut self, b: u8, out: &mut Vec<Item>) {
        if b == self.esc && self.line_start {
            self.st = St::Escape;
            return;
        }
        push(out, &[b]);
        self.line_start = b == b'\r' || b == b'\n';
    }

    fn escape(&mut self, b: u8, out: &mut Vec<Item>) {
        self.st = St::Normal;
        let act = match b {
            b'.' => Action::Disconnect,
            b'b' => Action::Break,
            b'd' => Action::ToggleDtr,
            b'r' => Action::ToggleRts,
            b's' => Action::Spy,
            b'f' => Action::Force,
            b'w' => Action::Who,
            b'?' => Action::Help,
            b'p' => {
                self.st = St::Count(None);
                return;
            }
            b'!' => {
                self.st = St::Name;
                self.name.clear();
                return;
            }
            _ if b == self.esc => {
                push(out, &[b]);
                self.line_start = false;
                return;
            }
            _ => {
                push(out, &[self.esc, b]);
                self.line_start = b == b'\r' || b == b'\n';
                return;
            }
        };
        out.push(Item::Act(act));
    }

    /// `~!NAME` + Enter: letters, digits, `-` and `_`; anything else ends it unrun.
    fn name(&mut self, b: u8, out: &mut Vec<Item>) {
        match b {
            b'\r' | b'\n' => {
                self.st = St::Normal;
                self.line_start = true;
                if !self.name.is_empty() {
                    out.push(Item::Act(Action::Reset(std::mem::take(&mut self.name))));
                }
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' if self.name.len() < MAX_NAME => {
                self.name.push(char::from(b));
            }
            _ => {
                self.st = St::Normal;
                self.name.clear();
            }
        }
    }

    fn count(&mut self, n: Option<u32>, b: u8, out: &mut Vec<Item>) {
        match b {
            b'0'..=b'9' => {
                let v = n.unwrap_or(0) * 10 + u32::from(b - b'0');
                self.st = St::Count(Some(v.min(MAX_REPLAY)));
            }
            b' ' if n.is_none() => {}
            _ => {
                self.st = St::Normal;
                out.push(Item::Act(Action::Replay(n.unwrap_or(DEFAULT_REPLAY))));
                if b != b'\r' && b != b'\n' {
                    self.normal(b, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(b: &[u8]) -> Item {
        Item::Data(b.to_vec())
    }

    #[test]
    fn only_at_line_start() {
        let mut e = Escapes::new(b'~');
        assert_eq!(e.feed(b"~."), vec![Item::Act(Action::Disconnect)]);
        let mut e = Escapes::new(b'~');
        assert_eq!(e.feed(b"a~.b"), vec![d(b"a~.b")]);
        assert_eq!(
            e.feed(b"\r~b~d"),
            vec![
                d(b"\r"),
                Item::Act(Action::Break),
                Item::Act(Action::ToggleDtr)
            ]
        );
        assert_eq!(e.feed(b"x\n~~~x"), vec![d(b"x\n~~x")]);
    }

    #[test]
    fn split_across_reads_and_unknown() {
        let mut e = Escapes::new(b'~');
        assert_eq!(e.feed(b"~"), vec![]);
        assert_eq!(e.feed(b"s"), vec![Item::Act(Action::Spy)]);
        assert_eq!(e.feed(b"~z"), vec![d(b"~z")]);
        let mut e = Escapes::new(b'&');
        assert_eq!(e.feed(b"~.&f"), vec![d(b"~.&f")]);
        let mut e = Escapes::new(b'&');
        assert_eq!(e.feed(b"&f"), vec![Item::Act(Action::Force)]);
    }

    #[test]
    fn replay_counts() {
        let mut e = Escapes::new(b'~');
        assert_eq!(e.feed(b"~p 25\r"), vec![Item::Act(Action::Replay(25))]);
        assert_eq!(e.feed(b"~p\r"), vec![Item::Act(Action::Replay(10))]);
        assert_eq!(e.feed(b"~p3x"), vec![Item::Act(Action::Replay(3)), d(b"x")]);
        let mut e = Escapes::new(b'~');
        assert_eq!(
            e.feed(b"~p99999999999\r"),
            vec![Item::Act(Action::Replay(MAX_REPLAY))]
        );
        assert!(help('~').contains("~. disconnect"));
        let mut e = Escapes::new(b'~');
        assert_eq!(
            e.feed(b"~!esp\r"),
            vec![Item::Act(Action::Reset("esp".into()))]
        );
        assert_eq!(e.feed(b"~!e/x\r"), vec![d(b"x\r")]);
        assert_eq!(e.feed(b"~!\r"), vec![]);
    }
}
