//! Telnet (RFC 854/855) IAC codec, option negotiation and the RFC 2217 COM-PORT option.
//!
//! Pure: bytes in, bytes and typed events out. No I/O, no clock. Used by `rgetty-share` on
//! ports in `rfc2217` mode (server side) and by its RFC 2217 client.
//!
//! - [`Decoder`] splits a received byte stream into data (IAC IAC un-escaped) and [`Event`]s.
//! - [`escape_into`] doubles 0xFF in outgoing data.
//! - [`Options`] answers DO/DONT/WILL/WONT without negotiation loops.
//! - [`ComPort`] is one RFC 2217 sub-negotiation message, parsed and encoded in both directions.

/// Telnet command bytes (RFC 854).
pub mod cmd {
    /// Interpret As Command.
    pub const IAC: u8 = 255;
    /// Demand that the peer stops using an option.
    pub const DONT: u8 = 254;
    /// Ask the peer to use an option.
    pub const DO: u8 = 253;
    /// Refuse to use an option.
    pub const WONT: u8 = 252;
    /// Offer to use an option.
    pub const WILL: u8 = 251;
    /// Start of sub-negotiation.
    pub const SB: u8 = 250;
    /// Go ahead.
    pub const GA: u8 = 249;
    /// Erase line.
    pub const EL: u8 = 248;
    /// Erase character.
    pub const EC: u8 = 247;
    /// Are you there.
    pub const AYT: u8 = 246;
    /// Abort output.
    pub const AO: u8 = 245;
    /// Interrupt process.
    pub const IP: u8 = 244;
    /// Break.
    pub const BRK: u8 = 243;
    /// Data mark (the data part of a Synch).
    pub const DM: u8 = 242;
    /// No operation.
    pub const NOP: u8 = 241;
    /// End of sub-negotiation.
    pub const SE: u8 = 240;
}

/// Telnet option numbers used here.
pub mod opt {
    /// Binary transmission (RFC 856).
    pub const BINARY: u8 = 0;
    /// Echo (RFC 857).
    pub const ECHO: u8 = 1;
    /// Suppress go-ahead (RFC 858).
    pub const SGA: u8 = 3;
    /// COM-PORT-OPTION (RFC 2217).
    pub const COM_PORT: u8 = 44;
}

/// Longest sub-negotiation payload kept; longer ones are truncated (and flagged) so that a
/// peer cannot make us buffer without bound.
pub const MAX_SB: usize = 256;

/// An option negotiation verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// WILL: the sender offers to enable the option on its side.
    Will,
    /// WONT: the sender refuses or disables the option on its side.
    Wont,
    /// DO: the sender asks the receiver to enable the option.
    Do,
    /// DONT: the sender asks the receiver to disable the option.
    Dont,
}

impl Verb {
    /// The command byte for this verb.
    pub fn byte(self) -> u8 {
        match self {
            Verb::Will => cmd::WILL,
            Verb::Wont => cmd::WONT,
            Verb::Do => cmd::DO,
            Verb::Dont => cmd::DONT,
        }
    }
}

/// Something other than data found in a telnet stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `IAC WILL/WONT/DO/DONT option`.
    Negotiate(Verb, u8),
    /// A two-byte command such as `IAC BRK` (the second byte).
    Command(u8),
    /// `IAC SB option payload IAC SE`, with IAC IAC in the payload un-escaped. `truncated` is
    /// set when the payload was longer than [`MAX_SB`].
    Sub {
        /// The option number.
        option: u8,
        /// The payload, at most [`MAX_SB`] bytes.
        payload: Vec<u8>,
        /// The payload was cut at [`MAX_SB`] bytes.
        truncated: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Data,
    Iac,
    Verb(u8),
    SbOption,
    Sb,
    SbIac,
}

/// Incremental telnet decoder: feed it received bytes in any chunking.
#[derive(Debug, Default)]
pub struct Decoder {
    state: State,
    sb_option: u8,
    sb: Vec<u8>,
    sb_truncated: bool,
}

