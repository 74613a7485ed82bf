//! Differential: caller-ID screening with `rings 1` and `rings 2` against Debian's mgetty
//! 1.2.1 (issue 24). Caller ID comes after the first RING, as on a telephone line. With
//! `rings 1` both getties answer at the first RING, before the caller ID arrives, and screen
//! the caller as `none`: a dialin.config that refuses the number does not stop the call (hence
//! mgetty's advice, and `rgetty --check`'s warning, to use `rings 2` or more). With `rings 2`
//! both refuse it without answering.
//!
//! Skips (prints why, passes) when not root or without `unshare` / `/sbin/mgetty`.

use crate::diffutil;

use std::fs;

use diffutil::*;

fn cid() -> CallerId {
    CallerId {
        date: "1122".into(),
        time: "1951".into(),
        number: "5551234".into(),
        name: Some("JOHN DOE".into()),
    }
}

/// Whether the getty sent `ATA` for a call from 5551234 that dialin.config refuses.
fn answered(rings: u32) -> Option<(bool, bool)> {
    let config = format!(
        "{BASE_CONFIG}modem-type data\nfido-send-emsi n\ninit-chat \"\" ATZ OK\nrings {rings}\n"
    );
    let (m, r) = both(vmodem::Config::default, &config, |h| {
        fs::write(h.path("etc/dialin.config"), "!5551234\nall\n").unwrap();
        h.login_config("* - - /bin/false @\n");
        h.spawn_waiting(&[]);
        h.modem.ring(3, s(1.0), Some(cid()));
        std::thread::sleep(s(6.0));
        let ata = h.modem.commands().iter().any(|c| c == "ATA");
        (ata, h.explain())
    })?;
    eprintln!(
        "rings {rings}: mgetty answered: {}, rgetty answered: {}",
        m.0, r.0
    );
    assert_eq!(m.0, r.0, "mgetty:\n{}\nrgetty:\n{}", m.1, r.1);
    Some((m.0, r.0))
}

#[test]
fn rings_1_answers_before_the_caller_id_as_mgetty_does() {
    if let Some((m, _)) = answered(1) {
        assert!(m, "mgetty answered at the first RING");
    }
}

#[test]
fn rings_2_refuses_the_caller_as_mgetty_does() {
    if let Some((m, _)) = answered(2) {
        assert!(!m, "mgetty refused 5551234");
    }
}
