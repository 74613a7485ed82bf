//! The web console over TLS: client certificates name the user (tests/share/web/tls.py), and
//! one Chromium page load over https with a users-file login.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Browser, Setup, browser_ready, log_in, need, python, python_has};
use crate::share_util::tmpdir;

/// Client certificates for `names`, signed by the CA of [`crate::engine::make_certs`].
fn more_clients(dir: &Path, names: &[&str]) {
    for n in names {
        let sh = format!(
            "set -e; cd {}; \
             openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
               -keyout {n}.key -out {n}.csr -subj /CN={n}; \
             openssl x509 -req -in {n}.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
               -out {n}.pem -days 2 -extfile cli.ext",
            dir.display()
        );
        let st = Command::new("sh")
            .args(["-c", &sh])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "openssl failed for {n}");
    }
}

#[test]
fn client_certificates_name_the_user() {
    if !need("python3 websockets", python_has("websockets")) {
        return;
    }
    let tmp = tmpdir();
    let d = tmp.path().to_path_buf();
    if !need("openssl", crate::engine::make_certs(&d)) {
        return;
    }
    more_clients(&d, &["bob", "eve"]);
    let users = d.join("web-users");
    std::fs::write(&users, "# certificate users\ncli:cert:rw\nbob:-:ro\n").unwrap();
    std::fs::set_permissions(&users, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let f = |n: &str| d.join(n).display().to_string();
    let (cert, key, ca, u) = (f("srv.pem"), f("srv.key"), f("ca.pem"), f("web-users"));
    let s = Setup::with(
        tmp,
        &[
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--tls-client-ca",
            &ca,
            "--web-users",
            &u,
        ],
    );
    // The far end echoes and keeps everything it got.
    let mut echo = s.dev.master.try_clone().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (got2, stop2) = (got.clone(), stop.clone());
    let echoer = std::thread::spawn(move || {
        use std::io::Read;
        let mut b = [0u8; 4096];
        while !stop2.load(Ordering::Relaxed) {
            match echo.read(&mut b) {
                Ok(n) if n > 0 => {
                    got2.lock().unwrap().extend_from_slice(&b[..n]);
                    crate::share_util::write_all_fd(&mut echo, &b[..n]);
                }
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/share/web/tls.py");
    let out = Command::new(python())
        .arg(script)
        .arg(format!("127.0.0.1:{}", s.web))
        .arg(s.port.to_string())
        .arg(&d)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    stop.store(true, Ordering::Relaxed);
    echoer.join().unwrap();
    assert!(out.status.success(), "tls.py failed");
    assert!(text.contains("all tls checks passed"), "{text}");
    let got = String::from_utf8_lossy(&got.lock().unwrap()).into_owned();
    assert!(got.contains("rw-was-here"), "{got:?}");
    assert!(
        !got.contains("ro-was-here"),
        "an ro certificate wrote: {got:?}"
    );
}

/// One page load over https, logged in from a users file (Chromium takes the test CA's
/// certificate with --ignore-certificate-errors; no client certificate).
#[test]
fn https_console_in_chromium() {
    if !browser_ready() {
        return;
    }
    let tmp = tmpdir();
    let d = tmp.path().to_path_buf();
    if !need("openssl", crate::engine::make_certs(&d)) {
        return;
    }
    let users = d.join("web-users");
    let h = rgetty::share::server::auth::hash_password("correct horse", true);
    std::fs::write(&users, format!("alice:{h}:rw\n")).unwrap();
    std::fs::set_permissions(&users, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let f = |n: &str| d.join(n).display().to_string();
    let (cert, key, u) = (f("srv.pem"), f("srv.key"), f("web-users"));
    let mut s = Setup::with(
        tmp,
        &["--tls-cert", &cert, "--tls-key", &key, "--web-users", &u],
    );
    let console = format!("https://127.0.0.1:{}/port/{}", s.web, s.port);
    let mut b = Browser::start();
    b.open(&console);
    b.wait(
        "location.pathname == '/login' && location.protocol == 'https:'",
        10,
    );
    log_in(&mut b, "alice", "correct horse");
    b.wait("location.pathname == '/'", 10);
    b.open(&console);
    b.wait(
        "document.getElementById('state').textContent == 'connected'",
        15,
    );
    b.type_keys("tls\n");
    assert_eq!(s.dev.read_n(4), b"tls\r");
    s.dev.write_all(b"over https\r\n");
    b.wait(&super::term_has("over https"), 10);
    b.shot("10-https-console");
}
