//! rgetty-share: a TLS file named in the config file that is missing or bad is reported with
//! the config file:line that named it, at start-up, with `--check` and on a SIGHUP reload
//! (which then keeps the old config serving); on the command line the option is named.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::share_util;
use share_util::*;

/// Run `rgetty-share serve ARGS` to its end; its exit status and standard error.
fn serve_fails(tmp: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("serve")
        .arg("--lock-dir")
        .arg(tmp)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn start_up_and_check_name_the_config_line_of_a_bad_tls_file() {
    let tmp = tmpdir();
    let conf = tmp.path().join("rgetty-share.conf");
    let missing = tmp.path().join("x.pem");
    let junk = tmp.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let line = |p: u16, opts: &str| format!("127.0.0.1:{p} /dev/null - 127.0.0.1 {opts}\n");
    std::fs::write(
        &conf,
        "# ports\n".to_string()
            + &line(free_port(), "")
            + &line(
                free_port(),
                &format!("tls-cert={} tls-key={}", missing.display(), junk.display()),
            ),
    )
    .unwrap();
    let c = conf.to_str().unwrap();
    let want = format!(
        "{c}:3: tls-cert {}: No such file or directory",
        missing.display()
    );
    for extra in [&[][..], &["--check"][..]] {
        let mut args = vec!["--config", c];
        args.extend_from_slice(extra);
        let (ok, err) = serve_fails(tmp.path(), &args);
        assert!(!ok, "{extra:?} succeeded:\n{err}");
        let hits: Vec<&str> = err.lines().filter(|l| l.contains("x.pem")).collect();
        assert_eq!(hits.len(), 1, "{extra:?}:\n{err}");
        assert!(hits[0].ends_with(&want), "{extra:?}:\n{err}");
    }
    // An invalid PEM file: the client CA here (read first).
    std::fs::write(
        &conf,
        line(
            free_port(),
            &format!(
                "tls-cert={} tls-key={} tls-client-ca={}",
                missing.display(),
                missing.display(),
                junk.display()
            ),
        ),
    )
    .unwrap();
    let (ok, err) = serve_fails(tmp.path(), &["--config", c, "--check"]);
    assert!(!ok);
    let want = format!(
        "{c}:1: tls-client-ca {}: no certificate in the file",
        junk.display()
    );
    assert!(err.lines().any(|l| l.ends_with(&want)), "{err}");
}

#[test]
fn the_command_line_names_the_option() {
    let tmp = tmpdir();
    let missing = tmp.path().join("k.pem");
    let junk = tmp.path().join("c.pem");
    std::fs::write(&junk, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
    let args = [
        "-p",
        "0",
        "--tls-cert",
        junk.to_str().unwrap(),
        "--tls-key",
        missing.to_str().unwrap(),
        "/dev/null",
    ];
    let (ok, err) = serve_fails(tmp.path(), &args);
    assert!(!ok);
    let hits: Vec<&str> = err.lines().filter(|l| l.contains("c.pem")).collect();
    assert_eq!(hits.len(), 1, "{err}");
    assert!(
        hits[0].contains(&format!("--tls-cert {}: ", junk.display())),
        "{err}"
    );
}

#[test]
fn a_reload_with_a_bad_tls_file_keeps_the_old_config_serving() {
    let tmp = tmpdir();
    let mut d = dev();
    let conf = tmp.path().join("rgetty-share.conf");
    let (p1, p2) = (free_port(), free_port());
    let line =
        |p: u16, opts: &str| format!("127.0.0.1:{p} {} - 127.0.0.1 {opts}\n", d.path.display());
    std::fs::write(&conf, line(p1, "")).unwrap();
    let log = tmp.path().join("stderr");
    let srv = serve_to(
        tmp.path(),
        &["--config", conf.to_str().unwrap()],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    let missing = tmp.path().join("gone.pem");
    let tls = format!(
        "tls-cert={} tls-key={}",
        missing.display(),
        missing.display()
    );
    // The port turns into a TLS one and a second port appears: neither may happen.
    std::fs::write(
        &conf,
        "# now with TLS\n".to_string() + &line(p1, &tls) + &line(p2, ""),
    )
    .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(srv.proc.pid()),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let want = format!(
        "{}:2: tls-cert {}: No such file or directory; keeping the old config",
        conf.display(),
        missing.display()
    );
    wait_for("the reload error", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.lines().any(|l| l.ends_with(&want)))
    });
    // Still the plain port: bytes go straight to the device.
    let mut c = TcpStream::connect(("127.0.0.1", p1)).unwrap();
    c.write_all(b"plain").unwrap();
    assert_eq!(d.read_n(5), b"plain");
    assert!(TcpStream::connect(("127.0.0.1", p2)).is_err());
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("gone.pem").count(), 1, "{text}");
}
