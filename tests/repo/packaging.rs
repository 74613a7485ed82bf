//! Packaging: `make install-files DESTDIR=` (what `make install` does after its build) into a
//! temp tree, for the `/usr/local` and the `/usr` (Debian package) layout. Every unit must name
//! `Exec*=` programs that exist in that tree, `systemd-analyze verify` must pass on each unit
//! with the tree as its root, the logrotate file must pass `logrotate -d`, and the `.deb`
//! assets in Cargo.toml must put each binary where the units look for it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;
use support::have;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const UNIT_INSTANCES: &[(&str, &str)] = &[
    ("rgetty@.service", "rgetty@ttyUSB0.service"),
    ("rgetty-ringd.service", "rgetty-ringd.service"),
    ("rgetty-ncid.service", "rgetty-ncid.service"),
    ("rgetty-share.service", "rgetty-share.service"),
    ("rgetty-share@.service", "rgetty-share@ttyUSB1.service"),
    ("rgetty-share@.socket", "rgetty-share@ttyUSB1.socket"),
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The unit files shipped in etc/.
fn shipped_units() -> Vec<String> {
    let mut units: Vec<String> = fs::read_dir(repo().join("etc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".service") || n.ends_with(".socket"))
        .collect();
    units.sort();
    units
}

/// `make install-files` into `root` with the binaries cargo built for this test.
fn install(root: &Path, prefix: &str) {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_rgetty")).parent().unwrap();
    let out = Command::new("make")
        .current_dir(repo())
        .args(["-s", "install-files"])
        .arg(format!("DESTDIR={}", root.display()))
        .arg(format!("PREFIX={prefix}"))
        .arg(format!("BUILD_DIR={}", bin_dir.display()))
        .output()
        .expect("make");
    assert!(
        out.status.success(),
        "make install-files failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The program of every `Exec*=` line: the first word after systemd's `-@:+!` prefixes.
fn exec_programs(unit: &str) -> Vec<String> {
    unit.lines()
        .filter(|l| l.starts_with("Exec"))
        .filter_map(|l| l.split_once('='))
        .filter_map(|(_, cmd)| {
            cmd.trim_start_matches(['-', '@', ':', '+', '!'])
                .split_whitespace()
                .next()
        })
        .map(str::to_string)
        .collect()
}

fn check_layout(prefix: &str) {
    let tree = tempfile::tempdir().unwrap();
    let root = tree.path();
    install(root, prefix);
    let unit_dir = root.join(format!(
        "{}/lib/systemd/system",
        prefix.trim_start_matches('/')
    ));
    for name in shipped_units() {
        let path = unit_dir.join(&name);
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("make install left out {}: {e}", path.display()));
        let programs = exec_programs(&text);
        assert!(
            !programs.is_empty() || name.ends_with(".socket"),
            "{name}: no ExecStart"
        );
        for prog in programs {
            assert!(prog.starts_with('/'), "{name}: {prog} is not absolute");
            // Our programs must be in the tree; system ones (/bin/kill) on this machine.
            let in_tree = root.join(prog.trim_start_matches('/'));
            let found = if prog.contains("rgetty") {
                in_tree
            } else {
                PathBuf::from(&prog)
            };
            let meta = fs::metadata(&found)
                .unwrap_or_else(|e| panic!("{name} (PREFIX={prefix}) runs {prog}: {e}"));
            assert!(
                meta.permissions().mode() & 0o111 != 0,
                "{prog} not executable"
            );
        }
    }
    let logrotate = root.join("etc/logrotate.d/rgetty");
    assert!(
        logrotate.is_file(),
        "make install left out the logrotate file"
    );
    verify_units(root, &unit_dir);
    // The installed inittab example names the program where this install put it.
    let sample = root.join(format!(
        "{}/share/doc/rgetty/examples/inittab.sample",
        prefix.trim_start_matches('/')
    ));
    let text = fs::read_to_string(&sample).unwrap();
    let line = text.lines().find(|l| l.starts_with("S0:")).unwrap();
    assert!(line.contains(&format!("{prefix}/sbin/rgetty ")), "{line}");
    assert!(
        root.join(format!("{}/sbin/rgetty", prefix.trim_start_matches('/')))
            .is_file()
    );
    // The idle wait runs in rgetty-wait, looked up next to rgetty (§4.3).
    assert!(
        root.join(format!(
            "{}/sbin/rgetty-wait",
            prefix.trim_start_matches('/')
        ))
        .is_file(),
        "make install left out rgetty-wait"
    );
}

/// `systemd-analyze verify --root=TREE` on an instance of each unit. The tree gets a copy of
/// this machine's system units (targets) and of /bin/kill, which the units name.
fn verify_units(root: &Path, unit_dir: &Path) {
    if !have("systemd-analyze") {
        println!("SKIP systemd-analyze verify: systemd-analyze is not installed");
        return;
    }
    let sys = root.join("usr/lib/systemd");
    fs::create_dir_all(&sys).unwrap();
    let cp = Command::new("cp")
        .arg("-an")
        .arg("/usr/lib/systemd/system")
        .arg(&sys)
        .status()
        .unwrap();
    assert!(cp.success());
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::copy("/bin/kill", root.join("bin/kill")).unwrap();
    for (file, instance) in UNIT_INSTANCES {
        assert!(unit_dir.join(file).is_file(), "{file} not installed");
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg("--man=no")
            .arg(format!("--root={}", root.display()))
            .arg(instance)
            .output()
            .unwrap();
        let msg = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && msg.trim().is_empty(),
            "systemd-analyze verify {instance}:\n{msg}"
        );
    }
}

#[test]
fn make_install_usr_local_units_start() {
    check_layout("/usr/local");
}

#[test]
fn make_install_usr_units_start() {
    check_layout("/usr");
}

/// The Debian package (cargo-deb assets in Cargo.toml) puts each program where the units'
/// `/usr` paths say, and ships every unit, the ringd unit and the logrotate file.
#[test]
fn deb_assets_match_units() {
    let cargo = fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let deb = cargo
        .split("[package.metadata.deb]")
        .nth(1)
        .expect("deb metadata");
    let assets: Vec<(String, String)> = deb
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("[\""))
        .map(|l| {
            let parts: Vec<&str> = l.split('"').collect();
            (parts[1].to_string(), parts[3].to_string())
        })
        .collect();
    let installed = |src: &str| -> Option<String> {
        assets.iter().find(|(s, _)| s == src).map(|(s, dest)| {
            let base = Path::new(s).file_name().unwrap().to_string_lossy();
            if dest.ends_with('/') {
                format!("/{dest}{base}")
            } else {
                format!("/{dest}")
            }
        })
    };
    for unit in shipped_units() {
        let src = format!("etc/{unit}");
        // rgetty@.service goes through cargo-deb's systemd-units section.
        if unit != "rgetty@.service" {
            let dest = installed(&src).unwrap_or_else(|| panic!("{unit} is not in the .deb"));
            assert_eq!(dest, format!("/usr/lib/systemd/system/{unit}"));
        }
        let text = fs::read_to_string(repo().join(&src)).unwrap();
        for prog in exec_programs(&text)
            .into_iter()
            .filter(|p| p.contains("rgetty"))
        {
            let bin = Path::new(&prog).file_name().unwrap().to_string_lossy();
            let dest = installed(&format!("target/release/{bin}"))
                .unwrap_or_else(|| panic!("{bin} is not in the .deb"));
            assert_eq!(dest, prog, "{unit} runs {prog}, the .deb installs {dest}");
        }
    }
    assert!(
        deb.contains("unit-scripts = \"etc\""),
        "rgetty@.service not packaged"
    );
    assert_eq!(
        installed("etc/rgetty.logrotate").as_deref(),
        Some("/etc/logrotate.d/rgetty")
    );
    assert!(
        deb.contains("\"/etc/logrotate.d/rgetty\""),
        "logrotate file is no conffile"
    );
}

#[test]
fn logrotate_file_parses() {
    if !have("logrotate") {
        println!("SKIP logrotate -d: logrotate is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("logrotate")
        .arg("-d")
        .arg("-s")
        .arg(dir.path().join("state"))
        .arg(repo().join("etc/rgetty.logrotate"))
        .output()
        .unwrap();
    let msg =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !msg.contains("error"),
        "logrotate -d:\n{msg}"
    );
    assert!(msg.contains("/var/log/rgetty/*.log"), "{msg}");
}

/// The ringd unit reads the packaged pattern file, and that file passes `rgetty-ringd -n`.
#[test]
fn ringd_unit_reads_packaged_config() {
    let unit = fs::read_to_string(repo().join("etc/rgetty-ringd.service")).unwrap();
    let start = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    assert!(start.contains("-c /etc/rgetty/xringd.conf"), "{start}");
    let out = Command::new(env!("CARGO_BIN_EXE_rgetty-ringd"))
        .args(["-n", "-c"])
        .arg(repo().join("etc/xringd.conf"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the packaged xringd.conf fails rgetty-ringd -n:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run `.ci/run`'s install step with a fake apt-get that records whether the policy-rc.d is in
/// place while it runs. Returns (the record, the script's exit status).
fn ci_setup(policy: &Path, apt_fails: bool) -> (String, bool) {
    let dir = policy.parent().unwrap();
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let record = dir.join("apt.log");
    let apt = format!(
        "#!/bin/sh\nif [ -x '{p}' ] && ! '{p}'; then echo \"$1 blocked\"; else echo \"$1 open\"; fi >> '{r}'\n{fail}\n",
        p = policy.display(),
        r = record.display(),
        fail = if apt_fails { "exit 1" } else { "exit 0" }
    );
    fs::write(bin.join("apt-get"), apt).unwrap();
    fs::set_permissions(bin.join("apt-get"), fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let status = Command::new("bash")
        .arg(repo().join(".ci/run"))
        .env("PATH", path)
        .env("POLICY_RC_D", policy)
        .env("CI_SETUP_ONLY", "1")
        .status()
        .unwrap();
    (
        fs::read_to_string(record).unwrap_or_default(),
        status.success(),
    )
}

/// `.ci/run` blocks service starts only while apt-get runs and leaves no policy-rc.d behind,
/// also when apt-get fails; an admin's own policy-rc.d is left alone.
#[test]
fn ci_policy_rc_d_only_while_apt_runs() {
    if !nix::unistd::geteuid().is_root() {
        println!("SKIP .ci/run policy-rc.d: needs root (the script installs only as root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy-rc.d");
    let (log, ok) = ci_setup(&policy, false);
    assert!(ok);
    assert_eq!(log, "update blocked\ninstall blocked\n");
    assert!(!policy.exists(), "policy-rc.d left behind");

    fs::remove_file(dir.path().join("apt.log")).unwrap();
    let (log, ok) = ci_setup(&policy, true);
    assert!(!ok);
    assert_eq!(log, "update blocked\n");
    assert!(
        !policy.exists(),
        "policy-rc.d left behind after apt-get failed"
    );

    fs::remove_file(dir.path().join("apt.log")).unwrap();
    fs::write(&policy, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&policy, fs::Permissions::from_mode(0o755)).unwrap();
    let (log, ok) = ci_setup(&policy, false);
    assert!(ok);
    assert_eq!(log, "update open\ninstall open\n");
    assert_eq!(fs::read_to_string(&policy).unwrap(), "#!/bin/sh\nexit 0\n");
}

/// The shell scripts parse (`bash -n`), and the demo prints its call hint only after it has
/// seen rgetty wait for a call (the order in the script).
#[test]
fn scripts_parse_and_demo_hint_waits_for_the_getty() {
    for script in ["demo/run.sh", ".ci/run"] {
        let st = Command::new("bash")
            .arg("-n")
            .arg(repo().join(script))
            .status()
            .unwrap();
        assert!(st.success(), "bash -n {script}");
    }
    let demo = fs::read_to_string(repo().join("demo/run.sh")).unwrap();
    let wait = demo
        .find("grep -qs 'waiting")
        .expect("demo waits for the getty");
    let hint = demo.find("echo \"Call it").expect("demo has a call hint");
    assert!(wait < hint, "the call hint comes before the wait");
    assert!(
        demo.contains("cargo build --bins\n"),
        "build without -q shows progress"
    );
}
