//! mgetty.config: the line reader, value types, keyword table and per-port [`Settings`].
//!
//! Pure: the caller reads the file and hands its text over together with the path (used for
//! messages only). Implements `docs/behaviour.md` §0 (build-time defaults as a [`Profile`]),
//! §1 (precedence and post-config fixes) and §2 (syntax, value types, every keyword).
//!
//! Precedence is built-in default < config file < command line, in one function, [`merge`],
//! which both a run of the getty and `rgetty --check` use: the file's lines for the line's
//! Device first, then the command line's flags, so the same input always gives the same
//! settings.
//!
//! ```
//! use std::path::Path;
//! use rgetty::config::mgetty::{apply_text, Profile, Settings};
//!
//! let text = "speed 19200\nport ttyS?\n  rings 3\nport pts/??\n  rings 5\n";
//! let mut s = Settings::defaults(Profile::Upstream);
//! let parsed = apply_text(text, Path::new("mgetty.config"), "ttyS1", &mut s, &[]);
//! assert!(parsed.errors.is_empty());
//! assert_eq!((s.speed, s.rings), (19200, 3));
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{ConfigError, Location};

// ---------------------------------------------------------------------------------------------
// Profile: build-time constants (§0)
// ---------------------------------------------------------------------------------------------

/// Which mgetty build the built-in defaults imitate (§0): the values of upstream mgetty's
/// policy header or Debian's 1.2.1 binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// Upstream defaults: `ATS0=0Q0&D3&C1`, prompt `@!login: `, owner `uucp`, group `modem`.
    #[default]
    Upstream,
    /// Debian 1.2.1 defaults: init string `AT`, prompt `@ login: `, owner `root`, group
    /// `dialout`, config in `/etc/mgetty`, caller-ID screening file enabled.
    Debian,
}

/// The profile word was neither `upstream` nor `debian`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile {0:?} (expected \"upstream\" or \"debian\")")]
pub struct UnknownProfile(pub String);

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "upstream" => Ok(Profile::Upstream),
            "debian" => Ok(Profile::Debian),
            other => Err(UnknownProfile(other.to_string())),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profile::Upstream => "upstream",
            Profile::Debian => "debian",
        })
    }
}

impl Profile {
    /// The configuration directory (CONFDIR): relative `login-conf-file` names resolve here.
    pub fn config_dir(self) -> &'static Path {
        match self {
            Profile::Upstream => Path::new("/usr/local/etc/mgetty+sendfax"),
            Profile::Debian => Path::new("/etc/mgetty"),
        }
    }

    /// Path of the main config file, `<CONFDIR>/mgetty.config`.
    pub fn mgetty_config(self) -> PathBuf {
        self.config_dir().join("mgetty.config")
    }

    /// The caller-ID screening file (CNDFILE): disabled upstream, `/etc/mgetty/dialin.config`
    /// on Debian.
    pub fn dialin_config(self) -> Option<PathBuf> {
        match self {
            Profile::Upstream => None,
            Profile::Debian => Some(self.config_dir().join("dialin.config")),
        }
    }

    /// mgetty's `makepath`: an absolute `file` is returned as is, anything else is taken
    /// relative to [`Profile::config_dir`] (used for `login-conf-file`).
    pub fn resolve(self, file: &str) -> PathBuf {
        if file.starts_with('/') {
            PathBuf::from(file)
        } else {
            self.config_dir().join(file)
        }
    }

    /// MODEM_INIT_STRING, the second command of the default init chat.
    pub fn modem_init_string(self) -> &'static str {
        match self {
            Profile::Upstream => "ATS0=0Q0&D3&C1",
            Profile::Debian => "AT",
        }
    }

    /// LOGIN_PROMPT, the default `login-prompt`.
    pub fn login_prompt(self) -> &'static str {
        match self {
            Profile::Upstream => "@!login: ",
            Profile::Debian => "@ login: ",
        }
    }

    /// DEVICE_OWNER, the default `port-owner`.
    pub fn port_owner(self) -> &'static str {
        match self {
            Profile::Upstream => "uucp",
            Profile::Debian => "root",
        }
    }

    /// DEVICE_GROUP, the default `port-group`.
    pub fn port_group(self) -> &'static str {
        match self {
            Profile::Upstream => "modem",
            Profile::Debian => "dialout",
        }
    }

    /// The default `issue-file`. Debian's binary defaults to `/etc/issue` but its shipped
    /// mgetty.config sets `/etc/issue.mgetty` (agetty escapes in `/etc/issue` are not mgetty's,
    /// Q8); the Debian profile takes the shipped value so that a missing config behaves the same.
    pub fn issue_file(self) -> &'static str {
        match self {
            Profile::Upstream => "/etc/issue",
            Profile::Debian => "/etc/issue.mgetty",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Line reader (§2.1), shared with login.config
// ---------------------------------------------------------------------------------------------

/// One logical, normalised config line: keyword plus value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfLine {
    /// 1-based number of the first physical line.
    pub(crate) line: usize,
    /// The first word (case-sensitive).
    pub(crate) key: String,
    /// The rest of the line, whitespace-normalised (may be empty).
    pub(crate) value: String,
}

/// C `isspace` in the C locale: space, TAB, LF, VT, FF, CR.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r')
}

/// mgetty's `norm_line`: drop leading/trailing whitespace and collapse every run of whitespace
/// (also inside quotes, Q9) to one space.
pub(crate) fn normalize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for word in line.split(is_c_space).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Normalise one joined line and, unless empty, push it as keyword + value.
fn emit_line(buf: &str, line: usize, out: &mut Vec<ConfLine>) {
    let norm = normalize(buf);
    if norm.is_empty() {
        return;
    }
    let (key, value) = match norm.split_once(' ') {
        Some((k, v)) => (k.to_string(), v.to_string()),
        None => (norm, String::new()),
    };
    out.push(ConfLine { line, key, value });
}

