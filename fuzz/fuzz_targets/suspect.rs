//! `--check`'s warnings for legal but suspect mgetty.config values
//! (`config::suspect::warnings`): each names the file and a line that exists, in line order.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rgetty::config::suspect::warnings;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count();
    let mut last = 0;
    for w in warnings(&text, Path::new("m.config")) {
        let rest = w.strip_prefix("m.config:").expect("the file is named");
        let (n, _) = rest.split_once(':').expect("file:line:");
        let n: usize = n.parse().expect("a line number");
        assert!((1..=lines).contains(&n), "{w:?} outside 1..={lines}");
        assert!(n >= last, "warnings out of line order: {w:?}");
        last = n;
    }
});
