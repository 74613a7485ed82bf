//! Host lists (`allow=`, `--allow`, Masqdialer's hostlist column): `share::acl::Acl::parse`,
//! `parse_addresses`, `allows`, `allows_name`, `loopback_only_rules`. A list the server takes
//! for loopback-only admits no other address, `any` admits every one, and an IPv4-mapped IPv6
//! peer is judged as its IPv4 address.
//!
//! Input: 16 bytes of peer address (the first 4 are also an IPv4 peer), then the list, one
//! entry per line.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use rgetty::share::acl::{Acl, Rule};

fuzz_target!(|data: &[u8]| {
    let Some((addr, text)) = data.split_first_chunk::<16>() else {
        return;
    };
    let text = String::from_utf8_lossy(text);
    let entries: Vec<&str> = text.lines().collect();
    let Ok(acl) = Acl::parse(&entries) else {
        return;
    };
    let v4 = Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]);
    let v6 = Ipv6Addr::from(*addr);
    for peer in [IpAddr::V4(v4), IpAddr::V6(v6)] {
        let allowed = acl.allows(peer);
        if acl.rules().iter().any(|r| matches!(r, Rule::Any)) {
            assert!(allowed, "any refused {peer}");
        }
        if acl.loopback_only_rules() && allowed {
            assert!(peer.is_loopback(), "a loopback-only list admitted {peer}");
        }
    }
    assert_eq!(
        acl.allows(IpAddr::V6(v4.to_ipv6_mapped())),
        acl.allows(IpAddr::V4(v4)),
        "a mapped peer is judged as its IPv4 address"
    );
    let name = String::from_utf8_lossy(&addr[..]);
    if acl.names().is_empty() {
        assert!(!acl.allows_name(&name));
    }
    let only_addresses = Acl::parse_addresses(&entries);
    assert_eq!(only_addresses.is_ok(), acl.names().is_empty());
});
