//! The loader on ser2net's own kinds of files: Debian's stock one, labgrid's `-Y` lines,
//! version 2, defaults, defines, includes, and the options it must refuse.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::share::conf::PortMode as Mode;

const ETC: &str = "/etc/ser2net";

fn load(text: &str) -> Result<Vec<Connection>, Vec<String>> {
    load_text(Path::new("s.yaml"), text, Path::new(ETC))
        .map_err(|e| e.iter().map(ToString::to_string).collect())
}

/// Debian's /etc/ser2net.yaml, its shape (four ports, a define'd banner, folded connectors).
const DEBIAN_LIKE: &str = "%YAML 1.1\n---\n\
define: &banner \\r\\nser2net port \\p device \\d [\\B] (Debian GNU/Linux)\\r\\n\\r\\n\n\
connection: &con0096\n    accepter: tcp,localhost,2000\n    enable: on\n    options:\n      banner: *banner\n      kickolduser: true\n      telnet-brk-on-sync: true\n    connector: serialdev,\n              /dev/ttyS0,\n              9600n81,local\n\
connection: &con1192\n    accepter: tcp,localhost,3001\n    enable: on\n    options:\n      banner: *banner\n      kickolduser: true\n      telnet-brk-on-sync: true\n    connector: serialdev,\n              /dev/ttyS1,\n              19200n81,local\n";

#[test]
fn debian_stock_shape() {
    let c = load(DEBIAN_LIKE).unwrap();
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].name, "con0096");
    let p = &c[0].port;
    assert_eq!(p.listen, "127.0.0.1:2000".parse().unwrap());
    assert_eq!(p.devices, vec![PathBuf::from("/dev/ttyS0")]);
    assert_eq!(
        p.stty,
        "9600 cs8 -parenb -cstopb clocal -crtscts -ixon -ixoff"
    );
    assert_eq!(p.mode, Mode::Raw);
    assert!(p.takeover);
    assert!(
        !p.acl.allows("10.1.1.1".parse().unwrap()) && p.acl.allows("127.0.0.1".parse().unwrap()),
        "no remaddr: loopback only (ser2net admits everybody)"
    );
    assert_eq!(
        p.render_banner(Path::new("/dev/ttyS0")).unwrap(),
        b"\r\nser2net port 2000 device /dev/ttyS0 [9600N81] (Debian GNU/Linux)\r\n\r\n"
    );
    assert_eq!(c[1].port.stty.split(' ').next(), Some("19200"));
    assert!(c[0].uucp_lock);
}

#[test]
fn labgrid_lines() {
    let y = cli::yaml_text(&[
        "connection: &con01#  accepter: telnet(rfc2217,mode=server),tcp,5000".into(),
        "  connector: serialdev(nouucplock=true),/dev/ttyUSB0,115200n81,local".into(),
        "  options:".into(),
        "    max-connections: 10".into(),
    ]);
    let c = load(&y).unwrap();
    assert_eq!(c.len(), 1);
    let p = &c[0].port;
    // no remaddr: loopback only until --allow or RGETTY_SHARE_ALLOW says otherwise
    assert_eq!(p.listen, "127.0.0.1:5000".parse().unwrap());
    assert!(c[0].default_acl && c[0].wildcard);
    let mut c = c;
    crate::share::ser2net::admit(
        &mut c,
        &crate::share::acl::Acl::parse(&["10.0.0.0/8"]).unwrap(),
    );
    assert_eq!(c[0].port.listen, "0.0.0.0:5000".parse().unwrap());
    assert!(c[0].port.acl.allows("10.1.2.3".parse().unwrap()));
    let p = &c[0].port;
    assert_eq!(p.mode, Mode::Rfc2217);
    assert_eq!(p.max_clients, 10);
    assert!(!c[0].uucp_lock);
    assert_eq!(
        p.stty,
        "115200 cs8 -parenb -cstopb clocal -crtscts -ixon -ixoff"
    );
}

