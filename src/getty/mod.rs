//! The getty run loop (I/O shell around [`state`]).

pub mod chatio;
pub mod cli;
pub mod line;
pub mod run;
pub mod state;

pub use run::{main_with, run};
