//! Recognising esptool's reset sequences in an RFC 2217 client's SET-CONTROL stream (pure).
//!
//! esptool (through pyserial's `rfc2217://`) sends one SET-CONTROL per `setDTR`/`setRTS`
//! and waits for each answer, so with network latency its DTR and RTS edges land a round
//! trip apart and its 100/50 ms phases stretch. With `esp-reset` on a port the server spots
//! the opening of esptool's classic reset (DTR off, then RTS on) or its USB-JTAG reset
//! (RTS off, then DTR off twice: `_setRTS` repeats DTR) and carries out the whole sequence
//! itself with local timers ([`steps`]), answering (absorbing) the client's further
//! SET-CONTROLs of that sequence without touching the device.

use std::time::{Duration, Instant};

use super::reset_seq::Phase;

/// Which esptool reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EspReset {
    /// `ClassicReset`: `dtr=0 rts=1; 100ms; dtr=1 rts=0; 50ms; dtr=0`.
    Classic,
    /// `USBJTAGSerialReset`: `dtr=0 rts=0; 100ms; dtr=1 rts=0; 100ms; dtr=0 rts=1; 100ms;
    /// dtr=0 rts=0`.
    UsbJtag,
}

impl EspReset {
    /// The name used in logs.
    pub fn name(self) -> &'static str {
        match self {
            EspReset::Classic => "esptool-classic",
            EspReset::UsbJtag => "esptool-usb-jtag",
        }
    }
}

/// One SET-CONTROL of the client: DTR (`true`) or RTS, and its value.
pub type Edge = (bool, bool);

const D0: Edge = (true, false);
const D1: Edge = (true, true);
const R0: Edge = (false, false);
const R1: Edge = (false, true);

/// What the client sends after the opening, repeats of a line's value left out.
fn rest(kind: EspReset) -> &'static [Edge] {
    match kind {
        EspReset::Classic => &[D1, R0, D0],
        EspReset::UsbJtag => &[D1, R1, D0, R0],
    }
}

/// The sequence the server carries out (DTR and RTS of a step in one TIOCMSET).
pub fn steps(kind: EspReset) -> Vec<Phase> {
    let set = |d: bool, r: bool| Phase::Set {
        dtr: Some(d),
        rts: Some(r),
    };
    let ms = |m| Phase::Wait(Duration::from_millis(m));
    match kind {
        EspReset::Classic => vec![
            set(false, true),
            ms(100),
            set(true, false),
            ms(50),
            set(false, false),
        ],
        EspReset::UsbJtag => vec![
            set(false, false),
            ms(100),
            set(true, false),
            ms(100),
            set(false, true),
            ms(100),
            set(false, false),
        ],
    }
}

/// How long after the start the client's SET-CONTROLs of a sequence are absorbed at most.
pub const ABSORB_FOR: Duration = Duration::from_secs(3);

/// What to do with one SET-CONTROL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Carry it out as usual.
    Pass,
    /// It opens a sequence: carry out [`steps`] of this kind locally; answer the client.
    Start(EspReset),
    /// Part of a running sequence: answer the client, leave the device alone.
    Absorb,
}

/// The recogniser of one session.
#[derive(Debug, Default)]
pub struct Recogniser {
    recent: Vec<Edge>,
    absorbing: Option<(EspReset, usize, Instant)>,
    client: (Option<bool>, Option<bool>),
}

impl Recogniser {
    /// Feed one SET-CONTROL (`dtr`: the line is DTR, else RTS) arriving at `now`.
    pub fn feed(&mut self, dtr: bool, on: bool, now: Instant) -> Verdict {
        let edge = (dtr, on);
        let repeat = if dtr { self.client.0 } else { self.client.1 } == Some(on);
        if dtr {
            self.client.0 = Some(on);
        } else {
            self.client.1 = Some(on);
        }
        let mut tail = false;
        if let Some((kind, pos, until)) = self.absorbing {
            let script = rest(kind);
            let live = now <= until;
            if live && pos < script.len() && (repeat || script[pos] == edge) {
                let pos = if repeat { pos } else { pos + 1 };
                self.absorbing = Some((kind, pos, until));
                return Verdict::Absorb;
            }
            // After the script only repeats (esptool's extra `setDTR`) are absorbed; they may
            // open the next sequence too.
            tail = live && pos == script.len() && repeat;
            if !tail {
                self.absorbing = None;
            }
        }
        self.recent.push(edge);
        if self.recent.len() > 3 {
            self.recent.remove(0);
        }
        let kind = if self.recent.ends_with(&[R0, D0, D0]) {
            EspReset::UsbJtag
        } else if self.recent.ends_with(&[D0, R1]) {
            EspReset::Classic
        } else if tail {
            return Verdict::Absorb;
        } else {
            return Verdict::Pass;
        };
        self.recent.clear();
        self.absorbing = Some((kind, 0, now + ABSORB_FOR));
        Verdict::Start(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// esptool's stream: `_setRTS(v)` is `setRTS(v)` then `setDTR(dtr)` again.
    fn run(stream: &[Edge]) -> Vec<Verdict> {
        let (mut r, now) = (Recogniser::default(), Instant::now());
        stream.iter().map(|&(d, v)| r.feed(d, v, now)).collect()
    }

    #[test]
    fn classic_with_and_without_dummy_dtr() {
        use Verdict::*;
        let v = run(&[D0, R1, D0, D1, R0, D1, D0]);
        assert_eq!(
            v,
            [
                Pass,
                Start(EspReset::Classic),
                Absorb,
                Absorb,
                Absorb,
                Absorb,
                Absorb
            ]
        );
        let v = run(&[D0, R1, D1, R0, D0, D1]);
        assert_eq!(v[1..5], [Start(EspReset::Classic), Absorb, Absorb, Absorb]);
        assert_eq!(v[5], Pass, "the sequence is over");
    }

    #[test]
    fn usb_jtag_right_after_classic() {
        let s = [D0, R1, D0, D1, R0, D1, D0, R0, D0, D0, D1];
        let v = run(&s);
        assert_eq!(v[1], Verdict::Start(EspReset::Classic));
        assert_eq!(v[9], Verdict::Start(EspReset::UsbJtag), "{v:?}");
        assert_eq!(v[10], Verdict::Absorb);
    }

    #[test]
    fn usb_jtag() {
        use Verdict::*;
        let s = [R0, D0, D0, D1, R0, D1, R1, D1, D0, R1, D0, D0, R0, D0];
        let v = run(&s);
        assert_eq!(v[..3], [Pass, Pass, Start(EspReset::UsbJtag)]);
        assert!(v[3..].iter().all(|x| *x == Absorb), "{v:?}");
    }

    #[test]
    fn ordinary_use_and_deadline_pass() {
        assert!(
            run(&[D1, R1, D0, R0, D1])
                .iter()
                .all(|v| *v == Verdict::Pass)
        );
        let (mut r, t) = (Recogniser::default(), Instant::now());
        r.feed(true, false, t);
        assert_eq!(r.feed(false, true, t), Verdict::Start(EspReset::Classic));
        assert_eq!(r.feed(true, true, t + ABSORB_FOR * 2), Verdict::Pass);
        // A line outside the script ends absorbing at once.
        r.feed(true, false, t);
        r.feed(false, true, t);
        assert_eq!(r.feed(false, false, t), Verdict::Pass);
    }
}