impl Decoder {
    /// A decoder in the data state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decode `input`: data bytes are appended to `data`, everything else to `events`.
    ///
    /// ```
    /// use rgetty::proto::telnet::{Decoder, Event, Verb};
    /// let mut d = Decoder::new();
    /// let (mut data, mut ev) = (Vec::new(), Vec::new());
    /// d.feed(b"a\xff\xffb\xff\xfd\x00", &mut data, &mut ev);
    /// assert_eq!(data, b"a\xffb");
    /// assert_eq!(ev, vec![Event::Negotiate(Verb::Do, 0)]);
    /// ```
    pub fn feed(&mut self, input: &[u8], data: &mut Vec<u8>, events: &mut Vec<Event>) {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::Data => {
                    // Fast path: copy the run up to the next IAC in one go.
                    let run = input[i..]
                        .iter()
                        .position(|&c| c == cmd::IAC)
                        .unwrap_or(input.len() - i);
                    data.extend_from_slice(&input[i..i + run]);
                    i += run;
                    if i < input.len() {
                        self.state = State::Iac;
                        i += 1;
                    }
                    continue;
                }
                _ => {
                    if self.step(b, data, events) {
                        i += 1;
                    }
                }
            }
        }
    }

    /// One byte in a state other than [`State::Data`]; `false` when the byte must be seen
    /// again in the new state.
    fn step(&mut self, b: u8, data: &mut Vec<u8>, events: &mut Vec<Event>) -> bool {
        match self.state {
            // Only reached byte by byte here; `feed` copies data runs itself.
            State::Data if b == cmd::IAC => self.state = State::Iac,
            State::Data => data.push(b),
            State::Iac => {
                self.state = match b {
                    cmd::IAC => {
                        data.push(cmd::IAC);
                        State::Data
                    }
                    cmd::WILL | cmd::WONT | cmd::DO | cmd::DONT => State::Verb(b),
                    cmd::SB => State::SbOption,
                    other => {
                        events.push(Event::Command(other));
                        State::Data
                    }
                }
            }
            State::Verb(v) => {
                let verb = match v {
                    cmd::WILL => Verb::Will,
                    cmd::WONT => Verb::Wont,
                    cmd::DO => Verb::Do,
                    _ => Verb::Dont,
                };
                events.push(Event::Negotiate(verb, b));
                self.state = State::Data;
            }
            State::SbOption => {
                self.sb_option = b;
                self.sb.clear();
                self.sb_truncated = false;
                self.state = State::Sb;
            }
            State::Sb => {
                if b == cmd::IAC {
                    self.state = State::SbIac;
                } else {
                    self.push_sb(b);
                }
            }
            State::SbIac => match b {
                cmd::SE => {
                    events.push(Event::Sub {
                        option: self.sb_option,
                        payload: std::mem::take(&mut self.sb),
                        truncated: self.sb_truncated,
                    });
                    self.state = State::Data;
                }
                cmd::IAC => {
                    self.push_sb(cmd::IAC);
                    self.state = State::Sb;
                }
                _ => {
                    // A command inside SB without SE: RFC 855 says SB ends at IAC SE, but
                    // real peers sometimes forget it. End the SB here and treat the byte
                    // as the command following IAC.
                    events.push(Event::Sub {
                        option: self.sb_option,
                        payload: std::mem::take(&mut self.sb),
                        truncated: self.sb_truncated,
                    });
                    self.state = State::Iac;
                    return false;
                }
            },
        }
        true
    }

    fn push_sb(&mut self, b: u8) {
        if self.sb.len() < MAX_SB {
            self.sb.push(b);
        } else {
            self.sb_truncated = true;
        }
    }
}

/// Append `data` to `out` with every 0xFF doubled.
pub fn escape_into(data: &[u8], out: &mut Vec<u8>) {
    let mut rest = data;
    while let Some(p) = rest.iter().position(|&c| c == cmd::IAC) {
        out.extend_from_slice(&rest[..=p]);
        out.push(cmd::IAC);
        rest = &rest[p + 1..];
    }
    out.extend_from_slice(rest);
}

/// The three bytes `IAC verb option`.
pub fn negotiation(verb: Verb, option: u8) -> [u8; 3] {
    [cmd::IAC, verb.byte(), option]
}

