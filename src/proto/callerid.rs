//! Caller-ID / CONNECT line parser and the RING reader's line rules.
//!
//! Pure: no I/O. Implements `docs/behaviour.md` §4.4 ("RING reader rules"), §4.5 and the
//! msn-list matching of §4.4/§4.6 (mgetty's caller-ID and RING-reading sources).
//!
//! * [`CallInfo`] holds what the modem told us about the call; [`CallInfo::feed_line`] is
//!   mgetty's `cndfind` and is applied to every complete line from the RING reader and from all
//!   chats (see `chat::LineSplitter`).
//! * [`RingReader`] turns the byte stream read while waiting for RINGs into [`RingLine`]
//!   events: modem actions recognised at line start ([`action_at_line_start`]) and ring events
//!   from the many RING formats. It keeps the little state mgetty keeps in statics (DRON/DROF
//!   cadence bits) plus the NMBR rule ([`NmbrRule`]).
//! * [`classify`] is the stateless one-line version of the same rules.
//!
//! Every stored value is sanitised: `'`, `"` and non-printable bytes (anything outside
//! 0x20..=0x7E) become spaces, so the values can be put between single quotes in the
//! cnd/cid-program command line and into the environment.
//!
//! # Deliberate differences from mgetty
//! * All stored values are sanitised, including the ones mgetty stores raw: the number part of
//!   a composed `CONNECT x/carrier protocol` (Debian's binary shows `CONNECT 38400 'x` after
//!   `CARRIER`/`PROTOCOL` lines as `\I` = `38400 'x/28800 LAPM`) and the called number (`CalledNr`, from `RING;a;b`,
//!   `RING/x`, `TO:x`) — mgetty puts `CalledNr` unsanitised between single quotes in a shell
//!   command line.
//! * `+CLIP:` gives the quoted number as caller ID and the name field as caller name
//!   (`clip_number_name`); mgetty keeps the whole rest of the line as the caller ID.
//! * A RING format that yields no caller digits (`RING AB`, `RINGING`, `FM:` without digits)
//!   leaves the caller ID unchanged instead of setting it to the empty string.
//! * `FM:` skips blanks before the caller digits (`FM: 123`); mgetty reads no digits there.
//! * A Zoom `RING:` line shorter than its fixed offsets gives dist 0 / no caller instead of
//!   reading past the end of the buffer.
//! * `RING` followed by one character that is neither a digit nor a letter is discarded;
//!   mgetty keeps it in its line buffer, so it gets glued to the next line.
//! * Voice-mode `<DLE>` ring events are not recognised (no voice support).
//! * The ring reader's line buffer holds [`RING_LINE_MAX`] bytes; further bytes of an
//!   overlong line are dropped (mgetty's bound check uses the wrong buffer size).

/// Longest line kept by [`RingReader`]; further bytes of the line are dropped.
pub const RING_LINE_MAX: usize = 498;

/// What the modem told us about the current call (§4.5). Defaults: caller ID `none`, the rest
/// empty. All values are sanitised (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    /// Calling number (`CALLER_ID`, `\Y`); `none` when unknown.
    pub caller_id: String,
    /// Calling party's name (`CALLER_NAME`).
    pub call_name: String,
    /// Date of the call as reported by the modem (`CALL_DATE`).
    pub call_date: String,
    /// Time of the call as reported by the modem (`CALL_TIME`).
    pub call_time: String,
    /// Called number / MSN (`CALLED_ID`).
    pub called_nr: String,
    /// The text after `CONNECT ` (`CONNECT`, `\I`), possibly composed with carrier/protocol.
    pub connect: String,
    /// Carrier from a `CARRIER ` / `+MCR: ` line (used to compose `connect`).
    pub carrier: String,
    /// Protocol from a `PROTOCOL: ` / `+MRR: ` line (used to compose `connect`).
    pub protocol: String,
    /// First Rockwell `MESG = ` value.
    pub msg1: String,
    /// Second (and later) Rockwell `MESG = ` value.
    pub msg2: String,
}

impl Default for CallInfo {
    fn default() -> Self {
        CallInfo {
            caller_id: "none".to_string(),
            call_name: String::new(),
            call_date: String::new(),
            call_time: String::new(),
            called_nr: String::new(),
            connect: String::new(),
            carrier: String::new(),
            protocol: String::new(),
            msg1: String::new(),
            msg2: String::new(),
        }
    }
}

/// Which field a prefix of the §4.5 table sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Stop,
    CallerId,
    /// A `+CLIP:` line: caller ID from its number field, name from its alpha field
    /// ([`clip_number_name`]).
    Clip,
    CallName,
    CallDate,
    CallTime,
    CalledNr,
    Connect,
    Carrier,
    Protocol,
    Msg1,
    Msg2,
}

/// mgetty's `cndtable`, in order: the first matching prefix wins.
const TABLE: &[(&str, Field)] = &[
    ("RING;", Field::CallerId),
    ("RING", Field::Stop),
    ("OK", Field::Stop),
    ("CONNECT ", Field::Connect),
    ("CALLER NAME: ", Field::CallName),
    ("CALLER NUMBER: ", Field::CallerId),
    ("TIME: ", Field::CallTime),
    ("REASON FOR NO CALLER NUMBER: ", Field::CallerId),
    ("REASON FOR NO CALLER NAME: ", Field::CallName),
    ("CALLED NUMBER: ", Field::CalledNr),
    ("FM:", Field::CallerId),
    ("CARRIER ", Field::Carrier),
    ("PROTOCOL: ", Field::Protocol),
    ("+MCR: ", Field::Carrier),
    ("+MRR: ", Field::Protocol),
    ("DATE = ", Field::CallDate),
    ("TIME = ", Field::CallTime),
    ("NMBR = ", Field::CallerId),
    ("NAME = ", Field::CallName),
    ("MESG = ", Field::Msg1),
    ("MESG = ", Field::Msg2),
    ("DDN_NMBR= ", Field::CallerId),
    ("DATE=", Field::CallDate),
    ("TIME=", Field::CallTime),
    ("NMBR=", Field::CallerId),
    ("NAME=", Field::CallName),
    ("NDID=", Field::CalledNr),
    ("CALLER'S NUMBER: ", Field::CallerId),
    ("NBR=", Field::CallerId),
    ("CallerID: ", Field::CallerId),
    ("Diverting number:", Field::CallerId),
    ("+CLIP: ", Field::Clip),
];

