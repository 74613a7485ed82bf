//! The getty run loop (I/O shell around [`state`]).

pub mod chatio;
pub mod cli;
pub mod line;
pub mod state;
pub mod run;

pub use run::{main_with, run};
