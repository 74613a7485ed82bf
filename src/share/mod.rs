//! rgetty-share: export ttys over TCP (raw or RFC 2217), connect to such a port as a virtual
//! serial port or a device bridge, or run a virtual modem.
//!
//! - [`server`]: the `serve` event loop (one `poll` loop for all ports);
//! - [`client`]: `connect`, the virtual COM port (pty) and the device bridge;
//! - [`conf`]: the config file (one line per port, Masqdialer style);
//! - [`acl`]: host allow lists;
//! - [`modem`]: the virtual Hayes modem (another module's owner).

pub mod acl;
pub mod client;
pub mod conf;
pub mod lockshim;
pub mod modem;
pub mod server;