/// Replace `'`, `"` and every byte outside printable ASCII by a space (§4.5, sanitising).
///
/// ```
/// assert_eq!(rgetty::proto::callerid::sanitize(b"JOHN O'DOE\x1b"), "JOHN O DOE ");
/// ```
pub fn sanitize(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b == b'\'' || b == b'"' || !(0x20..0x7f).contains(&b) {
                ' '
            } else {
                char::from(b)
            }
        })
        .collect()
}

/// C `isspace` in the C locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn trim_c_space(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_c_space(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_c_space(*last) {
            break;
        }
        s = rest;
    }
    s
}

fn skip_c_space(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_c_space(*first) {
            break;
        }
        s = rest;
    }
    s
}

/// The fields of a `+CLIP:` line's rest: split at commas outside double quotes, each field
/// with its blanks trimmed and its quotes (if any) removed.
fn clip_fields(rest: &[u8]) -> Vec<&[u8]> {
    let mut fields = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, &b) in rest.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                fields.push(unquote(&rest[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    fields.push(unquote(&rest[start..]));
    fields
}

/// A field without its blanks and, when it starts with `"`, the text up to the closing one.
fn unquote(field: &[u8]) -> &[u8] {
    let f = trim_c_space(field);
    match f.strip_prefix(b"\"") {
        Some(q) => &q[..q.iter().position(|&b| b == b'"').unwrap_or(q.len())],
        None => f,
    }
}

/// Number and name of a `+CLIP: "<number>",<type>[,<subaddr>,<satype>[,"<alpha>"[,<CLI
/// validity>]]]` line (3GPP TS 27.007): the first field, and the fifth when present and not
/// empty. mgetty keeps the whole rest as the caller ID (` 0123 ,129` after sanitising), which
/// no dialin.config entry can match, and no name; see `docs/differences-from-mgetty.md`.
fn clip_number_name(rest: &[u8]) -> (&[u8], Option<&[u8]>) {
    let fields = clip_fields(rest);
    let name = fields.get(4).copied().filter(|n| !n.is_empty());
    (fields.first().copied().unwrap_or_default(), name)
}

fn leading_digits(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    &s[..n]
}

impl CallInfo {
    /// Apply one complete modem line (mgetty's `cndfind`, §4.5).
    ///
    /// ```
    /// let mut c = rgetty::proto::callerid::CallInfo::default();
    /// c.feed_line(b"NMBR = 5551234\r");
    /// c.feed_line(b"CONNECT 33600/ARQ");
    /// assert_eq!((c.caller_id.as_str(), c.connect.as_str()), ("5551234", "33600/ARQ"));
    /// ```
    pub fn feed_line(&mut self, line: &[u8]) {
        let s = trim_c_space(line);
        // ELINK 301 (`AT\O`): a line starting with a digit is the caller ID
        if s.first().is_some_and(u8::is_ascii_digit) {
            self.caller_id = sanitize(leading_digits(s));
            return;
        }
        for &(prefix, field) in TABLE {
            let Some(rest) = s.strip_prefix(prefix.as_bytes()) else {
                continue;
            };
            if field == Field::Msg1 && !self.msg1.is_empty() {
                continue; // the second MESG line goes to msg2
            }
            let value = sanitize(rest);
            match field {
                Field::Stop => {}
                Field::CallerId => self.caller_id = value,
                Field::Clip => {
                    let (number, name) = clip_number_name(rest);
                    self.caller_id = sanitize(number);
                    if let Some(name) = name {
                        self.call_name = sanitize(name);
                    }
                }
                Field::CallName => self.call_name = value,
                Field::CallDate => self.call_date = value,
                Field::CallTime => self.call_time = value,
                Field::CalledNr => self.called_nr = value,
                Field::Carrier => self.carrier = value,
                Field::Protocol => self.protocol = value,
                Field::Msg1 => self.msg1 = value,
                Field::Msg2 => self.msg2 = value,
                Field::Connect => {
                    self.connect = if self.carrier.is_empty() && self.protocol.is_empty() {
                        value
                    } else {
                        format!("{value}/{} {}", self.carrier, self.protocol)
                    }
                }
            }
            return;
        }
    }

    /// Decode Bell Canada's Rockwell `MESG = 03LL3d3d…` format into the caller ID (§4.5, `MESG`;
    /// mgetty does this just before the dialin.config lookup). Does nothing unless `msg1`
    /// starts with `03`.
    ///
    /// ```
    /// let mut c = rgetty::proto::callerid::CallInfo::default();
    /// c.feed_line(b"MESG = 030735353531323132");
    /// c.decode_rockwell_mesg();
    /// assert_eq!(c.caller_id, "5551212");
    /// ```
    pub fn decode_rockwell_mesg(&mut self) {
        let m = self.msg1.as_bytes();
        if !m.starts_with(b"03") {
            return;
        }
        // sscanf("%x") on the two characters after "03"
        let hex: Vec<u8> = m
            .iter()
            .skip(2)
            .take(2)
            .copied()
            .take_while(u8::is_ascii_hexdigit)
            .collect();
        let len = std::str::from_utf8(&hex)
            .ok()
            .and_then(|h| usize::from_str_radix(h, 16).ok())
            .unwrap_or(0);
        let number: Vec<u8> = (0..len).filter_map(|k| m.get(5 + 2 * k).copied()).collect();
        self.caller_id = sanitize(&number);
    }

    /// The environment variables mgetty exports for this call (§6.3): `CALLER_ID` and `CONNECT`
    /// always, `CALL_DATE`, `CALL_TIME`, `CALLER_NAME`, `CALLED_ID` only when non-empty.
    /// (`DEVICE` is the driver's.)
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![("CALLER_ID", self.caller_id.clone())];
        for (k, val) in [
            ("CALL_DATE", &self.call_date),
            ("CALL_TIME", &self.call_time),
            ("CALLER_NAME", &self.call_name),
            ("CALLED_ID", &self.called_nr),
        ] {
            if !val.is_empty() {
                v.push((k, val.clone()));
            }
        }
        v.push(("CONNECT", self.connect.clone()));
        v
    }

    /// The `/bin/sh -c` command line mgetty uses for `cid-program` and `cnd-program` (§4.6):
    /// `<prog> <device> '<caller_id>' '<call_name>' <dist> '<called_nr>' ><console> 2>&1 </dev/null`.
    ///
    /// Safe to hand to a shell as far as the call data goes: the quoted values never contain
    /// `'` (they are sanitised). `program`, `device` and `console` come from the admin's
    /// configuration and are used verbatim, as in mgetty.
    pub fn program_command(&self, program: &str, device: &str, dist: i32, console: &str) -> String {
        format!(
            "{program} {device} '{}' '{}' {dist} '{}' >{console} 2>&1 </dev/null",
            self.caller_id, self.call_name, self.called_nr
        )
    }

    /// Forget the per-call values the way mgetty's JAIL state does: caller ID back to `none`,
    /// name, time and called number cleared. Date, messages, CONNECT, carrier and protocol are
    /// kept (Q5); use `CallInfo::default()` for a clean slate.
    pub fn jail_reset(&mut self) {
        self.caller_id = "none".to_string();
        self.call_name.clear();
        self.call_time.clear();
        self.called_nr.clear();
    }
}

/// A modem result that ends the wait for RINGs (§4.4 actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModemAction {
    /// `CONNECT`: the modem answered by itself (auto-answer / data button).
    Connect,
    /// `NO CARRIER`.
    NoCarrier,
    /// `BUSY`.
    Busy,
    /// `ERROR`.
    Error,
    /// `+FCON`: fax connection.
    Fcon,
    /// `FAX`: fax connection.
    Fax,
    /// `+FHS:`: fax hang-up status.
    Fhs,
    /// `+FHNG:`: fax hang-up status.
    Fhng,
}

