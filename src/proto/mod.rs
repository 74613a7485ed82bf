//! Pure protocol parsers and formats: no I/O, no clock, no file descriptors. Each is
//! unit-tested and fuzzed (`fuzz/`).
//!
//! - [`agetty`]: agetty's issue escapes, os-release and terminal-size replies;
//! - [`at`]: the Hayes AT command interpreter of the virtual modem;
//! - [`callerid`]: caller-ID lines in every format a modem sends, and ring classification;
//! - [`certname`]: the subject common name of an X.509 certificate (web console logins);
//! - [`chat`]: mgetty's chat scripts (expect/send);
//! - [`escape`]: `rgetty-share console`'s escapes (`~.` and the like, at line start);
//! - [`hdlc`]: PPP's async HDLC framing;
//! - [`issue`]: issue-file escapes;
//! - [`lcp`]: PPP LCP frame detection (AutoPPP);
//! - [`logname`]: the login-name reader;
//! - [`reset_seq`]: named DTR/RTS reset sequences (`dtr=0 rts=1; 100ms; ...`);
//! - [`ring`]: xringd-style ring cadence rules and their matcher;
//! - [`sanitize`]: printable text from bytes a peer sent;
//! - [`speed`]: baud rates;
//! - [`stty`]: stty words (`9600 raw -crtscts`);
//! - [`telnet`]: the telnet and RFC 2217 codec;
//! - [`websocket`]: the RFC 6455 WebSocket handshake and frame codec (server side).

pub mod agetty;
pub mod at;
pub mod callerid;
pub mod certname;
pub mod chat;
pub mod escape;
pub mod esp_reset;
pub mod hdlc;
pub mod issue;
pub mod lcp;
pub mod logname;
pub mod reset_seq;
pub mod ring;
pub mod rs485;
pub mod sanitize;
pub mod speed;
pub mod stty;
pub mod telnet;
pub mod websocket;
