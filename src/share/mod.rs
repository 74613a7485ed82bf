//! rgetty-share: export a tty over TCP, connect to one, or run a virtual modem.

pub mod modem;
