//! Time-based policies of the virtual modem, pure (the caller passes the time as a
//! [`Duration`] since some start):
//!
//! * [`Pacer`] paces one direction of a call at the `CONNECT` speed (`--throttle`): 10 bits a
//!   byte (8N1), with a burst of at most 20 ms worth of bytes.
//! * [`Cooldown`] refuses a peer address that called less than `--cooldown` seconds ago.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// Paces bytes at a fixed rate.
#[derive(Debug, Clone)]
pub struct Pacer {
    per_byte: Duration,
    burst: u32,
    /// The time up to which bytes have been used (virtual send clock).
    used: Duration,
}

impl Pacer {
    /// A pacer for `bps` bits per second starting at `now` (with an empty bucket).
    pub fn new(bps: u32, now: Duration) -> Pacer {
        let rate = (bps / 10).max(1);
        Pacer {
            per_byte: Duration::from_nanos(1_000_000_000 / u64::from(rate)),
            burst: (rate / 50).max(1),
            used: now,
        }
    }

    /// How many of `want` bytes may go at `now`; they count as sent.
    pub fn take(&mut self, now: Duration, want: usize) -> usize {
        let floor = now.saturating_sub(self.per_byte * self.burst);
        self.used = self.used.max(floor);
        let avail = now.saturating_sub(self.used).as_nanos() / self.per_byte.as_nanos();
        let n = want.min(usize::try_from(avail).unwrap_or(usize::MAX));
        self.used += self.per_byte * u32::try_from(n).unwrap_or(u32::MAX);
        n
    }

    /// Give back `n` bytes taken but not sent.
    pub fn unread(&mut self, n: usize) {
        self.used = self
            .used
            .saturating_sub(self.per_byte * u32::try_from(n).unwrap_or(u32::MAX));
    }

    /// When at least one more byte may go.
    pub fn ready_at(&self) -> Duration {
        self.used + self.per_byte
    }
}

/// Per-address cool-down between calls.
#[derive(Debug, Clone, Default)]
pub struct Cooldown {
    period: Duration,
    last: HashMap<IpAddr, Duration>,
}

impl Cooldown {
    /// Refuse an address for `period` after its last call (zero: never).
    pub fn new(period: Duration) -> Cooldown {
        Cooldown {
            period,
            last: HashMap::new(),
        }
    }

    /// May `ip` call at `now`? `Err(remaining)` if it is cooling down. An admitted call counts
    /// as the address's last call; a refused one does not.
    pub fn admit(&mut self, ip: IpAddr, now: Duration) -> Result<(), Duration> {
        if self.period.is_zero() {
            return Ok(());
        }
        let period = self.period;
        self.last.retain(|_, t| now.saturating_sub(*t) < period);
        if let Some(t) = self.last.get(&ip) {
            return Err(period.saturating_sub(now.saturating_sub(*t)));
        }
        self.last.insert(ip, now);
        Ok(())
    }

    /// A call from `ip` ended at `now`: the cool-down runs from here.
    pub fn ended(&mut self, ip: IpAddr, now: Duration) {
        if !self.period.is_zero() {
            self.last.insert(ip, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn pacing_2400() {
        // 240 bytes/s: 1200 bytes take 5 s
        let mut p = Pacer::new(2400, ms(0));
        assert_eq!(p.take(ms(0), 100), 0);
        assert_eq!(p.ready_at(), Duration::from_nanos(1_000_000_000 / 240));
        let mut sent = 0;
        let mut t = 0;
        while sent < 1200 {
            t += 10;
            sent += p.take(ms(t), 1200 - sent);
        }
        assert!((4990..=5010).contains(&t), "{t}");
        // idle time gives at most a small burst
        assert_eq!(p.take(ms(60_000), 1000), 4);
        assert_eq!(
            Pacer::new(38400, ms(0)).take(ms(1000), 10_000),
            76,
            "20 ms worth"
        );
    }

    #[test]
    fn cooldown_per_address() {
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.1".parse().unwrap();
        let mut c = Cooldown::new(Duration::from_secs(10));
        assert_eq!(c.admit(a, ms(0)), Ok(()));
        assert_eq!(c.admit(a, ms(1000)), Err(ms(9000)));
        assert_eq!(c.admit(b, ms(1000)), Ok(()));
        c.ended(a, ms(5000));
        assert_eq!(c.admit(a, ms(14_000)), Err(ms(1000)));
        assert_eq!(c.admit(a, ms(15_000)), Ok(()));
        let mut off = Cooldown::new(Duration::ZERO);
        assert_eq!(off.admit(a, ms(0)), Ok(()));
        assert_eq!(off.admit(a, ms(0)), Ok(()));
    }
}
