//! The control socket's protocol (pure): JSON lines, one request and one reply each.
//!
//! A request is a flat JSON object with `"cmd"` and its arguments:
//!
//! ```text
//! {"cmd":"list"}
//! {"cmd":"show","port":"127.0.0.1:7000"}
//! {"cmd":"kick","port":"7000","client":"127.0.0.1:40112"}      (client optional: all)
//! {"cmd":"enable","port":"7000"}   {"cmd":"disable","port":"7000"}
//! {"cmd":"set-control","port":"7000","line":"dtr","state":"off"}
//! {"cmd":"break","port":"7000","ms":250}
//! {"cmd":"reset","port":"7000","name":"esp"}
//! {"cmd":"subscribe"}
//! {"cmd":"attach","port":"7000","mode":"write"}                (or "spy")
//! ```
//!
//! A port is named by its listen address or, when that is unambiguous, its port number. A
//! reply is one object with `"ok":true` and the command's fields, or `"ok":false` and
//! `"error"`. After `subscribe`, events follow as objects with `"event"` (`connect`,
//! `disconnect`, `device-gone`, `device-back`, `alert`), `"port"` and the event's fields.
//! After a successful `attach` the connection stops being line-based: the reply line is
//! followed by the port's raw bytes both ways, as for a TCP client of a raw port.

use crate::ops::json;

/// Longest request line accepted.
pub const MAX_REQUEST: usize = 4096;
/// Longest BREAK a request may ask for.
pub const MAX_BREAK_MS: u64 = 10_000;

/// A modem control line the server may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtlLine {
    /// Data Terminal Ready.
    Dtr,
    /// Request To Send.
    Rts,
}

/// One parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Every port, one line each.
    List,
    /// One port with its clients.
    Show(String),
    /// Drop one client (by address) or all of a port's clients.
    Kick(String, Option<String>),
    /// Take new clients again.
    Enable(String),
    /// Refuse new clients and drop the connected ones.
    Disable(String),
    /// Set DTR or RTS of the open device.
    SetControl(String, CtlLine, bool),
    /// A BREAK of this many milliseconds.
    Break(String, u64),
    /// Run a named reset sequence.
    Reset(String, String),
    /// Stream events on this connection.
    Subscribe,
    /// Become a client of the port on this connection: a watcher (`true`, `"spy"`) or a
    /// writer (`false`, `"write"`).
    Attach(String, bool),
}

/// Parse one request line; the error is the text of the `"error"` reply.
pub fn parse(line: &str) -> Result<Command, String> {
    let o = json::parse_object(line.trim()).map_err(|e| format!("bad request: {e}"))?;
    let cmd = o.str("cmd").ok_or("no \"cmd\"")?;
    let port = || {
        o.str("port")
            .map(str::to_string)
            .ok_or_else(|| format!("{cmd} needs \"port\""))
    };
    Ok(match cmd {
        "list" => Command::List,
        "show" => Command::Show(port()?),
        "kick" => Command::Kick(port()?, o.str("client").map(str::to_string)),
        "enable" => Command::Enable(port()?),
        "disable" => Command::Disable(port()?),
        "set-control" => {
            let line = match o.str("line") {
                Some("dtr") => CtlLine::Dtr,
                Some("rts") => CtlLine::Rts,
                _ => return Err("\"line\" must be \"dtr\" or \"rts\"".into()),
            };
            let on = match o.str("state") {
                Some("on") => true,
                Some("off") => false,
                _ => return Err("\"state\" must be \"on\" or \"off\"".into()),
            };
            Command::SetControl(port()?, line, on)
        }
        "break" => {
            let ms = o
                .int("ms")
                .and_then(|m| u64::try_from(m).ok())
                .filter(|m| (1..=MAX_BREAK_MS).contains(m))
                .ok_or_else(|| format!("\"ms\" must be 1..{MAX_BREAK_MS}"))?;
            Command::Break(port()?, ms)
        }
        "reset" => Command::Reset(
            port()?,
            o.str("name").ok_or("reset needs \"name\"")?.to_string(),
        ),
        "subscribe" => Command::Subscribe,
        "attach" => {
            let spy = match o.str("mode") {
                Some("write") => false,
                Some("spy") => true,
                _ => return Err("\"mode\" must be \"write\" or \"spy\"".into()),
            };
            Command::Attach(port()?, spy)
        }
        other => return Err(format!("unknown cmd {:?}", other)),
    })
}

/// A field value of a reply or event.
#[derive(Debug, Clone)]
pub enum Val {
    /// A string.
    S(String),
    /// An integer.
    I(i64),
    /// A boolean.
    B(bool),
    /// Already encoded JSON (an array or object).
    Raw(String),
}

