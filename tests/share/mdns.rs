//! mDNS: python-zeroconf (what Home Assistant uses) and avahi-browse (with its own
//! avahi-daemon and system bus) in a private network, mount and PID namespace see the
//! announcement ≤ 2 s after start, the withdrawal ≤ 2 s after the device's by-id link goes,
//! the re-announcement ≤ 2 s after it returns and the goodbye at shutdown;
//! `connect mdns:NAME` finds the port. The scenario is tests/mdns/{netns.sh,watch.py}.

use std::process::{Command, Stdio};

fn available() -> bool {
    let progs = "unshare ip dbus-daemon avahi-daemon avahi-browse python3";
    let tools = Command::new("sh")
        .args(["-c", &format!("command -v {progs}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let zeroconf = Command::new("python3")
        .args(["-c", "import zeroconf"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    tools && zeroconf && nix::unistd::geteuid().is_root()
}

#[test]
fn announcements_follow_hot_plug_and_shutdown() {
    if !crate::ser2net::need(available(), "root, avahi, dbus and python3-zeroconf") {
        return;
    }
    crate::labgrid::scenario(
        &[
            "unshare",
            "--net",
            "--mount",
            "--pid",
            "--fork",
            "bash",
            "mdns/netns.sh",
        ],
        "mdns: 9 passed, 0 failed",
        "serve.log",
    );
}