impl ModemAction {
    /// Every action, in mgetty's table order.
    pub const ALL: [ModemAction; 8] = [
        ModemAction::Connect,
        ModemAction::NoCarrier,
        ModemAction::Busy,
        ModemAction::Error,
        ModemAction::Fcon,
        ModemAction::Fax,
        ModemAction::Fhs,
        ModemAction::Fhng,
    ];

    /// The text the modem sends for this action.
    pub fn text(self) -> &'static str {
        match self {
            ModemAction::Connect => "CONNECT",
            ModemAction::NoCarrier => "NO CARRIER",
            ModemAction::Busy => "BUSY",
            ModemAction::Error => "ERROR",
            ModemAction::Fcon => "+FCON",
            ModemAction::Fax => "FAX",
            ModemAction::Fhs => "+FHS:",
            ModemAction::Fhng => "+FHNG:",
        }
    }

    /// True for the fax actions (`+FCON`, `FAX`) that hand the call to a fax receiver.
    pub fn is_fax(self) -> bool {
        matches!(self, ModemAction::Fcon | ModemAction::Fax)
    }

    /// True for the failures (`NO CARRIER`, `BUSY`, `ERROR`, `+FHS:`, `+FHNG:`): exit 20 in the
    /// ring wait.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            ModemAction::NoCarrier
                | ModemAction::Busy
                | ModemAction::Error
                | ModemAction::Fhs
                | ModemAction::Fhng
        )
    }
}

/// The action whose text the line so far equals exactly, if any (§4.4).
///
/// Called after every byte of a line: so `CONNECT` is recognised as soon as its 7th character
/// arrives, while `CALLER NAME = CONNECTICUT` never triggers it. Leading blanks of
/// `partial_line` are skipped (the ring reader never stores them).
///
/// ```
/// use rgetty::proto::callerid::{action_at_line_start, ModemAction};
/// assert_eq!(action_at_line_start(b"CONNECT"), Some(ModemAction::Connect));
/// assert_eq!(action_at_line_start(b"CONNEC"), None);
/// assert_eq!(action_at_line_start(b"CALLER NAME = CONNECT"), None);
/// ```
pub fn action_at_line_start(partial_line: &[u8]) -> Option<ModemAction> {
    let s = skip_c_space(partial_line);
    ModemAction::ALL
        .into_iter()
        .find(|a| a.text().as_bytes() == s)
}

/// The action text that is a prefix of a complete line (the byte-level reader would have
/// stopped there).
fn action_prefix(line: &[u8]) -> Option<ModemAction> {
    ModemAction::ALL
        .into_iter()
        .find(|a| line.starts_with(a.text().as_bytes()))
}

/// What one line read while waiting for RINGs means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingLine {
    /// A ring event with this distinctive-ring number (0 = unspecified; from `RING d`,
    /// `RING x`, the msn-list index, or the DRON/DROF cadence bits).
    Ring {
        /// Distinctive ring number.
        dist: i32,
    },
    /// A modem action ended the wait.
    Action(ModemAction),
    /// Anything else: discarded (its caller-ID content, if any, is already in [`CallInfo`]).
    Other,
}

/// What a ring line was: a ring of the phone, or caller-ID data that mgetty counts as a ring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RingKind {
    /// The phone rang: a `RING…` line (any format, distinctive or not), an RI edge, SIGUSR1.
    /// Only these are rings of a cadence.
    #[default]
    Phone,
    /// A caller-ID line (`NMBR = …`, `FM:…`, `TO:…`) that counts towards `rings` as in mgetty
    /// (§4.4), although the phone did not ring.
    CallerId,
}

impl RingKind {
    /// The kind of a ring event classified from `line` (leading blanks are skipped).
    pub fn of_line(line: &[u8]) -> RingKind {
        if skip_c_space(line).starts_with(b"RING") {
            RingKind::Phone
        } else {
            RingKind::CallerId
        }
    }
}

/// How a Rockwell `NMBR` caller-ID line counts in the ring wait (Q14).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NmbrRule {
    /// Upstream mgetty: an `NMBR…` line counts as a RING (so the call can be answered without
    /// waiting for the next real RING), unless DRON/DROF cadence reports were seen.
    #[default]
    Upstream,
    /// Debian's patched 1.2.1: a lone `NMBR` does not count. The ring event happens once both
    /// an `NMBR…` and a `NAME…` line were seen in this call (on whichever comes second), or at
    /// once when the number starts with `O` (out of area) or `P` (private). Checked against the
    /// Debian binary on a pty: `NMBR`+`NAME` and `NAME`+`NMBR` (with or without blanks around
    /// `=`) and `NMBR = P`/`O` are answered at once; `NMBR` alone, `NAME` alone,
    /// `CALLER NAME:`+`NMBR` and `CALLER NUMBER:`+`NAME` are not.
    Debian,
}

