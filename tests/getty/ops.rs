//! `rgetty status`, `rgetty calls` and the metrics, run as an admin would: the real binary
//! against state files and call logs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use crate::prom;
use prom::prom_parse;

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rgetty::ops::json::{Obj, parse_object};

/// Run `rgetty ARGS`; (exit code, stdout, stderr).
fn rgetty(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(RGETTY).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn state_file(dir: &Path, dev_id: &str, json: &str) {
    fs::write(dir.join(format!("rgetty.state.{dev_id}")), json).unwrap();
}

fn my_start_ticks() -> u64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split_whitespace().nth(19).unwrap().parse().unwrap()
}

const CALLS: &str = r#"{"start":"2026-11-30T10:00:00Z","end":"2026-11-30T10:00:30Z","line":"ttyUSB0","caller_id":"5551234","caller_name":null,"connect":"33600","outcome":"answered","reason":null,"user":"bob","program":"/bin/login"}
{"start":"2026-11-30T11:00:00Z","end":"2026-11-30T11:00:09Z","line":"ttyUSB1","caller_id":"5550000","caller_name":"Spam \"Inc\"","connect":null,"outcome":"refused","reason":"dialin.config denies 5550000","user":null,"program":null}
{"start":"2026-11-30T12:00:00Z","end":"2026-11-30T12:00:09Z","line":"ttyUSB0","caller_id":"none","caller_name":null,"connect":null,"outcome":"nologin","reason":"nologin.ttyUSB0 exists","user":null,"program":null}
"#;