/// Read config text the way mgetty's `fgetline` + `norm_line` do (§2.1).
///
/// * A trailing `\` joins the next physical line (backslash removed, no space added). A comment
///   line ending in `\` therefore swallows the next line, as in mgetty.
/// * After joining, a line whose first non-blank character is `#` is a comment. `#` elsewhere is
///   data.
/// * Each line is normalised ([`normalize`]) and split into keyword and value; empty lines are
///   dropped.
/// * A continuation still open at the end of the text is returned without the comment check
///   (mgetty's `fgetline` does the same at EOF).
pub(crate) fn read_lines(text: &str) -> Vec<ConfLine> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut start = 0usize; // first physical line of `buf`, 0 = nothing pending
    for (idx, raw) in text.split_inclusive('\n').enumerate() {
        let phys = raw.strip_suffix('\n').unwrap_or(raw);
        if start == 0 {
            start = idx + 1;
        }
        buf.push_str(phys);
        if buf.ends_with('\\') {
            buf.pop();
            continue;
        }
        let comment = buf.trim_start_matches(is_c_space).starts_with('#');
        if !comment {
            emit_line(&buf, start, &mut out);
        }
        buf.clear();
        start = 0;
    }
    if start != 0 {
        emit_line(&buf, start, &mut out);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Value types (§2.2)
// ---------------------------------------------------------------------------------------------

/// mgetty's boolean rule (Q2): TRUE iff the value is empty, starts with `y`/`Y`/`t`/`T`,
/// starts with lowercase `on`, or its first byte is 0x01. Everything else — including `1`,
/// `On` and `ON` — is FALSE. Never fails.
///
/// ```
/// use rgetty::config::mgetty::parse_bool;
/// assert!(parse_bool("yes") && parse_bool("t") && parse_bool("on") && parse_bool(""));
/// assert!(!parse_bool("1") && !parse_bool("On") && !parse_bool("no"));
/// ```
pub fn parse_bool(value: &str) -> bool {
    let b = value.as_bytes();
    match b.first() {
        None => true,
        Some(1) => true,
        Some(c) if matches!(c.to_ascii_lowercase(), b'y' | b't') => true,
        Some(_) => b.starts_with(b"on"),
    }
}

/// mgetty's integer rule: the value must start with a digit or `-digit`, then it is read like
/// C `strtol(value, NULL, 0)`: `0x10` = 16, `010` = 8 (octal), `08` = 0 (parsing stops at the
/// `8`), trailing junk ignored, overflow saturates. `None` when it does not start correctly.
///
/// ```
/// use rgetty::config::mgetty::parse_int;
/// assert_eq!(parse_int("0x10"), Some(16));
/// assert_eq!(parse_int("010"), Some(8));
/// assert_eq!(parse_int("08"), Some(0));
/// assert_eq!(parse_int("-5s"), Some(-5));
/// assert_eq!(parse_int("+5"), None);
/// ```
pub fn parse_int(value: &str) -> Option<i64> {
    let b = value.as_bytes();
    let (neg, digits) = match b {
        [b'-', d, ..] if d.is_ascii_digit() => (true, &b[1..]),
        [d, ..] if d.is_ascii_digit() => (false, b),
        _ => return None,
    };
    let (base, body): (u32, &[u8]) = match digits {
        [b'0', b'x' | b'X', h, ..] if h.is_ascii_hexdigit() => (16, &digits[2..]),
        [b'0', ..] => (8, digits),
        _ => (10, digits),
    };
    let mut acc: i64 = 0;
    for &c in body {
        let Some(d) = char::from(c).to_digit(base) else {
            break;
        };
        // Accumulate negatively so that i64::MIN is reachable; saturate like strtol.
        acc = acc
            .saturating_mul(i64::from(base))
            .saturating_sub(i64::from(d));
    }
    if neg {
        Some(acc)
    } else {
        Some(acc.checked_neg().unwrap_or(i64::MAX))
    }
}

/// Flow-control words of `data-flow`, `fax-send-flow`, `fax-rec-flow` (parsed, then ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Hard,
    Soft,
    Both,
    None,
}

/// mgetty's `conf_get_flow`: `rts*`/`hard*`, `xon*`/`soft*`, exactly `both` or `none`.
fn parse_flow(value: &str) -> Option<Flow> {
    if value.starts_with("rts") || value.starts_with("hard") {
        Some(Flow::Hard)
    } else if value.starts_with("xon") || value.starts_with("soft") {
        Some(Flow::Soft)
    } else if value == "both" {
        Some(Flow::Both)
    } else if value == "none" {
        Some(Flow::None)
    } else {
        None
    }
}

/// What `ring-patterns-perms` says to do when the ring-patterns file is readable by group or
/// other (rgetty extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RingPatternsPerms {
    /// Do not use the file (default).
    #[default]
    Refuse,
    /// Use it anyway and log a warning.
    Warn,
}

/// mgetty's `port` pattern match (§2.1, `wildcard_strcmp`): character-wise, `?` on either side
/// matches any one character; if one string is longer, its excess must be all `?`. No `*`.
///
/// ```
/// use rgetty::config::mgetty::port_matches;
/// assert!(port_matches("ttyS?", "ttyS1"));
/// assert!(port_matches("pts/??", "pts/1") && port_matches("pts/??", "pts/12"));
/// assert!(!port_matches("ttyS?", "ttyS10"));
/// ```
pub fn port_matches(pattern: &str, device: &str) -> bool {
    let a = pattern.as_bytes();
    let b = device.as_bytes();
    let common = a.len().min(b.len());
    let head_ok = a[..common]
        .iter()
        .zip(&b[..common])
        .all(|(x, y)| x == y || *x == b'?' || *y == b'?');
    head_ok && a[common..].iter().all(|c| *c == b'?') && b[common..].iter().all(|c| *c == b'?')
}

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

