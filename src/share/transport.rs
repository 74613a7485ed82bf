//! TLS configuration (certificates, keys, CAs) for the `tls` layer of a connection stack;
//! the connection type itself, [`Conn`], is a stack of layers (see [`crate::share::stack`]).

use std::path::Path;
use std::sync::Arc;

use crate::share::conf::TlsFiles;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

pub use crate::share::stack::{Conn, TlsRole};

/// A TLS configuration problem, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {msg}")]
pub struct TlsError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub msg: String,
}

fn tls_err(path: &Path, msg: impl ToString) -> TlsError {
    TlsError {
        path: path.display().to_string(),
        msg: msg.to_string(),
    }
}

/// A PEM reading error; an I/O error reads like `No such file or directory`.
fn pem_err(path: &Path, e: rustls::pki_types::pem::Error) -> TlsError {
    match e {
        rustls::pki_types::pem::Error::Io(io) => {
            let text = io.to_string();
            let text = text.split(" (os error").next().unwrap_or_default();
            tls_err(path, text)
        }
        e => tls_err(path, e),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let v: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(path, e))?;
    if v.is_empty() {
        return Err(tls_err(path, "no certificate in the file"));
    }
    Ok(v)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_err(path, e))
}

fn roots(path: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let mut r = rustls::RootCertStore::empty();
    for c in load_certs(path)? {
        r.add(c).map_err(|e| tls_err(path, e))?;
    }
    Ok(r)
}

/// The server side: certificate chain and key, and (optionally) the CA that client
/// certificates must chain to; with it, clients without a valid certificate fail the handshake.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let b = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(cert, e))?;
    let b = match client_ca {
        Some(ca) => {
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(ca)?),
                provider(),
            )
            .build()
            .map_err(|e| tls_err(ca, e))?;
            b.with_client_cert_verifier(v)
        }
        None => b.with_no_client_auth(),
    };
    let mut cfg = b
        .with_single_cert(load_certs(cert)?, load_key(key)?)
        .map_err(|e| tls_err(key, e))?;
    // No TLS 1.3 session tickets: a console connection lives long and resumes nothing, and a
    // ticket arriving after the handshake races a client that reads in one thread while it
    // writes in another (Python's `websockets` sync client with OpenSSL: its request was
    // lost now and then: CI failed on it once).
    cfg.send_tls13_tickets = 0;
    Ok(Arc::new(cfg))
}

/// [`server_config`] for a port's files; an error also names where the file was given:
/// `FILE:LINE: tls-cert /x.pem: No such file or directory`, or `--tls-cert /x.pem: ...`.
pub fn server_config_for(f: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    server_config(&f.cert, &f.key, f.client_ca.as_deref()).map_err(|e| TlsError {
        path: format!("{} {}", f.source_of(Path::new(&e.path)), e.path),
        msg: e.msg,
    })
}

/// The system's CA bundle (Debian's path), used by `connect --tls` without `--tls-ca`.
pub const SYSTEM_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The client side: the CA bundle to check the server against, and an optional client
/// certificate and key.
pub fn client_config(
    ca: &Path,
    cert_key: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let b = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(ca, e))?
        .with_root_certificates(roots(ca)?);
    let cfg = match cert_key {
        Some((c, k)) => b
            .with_client_auth_cert(load_certs(c)?, load_key(k)?)
            .map_err(|e| tls_err(k, e))?,
        None => b.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}

/// The name to check the server's certificate against, from `HOST:PORT`.
pub fn server_name(server: &str) -> Option<ServerName<'static>> {
    let host = match server.rsplit_once(':') {
        Some((h, _)) => h,
        None => server,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_host_port() {
        assert!(matches!(
            server_name("127.0.0.1:5"),
            Some(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("[::1]:5"),
            Some(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("host.example:5"),
            Some(ServerName::DnsName(_))
        ));
    }

    #[test]
    fn missing_files_are_named() {
        let e = load_certs(Path::new("/nonexistent/c.pem")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/c.pem: No such file or directory"
        );
        let f = crate::share::conf::tls_files(
            Some("/nonexistent/c.pem".into()),
            Some("/k".into()),
            None,
        )
        .unwrap()
        .unwrap();
        let e = server_config_for(&f).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--tls-cert /nonexistent/c.pem: No such file or directory"
        );
    }

    #[test]
    fn a_file_without_a_certificate_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("c.pem");
        std::fs::write(&p, "not a certificate\n").unwrap();
        let e = load_certs(&p).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: no certificate in the file", p.display())
        );
    }
}
