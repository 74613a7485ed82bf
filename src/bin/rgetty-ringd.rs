//! rgetty-ringd binary.
fn main() {}
