//! Control socket: `control::parse` (and the flat JSON reader under it, `json::parse_object`)
//! on any request line never panics; a parsed request's strings survive being written back
//! with `control::request` and parsed again; a string written with `json::push_str` reads back
//! unchanged; `control::reply` on the same line never panics.
//!
//! Input: a request line (lossy UTF-8, as the server reads it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgetty::ops::json;
use rgetty::share::control::{self, Command, CtlLine, Val};

/// The request line a client would send for `r` (None for the commands without a port).
fn rewrite(r: &Command) -> Option<String> {
    let s = |v: &str| Val::S(v.to_string());
    Some(match r {
        Command::List | Command::Subscribe => return None,
        Command::Show(p) => control::request("show", p, vec![]),
        Command::Kick(p, c) => {
            control::request("kick", p, c.iter().map(|c| ("client", s(c))).collect())
        }
        Command::Enable(p) => control::request("enable", p, vec![]),
        Command::Disable(p) => control::request("disable", p, vec![]),
        Command::SetControl(p, l, on) => control::request(
            "set-control",
            p,
            vec![
                ("line", s(if *l == CtlLine::Dtr { "dtr" } else { "rts" })),
                ("state", s(if *on { "on" } else { "off" })),
            ],
        ),
        Command::Break(p, ms) => {
            control::request("break", p, vec![("ms", Val::I(i64::try_from(*ms).ok()?))])
        }
        Command::Reset(p, n) => control::request("reset", p, vec![("name", s(n))]),
        Command::Attach(p, spy) => control::request(
            "attach",
            p,
            vec![("mode", s(if *spy { "spy" } else { "write" }))],
        ),
    })
}

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let _ = control::reply(&line);
    if let Ok(r) = control::parse(&line) {
        if let Some(again) = rewrite(&r) {
            assert_eq!(control::parse(&again), Ok(r), "{again}");
        }
    }
    let mut lit = String::new();
    json::push_str(&mut lit, &line);
    let o = json::parse_object(&format!("{{{lit}:{lit}}}")).expect("own output parses");
    assert_eq!(o.str(&line), Some(&*line));
});
