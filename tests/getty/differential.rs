//! Differential tests: Debian's mgetty 1.2.1 and `rgetty --profile debian` run the same
//! virtual-modem scenario at the same time; what an outsider observes (bytes to the modem, what
//! the caller sees, the program exec'd, exit code, lock file, utmp/wtmp) must match after the
//! normalisations of docs/differential.md. The deliberate differences
//! (docs/differences-from-mgetty.md) are asserted as differences.
//!
//! Every test skips (prints why, passes) when not root or without `unshare` / `/sbin/mgetty`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::diffutil;

use std::fs;
use std::time::Duration;

use diffutil::*;

fn dflt() -> vmodem::Config {
    vmodem::Config::default()
}

/// The comparable configuration: no fax probing (`modem-type data`) and no EMSI request
/// (`fido-send-emsi n`): rgetty has neither (see `stock_config_differs_only_by_fax_probe_and_emsi`).
fn config(extra: &str) -> String {
    format!(
        "{BASE_CONFIG}modem-type data\nfido-send-emsi n\ninit-chat \"\" ATZ OK\nrings 2\n{extra}"
    )
}

fn cid() -> CallerId {
    CallerId {
        date: "1122".into(),
        time: "1951".into(),
        number: "5551234".into(),
        name: Some("JOHN DOE".into()),
    }
}

/// What one getty did in a scenario.
#[derive(Debug, Default)]
struct Obs {
    commands: Vec<String>,
    to_modem: String,
    caller: String,
    rings: Option<usize>,
    exit: Option<i32>,
    rec: Option<Vec<String>>,
    lock: Vec<(&'static str, bool)>,
    lock_text: Option<String>,
    /// A duration the scenario measured.
    ms: Option<u128>,
    utmp: Vec<String>,
    wtmp: Vec<String>,
    explain: String,
}

impl Obs {
    fn of(h: &Side) -> Obs {
        Obs {
            commands: h.modem.commands(),
            to_modem: h.to_modem(),
            caller: h.caller_saw(),
            rings: h.rings_before_ata(),
            utmp: h.utmp("run/utmp"),
            wtmp: h.utmp("varlog/wtmp"),
            lock_text: fs::read_to_string(h.lock_path())
                .ok()
                .map(|t| lock_norm(h, &t)),
            explain: h.explain(),
            ..Obs::default()
        }
    }

    /// Wait for the getty to exit, then observe.
    fn exited(h: &mut Side, timeout: Duration) -> Obs {
        let exit = h.wait_exit(timeout);
        Obs { exit, ..Obs::of(h) }
    }

    /// Wait for the getty to exit, then observe, including whether the lock is still there.
    fn after_exit(h: &mut Side, timeout: Duration) -> Obs {
        let mut o = Obs::exited(h, timeout);
        o.lock.push(("after exit", lock_exists(h)));
        o
    }

