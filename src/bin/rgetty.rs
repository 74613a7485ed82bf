//! `rgetty [options] tty`: see `rgetty::getty`; `rgetty status|calls ...`: see `rgetty::ops::cli`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = rgetty::ops::cli::dispatch(&args).unwrap_or_else(|| rgetty::getty::main_with(args));
    std::process::exit(code);
}