#[test]
fn unsupported_options_name_their_lines() {
    let text = "connection: &a\n  accepter: telnet,tcp,2000\n  connector: serialdev,/dev/x,9600n81,rs485=1:2\n  options:\n    kickolduser: true\n    telnet-brk-on-sync: true\n    openstr: hello\n    trace-both: /tmp/t\n    chardelay-scale: 25\n\
connection: &b\n  accepter: sctp,2001\n  connector: echo\nled: &l\n  driver: sysfs\nrotator: &r\n  accepter: tcp,2003\n";
    let e = load(text).unwrap_err();
    assert_eq!(
        e,
        vec![
            "s.yaml:3: rs485 not supported by rgetty-share",
            "s.yaml:7: option \"openstr\" not supported by rgetty-share",
            "s.yaml:8: trace-both not supported: the port log (trace-read) records device output only",
            "s.yaml:9: option \"chardelay-scale\" not supported by rgetty-share",
            "s.yaml:11: accepter \"sctp\" not supported (tcp, telnet and ssl are)",
            "s.yaml:12: connector \"echo\" not supported (serialdev is)",
            "s.yaml:13: led: LEDs are not supported by rgetty-share",
            "s.yaml:15: rotator: rotators are not supported by rgetty-share (a pool: several devices on one rgetty-share.conf line)",
        ]
    );
}

#[test]
fn defines_defaults_and_disabled_ports() {
    let text = "define: &serbase \"/dev/serial/by-path/pci-0000:00:1d.0\"\n\
define: &usb0 \"*(serbase)-usb-0:1.8\"\n\
default:\n  name: speed\n  value: 115200n81\n\
default:\n  name: local\n  value: true\n  class: serialdev\n\
default:\n  name: kickolduser\n  value: true\n\
connection: &con1\n  accepter: telnet(rfc2217),tcp,2002\n  timeout: 60\n  connector: serialdev,*(usb0)-port0\n  options:\n    banner: 'a \\o \\x41\\101 *(*x'\n    remaddr: ipv4,192.168.1.0/24,0;10.0.0.1\n    trace-read: /var/log/t-\\p-\\d\n\
connection: &con2\n  accepter: tcp,2003\n  enable: off\n  connector: serialdev,/dev/ttyS1,9600e71\n             local=false\n";
    let c = load(text).unwrap();
    assert_eq!(c.len(), 1, "con2 is off");
    let p = &c[0].port;
    assert_eq!(
        p.devices,
        vec![PathBuf::from(
            "/dev/serial/by-path/pci-0000:00:1d.0-usb-0:1.8-port0"
        )]
    );
    assert_eq!(
        p.stty,
        "115200 cs8 -parenb -cstopb clocal -crtscts -ixon -ixoff"
    );
    assert_eq!(p.idle_timeout, Some(Duration::from_secs(60)));
    assert!(p.takeover);
    assert_eq!(p.render_banner(Path::new("/d")).unwrap(), b"a con1 AA *(x");
    assert!(p.acl.allows("192.168.1.7".parse().unwrap()));
    assert!(p.acl.allows("10.0.0.1".parse().unwrap()));
    assert!(!p.acl.allows("10.0.0.2".parse().unwrap()));
    assert_eq!(
        p.log.as_deref(),
        Some(Path::new(
            "/var/log/t-2002-pci-0000:00:1d.0-usb-0:1.8-port0"
        ))
    );
}

