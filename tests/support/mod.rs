//! The few helpers both test support modules (`tests/common`, `tests/share_util`) need:
//! included by each with `#[path]`, so that neither has its own copy.
#![allow(dead_code)]

use std::process::{Command, Stdio};

/// Whether `prog` is installed; if not, the test prints why (and then passes).
pub fn have(prog: &str) -> bool {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {prog}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("SKIP: {prog} is not installed");
    }
    ok
}

/// A loopback TCP port that was free a moment ago (bound and released).
///
/// Taken from 20000-32767, below the kernel's ephemeral range (32768-60999 by default), so
/// that no outgoing connection of another test can be given it as its local port between
/// this check and the server's bind; each port is handed out once per test process (an
/// atomic counter from a pid-derived start), so two tests never get the same one.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20000;
    const SPAN: u32 = 32768 - FIRST;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(2654435761) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}-32767");
}

/// Whether this process may make private mount namespaces: root, and `unshare --mount` works.
pub fn can_unshare_mount() -> bool {
    nix::unistd::getuid().is_root()
        && Command::new("unshare")
            .args(["--mount", "true"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// A copy of the program `bin` in a fresh directory anyone may enter, for running it as
/// another user: the build tree may sit below a directory nobody else can enter (a `mktemp -d`
/// clone). Keep the directory while the copy runs.
pub fn copy_for_any_user(bin: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let name = std::path::Path::new(bin).file_name().unwrap();
    let copy = dir.path().join(name);
    std::fs::copy(bin, &copy).unwrap();
    (dir, copy)
}
