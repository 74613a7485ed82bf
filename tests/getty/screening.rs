//! Call screening with the real `rgetty` on the test modem: the block list (`block`, `allow`
//! over `block`, withheld callers), what the state file says while a call is refused or
//! blocked, the call log's record, and screening that fails closed on a broken file.

use crate::common;

use std::fs;
use std::time::{Duration, Instant};

use common::vmodem::type_at_prompt;
use common::*;

const CONFIG: &str = "init-chat \"\" ATZ OK\nrings 3\nblock-list blocks\n";

fn cid(number: &str) -> CallerId {
    CallerId {
        date: "1122".into(),
        time: "1951".into(),
        number: number.into(),
        name: Some("ROBO CALLER".into()),
    }
}

/// A getty waiting for calls with `blocks` as its block list; every login goes to `rec`.
fn waiting(blocks: &str, dialin: Option<&str>) -> Harness {
    let mut h = Harness::new(vmodem::Config::default(), &format!("{BASE_CONFIG}{CONFIG}"));
    let rec = h.recorder("rec");
    h.login_config(&format!("* - - {} @\n", rec.display()));
    fs::write(h.path("etc/blocks"), blocks).unwrap();
    if let Some(d) = dialin {
        fs::write(h.path("etc/dialin.config"), d).unwrap();
    }
    h.spawn_waiting(&["--ring-timeout", "2"]);
    h
}

