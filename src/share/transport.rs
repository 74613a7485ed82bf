//! The transport seam: one connection type for plain TCP, the socket inetd or systemd passed
//! in, and TLS (rustls), for either end. Telnet/RFC 2217 and the session logic sit above it and
//! see only [`Conn::read`], [`Conn::write`], [`Conn::flush`] and [`Conn::shutdown`].
//!
//! All sockets are non-blocking. TLS records that could not be sent yet stay inside rustls;
//! [`Conn::write`] then answers `WouldBlock` rather than taking more plaintext, so everything
//! buffered towards a peer is counted by the caller's own bounded queue.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::Arc;

use crate::share::conf::TlsFiles;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// Largest plaintext handed to rustls in one call.
const TLS_CHUNK: usize = 16 * 1024;

/// A connection: a non-blocking stream socket, optionally wrapped in TLS.
#[derive(Debug)]
pub struct Conn {
    sock: std::net::TcpStream,
    tls: Option<Box<rustls::Connection>>,
    /// Decrypted bytes rustls holds (readable without the socket being readable).
    plain_left: usize,
    /// The last socket read returned less than asked: the kernel buffer was empty.
    short: bool,
    /// The WebSocket layer above the stream (web console clients).
    ws: Option<Box<crate::share::wslayer::WsLayer>>,
}

/// A socket reader that notes whether a read came back short.
struct NoteShort<'a> {
    sock: &'a mut std::net::TcpStream,
    short: &'a mut bool,
}

impl Read for NoteShort<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(buf)?;
        *self.short = n < buf.len();
        Ok(n)
    }
}

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// Which end of TLS we are.
#[derive(Debug, Clone)]
pub enum TlsRole {
    /// The server side (serve).
    Server(Arc<rustls::ServerConfig>),
    /// The client side (connect), checking the server's name.
    Client(Arc<rustls::ClientConfig>, ServerName<'static>),
}

impl Conn {
    /// Wrap a socket (made non-blocking here), plain or with TLS.
    pub fn new(fd: OwnedFd, tls: Option<&TlsRole>) -> io::Result<Conn> {
        // SAFETY: `fd` is an owned, open descriptor; the stream takes over its ownership.
        let sock = unsafe { std::net::TcpStream::from_raw_fd(fd.into_raw_fd()) };
        sock.set_nonblocking(true)?;
        let _ = sock.set_nodelay(true);
        let tls = match tls {
            None => None,
            Some(TlsRole::Server(cfg)) => Some(Box::new(rustls::Connection::Server(
                rustls::ServerConnection::new(cfg.clone()).map_err(io::Error::other)?,
            ))),
            Some(TlsRole::Client(cfg, name)) => Some(Box::new(rustls::Connection::Client(
                rustls::ClientConnection::new(cfg.clone(), name.clone())
                    .map_err(io::Error::other)?,
            ))),
        };
        let mut c = Conn {
            sock,
            tls,
            plain_left: 0,
            short: false,
            ws: None,
        };
        // A client speaks first (ClientHello), whether or not it has data to send.
        c.flush()?;
        Ok(c)
    }

    /// The fd to register with the engine or poll.
    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// The peer's address (0.0.0.0:0 for a socket that has none, e.g. a Unix socket on stdin).
    pub fn peer(&self) -> SocketAddr {
        self.sock
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// True for a plain socket.
    pub fn is_plain(&self) -> bool {
        self.tls.is_none() && self.ws.is_none()
    }

    /// Speak WebSocket from now on, `head` (the upgrade's answer) first.
    pub fn into_websocket(mut self, head: &[u8]) -> Conn {
        self.ws = Some(Box::new(crate::share::wslayer::WsLayer::new(head)));
        self
    }

    /// A WebSocket client.
    pub fn is_websocket(&self) -> bool {
        self.ws.is_some()
    }

    /// Line-control requests a WebSocket client sent since the last call (none for others).
    pub fn take_events(&mut self) -> Vec<crate::proto::telnet::Event> {
        self.ws
            .as_mut()
            .map(|w| w.take_events())
            .unwrap_or_default()
    }

    /// Run `f` on the WebSocket layer with the connection below it.
    fn with_ws<T>(
        &mut self,
        f: impl FnOnce(&mut crate::share::wslayer::WsLayer, &mut Conn) -> io::Result<T>,
    ) -> Option<io::Result<T>> {
        let mut w = self.ws.take()?;
        let r = f(&mut w, self);
        self.ws = Some(w);
        Some(r)
    }

    /// After a [`Conn::read`] that returned less than asked: nothing more is waiting, neither
    /// in the kernel (that read's socket read came back short) nor inside TLS, so the kernel
    /// signals new data.
    pub fn drained(&self) -> bool {
        // A WebSocket read may stop at a frame boundary with more waiting: read on until
        // `WouldBlock`.
        self.ws.is_none() && self.tls.is_none() || (self.short && self.plain_left == 0)
    }

    /// Decrypted input is waiting inside TLS: read before waiting for the socket.
    pub fn has_buffered(&self) -> bool {
        self.plain_left > 0
    }

    /// Still in the TLS handshake.
    pub fn handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.is_handshaking())
    }

