//! login.config: `Table::parse`, then `lookup`/`dispatch` and `argv` for a typed name and for
//! AutoPPP.
//!
//! Input: the first line is the login name, the rest is the file text.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rgetty::config::login::{LoginName, MAX_ARGS, Table, pattern_matches};
use rgetty::proto::sanitize::argv_value;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (name, file) = text.split_once('\n').unwrap_or(("", &text));
    let path = Path::new("/etc/mgetty/login.config");
    let (table, errors) = Table::parse(file, path);
    let lines = file.split('\n').count();
    for e in &errors {
        assert!((1..=lines).contains(&e.loc.line), "{e}");
    }
    for e in &table.entries {
        assert!(e.args.len() <= MAX_ARGS);
        assert!((1..=lines).contains(&e.loc.line));
    }

    for login in [LoginName::Typed(name), LoginName::AutoPpp] {
        for callback in [false, true] {
            let hit = table.lookup(&login, callback);
            if let Some(entry) = hit {
                assert!(entry.matches(&login));
                assert!(pattern_matches(&entry.pattern, &login));
            }
            let entry = table.dispatch(&login, callback);
            let argv = entry.argv(login.as_str(), "", "none");
            assert!(!argv.is_empty() && argv.len() <= MAX_ARGS + 1);
            // the login name is always one argument, never split or merged (sanitised as every
            // caller-controlled argument is: control characters as `?`, no leading `-`)
            let name_args = entry.args.iter().filter(|a| *a == "@").count();
            if !login.as_str().is_empty() {
                let arg = argv_value(login.as_str());
                assert!(argv.iter().skip(1).filter(|a| **a == arg).count() >= name_args);
            }
            let _ = entry.utmp_user(login.as_str());
        }
    }
    // a typed "/AutoPPP/" never selects the AutoPPP line
    if let Some(e) = table.lookup(&LoginName::Typed("/AutoPPP/"), false) {
        assert_ne!(e.pattern, "/AutoPPP/");
    }
});