/// The resolved mgetty.config settings for one line: one field per data keyword of §2.3 plus
/// rgetty's extensions. Chat-typed values are the raw normalised config text (quotes and
/// backslashes kept); [`crate::proto::chat`] tokenizes them. String values keep their quotes (Q9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `speed` (`-s`): port speed in bit/s, set at open and after autobauding. Must be one of
    /// [`crate::proto::speed::SPEEDS`]; checked by [`Settings::sanitize`]. Default 38400.
    pub speed: u32,
    /// `direct` (`-r`): direct line, no modem chat at all, `Connect` is `DIRECT` (§4.11).
    pub direct: bool,
    /// `blocking` (`-b`): open the line blocking (waits for DCD); also disables `login-time`.
    pub blocking: bool,
    /// `port-owner`: user name or numeric uid the device is chowned to at start.
    pub port_owner: String,
    /// `port-group`: group name or numeric gid; `None` = primary group of the owner.
    pub port_group: Option<String>,
    /// `port-mode`: device mode while idle (give it with a leading zero: octal). Default 0660.
    pub port_mode: u32,
    /// `toggle-dtr`: drop DTR at start (also on direct lines). Default on.
    pub toggle_dtr: bool,
    /// `toggle-dtr-waittime`: how long DTR stays low, in ms. Default 500.
    pub toggle_dtr_waittime_ms: u64,
    /// `open-delay`: extra pause after open/DTR toggle before draining input, in ms.
    pub open_delay_ms: Option<u64>,
    /// `need-dsr`: if init fails and neither DSR nor CTS is up, wait for one in 60 s steps.
    pub need_dsr: bool,
    /// `data-only` (`-D`): no fax initialisation (rgetty never does fax init; kept for logging
    /// and for the FAX-in-answer decision, Q3).
    pub data_only: bool,
    /// `modem-type` (`-C`): `auto`, `cls2`, `c2.0`, `data`, ...; only `data` matters to rgetty
    /// (same as `data-only`).
    pub modem_type: String,
    /// `init-chat` (`-m`): modem init chat, raw text. Default
    /// `"" \dATQ0V1H0 OK <MODEM_INIT_STRING> OK`.
    pub init_chat: String,
    /// `force-init-chat`: run only when the init chat **timed out**. The default contains the
    /// raw bytes DLE (0x10) and ETX (0x03): `"" \d<DLE><ETX>\d\d\d+++\d\d\d\r\dATQ0V1H0 OK`.
    pub force_init_chat: String,
    /// `post-init-chat`: chat after init (10 s per expect, failures ignored).
    pub post_init_chat: Option<String>,
    /// `modem-check-time`: idle seconds between `AT`/`OK` health checks; negative disables,
    /// 0..899 is raised to 900 by [`Settings::sanitize`]. Default 3600.
    pub modem_check_time_s: i64,
    /// `rings` (`-n`): RINGs before answering; 0 is raised to 1. Default 1.
    pub rings: u32,
    /// `msn-list`: ISDN MSNs (chat-style list) mapped to distinctive ring numbers, raw text.
    pub msn_list: Option<String>,
    /// `get-cnd-chat`: chat run just before answering to fetch caller ID (10 s per expect).
    pub get_cnd_chat: Option<String>,
    /// `cid-program`: notification program run once per call while counting rings (§4.6).
    pub cid_program: Option<String>,
    /// `cnd-program`: accept/reject program run before answering; exit 1 rejects (§4.6).
    pub cnd_program: Option<String>,
    /// `answer-chat`: answer sequence, raw text. Default `"" ATA CONNECT \c \n` (the last
    /// expect is a real LF after tokenizing).
    pub answer_chat: String,
    /// `answer-chat-timeout`: per-expect timeout of the answer chat in s (0 = no timeout, as
    /// mgetty's `alarm(0)`). Default 80.
    pub answer_chat_timeout_s: u64,
    /// `autobauding` (`-a`): after CONNECT set the port speed from the CONNECT string.
    pub autobauding: bool,
    /// `ringback` (`-R`): ring-twice mode.
    pub ringback: bool,
    /// `ringback-time` (`-R`): window for the second call in s; below 30 is raised to 30.
    pub ringback_time_s: u64,
    /// `ignore-carrier`: keep CLOCAL during login (no hang-up detection).
    pub ignore_carrier: bool,
    /// `issue-file` (`-i`): `!cmd`, a literal text (not starting with `/`), or a path (§5.1).
    pub issue_file: String,
    /// `prompt-waittime`: pause after CONNECT and line cleaning before the issue, in ms.
    pub prompt_waittime_ms: u64,
    /// `login-prompt` (`-p`): prompt text with mgetty escapes (§5.2).
    pub login_prompt: String,
    /// `login-time`: login-name timeout in s (0 = none). Default 240.
    pub login_time_s: u64,
    /// `login-env-ttyprompt-hack`: do not read a name; export `TTYPROMPT` and run login.
    pub login_env_ttyprompt_hack: bool,
    /// `login-conf-file`: login.config path; relative names resolve with [`Profile::resolve`].
    pub login_conf_file: String,
    /// `debug` (`-x`): log level 0–9 (values outside are clamped). Default 4.
    pub debug: u8,
    /// `statistics-chat`: chat after init whose responses are logged.
    pub statistics_chat: Option<String>,
    /// `statistics-file`: file the statistics-chat lines are appended to.
    pub statistics_file: Option<String>,
    /// `term`: if set, `TERM=<value>` is exported before exec.
    pub term: Option<String>,
    /// `ring-patterns` (rgetty): path of an xringd.conf-format file of ring cadences; an
    /// empty value unsets it.
    pub ring_patterns: Option<PathBuf>,
    /// `ring-patterns-perms` (rgetty): `refuse` (default) or `warn` when that file is readable
    /// by group or other.
    pub ring_patterns_perms: RingPatternsPerms,
    /// `call-log` (rgetty): file one JSON record per call is appended to; `None` means
    /// `<log-dir>/calls.jsonl` (`/var/log/rgetty/calls.jsonl`), an empty value turns it off.
    pub call_log: Option<String>,
    /// `issue-escapes` (rgetty): `mgetty`, `agetty`, or `auto` (empty, the default: agetty's
    /// on `direct` lines, mgetty's on modem lines) (§5.6).
    pub issue_escapes: String,
    /// `term-size` (rgetty): the session's terminal size, `ROWSxCOLS`, or `probe` to ask the
    /// terminal (direct lines only); empty (default) leaves it to `LINES`/`COLUMNS` (§5.6).
    pub term_size: String,
    /// `block-list` (rgetty): the block list (`ACTION NUMBER NAME` lines, relative to the
    /// config dir); `None` or an empty value: no block list.
    pub block_list: Option<String>,
}

/// Result of [`Settings::set`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOutcome {
    /// The value was stored.
    Applied,
    /// A fax/voice/SMS/unsupported keyword: the value was checked and then ignored.
    Ignored,
}