/// Append `IAC SB option payload IAC SE` to `out`, escaping 0xFF in the payload.
pub fn subnegotiation(option: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[cmd::IAC, cmd::SB]);
    escape_into(&[option], out);
    escape_into(payload, out);
    out.extend_from_slice(&[cmd::IAC, cmd::SE]);
}

/// Option negotiation state for one connection, loop-free (a simplified RFC 1143 "Q method").
///
/// `local` lists the options we are willing to enable on our side (answer DO with WILL),
/// `remote` those we accept on the peer's side (answer WILL with DO). Everything else is
/// refused once.
#[derive(Debug, Clone)]
pub struct Options {
    local: Vec<u8>,
    remote: Vec<u8>,
    us: [u64; 4],
    him: [u64; 4],
}

fn bit(set: &[u64; 4], o: u8) -> bool {
    set[usize::from(o / 64)] & (1u64 << (o % 64)) != 0
}

fn set_bit(set: &mut [u64; 4], o: u8, on: bool) {
    let w = &mut set[usize::from(o / 64)];
    if on {
        *w |= 1u64 << (o % 64);
    } else {
        *w &= !(1u64 << (o % 64));
    }
}

impl Options {
    /// A negotiator accepting `local` options on our side and `remote` ones on the peer's.
    pub fn new(local: &[u8], remote: &[u8]) -> Self {
        Options {
            local: local.to_vec(),
            remote: remote.to_vec(),
            us: [0; 4],
            him: [0; 4],
        }
    }

    /// Offer every local option (WILL) and request every remote one (DO); append the bytes
    /// to `out`. Options offered this way count as enabled unless the peer refuses.
    pub fn start(&mut self, out: &mut Vec<u8>) {
        for i in 0..self.local.len() {
            let o = self.local[i];
            set_bit(&mut self.us, o, true);
            out.extend_from_slice(&negotiation(Verb::Will, o));
        }
        for i in 0..self.remote.len() {
            let o = self.remote[i];
            set_bit(&mut self.him, o, true);
            out.extend_from_slice(&negotiation(Verb::Do, o));
        }
    }

    /// Handle a received negotiation; append our answer (if any) to `out`.
    pub fn handle(&mut self, verb: Verb, option: u8, out: &mut Vec<u8>) {
        match verb {
            Verb::Do => {
                if !self.local.contains(&option) {
                    out.extend_from_slice(&negotiation(Verb::Wont, option));
                } else if !bit(&self.us, option) {
                    set_bit(&mut self.us, option, true);
                    out.extend_from_slice(&negotiation(Verb::Will, option));
                }
            }
            Verb::Dont => {
                if bit(&self.us, option) {
                    set_bit(&mut self.us, option, false);
                    out.extend_from_slice(&negotiation(Verb::Wont, option));
                }
            }
            Verb::Will => {
                if !self.remote.contains(&option) {
                    out.extend_from_slice(&negotiation(Verb::Dont, option));
                } else if !bit(&self.him, option) {
                    set_bit(&mut self.him, option, true);
                    out.extend_from_slice(&negotiation(Verb::Do, option));
                }
            }
            Verb::Wont => {
                if bit(&self.him, option) {
                    set_bit(&mut self.him, option, false);
                    out.extend_from_slice(&negotiation(Verb::Dont, option));
                }
            }
        }
    }

    /// True while `option` is enabled on our side.
    pub fn local_enabled(&self, option: u8) -> bool {
        bit(&self.us, option)
    }

    /// True while `option` is enabled on the peer's side.
    pub fn remote_enabled(&self, option: u8) -> bool {
        bit(&self.him, option)
    }
}

/// RFC 2217 constants and value mappings.
pub mod rfc2217 {
    /// Offset added to a command code in a server-to-client message.
    pub const SERVER_OFFSET: u8 = 100;

