//! rgetty-share: export a tty over TCP, connect to one, or run a virtual modem.

pub mod acl;
pub mod client;
pub mod conf;
pub mod modem;
pub mod server;