/// Map a called number to a distinctive-ring number through the msn-list (§4.4): the
/// sub-address after `/` is cut, then the first list entry that is a suffix of the number wins
/// (dist = index + 1); no match → 0. Also stores the number in `info.called_nr`.
///
/// ```
/// let mut c = rgetty::proto::callerid::CallInfo::default();
/// let msns = vec!["123".to_string(), "456".to_string()];
/// assert_eq!(rgetty::proto::callerid::find_msn(b"0894456/7", &msns, &mut c), 2);
/// assert_eq!(c.called_nr, "0894456/7");
/// ```
pub fn find_msn(called: &[u8], msn_list: &[String], info: &mut CallInfo) -> i32 {
    info.called_nr = sanitize(called);
    let number = match called.iter().position(|&b| b == b'/') {
        Some(p) => &called[..p],
        None => called,
    };
    msn_list
        .iter()
        .position(|m| number.ends_with(m.as_bytes()))
        .map_or(0, |i| i32::try_from(i + 1).unwrap_or(i32::MAX))
}

/// Set the caller ID from ring-format digits, unless there are none.
fn set_caller_digits(info: &mut CallInfo, digits: &[u8]) {
    if !digits.is_empty() {
        info.caller_id = sanitize(digits);
    }
}

/// ELSA `RING;from[;to]`, isdn4linux `RING/to`, USR `RING 1234` (mgetty's `ring_handle_ELSA`).
fn ring_elsa(s: &[u8], msn_list: &[String], info: &mut CallInfo) -> i32 {
    let first = s.first().copied();
    let start = s.iter().position(u8::is_ascii_digit).unwrap_or(s.len());
    let s = &s[start..];
    let digits = leading_digits(s);
    let rest = &s[digits.len()..];
    if rest.is_empty() {
        if first == Some(b'/') {
            return find_msn(digits, msn_list, info);
        }
        set_caller_digits(info, digits);
        return 0;
    }
    set_caller_digits(info, digits);
    // skip the separator and any further non-digits
    let rest = &rest[1..];
    let to_start = rest
        .iter()
        .position(u8::is_ascii_digit)
        .unwrap_or(rest.len());
    find_msn(&rest[to_start..], msn_list, info)
}

/// Zoom MX `RING: t DNn from`, `s` starting at the `:` (mgetty's `ring_handle_ZoomMX`).
fn ring_zoom(s: &[u8], info: &mut CallInfo) -> i32 {
    if let Some(tail) = s.get(8..) {
        set_caller_digits(info, leading_digits(tail));
    }
    s.get(6).map_or(0, |&c| i32::from(c) - i32::from(b'0'))
}

/// ZyXEL `FM:from [/sub/] [TO:to]` or `TO:to` (mgetty's `ring_handle_ZyXEL`).
fn ring_zyxel(s: &[u8], msn_list: &[String], info: &mut CallInfo) -> i32 {
    let mut s = s;
    if let Some(rest) = s.strip_prefix(b"FM:") {
        let rest = skip_c_space(rest);
        let digits = leading_digits(rest);
        set_caller_digits(info, digits);
        let mut p = skip_c_space(&rest[digits.len()..]);
        if let Some(sub) = p.strip_prefix(b"/") {
            // skip a sub-address "/…/"
            p = match sub.iter().position(|&b| b == b'/') {
                Some(i) => &sub[i + 1..],
                None => &[],
            };
        }
        s = p;
    }
    match s.strip_prefix(b"TO:") {
        Some(to) => find_msn(to, msn_list, info),
        None => 0,
    }
}

/// Stateful RING reader (§4.4): feed it the bytes read while waiting for RINGs.
///
/// Keeps the partial line, the DRON/DROF cadence bits (which, like mgetty's statics, survive
/// from one ring wait to the next until a ring event consumes them) and, for
/// [`NmbrRule::Debian`], which of NMBR/NAME were seen. Use one reader per process run, or
/// call [`RingReader::new_call`] when a new call starts.
#[derive(Debug, Clone, Default)]
pub struct RingReader {
    rule: NmbrRule,
    line: Vec<u8>,
    drox_bits: i32,
    drox_count: u32,
    seen_nmbr: bool,
    seen_name: bool,
    last_kind: RingKind,
}

impl RingReader {
    /// A reader using `rule` for `NMBR` lines.
    pub fn new(rule: NmbrRule) -> Self {
        RingReader {
            rule,
            ..Self::default()
        }
    }

    /// Forget the partial line and the per-call NMBR/NAME flags (cadence bits are kept, as in
    /// mgetty).
    pub fn new_call(&mut self) {
        self.line.clear();
        self.seen_nmbr = false;
        self.seen_name = false;
    }

    /// Forget the partial line (call at the start of each ring wait).
    pub fn clear_line(&mut self) {
        self.line.clear();
    }

    /// The line read so far (without leading blanks).
    pub fn partial_line(&self) -> &[u8] {
        &self.line
    }

    /// The kind of the last ring event [`RingReader::feed`] returned.
    pub fn last_kind(&self) -> RingKind {
        self.last_kind
    }

    /// Take one byte. Returns `Some` when it completes a ring event or an action; complete lines
    /// that are neither are given to `info.feed_line` and swallowed (`None`).
    ///
    /// ```
    /// use rgetty::proto::callerid::{CallInfo, NmbrRule, RingLine, RingReader};
    /// let mut r = RingReader::new(NmbrRule::Upstream);
    /// let mut info = CallInfo::default();
    /// let ev: Vec<RingLine> = b"\r\nRING\r\nCONNECT 2400\r\n"
    ///     .iter().filter_map(|&b| r.feed(b, &mut info, &[])).collect();
    /// assert_eq!(ev, vec![RingLine::Ring { dist: 0 }, RingLine::Action(rgetty::proto::callerid::ModemAction::Connect)]);
    /// ```
    pub fn feed(&mut self, byte: u8, info: &mut CallInfo, msn_list: &[String]) -> Option<RingLine> {
        if byte != b'\r' && byte != b'\n' {
            if self.line.is_empty() && is_c_space(byte) {
                return None;
            }
            if self.line.len() < RING_LINE_MAX {
                self.line.push(byte);
            }
            if let Some(a) = action_at_line_start(&self.line) {
                self.line.clear();
                return Some(RingLine::Action(a));
            }
            return None;
        }
        if self.line.is_empty() {
            return None;
        }
        let line = std::mem::take(&mut self.line);
        self.last_kind = RingKind::of_line(&line);
        match self.classify_line(&line, info, msn_list) {
            RingLine::Other => None,
            ev => Some(ev),
        }
    }

