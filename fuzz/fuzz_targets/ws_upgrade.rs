//! WebSocket opening handshake: `websocket::upgrade`, `header` and `same_origin` on any
//! request head never panic; an accepted upgrade is a GET whose key and host are what
//! `header` finds; `accept_key` and `accept_response` take any key.
//!
//! Input: the request head (lossy UTF-8).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgetty::proto::websocket::{accept_key, accept_response, header, same_origin, upgrade};

fuzz_target!(|data: &[u8]| {
    let head = String::from_utf8_lossy(data);
    let host = header(&head, "Host");
    let origin = header(&head, "Origin");
    if let Some(h) = host {
        assert!(!h.starts_with([' ', '\t']) && !h.ends_with([' ', '\t']));
        let _ = same_origin(origin, h, data.len() % 2 == 0);
    }
    if let Ok(u) = upgrade(&head) {
        assert!(head.starts_with("GET "));
        assert_eq!(Some(&*u.key), header(&head, "Sec-WebSocket-Key"));
        assert_eq!(Some(&*u.host), host);
        assert_eq!(u.origin.as_deref(), origin);
        assert_eq!(accept_key(&u.key).len(), 28);
        assert!(accept_response(&u.key).ends_with("\r\n\r\n"));
    }
});
