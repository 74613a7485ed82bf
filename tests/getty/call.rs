//! Calls through the virtual modem into the real `rgetty`: rings, ATA, the login prompt,
//! AutoPPP, login.config dispatch and the exits of mgetty's table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::fs;

use common::*;

fn cid() -> CallerId {
    CallerId {
        date: "1122".into(),
        time: "1951".into(),
        number: "5551234".into(),
        name: Some("JOHN O'DOE".into()),
    }
}

/// A getty waiting for calls whose login.config sends every name to the recorder `rec`.
fn waiting_with_recorder(extra: &str) -> Harness {
    let mut h = call_harness(extra);
    let rec = h.recorder("rec");
    h.login_config(&format!("* - - {} @\n", rec.display()));
    h.spawn_waiting(&[]);
    h
}

#[test]
fn answers_after_n_rings_not_before() {
    let mut h = call_harness("rings 3\n");
    h.spawn_waiting(&["--ring-timeout", "1.5"]);
    h.modem.ring(2, s(0.5), None);
    h.wait_log(r"phone stopped ringing \(rings=2", s(10.0));
    assert!(
        !h.modem.commands().contains(&"ATA".to_string()),
        "{}",
        h.explain()
    );
    h.wait_log(r"(?s)phone stopped.*waiting\.\.\.", s(5.0));
    assert!(
        !h.lock_path().exists(),
        "lock released after the ring stopped"
    );
    h.modem.set_caller(vmodem::type_at_prompt("\x04", s(10.0)));
    let before = h.modem.to_modem_len();
    h.modem.ring(3, s(0.5), None);
    h.modem
        .wait_to_modem_after(before, "ATA\r", s(10.0))
        .expect("ATA");
    let t = h.modem.transcript();
    let dte = t.to_dte_bytes();
    let rings = String::from_utf8_lossy(&dte).matches("RING").count();
    assert_eq!(
        rings,
        5,
        "ATA after the 3rd ring of the second call: {}",
        h.explain()
    );
}

#[test]
fn typed_name_execs_login_program_with_argv_uid_env_ctty() {
    let mut h = call_harness("term vt100\n");
    let rec = h.recorder("rec");
    h.login_config(&format!(
        "# test\nroot - - /bin/false\n* nobody - {} @ \\I \\Y literal\n",
        rec.display()
    ));
    h.call(
        vmodem::type_at_prompt("alice\r", s(10.0)),
        2,
        s(0.5),
        Some(cid()),
    );
    let r = h.recorded("rec", s(20.0));
    assert_eq!(field(&r, "argv0"), Some("rec"));
    assert_eq!(field(&r, "argv1"), Some("alice"));
    assert_eq!(field(&r, "argv2"), Some("38400"), "\\I = CONNECT");
    assert_eq!(field(&r, "argv3"), Some("5551234"), "\\Y = caller id");
    assert_eq!(field(&r, "argv4"), Some("literal"));
    assert_eq!(field(&r, "argc"), Some("5"));
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    assert_eq!(field(&r, "uid"), Some(nobody.uid.to_string().as_str()));
    assert_eq!(field(&r, "euid"), Some(nobody.uid.to_string().as_str()));
    assert_eq!(field(&r, "gid"), Some(nobody.gid.to_string().as_str()));
    // Session leader with the line as controlling tty, same pid as rgetty (and the lock).
    let pid = h.pid().to_string();
    assert_eq!(field(&r, "pid"), Some(pid.as_str()));
    assert_eq!(field(&r, "sid"), Some(pid.as_str()));
    assert_eq!(field(&r, "tcgetsid"), Some(pid.as_str()));
    assert_eq!(field(&r, "devtty"), Some("ok"));
    assert_eq!(
        field(&r, "ttyname"),
        Some(format!("/dev/{}", h.device).as_str())
    );
    assert_eq!(
        fs::read_to_string(h.lock_path()).unwrap(),
        format!("{pid:>10}\n"),
        "the program inherits the lock"
    );
    // Name ended with CR: ICRNL+ONLCR, echo and canonical mode; carrier watched.
    assert_eq!(field(&r, "icrnl"), Some("1"));
    assert_eq!(field(&r, "onlcr"), Some("1"));
    assert_eq!(field(&r, "echo"), Some("1"));
    assert_eq!(field(&r, "icanon"), Some("1"));
    assert_eq!(field(&r, "clocal"), Some("0"));
    for kv in [
        "CALLER_ID=5551234",
        "CALLER_NAME=JOHN O DOE",
        "CALL_DATE=1122",
        "CALL_TIME=1951",
        "CONNECT=38400",
        "TERM=vt100",
    ] {
        assert!(has_env(&r, kv), "missing {kv}: {r:?}");
    }
    assert!(has_env(&r, &format!("DEVICE={}", h.device)));
    // What the caller saw: issue, prompt, the echoed name and CR LF.
    let dte = String::from_utf8_lossy(&h.modem.transcript().to_modem_bytes()).into_owned();
    assert!(dte.contains(&format!("Welcome to {}", h.device)), "{dte:?}");
    assert!(dte.contains(" login: alice\r\n"), "{dte:?}");
    assert!(
        !h.path(&format!("run/mgetty.pid.{}", h.dev_id())).exists(),
        "pid file removed"
    );
    assert!(h.log().contains("data dev="), "{}", h.explain());
    // utmp: our record became LOGIN_PROCESS "LOGIN" with the caller ID as host.
    let recs = rgetty::sys::utmp::read_records(&h.path("utmp")).unwrap();
    let mine: Vec<_> = recs.iter().filter(|r| r.pid.to_string() == pid).collect();
    assert_eq!(mine.len(), 1, "{recs:?}");
    assert_eq!(mine[0].kind, rgetty::sys::utmp::RecordType::Login);
    assert_eq!(mine[0].user, "LOGIN");
    assert_eq!(mine[0].host, "5551234");
    assert_eq!(mine[0].line, h.device);
}

