//! The replay buffer: the last bytes a device sent, given to a client or watcher on attach.

use std::collections::VecDeque;

/// The last `cap` bytes of device output.
#[derive(Debug, Default)]
pub struct Replay {
    cap: usize,
    data: VecDeque<u8>,
}

impl Replay {
    /// A ring of `cap` bytes (0 = off; memory is taken only as output arrives).
    pub fn new(cap: usize) -> Replay {
        Replay {
            cap,
            data: VecDeque::new(),
        }
    }

    /// Remember output.
    pub fn push(&mut self, b: &[u8]) {
        if self.cap == 0 {
            return;
        }
        let b = &b[b.len().saturating_sub(self.cap)..];
        let over = (self.data.len() + b.len()).saturating_sub(self.cap);
        self.data.drain(..over);
        self.data.extend(b);
    }

    /// The remembered output, oldest first.
    pub fn snapshot(&self) -> Vec<u8> {
        self.data.iter().copied().collect()
    }

    /// Forget everything (`replay-clear-on-disconnect`).
    pub fn clear(&mut self) {
        self.data = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_keeps_the_tail() {
        let mut r = Replay::new(5);
        r.push(b"abc");
        r.push(b"defg");
        assert_eq!(r.snapshot(), b"cdefg");
        r.push(b"0123456789");
        assert_eq!(r.snapshot(), b"56789");
        let mut off = Replay::new(0);
        off.push(b"x");
        assert!(off.snapshot().is_empty());
    }
}
