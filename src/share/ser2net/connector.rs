//! A ser2net connection's connector (`serialdev,DEVICE,OPTS`): the device, its termios
//! settings and lock/write-only flags, with the `serialdev` class defaults filled in.
//!
//! Pure, like [`super::map`], which parses the rest of the connection.

use std::path::{Path, PathBuf};

use super::map::{Defaults, Errors, SERIAL_NAMES, boolean, layer, split_top};

/// What the connector gives.
#[derive(Debug, Default)]
pub(super) struct Serial {
    pub(super) device: Option<PathBuf>,
    pub(super) stty: String,
    pub(super) params: String,
    pub(super) uucp_lock: bool,
    pub(super) write_only: bool,
}

/// Parse `serialdev[(OPTS)],DEVICE[,OPTS]`; options may also be blank-separated (a folded
/// line). The `serialdev` class defaults fill in what is not given.
pub(super) fn connector(s: &str, line: usize, d: &Defaults, errs: &mut Errors) -> Serial {
    let parts = split_top(s);
    let (name, args) = layer(&parts[0]);
    let mut out = Serial::default();
    if !matches!(name, "serialdev" | "sdev") {
        errs.push((
            line,
            format!("connector {name:?} not supported (serialdev is)"),
        ));
        return out;
    }
    let Some(dev) = parts.get(1).filter(|d| !d.is_empty()) else {
        errs.push((line, "serialdev without a device".into()));
        return out;
    };
    let dev = dev.split_whitespace().next().unwrap_or(dev);
    out.device = Some(if dev.starts_with('/') {
        PathBuf::from(dev)
    } else {
        Path::new("/dev").join(dev)
    });
    let mut items: Vec<String> = args;
    let rest = parts[1].split_whitespace().skip(1).map(str::to_string);
    items.extend(rest);
    for p in &parts[2..] {
        items.extend(p.split_whitespace().map(str::to_string));
    }
    let mut st = SerialState::from_defaults(d, line, errs);
    for item in &items {
        if let Err(m) = st.item(item) {
            errs.push((line, m));
        }
    }
    out.stty = st.stty();
    out.params = st.params();
    out.uucp_lock = st.uucp_lock;
    out.write_only = st.wronly;
    out
}

/// The serial settings being gathered.
#[derive(Debug)]
struct SerialState {
    speed: u32,
    parity: char,
    bits: u8,
    stop: u8,
    local: bool,
    rtscts: bool,
    xonxoff: bool,
    hupcl: Option<bool>,
    pub(super) uucp_lock: bool,
    wronly: bool,
}

impl SerialState {
    /// ser2net's defaults (9600n81, modem lines honoured, UUCP locks), then `default:`s.
    fn from_defaults(d: &Defaults, line: usize, errs: &mut Errors) -> Self {
        let mut s = SerialState {
            speed: 9600,
            parity: 'n',
            bits: 8,
            stop: 1,
            local: false,
            rtscts: false,
            xonxoff: false,
            hupcl: None,
            uucp_lock: true,
            wronly: false,
        };
        for name in SERIAL_NAMES {
            if let Some((v, dl)) = d.get("serialdev", name) {
                let item = if *name == "speed" {
                    v.to_string()
                } else {
                    format!("{name}={v}")
                };
                if let Err(m) = s.item(&item) {
                    errs.push((dl.max(line.min(dl)), format!("default: {m}")));
                }
            }
        }
        s
    }

    /// One connector item: `115200n81`, `speed=9600e71`, `local`, `nouucplock=true`, ...
    fn item(&mut self, item: &str) -> Result<(), String> {
        let (k, v) = item
            .split_once('=')
            .map_or((item, None), |(k, v)| (k, Some(v)));
        if k.starts_with(|c: char| c.is_ascii_digit()) && v.is_none() {
            return self.speed(k);
        }
        if k == "speed" {
            return self.speed(v.unwrap_or(""));
        }
        let b = boolean(v).ok_or_else(|| format!("bad value in {item:?}"));
        match k {
            "local" => self.local = b?,
            "nouucplock" => self.uucp_lock = !b?,
            "uucplock" => self.uucp_lock = b?,
            "rtscts" => self.rtscts = b?,
            "xonxoff" => self.xonxoff = b?,
            "hangup-when-done" | "hangup_when_done" => self.hupcl = Some(b?),
            "wronly" => self.wronly = b?,
            "rs485" => return Err("rs485 not supported by rgetty-share".into()),
            _ => return Err(format!("serialdev option {item:?} not supported")),
        }
        Ok(())
    }

    /// `BAUD[PARITY[BITS[STOP]]]`, e.g. `115200n81`.
    fn speed(&mut self, s: &str) -> Result<(), String> {
        let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
        let rest: Vec<char> = s[digits.len()..].chars().collect();
        let bad = || format!("bad speed {s:?} (want BAUD[PARITY BITS STOP], e.g. 115200n81)");
        self.speed = crate::proto::speed::parse(&digits).ok_or_else(bad)?;
        if let Some(p) = rest.first() {
            let p = p.to_ascii_lowercase();
            if !matches!(p, 'n' | 'e' | 'o') {
                return Err(format!("parity {p:?} in {s:?} not supported (n, e, o are)"));
            }
            self.parity = p;
        }
        if let Some(b) = rest.get(1) {
            self.bits = b
                .to_digit(10)
                .filter(|b| (5..=8).contains(b))
                .ok_or_else(bad)? as u8;
        }
        if let Some(st) = rest.get(2) {
            self.stop = st
                .to_digit(10)
                .filter(|b| (1..=2).contains(b))
                .ok_or_else(bad)? as u8;
        }
        if rest.len() > 3 {
            return Err(bad());
        }
        Ok(())
    }

    /// The stty words that give these settings on the device.
    fn stty(&self) -> String {
        let parity = match self.parity {
            'e' => "parenb -parodd",
            'o' => "parenb parodd",
            _ => "-parenb",
        };
        let flag = |on: bool, w: &str| if on { w.to_string() } else { format!("-{w}") };
        let mut words = vec![
            self.speed.to_string(),
            format!("cs{}", self.bits),
            parity.to_string(),
            flag(self.stop == 2, "cstopb"),
            flag(self.local, "clocal"),
            flag(self.rtscts, "crtscts"),
            flag(self.xonxoff, "ixon"),
            flag(self.xonxoff, "ixoff"),
        ];
        if let Some(h) = self.hupcl {
            words.push(flag(h, "hupcl"));
        }
        words.join(" ")
    }

    /// ser2net's `\B`: `9600N81`.
    fn params(&self) -> String {
        format!(
            "{}{}{}{}",
            self.speed,
            self.parity.to_ascii_uppercase(),
            self.bits,
            self.stop
        )
    }
}
