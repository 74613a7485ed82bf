//! mgetty.config: `check_text` over the whole file and `apply_text` for one port, then the
//! post-config fixes and the chat strings the settings carry.
//!
//! Input: the first byte picks the device and profile, the rest is the file text.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rgetty::config::mgetty::{Profile, Settings, apply_text, check_text};
use rgetty::proto::chat::parse_chat;

const DEVICES: [&str; 4] = ["ttyS0", "ttyS1", "pts/3", "ttyUSB0"];
const OVERRIDDEN: [&[&str]; 2] = [&[], &["speed", "debug", "init-chat"]];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let path = Path::new("/etc/mgetty/mgetty.config");
    let lines = text.split('\n').count();
    let line_ok = |line: usize| (1..=lines).contains(&line);

    let checked = check_text(&text, path);
    for e in &checked.errors {
        assert!(
            line_ok(e.loc.line),
            "error line {} of {lines}: {e}",
            e.loc.line
        );
        assert!(e.to_string().starts_with("/etc/mgetty/mgetty.config:"));
    }
    for (loc, _) in &checked.ignored {
        assert!(line_ok(loc.line));
    }

    let device = DEVICES[usize::from(sel) % DEVICES.len()];
    let profile = if sel & 0x80 == 0 {
        Profile::Upstream
    } else {
        Profile::Debian
    };
    let overridden = OVERRIDDEN[usize::from(sel >> 6) & 1];
    let mut settings = Settings::defaults(profile);
    let before = settings.clone();
    let applied = apply_text(&text, path, device, &mut settings, overridden);
    for e in &applied.errors {
        assert!(
            line_ok(e.loc.line),
            "error line {} of {lines}: {e}",
            e.loc.line
        );
    }
    // keywords set on the command line are never changed by the file
    if overridden.contains(&"speed") {
        assert_eq!(settings.speed, before.speed);
        assert_eq!(settings.init_chat, before.init_chat);
    }

    // the chat strings must parse (whatever they contain) and alternate expect/send
    for chat in [
        &settings.init_chat,
        &settings.answer_chat,
        &settings.force_init_chat,
    ]
    .into_iter()
    .chain(settings.post_init_chat.as_ref())
    .chain(settings.get_cnd_chat.as_ref())
    {
        let script = parse_chat(chat);
        for (i, step) in script.steps.iter().enumerate() {
            assert_eq!(
                i % 2 == 0,
                matches!(step, rgetty::proto::chat::Step::Expect(_))
            );
        }
    }

    let _ = settings.describe();
    if settings.sanitize().is_ok() {
        assert!(settings.rings >= 1);
        assert!(settings.ringback_time_s >= 30);
        assert!(!(0..900).contains(&settings.modem_check_time_s));
    }
});
