//! The process title (`rgetty: ttyS0 waiting`), as `ps`, `top` and `pgrep -f` show it.
//!
//! `prctl(PR_SET_NAME)` holds only 15 bytes and would rename the process for `pgrep -x rgetty`
//! and `killall rgetty` too, so it is not used: the command name stays `rgetty`. Instead, as
//! BSD's `setproctitle(3)` does on Linux, the title is written over the memory holding the
//! original argument strings (the kernel's `arg_start`..`arg_end`, from `/proc/self/stat`
//! fields 48 and 49), padded with NULs, which is what `/proc/PID/cmdline` shows. Unlike some
//! implementations we do not move the environment to gain room, so the title is cut to the
//! length of the original command line (`/usr/sbin/rgetty ttyS0` has room for
//! `rgetty: ttyS0 waiting`, and long option lists leave plenty).
//!
//! After [`set`], `std::env::args()` returns the title: read the arguments first.

use std::sync::OnceLock;

use super::state::stat_field;

/// The title's bytes for an argument area of `capacity` bytes: the title cut to
/// `capacity - 1` bytes (at a char boundary), then NULs up to `capacity`.
pub fn title_bytes(title: &str, capacity: usize) -> Vec<u8> {
    let mut end = title.len().min(capacity.saturating_sub(1));
    while !title.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = title.as_bytes()[..end].to_vec();
    out.resize(capacity, 0);
    out
}

/// The title for a line in a state: `rgetty: ttyS0 waiting`.
pub fn line_title(line: &str, state: &str) -> String {
    format!("rgetty: {line} {state}")
}

/// The argument area (start address, length), read once from `/proc/self/stat`.
fn arg_area() -> Option<(usize, usize)> {
    static AREA: OnceLock<Option<(usize, usize)>> = OnceLock::new();
    *AREA.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let start: usize = stat_field(&stat, 48)?.parse().ok()?;
        let end: usize = stat_field(&stat, 49)?.parse().ok()?;
        (start != 0 && end > start && end - start < 1 << 20).then_some((start, end - start))
    })
}

/// Set the process title; does nothing if the argument area cannot be found.
pub fn set(title: &str) {
    let Some((start, len)) = arg_area() else {
        return;
    };
    let bytes = title_bytes(title, len);
    // SAFETY: [start, start+len) is this process's argument area as the kernel reports it:
    // mapped, writable stack memory holding the argv strings, which nothing in Rust borrows
    // (std copies argv strings out on each `env::args()` call). `bytes.len() == len`, so the
    // copy stays inside the area; source and destination do not overlap (`bytes` is on the
    // heap).
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), start as *mut u8, len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        assert_eq!(title_bytes("abc", 6), b"abc\0\0\0");
        assert_eq!(title_bytes("abcdef", 4), b"abc\0");
        assert_eq!(title_bytes("aé", 3), b"a\0\0");
        assert_eq!(title_bytes("x", 0), b"");
        assert_eq!(line_title("pts/3", "waiting"), "rgetty: pts/3 waiting");
    }

    #[test]
    fn area_is_found() {
        let (start, len) = arg_area().unwrap();
        assert!(start > 0 && len > 0);
    }
}