/// One JSON object from fields, in order.
pub fn object(fields: &[(&str, Val)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::push_str(&mut out, k);
        out.push(':');
        match v {
            Val::S(s) => json::push_str(&mut out, s),
            Val::I(n) => out.push_str(&n.to_string()),
            Val::B(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Raw(r) => out.push_str(r),
        }
    }
    out.push('}');
    out
}

/// A JSON array of already encoded items.
pub fn array(items: &[String]) -> String {
    format!("[{}]", items.join(","))
}

/// A success reply line with these fields after `"ok":true`.
pub fn ok(fields: Vec<(&str, Val)>) -> String {
    let mut all = vec![("ok", Val::B(true))];
    all.extend(fields);
    object(&all) + "\n"
}

/// A failure reply line.
pub fn error(msg: &str) -> String {
    object(&[("ok", Val::B(false)), ("error", Val::S(msg.to_string()))]) + "\n"
}

/// An event line: `"event"`, `"port"`, then these fields.
pub fn event(kind: &str, port: &str, fields: Vec<(&str, Val)>) -> String {
    let mut all = vec![
        ("event", Val::S(kind.to_string())),
        ("port", Val::S(port.to_string())),
    ];
    all.extend(fields);
    object(&all) + "\n"
}

/// A request line (no newline) for `cmd` on `port`, with more fields: what a client sends.
pub fn request(cmd: &str, port: &str, fields: Vec<(&str, Val)>) -> String {
    let mut all = vec![("cmd", Val::S(cmd.into())), ("port", Val::S(port.into()))];
    all.extend(fields);
    object(&all)
}

/// A reply line as a client reads it: its fields when `"ok":true`, else the error text.
pub fn reply(line: &str) -> Result<json::Obj, String> {
    let line = line.trim();
    let o = json::parse_object(line).map_err(|e| {
        let head: String = line.chars().take(200).collect();
        format!("bad reply ({e}): {head:?}")
    })?;
    if o.get("ok") == Some(&json::Value::Bool(true)) {
        return Ok(o);
    }
    Err(o.str("error").unwrap_or("refused").to_string())
}

/// The name a client attached through the control socket goes by (in `show`, `kick`, the
/// log and the port log): the peer's credentials, which no TCP address looks like.
pub fn attached_name(uid: u32, pid: i32) -> String {
    format!("control:uid={uid}:pid={pid}")
}

/// Whether `name` (a listen address, or a port number) names the port listening on `addr`.
pub fn names_port(name: &str, addr: &str) -> bool {
    name == addr || addr.rsplit_once(':').is_some_and(|(_, p)| p == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        assert_eq!(parse(r#"{"cmd":"list"}"#), Ok(Command::List));
        assert_eq!(
            parse(r#"{"cmd":"kick","port":"7000"}"#),
            Ok(Command::Kick("7000".into(), None))
        );
        assert_eq!(
            parse(r#"{"cmd":"set-control","port":"p","line":"rts","state":"on"}"#),
            Ok(Command::SetControl("p".into(), CtlLine::Rts, true))
        );
        assert_eq!(
            parse(r#"{"cmd":"break","port":"p","ms":250}"#),
            Ok(Command::Break("p".into(), 250))
        );
        assert!(parse(r#"{"cmd":"break","port":"p","ms":0}"#).is_err());
        assert!(parse(r#"{"cmd":"show"}"#).unwrap_err().contains("port"));
        assert!(
            parse(r#"{"cmd":"rm -rf"}"#)
                .unwrap_err()
                .contains("unknown")
        );
        assert!(parse("list").is_err());
        assert_eq!(
            parse(r#"{"cmd":"attach","port":"7000","mode":"spy"}"#),
            Ok(Command::Attach("7000".into(), true))
        );
        assert_eq!(
            parse(&request(
                "attach",
                "p\"",
                vec![("mode", Val::S("write".into()))]
            )),
            Ok(Command::Attach("p\"".into(), false))
        );
        let e = parse(r#"{"cmd":"attach","port":"7000"}"#).unwrap_err();
        assert!(e.contains("mode"), "{e}");
        assert!(parse(r#"{"cmd":"attach","mode":"spy"}"#).is_err());
    }

    #[test]
    fn replies_are_json_lines() {
        let r = ok(vec![("n", Val::I(2)), ("s", Val::S("a\"\n".into()))]);
        assert_eq!(r, "{\"ok\":true,\"n\":2,\"s\":\"a\\\"\\n\"}\n");
        assert_eq!(error("x"), "{\"ok\":false,\"error\":\"x\"}\n");
        assert!(names_port("7000", "127.0.0.1:7000"));
        assert!(names_port("[::1]:7000", "[::1]:7000"));
        assert!(!names_port("700", "127.0.0.1:7000"));
        let ok = reply("{\"ok\":true,\"client\":\"control:uid=0:pid=1\"}\n").unwrap();
        assert_eq!(ok.str("client"), Some("control:uid=0:pid=1"));
        assert_eq!(reply(&error("port disabled")).unwrap_err(), "port disabled");
        assert!(reply("").unwrap_err().contains("bad reply"));
    }
}
