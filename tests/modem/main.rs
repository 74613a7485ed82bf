//! The virtual Hayes modem (`rgetty-share modem`) from the outside: AT commands on its pty,
//! calls over TCP, with rgetty and with the share server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod getty;
mod line;
mod share;