impl Settings {
    /// The built-in defaults of `profile` (§0, §2.3).
    pub fn defaults(profile: Profile) -> Settings {
        Settings {
            speed: 38400,
            direct: false,
            blocking: false,
            port_owner: profile.port_owner().to_string(),
            port_group: Some(profile.port_group().to_string()),
            port_mode: 0o660,
            toggle_dtr: true,
            toggle_dtr_waittime_ms: 500,
            open_delay_ms: None,
            need_dsr: false,
            data_only: false,
            modem_type: "auto".to_string(),
            init_chat: format!(r#""" \dATQ0V1H0 OK {} OK"#, profile.modem_init_string()),
            force_init_chat: "\"\" \\d\u{10}\u{03}\\d\\d\\d+++\\d\\d\\d\\r\\dATQ0V1H0 OK"
                .to_string(),
            post_init_chat: None,
            modem_check_time_s: 3600,
            rings: 1,
            msn_list: None,
            get_cnd_chat: None,
            cid_program: None,
            cnd_program: None,
            answer_chat: r#""" ATA CONNECT \c \n"#.to_string(),
            answer_chat_timeout_s: 80,
            autobauding: false,
            ringback: false,
            ringback_time_s: 30,
            ignore_carrier: false,
            issue_file: profile.issue_file().to_string(),
            prompt_waittime_ms: 500,
            login_prompt: profile.login_prompt().to_string(),
            login_time_s: 240,
            login_env_ttyprompt_hack: false,
            login_conf_file: "login.config".to_string(),
            debug: 4,
            statistics_chat: None,
            statistics_file: None,
            term: None,
            ring_patterns: None,
            ring_patterns_perms: RingPatternsPerms::Refuse,
            call_log: None,
            issue_escapes: String::new(),
            term_size: String::new(),
            block_list: None,
        }
    }

    /// Set `keyword` to `value` as a config line or command-line flag would. The value is used
    /// verbatim (no whitespace normalisation: the CLI passes `-m` unnormalised, §1).
    ///
    /// Errors: `unknown keyword "x"` or a message naming keyword and bad value; on error the
    /// previous value is kept. Fax/voice/SMS keywords are checked and return
    /// [`SetOutcome::Ignored`].
    ///
    /// ```
    /// use rgetty::config::mgetty::{Profile, SetOutcome, Settings};
    /// let mut s = Settings::defaults(Profile::Upstream);
    /// assert_eq!(s.set("speed", "9600"), Ok(SetOutcome::Applied));
    /// assert_eq!(s.set("fax-id", "49 89 123"), Ok(SetOutcome::Ignored));
    /// assert!(s.set("speeed", "1").is_err());
    /// assert_eq!(s.speed, 9600);
    /// ```
    pub fn set(&mut self, keyword: &str, value: &str) -> Result<SetOutcome, String> {
        let kw = find(keyword).ok_or_else(|| format!("unknown keyword {keyword:?}"))?;
        let checked = check_kind(kw, value)?;
        match kw.set {
            Some(set) => {
                set(self, checked);
                Ok(SetOutcome::Applied)
            }
            None => Ok(SetOutcome::Ignored),
        }
    }

    /// The post-config fixes of §1: `rings 0` → 1, `ringback-time` < 30 → 30,
    /// 0 ≤ `modem-check-time` < 900 → 900. Returns one note per change (mgetty logs them at
    /// level 5). An invalid `speed` is an error (mgetty exits 2).
    pub fn sanitize(&mut self) -> Result<Vec<String>, String> {
        if !crate::proto::speed::is_valid(self.speed) {
            return Err(format!("invalid port speed: {}", self.speed));
        }
        if crate::proto::agetty::Dialect::from_setting(&self.issue_escapes, false).is_none() {
            return Err(format!(
                "invalid issue-escapes {:?}: mgetty, agetty or auto",
                self.issue_escapes
            ));
        }
        let size = self.term_size.as_str();
        if !matches!(size, "" | "probe") && crate::proto::agetty::parse_size(size).is_none() {
            return Err(format!(
                "invalid term-size {size:?}: ROWSxCOLS (e.g. 50x132) or probe"
            ));
        }
        let mut notes = Vec::new();
        if self.rings == 0 {
            self.rings = 1;
            notes.push("rings 0 changed to 1".to_string());
        }
        if self.ringback_time_s < 30 {
            notes.push(format!(
                "increasing ringback-time from {} to 30 sec.",
                self.ringback_time_s
            ));
            self.ringback_time_s = 30;
        }
        if (0..900).contains(&self.modem_check_time_s) {
            notes.push(format!(
                "increasing modem-check-time from {} to 900 sec.",
                self.modem_check_time_s
            ));
            self.modem_check_time_s = 900;
        }
        Ok(notes)
    }

    /// A config dump for the log at debug level 5: `(keyword, value)` for every keyword of
    /// the table, in table order; unset values show as `(empty)`, ignored keywords as
    /// `(ignored)`. Caller-controlled text: log the values with `{:?}`.
    pub fn describe(&self) -> Vec<(String, String)> {
        KEYWORDS
            .iter()
            .map(|kw| {
                let v = match kw.get {
                    Some(get) => get(self).unwrap_or_else(|| "(empty)".to_string()),
                    None => "(ignored)".to_string(),
                };
                (kw.name.to_string(), v)
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The keyword table (one row per keyword, like ser2net's table of defaults)
// ---------------------------------------------------------------------------------------------

/// Value type of a keyword (§2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueType {
    /// C-style integer.
    Int,
    /// mgetty boolean.
    Bool,
    /// The normalised rest of the line, verbatim.
    Str,
    /// A chat script, kept as raw text.
    Chat,
    /// A flow-control word.
    Flow,
    /// `refuse` or `warn`.
    Perms,
}

/// A checked value, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Int(i64),
    Bool(bool),
    Text(String),
    Perms(RingPatternsPerms),
    /// A value of an ignored keyword.
    Ignored,
}

type Setter = fn(&mut Settings, Value);
type Getter = fn(&Settings) -> Option<String>;

/// One keyword: name, type, and how to store/show it. `set == None` marks a keyword that is
/// accepted and ignored (fax, voice, SMS, FIDO, gettydefs, unused flow keywords).
struct Keyword {
    name: &'static str,
    kind: ValueType,
    /// Why it is ignored (shown in the note); empty for data keywords.
    why: &'static str,
    /// Range check for integers (inclusive), with a word for the message.
    range: Option<(i64, i64)>,
    set: Option<Setter>,
    get: Option<Getter>,
}

impl fmt::Debug for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyword")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

const U32: Option<(i64, i64)> = Some((0, u32::MAX as i64));
const U64: Option<(i64, i64)> = Some((0, i64::MAX));

const fn data(
    name: &'static str,
    kind: ValueType,
    range: Option<(i64, i64)>,
    set: Setter,
    get: Getter,
) -> Keyword {
    Keyword {
        name,
        kind,
        why: "",
        range,
        set: Some(set),
        get: Some(get),
    }
}

const fn ignored(name: &'static str, kind: ValueType, why: &'static str) -> Keyword {
    Keyword {
        name,
        kind,
        why,
        range: None,
        set: None,
        get: None,
    }
}

// Value extractors for the setters. `check_kind` guarantees the variant and range, so the
// fallbacks are never used.
fn int(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        _ => 0,
    }
}
fn u32v(v: &Value) -> u32 {
    u32::try_from(int(v)).unwrap_or(0)
}
fn u64v(v: &Value) -> u64 {
    u64::try_from(int(v)).unwrap_or(0)
}
fn boolv(v: &Value) -> bool {
    matches!(v, Value::Bool(true))
}
fn text(v: Value) -> String {
    match v {
        Value::Text(s) => s,
        _ => String::new(),
    }
}
fn yn(b: bool) -> Option<String> {
    Some(if b { "TRUE" } else { "FALSE" }.to_string())
}

const FAX: &str = "fax only, rgetty has no fax support";
const UNUSED: &str = "parsed but unused by mgetty";
const SMS: &str = "SMS builds only";

/// Every mgetty.config keyword (§2.3) plus rgetty's extensions, in mgetty's table order.
#[rustfmt::skip]
static KEYWORDS: &[Keyword] = &[
    data("speed", ValueType::Int, U32, |s, v| s.speed = u32v(&v), |s| Some(s.speed.to_string())),
    ignored("switchbd", ValueType::Int, FAX),
    data("direct", ValueType::Bool, None, |s, v| s.direct = boolv(&v), |s| yn(s.direct)),
    data("blocking", ValueType::Bool, None, |s, v| s.blocking = boolv(&v), |s| yn(s.blocking)),
    data("port-owner", ValueType::Str, None, |s, v| s.port_owner = text(v), |s| Some(s.port_owner.clone())),
    data("port-group", ValueType::Str, None, |s, v| s.port_group = Some(text(v)), |s| s.port_group.clone()),
    data("port-mode", ValueType::Int, Some((0, 0o7777)), |s, v| s.port_mode = u32v(&v), |s| Some(format!("0{:o}", s.port_mode))),
    data("toggle-dtr", ValueType::Bool, None, |s, v| s.toggle_dtr = boolv(&v), |s| yn(s.toggle_dtr)),
    data("toggle-dtr-waittime", ValueType::Int, U64, |s, v| s.toggle_dtr_waittime_ms = u64v(&v), |s| Some(s.toggle_dtr_waittime_ms.to_string())),
    data("open-delay", ValueType::Int, U64, |s, v| s.open_delay_ms = Some(u64v(&v)), |s| s.open_delay_ms.map(|n| n.to_string())),
    data("need-dsr", ValueType::Bool, None, |s, v| s.need_dsr = boolv(&v), |s| yn(s.need_dsr)),
    data("data-only", ValueType::Bool, None, |s, v| s.data_only = boolv(&v), |s| yn(s.data_only)),
    ignored("fax-only", ValueType::Bool, FAX),
    data("modem-type", ValueType::Str, None, |s, v| s.modem_type = text(v), |s| Some(s.modem_type.clone())),
    ignored("modem-quirks", ValueType::Int, FAX),
    data("init-chat", ValueType::Chat, None, |s, v| s.init_chat = text(v), |s| Some(s.init_chat.clone())),
    data("force-init-chat", ValueType::Chat, None, |s, v| s.force_init_chat = text(v), |s| Some(s.force_init_chat.clone())),
    data("post-init-chat", ValueType::Chat, None, |s, v| s.post_init_chat = Some(text(v)), |s| s.post_init_chat.clone()),
    ignored("data-flow", ValueType::Flow, UNUSED),
    ignored("fax-send-flow", ValueType::Flow, UNUSED),
    ignored("fax-rec-flow", ValueType::Flow, UNUSED),
    data("modem-check-time", ValueType::Int, None, |s, v| s.modem_check_time_s = int(&v), |s| Some(s.modem_check_time_s.to_string())),
    data("rings", ValueType::Int, U32, |s, v| s.rings = u32v(&v), |s| Some(s.rings.to_string())),
    data("msn-list", ValueType::Chat, None, |s, v| s.msn_list = Some(text(v)), |s| s.msn_list.clone()),
    data("get-cnd-chat", ValueType::Chat, None, |s, v| s.get_cnd_chat = Some(text(v)), |s| s.get_cnd_chat.clone()),
    data("cid-program", ValueType::Str, None, |s, v| s.cid_program = Some(text(v)), |s| s.cid_program.clone()),
    data("cnd-program", ValueType::Str, None, |s, v| s.cnd_program = Some(text(v)), |s| s.cnd_program.clone()),
    data("answer-chat", ValueType::Chat, None, |s, v| s.answer_chat = text(v), |s| Some(s.answer_chat.clone())),
    data("answer-chat-timeout", ValueType::Int, U64, |s, v| s.answer_chat_timeout_s = u64v(&v), |s| Some(s.answer_chat_timeout_s.to_string())),
    data("autobauding", ValueType::Bool, None, |s, v| s.autobauding = boolv(&v), |s| yn(s.autobauding)),
    data("ringback", ValueType::Bool, None, |s, v| s.ringback = boolv(&v), |s| yn(s.ringback)),
    data("ringback-time", ValueType::Int, U64, |s, v| s.ringback_time_s = u64v(&v), |s| Some(s.ringback_time_s.to_string())),
    data("ignore-carrier", ValueType::Bool, None, |s, v| s.ignore_carrier = boolv(&v), |s| yn(s.ignore_carrier)),
    data("issue-file", ValueType::Str, None, |s, v| s.issue_file = text(v), |s| Some(s.issue_file.clone())),
    data("prompt-waittime", ValueType::Int, U64, |s, v| s.prompt_waittime_ms = u64v(&v), |s| Some(s.prompt_waittime_ms.to_string())),
    data("login-prompt", ValueType::Str, None, |s, v| s.login_prompt = text(v), |s| Some(s.login_prompt.clone())),
    data("login-time", ValueType::Int, U64, |s, v| s.login_time_s = u64v(&v), |s| Some(s.login_time_s.to_string())),
    ignored("fido-send-emsi", ValueType::Bool, "FIDO builds only, rgetty has no FIDO support"),
    data("login-env-ttyprompt-hack", ValueType::Bool, None, |s, v| s.login_env_ttyprompt_hack = boolv(&v), |s| yn(s.login_env_ttyprompt_hack)),
    data("login-conf-file", ValueType::Str, None, |s, v| s.login_conf_file = text(v), |s| Some(s.login_conf_file.clone())),
    ignored("fax-id", ValueType::Str, FAX),
    ignored("fax-min-speed", ValueType::Int, FAX),
    ignored("fax-max-speed", ValueType::Int, FAX),
    ignored("fax-server-file", ValueType::Str, FAX),
    ignored("diskspace", ValueType::Int, FAX),
    ignored("notify", ValueType::Str, FAX),
    ignored("fax-owner", ValueType::Str, FAX),
    ignored("fax-group", ValueType::Str, FAX),
    ignored("fax-mode", ValueType::Int, FAX),
    ignored("fax-spool-in", ValueType::Str, FAX),
    data("debug", ValueType::Int, None, |s, v| s.debug = u8::try_from(int(&v).clamp(0, 9)).unwrap_or(9), |s| Some(s.debug.to_string())),
    data("statistics-chat", ValueType::Chat, None, |s, v| s.statistics_chat = Some(text(v)), |s| s.statistics_chat.clone()),
    data("statistics-file", ValueType::Str, None, |s, v| s.statistics_file = Some(text(v)), |s| s.statistics_file.clone()),
    ignored("gettydefs", ValueType::Str, "gettydefs not supported"),
    data("term", ValueType::Str, None, |s, v| s.term = Some(text(v)), |s| s.term.clone()),
    ignored("sms-handler", ValueType::Str, SMS),
    ignored("sms-handler-user", ValueType::Str, SMS),
    ignored("sms-handler-group", ValueType::Str, SMS),
    data(
        "ring-patterns",
        ValueType::Str,
        None,
        |s, v| {
            let t = text(v);
            s.ring_patterns = (!t.is_empty()).then(|| PathBuf::from(t));
        },
        |s| s.ring_patterns.as_ref().map(|p| p.display().to_string()),
    ),
    data(
        "ring-patterns-perms",
        ValueType::Perms,
        None,
        |s, v| {
            if let Value::Perms(p) = v {
                s.ring_patterns_perms = p;
            }
        },
        |s| {
            Some(match s.ring_patterns_perms {
                RingPatternsPerms::Refuse => "refuse".to_string(),
                RingPatternsPerms::Warn => "warn".to_string(),
            })
        },
    ),
    data("call-log", ValueType::Str, None, |s, v| s.call_log = Some(text(v)), |s| s.call_log.clone()),
    data("issue-escapes", ValueType::Str, None, |s, v| s.issue_escapes = text(v), |s| Some(s.issue_escapes.clone())),
    data("term-size", ValueType::Str, None, |s, v| s.term_size = text(v), |s| Some(s.term_size.clone())),
    data("block-list", ValueType::Str, None, |s, v| s.block_list = Some(text(v)).filter(|t| !t.is_empty()), |s| s.block_list.clone()),
];

fn find(keyword: &str) -> Option<&'static Keyword> {
    KEYWORDS.iter().find(|k| k.name == keyword)
}

/// True when `keyword` is an mgetty.config keyword (data or ignored).
pub fn is_keyword(keyword: &str) -> bool {
    find(keyword).is_some()
}

/// Every keyword rgetty accepts in mgetty.config, with `true` for those that are accepted and
/// ignored (fax, voice, SMS, FIDO, gettydefs, unused).
pub fn keywords() -> impl Iterator<Item = (&'static str, bool)> {
    KEYWORDS.iter().map(|k| (k.name, k.set.is_none()))
}

/// Check `value` against the keyword's type and range.
fn check_kind(kw: &Keyword, value: &str) -> Result<Value, String> {
    let name = kw.name;
    let v = match kw.kind {
        ValueType::Int => {
            let n = parse_int(value)
                .ok_or_else(|| format!("bad value {value:?} for {name:?}: not an integer"))?;
            if let Some((lo, hi)) = kw.range {
                if n < lo || n > hi {
                    return Err(format!(
                        "bad value {value:?} for {name:?}: out of range {lo}..{hi}"
                    ));
                }
            }
            Value::Int(n)
        }
        ValueType::Bool => Value::Bool(parse_bool(value)),
        ValueType::Str | ValueType::Chat => Value::Text(value.to_string()),
        ValueType::Flow => {
            parse_flow(value).ok_or_else(|| {
                format!(
                    "bad value {value:?} for {name:?}: expected rts, hard, xon, soft, both or none"
                )
            })?;
            Value::Ignored
        }
        ValueType::Perms => match value {
            "refuse" => Value::Perms(RingPatternsPerms::Refuse),
            "warn" => Value::Perms(RingPatternsPerms::Warn),
            _ => {
                return Err(format!(
                    "bad value {value:?} for {name:?}: expected refuse or warn"
                ));
            }
        },
    };
    Ok(if kw.set.is_none() { Value::Ignored } else { v })
}

// ---------------------------------------------------------------------------------------------
// Applying and checking whole files
// ---------------------------------------------------------------------------------------------

/// What [`apply_text`] / [`check_text`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Unknown keywords and bad values (the line was not applied; previous value kept).
    pub errors: Vec<ConfigError>,
    /// Keywords accepted but ignored (fax, voice, SMS, FIDO, gettydefs, unused), with where.
    pub ignored: Vec<(Location, String)>,
}

/// Apply the global section and every `port` section matching `device` (Device, i.e. the tty
/// name without `/dev/`), in file order, to `settings`; last assignment wins (§2.1).
///
/// Keywords in `overridden` (already set from the command line) are checked but not applied.
/// Lines inside non-matching sections are not looked at (as in mgetty); use [`check_text`] to
/// validate a whole file. `path` is used for messages only.
pub fn apply_text(
    text: &str,
    path: &Path,
    device: &str,
    settings: &mut Settings,
    overridden: &[&str],
) -> Parsed {
    let mut parsed = Parsed::default();
    let mut active = true;
    for l in read_lines(text) {
        if l.key == "port" {
            active = port_line(&l, path, &mut parsed) && port_matches(&l.value, device);
            continue;
        }
        if !active {
            continue;
        }
        if overridden.contains(&l.key.as_str()) {
            let mut scratch = settings.clone();
            one_line(&l, path, &mut scratch, &mut parsed);
        } else {
            one_line(&l, path, settings, &mut parsed);
        }
    }
    parsed
}

/// What [`merge`] produced: the settings (before [`Settings::sanitize`]) and every problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// Defaults < file < command line.
    pub settings: Settings,
    /// The file's errors and ignored keywords (empty without a file).
    pub file: Parsed,
    /// Command-line values that do not parse (`command line: …`); that flag was not applied.
    pub cli_errors: Vec<String>,
}