    /// Classify one complete line (leading blanks are skipped), updating `info`.
    pub fn classify_line(
        &mut self,
        line: &[u8],
        info: &mut CallInfo,
        msn_list: &[String],
    ) -> RingLine {
        let buf = skip_c_space(line);
        if let Some(a) = action_prefix(buf) {
            // the byte reader stops at the action text, before the line is complete: the
            // line is never given to the caller-ID parser (Q6: Connect stays empty)
            return RingLine::Action(a);
        }
        info.feed_line(buf);
        let ev = self.classify_ring(buf, info, msn_list);
        match ev {
            // V.253 cadence bits replace any other distinctive-ring number
            RingLine::Ring { .. } if self.drox_count > 0 => {
                let bits = self.drox_bits;
                self.drox_bits = 0;
                self.drox_count = 0;
                RingLine::Ring { dist: bits }
            }
            ev => ev,
        }
    }

    fn classify_ring(&mut self, buf: &[u8], info: &mut CallInfo, msn_list: &[String]) -> RingLine {
        if buf.starts_with(b"FM:") || buf.starts_with(b"TO:") {
            return RingLine::Ring {
                dist: ring_zyxel(buf, msn_list, info),
            };
        }
        if buf.starts_with(b"NMBR") && self.drox_count == 0 {
            match self.rule {
                NmbrRule::Upstream => return RingLine::Ring { dist: 0 },
                NmbrRule::Debian => {
                    self.seen_nmbr = true;
                    let value = skip_c_space(&buf[4..]);
                    let value = skip_c_space(value.strip_prefix(b"=").unwrap_or(value));
                    if self.seen_name || value.starts_with(b"O") || value.starts_with(b"P") {
                        return RingLine::Ring { dist: 0 };
                    }
                    return RingLine::Other;
                }
            }
        }
        if buf.starts_with(b"NAME") && self.rule == NmbrRule::Debian && self.drox_count == 0 {
            self.seen_name = true;
            if self.seen_nmbr {
                return RingLine::Ring { dist: 0 };
            }
            return RingLine::Other;
        }
        if buf.starts_with(b"DRON") || buf.starts_with(b"DROF") {
            self.drox(&buf[4..]);
            return RingLine::Other;
        }
        classify_ring_formats(buf, info, msn_list)
    }

    /// V.253 `DRON`/`DROF` cadence report: one bit per report, 1 = long (the first report, or a
    /// value > 9), 0 = short.
    fn drox(&mut self, p: &[u8]) {
        let n = p
            .iter()
            .position(|&b| !(is_c_space(b) || b == b'='))
            .unwrap_or(p.len());
        let p = &p[n..];
        let value = atoi(p);
        let bit = i32::from(self.drox_count == 0 || value > 9);
        self.drox_bits = self.drox_bits.wrapping_shl(1) | bit;
        self.drox_count = self.drox_count.saturating_add(1);
    }
}

