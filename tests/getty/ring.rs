//! Ring-cadence matching in the real `rgetty`, driven through the virtual modem with real
//! timing (`ring-patterns` in mgetty.config).
//!
//! Cadences are the docs/behaviour.md §R2 observed table (the manual's example already scaled 4x
//! down) scaled 4x down once more: TWO `R 0.5-1 R 1.25`, THREE `R 0.5-1 R 0.5-1 R 1.25`,
//! SLOW `R 2-3 R 1.25`. Every ring is at least 250 ms away from a range edge. Pattern commands
//! write marker files in the test's own temp dir; rgetty's ring timeout is 1.5 s, shorter than
//! SLOW's gap, so SLOW also shows that a cadence under way outlives the ring timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// The observed table's patterns, scaled; `{DIR}` becomes the test's temp dir.
const TABLE: &str = "# xringd table, 16x faster than the manual\n\
R 0.5-1 R 1.25 : touch {DIR}/TWO\n\
R 0.5-1 R 0.5-1 R 1.25 : touch {DIR}/THREE\n\
R 2-3 R 1.25 : touch {DIR}/SLOW\n";

const MARKERS: [&str; 3] = ["TWO", "THREE", "SLOW"];

/// A harness whose mgetty.config has `ring-patterns` pointing at `patterns` (mode `mode`,
/// `{DIR}` replaced) plus `config`.
fn rig(config: &str, patterns: &str, mode: u32) -> Harness {
    let h = Harness::new(vmodem::Config::default(), "");
    let dir = h.dir.path().to_str().unwrap().to_string();
    let pat = h.path("etc/ring.conf");
    fs::write(&pat, patterns.replace("{DIR}", &dir)).unwrap();
    fs::set_permissions(&pat, fs::Permissions::from_mode(mode)).unwrap();
    fs::write(
        h.path("etc/mgetty.config"),
        format!(
            "{BASE_CONFIG}init-chat \"\" ATZ OK\nring-patterns {}\n{config}",
            pat.display()
        ),
    )
    .unwrap();
    h
}

fn secs_list(v: &[f64]) -> Vec<Duration> {
    v.iter().map(|x| s(*x)).collect()
}

