//! Host name lookups through the C library (`/etc/hosts`, DNS, whatever nsswitch.conf says):
//! the verified name of a peer address, tcp-wrappers' way (`PARANOID`): the reverse lookup
//! (`getnameinfo` with `NI_NAMEREQD`) must give a name, and the forward lookup of that name
//! (`getaddrinfo`) must give the address back. Blocking: callers run these off the event
//! loop (`share::resolve`), or in `--check`.

use std::ffi::CStr;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// The address as IPv4 when it is an IPv4-mapped IPv6 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// The name the reverse lookup gives for `ip`, if any (`NI_NAMEREQD`: no numeric fallback).
pub fn reverse(ip: IpAddr) -> Option<String> {
    let sa: nix::sys::socket::SockaddrStorage = SocketAddr::new(canonical(ip), 0).into();
    let mut host = [0 as libc::c_char; libc::NI_MAXHOST as usize];
    // SAFETY: `sa` is a valid socket address of `sa.len()` bytes; `host` is a writable buffer
    // whose length is passed; no service buffer is asked for (null, length 0).
    let rc = unsafe {
        libc::getnameinfo(
            nix::sys::socket::SockaddrLike::as_ptr(&sa),
            nix::sys::socket::SockaddrLike::len(&sa),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: on success getnameinfo wrote a NUL-terminated string into `host`.
    let name = unsafe { CStr::from_ptr(host.as_ptr()) };
    name.to_str().ok().map(str::to_string)
}

/// The addresses `name` resolves to (empty when it does not).
pub fn forward(name: &str) -> Vec<IpAddr> {
    (name, 0)
        .to_socket_addrs()
        .map(|it| it.map(|a| canonical(a.ip())).collect())
        .unwrap_or_default()
}

/// The peer's verified host name: reverse-resolved, and the name's forward lookup includes
/// the address. `None` when either lookup fails, they disagree, or the "name" is an address.
pub fn verified_name(ip: IpAddr) -> Option<String> {
    let ip = canonical(ip);
    let name = reverse(ip)?;
    if name.parse::<IpAddr>().is_ok() {
        return None;
    }
    forward(&name).contains(&ip).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_localhost_both_ways() {
        // Every test machine maps 127.0.0.1 to localhost in /etc/hosts.
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(forward("localhost").contains(&ip));
        let name = verified_name(ip).expect("127.0.0.1 has a name");
        assert!(forward(&name).contains(&ip), "{name}");
        assert_eq!(
            verified_name("::ffff:127.0.0.1".parse().unwrap()),
            Some(name)
        );
    }

    #[test]
    fn unknown_names_resolve_to_nothing() {
        assert!(forward("no-such-host.invalid").is_empty());
    }
}