/// C `atoi`: optional sign, then decimal digits (saturating).
fn atoi(s: &[u8]) -> i64 {
    let (neg, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, s),
    };
    let v = leading_digits(digits).iter().fold(0i64, |acc, &d| {
        acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    if neg { -v } else { v }
}

/// The RING formats proper: `RING`, `RING;…`, `RING: …`, `RING <2+ chars>`, `RING d`, `RING x`.
fn classify_ring_formats(buf: &[u8], info: &mut CallInfo, msn_list: &[String]) -> RingLine {
    let Some(rest) = buf.strip_prefix(b"RING") else {
        return RingLine::Other;
    };
    let p = skip_c_space(rest);
    let dist = match p {
        [] => 0,
        [b';', ..] => ring_elsa(p, msn_list, info),
        [b':', ..] => ring_zoom(p, info),
        [_, _, ..] => ring_elsa(p, msn_list, info),
        [d] if d.is_ascii_digit() => i32::from(*d - b'0'),
        [x] if x.is_ascii_alphabetic() => i32::from(x.to_ascii_lowercase() - b'a') + 1,
        [_] => return RingLine::Other,
    };
    RingLine::Ring { dist }
}

/// Classify one complete line without reader state (§4.4), updating `info`.
///
/// Same as a fresh [`RingReader`] with [`NmbrRule::Upstream`]: DRON/DROF cadence reports are
/// consumed but forgotten, so use a [`RingReader`] in the getty.
///
/// ```
/// use rgetty::proto::callerid::{classify, CallInfo, RingLine};
/// let mut info = CallInfo::default();
/// assert_eq!(classify(b"RING: 3 DN9 8888", &mut info, &[]), RingLine::Ring { dist: 9 });
/// assert_eq!(info.caller_id, "8888");
/// ```
pub fn classify(line: &[u8], info: &mut CallInfo, msn_list: &[String]) -> RingLine {
    RingReader::new(NmbrRule::Upstream).classify_line(line, info, msn_list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_kind_tells_a_phone_ring_from_caller_id_data() {
        let mut r = RingReader::new(NmbrRule::Upstream);
        let mut info = CallInfo::default();
        let mut kinds = Vec::new();
        for line in [
            &b"RING\r"[..],
            b"  RING 2\r",
            b"FM:0891234\r",
            b"NMBR = 123\r",
            b"RING;1;2\r",
        ] {
            for &b in line {
                if r.feed(b, &mut info, &[]).is_some() {
                    kinds.push(r.last_kind());
                }
            }
        }
        use RingKind::{CallerId, Phone};
        assert_eq!(kinds, [Phone, Phone, CallerId, CallerId, Phone]);
    }
    use proptest::prelude::*;

    fn fed(lines: &[&[u8]]) -> CallInfo {
        let mut c = CallInfo::default();
        for l in lines {
            c.feed_line(l);
        }
        c
    }

    #[test]
    fn prefix_table() {
        type Get = fn(&CallInfo) -> &str;
        let cases: &[(&[u8], Get, &str)] = &[
            (b"RING;08912345;08765", |c| &c.caller_id, "08912345;08765"),
            (b"RING", |c| &c.caller_id, "none"),
            (b"OK", |c| &c.caller_id, "none"),
            (
                b"CONNECT 33600/ARQ/V34/LAPM/V42BIS",
                |c| &c.connect,
                "33600/ARQ/V34/LAPM/V42BIS",
            ),
            (b"CONNECT", |c| &c.connect, ""),
            (b"  CONNECT  \r", |c| &c.connect, ""),
            (b"CALLER NAME: JOHN DOE", |c| &c.call_name, "JOHN DOE"),
            (b"CALLER NUMBER: 5551234", |c| &c.caller_id, "5551234"),
            (b"TIME: 12:34", |c| &c.call_time, "12:34"),
            (b"REASON FOR NO CALLER NUMBER: P", |c| &c.caller_id, "P"),
            (b"REASON FOR NO CALLER NAME: O", |c| &c.call_name, "O"),
            (b"CALLED NUMBER: 4711", |c| &c.called_nr, "4711"),
            (b"FM:123 TO:456", |c| &c.caller_id, "123 TO:456"),
            (b"CARRIER V34", |c| &c.carrier, "V34"),
            (b"PROTOCOL: LAPM", |c| &c.protocol, "LAPM"),
            (b"+MCR: V90", |c| &c.carrier, "V90"),
            (b"+MRR: 33600", |c| &c.protocol, "33600"),
            (b"DATE = 1122", |c| &c.call_date, "1122"),
            (b"TIME = 1951", |c| &c.call_time, "1951"),
            (b"NMBR = 5551234", |c| &c.caller_id, "5551234"),
            (b"NAME = JOHN O'DOE", |c| &c.call_name, "JOHN O DOE"),
            (b"MESG = 0301", |c| &c.msg1, "0301"),
            (b"DDN_NMBR= 777", |c| &c.caller_id, "777"),
            (b"DATE=1122", |c| &c.call_date, "1122"),
            (b"TIME=1951", |c| &c.call_time, "1951"),
            (b"NMBR=888", |c| &c.caller_id, "888"),
            (b"NAME=X", |c| &c.call_name, "X"),
            (b"NDID=99", |c| &c.called_nr, "99"),
            (b"CALLER'S NUMBER: 42", |c| &c.caller_id, "42"),
            (b"NBR=43", |c| &c.caller_id, "43"),
            (b"CallerID: 44", |c| &c.caller_id, "44"),
            (b"Diverting number:45", |c| &c.caller_id, "45"),
            (b"+CLIP: \"0123\",129", |c| &c.caller_id, "0123"),
            (
                b"+CLIP: \"127.0.0.1\",129,,,\"x\"",
                |c| &c.caller_id,
                "127.0.0.1",
            ),
            (b"+CLIP: 5551234,129", |c| &c.caller_id, "5551234"),
            // ELINK: digit first → leading digits only
            (b"0891234 xyz", |c| &c.caller_id, "0891234"),
            (b"  12ab\r\n", |c| &c.caller_id, "12"),
            // sanitising: quotes and non-printables become spaces
            (b"NAME = A\"B'C\x01D\xe9E", |c| &c.call_name, "A B C D E"),
            // unknown lines change nothing
            (b"HELLO", |c| &c.caller_id, "none"),
            (b"", |c| &c.caller_id, "none"),
            // case-sensitive
            (b"nmbr = 1", |c| &c.caller_id, "none"),
        ];
        for (line, get, want) in cases {
            let c = fed(&[line]);
            assert_eq!(get(&c), *want, "line {line:?}");
        }
    }

    #[test]
    fn clip_name_is_the_caller_name() {
        let c = fed(&[b"+CLIP: \"0123456\",129,,,\"Alice Example\""]);
        assert_eq!(
            (c.caller_id.as_str(), c.call_name.as_str()),
            ("0123456", "Alice Example")
        );
        // more fields after the name (CLI validity), a comma inside the quotes, blanks
        let c = fed(&[b"+CLIP: \"0123\", 145, \"\", , \"Example, Alice\" ,0\r"]);
        assert_eq!(
            (c.caller_id.as_str(), c.call_name.as_str()),
            ("0123", "Example, Alice")
        );
        // an empty or absent name leaves the name as it was (a NAME line may have set it)
        for line in [
            &b"+CLIP: \"0123\",129,,,\"\",0"[..],
            b"+CLIP: \"0123\",129,,,",
            b"+CLIP: \"0123\",129",
            b"+CLIP: \"0123\"",
        ] {
            let c = fed(&[b"NAME=Bob", line]);
            assert_eq!(
                (c.caller_id.as_str(), c.call_name.as_str()),
                ("0123", "Bob"),
                "{line:?}"
            );
        }
        // the unquoted form
        let c = fed(&[b"+CLIP: 0123,129,,,Carol"]);
        assert_eq!(
            (c.caller_id.as_str(), c.call_name.as_str()),
            ("0123", "Carol")
        );
    }

    #[test]
    fn hostile_clip_names_are_sanitised_like_name_lines() {
        let long = vec![b'A'; 400];
        for name in [
            &b"Eve\x1b[2J'; rm -rf /\x07"[..],
            b"\x00\x01\x7f\xff\t-x",
            &long,
        ] {
            let mut clip = b"+CLIP: \"1\",129,,,\"".to_vec();
            clip.extend_from_slice(name);
            clip.extend_from_slice(b"\",0");
            let mut line = b"NAME=".to_vec();
            line.extend_from_slice(name);
            let by_clip = fed(&[&clip]).call_name;
            assert_eq!(by_clip, fed(&[&line]).call_name, "{name:?}");
            assert!(
                by_clip
                    .bytes()
                    .all(|b| (0x20..0x7f).contains(&b) && b != b'\'')
            );
        }
    }

    #[test]
    fn two_mesg_lines_and_rockwell_decode() {
        let c = fed(&[
            b"MESG = 030735353531323132",
            b"MESG = second",
            b"MESG = third",
        ]);
        assert_eq!(c.msg1, "030735353531323132");
        assert_eq!(c.msg2, "third");
        let mut c = c;
        c.decode_rockwell_mesg();
        assert_eq!(c.caller_id, "5551212");
        // not 03 → untouched; short / garbage → no panic
        for m in ["MESG = 0207", "MESG = 03", "MESG = 03zz", "MESG = 03ff1"] {
            let mut c = fed(&[m.as_bytes()]);
            c.decode_rockwell_mesg();
            assert!(c.caller_id.len() <= 255);
        }
        let mut c = fed(&[b"MESG = 0207"]);
        c.decode_rockwell_mesg();
        assert_eq!(c.caller_id, "none");
    }

    #[test]
    fn connect_composition() {
        let c = fed(&[b"CARRIER V34", b"PROTOCOL: LAPM", b"CONNECT 33600"]);
        assert_eq!(c.connect, "33600/V34 LAPM");
        let c = fed(&[b"PROTOCOL: LAPM", b"CONNECT 33600"]);
        assert_eq!(c.connect, "33600/ LAPM");
        let c = fed(&[b"CARRIER V34", b"CONNECT 'x"]);
        assert_eq!(c.connect, " x/V34 ");
        // CONNECT alone keeps the previous value empty
        let c = fed(&[b"CARRIER V34", b"CONNECT"]);
        assert_eq!(c.connect, "");
    }

    #[test]
    fn env_export() {
        let c = CallInfo::default();
        assert_eq!(
            c.env(),
            vec![
                ("CALLER_ID", "none".to_string()),
                ("CONNECT", String::new())
            ]
        );
        let c = fed(&[
            b"NMBR = 1",
            b"NAME = N",
            b"DATE = D",
            b"TIME = T",
            b"NDID=9",
            b"CONNECT 2400",
        ]);
        let keys: Vec<&str> = c.env().iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            vec![
                "CALLER_ID",
                "CALL_DATE",
                "CALL_TIME",
                "CALLER_NAME",
                "CALLED_ID",
                "CONNECT"
            ]
        );
        assert_eq!(
            c.program_command("/x/cid.sh", "pts/2", 0, "/x/out"),
            "/x/cid.sh pts/2 '1' 'N' 0 '9' >/x/out 2>&1 </dev/null"
        );
        let mut c = c;
        c.jail_reset();
        assert_eq!(c.caller_id, "none");
        assert_eq!(c.call_date, "D"); // Q5
        assert_eq!(c.connect, "2400");
    }

    #[test]
    fn actions_at_line_start() {
        for a in ModemAction::ALL {
            assert_eq!(action_at_line_start(a.text().as_bytes()), Some(a));
        }
        assert_eq!(action_at_line_start(b"  BUSY"), Some(ModemAction::Busy));
        assert_eq!(action_at_line_start(b"CONNECT "), None);
        assert_eq!(action_at_line_start(b"CALLER NAME = CONNECTICUT"), None);
        assert_eq!(action_at_line_start(b""), None);
        assert!(ModemAction::Fax.is_fax() && !ModemAction::Fax.is_failure());
        assert!(ModemAction::Fhng.is_failure());
        assert!(!ModemAction::Connect.is_failure() && !ModemAction::Connect.is_fax());
    }

    fn msns() -> Vec<String> {
        vec!["123".to_string(), "456".to_string()]
    }

    #[test]
    fn ring_formats() {
        let cases: &[(&[u8], RingLine, &str, &str)] = &[
            // line, event, caller_id, called_nr
            (b"RING", RingLine::Ring { dist: 0 }, "none", ""),
            (b"  RING  ", RingLine::Ring { dist: 0 }, "none", ""),
            (b"RING;08912345", RingLine::Ring { dist: 0 }, "08912345", ""),
            (
                b"RING;08912345;0894456",
                RingLine::Ring { dist: 2 },
                "08912345",
                "0894456",
            ),
            (
                b"RING;08912345;999",
                RingLine::Ring { dist: 0 },
                "08912345",
                "999",
            ),
            (
                b"RING/0891123",
                RingLine::Ring { dist: 1 },
                "none",
                "0891123",
            ),
            (b"RING: 3 DN9 8888", RingLine::Ring { dist: 9 }, "8888", ""),
            (b"RING:", RingLine::Ring { dist: 0 }, "none", ""),
            (b"RING 090909", RingLine::Ring { dist: 0 }, "090909", ""),
            (b"RING 1", RingLine::Ring { dist: 1 }, "none", ""),
            (b"RING C", RingLine::Ring { dist: 3 }, "none", ""),
            (b"RING c", RingLine::Ring { dist: 3 }, "none", ""),
            (b"RING ?", RingLine::Other, "none", ""),
            (b"RINGING", RingLine::Ring { dist: 0 }, "none", ""),
            (
                b"FM:5551234 TO:0894456",
                RingLine::Ring { dist: 2 },
                "5551234",
                "0894456",
            ),
            (
                b"FM:5551234 /77/TO:123",
                RingLine::Ring { dist: 1 },
                "5551234",
                "123",
            ),
            (b"FM: 5551234", RingLine::Ring { dist: 0 }, "5551234", ""),
            (b"TO:4123", RingLine::Ring { dist: 1 }, "none", "4123"),
            (b"NMBR = 5551234", RingLine::Ring { dist: 0 }, "5551234", ""),
            (b"DATE = 1122", RingLine::Other, "none", ""),
            (b"OK", RingLine::Other, "none", ""),
            (
                b"CONNECT 2400",
                RingLine::Action(ModemAction::Connect),
                "none",
                "",
            ),
            (
                b"NO CARRIER",
                RingLine::Action(ModemAction::NoCarrier),
                "none",
                "",
            ),
            (b"CALLER NAME = CONNECTICUT", RingLine::Other, "none", ""),
        ];
        for (line, ev, caller, called) in cases {
            let mut info = CallInfo::default();
            assert_eq!(classify(line, &mut info, &msns()), *ev, "line {line:?}");
            assert_eq!(info.caller_id, *caller, "caller of {line:?}");
            assert_eq!(info.called_nr, *called, "called of {line:?}");
        }
        // Q6: CONNECT in the ring wait leaves Connect empty
        let mut info = CallInfo::default();
        classify(b"CONNECT 2400", &mut info, &[]);
        assert_eq!(info.connect, "");
    }

    fn feed_all(r: &mut RingReader, info: &mut CallInfo, bytes: &[u8]) -> Vec<RingLine> {
        bytes
            .iter()
            .filter_map(|&b| r.feed(b, info, &msns()))
            .collect()
    }

    #[test]
    fn reader_bytes() {
        let mut r = RingReader::new(NmbrRule::Upstream);
        let mut info = CallInfo::default();
        let ev = feed_all(
            &mut r,
            &mut info,
            b"\r\nDATE = 1122\r\nTIME = 1951\r\nNMBR = 555\r\nNAME = BOB\r\nRING\r\n",
        );
        assert_eq!(
            ev,
            vec![RingLine::Ring { dist: 0 }, RingLine::Ring { dist: 0 }]
        );
        assert_eq!(info.call_name, "BOB");
        assert_eq!(info.call_date, "1122");
        // action fires on the 7th char, before the line ends
        let ev = feed_all(&mut r, &mut info, b"CONNECT");
        assert_eq!(ev, vec![RingLine::Action(ModemAction::Connect)]);
        // never inside a line
        let ev = feed_all(&mut r, &mut info, b"CALLER NAME = CONNECTICUT\r\n");
        assert!(ev.is_empty());
        // overlong line: no panic, bounded
        let long = vec![b'x'; 5000];
        assert!(feed_all(&mut r, &mut info, &long).is_empty());
        assert_eq!(r.partial_line().len(), RING_LINE_MAX);
        r.clear_line();
        assert!(r.partial_line().is_empty());
    }

    #[test]
    fn nmbr_rules() {
        // Debian: a lone NMBR does not count
        let mut r = RingReader::new(NmbrRule::Debian);
        let mut info = CallInfo::default();
        assert!(feed_all(&mut r, &mut info, b"NMBR = 555\r\n").is_empty());
        assert_eq!(info.caller_id, "555");
        assert_eq!(
            feed_all(&mut r, &mut info, b"NAME = BOB\r\n"),
            vec![RingLine::Ring { dist: 0 }]
        );
        // NAME first, then NMBR
        r.new_call();
        assert!(feed_all(&mut r, &mut info, b"NAME = BOB\r\n").is_empty());
        assert_eq!(
            feed_all(&mut r, &mut info, b"NMBR = 555\r\n"),
            vec![RingLine::Ring { dist: 0 }]
        );
        // private / out of area
        r.new_call();
        assert_eq!(
            feed_all(&mut r, &mut info, b"NMBR = P\r\n"),
            vec![RingLine::Ring { dist: 0 }]
        );
        r.new_call();
        assert_eq!(
            feed_all(&mut r, &mut info, b"NMBR=O\r\n"),
            vec![RingLine::Ring { dist: 0 }]
        );
        // other name/number lines do not pair up (checked against Debian's binary)
        r.new_call();
        assert!(feed_all(&mut r, &mut info, b"CALLER NAME: BOB\r\nNMBR = 5\r\n").is_empty());
        r.new_call();
        assert!(feed_all(&mut r, &mut info, b"CALLER NUMBER: 5\r\nNAME = BOB\r\n").is_empty());
        r.new_call();
        assert_eq!(
            feed_all(&mut r, &mut info, b"NMBR=5551234\r\nNAME=BOB\r\n"),
            vec![RingLine::Ring { dist: 0 }]
        );
        // Upstream: NMBR counts
        let mut r = RingReader::new(NmbrRule::Upstream);
        assert_eq!(
            feed_all(&mut r, &mut info, b"NMBR = 555\r\n"),
            vec![RingLine::Ring { dist: 0 }]
        );
        assert!(feed_all(&mut r, &mut info, b"NAME = X\r\n").is_empty());
    }

    #[test]
    fn drox_cadence() {
        let mut r = RingReader::new(NmbrRule::Upstream);
        let mut info = CallInfo::default();
        // first report long (1), DRON=11 long (1) → RING gives 0b11
        let ev = feed_all(&mut r, &mut info, b"DROF=0\r\nDRON=11\r\nRING\r\n");
        assert_eq!(ev, vec![RingLine::Ring { dist: 3 }]);
        // bits consumed; DROF=40 long, DRON=5 short → 0b10
        let ev = feed_all(&mut r, &mut info, b"DROF = 40\r\nDRON = 5\r\nRING 7\r\n");
        assert_eq!(ev, vec![RingLine::Ring { dist: 0b10 }]);
        // NMBR does not count while cadence reports are pending
        let ev = feed_all(&mut r, &mut info, b"DROF=0\r\nNMBR = 1\r\nRING\r\n");
        assert_eq!(ev, vec![RingLine::Ring { dist: 1 }]);
    }

    #[test]
    fn msn_matching() {
        let mut info = CallInfo::default();
        let list = msns();
        assert_eq!(find_msn(b"0894123", &list, &mut info), 1);
        assert_eq!(find_msn(b"0894456", &list, &mut info), 2);
        assert_eq!(find_msn(b"456/123", &list, &mut info), 2);
        assert_eq!(find_msn(b"23", &list, &mut info), 0);
        assert_eq!(find_msn(b"", &list, &mut info), 0);
        assert_eq!(find_msn(b"123", &[], &mut info), 0);
        // an empty list entry matches anything (as in mgetty)
        assert_eq!(find_msn(b"9", &[String::new()], &mut info), 1);
        assert_eq!(find_msn(b"9'x", &[], &mut info), 0);
        assert_eq!(info.called_nr, "9 x");
    }

    proptest! {
        #[test]
        fn stored_values_are_always_safe(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 0..20)) {
            let mut info = CallInfo::default();
            let mut r = RingReader::new(NmbrRule::Debian);
            for l in &lines {
                info.feed_line(l);
                let _ = r.classify_line(l, &mut info, &msns());
                let _ = classify(l, &mut info, &msns());
            }
            info.decode_rockwell_mesg();
            for v in [&info.caller_id, &info.call_name, &info.call_date, &info.call_time,
                      &info.called_nr, &info.connect, &info.carrier, &info.protocol,
                      &info.msg1, &info.msg2] {
                prop_assert!(v.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'\'' && b != b'"'), "{:?}", v);
            }
        }

        #[test]
        fn reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let mut info = CallInfo::default();
            let mut r = RingReader::new(NmbrRule::Upstream);
            for b in bytes {
                let _ = r.feed(b, &mut info, &msns());
            }
        }
    }
}
