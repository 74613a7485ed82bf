//! The system layer in process: logging, exec, utmp and lock races through the library. These
//! install signal handlers and fork, so they run in a binary of their own, apart from the
//! tests that drive the real programs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod io;
mod lock_race;