/// Wait until the log matches `re` `n` times; the time since `t0` when it did.
fn wait_log_n(h: &Harness, re: &str, n: usize, t0: Instant, timeout: Duration) -> Duration {
    let re = regex::Regex::new(re).unwrap();
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if re.find_iter(&h.log()).count() >= n {
            return t0.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("log never matched {re} {n} times\n{}", h.explain());
}

/// Wait until `path` exists with at least `lines` lines; its text.
fn wait_file(h: &Harness, path: &Path, lines: usize, timeout: Duration) -> String {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if let Ok(t) = fs::read_to_string(path) {
            if t.lines().count() >= lines {
                return t;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "{} never got {lines} lines\n{}",
        path.display(),
        h.explain()
    );
}

fn answered(h: &Harness) -> bool {
    h.modem.commands().iter().any(|c| c == "ATA")
}

fn cid() -> CallerId {
    CallerId {
        date: "1122".into(),
        time: "2130".into(),
        number: "5551234".into(),
        name: Some("JOHN O'DOE; rm -rf /".into()),
    }
}

/// One row of the observed table on a fresh rgetty (rings 5, so every pattern can fire):
/// rings at `rings` (s), and the pattern that fires with its silence (s), if any.
fn table_row(rings: &[f64], want: Option<(&str, f64)>) {
    let mut h = rig("rings 5\n", TABLE, 0o600);
    h.spawn_waiting(&["--ring-timeout", "1.5"]);
    let t0 = Instant::now();
    h.modem.ring_at(&secs_list(rings), None);
    let last = rings.last().copied().unwrap();
    match want {
        Some((name, silence)) => {
            let at = wait_log_n(&h, r"ring pattern \S+ matched", 1, t0, s(20.0));
            let due = last + silence;
            assert!(
                at >= s(due - 0.05) && at <= s(due + 2.0),
                "{name} matched at {at:?}, due at {due} s\n{}",
                h.explain()
            );
            wait_file(&h, &h.path(name), 0, s(5.0));
            h.wait_log(r"(?s)matched.*waiting\.\.\.", s(10.0));
            std::thread::sleep(s(0.3));
            for other in MARKERS.iter().filter(|m| **m != name) {
                assert!(
                    !h.path(other).exists(),
                    "{other} fired too\n{}",
                    h.explain()
                );
            }
        }
        None => {
            h.wait_log("phone stopped ringing", s(20.0));
            std::thread::sleep(s(0.3));
            assert!(!h.log().contains("matched"), "{}", h.explain());
            for m in MARKERS {
                assert!(!h.path(m).exists(), "{m} fired\n{}", h.explain());
            }
        }
    }
    assert!(
        !answered(&h),
        "a cadence call is never answered\n{}",
        h.explain()
    );
}

#[test]
fn table_two_rings_fire_two() {
    table_row(&[0.0, 0.75], Some(("TWO", 1.25)));
}

#[test]
fn table_three_rings_fire_three_not_the_shared_prefix() {
    // TWO and THREE share their first gap: the third ring breaks TWO's silence.
    table_row(&[0.0, 0.75, 1.5], Some(("THREE", 1.25)));
}

#[test]
fn table_slow_gap_fires_slow_past_the_ring_timeout() {
    table_row(&[0.0, 2.5], Some(("SLOW", 1.25)));
}

#[test]
fn table_single_ring_fires_nothing() {
    table_row(&[0.0], None);
}

#[test]
fn table_gap_too_short_resets() {
    table_row(&[0.0, 0.25], None);
}

#[test]
fn table_fourth_ring_breaks_the_silence() {
    table_row(&[0.0, 0.75, 1.5, 2.25], None);
}

#[test]
fn table_near_zero_gap_does_not_fire() {
    // xringd fired TWO for 0, 0.4 (whole-second clock: a 0 gap fits any range); fixed.
    table_row(&[0.0, 0.1], None);
}

#[test]
fn shared_prefix_the_earliest_silence_wins() {
    // SHORT's silence ends (1.5 s) before LONG's second gap could close (2.5 s).
    let conf = "R 0.5-1.5 R 0.5 : touch {DIR}/SHORT\n\
                R 0.5-1.5 R 0.5-1.5 R 1 : touch {DIR}/LONG\n";
    let mut h = rig("rings 5\n", conf, 0o600);
    h.spawn_waiting(&["--ring-timeout", "1.5"]);
    let t0 = Instant::now();
    h.modem.ring_at(&secs_list(&[0.0, 1.0]), None);
    let at = wait_log_n(&h, r"ring pattern \S+:1 matched", 1, t0, s(15.0));
    assert!(at >= s(1.45) && at <= s(3.5), "{at:?}\n{}", h.explain());
    wait_file(&h, &h.path("SHORT"), 0, s(5.0));
    std::thread::sleep(s(1.5));
    assert!(!h.path("LONG").exists(), "{}", h.explain());
    assert!(!answered(&h));
}

#[test]
fn a_ring_during_the_silence_cancels_the_match() {
    // TWO waits 2 s after its second ring (until 2.75 s); a ring at 2.25 s breaks that and,
    // 1.5 s after the previous one, fits no pattern.
    let conf = "R 0.5-1 R 2 : touch {DIR}/TWO\nR 0.5-1 R 0.5-1 R 2 : touch {DIR}/THREE\n";
    let mut h = rig("rings 5\n", conf, 0o600);
    h.spawn_waiting(&["--ring-timeout", "1.5"]);
    h.modem.ring_at(&secs_list(&[0.0, 0.75, 2.25]), None);
    h.wait_log("phone stopped ringing", s(20.0));
    std::thread::sleep(s(0.3));
    assert!(!h.path("TWO").exists() && !h.path("THREE").exists());
    assert!(!h.log().contains("matched"), "{}", h.explain());
    assert!(!answered(&h));
}

#[test]
fn a_running_command_does_not_block_the_getty() {
    // The command sleeps 3 s; meanwhile a second cadence call matches and a third call,
    // three quick rings that fit no pattern, is answered at the rings threshold.
    let conf = "R 0.5-1 R 0.5 : sleep 3; echo $RING_COUNT >> {DIR}/done\n";
    let mut h = rig("rings 3\n", conf, 0o600);
    h.spawn_waiting(&["--ring-timeout", "1.5"]);
    let t0 = Instant::now();
    h.modem.ring_at(&secs_list(&[0.0, 0.75]), None);
    let first = wait_log_n(&h, r"ring pattern \S+ matched", 1, t0, s(15.0));
    wait_log_n(&h, r"waiting\.\.\.", 2, t0, s(10.0));
    h.modem.ring_at(&secs_list(&[0.0, 0.75]), None);
    let second = wait_log_n(&h, r"ring pattern \S+ matched", 2, t0, s(15.0));
    assert!(
        second < first + s(3.0) && !h.path("done").exists(),
        "the second call matched while the first command still ran ({first:?}, {second:?})\n{}",
        h.explain()
    );
    wait_log_n(&h, r"waiting\.\.\.", 3, t0, s(10.0));
    h.modem.ring(3, s(0.2), None);
    h.modem
        .wait_to_modem("ATA\r", s(10.0))
        .unwrap_or_else(|e| panic!("{e:?}\n{}", h.explain()));
    // Both commands ran to completion, each with its own ring count.
    let done = wait_file(&h, &h.path("done"), 2, s(10.0));
    assert_eq!(done, "2\n2\n");
}

#[test]
fn the_rings_threshold_wins_over_a_longer_cadence() {
    // rings 3: TWO (2 rings) can fire; THREE (3 rings) never can, the call is answered.
    let mut h = rig("rings 3\n", TABLE, 0o600);
    h.spawn_waiting(&["--ring-timeout", "1.5"]);
    let t0 = Instant::now();
    h.modem.ring_at(&secs_list(&[0.0, 0.75]), None);
    wait_log_n(&h, r"ring pattern \S+:2 matched", 1, t0, s(15.0));
    wait_file(&h, &h.path("TWO"), 0, s(5.0));
    assert!(!answered(&h));
    wait_log_n(&h, r"waiting\.\.\.", 2, t0, s(10.0));
    fs::remove_file(h.path("TWO")).unwrap();
    h.modem.ring_at(&secs_list(&[0.0, 0.75, 1.5]), None);
    h.modem
        .wait_to_modem("ATA\r", s(10.0))
        .unwrap_or_else(|e| panic!("{e:?}\n{}", h.explain()));
    std::thread::sleep(s(2.0));
    let log = h.log();
    assert!(
        log.contains("the rings threshold wins"),
        "answered with THREE under way\n{}",
        h.explain()
    );
    assert!(
        log.contains("ring.conf:3: pattern needs 3 rings but rings is 3"),
        "unreachable pattern logged at load time\n{}",
        h.explain()
    );
    assert_eq!(log.matches("matched").count(), 1, "{}", h.explain());
    for m in MARKERS {
        assert!(!h.path(m).exists(), "{m} fired on the answered call");
    }
}

#[test]
fn per_ring_command_runs_on_every_ring() {
    let conf = "-a echo \"$RING_COUNT|$RING_TIMES|$CALLER_ID\" >> {DIR}/rings\n\
                R 0.5-1 R 1.25 : touch {DIR}/TWO\n";
    let mut h = rig("rings 5\n", conf, 0o600);
    h.spawn_waiting(&["--ring-timeout", "1.5"]);
    h.modem.ring_at(&secs_list(&[0.0, 0.75]), None);
    wait_file(&h, &h.path("TWO"), 0, s(15.0));
    let text = wait_file(&h, &h.path("rings"), 2, s(5.0));
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines.len(), 2, "{text:?}");
    assert_eq!(lines[0], "1|0.0|none");
    let f: Vec<&str> = lines[1].split('|').collect();
    assert_eq!(f[0], "2", "{text:?}");
    let times: Vec<f64> = f[1].split(' ').map(|t| t.parse().unwrap()).collect();
    assert_eq!(times.len(), 2);
    assert!((times[1] - 0.75).abs() < 0.3, "{text:?}");
    assert!(!answered(&h));
}

#[test]
fn pattern_command_gets_caller_id_in_its_environment_only() {
    // Detached: own session, stdin /dev/null, none of rgetty's fds. The caller-ID lines right
    // after the first RING count towards `rings` (mgetty) but are not a ring of the cadence.
    let conf = "R 0.5-1 R 1.25 : env > {DIR}/env.tmp; readlink /proc/$$/fd/0 > {DIR}/stdin; \
                cut -d' ' -f6 /proc/$$/stat > {DIR}/sid; echo $$ > {DIR}/pid; \
                ls -l /proc/$$/fd > {DIR}/fds; mv {DIR}/env.tmp {DIR}/env\n";
    let mut h = rig("rings 5\n", conf, 0o600);
    h.spawn_waiting(&["--ring-timeout", "1.5"]);
    h.modem.ring_at(&secs_list(&[0.0, 0.75]), Some(cid()));
    let env = wait_file(&h, &h.path("env"), 1, s(15.0));
    let vars: Vec<&str> = env.lines().collect();
    assert!(vars.contains(&"CALLER_ID=5551234"), "{env}");
    assert!(vars.contains(&"RING_COUNT=2"), "{env}");
    assert!(
        vars.contains(&format!("DEVICE={}", h.device).as_str()),
        "{env}"
    );
    let times = vars
        .iter()
        .find_map(|v| v.strip_prefix("RING_TIMES="))
        .unwrap();
    let times: Vec<f64> = times.split(' ').map(|t| t.parse().unwrap()).collect();
    assert_eq!(times[0], 0.0);
    assert!((times[1] - 0.75).abs() < 0.3, "{env}");
    for absent in ["CALLER_NAME=", "CALL_DATE=", "CALL_TIME=", "CONNECT="] {
        assert!(!vars.iter().any(|v| v.starts_with(absent)), "{env}");
    }
    assert!(
        !env.contains("rm -rf"),
        "caller name never reaches a command"
    );
    let read = |n: &str| fs::read_to_string(h.path(n)).unwrap().trim().to_string();
    assert_eq!(read("stdin"), "/dev/null");
    assert_eq!(read("sid"), read("pid"), "own session");
    // None of rgetty's own fds leaks into the command: the line, the log, the signal pipe.
    let fds = read("fds");
    let tty = format!("/dev/{}", h.device);
    let log = h.log_path().display().to_string();
    for l in fds.lines() {
        assert!(
            !l.ends_with(&tty) && !l.ends_with(&log) && !l.contains("socket:"),
            "{l}\n{fds}"
        );
    }
    assert!(fds.contains(" 0 -> /dev/null"), "{fds}");
    assert!(!answered(&h));
}

#[test]
fn world_readable_pattern_file_is_refused_and_the_call_answered() {
    // With matching on, TWO would fire at 2.0 s; refused, the third ring is answered.
    let mut h = rig("rings 3\n", TABLE, 0o644);
    h.spawn_waiting(&["--ring-timeout", "3"]);
    h.modem.ring_at(&secs_list(&[0.0, 0.75, 2.75]), None);
    h.modem
        .wait_to_modem("ATA\r", s(15.0))
        .unwrap_or_else(|e| panic!("{e:?}\n{}", h.explain()));
    let log = h.log();
    assert!(
        log.contains("ring patterns refused") && log.contains("mode 0644"),
        "{}",
        h.explain()
    );
    assert!(!log.contains("matched"));
    std::thread::sleep(s(0.3));
    for m in MARKERS {
        assert!(!h.path(m).exists(), "{m} ran from a refused file");
    }
}

#[test]
fn warn_mode_uses_a_world_readable_file_loudly() {
    // Also: a relative ring-patterns name is relative to the config dir.
    let mut h = rig("rings 5\nring-patterns-perms warn\n", TABLE, 0o644);
    let cfg = fs::read_to_string(h.path("etc/mgetty.config")).unwrap();
    let abs = h.path("etc/ring.conf").display().to_string();
    fs::write(
        h.path("etc/mgetty.config"),
        cfg.replace(&format!("ring-patterns {abs}"), "ring-patterns ring.conf"),
    )
    .unwrap();
    h.spawn_waiting(&["--ring-timeout", "1.5"]);
    h.modem.ring_at(&secs_list(&[0.0, 0.75]), None);
    wait_file(&h, &h.path("TWO"), 0, s(15.0));
    assert!(
        h.log().contains("WARNING: ring patterns used although"),
        "{}",
        h.explain()
    );
    assert!(!answered(&h));
}

/// `rgetty --check` on a config dir with `mgetty.config` and `ring.conf`; (exit code, stderr).
fn check(config: &str, patterns: &str, mode: u32) -> (Option<i32>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let pat = dir.path().join("ring.conf");
    fs::write(&pat, patterns).unwrap();
    fs::set_permissions(&pat, fs::Permissions::from_mode(mode)).unwrap();
    fs::write(
        dir.path().join("mgetty.config"),
        format!("ring-patterns {}\n{config}", pat.display()),
    )
    .unwrap();
    let out = Command::new(RGETTY)
        .args(["--check", "--config-dir", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), err, dir)
}

#[test]
fn check_warns_about_patterns_the_threshold_cuts_off() {
    let (code, err, dir) = check("rings 3\n", TABLE, 0o600);
    let p = dir.path().join("ring.conf");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "warning: {}:3: pattern needs 3 rings but rings is 3",
            p.display()
        )),
        "{err}"
    );
    assert!(err.contains("set rings to 4 or more"), "{err}");
    assert!(!err.contains(":2: pattern"), "TWO can fire: {err}");
    assert!(!err.contains(":4: pattern"), "SLOW can fire: {err}");
    // With rings 4 nothing is cut off.
    let (code, err, _dir) = check("rings 4\n", TABLE, 0o600);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("can never fire"), "{err}");
}

