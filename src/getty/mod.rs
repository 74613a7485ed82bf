//! The getty run loop (I/O shell around [`state`]).

pub mod state;