/// A live pid (ours, with our start time) shows its state; a dead one shows `down`; the table,
/// the JSON and the Prometheus text agree.
#[test]
fn status_live_and_dead_lines() {
    let dir = tempfile::tempdir().unwrap();
    let me = std::process::id();
    state_file(
        dir.path(),
        "ttyUSB0",
        &format!(
            r#"{{"line":"ttyUSB0","state":"waiting","since_unix":1796000000,"pid":{me},"start_ticks":{}}}"#,
            my_start_ticks()
        ),
    );
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    state_file(
        dir.path(),
        "ttyUSB1",
        &format!(
            r#"{{"line":"ttyUSB1","state":"login","since_unix":1796000000,"pid":{dead_pid},"caller_id":"555","connect":"33600"}}"#
        ),
    );
    fs::write(dir.path().join("calls.jsonl"), CALLS).unwrap();
    let pid_dir = dir.path().to_str().unwrap();
    let log = dir.path().join("calls.jsonl");
    let log = log.to_str().unwrap();

    let (code, out, err) = rgetty(&["status", "--pid-dir", pid_dir, "--call-log", log]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = out.lines().collect();
    assert!(
        rows[0].starts_with("LINE") && rows[0].contains("DETAIL"),
        "{out}"
    );
    assert!(
        rows[1].starts_with("ttyUSB0") && rows[1].contains("waiting"),
        "{out}"
    );
    assert!(rows[1].contains(&me.to_string()));
    assert!(rows[2].contains("down (was login)"), "{out}");
    assert!(rows[2].contains("caller 555, CONNECT 33600"), "{out}");

    let (code, out, _) = rgetty(&["status", "--json", "--pid-dir", pid_dir]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with('[') && out.trim_end().ends_with(']'),
        "{out}"
    );
    assert!(out.contains(&format!(r#""state":"waiting","recorded_state":"waiting","since":"2026-11-30T00:53:20Z","since_unix":1796000000,"pid":{me}"#)), "{out}");
    assert!(
        out.contains(r#""state":"down","recorded_state":"login""#),
        "{out}"
    );

    let (code, out, err) = rgetty(&[
        "status",
        "--prometheus",
        "--pid-dir",
        pid_dir,
        "--call-log",
        log,
    ]);
    assert_eq!(code, 0, "{err}");
    let Some(samples) = prom_parse(&out) else {
        return;
    };
    let has = |s: &str| samples.iter().any(|l| l == s);
    assert!(
        has("gauge rgetty_lines {'state': 'waiting'} 1.0"),
        "{samples:#?}"
    );
    assert!(
        has("gauge rgetty_lines {'state': 'down'} 1.0"),
        "{samples:#?}"
    );
    assert!(has(
        "gauge rgetty_line_state {'line': 'ttyUSB1', 'state': 'down'} 1.0"
    ));
    assert!(
        has("counter rgetty_calls_total {'outcome': 'answered'} 1.0"),
        "{samples:#?}"
    );
    assert!(has("counter rgetty_calls_total {'outcome': 'refused'} 1.0"));
    assert!(has("counter rgetty_calls_total {'outcome': 'cadence'} 0.0"));
    assert!(
        has("gauge rgetty_last_call_timestamp_seconds {'line': 'ttyUSB0'} 1796040000.0"),
        "{samples:#?}"
    );
}

/// `rgetty calls` prints the log as a table, filtered by time and line.
#[test]
fn calls_table_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.jsonl");
    fs::write(&log, CALLS).unwrap();
    let log = log.to_str().unwrap();
    let (code, out, err) = rgetty(&["calls", "--call-log", log]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(out.contains("bob -> /bin/login"), "{out}");
    assert!(out.contains("5550000 (Spam \"Inc\")") && out.contains("dialin.config denies 5550000"));
    let (_, out, _) = rgetty(&["calls", "--call-log", log, "--line", "/dev/ttyUSB0"]);
    assert_eq!(out.lines().count(), 3, "{out}");
    let (_, out, _) = rgetty(&["calls", "--call-log", log, "--since", "2026-11-30T10:30"]);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(!out.contains("answered"));
    let (_, out, _) = rgetty(&["calls", "--call-log", log, "--json", "--line", "ttyUSB1"]);
    assert_eq!(out.lines().count(), 1);
    assert!(out.contains(r#""caller_name":"Spam \"Inc\"""#), "{out}");
    let (code, _, err) = rgetty(&["calls", "--call-log", log, "--since", "yesterday-ish"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a time"), "{err}");
    // the call log named in mgetty.config is used when --call-log is not given
    fs::create_dir(dir.path().join("etc")).unwrap();
    fs::write(
        dir.path().join("etc/mgetty.config"),
        format!("call-log {log}\n"),
    )
    .unwrap();
    let etc = dir.path().join("etc");
    let (_, out, _) = rgetty(&["calls", "--config-dir", etc.to_str().unwrap()]);
    assert_eq!(out.lines().count(), 4, "{out}");
}

// ------------------------------------------------------------------ the getty reports

fn cid(number: &str) -> CallerId {
    CallerId {
        date: "1130".into(),
        time: "1200".into(),
        number: number.into(),
        name: Some("ANN".into()),
    }
}

/// `rgetty status --json` for the harness's pid dir: the object of its line.
fn line_status(h: &Harness) -> Option<Obj> {
    let run = h.path("run");
    let (code, out, err) = rgetty_cmd(&["status", "--json", "--pid-dir", run.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    out.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(",\n")
        .filter(|l| !l.trim().is_empty())
        .map(|l| parse_object(l).unwrap())
        .find(|o| o.str("line") == Some(h.device.as_str()))
}

fn rgetty_cmd(args: &[&str]) -> (i32, String, String) {
    rgetty(args)
}

/// Wait until the line's status satisfies `ok`; the status then.
fn wait_status(h: &Harness, what: &str, ok: impl Fn(&Obj) -> bool) -> Obj {
    let end = Instant::now() + s(30.0);
    let mut last = None;
    while Instant::now() < end {
        last = line_status(h);
        if last.as_ref().is_some_and(&ok) {
            return last.unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("status never showed {what}: {last:?}\n{}", h.explain());
}

/// The call log records (default place: the log dir).
fn records(h: &Harness) -> Vec<Obj> {
    fs::read_to_string(h.path("log/calls.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| parse_object(l).unwrap())
        .collect()
}

fn wait_records(h: &Harness, n: usize) -> Vec<Obj> {
    let end = Instant::now() + s(60.0);
    while Instant::now() < end {
        let r = records(h);
        if r.len() >= n {
            return r;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "the call log never had {n} records: {:?}\n{}",
        records(h),
        h.explain()
    );
}

fn cmdline(pid: i32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw)
        .split('\0')
        .next()
        .unwrap_or("")
        .to_string()
}

/// Waiting → a call with caller ID and CONNECT → carrier lost: the state file, the title and
/// the call log follow; a finished rgetty shows as down.
#[test]
fn status_follows_a_whole_call() {
    let mut h = call_harness("");
    h.login_config("* - - /bin/false @\n");
    h.spawn_waiting(&[]);
    let pid = h.pid();
    let st = wait_status(&h, "waiting", |o| o.str("state") == Some("waiting"));
    assert_eq!(st.int("pid"), Some(i64::from(pid)));
    assert_eq!(
        cmdline(pid),
        format!("rgetty: {} waiting", h.device),
        "process title"
    );

    h.modem.set_caller(vec![
        CallerStep::login_prompt(s(10.0)),
        CallerStep::Sleep(s(3.0)),
        CallerStep::DropCarrier,
    ]);
    h.modem.ring(2, s(0.5), Some(cid("5551234")));
    let st = wait_status(&h, "login with caller ID", |o| {
        o.str("state") == Some("login")
    });
    assert_eq!(st.str("caller_id"), Some("5551234"), "{st:?}");
    assert_eq!(st.str("caller_name"), Some("ANN"));
    assert_eq!(st.str("connect"), Some("38400"));
    assert_eq!(cmdline(pid), format!("rgetty: {} login", h.device));

    assert_eq!(h.wait_exit(s(20.0)), Some(10), "{}", h.explain());
    let st = wait_status(&h, "down", |o| o.str("state") == Some("down"));
    assert_eq!(st.str("recorded_state"), Some("stopped"), "{st:?}");
    let r = wait_records(&h, 1);
    assert_eq!(r[0].str("outcome"), Some("no-carrier"), "{r:?}");
    assert_eq!(r[0].str("caller_id"), Some("5551234"));
    assert_eq!(r[0].str("connect"), Some("38400"));
    assert!(r[0].str("reason").unwrap().contains("carrier"), "{r:?}");
}

/// kill -9: the state file stays, and status shows the line as down.
#[test]
fn killed_rgetty_shows_down() {
    let mut h = call_harness("");
    h.spawn_waiting(&[]);
    wait_status(&h, "waiting", |o| o.str("state") == Some("waiting"));
    h.signal(nix::sys::signal::Signal::SIGKILL);
    assert_eq!(h.wait_exit(s(10.0)), None, "killed by a signal");
    let st = wait_status(&h, "down", |o| o.str("state") == Some("down"));
    assert_eq!(st.str("recorded_state"), Some("waiting"));
    let run = h.path("run");
    let (_, table, _) = rgetty(&["status", "--pid-dir", run.to_str().unwrap()]);
    assert!(table.contains("down (was waiting)"), "{table}");
}

/// A lock holder (a dial-out) is shown with its pid and command; its session is one record.
#[test]
fn dialout_holder_is_shown() {
    let mut h = call_harness("");
    h.spawn_waiting(&["--dialout-grace", "0.2"]);
    let mut holder = Command::new("sleep").arg("30").spawn().unwrap();
    // rgetty watches the lock dir from just after it reports `waiting`: re-create the lock
    // (by rename, as lockers do) until it is noticed.
    let tmp = h.path("lock/.LCK.tmp");
    let end = Instant::now() + s(30.0);
    while line_status(&h)
        .and_then(|o| o.str("state").map(str::to_string))
        .as_deref()
        != Some("dialout")
        && Instant::now() < end
    {
        fs::write(&tmp, format!("{:>10}\n", holder.id())).unwrap();
        fs::rename(&tmp, h.lock_path()).unwrap();
        std::thread::sleep(s(0.5));
    }
    let st = wait_status(&h, "dialout", |o| o.str("state") == Some("dialout"));
    assert_eq!(st.int("holder_pid"), Some(i64::from(holder.id())), "{st:?}");
    assert_eq!(st.str("holder_cmd"), Some("sleep 30"), "{st:?}");
    let run = h.path("run");
    let (_, table, _) = rgetty(&["status", "--pid-dir", run.to_str().unwrap()]);
    assert!(
        table.contains(&format!("holder pid {} (sleep 30)", holder.id())),
        "{table}"
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(h.wait_exit(s(15.0)), Some(0), "{}", h.explain());
    let r = wait_records(&h, 1);
    assert_eq!(r[0].str("outcome"), Some("dialout"), "{r:?}");
    assert_eq!(r[0].str("program"), Some("sleep 30"), "{r:?}");
}

/// `cu` itself holding the line (in a private mount namespace, so its /var/lock is ours).
#[test]
fn cu_holding_the_line_is_shown() {
    let have = |p: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {p}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !have("cu") || !have("unshare") {
        println!("SKIP: cu or unshare is not installed");
        return;
    }
    // cu runs as uucp: it must open the line and write into the lock dir.
    let mut h = call_harness("port-mode 0666\n");
    let lock = h.path("lock");
    fs::set_permissions(&lock, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
    h.spawn_waiting(&["--dialout-grace", "0.2"]);
    let script = format!(
        "mount --bind {} /var/lock && exec cu -l /dev/{} -s 38400",
        lock.display(),
        h.device
    );
    // its own process group: cu forks, and both must go at the end
    let mut cu = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let cu_group = nix::unistd::Pid::from_raw(i32::try_from(cu.id()).unwrap());
    let end = Instant::now() + s(10.0);
    let mut st = None;
    while Instant::now() < end {
        st = line_status(&h).filter(|o| o.str("state") == Some("dialout"));
        if st.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = nix::sys::signal::killpg(cu_group, nix::sys::signal::Signal::SIGKILL);
    let _ = cu.wait();
    let Some(st) = st else {
        println!(
            "SKIP: cu did not take a lock rgetty recognises (lock dir: {:?})",
            fs::read_dir(&lock).map(|d| d.count())
        );
        return;
    };
    assert!(st.str("holder_cmd").unwrap().starts_with("cu "), "{st:?}");
}

/// One answered call, one refused by dialin.config, one nologin call: three records.
#[test]
fn three_calls_three_records() {
    let mut h = call_harness("");
    let rec = h.recorder("rec");
    h.login_config(&format!("* - - {} @\n", rec.display()));
    fs::write(h.path("etc/dialin.config"), "!5551234\nall\n").unwrap();
    h.spawn_waiting(&["--ring-timeout", "1.5"]);

    h.modem.ring(2, s(0.5), Some(cid("5551234")));
    wait_records(&h, 1);
    h.wait_log(r"(?s)denied caller.*waiting\.\.\.", s(30.0));

    let nologin = h.path(&format!("nologin/nologin.{}", h.dev_id()));
    fs::write(&nologin, "").unwrap();
    h.modem.ring(2, s(0.5), Some(cid("5550001")));
    wait_records(&h, 2);
    h.wait_log(r"(?s)rejected.*waiting\.\.\.", s(30.0));
    fs::remove_file(&nologin).unwrap();

    h.modem
        .set_caller(vmodem::type_at_prompt("alice\r", s(10.0)));
    h.modem.ring(2, s(0.5), Some(cid("5550002")));
    h.recorded("rec", s(20.0));
    let r = wait_records(&h, 3);
    assert_eq!(r.len(), 3, "{r:?}");
    assert_eq!(r[0].str("outcome"), Some("refused"), "{r:?}");
    assert_eq!(r[0].str("caller_id"), Some("5551234"));
    assert_eq!(
        r[0].str("reason"),
        Some("dialin.config denies 5551234 (rule !5551234)")
    );
    assert_eq!(r[1].str("outcome"), Some("nologin"), "{r:?}");
    assert_eq!(
        r[1].str("reason"),
        Some(format!("nologin.{} exists", h.dev_id()).as_str())
    );
    assert_eq!(r[2].str("outcome"), Some("answered"), "{r:?}");
    assert_eq!(r[2].str("user"), Some("alice"));
    assert_eq!(r[2].str("program"), Some(rec.to_str().unwrap()));
    assert_eq!(r[2].str("connect"), Some("38400"));
    for rec in &r {
        assert_eq!(rec.str("line"), Some(h.device.as_str()));
        assert!(rec.str("start").unwrap() <= rec.str("end").unwrap());
    }
    let log = h.path("log/calls.jsonl");
    let (_, table, _) = rgetty(&["calls", "--call-log", log.to_str().unwrap()]);
    assert_eq!(table.lines().count(), 4, "{table}");
}

/// Outcomes that end in the same process: the rings stop (timeout), a cadence runs its
/// command, the modem reports NO CARRIER (no-carrier) .
#[test]
fn timeout_and_cadence_records() {
    let h0 = Harness::new(vmodem::Config::default(), "");
    let dir = h0.dir.path().to_str().unwrap().to_string();
    let pat = h0.path("etc/ring.conf");
    fs::write(&pat, format!("R 0.5-1 R 1.25 : touch {dir}/TWO\n")).unwrap();
    fs::set_permissions(&pat, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    fs::write(
        h0.path("etc/mgetty.config"),
        format!(
            "{BASE_CONFIG}init-chat \"\" ATZ OK\nrings 5\nring-patterns {}\n",
            pat.display()
        ),
    )
    .unwrap();
    let mut h = h0;
    h.spawn_waiting(&["--ring-timeout", "3"]);
    // two rings 0.75 s apart, then silence: the cadence fires
    h.modem.ring_at(&[s(0.0), s(0.75)], Some(cid("5550003")));
    let r = wait_records(&h, 1);
    assert_eq!(r[0].str("outcome"), Some("cadence"), "{r:?}");
    assert!(r[0].str("reason").unwrap().contains("touch"), "{r:?}");
    h.wait_log(r"(?s)call not answered.*waiting\.\.\.", s(30.0));
    // three slow rings, then nothing: not answered, the caller gave up
    h.modem.ring(3, s(2.5), None);
    let r = wait_records(&h, 2);
    assert_eq!(r[1].str("outcome"), Some("timeout"), "{r:?}");
    assert_eq!(
        r[1].str("reason"),
        Some("phone stopped ringing after 3 rings")
    );
}

/// A login name that never comes (timeout), a login.config user that does not exist
/// (refused), SIGTERM during a call (error).
#[test]
fn login_timeout_unknown_user_and_signal_records() {
    let mut h = call_harness("login-time 2\n");
    h.login_config("* - - /bin/false @\n");
    h.answer(vec![CallerStep::Sleep(s(20.0))]);
    assert_eq!(h.wait_exit(s(15.0)), Some(0), "{}", h.explain());
    let r = records(&h);
    assert_eq!(r[0].str("outcome"), Some("timeout"), "{r:?}");
    assert_eq!(r[0].str("reason"), Some("no login name within 2 s"));

    let mut h = call_harness("");
    h.login_config("* no-such-user-xyz - /bin/false @\n");
    h.answer(vmodem::type_at_prompt("bob\r", s(10.0)));
    assert_eq!(h.wait_exit(s(20.0)), Some(1), "{}", h.explain());
    let r = records(&h);
    assert_eq!(r[0].str("outcome"), Some("refused"), "{r:?}");
    assert!(
        r[0].str("reason")
            .unwrap()
            .contains("unknown user no-such-user-xyz"),
        "{r:?}"
    );
    assert_eq!(r[0].str("user"), Some("bob"));

    let mut h = call_harness("");
    h.login_config("* - - /bin/false @\n");
    h.answer(vec![
        CallerStep::login_prompt(s(10.0)),
        CallerStep::Sleep(s(20.0)),
    ]);
    wait_status(&h, "login", |o| o.str("state") == Some("login"));
    h.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(h.wait_exit(s(15.0)), Some(10), "{}", h.explain());
    let r = records(&h);
    assert_eq!(r[0].str("outcome"), Some("error"), "{r:?}");
    assert_eq!(r[0].str("reason"), Some("got signal 15"));
}

/// Ringback: the second call never comes (ringback-time is at least 30 s).
#[test]
fn missed_ringback_record() {
    let mut h = call_harness("ringback y\nringback-time 30\n");
    h.spawn_waiting(&["--ring-timeout", "1"]);
    h.modem.ring(1, s(0.5), None);
    let r = wait_records(&h, 1);
    assert_eq!(r[0].str("outcome"), Some("ringback"), "{r:?}");
    assert_eq!(r[0].str("reason"), Some("no second call within 30 s"));
}

/// The modem answers with NO CARRIER instead of CONNECT.
#[test]
fn no_carrier_record() {
    // The modem would take 30 s to connect; the line says NO CARRIER right after ATA.
    let cfg = vmodem::Config {
        answer_delay: s(30.0),
        ..vmodem::Config::default()
    };
    let mut h = Harness::new(cfg, &format!("{BASE_CONFIG}{CALL_CONFIG}"));
    h.spawn_waiting(&[]);
    h.modem.ring(2, s(0.5), None);
    h.modem.wait_to_modem("ATA", s(20.0)).unwrap();
    h.modem.send_raw(b"\r\nNO CARRIER\r\n");
    h.wait_exit(s(30.0));
    let r = wait_records(&h, 1);
    assert_eq!(r[0].str("outcome"), Some("no-carrier"), "{r:?}");
}

/// systemd's NOTIFY_SOCKET (a path, and an abstract name) gets STATUS= on state changes.
#[test]
fn notify_socket_gets_status() {
    for abstract_name in [false, true] {
        let mut h = call_harness("");
        let (rx, value) = if abstract_name {
            use std::os::linux::net::SocketAddrExt;
            let name = format!("rgetty-ops-test-{}", std::process::id());
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
            (UnixDatagram::bind_addr(&addr).unwrap(), format!("@{name}"))
        } else {
            let p = h.path("notify");
            (
                UnixDatagram::bind(&p).unwrap(),
                p.to_str().unwrap().to_string(),
            )
        };
        rx.set_read_timeout(Some(s(20.0))).unwrap();
        let mut cmd = Command::new(RGETTY);
        cmd.args(h.args())
            .arg(format!("/dev/{}", h.device))
            .env("NOTIFY_SOCKET", &value)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        h.child = Some(cmd.spawn().unwrap());
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while !got.iter().any(|m: &String| m.contains("waiting")) {
            let n = recv_retrying(&rx, &mut buf).unwrap_or_else(|e| panic!("{e}: {got:?}"));
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        assert_eq!(
            got.last().unwrap(),
            &format!("STATUS={} waiting", h.device),
            "{got:?}"
        );
        assert!(got[0].starts_with("STATUS="), "{got:?}");
    }
}

/// The journal (a fake socket) gets native records with RGETTY_LINE, CALLER_ID and OUTCOME;
/// syslog gets one line at start and at exit, and the reason of a refused call.
#[test]
fn journal_and_syslog_lines() {
    let mut h = call_harness("");
    fs::write(h.path("etc/dialin.config"), "!5551234\n").unwrap();
    let journal = UnixDatagram::bind(h.path("journal")).unwrap();
    journal.set_read_timeout(Some(s(20.0))).unwrap();
    let journal_path = h.path("journal");
    h.spawn_waiting(&["--journal-socket", journal_path.to_str().unwrap()]);
    h.modem.ring(2, s(0.5), Some(cid("5551234")));
    let mut msgs = Vec::new();
    let mut buf = vec![0u8; 8192];
    while !msgs.iter().any(|m: &String| m.contains("OUTCOME=refused")) {
        let n = recv_retrying(&journal, &mut buf).unwrap_or_else(|e| panic!("{e}: {msgs:#?}"));
        msgs.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let start = &msgs[0];
    assert!(
        start.contains(&format!("RGETTY_LINE={}\n", h.device)),
        "{start}"
    );
    assert!(start.contains("SYSLOG_IDENTIFIER=rgetty\n"), "{start}");
    assert!(
        start.contains("MESSAGE=") && start.contains("start"),
        "{msgs:#?}"
    );
    let refused = msgs.last().unwrap();
    assert!(refused.contains("CALLER_ID=5551234\n"), "{refused}");
    assert!(
        refused.contains("dialin.config denies 5551234"),
        "{refused}"
    );

    // without a journal: the same lines go to syslog
    let mut h = call_harness("");
    let syslog = UnixDatagram::bind(h.path("no-syslog")).unwrap();
    syslog.set_read_timeout(Some(s(20.0))).unwrap();
    h.spawn_waiting(&[]);
    h.signal(nix::sys::signal::Signal::SIGTERM);
    h.wait_exit(s(10.0));
    let mut lines = Vec::new();
    while let Ok(n) = syslog.recv(&mut buf) {
        lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        if lines.last().unwrap().contains("exit") && lines.last().unwrap().contains("code") {
            break;
        }
    }
    let starts = lines.iter().filter(|l| l.contains(": start ")).count();
    assert_eq!(starts, 1, "{lines:#?}");
    assert!(lines.last().unwrap().contains("exit code 10"), "{lines:#?}");
}

/// `rgetty --check` knows the `call-log` keyword.
#[test]
fn check_knows_call_log() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    fs::create_dir(&etc).unwrap();
    let etc_s = etc.to_str().unwrap();
    fs::write(
        etc.join("mgetty.config"),
        "call-log /var/log/x/calls.jsonl\nport ttyUSB1\ncall-log\n",
    )
    .unwrap();
    let (code, out, err) = rgetty(&["--check", "--config-dir", etc_s]);
    assert_eq!(code, 0, "{out}{err}");
    fs::write(etc.join("mgetty.config"), "call-logs /x\n").unwrap();
    let (code, out, err) = rgetty(&["--check", "--config-dir", etc_s]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("mgetty.config:1"),
        "{out}{err}"
    );
}

/// `recv` on a datagram socket with a read timeout, again after EINTR: a timed socket read is
/// not restarted after a stop/continue of the test process, which a loaded run showed.
fn recv_retrying(sock: &UnixDatagram, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match sock.recv(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}