    /// SET-CONTROL: request the current outbound flow control setting.
    pub const CONTROL_FLOW_REQUEST: u8 = 0;
    /// SET-CONTROL: no outbound flow control.
    pub const CONTROL_FLOW_NONE: u8 = 1;
    /// SET-CONTROL: XON/XOFF outbound flow control.
    pub const CONTROL_FLOW_XONXOFF: u8 = 2;
    /// SET-CONTROL: hardware (RTS/CTS) outbound flow control.
    pub const CONTROL_FLOW_HARDWARE: u8 = 3;
    /// SET-CONTROL: request the BREAK state.
    pub const CONTROL_BREAK_REQUEST: u8 = 4;
    /// SET-CONTROL: BREAK on.
    pub const CONTROL_BREAK_ON: u8 = 5;
    /// SET-CONTROL: BREAK off.
    pub const CONTROL_BREAK_OFF: u8 = 6;
    /// SET-CONTROL: request the DTR state.
    pub const CONTROL_DTR_REQUEST: u8 = 7;
    /// SET-CONTROL: DTR on.
    pub const CONTROL_DTR_ON: u8 = 8;
    /// SET-CONTROL: DTR off.
    pub const CONTROL_DTR_OFF: u8 = 9;
    /// SET-CONTROL: request the RTS state.
    pub const CONTROL_RTS_REQUEST: u8 = 10;
    /// SET-CONTROL: RTS on.
    pub const CONTROL_RTS_ON: u8 = 11;
    /// SET-CONTROL: RTS off.
    pub const CONTROL_RTS_OFF: u8 = 12;
    /// SET-CONTROL: request the inbound flow control setting.
    pub const CONTROL_INFLOW_REQUEST: u8 = 13;
    /// SET-CONTROL: no inbound flow control.
    pub const CONTROL_INFLOW_NONE: u8 = 14;
    /// SET-CONTROL: XON/XOFF inbound flow control.
    pub const CONTROL_INFLOW_XONXOFF: u8 = 15;
    /// SET-CONTROL: hardware inbound flow control.
    pub const CONTROL_INFLOW_HARDWARE: u8 = 16;

    /// PURGE-DATA: the receive buffer (device input).
    pub const PURGE_RX: u8 = 1;
    /// PURGE-DATA: the transmit buffer (device output).
    pub const PURGE_TX: u8 = 2;
    /// PURGE-DATA: both buffers.
    pub const PURGE_BOTH: u8 = 3;

    /// Modem state bit: carrier detect.
    pub const MODEM_DCD: u8 = 0x80;
    /// Modem state bit: ring indicator.
    pub const MODEM_RI: u8 = 0x40;
    /// Modem state bit: data set ready.
    pub const MODEM_DSR: u8 = 0x20;
    /// Modem state bit: clear to send.
    pub const MODEM_CTS: u8 = 0x10;
    /// Modem state bit: DCD changed.
    pub const MODEM_DELTA_DCD: u8 = 0x08;
    /// Modem state bit: RI trailing edge.
    pub const MODEM_TERI: u8 = 0x04;
    /// Modem state bit: DSR changed.
    pub const MODEM_DELTA_DSR: u8 = 0x02;
    /// Modem state bit: CTS changed.
    pub const MODEM_DELTA_CTS: u8 = 0x01;

    /// Line state bit: break detected.
    pub const LINE_BREAK: u8 = 0x10;
    /// Line state bit: transmit shift register empty.
    pub const LINE_TSRE: u8 = 0x40;
    /// Line state bit: transmit holding register empty.
    pub const LINE_THRE: u8 = 0x20;

    /// The RFC 2217 parity code for a parity: 1 none, 2 odd, 3 even, 4 mark, 5 space.
    pub fn parity_code(p: crate::proto::telnet::Parity) -> u8 {
        use crate::proto::telnet::Parity;
        match p {
            Parity::None => 1,
            Parity::Odd => 2,
            Parity::Even => 3,
            Parity::Mark => 4,
            Parity::Space => 5,
        }
    }

    /// The parity for an RFC 2217 parity code (`None` for 0 = query, or an unknown code).
    pub fn parity_from_code(c: u8) -> Option<crate::proto::telnet::Parity> {
        use crate::proto::telnet::Parity;
        Some(match c {
            1 => Parity::None,
            2 => Parity::Odd,
            3 => Parity::Even,
            4 => Parity::Mark,
            5 => Parity::Space,
            _ => return None,
        })
    }

