//! Named reset sequences (pure): `dtr=0 rts=1; 100ms; dtr=1 rts=0; 50ms; dtr=0`.
//!
//! A sequence is steps separated by `;`: a step sets DTR and/or RTS (`dtr=0|1`, `rts=0|1`,
//! both in one step change together) or waits (`100ms`, at most [`MAX_WAIT_MS`]). The server
//! carries a sequence out on the device with its own timing, so network latency between a
//! client and the server does not stretch or squeeze it (esptool's auto-reset needs DTR and
//! RTS edges within a millisecond and 100/50 ms phases).

use std::time::Duration;

/// Longest wait in one step.
pub const MAX_WAIT_MS: u64 = 10_000;
/// Most steps in a sequence.
pub const MAX_STEPS: usize = 64;

/// One step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Set the lines named (`None`: leave it).
    Set {
        /// DTR.
        dtr: Option<bool>,
        /// RTS.
        rts: Option<bool>,
    },
    /// Wait.
    Wait(Duration),
}

/// Parse a sequence; the error says which step is wrong.
pub fn parse(text: &str) -> Result<Vec<Phase>, String> {
    let mut steps = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some(ms) = part.strip_suffix("ms") {
            let ms: u64 = ms
                .trim()
                .parse()
                .ok()
                .filter(|m| *m <= MAX_WAIT_MS)
                .ok_or_else(|| format!("bad wait {part:?} (0..{MAX_WAIT_MS}ms)"))?;
            steps.push(Phase::Wait(Duration::from_millis(ms)));
            continue;
        }
        let (mut dtr, mut rts) = (None, None);
        for word in part.split_whitespace() {
            let (line, v) = word
                .split_once('=')
                .ok_or_else(|| format!("bad step {part:?}"))?;
            let on = match v {
                "0" => false,
                "1" => true,
                _ => return Err(format!("bad value in {word:?} (0 or 1)")),
            };
            let slot = match line {
                "dtr" => &mut dtr,
                "rts" => &mut rts,
                _ => return Err(format!("unknown line in {word:?} (dtr or rts)")),
            };
            if slot.replace(on).is_some() {
                return Err(format!("{line} twice in {part:?}"));
            }
        }
        steps.push(Phase::Set { dtr, rts });
    }
    if steps.is_empty() || steps.len() > MAX_STEPS {
        return Err(format!("a sequence has 1..{MAX_STEPS} steps"));
    }
    Ok(steps)
}

/// A `NAME=SEQUENCE` definition (`--reset-seq`, config `reset-seq NAME = SEQUENCE`): a name
/// of letters, digits, `-` and `_`, starting with a letter or digit.
pub fn parse_named(text: &str) -> Result<(String, Vec<Phase>), String> {
    let (name, seq) = text
        .split_once('=')
        .map(|(n, s)| (n.trim(), s))
        .filter(|(n, _)| !n.is_empty() && !n.contains(char::is_whitespace))
        .ok_or_else(|| format!("bad reset sequence {text:?} (NAME = STEPS)"))?;
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if !name.chars().all(ok) || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("bad reset sequence name {name:?}"));
    }
    Ok((name.to_string(), parse(seq)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esptool_classic() {
        let s = parse("dtr=0 rts=1; 100ms; dtr=1 rts=0; 50ms; dtr=0").unwrap();
        assert_eq!(
            s,
            vec![
                Phase::Set {
                    dtr: Some(false),
                    rts: Some(true)
                },
                Phase::Wait(Duration::from_millis(100)),
                Phase::Set {
                    dtr: Some(true),
                    rts: Some(false)
                },
                Phase::Wait(Duration::from_millis(50)),
                Phase::Set {
                    dtr: Some(false),
                    rts: None
                },
            ]
        );
    }

    #[test]
    fn errors_and_names() {
        for bad in ["", "dtr=2", "cts=1", "dtr=1 dtr=0", "99999ms", "x"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let (n, s) = parse_named("esp = rts=1; 5ms; rts=0").unwrap();
        assert_eq!((n.as_str(), s.len()), ("esp", 3));
        assert!(parse_named("a b = rts=1").is_err());
        assert!(parse_named("-x = rts=1").is_err());
        assert!(parse_named("x/y = rts=1").is_err());
    }
}
