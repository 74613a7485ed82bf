//! agetty's issue dialect: `proto::agetty::expand`, `render_file`, `parse_os_release`,
//! `parse_cursor_report`, `parse_size`, `Dialect::from_setting`. Output is capped, text
//! without a backslash is copied, each line of a file ends in one CR LF, and sizes stay within
//! 1..=9999.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgetty::proto::agetty::{
    Dialect, Extra, expand, parse_cursor_report, parse_os_release, parse_size, render_file,
};
use rgetty::proto::issue::{Facts, MAX_EXPANSION};

fn extra() -> Extra {
    Extra {
        ipv4: vec![("eth0".into(), "192.0.2.7".into())],
        ipv6: vec![("eth0".into(), "2001:db8::7".into())],
        os_release: parse_os_release("PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nID=debian\n"),
    }
}

fn in_range(v: Option<(u16, u16)>) -> bool {
    v.is_none_or(|(r, c)| (1..=9999).contains(&r) && (1..=9999).contains(&c))
}

fuzz_target!(|data: &[u8]| {
    let f = Facts {
        nodename: "box".into(),
        device: "ttyS0".into(),
        ..Facts::default()
    };
    let x = extra();
    let line: Vec<u8> = data.iter().copied().filter(|&b| b != b'\n').collect();
    let out = expand(&line, &f, &x);
    assert!(out.len() <= MAX_EXPANSION);
    if !line.contains(&b'\\') && line.len() <= MAX_EXPANSION {
        assert_eq!(out, line, "text without escapes is copied");
    }
    let file = render_file(data, &f, &x);
    let lines = data.split_inclusive(|&b| b == b'\n').count();
    assert_eq!(
        file.windows(2).filter(|w| w == b"\r\n").count() >= lines,
        true
    );
    assert!(file.is_empty() || file.ends_with(b"\r\n"));

    let text = String::from_utf8_lossy(data);
    for (k, _) in parse_os_release(&text) {
        assert!(!k.is_empty() && !k.contains('='), "{k:?}");
    }
    assert!(in_range(parse_cursor_report(data)));
    assert!(in_range(parse_size(&text)));
    let _ = Dialect::from_setting(&text, data.first().is_some_and(|b| b & 1 == 1));
});
