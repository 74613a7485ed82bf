//! Give back the resident code pages before a long idle wait.
//!
//! A getty spends nearly all its life in one `poll(2)`. Its program text (and the text of the
//! shared libraries) stays resident from start-up although none of it runs while waiting. On
//! a box with many lines that adds up, so before waiting rgetty drops the page-table entries of
//! its clean read-only file-backed mappings with `madvise(MADV_DONTNEED)`. The pages
//! stay in the page cache; the code that runs after the wait faults them back in (minor faults,
//! no I/O). Only mappings that are read-only, file-backed and have no anonymous pages
//! are touched: their pages equal the file, so dropping them loses nothing. Writable data,
//! RELRO, heap and stack are left alone.

use std::fs;

/// The clean, read-only, file-backed mappings listed in `/proc/self/smaps`: `(start, end)`.
///
/// A mapping qualifies when it is not writable, maps a file (inode ≠ 0, a path), and has no
/// anonymous (copied-on-write) pages. That excludes RELRO (written during relocation, then
/// made read-only), which must never be dropped.
fn clean_readonly_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, usize)> = None;
    let mut dirty = false;
    let mut flush = |cur: &mut Option<(usize, usize)>, dirty: bool| {
        if let Some(r) = cur.take() {
            if !dirty {
                out.push(r);
            }
        }
    };
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let Some(first) = f.next() else { continue };
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                flush(&mut cur, dirty);
                dirty = false;
                let perms = f.next().unwrap_or("");
                let _offset = f.next();
                let _dev = f.next();
                let inode = f.next().unwrap_or("0");
                let path = f.next().unwrap_or("");
                let readonly = perms.len() == 4 && perms.as_bytes()[1] == b'-';
                if readonly && perms.ends_with('p') && inode != "0" && path.starts_with('/') {
                    cur = Some((a, b));
                }
                continue;
            }
        }
        // Anonymous pages are private copies (RELRO after relocation): never drop those.
        // Dirty page-cache pages (a freshly written binary) are fine: the cache keeps them.
        if first == "Anonymous:" && f.next().is_some_and(|v| v != "0") {
            dirty = true;
        }
    }
    flush(&mut cur, dirty);
    out
}

/// The clean, read-only, file-backed mappings of this process (program text, read-only data,
/// shared libraries), from `/proc/self/smaps`: what [`drop_pages`] may drop.
pub fn text_ranges() -> Vec<(usize, usize)> {
    fs::read_to_string("/proc/self/smaps")
        .map(|smaps| clean_readonly_mappings(&smaps))
        .unwrap_or_default()
}

/// Drop the resident pages of `ranges` (from [`text_ranges`]). Call it as the very last thing
/// before a long wait: every code page run after it faults back in, with the kernel's
/// fault-around (64 kB at a time). Returns the number of bytes of address space advised.
pub fn drop_pages(ranges: &[(usize, usize)]) -> usize {
    let mut total = 0;
    for &(start, end) in ranges {
        let len = end - start;
        // SAFETY: the range is a whole, currently mapped, private, read-only file mapping with
        // no dirty or anonymous pages, taken from /proc/self/smaps. MADV_DONTNEED on it only
        // drops page-table entries; the next access refaults the unchanged pages from the file.
        let r = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
        if r == 0 {
            total += len;
        }
    }
    total
}

/// [`drop_pages`] of all [`text_ranges`].
pub fn trim_text_pages() -> usize {
    drop_pages(&text_ranges())
}

/// Before a long idle wait, once: the first call (`*done` false) gives freed heap back
/// ([`trim_heap`]) and returns the [`text_ranges`] to drop right before blocking; later calls
/// return nothing.
pub fn prepare_once(done: &mut bool) -> Vec<(usize, usize)> {
    if std::mem::replace(done, true) {
        return Vec::new();
    }
    trim_heap();
    text_ranges()
}

/// Give freed heap memory back to the kernel (`malloc_trim(0)`): start-up reads config files
/// and parses them, and glibc keeps the freed blocks resident otherwise. Call it right before
/// a long wait, with [`drop_pages`].
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
    fn only_clean_readonly_file_mappings() {
        let smaps = "\
55d0a000-55d0b000 r--p 00000000 fd:01 123 /usr/sbin/rgetty
Private_Dirty:         0 kB
Anonymous:             0 kB
55d0b000-55d2b000 r-xp 00001000 fd:01 123 /usr/sbin/rgetty
Private_Dirty:         0 kB
55d2b000-55d2c000 r--p 00021000 fd:01 123 /usr/sbin/rgetty
Private_Dirty:        28 kB
Anonymous:            28 kB
55d2c000-55d2d000 rw-p 00022000 fd:01 123 /usr/sbin/rgetty
Private_Dirty:         0 kB
7f00-8f00 r-xp 00000000 00:00 0 
7ffd000-7ffe000 r-xp 00000000 00:00 0 [vdso]
";
        assert_eq!(
            clean_readonly_mappings(smaps),
            vec![(0x55d0_a000, 0x55d0_b000), (0x55d0_b000, 0x55d2_b000)]
        );
    }

    #[test]
    fn trimming_keeps_the_process_working() {
        let n = trim_text_pages();
        assert!(n > 0);
        // Code still runs after its pages were dropped.
        assert_eq!(format!("{}", 6 * 7), "42");
    }
}