    /// Wait for the recorder `name` to have run, then observe, with what it recorded.
    fn recorded(h: &Side, name: &str, timeout: Duration) -> Obs {
        let rec = h.recorded_norm(name, timeout);
        Obs { rec, ..Obs::of(h) }
    }
}

/// A call: the getty is started and waits, the caller's script is set, the modem rings
/// `rings` times, `gap` apart, with caller ID `cid` after the first.
fn call(h: &mut Side, caller: Vec<CallerStep>, rings: u32, gap: Duration, cid: Option<CallerId>) {
    h.spawn_waiting(&[]);
    h.modem.set_caller(caller);
    h.modem.ring(rings, gap, cid);
}

/// The usual call: two RINGs half a second apart, no caller ID.
fn answer(h: &mut Side, caller: Vec<CallerStep>) {
    call(h, caller, 2, s(0.5), None);
}

/// A caller that waits for the prompt, sends an LCP frame (PPP) and stays on the line.
fn lcp_caller() -> Vec<CallerStep> {
    vec![
        CallerStep::login_prompt(s(15.0)),
        CallerStep::SendLcp,
        CallerStep::Sleep(s(5.0)),
    ]
}

/// Assert that a field is the same for both getties, showing both runs on failure.
macro_rules! same {
    ($m:expr, $r:expr, $($f:tt)+) => {
        assert_eq!(
            $m.$($f)+, $r.$($f)+,
            "field {} differs (left mgetty, right rgetty)\n{}\n{}",
            stringify!($($f)+), $m.explain, $r.explain
        )
    };
}

/// The lock's content with the getty's pid (of any width) as `<PID>`: the format itself
/// (`%10d\n`) is checked, not hidden.
fn lock_norm(h: &Side, text: &str) -> String {
    if text == format!("{:>10}\n", h.pid()) {
        "%10d <PID>\n".into()
    } else {
        h.norm(text)
    }
}

fn lock_exists(h: &Side) -> bool {
    h.lock_path().exists()
}

// ------------------------------------------------------------------ start-up

#[test]
fn default_init_chat() {
    let cfg = format!("{BASE_CONFIG}modem-type data\nfido-send-emsi n\n");
    let Some((m, r)) = both(dflt, &cfg, |h| {
        h.spawn_waiting(&[]);
        let mut o = Obs::of(h);
        o.lock.push(("waiting", lock_exists(h)));
        o
    }) else {
        return;
    };
    same!(m, r, commands);
    same!(m, r, to_modem);
    same!(m, r, lock);
    assert_eq!(m.commands, ["ATQ0V1H0", "AT"], "Debian MODEM_INIT_STRING");
}

#[test]
fn custom_init_chat_and_lock_lifetime() {
    // `\d\d` after ATZ: the lock must be visible while the chat is running.
    let cfg = format!(
        "{BASE_CONFIG}modem-type data\nfido-send-emsi n\n\
         init-chat \"\" ATZ OK \\d\\dAT&F1 OK ATS0=0 OK\n"
    );
    let Some((m, r)) = both(dflt, &cfg, |h| {
        h.spawn(&[]);
        h.modem.wait_to_modem("ATZ\r", s(20.0)).unwrap();
        let during = lock_exists(h);
        let text = fs::read_to_string(h.lock_path()).unwrap_or_default();
        assert!(h.wait_log(r"waiting\.\.\.", s(20.0)), "{}", h.explain());
        std::thread::sleep(s(0.3));
        let mut o = Obs::of(h);
        o.lock.push(("init", during));
        o.lock.push(("waiting", lock_exists(h)));
        o.lock_text = Some(lock_norm(h, &text));
        o
    }) else {
        return;
    };
    same!(m, r, commands);
    same!(m, r, to_modem);
    same!(m, r, lock);
    same!(m, r, lock_text);
    assert_eq!(m.commands, ["ATZ", "AT&F1", "ATS0=0"]);
    assert_eq!(m.lock, [("init", true), ("waiting", false)]);
    assert_eq!(m.lock_text.as_deref(), Some("%10d <PID>\n"));
}

#[test]
fn init_failure_error_exits_1() {
    let cfg = config("");
    let vcfg = || vmodem::Config {
        init_reply: InitReply::Error,
        ..vmodem::Config::default()
    };
    let Some((m, r)) = both(vcfg, &cfg, |h| {
        h.spawn(&[]);
        Obs::after_exit(h, s(40.0))
    }) else {
        return;
    };
    same!(m, r, exit);
    assert_eq!(m.exit, Some(1));
    same!(m, r, commands);
    same!(m, r, lock);
}

/// The stock Debian setup (`modem-type auto`, `fido-send-emsi y`): mgetty probes for a fax
/// class and sends an EMSI request before the prompt; rgetty has neither (documented: fax and
/// FIDO are not supported). Everything else is the same.
#[test]
fn stock_config_differs_only_by_fax_probe_and_emsi() {
    let cfg = format!("{BASE_CONFIG}init-chat \"\" ATZ OK\nrings 2\n");
    let Some((m, r)) = both(dflt, &cfg, |h| {
        h.login_config("* - - /bin/false @\n");
        answer(h, vmodem::type_at_prompt("\x04", s(15.0)));
        Obs::exited(h, s(30.0))
    }) else {
        return;
    };
    same!(m, r, exit);
    assert_eq!(m.exit, Some(0), "^D at the prompt");
    assert_eq!(
        m.commands,
        ["ATZ", "ATI", "AT+FCLASS=2.0", "AT+FCLASS=2", "ATA"],
        "{}",
        m.explain
    );
    assert_eq!(r.commands, ["ATZ", "ATA"], "{}", r.explain);
    let emsi = "**EMSI_REQA77E[0d][11]              [0d]";
    assert!(m.caller.contains(emsi), "{}", m.explain);
    assert_eq!(m.caller.replacen(emsi, "", 1), r.caller);
}

// ------------------------------------------------------------------ rings, answer, call

#[test]
fn n_rings_then_ata() {
    let Some((m, r)) = both(dflt, &config("rings 3\n"), |h| {
        h.login_config("* - - /bin/false @\n");
        call(h, vmodem::type_at_prompt("\x04", s(15.0)), 3, s(1.0), None);
        Obs::after_exit(h, s(30.0))
    }) else {
        return;
    };
    same!(m, r, rings);
    assert_eq!(m.rings, Some(3));
    same!(m, r, commands);
    same!(m, r, caller);
    same!(m, r, exit);
    assert_eq!(m.exit, Some(0));
    // Deliberate difference (Q4 family): mgetty leaves its lock behind on a login-phase exit,
    // rgetty removes it on every exit except a successful exec.
    assert_eq!(m.lock, [("after exit", true)], "{}", m.explain);
    assert_eq!(r.lock, [("after exit", false)], "{}", r.explain);
}

#[test]
fn typed_name_execs_program_with_same_argv_uid_env_ctty_utmp() {
    let Some((m, r)) = both(dflt, &config("term vt100\n"), |h| {
        let rec = h.recorder("rec");
        h.login_config(&format!(
            "root - - /bin/false\n* nobody - {} @ \\I \\Y literal\n",
            rec.display()
        ));
        call(
            h,
            vmodem::type_at_prompt("alice\r", s(15.0)),
            2,
            s(0.5),
            Some(cid()),
        );
        Obs::recorded(h, "rec", s(30.0))
    }) else {
        return;
    };
    assert!(m.rec.is_some(), "{}", m.explain);
    same!(m, r, rec);
    same!(m, r, caller);
    same!(m, r, commands);
    same!(m, r, lock_text);
    same!(m, r, utmp);
    same!(m, r, wtmp);
    let rec = m.rec.unwrap();
    for want in [
        "argv0=rec",
        "argv1=alice",
        "argv2=38400",
        "argv3=5551234",
        "argv4=literal",
        "pid=<PID>",
        "sid=<PID>",
        "tcgetsid=<PID>",
        "env:CALLER_ID=5551234",
        "env:CALLER_NAME=JOHN DOE",
        "env:DEVICE=pts/<N>",
        "env:TERM=vt100",
    ] {
        assert!(rec.iter().any(|l| l == want), "{want} in {rec:?}");
    }
}

#[test]
fn issue_file_and_login_config_escapes() {
    let Some((m, r)) = both(dflt, &config(""), |h| {
        let issue = h.path("etc/issue");
        fs::write(
            &issue,
            "dev=\\P line=\\L conn=\\I cid=\\Y host=@ \\q\\\\\nsecond\n",
        )
        .unwrap();
        let cfg = fs::read_to_string(h.path("etc/mgetty.config")).unwrap();
        fs::write(
            h.path("etc/mgetty.config"),
            format!(
                "{cfg}issue-file {}\nlogin-prompt \\Y/\\I/\\P login:\\040\n",
                issue.display()
            ),
        )
        .unwrap();
        let rec = h.recorder("rec");
        h.login_config(&format!("* - - {} \\I \\Y @ x@\n", rec.display()));
        answer(h, vmodem::type_at_prompt("bob\r", s(15.0)));
        Obs::recorded(h, "rec", s(30.0))
    }) else {
        return;
    };
    same!(m, r, caller);
    same!(m, r, rec);
    assert!(
        m.caller
            .contains("dev=pts/<N> line=pts/<N> conn=38400 cid=none host=<HOST> q\\"),
        "{}",
        m.caller
    );
    let rec = m.rec.unwrap();
    let argv: Vec<_> = rec.iter().filter(|l| l.starts_with("argv")).collect();
    assert_eq!(
        argv,
        [
            "argv0=rec",
            "argv1=38400",
            "argv2=none",
            "argv3=bob",
            "argv4=x@"
        ]
    );
}

#[test]
fn autoppp_dispatch_same_except_the_echo() {
    let Some((m, r)) = both(dflt, &config(""), |h| {
        let ppp = h.recorder("pppd");
        h.login_config(&format!(
            "/AutoPPP/ - a_ppp {} auth -chap +pap login\n* - - /bin/false @\n",
            ppp.display()
        ));
        answer(h, lcp_caller());
        let mut o = Obs::recorded(h, "pppd", s(30.0));
        let stdin = fs::read(h.path("pppd.out.stdin")).unwrap_or_default();
        o.lock
            .push(("tail reaches pppd", stdin.ends_with(vmodem::LCP_TAIL)));
        o
    }) else {
        return;
    };
    let (mr, rr) = (m.rec.clone().unwrap(), r.rec.clone().unwrap());
    let argv = |v: &[String]| -> Vec<String> {
        v.iter()
            .filter(|l| l.starts_with("arg") || l.starts_with("uid"))
            .cloned()
            .collect()
    };
    assert_eq!(argv(&mr), argv(&rr));
    assert_eq!(
        argv(&mr),
        [
            "argv0=pppd",
            "argv1=auth",
            "argv2=-chap",
            "argv3=+pap",
            "argv4=login",
            "argc=5",
            "uid=0"
        ]
    );
    // Raw mode for pppd. (ICRNL/ONLCR: see autoppp_termios_keeps_icrnl_onlcr_like_mgetty.)
    for k in ["echo=", "icanon="] {
        let f = |v: &[String]| v.iter().find(|l| l.starts_with(k)).cloned();
        assert_eq!(f(&mr), f(&rr), "{k}");
    }
    same!(
        m,
        r,
        rec.as_ref().map(|v| v
            .iter()
            .filter(|l| l.starts_with("env:"))
            .cloned()
            .collect::<Vec<_>>())
    );
    same!(m, r, lock);
    same!(m, r, wtmp);
    same!(m, r, utmp);
    // The deliberate difference: mgetty echoes the frame start, rgetty echoes nothing.
    let prompt = |c: &str| c[..c.find("login: ").unwrap() + 7].to_string();
    assert_eq!(prompt(&m.caller), prompt(&r.caller));
    let after = |c: &str| c[c.find("login: ").unwrap() + 7..].to_string();
    assert_eq!(after(&m.caller), "~[08] [08]}#@[0d][0a]", "{}", m.explain);
    assert_eq!(after(&r.caller), "", "{}", r.explain);
}

/// Q13, a deliberate difference (docs/differences-from-mgetty.md): mgetty hands pppd a raw tty
/// with ICRNL and ONLCR still set; rgetty hands it a fully raw tty.
#[test]
fn autoppp_termios_is_fully_raw_unlike_mgetty() {
    let Some((m, r)) = both(dflt, &config(""), |h| {
        let ppp = h.recorder("pppd");
        h.login_config(&format!("/AutoPPP/ - a_ppp {}\n", ppp.display()));
        answer(h, lcp_caller());
        Obs::recorded(h, "pppd", s(30.0))
    }) else {
        return;
    };
    let tio = |o: &Obs| -> Vec<String> {
        o.rec
            .iter()
            .flatten()
            .filter(|l| {
                ["icrnl=", "onlcr=", "echo=", "icanon="]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .cloned()
            .collect()
    };
    assert_eq!(
        tio(&m),
        ["icrnl=1", "onlcr=1", "echo=0", "icanon=0"],
        "{}",
        m.explain
    );
    assert_eq!(
        tio(&r),
        ["icrnl=0", "onlcr=0", "echo=0", "icanon=0"],
        "{}",
        r.explain
    );
}

/// Q14, Debian profile: an `NMBR` line without `NAME` does not count as a RING, so with
/// `rings 2` the getty answers after the second real RING in both.
#[test]
fn nmbr_without_name_is_not_a_ring_in_the_debian_profile() {
    let Some((m, r)) = both(dflt, &config(""), |h| {
        h.login_config("* - - /bin/false @\n");
        let mut c = cid();
        c.name = None;
        call(
            h,
            vmodem::type_at_prompt("\x04", s(15.0)),
            2,
            s(1.0),
            Some(c),
        );
        Obs::exited(h, s(30.0))
    }) else {
        return;
    };
    same!(m, r, rings);
    same!(m, r, exit);
    assert_eq!(m.rings, Some(2), "{}", m.explain);
}

#[test]
fn refusal_line_runs_the_refusal_program() {
    let Some((m, r)) = both(dflt, &config(""), |h| {
        let rec = h.recorder("refuse");
        h.login_config(&format!(
            "root - - {} no-root-logins\n* - - /bin/false @\n",
            rec.display()
        ));
        answer(h, vmodem::type_at_prompt("root\r", s(15.0)));
        Obs::recorded(h, "refuse", s(30.0))
    }) else {
        return;
    };
    assert!(m.rec.is_some(), "{}", m.explain);
    same!(m, r, rec);
    same!(m, r, caller);
}

#[test]
fn empty_enter_reprints_the_issue() {
    let Some((m, r)) = both(dflt, &config(""), |h| {
        h.login_config("* - - /bin/false @\n");
        answer(
            h,
            vec![
                CallerStep::login_prompt(s(15.0)),
                CallerStep::Send(b"\r".to_vec()),
                CallerStep::login_prompt(s(15.0)),
                CallerStep::Send(b"\x04".to_vec()),
                CallerStep::Sleep(s(3.0)),
            ],
        );
        Obs::exited(h, s(30.0))
    }) else {
        return;
    };
    same!(m, r, caller);
    same!(m, r, exit);
    assert_eq!(
        m.caller.matches("Welcome to pts/<N>").count(),
        2,
        "{}",
        m.caller
    );
}

#[test]
fn leading_dash_is_refused_with_rubout() {
    let Some((m, r)) = both(dflt, &config(""), |h| {
        let rec = h.recorder("rec");
        h.login_config(&format!("* - - {} @\n", rec.display()));
        answer(
            h,
            vec![
                CallerStep::login_prompt(s(15.0)),
                CallerStep::Send(b"-".to_vec()),
                CallerStep::Sleep(s(0.3)),
                CallerStep::Send(b" bob\r".to_vec()),
                CallerStep::Sleep(s(5.0)),
            ],
        );
        Obs::recorded(h, "rec", s(30.0))
    }) else {
        return;
    };
    same!(m, r, caller);
    same!(m, r, rec);
    assert!(
        m.caller.ends_with("login: -[08] [08] [08] [08]bob[0d][0a]"),
        "{}",
        m.caller
    );
}

// ------------------------------------------------------------------ refusals and exits

#[test]
fn nologin_means_not_answered() {
    let Some((m, r)) = both(dflt, &config(""), |h| {
        h.set_nologin();
        h.spawn_waiting(&[]);
        h.modem.ring(3, s(1.0), None);
        // mgetty's ring timeout is 10 s; then "rejected, rings=3" and back to waiting.
        let rejected = h.wait_log(r"rejected, rings=3", s(30.0));
        std::thread::sleep(s(0.5));
        let mut o = Obs::of(h);
        o.lock.push(("rejected", rejected));
        o.lock.push(("running", h.running()));
        o
    }) else {
        return;
    };
    same!(m, r, commands);
    same!(m, r, lock);
    assert_eq!(m.commands, ["ATZ"], "{}", m.explain);
    assert_eq!(m.lock, [("rejected", true), ("running", true)]);
}

#[test]
fn carrier_drop_at_the_prompt_exits_10() {
    let scenario = |h: &mut Side| {
        h.login_config("* - - /bin/false @\n");
        answer(
            h,
            vec![CallerStep::login_prompt(s(15.0)), CallerStep::DropCarrier],
        );
        Obs::after_exit(h, s(30.0))
    };
    let Some((mut m, mut r)) = both(dflt, &config(""), scenario) else {
        return;
    };
    // mgetty 1.2.1 now and then misses a hang-up that comes within a millisecond of the
    // prompt (seen once in CI: it stayed in getlogname); that is mgetty's race, not the
    // behaviour compared here, so such a run is repeated (at most twice).
    for _ in 0..2 {
        if m.exit.is_some() {
            break;
        }
        let Some(again) = both(dflt, &config(""), scenario) else {
            return;
        };
        (m, r) = again;
    }
    same!(m, r, exit);
    assert_eq!(m.exit, Some(10));
    same!(m, r, caller);
    same!(m, r, lock);
}

#[test]
fn answer_chat_failure_exits_1() {
    let Some((m, r)) = both(dflt, &config(""), |h| {
        h.spawn_waiting(&[]);
        h.modem.set_init_reply(InitReply::Error);
        h.modem.ring(2, s(0.5), None);
        Obs::after_exit(h, s(30.0))
    }) else {
        return;
    };
    same!(m, r, exit);
    assert_eq!(m.exit, Some(1));
    same!(m, r, commands);
    same!(m, r, lock);
    assert_eq!(m.lock, [("after exit", false)]);
}

/// Exit 20 on NO CARRIER while waiting for RINGs. Deliberate difference (Q4): mgetty leaves
/// its lock behind, rgetty removes it.
#[test]
fn no_carrier_while_waiting_for_rings_exits_20() {
    let Some((m, r)) = both(dflt, &config(""), |h| {
        h.spawn_waiting(&[]);
        h.modem.send_raw(b"\r\nNO CARRIER\r\n");
        Obs::after_exit(h, s(30.0))
    }) else {
        return;
    };
    same!(m, r, exit);
    assert_eq!(m.exit, Some(20));
    same!(m, r, commands);
    assert_eq!(
        m.lock,
        [("after exit", true)],
        "mgetty leaves the lock (Q4)"
    );
    assert_eq!(r.lock, [("after exit", false)], "rgetty removes it");
}

/// A dialer takes the lock while the getty waits (and the modem answers the dialer, which
/// makes the line readable: that is when mgetty notices). Both let go of the line and exit 0
/// once the lock is gone (mgetty: 10 s polling + 5 s grace).
#[test]
fn dialout_lock_while_waiting_yields_and_exits_0() {
    let Some((m, r)) = both(dflt, &config(""), |h| {
        h.spawn_waiting(&[]);
        let mut holder = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        fs::write(h.lock_path(), format!("{:>10}\n", holder.id())).unwrap();
        h.modem.send_raw(b"\r\nOK\r\n");
        let yielded = h.wait_log("dialout in progress", s(10.0));
        let end = std::time::Instant::now() + s(10.0);
        while h.modem.slave_open() && std::time::Instant::now() < end {
            std::thread::sleep(s(0.05));
        }
        let released = !h.modem.slave_open();
        let running = h.running();
        std::thread::sleep(s(1.0));
        holder.kill().unwrap();
        holder.wait().unwrap();
        fs::remove_file(h.lock_path()).ok();
        let gone = std::time::Instant::now();
        let mut o = Obs::exited(h, s(30.0));
        o.ms = Some(gone.elapsed().as_millis());
        o.lock.push(("yielded", yielded));
        o.lock.push(("line released", released));
        o.lock.push(("running while locked", running));
        o
    }) else {
        return;
    };
    same!(m, r, lock);
    same!(m, r, exit);
    assert_eq!(m.exit, Some(0));
    same!(m, r, commands);
    // Lock gone -> exit: mgetty polls every 10 s then waits 5 s; rgetty sees the holder die
    // (pidfd) and the lock go (inotify) at once, then waits the same 5 s (documented).
    let (mt, rt) = (m.ms.unwrap(), r.ms.unwrap());
    eprintln!("lock gone -> exit: mgetty {mt} ms, rgetty {rt} ms");
    assert!(
        (4_500..=17_000).contains(&mt),
        "mgetty {mt} ms\n{}",
        m.explain
    );
    assert!(
        (4_500..=8_000).contains(&rt),
        "rgetty {rt} ms\n{}",
        r.explain
    );
}

// ------------------------------------------------------------------ deliberate differences

/// Q11: an unknown userid in login.config: mgetty runs the program as root, rgetty refuses
/// the call (exit 1, nothing executed).
#[test]
fn unknown_userid_mgetty_runs_as_root_rgetty_refuses() {
    let Some((m, r)) = both(dflt, &config(""), |h| {
        let rec = h.recorder("rec");
        h.login_config(&format!("* no-such-user-xyz - {} @\n", rec.display()));
        answer(h, vmodem::type_at_prompt("bob\r", s(15.0)));
        let rec = h.recorded_norm("rec", s(12.0));
        let exit = h.wait_exit(s(5.0));
        Obs {
            rec,
            exit,
            ..Obs::of(h)
        }
    }) else {
        return;
    };
    let mrec = m.rec.expect("mgetty runs the program");
    assert!(mrec.iter().any(|l| l == "uid=0"), "{mrec:?}");
    assert!(r.rec.is_none(), "rgetty must not run it: {}", r.explain);
    assert_eq!(r.exit, Some(1), "{}", r.explain);
}

/// Q1: `login-time` expiry. mgetty only notices at the next input byte (no message, exit 0
/// then); rgetty hangs up at expiry with the documented goodbye.
#[test]
fn login_time_mgetty_waits_for_a_byte_rgetty_hangs_up() {
    let Some((m, r)) = both(dflt, &config("login-time 3\n"), |h| {
        h.login_config("* - - /bin/false @\n");
        answer(
            h,
            vec![
                CallerStep::login_prompt(s(15.0)),
                CallerStep::Sleep(s(9.0)),
                CallerStep::Send(b"x".to_vec()),
                CallerStep::Sleep(s(5.0)),
            ],
        );
        std::thread::sleep(s(8.0));
        let mut o = Obs::of(h);
        o.lock.push(("running after 8 s", h.running()));
        o.exit = h.wait_exit(s(20.0));
        o.explain = h.explain();
        o
    }) else {
        return;
    };
    assert_eq!(m.lock, [("running after 8 s", true)], "{}", m.explain);
    assert_eq!(r.lock, [("running after 8 s", false)], "{}", r.explain);
    assert_eq!(m.exit, Some(0), "{}", m.explain);
    same!(m, r, exit);
    assert!(!m.caller.contains("Goodbye"), "{}", m.caller);
    assert!(r.caller.contains("ran out. Goodbye."), "{}", r.caller);
}

/// Typing `/AutoPPP/` at the prompt: mgetty dispatches it to the AutoPPP line, rgetty treats
/// it as an ordinary name (the PPP dispatch cannot be forged; documented).
#[test]
fn typed_autoppp_name_mgetty_gives_ppp_rgetty_does_not() {
    let Some((m, r)) = both(dflt, &config(""), |h| {
        let ppp = h.recorder("pppd");
        let login = h.recorder("login");
        h.login_config(&format!(
            "/AutoPPP/ - a_ppp {}\n* - - {} @\n",
            ppp.display(),
            login.display()
        ));
        answer(h, vmodem::type_at_prompt("/AutoPPP/\r", s(15.0)));
        let login = h.recorded_norm("login", s(20.0));
        let ppp = h.recorded_norm("pppd", s(0.5));
        let mut o = Obs {
            rec: login,
            ..Obs::of(h)
        };
        o.lock.push(("pppd ran", ppp.is_some()));
        o
    }) else {
        return;
    };
    same!(m, r, caller);
    assert_eq!(m.lock, [("pppd ran", true)], "{}", m.explain);
    assert_eq!(r.lock, [("pppd ran", false)], "{}", r.explain);
    let argv1 = r
        .rec
        .as_ref()
        .and_then(|v| v.iter().find(|l| l.starts_with("argv1=")).cloned());
    assert_eq!(argv1.as_deref(), Some("argv1=/AutoPPP/"), "{}", r.explain);
}

/// The pid file: name, content and lifetime (Q15: mgetty removes it only when it execs the
/// login program). Files in the pid dir other than utmp and the lock dir are listed.
#[test]
fn pid_file_name_content_and_lifetime() {
    let Some((m, r)) = both(dflt, &config(""), |h| {
        let rec = h.recorder("rec");
        h.login_config(&format!("* - - {} @\n", rec.display()));
        h.spawn_waiting(&[]);
        let list = |h: &Side| -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(h.path("run"))
                .unwrap()
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                // `mount/` is util-linux's utab from the namespace set-up, not mgetty's;
                // `rgetty.state.*` is rgetty's state file (`rgetty status`, a documented
                // addition).
                .filter(|n| n != "utmp" && n != "lock" && n != "mount")
                .filter(|n| !n.starts_with("rgetty.state."))
                .map(|n| {
                    let text = fs::read_to_string(h.path("run").join(&n)).unwrap_or_default();
                    h.norm(&format!("{n}={text:?}"))
                })
                .collect();
            v.sort();
            v
        };
        let waiting = list(h);
        h.modem.set_caller(vmodem::type_at_prompt("bob\r", s(15.0)));
        h.modem.ring(2, s(0.5), None);
        h.recorded("rec", s(20.0));
        let after = list(h);
        Obs {
            rec: Some(waiting),
            commands: after,
            ..Obs::of(h)
        }
    }) else {
        return;
    };
    // While waiting both have `mgetty.pid.<DevID>` containing the pid and a newline, and
    // both are gone once the program runs.
    let rename = |v: &[String]| -> Vec<String> { v.to_vec() };
    assert_eq!(
        m.rec.as_deref().unwrap(),
        ["mgetty.pid.pts-<N>=\"<PID>\\n\""],
        "{}",
        m.explain
    );
    assert_eq!(
        rename(r.rec.as_deref().unwrap()),
        m.rec.clone().unwrap(),
        "{}",
        r.explain
    );
    same!(m, r, commands);
}

// ------------------------------------------------------------------ screening and rings
// Differential: caller-ID screening with `rings 1` and `rings 2` against Debian's mgetty
// 1.2.1 (issue 24). Caller ID comes after the first RING, as on a telephone line. With
// `rings 1` both getties answer at the first RING, before the caller ID arrives, and screen
// the caller as `none`: a dialin.config that refuses the number does not stop the call (hence
// mgetty's advice, and `rgetty --check`'s warning, to use `rings 2` or more). With `rings 2`
// both refuse it without answering.

/// Whether the getty sent `ATA` for a call from 5551234 that dialin.config refuses.
fn answered(rings: u32) -> Option<(bool, bool)> {
    let config = format!(
        "{BASE_CONFIG}modem-type data\nfido-send-emsi n\ninit-chat \"\" ATZ OK\nrings {rings}\n"
    );
    let (m, r) = both(vmodem::Config::default, &config, |h| {
        fs::write(h.path("etc/dialin.config"), "!5551234\nall\n").unwrap();
        h.login_config("* - - /bin/false @\n");
        h.spawn_waiting(&[]);
        h.modem.ring(3, s(1.0), Some(cid()));
        std::thread::sleep(s(6.0));
        let ata = h.modem.commands().iter().any(|c| c == "ATA");
        (ata, h.explain())
    })?;
    eprintln!(
        "rings {rings}: mgetty answered: {}, rgetty answered: {}",
        m.0, r.0
    );
    assert_eq!(m.0, r.0, "mgetty:\n{}\nrgetty:\n{}", m.1, r.1);
    Some((m.0, r.0))
}

#[test]
fn rings_1_answers_before_the_caller_id_as_mgetty_does() {
    if let Some((m, _)) = answered(1) {
        assert!(m, "mgetty answered at the first RING");
    }
}

#[test]
fn rings_2_refuses_the_caller_as_mgetty_does() {
    if let Some((m, _)) = answered(2) {
        assert!(!m, "mgetty refused 5551234");
    }
}
