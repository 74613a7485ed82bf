//! Control-line alerts: `--alert 'dcd rise COMMAND'` runs the command when the TIOCM shim
//! shows DCD rising, with `PORT`, `LINE` and `MATCH` in its environment.

use std::process::Stdio;

use crate::share_util;
use share_util::*;

#[test]
fn dcd_rise_runs_the_alert_command() {
    let tmp = tmpdir();
    let Some(shim) = crate::lab::modem_shim(tmp.path()) else {
        return;
    };
    let d = dev();
    let (state, out) = (tmp.path().join("state"), tmp.path().join("alerts.txt"));
    std::fs::write(&state, "0").unwrap();
    let env = [
        ("LD_PRELOAD", shim.as_path()),
        ("MODEM_DEV", d.path.as_path()),
        ("MODEM_STATE", state.as_path()),
    ];
    let cmd = format!(
        r#"dcd rise printf '%s|%s|%s\n' "$PORT" "$LINE" "$MATCH" >> {}"#,
        out.display()
    );
    let fall = format!(r#"cts fall echo cts >> {}"#, out.display());
    let args = [
        "-p",
        "0",
        "--alert",
        &cmd,
        "--alert",
        &fall,
        d.path.to_str().unwrap(),
    ];
    let srv = serve_env(tmp.path(), &args, Stdio::inherit(), &env);
    let _c = connect(srv.addrs[0]);
    wait_for("the session", || !lock_files(tmp.path()).is_empty());
    // A few polls (200 ms apart) see the lines down: the baseline.
    std::thread::sleep(std::time::Duration::from_millis(600));
    let lines = || std::fs::read_to_string(&out).unwrap_or_default();
    assert_eq!(lines(), "", "no edge yet");
    std::fs::write(&state, format!("{}", libc::TIOCM_CAR)).unwrap();
    wait_for("the alert command", || !lines().is_empty());
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(lines(), format!("{}|dcd|rise\n", srv.addrs[0]));
}
