//! Caller ID: `CallInfo::feed_line` on every input line and `RingReader` (both NMBR rules) on
//! the byte stream. Every stored value must be sanitised (no quotes, printable ASCII only),
//! because it ends up between single quotes in a shell command line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgetty::proto::callerid::{CallInfo, NmbrRule, RING_LINE_MAX, RingReader, classify};

fn clean(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'\'' && b != b'"')
}

fn check(info: &CallInfo) {
    for v in [
        &info.caller_id,
        &info.call_name,
        &info.call_date,
        &info.call_time,
        &info.called_nr,
        &info.connect,
        &info.carrier,
        &info.protocol,
        &info.msg1,
        &info.msg2,
    ] {
        assert!(clean(v), "unsanitised value {v:?} in {info:?}");
    }
    for (_, v) in info.env() {
        assert!(clean(&v));
    }
    let cmd = info.program_command("/usr/local/bin/cid", "ttyS0", 1, "/dev/console");
    assert_eq!(cmd.matches('\'').count(), 6, "{cmd:?}");
}

fuzz_target!(|data: &[u8]| {
    let msns = vec!["123".to_string(), "4567".to_string(), String::new()];

    let mut info = CallInfo::default();
    for line in data.split(|&b| b == b'\n') {
        info.feed_line(line);
        check(&info);
        let mut other = CallInfo::default();
        let _ = classify(line, &mut other, &msns);
        check(&other);
    }
    info.decode_rockwell_mesg();
    check(&info);
    info.jail_reset();
    assert_eq!(info.caller_id, "none");

    for rule in [NmbrRule::Upstream, NmbrRule::Debian] {
        let mut reader = RingReader::new(rule);
        let mut info = CallInfo::default();
        for &b in data {
            let _ = reader.feed(b, &mut info, &msns);
            assert!(reader.partial_line().len() <= RING_LINE_MAX);
            check(&info);
        }
        reader.new_call();
        assert!(reader.partial_line().is_empty());
    }
});
