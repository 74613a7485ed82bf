//! An admin's first hour: `--version` everywhere, `rgetty-share connect --link` with an owner,
//! group and mode for the virtual port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn version_in_all_three_binaries() {
    for (bin, name) in [
        (env!("CARGO_BIN_EXE_rgetty"), "rgetty"),
        (env!("CARGO_BIN_EXE_rgetty-ringd"), "rgetty-ringd"),
        (env!("CARGO_BIN_EXE_rgetty-share"), "rgetty-share"),
    ] {
        let out = Command::new(bin).arg("--version").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name} --version: {out:?}");
        let first = text.lines().next().unwrap_or_default();
        assert_eq!(first, format!("{name} {}", env!("CARGO_PKG_VERSION")));
    }
}

/// `connect --link` with `--owner`, `--group` and `--link-mode`: the pty behind the link gets
/// them, so a setuid-uucp cu (or a dialout group member) can open the virtual port.
#[test]
fn connect_link_owner_group_mode() {
    if !nix::unistd::geteuid().is_root() {
        println!("SKIP connect --link --owner: needs root to give the pty away");
        return;
    }
    let Some(nobody) = nix::unistd::User::from_name("nobody").unwrap() else {
        println!("SKIP connect --link --owner: no user nobody");
        return;
    };
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("vcom");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rgetty-share"))
        .args(["connect", &addr.to_string(), "--link"])
        .arg(&link)
        .args([
            "--owner",
            "nobody",
            "--group",
            "12345",
            "--link-mode",
            "0660",
        ])
        .arg("--lock-dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !link.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let meta = std::fs::metadata(&link);
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let meta =
        meta.unwrap_or_else(|e| panic!("no link: {e}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(meta.uid(), nobody.uid.as_raw());
    assert_eq!(meta.gid(), 12345);
    assert_eq!(meta.mode() & 0o7777, 0o660);

    let bad = Command::new(env!("CARGO_BIN_EXE_rgetty-share"))
        .args(["connect", &addr.to_string(), "--link"])
        .arg(dir.path().join("vcom2"))
        .args(["--owner", "nosuchuser-rgetty"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nosuchuser-rgetty"));
}
