//! rgetty-share serve and connect from the outside: real clients (nc, telnet, socat,
//! openssl, pyserial, inetd) against the real binary on ptys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
#[path = "../share_util/mod.rs"]
mod share_util;
#[path = "../prom/mod.rs"]
mod prom;

mod serve;
mod engine;
mod conf_tls;
mod inetd;
mod modem_lines;
mod ops;
