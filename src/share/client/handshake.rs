//! `connect`'s TLS handshake as part of the connection attempt: a handshake that fails or
//! stalls counts as a failed attempt (retries, back-off), and "connected" is logged only once
//! it is done. A certificate the client rejects, or a server rejecting ours, is said in words.

use std::io::{self, ErrorKind};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::share::stack::Conn;

/// Time allowed for the handshake of one attempt.
const HANDSHAKE_TIME: Duration = Duration::from_secs(10);

/// Drive the handshake of `sock` (nothing to do on a plain connection) until it is done,
/// fails, or [`HANDSHAKE_TIME`] passes.
pub(super) fn finish(sock: &mut Conn) -> io::Result<()> {
    let end = Instant::now() + HANDSHAKE_TIME;
    while !sock.handshake()? {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                ErrorKind::TimedOut,
                "TLS handshake not finished in 10 s",
            ));
        }
        // Short waits: the handshake may also be waiting to write.
        let ms = u16::try_from(left.as_millis().min(100)).unwrap_or(100);
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(sock),
            PollFlags::POLLIN,
        )];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A failed attempt in words; TLS certificate trouble says whose certificate and why.
pub(super) fn describe(e: &io::Error, server: &str) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    let Some(tls) = e.get_ref().and_then(|x| x.downcast_ref::<E>()) else {
        return e.to_string();
    };
    match tls {
        E::InvalidCertificate(c) => {
            let why = match c {
                C::UnknownIssuer => {
                    "issued by a CA that is not trusted (not in --tls-ca, or the system CA list)"
                        .to_string()
                }
                C::Expired | C::ExpiredContext { .. } => format!("expired ({c})"),
                C::NotValidYet | C::NotValidYetContext { .. } => format!("not valid yet ({c})"),
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    format!("not for this name ({c})")
                }
                C::BadSignature => "its signature does not verify".to_string(),
                other => other.to_string(),
            };
            format!("the server certificate of {server} is rejected: {why}")
        }
        E::AlertReceived(a @ (A::BadCertificate | A::CertificateRequired | A::UnknownCA)) => {
            format!("{server} rejected our client certificate (--tls-cert), or wants one: {a:?}")
        }
        E::NoCertificatesPresented => format!("{server} presented no certificate"),
        other => format!("TLS with {server}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_in_words() {
        let wrap = |e: rustls::Error| io::Error::new(ErrorKind::InvalidData, e);
        let d = describe(&wrap(rustls::CertificateError::UnknownIssuer.into()), "h:1");
        assert_eq!(
            d,
            "the server certificate of h:1 is rejected: issued by a CA that is not trusted \
             (not in --tls-ca, or the system CA list)"
        );
        let d = describe(&wrap(rustls::CertificateError::Expired.into()), "h:1");
        assert!(
            d.starts_with("the server certificate of h:1 is rejected: expired"),
            "{d}"
        );
        let d = describe(
            &wrap(rustls::Error::AlertReceived(
                rustls::AlertDescription::CertificateRequired,
            )),
            "h:1",
        );
        assert!(d.contains("rejected our client certificate"), "{d}");
        let plain = io::Error::new(ErrorKind::ConnectionRefused, "refused");
        assert_eq!(describe(&plain, "h:1"), "refused");
    }
}
