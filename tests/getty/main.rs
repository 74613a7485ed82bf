//! rgetty (the getty) from the outside: the real binary on ptys, with the virtual modem or
//! a scripted DTE, against Debian's mgetty where behaviour is compared.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
#[path = "../diffutil/mod.rs"]
mod diffutil;
#[path = "../prom/mod.rs"]
mod prom;

mod agetty;
mod call;
mod differential;
mod direct;
mod e2e;
mod faults;
mod firsthour;
mod getty;
mod lock_interop;
mod ncid;
mod newcomer;
mod ops;
mod ring;
mod screening;
mod single;
mod waiter;
