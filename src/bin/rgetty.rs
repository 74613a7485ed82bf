//! `rgetty [options] tty`: see `rgetty::getty`.
fn main() {
    std::process::exit(rgetty::getty::main_with(std::env::args().collect()));
}