/// The settings of one line, the one way: `profile`'s defaults, then the lines of mgetty.config
/// (`text`, when there is a file) that apply to `device` in file order, then the command line's
/// `overrides` in order. A run of the getty and `rgetty --check` both call this.
pub fn merge(
    profile: Profile,
    text: Option<&str>,
    path: &Path,
    device: &str,
    overrides: &[(&str, String)],
) -> Merged {
    let mut settings = Settings::defaults(profile);
    let file = text
        .map(|t| apply_text(t, path, device, &mut settings, &[]))
        .unwrap_or_default();
    let mut cli_errors = Vec::new();
    for (keyword, value) in overrides {
        if let Err(e) = settings.set(keyword, value) {
            cli_errors.push(format!("command line: {e}"));
        }
    }
    Merged {
        settings,
        file,
        cli_errors,
    }
}

/// Validate every line of the file, in every section (for `rgetty --check`).
pub fn check_text(text: &str, path: &Path) -> Parsed {
    let mut parsed = Parsed::default();
    let mut scratch = Settings::defaults(Profile::Upstream);
    for l in read_lines(text) {
        if l.key == "port" {
            port_line(&l, path, &mut parsed);
        } else {
            one_line(&l, path, &mut scratch, &mut parsed);
        }
    }
    parsed
}