#[test]
fn lcp_frame_dispatches_autoppp_without_echo_and_keeps_the_bytes_for_pppd() {
    let mut h = call_harness("");
    let ppp = h.recorder("pppd");
    h.login_config(&format!(
        "/AutoPPP/ - a_ppp {} auth -chap +pap login\n* - - /bin/false @\n",
        ppp.display()
    ));
    h.answer(vec![
        CallerStep::login_prompt(s(10.0)),
        CallerStep::SendLcp,
        CallerStep::Sleep(s(5.0)),
    ]);
    let r = h.recorded("pppd", s(20.0));
    let argv: Vec<_> = (0..6)
        .filter_map(|i| field(&r, &format!("argv{i}")))
        .collect();
    assert_eq!(argv, ["pppd", "auth", "-chap", "+pap", "login"]);
    assert_eq!(field(&r, "echo"), Some("0"), "raw mode for pppd");
    assert_eq!(field(&r, "icanon"), Some("0"));
    let stdin = fs::read(h.path("pppd.out.stdin")).unwrap();
    let wtmp = rgetty::sys::utmp::read_records(&h.path("wtmp")).unwrap();
    assert!(
        wtmp.iter()
            .any(|r| r.kind == rgetty::sys::utmp::RecordType::User
                && r.user == "a_ppp"
                && r.host == "38400"),
        "{wtmp:?}"
    );
    assert!(
        stdin.ends_with(vmodem::LCP_TAIL),
        "bytes after the frame start reach pppd: {stdin:?}"
    );
    assert!(
        stdin.contains(&0x7e),
        "the rest of the frame (closing flag) is there"
    );
    let dte = h.modem.transcript().to_modem_bytes();
    let after_prompt = &dte[dte.windows(7).rposition(|w| w == b"login: ").unwrap() + 7..];
    assert!(
        !after_prompt.contains(&b'~') && !after_prompt.contains(&0x7e),
        "the frame is not echoed: {after_prompt:?}"
    );
}

