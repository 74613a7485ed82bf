//! TODO: tty
