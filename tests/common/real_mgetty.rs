//! Debian's real mgetty in a private mount namespace, for the tests that run it against a
//! virtual modem.
#![allow(dead_code)]

use std::path::Path;

/// Debian's mgetty on `slave` (`/dev/pts/N`) in a private mount namespace, with temp dirs
/// bound over /run (locks, utmp), /var/log/mgetty and /etc/mgetty, so nothing of the system's
/// is touched. login.config runs `/bin/echo LOGGED-IN <name>`. Needs root and `unshare`.
pub struct RealMgetty {
    pub dir: tempfile::TempDir,
    pub child: std::process::Child,
}

impl RealMgetty {
    /// Why Debian's mgetty cannot run here, if it cannot (the test then prints it and passes).
    pub fn skip_reason() -> Option<String> {
        if !nix::unistd::geteuid().is_root() {
            return Some("not root (mgetty runs in a private mount namespace)".into());
        }
        if !Path::new("/sbin/mgetty").exists() {
            return Some("/sbin/mgetty missing (apt-get install mgetty)".into());
        }
        if !super::can_unshare_mount() {
            return Some("`unshare --mount` missing or not permitted".into());
        }
        None
    }

    pub fn start(slave: &Path) -> RealMgetty {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        for d in ["run/lock", "log", "etc"] {
            std::fs::create_dir_all(t.join(d)).unwrap();
        }
        std::fs::write(
            t.join("etc/mgetty.config"),
            "port-owner root\nport-group root\nport-mode 0600\ndata-only yes\nrings 1\n\
             issue-file /etc/mgetty/issue\n",
        )
        .unwrap();
        std::fs::write(t.join("etc/issue"), "vmodem test\n").unwrap();
        let lc = t.join("etc/login.config");
        std::fs::write(&lc, "* - - /bin/echo LOGGED-IN @\n").unwrap();
        std::fs::set_permissions(&lc, std::fs::Permissions::from_mode(0o600)).unwrap();
        let dev = slave
            .strip_prefix("/dev")
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let script = format!(
            "set -e; mount --bind {t}/run /run; mount --bind {t}/log /var/log/mgetty; \
             mount --bind {t}/etc /etc/mgetty; exec /sbin/mgetty -x 9 {dev}",
            t = t.display()
        );
        let child = std::process::Command::new("unshare")
            .args(["-m", "sh", "-c", &script])
            .spawn()
            .unwrap();
        RealMgetty { dir, child }
    }

    pub fn log(&self) -> String {
        std::fs::read_dir(self.dir.path().join("log"))
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
            .collect()
    }
}

impl Drop for RealMgetty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