#[test]
fn version_2_and_tls() {
    let text = "%YAML 1.1\n---\ndefines:\n  banner1: Connected to \\d\\r\\n\n\
defaults:\n  mdns:\n    value: true\n  local:\n    value: true\n    class: serialdev\n\
connections:\n  ttyUSB0:\n    accepter: telnet(rfc2217),ssl(key=/k.pem,cert=/c.pem),tcp,4001\n    connector: serialdev,/dev/ttyUSB0,19200n81\n    options:\n      banner: =(banner1)\n      mdns-txt: \"server=rgetty\"\n      mdns-sysattrs: true\n\
\x20\x20ttyUSB1:\n    accepter: ssl(clientauth,CA=/ca.pem),tcp,::1,4002\n    connector: serialdev,/dev/ttyUSB1\n---\nconnections:\n  third:\n    accepter: tcp,4003\n    connector: serialdev,/dev/ttyUSB2\n";
    let c = load(text).unwrap();
    assert_eq!(c.len(), 3);
    let t = c[0].port.tls.as_ref().unwrap();
    assert_eq!(
        (t.key.as_path(), t.cert.as_path()),
        (Path::new("/k.pem"), Path::new("/c.pem"))
    );
    assert_eq!(
        c[0].port.render_banner(Path::new("/dev/ttyUSB0")).unwrap(),
        b"Connected to /dev/ttyUSB0\r\n"
    );
    let m = c[0].mdns.as_ref().unwrap();
    assert_eq!(
        (m.name.as_str(), m.service_type.as_str()),
        ("ttyUSB0", "_iostream._tcp")
    );
    assert_eq!(m.txt, vec!["server=rgetty".to_string()]);
    assert!(m.sysattrs);
    assert_eq!(m.stack, "telnet(rfc2217),ssl(key=/k.pem,cert=/c.pem),tcp");
    let t = c[1].port.tls.as_ref().unwrap();
    assert_eq!(t.key, Path::new(ETC).join("ser2net.key"));
    assert_eq!(t.client_ca.as_deref(), Some(Path::new("/ca.pem")));
    assert_eq!(c[1].port.listen, "[::1]:4002".parse().unwrap());
    assert_eq!(
        c[1].port.stty,
        "9600 cs8 -parenb -cstopb clocal -crtscts -ixon -ixoff"
    );
    assert!(
        c[2].mdns.is_some(),
        "defaults carry on into the next document, as in ser2net"
    );
}

#[test]
fn duplicates_and_yaml_errors() {
    let e = load("connection: &a\n  accepter: tcp,1\n  connector: serialdev,/dev/a\nconnection: &b\n  accepter: tcp,1\n  connector: serialdev,/dev/b\n").unwrap_err();
    assert_eq!(e, vec!["s.yaml:4: port 127.0.0.1:1 already used by a"]);
    let e = load("connection: &a\n  accepter: [tcp\n").unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("s.yaml:"), "{e:?}");
    let e = load("connection:\n  accepter: tcp,1\n  connector: serialdev,/dev/a\n").unwrap_err();
    assert_eq!(e, vec!["s.yaml:2: connection without an &NAME"]);
}

#[test]
fn includes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "connection: &inc\n  accepter: tcp,7001\n  connector: serialdev,/dev/a,*(speed)\n",
    )
    .unwrap();
    let main = dir.path().join("main.yaml");
    std::fs::write(
        &main,
        "define: &speed 57600\ninclude: ./*.yaml.d\ninclude: a.yaml\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("x.yaml.d")).unwrap();
    let c = load_file(&main, Path::new(ETC)).unwrap();
    assert_eq!(c.len(), 1);
    assert!(c[0].port.stty.starts_with("57600 "));
}

#[test]
fn telnet_brk_on_sync_turns_a_sync_into_a_break() {
    use crate::share::stack::{Conn, Control, LayerArgs, Side};
    use std::io::Write;
    use std::os::fd::OwnedFd;
    let c = load("connection: &a\n  accepter: telnet,tcp,2000\n  connector: serialdev,/dev/a\n  options:\n    telnet-brk-on-sync: true\n\
        connection: &b\n  accepter: tcp,2001\n  connector: serialdev,/dev/b\n  options:\n    telnet-brk-on-sync: true\n")
    .unwrap();
    assert!(c[0].port.telnet_brk_on_sync);
    assert!(!c[1].port.telnet_brk_on_sync, "no SYNC without telnet");
    for (layer, want) in [
        ("telnet-brk-on-sync", vec![Control::BreakPulse]),
        ("telnet", vec![]),
    ] {
        let (a, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let args = LayerArgs {
            side: Side::Server,
            tls: None,
        };
        let mut conn = Conn::build(OwnedFd::from(a), &[layer], &args).unwrap();
        peer.write_all(b"x\xff\xf2y").unwrap();
        let (mut buf, mut ev, mut data) = ([0u8; 64], Vec::new(), Vec::new());
        while data.len() < 2 {
            let n = conn.read_events(&mut buf, &mut ev).unwrap();
            data.extend_from_slice(&buf[..n]);
        }
        assert_eq!(data, b"xy");
        let breaks: Vec<_> = ev
            .into_iter()
            .filter(|e| *e == Control::BreakPulse)
            .collect();
        assert_eq!(breaks, want, "{layer}");
    }
}