/// Check a `port` line; false (and an error) when the pattern is missing.
fn port_line(l: &ConfLine, path: &Path, parsed: &mut Parsed) -> bool {
    if l.value.is_empty() {
        parsed.errors.push(ConfigError::new(
            path,
            l.line,
            "\"port\" without a device pattern",
        ));
        return false;
    }
    true
}

fn one_line(l: &ConfLine, path: &Path, settings: &mut Settings, parsed: &mut Parsed) {
    match settings.set(&l.key, &l.value) {
        Ok(SetOutcome::Applied) => {
            if l.key == "speed" && !crate::proto::speed::is_valid(settings.speed) {
                parsed.errors.push(ConfigError::new(
                    path,
                    l.line,
                    format!("invalid port speed {:?}", l.value),
                ));
            }
        }
        Ok(SetOutcome::Ignored) => parsed.ignored.push((
            Location {
                path: path.to_path_buf(),
                line: l.line,
            },
            l.key.clone(),
        )),
        Err(msg) => parsed.errors.push(ConfigError::new(path, l.line, msg)),
    }
}

/// The value type of `keyword` (`None` for unknown words).
pub(crate) fn kind_of(keyword: &str) -> Option<ValueType> {
    find(keyword).map(|k| k.kind)
}

/// Why `keyword` is ignored (`None` for data keywords and unknown words): for the log note.
pub fn ignored_reason(keyword: &str) -> Option<&'static str> {
    find(keyword).filter(|k| k.set.is_none()).map(|k| k.why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p() -> &'static Path {
        Path::new("m.conf")
    }

    #[test]
    fn line_reader() {
        let text = "  speed   38400  \n# comment\n   # indented comment\n\ninit-chat \"\" AT\\\nZ OK\nlogin-prompt \"a:   b\"\t \nnoval\n#c \\\nswallowed 1\nx # not a comment\r\n";
        let lines = read_lines(text);
        let got: Vec<(usize, &str, &str)> = lines
            .iter()
            .map(|l| (l.line, l.key.as_str(), l.value.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "speed", "38400"),
                (5, "init-chat", "\"\" ATZ OK"),
                (7, "login-prompt", "\"a: b\""),
                (8, "noval", ""),
                (11, "x", "# not a comment"),
            ]
        );
        // a continuation open at EOF is returned without the comment check (fgetline)
        let lines = read_lines("#foo\\");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].key, "#foo");
        assert!(read_lines("").is_empty());
        assert!(read_lines("\\").is_empty());
    }

    #[test]
    fn booleans() {
        let table: &[(&str, bool)] = &[
            ("", true),
            ("y", true),
            ("Y", true),
            ("yes", true),
            ("t", true),
            ("T", true),
            ("true", true),
            ("on", true),
            ("onwards", true),
            ("\u{1}", true),
            ("1", false),
            ("On", false),
            ("ON", false),
            ("n", false),
            ("no", false),
            ("off", false),
            ("0", false),
            ("x", false),
            ("é", false),
        ];
        for (v, want) in table {
            assert_eq!(parse_bool(v), *want, "{v:?}");
        }
    }

    #[test]
    fn integers() {
        let table: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("38400", Some(38400)),
            ("0x10", Some(16)),
            ("0X1f", Some(31)),
            ("0x", Some(0)),
            ("0xg", Some(0)),
            ("010", Some(8)),
            ("0660", Some(0o660)),
            ("660", Some(660)),
            ("08", Some(0)),
            ("-1", Some(-1)),
            ("-0x10", Some(-16)),
            ("12abc", Some(12)),
            ("99999999999999999999999", Some(i64::MAX)),
            ("-99999999999999999999999", Some(i64::MIN)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("", None),
            ("-", None),
            ("+1", None),
            (" 1", None),
            ("x1", None),
            ("-x", None),
        ];
        for (v, want) in table {
            assert_eq!(parse_int(v), *want, "{v:?}");
        }
    }

    #[test]
    fn flows() {
        for (v, want) in [
            ("rts", Some(Flow::Hard)),
            ("rtscts", Some(Flow::Hard)),
            ("hardware", Some(Flow::Hard)),
            ("xon", Some(Flow::Soft)),
            ("soft", Some(Flow::Soft)),
            ("both", Some(Flow::Both)),
            ("none", Some(Flow::None)),
            ("bothx", None),
            ("RTS", None),
            ("", None),
        ] {
            assert_eq!(parse_flow(v), want, "{v:?}");
        }
    }

    #[test]
    fn port_patterns() {
        for (pat, dev, want) in [
            ("ttyS0", "ttyS0", true),
            ("ttyS?", "ttyS1", true),
            ("ttyS?", "ttyS", true),
            ("ttyS?", "ttyS10", false),
            ("pts/??", "pts/1", true),
            ("pts/??", "pts/12", true),
            ("pts/??", "pts/123", false),
            ("ttyS0", "ttyS1", false),
            ("ttyS0", "ttyS", false),
            ("tty", "ttyS0", false),
            ("", "ttyS0", false),
            ("????", "ab", true),
            ("ab", "a?", true),
        ] {
            assert_eq!(port_matches(pat, dev), want, "{pat:?} vs {dev:?}");
        }
    }

    #[test]
    fn profiles() {
        let u = Settings::defaults(Profile::Upstream);
        let d = Settings::defaults(Profile::Debian);
        assert_eq!(u.init_chat, r#""" \dATQ0V1H0 OK ATS0=0Q0&D3&C1 OK"#);
        assert_eq!(d.init_chat, r#""" \dATQ0V1H0 OK AT OK"#);
        assert_eq!(u.login_prompt, "@!login: ");
        assert_eq!(d.login_prompt, "@ login: ");
        assert_eq!(
            (u.port_owner.as_str(), u.port_group.as_deref()),
            ("uucp", Some("modem"))
        );
        assert_eq!(
            (d.port_owner.as_str(), d.port_group.as_deref()),
            ("root", Some("dialout"))
        );
        assert_eq!(u.port_mode, 0o660);
        assert_eq!(u.modem_check_time_s, 3600);
        assert_eq!(u.login_time_s, 240);
        assert_eq!(u.speed, 38400);
        assert!(u.force_init_chat.contains("\u{10}\u{3}"));
        assert_eq!("debian".parse::<Profile>(), Ok(Profile::Debian));
        assert_eq!("upstream".parse::<Profile>(), Ok(Profile::Upstream));
        assert!("Debian".parse::<Profile>().is_err());
        assert_eq!(
            Profile::Debian.resolve("login.config"),
            PathBuf::from("/etc/mgetty/login.config")
        );
        assert_eq!(Profile::Debian.resolve("/x/l.c"), PathBuf::from("/x/l.c"));
        assert_eq!(Profile::Upstream.dialin_config(), None);
    }

    #[test]
    fn values_and_quotes() {
        let mut s = Settings::defaults(Profile::Upstream);
        let text = "login-prompt \"a:   \"\nissue-file\nport-mode 0600\ndirect 1\nblocking t\ntoggle-dtr On\n";
        let r = apply_text(text, p(), "ttyS0", &mut s, &[]);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(s.login_prompt, "\"a: \"");
        assert_eq!(s.issue_file, "");
        assert_eq!(s.port_mode, 0o600);
        assert!(!s.direct);
        assert!(s.blocking);
        assert!(!s.toggle_dtr);
    }

    #[test]
    fn sections_last_wins() {
        let text = "debug 3\nport ttyS0\ndebug 5\nport ttyS?\ndebug 6\nspeeed 1\nport ttyS1\ndebug 7\nspeed x\n";
        let mut s = Settings::defaults(Profile::Upstream);
        let r = apply_text(text, p(), "ttyS0", &mut s, &[]);
        assert_eq!(s.debug, 6);
        assert_eq!(r.errors.len(), 1, "only the matching section is validated");
        assert_eq!(
            r.errors[0].to_string(),
            "m.conf:6: unknown keyword \"speeed\""
        );
        let mut s = Settings::defaults(Profile::Upstream);
        apply_text(text, p(), "ttyS2", &mut s, &[]);
        assert_eq!(s.debug, 6);
        let mut s = Settings::defaults(Profile::Upstream);
        apply_text(text, p(), "pts/1", &mut s, &[]);
        assert_eq!(s.debug, 3);
        // check_text sees the errors of every section
        let c = check_text(text, p());
        let msgs: Vec<String> = c.errors.iter().map(ToString::to_string).collect();
        assert_eq!(msgs.len(), 2);
        assert!(
            msgs[1].starts_with("m.conf:9: bad value \"x\" for \"speed\""),
            "{msgs:?}"
        );
    }

    #[test]
    fn bad_value_keeps_previous_and_overrides_skip() {
        let mut s = Settings::defaults(Profile::Upstream);
        s.set("debug", "9").unwrap();
        let text = "speed 19200\nspeed fast\ndebug 2\nrings -1\nrings 4\n";
        let r = apply_text(text, p(), "ttyS0", &mut s, &["debug"]);
        assert_eq!(s.speed, 19200);
        assert_eq!(s.debug, 9);
        assert_eq!(s.rings, 4);
        assert_eq!(r.errors.len(), 2);
        assert_eq!(r.errors[0].loc.line, 2);
        assert!(r.errors[0].msg.contains("\"fast\""));
        assert!(r.errors[1].msg.contains("\"-1\""));
    }

    #[test]
    fn merge_is_file_then_command_line() {
        let text = "speed 19200\nrings 2\nport ttyS0\n  rings 4\n  debug 3\n";
        let over = [("rings", "7".to_string()), ("speed", "fast".to_string())];
        let m = merge(Profile::Upstream, Some(text), p(), "ttyS0", &over);
        assert_eq!(
            (m.settings.speed, m.settings.rings, m.settings.debug),
            (19200, 7, 3)
        );
        assert_eq!(m.cli_errors.len(), 1);
        assert!(
            m.cli_errors[0].starts_with("command line: "),
            "{:?}",
            m.cli_errors
        );
        let m = merge(Profile::Upstream, None, p(), "ttyS0", &[]);
        assert_eq!(m.settings, Settings::defaults(Profile::Upstream));
    }

    #[test]
    fn ignored_keywords_are_notes() {
        let text = "switchbd 19200\nfax-id 49 89 12345\nfax-min-speed 0\nfax-max-speed 14400\n\
                    fax-server-file /x\ndiskspace 1024\nnotify root\nfax-owner root\nfax-group fax\n\
                    fax-mode 0660\nfax-spool-in /var/spool/fax\ndata-flow rts\nfax-send-flow xon\n\
                    fax-rec-flow both\nsms-handler /x\nsms-handler-user nobody\nsms-handler-group g\n\
                    modem-quirks 0x04\ngettydefs n\nfax-only y\nfido-send-emsi n\nfax-id\n";
        let mut s = Settings::defaults(Profile::Upstream);
        let before = s.clone();
        let r = apply_text(text, p(), "ttyS0", &mut s, &[]);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.ignored.len(), 22);
        assert_eq!(s, before);
        assert_eq!(r.ignored[1].1, "fax-id");
        assert_eq!(r.ignored[1].0.line, 2);
        // ignored keywords still get their type checked
        let r = check_text("data-flow sideways\nswitchbd fast\n", p());
        assert_eq!(r.errors.len(), 2);
        assert_eq!(ignored_reason("fax-id"), Some(FAX));
        assert_eq!(ignored_reason("speed"), None);
    }

    #[test]
    fn every_data_keyword_sets_its_field() {
        let d = Settings::defaults(Profile::Upstream);
        for (name, ign) in keywords() {
            let mut s = d.clone();
            let value = match find(name).map(|k| k.kind) {
                Some(ValueType::Int) => "0x2",
                Some(ValueType::Bool) => {
                    let now = d.describe().into_iter().find(|(k, _)| k == name);
                    if now.is_some_and(|(_, v)| v == "TRUE") {
                        "n"
                    } else {
                        "y"
                    }
                }
                Some(ValueType::Flow) => "rts",
                Some(ValueType::Perms) => "warn",
                _ => "some-value",
            };
            let out = s.set(name, value).unwrap();
            if ign {
                assert_eq!(out, SetOutcome::Ignored);
                assert_eq!(s, d, "{name}");
            } else {
                assert_eq!(out, SetOutcome::Applied);
                assert_ne!(s, d, "{name} did not change anything");
            }
        }
    }

    #[test]
    fn sanitize_fixes() {
        let mut s = Settings::defaults(Profile::Upstream);
        s.set("rings", "0").unwrap();
        s.set("ringback-time", "5").unwrap();
        s.set("modem-check-time", "60").unwrap();
        let notes = s.sanitize().unwrap();
        assert_eq!(notes.len(), 3);
        assert_eq!(
            (s.rings, s.ringback_time_s, s.modem_check_time_s),
            (1, 30, 900)
        );
        s.set("modem-check-time", "-1").unwrap();
        assert!(s.sanitize().unwrap().is_empty());
        assert_eq!(s.modem_check_time_s, -1);
        s.set("modem-check-time", "0").unwrap();
        s.sanitize().unwrap();
        assert_eq!(s.modem_check_time_s, 900);
        s.set("speed", "12345").unwrap();
        assert_eq!(s.sanitize(), Err("invalid port speed: 12345".to_string()));
        let r = check_text("speed 12345\n", p());
        assert_eq!(
            r.errors[0].to_string(),
            "m.conf:1: invalid port speed \"12345\""
        );
    }

    #[test]
    fn extensions() {
        let mut s = Settings::defaults(Profile::Upstream);
        let r = apply_text(
            "ring-patterns /etc/rgetty/rings.conf\nring-patterns-perms warn\nring-patterns-perms maybe\n",
            p(),
            "ttyS0",
            &mut s,
            &[],
        );
        assert_eq!(
            s.ring_patterns,
            Some(PathBuf::from("/etc/rgetty/rings.conf"))
        );
        assert_eq!(s.ring_patterns_perms, RingPatternsPerms::Warn);
        assert_eq!(r.errors.len(), 1);
        assert_eq!(
            Settings::defaults(Profile::Upstream).ring_patterns_perms,
            RingPatternsPerms::Refuse
        );
    }

    #[test]
    fn port_without_pattern() {
        let mut s = Settings::defaults(Profile::Upstream);
        let r = apply_text("port\ndebug 7\n", p(), "ttyS0", &mut s, &[]);
        assert_eq!(s.debug, 4);
        assert_eq!(r.errors.len(), 1);
    }

    #[test]
    fn describe_lists_every_keyword() {
        let d = Settings::defaults(Profile::Debian).describe();
        assert_eq!(d.len(), KEYWORDS.len());
        assert!(d.contains(&("speed".to_string(), "38400".to_string())));
        assert!(d.contains(&("port-mode".to_string(), "0660".to_string())));
        assert!(d.contains(&("fax-id".to_string(), "(ignored)".to_string())));
        assert!(d.contains(&("term".to_string(), "(empty)".to_string())));
    }

    #[test]
    fn sample_config_is_clean() {
        let text = include_str!("../../etc/mgetty.config");
        let r = check_text(text, Path::new("etc/mgetty.config"));
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        // every keyword appears in the sample
        for (name, _) in keywords() {
            assert!(text.contains(name), "sample lacks {name}");
        }
    }

    #[test]
    fn man_page_lists_every_keyword() {
        let man = include_str!("../../man/rgetty.config.5");
        for (name, _) in keywords() {
            let escaped = name.replace('-', "\\-");
            assert!(man.contains(&escaped), "man page lacks {name}");
        }
    }

    proptest! {
        #[test]
        fn reader_never_panics(text in "(?s).{0,400}") {
            let _ = read_lines(&text);
            let mut s = Settings::defaults(Profile::Upstream);
            let _ = apply_text(&text, Path::new("x"), "ttyS0", &mut s, &[]);
            let _ = check_text(&text, Path::new("x"));
        }

        #[test]
        fn apply_never_panics(text in "(?s)[ a-z0-9?#\\\\\"\n\t-]{0,400}", dev in "[a-z/0-9?]{0,8}") {
            let mut s = Settings::defaults(Profile::Upstream);
            let _ = apply_text(&text, Path::new("x"), &dev, &mut s, &["speed"]);
            let _ = check_text(&text, Path::new("x"));
            let _ = s.sanitize();
        }

        #[test]
        fn apply_keywords_never_panics(lines in proptest::collection::vec((0usize..64, "[ -~]{0,20}"), 0..20)) {
            let names: Vec<&str> = keywords().map(|(n, _)| n).collect();
            let text: String = lines.iter().map(|(i, v)| format!("{} {}\n", names[i % names.len()], v)).collect();
            let mut s = Settings::defaults(Profile::Debian);
            let _ = apply_text(&text, Path::new("x"), "ttyS0", &mut s, &[]);
        }

        #[test]
        fn int_round_trip(n in any::<i64>()) {
            prop_assert_eq!(parse_int(&n.to_string()), Some(n));
            if n >= 0 {
                prop_assert_eq!(parse_int(&format!("0x{n:x}")), Some(n));
                prop_assert_eq!(parse_int(&format!("0{n:o}")), Some(n));
            }
        }

        #[test]
        fn bool_rule(v in "[ -~]{0,6}") {
            let want = v.is_empty()
                || v.starts_with(['y', 'Y', 't', 'T'])
                || v.starts_with("on");
            prop_assert_eq!(parse_bool(&v), want);
        }

        #[test]
        fn normalized_has_no_runs(text in "[ \t a-z\"]{0,40}") {
            let n = normalize(&text);
            prop_assert!(!n.contains("  "));
            prop_assert!(!n.starts_with(' ') && !n.ends_with(' '));
        }
    }
}
