//! rgetty-share binary.
fn main() {}