#[test]
fn typed_autoppp_name_does_not_get_ppp() {
    let mut h = call_harness("");
    let ppp = h.recorder("pppd");
    let login = h.recorder("login");
    h.login_config(&format!(
        "/AutoPPP/ - a_ppp {}\n* - - {} @\n",
        ppp.display(),
        login.display()
    ));
    h.answer(vmodem::type_at_prompt("/AutoPPP/\r", s(10.0)));
    let r = h.recorded("login", s(20.0));
    assert_eq!(field(&r, "argv1"), Some("/AutoPPP/"));
    assert!(!h.path("pppd.out").exists());
}

#[test]
fn refusal_line_runs_the_refusal_program() {
    let mut h = call_harness("");
    let refuse = h.recorder("refuse");
    h.login_config(&format!(
        "root - - {} no-root-logins\n* - - /bin/false @\n",
        refuse.display()
    ));
    h.answer(vmodem::type_at_prompt("root\r", s(10.0)));
    let r = h.recorded("refuse", s(20.0));
    assert_eq!(field(&r, "argv0"), Some("refuse"));
    assert_eq!(field(&r, "argv1"), Some("no-root-logins"));
    assert_eq!(field(&r, "argc"), Some("2"));
}

#[test]
fn unknown_userid_is_refused_never_run_as_root() {
    let mut h = call_harness("");
    let rec = h.recorder("rec");
    h.login_config(&format!("* no-such-user-xyz - {} @\n", rec.display()));
    h.answer(vmodem::type_at_prompt("bob\r", s(10.0)));
    assert_eq!(h.wait_exit(s(20.0)), Some(1), "{}", h.explain());
    assert!(h.log().contains("unknown userid"), "{}", h.explain());
    std::thread::sleep(s(0.3));
    assert!(!h.path("rec.out").exists() && !h.path("rec.out.tmp").exists());
}

#[test]
fn nologin_file_means_the_call_is_not_answered() {
    let mut h = call_harness("");
    fs::write(h.path(&format!("nologin/nologin.{}", h.dev_id())), "").unwrap();
    h.spawn_waiting(&["--ring-timeout", "1.5"]);
    h.modem.ring(3, s(0.5), None);
    h.wait_log("do not accept call", s(10.0));
    h.wait_log(r"rejected, rings=\d", s(10.0));
    assert!(
        !h.modem.commands().contains(&"ATA".to_string()),
        "{}",
        h.explain()
    );
    h.wait_log(r"(?s)rejected.*waiting\.\.\.", s(5.0));
}

#[test]
fn login_time_expiry_hangs_up() {
    let mut h = call_harness("login-time 2\n");
    h.login_config("* - - /bin/false @\n");
    h.answer(vec![CallerStep::Sleep(s(20.0))]);
    assert_eq!(h.wait_exit(s(15.0)), Some(0), "{}", h.explain());
    let dte = String::from_utf8_lossy(&h.modem.transcript().to_modem_bytes()).into_owned();
    assert!(dte.contains("ran out. Goodbye"), "{dte:?} {}", h.explain());
    assert!(h.log().contains("login timeout, exit."));
    assert!(!h.lock_path().exists());
}

#[test]
fn caller_hanging_up_mid_name_ends_the_session() {
    let mut h = waiting_with_recorder("");
    h.modem.set_caller(vec![
        CallerStep::login_prompt(s(10.0)),
        CallerStep::Send(b"ali".to_vec()),
        CallerStep::Sleep(s(0.3)),
        CallerStep::DropCarrier,
    ]);
    h.modem.ring(2, s(0.5), None);
    assert_eq!(h.wait_exit(s(20.0)), Some(10), "{}", h.explain());
    assert!(h.log().contains("got signal 1"), "{}", h.explain());
    std::thread::sleep(s(0.3));
    assert!(
        !h.path("rec.out").exists(),
        "no program for a half-typed name"
    );
    assert!(!h.lock_path().exists());
}

