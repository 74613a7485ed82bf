//! rgetty-share serve and connect from the outside: real clients (nc, telnet, socat,
//! openssl, pyserial, inetd) against the real binary on ptys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
#[path = "../prom/mod.rs"]
mod prom;
#[path = "../share_util/mod.rs"]
mod share_util;

mod attach;
mod check;
mod comport_reply;
mod conf_tls;
mod engine;
mod esp;
mod hosts;
mod inetd;
mod inetd_log;
mod lab;
mod labgrid;
mod line_alerts;
mod lines;
mod mdns;
mod modem_lines;
mod ops;
mod pyserial;
mod remserial;
mod replug;
mod ser2net;
mod serve;
mod stack;
mod web;