#[test]
fn check_reports_pattern_syntax_errors_as_file_line_and_bad_perms() {
    let conf = "# ok\nR 0.5-1 R 1.25 : touch /tmp/x\nR 4-2 R 1 : backwards\nR 1 R : nothing\n";
    let (code, err, dir) = check("rings 5\n", conf, 0o644);
    let p = dir.path().join("ring.conf");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("{}:3: ", p.display())), "{err}");
    assert!(err.contains(&format!("{}:4: ", p.display())), "{err}");
    assert!(!err.contains(&format!("{}:2: ", p.display())), "{err}");
    assert!(err.contains("rgetty would refuse it"), "{err}");
    // Not root-owned is refused outright, even with mode 0600 and `ring-patterns-perms warn`:
    // its commands run as root.
    let (_, err, dir) = check("rings 5\nring-patterns-perms warn\n", TABLE, 0o600);
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    nix::unistd::chown(&dir.path().join("ring.conf"), Some(nobody.uid), None).unwrap();
    assert!(!err.contains("warning"), "{err}");
    let out = Command::new(RGETTY)
        .args(["--check", "--config-dir", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "owned by uid {}, not root; refusing it",
            nobody.uid
        )),
        "{err}"
    );
}

/// The special files a `ring-patterns` line can name by mistake or malice, made in `dir`,
/// with the reason rgetty gives for each.
fn special_files(dir: &Path) -> Vec<(std::path::PathBuf, &'static str)> {
    let fifo = dir.join("fifo.conf");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let big = dir.join("big.conf");
    fs::write(&big, "#\n".repeat(600_000)).unwrap();
    fs::set_permissions(&big, fs::Permissions::from_mode(0o600)).unwrap();
    let sub = dir.join("subdir");
    fs::create_dir(&sub).unwrap();
    vec![
        ("/dev/zero".into(), "is a character device"),
        (fifo, "is a FIFO"),
        (sub, "is a directory"),
        (big, "over the 1 MiB limit"),
    ]
}