#[test]
fn carrier_drop_at_the_prompt_exits_10() {
    let mut h = call_harness("");
    h.login_config("* - - /bin/false @\n");
    h.answer(vec![
        CallerStep::login_prompt(s(10.0)),
        CallerStep::DropCarrier,
    ]);
    assert_eq!(h.wait_exit(s(20.0)), Some(10), "{}", h.explain());
    assert!(!h.lock_path().exists());
}

/// A getty waiting for calls (dial-out grace 0.2 s) and a process a dialer's lock can name.
fn waiting_with_a_dialer() -> (Harness, std::process::Child) {
    let mut h = call_harness("");
    h.spawn_waiting(&["--dialout-grace", "0.2"]);
    let holder = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    (h, holder)
}

/// The dialer ends (its lock goes stale): the getty exits 0.
fn dialer_done(h: &mut Harness, mut holder: std::process::Child) {
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(h.wait_exit(s(10.0)), Some(0), "{}", h.explain());
}

#[test]
fn dialout_lock_taken_while_waiting_makes_rgetty_yield() {
    let (mut h, holder) = waiting_with_a_dialer();
    fs::write(h.lock_path(), format!("{:>10}\n", holder.id())).unwrap();
    h.wait_log("dialout in progress", s(15.0));
    // rgetty let go of the line for the dialer.
    let deadline = std::time::Instant::now() + s(5.0);
    while h.modem.slave_open() && std::time::Instant::now() < deadline {
        std::thread::sleep(s(0.05));
    }
    assert!(!h.modem.slave_open(), "rgetty still has the line open");
    assert!(h.wait_exit(s(0.5)).is_none());
    dialer_done(&mut h, holder);
}

/// A dial-out that creates its lock file in place and writes its pid a moment later (the
/// creation wakes rgetty while the file is still empty) is still seen once the pid is written.
#[test]
fn a_lock_written_after_its_creation_still_makes_rgetty_yield() {
    use std::io::Write;
    let (mut h, holder) = waiting_with_a_dialer();
    let mut f = fs::File::create(h.lock_path()).unwrap();
    std::thread::sleep(s(0.5));
    f.write_all(format!("{:>10}\n", holder.id()).as_bytes())
        .unwrap();
    drop(f);
    h.wait_log("dialout in progress", s(15.0));
    dialer_done(&mut h, holder);
}

#[test]
fn sigusr1_is_a_virtual_ring() {
    let mut h = call_harness("rings 5\n");
    h.login_config("* - - /bin/false @\n");
    h.spawn_waiting(&[]);
    h.modem.set_caller(vec![CallerStep::Sleep(s(5.0))]);
    h.signal(nix::sys::signal::Signal::SIGUSR1);
    h.modem
        .wait_to_modem("ATA\r", s(10.0))
        .expect("answered at once");
}

#[test]
fn dialin_config_denies_a_caller_without_answering() {
    let mut h = call_harness("");
    fs::write(h.path("etc/dialin.config"), "!555\nall\n").unwrap();
    h.spawn_waiting(&["--ring-timeout", "1.5"]);
    h.modem.ring(2, s(0.5), Some(cid()));
    h.wait_log("denied caller", s(10.0));
    assert!(!h.modem.commands().contains(&"ATA".to_string()));
}

#[test]
fn hostile_names_never_reach_login_as_options_or_control_bytes() {
    // Each input is typed at the prompt; what the login program receives must be safe.
    let cases: &[(&[u8], &str)] = &[
        (b"-froot\r", "froot"),
        (b"\x1b[2Jbob\r", "[2Jbob"),
        (b"a\x00b\x01c\r", "abc"),
        (b"\xe5ve\r", "eve"),
        (b"  -x\r", "x"),
    ];
    for (input, want) in cases {
        let h = waiting_with_recorder("");
        h.modem.set_caller(vmodem::type_at_prompt(input, s(10.0)));
        h.modem.ring(2, s(0.3), None);
        let r = h.recorded("rec", s(20.0));
        let got = field(&r, "argv1").unwrap_or("");
        assert_eq!(got, *want, "{input:?}");
        assert!(!got.starts_with('-'));
        assert!(got.bytes().all(|b| (0x20..0x7f).contains(&b)));
    }
}

