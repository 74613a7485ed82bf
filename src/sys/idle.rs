//! What the getty gives back before a long idle wait.
//!
//! A getty spends nearly all its life in one `poll(2)`. What each waiting line costs is its
//! private memory (`Private_Dirty` in `/proc/PID/smaps_rollup`): heap, stack, writable data
//! and the relocated read-only data. Start-up reads and parses config files; glibc keeps the
//! freed blocks resident unless asked, so before the wait the heap is trimmed.
//!
//! Program text is deliberately left alone. Dropping its clean pages with `MADV_DONTNEED`
//! lowered RSS but saved nothing: the pages stay in the page cache (shared with every other
//! rgetty), `free` did not change, and the code faulted back in on the next call, which made
//! RING → ATA slower (bench/getty, issue #21).

/// Before a long idle wait, once: the first call (`*done` false) gives freed heap back
/// ([`trim_heap`]) and the stack start-up used below the current frame ([`trim_stack`]);
/// later calls do nothing.
pub fn prepare_once(done: &mut bool) {
    if !std::mem::replace(done, true) {
        trim_stack();
        trim_heap();
    }
}

/// Bytes of stack kept below the caller's frame: the wait's own calls (poll and what leads
/// to it, signal handlers) run there, and the ABI's red zone is 128 bytes.
const STACK_MARGIN: usize = 4 * 1024;

/// The `[stack]` mapping's start in `/proc/self/maps`.
fn stack_start(maps: &str) -> Option<usize> {
    let line = maps.lines().find(|l| l.ends_with("[stack]"))?;
    let range = line.split_whitespace().next()?;
    usize::from_str_radix(range.split_once('-')?.0, 16).ok()
}

/// The page-aligned part of the main thread's stack more than [`STACK_MARGIN`] below `sp`:
/// `(start, len)`, or `None` when there is none.
fn dead_stack(start: usize, sp: usize) -> Option<(usize, usize)> {
    let end = sp.checked_sub(STACK_MARGIN)? & !(4096 - 1);
    (end > start).then(|| (start, end - start))
}

/// Give back the stack pages start-up dirtied below the current frame (argument parsing and
/// config loading run deeper than the wait ever does). Memory below the stack pointer is dead
/// by the ABI; if it is used again it faults in as fresh zero pages. Only on the main thread,
/// whose stack `[stack]` is. Returns the bytes advised.
#[inline(never)]
pub fn trim_stack() -> usize {
    // SAFETY: getpid and gettid take no arguments and cannot fail.
    if unsafe { libc::getpid() != libc::gettid() } {
        return 0;
    }
    let here = 0u8;
    let sp = std::ptr::addr_of!(here) as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let Some((start, len)) = stack_start(&maps).and_then(|s| dead_stack(s, sp)) else {
        return 0;
    };
    // SAFETY: [start, start+len) is the part of this (main) thread's stack mapping that lies
    // more than STACK_MARGIN below the current frame: no live frame or red zone is there.
    // MADV_DONTNEED on a private anonymous mapping makes the next access see zero pages.
    let r = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
    if r == 0 { len } else { 0 }
}

/// Give freed heap memory back to the kernel (`malloc_trim(0)`): start-up reads config files
/// and parses them, and glibc keeps the freed blocks resident otherwise.
pub fn trim_heap() {
    // SAFETY: malloc_trim only returns free memory of the allocator to the kernel; it takes
    // the allocator's own locks and touches no memory we own.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_stack_lies_below_the_margin() {
        let maps = "7ffd000-7fff000 rw-p 00000000 00:00 0                          [stack]\n";
        assert_eq!(stack_start(maps), Some(0x7ffd000));
        assert_eq!(dead_stack(0x7ffd000, 0x7ffd000 + STACK_MARGIN + 100), None);
        assert_eq!(
            dead_stack(0x7ffd000, 0x7ffd000 + STACK_MARGIN + 8192 + 100),
            Some((0x7ffd000, 8192))
        );
        assert_eq!(dead_stack(0x10, 0x20), None);
    }

    #[test]
    fn prepare_runs_once() {
        let mut done = false;
        prepare_once(&mut done);
        assert!(done);
        prepare_once(&mut done);
        assert!(done);
    }
}