#[test]
fn check_refuses_dev_zero_fifo_dir_and_huge_pattern_files_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (file, reason) in special_files(dir.path()) {
        fs::write(
            dir.path().join("mgetty.config"),
            format!("ring-patterns {}\n", file.display()),
        )
        .unwrap();
        let t0 = Instant::now();
        let out = Command::new(RGETTY)
            .args(["--check", "--config-dir", dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        let took = t0.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file:?}: {err}");
        assert!(took < s(1.0), "{file:?}: {took:?}");
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| l.contains("conf") || l.contains("zero") || l.contains("subdir"))
            .collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(
            lines[0].contains(&format!("{}: ", file.display())) && lines[0].contains(reason),
            "{err}"
        );
    }
}

#[test]
fn at_run_time_special_pattern_files_are_refused_at_the_first_ring_and_sigterm_works() {
    let dir = tempfile::tempdir().unwrap();
    for (file, reason) in special_files(dir.path()) {
        let mut h = Harness::new(vmodem::Config::default(), "");
        fs::write(
            h.path("etc/mgetty.config"),
            format!(
                "{BASE_CONFIG}init-chat \"\" ATZ OK\nrings 2\nring-patterns {}\n",
                file.display()
            ),
        )
        .unwrap();
        h.spawn_waiting(&["--ring-timeout", "3"]);
        let t0 = Instant::now();
        h.modem.ring_at(&secs_list(&[0.0]), None);
        h.wait_log("ring patterns refused", s(10.0));
        assert!(t0.elapsed() < s(1.5), "{file:?}: {:?}", t0.elapsed());
        let log = h.log();
        let refused: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("ring patterns refused"))
            .collect();
        assert_eq!(refused.len(), 1, "{log}");
        assert!(
            refused[0].contains(&format!("{}: ", file.display())) && refused[0].contains(reason),
            "{log}"
        );
        h.signal(nix::sys::signal::Signal::SIGTERM);
        let code = h.wait_exit(s(5.0));
        assert_eq!(code, Some(10), "{file:?}: {}", h.explain());
    }
}