    /// The RFC 2217 stop-size code: 1 one, 2 two, 3 one and a half.
    pub fn stop_code(s: crate::proto::telnet::StopBits) -> u8 {
        use crate::proto::telnet::StopBits;
        match s {
            StopBits::One => 1,
            StopBits::Two => 2,
            StopBits::OneAndHalf => 3,
        }
    }

    /// The stop bits for an RFC 2217 stop-size code (`None` for 0 = query or unknown).
    pub fn stop_from_code(c: u8) -> Option<crate::proto::telnet::StopBits> {
        use crate::proto::telnet::StopBits;
        Some(match c {
            1 => StopBits::One,
            2 => StopBits::Two,
            3 => StopBits::OneAndHalf,
            _ => return None,
        })
    }
}

pub use crate::proto::speed::{Parity, StopBits};

/// One RFC 2217 COM-PORT-OPTION message (the sub-negotiation payload after option 44).
///
/// The same variants serve both directions; [`ComPort::parse`] says whether the message came
/// from a server (command code + 100) and [`ComPort::encode`] takes the direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComPort {
    /// SIGNATURE (0): empty = a request for the peer's signature.
    Signature(Vec<u8>),
    /// SET-BAUDRATE (1): 0 = query.
    SetBaudrate(u32),
    /// SET-DATASIZE (2): 0 = query, else 5..8.
    SetDatasize(u8),
    /// SET-PARITY (3): 0 = query, see [`rfc2217::parity_code`].
    SetParity(u8),
    /// SET-STOPSIZE (4): 0 = query, see [`rfc2217::stop_code`].
    SetStopsize(u8),
    /// SET-CONTROL (5): see the `CONTROL_*` constants.
    SetControl(u8),
    /// NOTIFY-LINESTATE (6).
    NotifyLinestate(u8),
    /// NOTIFY-MODEMSTATE (7).
    NotifyModemstate(u8),
    /// FLOWCONTROL-SUSPEND (8).
    FlowSuspend,
    /// FLOWCONTROL-RESUME (9).
    FlowResume,
    /// SET-LINESTATE-MASK (10).
    SetLinestateMask(u8),
    /// SET-MODEMSTATE-MASK (11).
    SetModemstateMask(u8),
    /// PURGE-DATA (12): see the `PURGE_*` constants.
    Purge(u8),
}

/// Why a COM-PORT payload could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComPortError {
    /// The payload was empty.
    #[error("empty com-port sub-negotiation")]
    Empty,
    /// The command code is not one RFC 2217 defines.
    #[error("unknown com-port command {0}")]
    Unknown(u8),
    /// The value is too short for the command.
    #[error("com-port command {cmd} with short value {value:?}")]
    Short {
        /// The command code as received.
        cmd: u8,
        /// The value bytes received.
        value: Vec<u8>,
    },
}

impl ComPort {
    /// Parse a COM-PORT payload (without the option byte). Returns the message and whether it
    /// was sent by a server (code ≥ 100).
    ///
    /// ```
    /// use rgetty::proto::telnet::ComPort;
    /// assert_eq!(ComPort::parse(&[1, 0, 0, 0x25, 0x80]), Ok((ComPort::SetBaudrate(9600), false)));
    /// assert_eq!(ComPort::parse(&[105, 8]), Ok((ComPort::SetControl(8), true)));
    /// ```
    pub fn parse(payload: &[u8]) -> Result<(ComPort, bool), ComPortError> {
        let (&code, value) = payload.split_first().ok_or(ComPortError::Empty)?;
        let (base, server) = if code >= rfc2217::SERVER_OFFSET {
            (code - rfc2217::SERVER_OFFSET, true)
        } else {
            (code, false)
        };
        let short = || ComPortError::Short {
            cmd: code,
            value: value.to_vec(),
        };
        let byte = || value.first().copied().ok_or_else(short);
        let msg = match base {
            0 => ComPort::Signature(value.to_vec()),
            1 => {
                let b: [u8; 4] = value
                    .get(..4)
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(short)?;
                ComPort::SetBaudrate(u32::from_be_bytes(b))
            }
            2 => ComPort::SetDatasize(byte()?),
            3 => ComPort::SetParity(byte()?),
            4 => ComPort::SetStopsize(byte()?),
            5 => ComPort::SetControl(byte()?),
            6 => ComPort::NotifyLinestate(byte()?),
            7 => ComPort::NotifyModemstate(byte()?),
            8 => ComPort::FlowSuspend,
            9 => ComPort::FlowResume,
            10 => ComPort::SetLinestateMask(byte()?),
            11 => ComPort::SetModemstateMask(byte()?),
            12 => ComPort::Purge(byte()?),
            _ => return Err(ComPortError::Unknown(code)),
        };
        Ok((msg, server))
    }

