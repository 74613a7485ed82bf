//! `rgetty-share serve --check`: every problem on its own line as `file:line: message`, and
//! the config file read under the same trust policy as mgetty.config.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::share_util;
use share_util::*;

/// `text` as `name` in `dir`.
fn conf_file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn check(conf: &Path) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(["serve", "--check", "--config"])
        .arg(conf)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn three_errors_print_three_lines_naming_the_unknown_keyword() {
    let tmp = tmpdir();
    let conf = conf_file(
        tmp.path(),
        "three.conf",
        "# ports\n5800 /dev/x 9600 * colour=blue\n5801 /dev/y 9600,8,Q * mode=nope\n",
    );
    let (ok, _, err) = check(&conf);
    assert!(!ok, "{err}");
    let c = conf.display().to_string();
    let lines: Vec<&str> = err.lines().filter(|l| l.contains(&c)).collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].ends_with(&format!("{c}:2: unknown keyword \"colour\"")),
        "{err}"
    );
    assert!(
        lines[1].ends_with(&format!("{c}:3: unknown param \"Q\"")),
        "{err}"
    );
    assert!(
        lines[2].ends_with(&format!("{c}:3: bad mode \"nope\"")),
        "{err}"
    );
    assert!(
        !err.contains('_'),
        "one line per problem, not joined: {err}"
    );
}

#[test]
fn a_good_file_says_how_many_ports() {
    let tmp = tmpdir();
    let conf = conf_file(
        tmp.path(),
        "ok.conf",
        "5800 /dev/x 9600 *\n127.0.0.1:5801 /dev/y - 127.0.0.1\n",
    );
    let (ok, out, err) = check(&conf);
    assert!(ok, "{err}");
    assert_eq!(out, "ok: 2 ports\n");
}

#[test]
fn a_file_others_can_write_is_refused_like_mgetty_config() {
    let tmp = tmpdir();
    let conf = conf_file(tmp.path(), "open.conf", "5800 /dev/x 9600 *\n");
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o664)).unwrap();
    let (ok, _, err) = check(&conf);
    assert!(!ok, "{err}");
    assert!(
        err.contains("writable by group or others (mode 0664)"),
        "{err}"
    );
    // Starting with it fails the same way.
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(!out.status.success());
    // Owned by another user (as root we can make one): refused whatever its mode.
    if nix::unistd::geteuid().is_root() {
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        nix::unistd::chown(&conf, Some(nobody.uid), None).unwrap();
        let (ok, _, err) = check(&conf);
        assert!(!ok, "{err}");
        assert!(
            err.contains(&format!("owned by uid {}, not root", nobody.uid)),
            "{err}"
        );
    }
    // A symbolic link to a good file is not followed.
    let good = tmp.path().join("good.conf");
    std::fs::write(&good, "5800 /dev/x 9600 *\n").unwrap();
    let link = tmp.path().join("link.conf");
    std::os::unix::fs::symlink(&good, &link).unwrap();
    let (ok, _, err) = check(&link);
    assert!(!ok, "{err}");
}