#[test]
fn ringback_answers_the_second_call_only() {
    let mut h = call_harness("rings 1\n");
    h.login_config("* - - /bin/false @\n");
    h.spawn_waiting(&["-R", "30", "--ring-timeout", "1"]);
    h.modem.set_caller(vec![CallerStep::Sleep(s(5.0))]);
    h.modem.ring(3, s(0.3), None);
    h.wait_log("ringback: phone stopped after 3 RINGs", s(10.0));
    assert!(
        !h.modem.commands().contains(&"ATA".to_string()),
        "{}",
        h.explain()
    );
    let before = h.modem.to_modem_len();
    h.modem.ring(1, s(0.3), None);
    h.modem
        .wait_to_modem_after(before, "ATA\r", s(10.0))
        .expect("the re-ring is answered at once");
}

#[test]
fn cnd_program_gets_caller_id_as_arguments_and_can_reject() {
    // Accepting program: records what it got (no shell involved).
    let mut h = call_harness("");
    let cnd = h.recorder("cnd");
    fs::write(
        h.path("etc/mgetty.config"),
        // rings 3: with the upstream NMBR rule (Q14) the NMBR line counts as a ring, so the
        // NAME line arrives before the third ring.
        format!(
            "{BASE_CONFIG}{CALL_CONFIG}rings 3\ncnd-program {} -v\n",
            cnd.display()
        ),
    )
    .unwrap();
    h.login_config("* - - /bin/false @\n");
    h.call(vec![CallerStep::Sleep(s(5.0))], 3, s(0.3), Some(cid()));
    let r = h.recorded("cnd", s(20.0));
    let argv: Vec<_> = (1..7)
        .filter_map(|i| field(&r, &format!("argv{i}")))
        .collect();
    assert_eq!(field(&r, "argv0"), Some(cnd.to_str().unwrap()));
    assert_eq!(
        argv,
        ["-v", h.device.as_str(), "5551234", "JOHN O DOE", "0", ""],
        "{r:?}"
    );
    assert!(has_env(&r, "CALLER_ID=5551234"));
    assert!(has_env(&r, "CALLER_NAME=JOHN O DOE"));
    assert!(has_env(&r, &format!("DEVICE={}", h.device)));
    h.modem.wait_to_modem("ATA\r", s(10.0)).expect("accepted");

    // Rejecting program (exit 1): not answered.
    let mut h = call_harness("cnd-program /bin/false\n");
    h.spawn_waiting(&["--ring-timeout", "1.5"]);
    h.modem.ring(2, s(0.3), Some(cid()));
    h.wait_log("denied caller", s(10.0));
    assert!(!h.modem.commands().contains(&"ATA".to_string()));
}

#[test]
fn upper_case_only_terminal_gets_a_hint_then_case_mapping() {
    let h = waiting_with_recorder("");
    h.modem.set_caller(vec![
        CallerStep::login_prompt(s(10.0)),
        CallerStep::Send(b"JOE\r".to_vec()),
        CallerStep::Expect {
            re: "(?s)lower case.*login: ".into(),
            timeout: s(10.0),
        },
        CallerStep::Send(b"JOE\r".to_vec()),
        CallerStep::Sleep(s(5.0)),
    ]);
    h.modem.ring(2, s(0.3), None);
    let r = h.recorded("rec", s(20.0));
    assert_eq!(field(&r, "argv1"), Some("joe"));
    assert_eq!(field(&r, "iuclc"), Some("1"));
    assert_eq!(field(&r, "olcuc"), Some("1"));
}

