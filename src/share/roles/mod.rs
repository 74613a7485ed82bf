//! Console roles' bookkeeping: the replay ring buffer ([`Replay`]) and the per-port log of
//! device output and connection events ([`PortLog`]).
//!
//! Watchers and take-over are decided in the server (they pick a line); what they need from
//! here is [`Replay`] (recent output sent on attach) and [`PortLog`]. Both hang on the pump
//! through its `on_output` hook.

mod portlog;
mod replay;

pub use crate::sys::loglimit::{LogLimiter, log_limited};
pub use portlog::{PortLog, Stamper, escape_line, timestamp};
pub use replay::Replay;
