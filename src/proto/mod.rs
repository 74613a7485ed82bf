//! Pure protocol parsers and formats: no I/O, no clock, no file descriptors. Each is
//! unit-tested and fuzzed (`fuzz/`).
//!
//! - [`agetty`]: agetty's issue escapes, os-release and terminal-size replies;
//! - [`at`]: the Hayes AT command interpreter of the virtual modem;
//! - [`callerid`]: caller-ID lines in every format a modem sends, and ring classification;
//! - [`chat`]: mgetty's chat scripts (expect/send);
//! - [`hdlc`]: PPP's async HDLC framing;
//! - [`issue`]: issue-file escapes;
//! - [`lcp`]: PPP LCP frame detection (AutoPPP);
//! - [`logname`]: the login-name reader;
//! - [`ring`]: xringd-style ring cadence rules and their matcher;
//! - [`sanitize`]: printable text from bytes a peer sent;
//! - [`speed`]: baud rates;
//! - [`stty`]: stty words (`9600 raw -crtscts`);
//! - [`telnet`]: the telnet and RFC 2217 codec.

pub mod agetty;
pub mod at;
pub mod callerid;
pub mod chat;
pub mod hdlc;
pub mod issue;
pub mod lcp;
pub mod logname;
pub mod ring;
pub mod sanitize;
pub mod speed;
pub mod stty;
pub mod telnet;