#[test]
fn ri_edges_alone_ring_the_getty_and_match_a_cadence() {
    // A modem that signals rings only on the RI pin: no RING text at all. The pty's RI ioctls
    // are faked by an LD_PRELOAD shim (needs a C compiler; skipped with a note without one).
    let mut h = rig("rings 5\n", TABLE, 0o600);
    let Some(so) = build_ri_shim(h.dir.path()) else {
        eprintln!("skipped: no C compiler to build the RI shim");
        return;
    };
    let fifo = h.path("ri.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // O_RDWR: opening the fifo never blocks, even before the getty's side is open.
    let writer = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    h.spawn_env(
        &["--ring-timeout", "1.5"],
        &[("LD_PRELOAD", so.as_path()), ("RI_FIFO", fifo.as_path())],
    );
    h.wait_log(r"waiting\.\.\.", s(20.0));
    assert!(h.log().contains("RI pin"), "{}", h.explain());
    // with an RI pin too, the idle wait is in rgetty-wait, which watches the pin (§4.3)
    h.wait_in_waiter();
    std::thread::sleep(s(0.2));
    let t0 = Instant::now();
    for t in [0.0, 0.75] {
        if let Some(w) = (t0 + s(t)).checked_duration_since(Instant::now()) {
            std::thread::sleep(w);
        }
        use std::io::Write;
        (&writer).write_all(b"x").unwrap();
    }
    wait_file(&h, &h.path("TWO"), 0, s(10.0));
    let log = h.log();
    assert!(
        log.contains("RING #2 (dist 0, caller \"none\") from RI"),
        "{}",
        h.explain()
    );
    assert!(!answered(&h), "{}", h.explain());
    h.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(h.wait_exit(s(5.0)), Some(10), "{}", h.explain());
}