/// The call log's records.
fn calls(h: &Harness) -> Vec<String> {
    fs::read_to_string(h.path("log/calls.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn wait_calls(h: &Harness, n: usize) -> Vec<String> {
    let end = Instant::now() + s(30.0);
    while calls(h).len() < n {
        assert!(Instant::now() < end, "no call record\n{}", h.explain());
        std::thread::sleep(Duration::from_millis(50));
    }
    calls(h)
}

/// The state file's text.
fn state_file(h: &Harness) -> String {
    fs::read_to_string(h.path(&format!("run/rgetty.state.{}", h.dev_id()))).unwrap_or_default()
}

/// Wait until the state file contains `want`; returns it.
fn wait_state(h: &Harness, want: &str, timeout: Duration) -> String {
    let end = Instant::now() + timeout;
    loop {
        let st = state_file(h);
        if st.contains(want) {
            return st;
        }
        assert!(
            Instant::now() < end,
            "state file never showed {want:?}: {st}\n{}",
            h.explain()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The ms figure of the `blocked: on-hook again N ms` log line.
fn on_hook_ms(h: &Harness) -> u64 {
    let log = h.log();
    let re = regex::Regex::new(r"on-hook again (\d+) ms after the caller ID").unwrap();
    re.captures(&log).unwrap()[1].parse().unwrap()
}

fn assert_blocked(h: &Harness, rule: &str) {
    h.wait_log(r"blocked: on-hook again", s(15.0));
    let cmds = h.modem.commands();
    assert!(!cmds.contains(&"ATA".to_string()), "{cmds:?}");
    let i = cmds.iter().position(|c| c == "ATH1").expect("ATH1 sent");
    assert_eq!(
        cmds.get(i + 1).map(String::as_str),
        Some("ATH0"),
        "{cmds:?}"
    );
    let ms = on_hook_ms(h);
    eprintln!("blocked call on-hook {ms} ms after its caller ID");
    assert!(ms <= 1000, "on-hook after {ms} ms");
    let rec = wait_calls(h, 1);
    assert!(rec[0].contains("\"outcome\":\"blocked\""), "{rec:?}");
    assert!(rec[0].contains(rule), "{rec:?}");
    assert!(!h.modem.transcript().printable().contains("login:"));
}

#[test]
fn a_blocked_caller_is_picked_up_and_dropped_at_once() {
    let h = waiting("# robocalls\nblock 0900* premium rate\n", None);
    let t0 = Instant::now();
    h.modem.ring(3, s(1.0), Some(cid("0900555")));
    assert_blocked(&h, "blocks:2 (block 0900* \\\"premium rate\\\")");
    let rec = calls(&h);
    assert!(
        rec[0].contains("\"caller_name\":\"ROBO CALLER\""),
        "{rec:?}"
    );
    // dropped before the second RING would have come
    assert!(t0.elapsed() < s(30.0));
    let log = h.log();
    assert!(log.contains("blocked caller dev="), "{log}");
}

#[test]
fn a_withheld_number_matches_the_private_class() {
    let h = waiting("block private withheld numbers\n", None);
    h.modem.ring(3, s(1.0), Some(cid("P")));
    assert_blocked(&h, "(block private \\\"withheld numbers\\\")");
}

#[test]
fn clip_caller_id_is_screened_as_soon_as_it_arrives() {
    let h = waiting("block 5551234 ex\n", None);
    h.modem.ring(1, s(1.0), None);
    std::thread::sleep(Duration::from_millis(200));
    h.modem
        .send_raw(b"\r\n+CLIP: \"5551234\",129,,,\"JOHN DOE\"\r\n");
    assert_blocked(&h, "blocks:1");
    assert!(calls(&h)[0].contains("\"caller_name\":\"JOHN DOE\""));
}

#[test]
fn allow_wins_over_block() {
    let h = waiting("block any everybody else\nallow 5551234 mum\n", None);
    h.modem.set_caller(type_at_prompt("bob\r", s(20.0)));
    h.modem.ring(3, s(0.5), Some(cid("5551234")));
    let r = h.recorded("rec", s(30.0));
    assert_eq!(field(&r, "argv1"), Some("bob"), "{r:?}");
    assert!(!h.modem.commands().contains(&"ATH1".to_string()));
}

#[test]
fn a_refused_call_shows_refusing_with_its_reason_from_the_caller_id_on() {
    let h = waiting("ignore 5551234 let it ring\n", None);
    h.modem.ring(2, s(1.0), Some(cid("5551234")));
    // The name line follows the number; on a loaded machine it may land in a second write.
    let st = wait_state(&h, "\"caller_name\":\"ROBO CALLER\"", s(5.0));
    assert!(st.contains("\"state\":\"refusing\""), "{st}");
    assert!(st.contains("ignored by"), "{st}");
    assert!(st.contains("blocks:1"), "{st}");
    assert!(st.contains("\"caller_name\":\"ROBO CALLER\""), "{st}");
    let rec = wait_calls(&h, 1);
    assert!(rec[0].contains("\"outcome\":\"refused\""), "{rec:?}");
    assert!(
        rec[0].contains("\"caller_name\":\"ROBO CALLER\""),
        "{rec:?}"
    );
    assert!(!h.modem.commands().iter().any(|c| c == "ATA" || c == "ATH1"));
}

fn fails_closed(setup: impl Fn(&Harness), want: &str) {
    let mut h = Harness::new(vmodem::Config::default(), &format!("{BASE_CONFIG}{CONFIG}"));
    fs::write(h.path("etc/blocks"), "").unwrap();
    setup(&h);
    h.spawn_waiting(&["--ring-timeout", "1.5"]);
    h.modem.ring(3, s(0.5), Some(cid("4441234")));
    let st = wait_state(&h, "\"state\":\"refusing\"", s(5.0));
    assert!(st.contains("screening fails closed"), "{st}");
    let rec = wait_calls(&h, 1);
    assert!(rec[0].contains("\"outcome\":\"refused\""), "{rec:?}");
    assert!(rec[0].contains(want), "{rec:?}");
    assert!(!h.modem.commands().contains(&"ATA".to_string()));
    assert!(h.log().contains("screening fails closed"), "{}", h.log());
}

#[test]
fn a_garbage_dialin_config_refuses_every_call() {
    fails_closed(
        |h| fs::write(h.path("etc/dialin.config"), b"\x7fELF\x02\x01\x01\0\0").unwrap(),
        "not a dialin.config line",
    );
}

#[test]
fn a_dialin_config_directory_refuses_every_call() {
    fails_closed(
        |h| fs::create_dir(h.path("etc/dialin.config")).unwrap(),
        "dialin.config",
    );
}

#[test]
fn a_broken_block_list_refuses_every_call() {
    fails_closed(
        |h| fs::write(h.path("etc/blocks"), "reject 555\n").unwrap(),
        "blocks:1: unknown action",
    );
}

#[test]
fn a_hundred_blocked_calls_leave_fds_and_rss_flat() {
    let h = waiting("block any\n", None);
    let pid = h.pid();
    // the fewest over a few samples: a ring command or a log rotation may hold one briefly
    let fds = || {
        (0..5)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(50));
                fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
            })
            .min()
            .unwrap()
    };
    // what the line costs: Private_Dirty (RSS moves with the idle page dropping)
    let kb = |file: &str, key: &str| {
        let st = fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap();
        st.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap()
    };
    let mem = || (kb("smaps_rollup", "Private_Dirty:"), kb("status", "VmRSS:"));
    let mut first = None;
    for i in 0..100 {
        h.modem.ring(1, s(0.5), Some(cid(&format!("555{i:04}"))));
        wait_calls(&h, i + 1);
        let end = Instant::now() + s(20.0);
        while h.log().matches("waiting...").count() < i + 2 {
            assert!(Instant::now() < end, "{}", h.explain());
            std::thread::sleep(Duration::from_millis(20));
        }
        if i == 9 {
            // measured while the line waits in rgetty-wait (§4.3), not before the exec
            h.wait_in_waiter();
            first = Some((fds(), mem()));
        }
    }
    let (fd0, (dirty0, rss0)) = first.unwrap();
    h.wait_in_waiter();
    let (fd1, (dirty1, rss1)) = (fds(), mem());
    eprintln!(
        "after 10 blocked calls: {fd0} fds, Private_Dirty {dirty0} kB, RSS {rss0} kB; \
         after 100: {fd1} fds, Private_Dirty {dirty1} kB, RSS {rss1} kB"
    );
    assert!(fd1 <= fd0, "fds grew from {fd0} to {fd1}");
    assert!(
        dirty1 <= dirty0 + 64,
        "Private_Dirty grew from {dirty0} to {dirty1} kB"
    );
}

/// `rgetty --check` on a config dir with this dialin.config (`None`: none), block list and
/// extra mgetty.config lines: (exit code, stdout, stderr).
fn check(dialin: Option<&[u8]>, blocks: Option<&str>, extra: &str) -> (i32, String, String) {
    let dir = super::firsthour::check_dir("* - - /bin/login @\n");
    let mut config = format!("speed 38400\nrings 2\n{extra}");
    if let Some(b) = blocks {
        fs::write(dir.path().join("blocks"), b).unwrap();
        config.push_str("block-list blocks\n");
    }
    fs::write(dir.path().join("mgetty.config"), config).unwrap();
    if let Some(d) = dialin {
        fs::write(dir.path().join("dialin.config"), d).unwrap();
    }
    let out = super::firsthour::run_check(dir.path());
    let text = |b: &[u8]| String::from_utf8_lossy(b).replace(&*dir.path().to_string_lossy(), "D");
    (
        out.status.code().unwrap(),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn check_names_every_file_it_read_including_the_screening_files() {
    let (code, out, err) = check(Some(b"!555\nall\n"), Some("block 0900* premium\n"), "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "ok: 4 files: D/mgetty.config, D/login.config, D/dialin.config, D/blocks\n"
    );
}

#[test]
fn check_fails_on_a_garbage_dialin_config() {
    let (code, _, err) = check(Some(b"555\n\x7fELF\x02\x01\0\n"), None, "");
    assert_eq!(code, 2);
    assert!(
        err.contains("D/dialin.config:2: not a dialin.config line")
            && err.contains("rgetty would refuse every call"),
        "{err}"
    );
}

#[test]
fn check_fails_on_a_dialin_config_directory_or_symlink() {
    let dir = super::firsthour::check_dir("* - - /bin/login @\n");
    fs::create_dir(dir.path().join("dialin.config")).unwrap();
    let out = super::firsthour::run_check(dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dialin.config"), "{err}");
    fs::remove_dir(dir.path().join("dialin.config")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("dialin.config")).unwrap();
    let out = super::firsthour::run_check(dir.path());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn check_fails_on_every_bad_block_list_line_and_a_missing_block_list() {
    let (code, _, err) = check(None, Some("block 555 ok\nreject 444\nblock 5;5\n"), "");
    assert_eq!(code, 2);
    assert!(
        err.contains("D/blocks:2: unknown action \"reject\""),
        "{err}"
    );
    assert!(err.contains("D/blocks:3: bad number"), "{err}");
    let dir = super::firsthour::check_dir("* - - /bin/login @\n");
    fs::write(
        dir.path().join("mgetty.config"),
        "rings 2\nblock-list nowhere\n",
    )
    .unwrap();
    let out = super::firsthour::run_check(dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere: not found (block-list)"));
}

#[test]
fn check_fails_on_a_login_config_that_would_be_ignored() {
    use std::os::unix::fs::PermissionsExt;
    let dir = super::firsthour::check_dir("/AutoPPP/ - a_ppp /usr/sbin/pppd auth\n");
    let lc = dir.path().join("login.config");
    fs::set_permissions(&lc, fs::Permissions::from_mode(0o644)).unwrap();
    let out = super::firsthour::run_check(dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("it would be ignored"), "{err}");
}

#[test]
fn check_warns_about_screening_with_rings_1() {
    let (code, _, err) = check(Some(b"!555\n"), None, "rings 1\n");
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: caller-ID screening (dialin.config) with rings 1")
            && err.contains("set rings to 2 or more"),
        "{err}"
    );
    let (_, _, err) = check(Some(b"!555\n"), None, "");
    assert!(!err.contains("rings"), "{err}");
}