    /// Send the TLS records rustls holds (and the frames a WebSocket layer holds). `Ok(true)`
    /// when nothing is left.
    pub fn flush(&mut self) -> io::Result<bool> {
        if let Some(r) = self.with_ws(|w, c| w.flush(c)) {
            return Ok(self.flush_stream()? && r?);
        }
        self.flush_stream()
    }

    fn flush_stream(&mut self) -> io::Result<bool> {
        let Some(t) = self.tls.as_mut() else {
            return Ok(true);
        };
        while t.wants_write() {
            match t.write_tls(&mut self.sock) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Drive the TLS handshake as far as the socket allows. `Ok(true)` once it is done (at
    /// once for plain sockets).
    pub fn handshake(&mut self) -> io::Result<bool> {
        loop {
            self.flush()?;
            let Some(t) = self.tls.as_mut() else {
                return Ok(true);
            };
            if !t.is_handshaking() {
                return Ok(true);
            }
            if !self.read_records()? {
                return Ok(false);
            }
        }
    }

    /// Read TLS records and process them. `Ok(false)` when the socket had nothing.
    fn read_records(&mut self) -> io::Result<bool> {
        let Some(t) = self.tls.as_mut() else {
            return Ok(false);
        };
        let mut r = NoteShort {
            sock: &mut self.sock,
            short: &mut self.short,
        };
        match t.read_tls(&mut r) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(true),
            Err(e) => return Err(e),
        }
        match t.process_new_packets() {
            Ok(st) => self.plain_left = st.plaintext_bytes_to_read(),
            Err(e) => {
                // Tell the peer why (the alert), then give up.
                let _ = t.write_tls(&mut self.sock);
                return Err(io::Error::new(ErrorKind::InvalidData, e));
            }
        }
        self.flush_stream()?;
        Ok(true)
    }

    /// Read plaintext (a WebSocket client's data). `Ok(0)` is the end of the stream.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.with_ws(|w, c| w.read(c, buf)) {
            Some(r) => r,
            None => self.read_stream(buf),
        }
    }

    /// Read from the stream below the WebSocket layer.
    pub(crate) fn read_stream(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tls.is_none() {
            return self.sock.read(buf);
        }
        // `short` speaks for this call only: plaintext left from an earlier socket read says
        // nothing about what arrived since.
        self.short = false;
        loop {
            if let Some(t) = self.tls.as_mut() {
                match t.reader().read(buf) {
                    Ok(n) => {
                        self.plain_left = self.plain_left.saturating_sub(n);
                        return Ok(n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(e),
                }
            }
            match self.read_records() {
                Ok(true) => {}
                Ok(false) => return Err(ErrorKind::WouldBlock.into()),
                // The peer closed without close_notify: an end of stream all the same.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
        }
    }

    /// Write plaintext; `WouldBlock` while earlier TLS records (or a WebSocket frame) are
    /// still waiting.
    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.with_ws(|w, c| w.write(c, data)) {
            Some(r) => r,
            None => self.write_stream(data),
        }
    }

    /// Write to the stream below the WebSocket layer.
    pub(crate) fn write_stream(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.tls.is_none() {
            return self.sock.write(data);
        }
        if !self.flush_stream()? {
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = match self.tls.as_mut() {
            Some(t) => t.writer().write(&data[..data.len().min(TLS_CHUNK)])?,
            None => 0,
        };
        self.flush_stream()?;
        Ok(n)
    }

    /// Close: TLS close_notify (best effort), then shut the socket down both ways.
    pub fn shutdown(&mut self) {
        let _ = self.with_ws(|w, c| {
            w.close(crate::proto::websocket::CLOSE_AWAY, "");
            w.flush(c)
        });
        if let Some(t) = self.tls.as_mut() {
            t.send_close_notify();
            let _ = self.flush_stream();
        }
        let _ = self.sock.shutdown(Shutdown::Both);
    }
}

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
    let cfg = b
        .with_single_cert(load_certs(cert)?, load_key(key)?)
        .map_err(|e| tls_err(key, e))?;
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
