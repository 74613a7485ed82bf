//! A limiter that keeps repeated log lines down (a client reconnecting in a loop, a flood of
//! refused connections): [`log_limited`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Rate limit for identical log lines: at most [`LogLimiter::BURST`] per window, then one
/// summary line when the window ends.
#[derive(Debug, Default)]
pub struct LogLimiter {
    seen: HashMap<String, (Instant, u32)>,
}

impl LogLimiter {
    /// Identical lines let through per window.
    pub const BURST: u32 = 5;
    /// The window.
    pub const WINDOW: Duration = Duration::from_secs(10);

    /// Whether to log `msg` now, plus a summary of what was suppressed in an ended window.
    pub fn check(&mut self, msg: &str, now: Instant) -> (bool, Option<String>) {
        let mut summary = None;
        if let Some((start, n)) = self.seen.get(msg).copied() {
            if now.duration_since(start) < Self::WINDOW {
                self.seen.insert(msg.to_string(), (start, n + 1));
                return (n < Self::BURST, None);
            }
            if n > Self::BURST {
                summary = Some(format!(
                    "last message repeated {} more times: {msg}",
                    n - Self::BURST
                ));
            }
        }
        if self.seen.len() >= 256 {
            self.seen
                .retain(|_, (s, _)| now.duration_since(*s) < Self::WINDOW);
        }
        self.seen.insert(msg.to_string(), (now, 1));
        (true, summary)
    }
}

thread_local! {
    static LIMITER: std::cell::RefCell<LogLimiter> = std::cell::RefCell::new(LogLimiter::default());
}

/// Log `msg` at `level` unless the same line was logged too often lately.
pub fn log_limited(level: log::Level, msg: String) {
    let (ok, summary) = LIMITER.with(|l| l.borrow_mut().check(&msg, Instant::now()));
    if let Some(s) = summary {
        log::log!(level, "{s}");
    }
    if ok {
        log::log!(level, "{msg}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_bursts_then_summarises() {
        let mut l = LogLimiter::default();
        let t = Instant::now();
        let passed = (0..100).filter(|_| l.check("same", t).0).count();
        assert_eq!(passed, LogLimiter::BURST as usize);
        assert!(l.check("other", t).0);
        let (ok, sum) = l.check("same", t + LogLimiter::WINDOW);
        assert!(ok);
        assert_eq!(
            sum.as_deref(),
            Some("last message repeated 95 more times: same")
        );
    }
}
