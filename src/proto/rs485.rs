//! RS-485 settings (`rs485=` on a port, `--rs485`): parsed into what `sys::tty::set_rs485`
//! hands the driver with `TIOCSRS485`. Pure.
//!
//! Syntax: `off`, or `on` followed by comma-separated items: `rts-on-send` (RTS high while
//! sending, the usual wiring), `rts-after-send` (RTS high after sending), `rx-during-tx`
//! (receive own transmission), `delay-before=MS` and `delay-after=MS` (RTS delays in
//! milliseconds, at most 1000). Example: `on,rts-on-send,delay-before=1,delay-after=2`.

/// `SER_RS485_ENABLED`.
pub const ENABLED: u32 = 1;
/// `SER_RS485_RTS_ON_SEND`.
pub const RTS_ON_SEND: u32 = 1 << 1;
/// `SER_RS485_RTS_AFTER_SEND`.
pub const RTS_AFTER_SEND: u32 = 1 << 2;
/// `SER_RS485_RX_DURING_TX`.
pub const RX_DURING_TX: u32 = 1 << 4;

/// The highest delay accepted, in milliseconds (the kernel clamps to less anyway).
pub const MAX_DELAY_MS: u32 = 1000;

/// RS-485 mode as `struct serial_rs485` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rs485 {
    /// `SER_RS485_*` flags ([`ENABLED`], [`RTS_ON_SEND`], ...).
    pub flags: u32,
    /// `delay_rts_before_send`, milliseconds.
    pub delay_before: u32,
    /// `delay_rts_after_send`, milliseconds.
    pub delay_after: u32,
}

/// Parse an `rs485=` value; the error names the bad item.
///
/// ```
/// use rgetty::proto::rs485::{parse, Rs485, ENABLED, RTS_ON_SEND};
/// assert_eq!(parse("on,rts-on-send,delay-before=1"),
///            Ok(Rs485 { flags: ENABLED | RTS_ON_SEND, delay_before: 1, delay_after: 0 }));
/// assert_eq!(parse("off"), Ok(Rs485::default()));
/// ```
pub fn parse(spec: &str) -> Result<Rs485, String> {
    let mut items = spec.split(',').map(str::trim);
    let mut r = Rs485::default();
    match items.next() {
        Some("off") if spec.trim() == "off" => return Ok(r),
        Some("on") => r.flags = ENABLED,
        first => {
            return Err(format!(
                "want on or off first, got {:?}",
                first.unwrap_or("")
            ));
        }
    }
    for item in items {
        let delay = |v: &str| {
            v.parse::<u32>()
                .ok()
                .filter(|ms| *ms <= MAX_DELAY_MS)
                .ok_or_else(|| format!("bad delay {item:?} (0 to {MAX_DELAY_MS} ms)"))
        };
        match item.split_once('=') {
            Some(("delay-before", v)) => r.delay_before = delay(v)?,
            Some(("delay-after", v)) => r.delay_after = delay(v)?,
            _ => {
                r.flags |= match item {
                    "rts-on-send" => RTS_ON_SEND,
                    "rts-after-send" => RTS_AFTER_SEND,
                    "rx-during-tx" => RX_DURING_TX,
                    _ => return Err(format!("unknown rs485 item {item:?}")),
                }
            }
        }
    }
    Ok(r)
}

/// The settings in `rs485=` syntax (for logs and read-back messages).
pub fn describe(r: &Rs485) -> String {
    if r.flags & ENABLED == 0 {
        return "off".to_string();
    }
    let mut s = String::from("on");
    for (bit, name) in [
        (RTS_ON_SEND, "rts-on-send"),
        (RTS_AFTER_SEND, "rts-after-send"),
        (RX_DURING_TX, "rx-during-tx"),
    ] {
        if r.flags & bit != 0 {
            s += ",";
            s += name;
        }
    }
    s + &format!(
        ",delay-before={},delay-after={}",
        r.delay_before, r.delay_after
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_and_errors() {
        let r = parse("on, rts-after-send,rx-during-tx,delay-after=1000").unwrap();
        assert_eq!(r.flags, ENABLED | RTS_AFTER_SEND | RX_DURING_TX);
        assert_eq!((r.delay_before, r.delay_after), (0, 1000));
        assert_eq!(
            describe(&r),
            "on,rts-after-send,rx-during-tx,delay-before=0,delay-after=1000"
        );
        assert_eq!(describe(&parse("off").unwrap()), "off");
        for bad in [
            "",
            "yes",
            "off,rts-on-send",
            "on,bogus",
            "on,delay-before=1001",
            "on,delay-after=-1",
            "on,delay-before=",
            "rts-on-send,on",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse("on,rts-on-send=1"),
            Err("unknown rs485 item \"rts-on-send=1\"".into())
        );
    }
}