#[test]
fn autobauding_switches_to_the_connect_speed() {
    let mut h = Harness::new(
        vmodem::Config {
            connect_speed: 19200,
            ..vmodem::Config::default()
        },
        &format!("{BASE_CONFIG}{CALL_CONFIG}"),
    );
    let rec = h.recorder("rec");
    h.login_config(&format!("* - - {} @ \\I\n", rec.display()));
    h.spawn_waiting(&["-a"]);
    h.modem.set_caller(vmodem::type_at_prompt("amy\r", s(10.0)));
    h.modem.ring(2, s(0.3), None);
    let r = h.recorded("rec", s(20.0));
    assert_eq!(field(&r, "argv2"), Some("19200"));
    assert_eq!(field(&r, "ospeed"), Some(libc::B19200.to_string().as_str()));
    assert!(h.log().contains("autobauding: switching to 19200"));
}

#[test]
fn login_config_with_wrong_permissions_is_ignored() {
    let mut h = call_harness("");
    let rec = h.recorder("rec");
    h.login_config(&format!("* - - {} @\n", rec.display()));
    // Group- and world-readable: rgetty must not trust it and falls back to /bin/login.
    fs::set_permissions(
        h.path("etc/login.config"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    h.call(vmodem::type_at_prompt("zed\r", s(10.0)), 2, s(0.3), None);
    h.wait_log("wrong permissions", s(20.0));
    h.wait_log("cmd='/bin/login'", s(10.0));
    std::thread::sleep(s(0.5));
    assert!(!h.path("rec.out").exists() && !h.path("rec.out.tmp").exists());
}

#[test]
fn login_config_over_1_mib_is_refused_at_once() {
    let mut h = call_harness("");
    let rec = h.recorder("rec");
    // 40 MB of comments after a line that would match: never parsed.
    let mut text = format!("* - - {} @\n", rec.display());
    text.push_str(
        &"# padding padding padding padding padding padding padding padding\n".repeat(600_000),
    );
    h.login_config(&text);
    let out = std::process::Command::new(RGETTY)
        .args(["--check", "--config-dir", h.path("etc").to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("login.config: is ") && err.contains("over the 1 MiB limit"),
        "{err}"
    );
    h.call(vmodem::type_at_prompt("zed\r", s(10.0)), 2, s(0.3), None);
    h.wait_log(
        "over the 1 MiB limit; refusing it; using /bin/login",
        s(20.0),
    );
    h.wait_log("cmd='/bin/login'", s(5.0));
    std::thread::sleep(s(0.5));
    assert!(!h.path("rec.out").exists() && !h.path("rec.out.tmp").exists());
}

#[test]
fn clip_name_reaches_cnd_program_and_login_program_as_caller_name() {
    let mut h = call_harness("");
    let cnd = h.recorder("cnd");
    let rec = h.recorder("rec");
    fs::write(
        h.path("etc/mgetty.config"),
        format!(
            "{BASE_CONFIG}{CALL_CONFIG}rings 3\ncnd-program {}\n",
            cnd.display()
        ),
    )
    .unwrap();
    h.login_config(&format!("* - - {} @\n", rec.display()));
    h.spawn_waiting(&[]);
    h.modem.set_caller(vmodem::type_at_prompt("amy\r", s(10.0)));
    // RING, then a GSM-style +CLIP line with the name (and a CLI validity after it), then
    // two more RINGs. The name holds a quote and a control character.
    h.modem.ring_at(&[s(0.0), s(3.0), s(4.0)], None);
    h.modem.wait_to_dte("RING", s(10.0)).expect("first RING");
    h.modem
        .send_raw(b"\r\n+CLIP: \"0123456\",129,,,\"Alice\x07O'Example\",0\r\n");
    let r = h.recorded("cnd", s(20.0));
    assert_eq!(field(&r, "argv2"), Some("0123456"), "{r:?}");
    assert_eq!(field(&r, "argv3"), Some("Alice O Example"), "{r:?}");
    assert!(has_env(&r, "CALLER_NAME=Alice O Example"), "{r:?}");
    let r = h.recorded("rec", s(20.0));
    assert!(has_env(&r, "CALLER_ID=0123456"), "{r:?}");
    assert!(has_env(&r, "CALLER_NAME=Alice O Example"), "{r:?}");
}