    fn code_and_value(&self) -> (u8, Vec<u8>) {
        match self {
            ComPort::Signature(s) => (0, s.clone()),
            ComPort::SetBaudrate(b) => (1, b.to_be_bytes().to_vec()),
            ComPort::SetDatasize(v) => (2, vec![*v]),
            ComPort::SetParity(v) => (3, vec![*v]),
            ComPort::SetStopsize(v) => (4, vec![*v]),
            ComPort::SetControl(v) => (5, vec![*v]),
            ComPort::NotifyLinestate(v) => (6, vec![*v]),
            ComPort::NotifyModemstate(v) => (7, vec![*v]),
            ComPort::FlowSuspend => (8, Vec::new()),
            ComPort::FlowResume => (9, Vec::new()),
            ComPort::SetLinestateMask(v) => (10, vec![*v]),
            ComPort::SetModemstateMask(v) => (11, vec![*v]),
            ComPort::Purge(v) => (12, vec![*v]),
        }
    }

    /// Append the full `IAC SB 44 code value IAC SE` to `out`; `from_server` adds 100 to the
    /// command code.
    pub fn encode(&self, from_server: bool, out: &mut Vec<u8>) {
        subnegotiation(opt::COM_PORT, &self.payload(from_server), out);
    }

    /// The sub-negotiation payload (command code, +100 from a server, then the value).
    pub fn payload(&self, from_server: bool) -> Vec<u8> {
        let (code, value) = self.code_and_value();
        let code = if from_server {
            code + rfc2217::SERVER_OFFSET
        } else {
            code
        };
        let mut payload = Vec::with_capacity(1 + value.len());
        payload.push(code);
        payload.extend_from_slice(&value);
        payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(chunks: &[&[u8]]) -> (Vec<u8>, Vec<Event>) {
        let mut d = Decoder::new();
        let (mut data, mut ev) = (Vec::new(), Vec::new());
        for c in chunks {
            d.feed(c, &mut data, &mut ev);
        }
        (data, ev)
    }

    /// Input chunks, expected data, expected events.
    type Case<'a> = (&'a [&'a [u8]], &'a [u8], Vec<Event>);

    #[test]
    fn decoder_table() {
        let cases: &[Case<'_>] = &[
            (&[b"hello"], b"hello", vec![]),
            (&[b"\xff\xff"], b"\xff", vec![]),
            (&[b"\xff", b"\xff"], b"\xff", vec![]),
            (&[b"a\xff\xf3b"], b"ab", vec![Event::Command(cmd::BRK)]),
            (
                &[b"\xff\xfb", b"\x2c"],
                b"",
                vec![Event::Negotiate(Verb::Will, 44)],
            ),
            (
                &[b"\xff\xfa\x2c\x01\x00\x00\xff\xff\x00\xff\xf0x"],
                b"x",
                vec![Event::Sub {
                    option: 44,
                    payload: vec![1, 0, 0, 0xff, 0],
                    truncated: false,
                }],
            ),
            // SB without SE, ended by another command.
            (
                &[b"\xff\xfa\x2c\x05\x08\xff\xfd\x00"],
                b"",
                vec![
                    Event::Sub {
                        option: 44,
                        payload: vec![5, 8],
                        truncated: false,
                    },
                    Event::Negotiate(Verb::Do, 0),
                ],
            ),
        ];
        for (chunks, data, events) in cases {
            let (d, e) = decode(chunks);
            assert_eq!(&d[..], *data, "{chunks:?}");
            assert_eq!(&e, events, "{chunks:?}");
        }
    }

    #[test]
    fn long_sb_is_truncated() {
        let mut input = vec![cmd::IAC, cmd::SB, 44];
        input.extend(std::iter::repeat_n(7u8, 1000));
        input.extend_from_slice(&[cmd::IAC, cmd::SE]);
        let (_, ev) = decode(&[&input]);
        match &ev[..] {
            [
                Event::Sub {
                    payload, truncated, ..
                },
            ] => {
                assert_eq!(payload.len(), MAX_SB);
                assert!(truncated);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn escape() {
        let mut out = Vec::new();
        escape_into(b"\xffa\xff\xff", &mut out);
        assert_eq!(out, b"\xff\xffa\xff\xff\xff\xff");
    }

    #[test]
    fn options_no_loops() {
        let mut o = Options::new(&[opt::BINARY, opt::COM_PORT], &[opt::BINARY]);
        let mut out = Vec::new();
        o.start(&mut out);
        assert_eq!(out, b"\xff\xfb\x00\xff\xfb\x2c\xff\xfd\x00");
        out.clear();
        o.handle(Verb::Do, opt::BINARY, &mut out);
        o.handle(Verb::Will, opt::BINARY, &mut out);
        o.handle(Verb::Do, opt::COM_PORT, &mut out);
        assert!(out.is_empty());
        o.handle(Verb::Do, opt::ECHO, &mut out);
        assert_eq!(out, b"\xff\xfc\x01");
        out.clear();
        o.handle(Verb::Will, opt::ECHO, &mut out);
        assert_eq!(out, b"\xff\xfe\x01");
        out.clear();
        o.handle(Verb::Dont, opt::BINARY, &mut out);
        assert_eq!(out, b"\xff\xfc\x00");
        assert!(!o.local_enabled(opt::BINARY));
        out.clear();
        o.handle(Verb::Dont, opt::BINARY, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn comport_roundtrip_table() {
        let msgs = [
            ComPort::Signature(b"x".to_vec()),
            ComPort::SetBaudrate(115_200),
            ComPort::SetBaudrate(0xffff_ffff),
            ComPort::SetDatasize(8),
            ComPort::SetParity(3),
            ComPort::SetStopsize(2),
            ComPort::SetControl(8),
            ComPort::NotifyLinestate(0x60),
            ComPort::NotifyModemstate(0xff),
            ComPort::FlowSuspend,
            ComPort::FlowResume,
            ComPort::SetLinestateMask(0),
            ComPort::SetModemstateMask(0xff),
            ComPort::Purge(3),
        ];
        for m in msgs {
            for server in [false, true] {
                let mut out = Vec::new();
                m.encode(server, &mut out);
                let (_, ev) = decode(&[&out]);
                let [
                    Event::Sub {
                        option: 44,
                        payload,
                        truncated: false,
                    },
                ] = &ev[..]
                else {
                    panic!("{ev:?}")
                };
                assert_eq!(ComPort::parse(payload), Ok((m.clone(), server)));
            }
        }
        assert_eq!(ComPort::parse(&[]), Err(ComPortError::Empty));
        assert_eq!(ComPort::parse(&[13]), Err(ComPortError::Unknown(13)));
        assert!(matches!(
            ComPort::parse(&[1, 0]),
            Err(ComPortError::Short { .. })
        ));
    }

    proptest! {
        #[test]
        fn escape_then_decode_is_identity(data in proptest::collection::vec(any::<u8>(), 0..300), split in 0usize..300) {
            let mut enc = Vec::new();
            escape_into(&data, &mut enc);
            let s = split.min(enc.len());
            let (d, ev) = decode(&[&enc[..s], &enc[s..]]);
            prop_assert_eq!(d, data);
            prop_assert!(ev.is_empty());
        }

        #[test]
        fn decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..500)) {
            let _ = decode(&[&data]);
            let _ = ComPort::parse(&data);
        }
    }
}
