//! The TLS layer (rustls), for either end. Records that could not be sent yet stay inside
//! rustls; [`Layer::write`] then answers `WouldBlock` rather than taking more plaintext.

use std::io::{self, ErrorKind, Read, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;

use super::{Control, Layer, LayerArgs};

/// Largest plaintext handed to rustls in one call.
const TLS_CHUNK: usize = 16 * 1024;

/// Which end of TLS we are.
#[derive(Debug, Clone)]
pub enum TlsRole {
    /// The server side (serve).
    Server(Arc<rustls::ServerConfig>),
    /// The client side (connect), checking the server's name.
    Client(Arc<rustls::ClientConfig>, ServerName<'static>),
}

/// TLS over the layer below.
#[derive(Debug)]
pub struct Tls {
    below: Box<dyn Layer>,
    tls: Box<rustls::Connection>,
    /// Decrypted bytes rustls holds (readable without the fd being readable).
    plain_left: usize,
    /// The last read from below returned less than asked: the kernel buffer was empty.
    short: bool,
}

/// Reads from the layer below, noting whether a read came back short.
struct Down<'a> {
    below: &'a mut dyn Layer,
    short: &'a mut bool,
}

impl Read for Down<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut ev = Vec::new();
        let n = self.below.read(buf, &mut ev)?;
        *self.short = n < buf.len();
        Ok(n)
    }
}

impl Write for Down<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.below.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The `tls` entry of [`super::LAYERS`]: needs [`LayerArgs::tls`].
pub fn build(args: &LayerArgs<'_>, below: Box<dyn Layer>) -> io::Result<Box<dyn Layer>> {
    let tls = match args.tls {
        None => return Err(io::Error::other("tls layer without a TLS configuration")),
        Some(TlsRole::Server(cfg)) => rustls::Connection::Server(
            rustls::ServerConnection::new(cfg.clone()).map_err(io::Error::other)?,
        ),
        Some(TlsRole::Client(cfg, name)) => rustls::Connection::Client(
            rustls::ClientConnection::new(cfg.clone(), name.clone()).map_err(io::Error::other)?,
        ),
    };
    let mut t = Tls {
        below,
        tls: Box::new(tls),
        plain_left: 0,
        short: false,
    };
    // A client speaks first (ClientHello), whether or not it has data to send.
    t.flush()?;
    Ok(Box::new(t))
}

impl Tls {
    /// Read TLS records and process them. `Ok(false)` when the fd had nothing.
    fn read_records(&mut self) -> io::Result<bool> {
        let mut d = Down {
            below: self.below.as_mut(),
            short: &mut self.short,
        };
        match self.tls.read_tls(&mut d) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(true),
            Err(e) => return Err(e),
        }
        match self.tls.process_new_packets() {
            Ok(st) => self.plain_left = st.plaintext_bytes_to_read(),
            Err(e) => {
                // Tell the peer why (the alert), then give up.
                let mut d = Down {
                    below: self.below.as_mut(),
                    short: &mut self.short,
                };
                let _ = self.tls.write_tls(&mut d);
                return Err(io::Error::new(ErrorKind::InvalidData, e));
            }
        }
        self.flush()?;
        Ok(true)
    }
}

impl Layer for Tls {
    fn name(&self) -> &'static str {
        "tls"
    }

    fn below(&self) -> Option<&dyn Layer> {
        Some(self.below.as_ref())
    }

    fn below_mut(&mut self) -> Option<&mut dyn Layer> {
        Some(self.below.as_mut())
    }

    fn read(&mut self, buf: &mut [u8], _events: &mut Vec<Control>) -> io::Result<usize> {
        // `short` speaks for this call only: plaintext left from an earlier read says nothing
        // about what arrived since.
        self.short = false;
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => {
                    self.plain_left = self.plain_left.saturating_sub(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
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

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if !self.flush()? {
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = self
            .tls
            .writer()
            .write(&data[..data.len().min(TLS_CHUNK)])?;
        self.flush()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<bool> {
        while self.tls.wants_write() {
            let mut d = Down {
                below: self.below.as_mut(),
                short: &mut self.short,
            };
            match self.tls.write_tls(&mut d) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.below.flush()
    }

    fn drained(&self) -> bool {
        self.short && self.plain_left == 0
    }

    fn has_buffered(&self) -> bool {
        self.plain_left > 0
    }

    fn handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    fn handshake(&mut self) -> io::Result<bool> {
        loop {
            self.flush()?;
            if !self.tls.is_handshaking() {
                return Ok(true);
            }
            if !self.read_records()? {
                return Ok(false);
            }
        }
    }

    fn shutdown(&mut self) {
        self.tls.send_close_notify();
        let _ = self.flush();
        self.below.shutdown();
    }

    fn peer_certificate(&self) -> Option<Vec<u8>> {
        let certs = self.tls.peer_certificates()?;
        certs.first().map(|c| c.as_ref().to_vec())
    }
}
