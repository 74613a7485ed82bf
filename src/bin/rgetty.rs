//! rgetty binary.
fn main() {}
