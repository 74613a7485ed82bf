//! Issue file and prompt escapes: `issue::expand` and the renderers with fixed facts. Output
//! is capped, plain text is copied, and the facts' own text is never expanded again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgetty::proto::issue::{
    Facts, IssueSource, LocalTime, MAX_EXPANSION, expand, expand_with_status, render_file_lines,
    render_literal, render_prompt,
};

fn facts() -> Facts {
    Facts {
        nodename: "box".into(),
        sysname: "Linux".into(),
        machine: "x86_64".into(),
        release: "6.1.0-18-amd64".into(),
        version: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)".into(),
        device: "ttyS0".into(),
        // escapes inside facts must come out verbatim
        caller_id: "\\N@\\Y".into(),
        connect: "33600/ARQ/V34/LAPM/V42BIS".into(),
        users: 3,
        speed: 38400,
        now: LocalTime {
            year: 2026,
            month: 11,
            day: 22,
            hour: 19,
            minute: 51,
            second: 12,
            weekday: 0,
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let f = facts();
    assert_eq!(
        expand(b"\\Y", &f),
        f.caller_id.as_bytes(),
        "facts are not expanded again"
    );
    let e = expand_with_status(data, &f);
    assert!(e.bytes.len() <= MAX_EXPANSION);
    assert_eq!(expand(data, &f), e.bytes);
    // a NUL ends the text, as it ends mgetty's C string
    let plain = !data.iter().any(|b| matches!(b, b'\\' | b'@' | 0));
    if !e.truncated && plain {
        assert_eq!(e.bytes, data, "text without escapes is copied");
    }

    let lines = render_file_lines(data, &f);
    let newlines = data.iter().filter(|&&b| b == b'\n').count();
    assert!(lines.iter().filter(|&&b| b == b'\r').count() >= newlines);

    let text = String::from_utf8_lossy(data);
    assert!(render_literal(&text, &f).ends_with(b"\r\n"));
    assert!(render_prompt(&text, &f).starts_with(b"\r\n"));
    let _ = IssueSource::from_setting(&text);
});
