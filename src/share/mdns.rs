//! mDNS/DNS-SD announcements of exported ports (ser2net's `mdns*` options), following
//! hot-plug: a port whose device goes is withdrawn (goodbye packets), and announced again when
//! it returns; every port is withdrawn at shutdown.
//!
//! The responder is the `mdns-sd` crate's: it runs on a thread of its own (a poll loop that
//! sleeps until a packet or one of its own timers; the periodic interface check is turned
//! off, so an idle server makes no mDNS system calls between queries). It binds UDP 5353
//! with SO_REUSEADDR and SO_REUSEPORT, so it coexists with avahi-daemon on the same host.
//!
//! [`txt`] and [`sysattrs`] are pure but for reading sysfs; [`resolve`] serves
//! `rgetty-share connect mdns:NAME`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};

use crate::share::ser2net::Mdns;

/// The service type ser2net announces by default (TCP accepters).
pub const DEFAULT_TYPE: &str = "_iostream._tcp";

/// One port to announce.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The `mdns*` options.
    pub mdns: Mdns,
    /// The bound TCP port.
    pub port: u16,
    /// The device (sysfs attributes; presence).
    pub device: PathBuf,
}

/// `_iostream._tcp` → `_iostream._tcp.local.`
pub fn full_type(t: &str) -> String {
    let t = t.trim_end_matches('.');
    if t.ends_with(".local") {
        format!("{t}.")
    } else {
        format!("{t}.local.")
    }
}

/// The TXT entries of a port: ser2net's own two (`provider`, `gensiostack`), the USB
/// attributes when asked for, then the `mdns-txt` strings.
pub fn txt(m: &Mdns, attrs: &[(String, String)]) -> Vec<(String, String)> {
    let mut out = vec![
        ("provider".to_string(), "rgetty-share".to_string()),
        ("gensiostack".to_string(), m.stack.clone()),
    ];
    if m.sysattrs {
        out.extend(attrs.iter().cloned());
    }
    for t in &m.txt {
        let (k, v) = t.split_once('=').unwrap_or((t.as_str(), ""));
        out.push((k.to_string(), v.to_string()));
    }
    out
}

/// The USB attributes of a tty from sysfs (`sys` is normally `/sys`), as ser2net's
/// `mdns-sysattrs` gives them: `devicetype=serialusb` and bInterfaceNumber, interface,
/// idProduct, idVendor, serial, manufacturer, product when present; `devicetype=serial` for
/// a tty that is not on USB.
pub fn sysattrs(device: &Path, sys: &Path) -> Vec<(String, String)> {
    let real = std::fs::canonicalize(device).unwrap_or_else(|_| device.to_path_buf());
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Ok(mut dir) = std::fs::canonicalize(sys.join("class/tty").join(&name).join("device"))
    else {
        return vec![("devicetype".into(), "serial".into())];
    };
    let read = |d: &Path, f: &str| {
        std::fs::read_to_string(d.join(f))
            .ok()
            .map(|s| s.trim().to_string())
    };
    let mut out = Vec::new();
    let mut iface = None;
    loop {
        if iface.is_none() && dir.join("bInterfaceNumber").exists() {
            iface = Some(dir.clone());
        }
        if dir.join("idVendor").exists() {
            out.push(("devicetype".to_string(), "serialusb".to_string()));
            if let Some(i) = &iface {
                for f in ["bInterfaceNumber", "interface"] {
                    if let Some(v) = read(i, f) {
                        out.push((f.to_string(), v));
                    }
                }
            }
            for f in ["idProduct", "idVendor", "serial", "manufacturer", "product"] {
                if let Some(v) = read(&dir, f) {
                    out.push((f.to_string(), v));
                }
            }
            return out;
        }
        if !dir.pop() || dir == sys || dir.as_os_str().len() <= 1 {
            return vec![("devicetype".into(), "serial".into())];
        }
    }
}

/// A registered (or withdrawn) port.
#[derive(Debug)]
struct Entry {
    device: PathBuf,
    info: ServiceInfo,
    up: bool,
}

/// The announcer: the responder and the ports it speaks for.
pub struct Announcer {
    daemon: ServiceDaemon,
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Announcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Announcer")
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

fn err(e: mdns_sd::Error) -> String {
    format!("mdns: {e}")
}

impl Announcer {
    /// Start the responder and announce every port whose device is present.
    pub fn start(specs: &[Spec]) -> Result<Self, String> {
        let daemon = ServiceDaemon::new().map_err(err)?;
        daemon.set_ip_check_interval(0).map_err(err)?;
        let host = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "localhost".into());
        let mut entries = Vec::new();
        for s in specs {
            let attrs = if s.mdns.sysattrs {
                sysattrs(&s.device, Path::new("/sys"))
            } else {
                Vec::new()
            };
            let props = txt(&s.mdns, &attrs);
            let info = ServiceInfo::new(
                &full_type(&s.mdns.service_type),
                &s.mdns.name,
                &format!("{host}.local."),
                "",
                s.port,
                &props[..],
            )
            .map_err(err)?
            .enable_addr_auto();
            entries.push(Entry {
                device: s.device.clone(),
                info,
                up: false,
            });
        }
        let mut a = Announcer { daemon, entries };
        for i in 0..a.entries.len() {
            let present = crate::ops::hotplug::exists(&a.entries[i].device);
            a.set(i, present);
        }
        Ok(a)
    }

    fn set(&mut self, i: usize, up: bool) {
        let e = &mut self.entries[i];
        if e.up == up {
            return;
        }
        let r = if up {
            self.daemon.register(e.info.clone()).map(|_| ())
        } else {
            self.daemon.unregister(e.info.get_fullname()).map(|_| ())
        };
        match r {
            Ok(()) => {
                e.up = up;
                let what = if up { "announced" } else { "withdrawn" };
                log::info!("mdns: {} {what}", e.info.get_fullname());
            }
            Err(x) => log::warn!("mdns: {}: {x}", e.info.get_fullname()),
        }
    }

    /// A device came or went: announce or withdraw its ports.
    pub fn presence(&mut self, device: &Path, present: bool) {
        for i in 0..self.entries.len() {
            if self.entries[i].device == device {
                self.set(i, present);
            }
        }
    }

    /// Withdraw every port (goodbye packets) and stop the responder.
    pub fn shutdown(self) {
        for e in self.entries.iter().filter(|e| e.up) {
            if let Ok(rx) = self.daemon.unregister(e.info.get_fullname()) {
                let _ = rx.recv_timeout(Duration::from_secs(1));
            }
        }
        if let Ok(rx) = self.daemon.shutdown() {
            let _ = rx.recv_timeout(Duration::from_secs(1));
        }
    }
}

/// An IPv6 link-local address (fe80::/10).
fn is_link_local(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

/// Find `NAME` (an instance name, or `NAME.TYPE`) on the local network: its address and port.
pub fn resolve(name: &str, wait: Duration) -> Result<SocketAddr, String> {
    let (instance, ty) = match name.split_once("._") {
        Some((i, t)) => (i.to_string(), full_type(&format!("_{t}"))),
        None => (name.to_string(), full_type(DEFAULT_TYPE)),
    };
    let daemon = ServiceDaemon::new().map_err(err)?;
    let rx = daemon.browse(&ty).map_err(err)?;
    let end = Instant::now() + wait;
    let want = format!("{instance}.{ty}");
    let mut found = None;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(ServiceEvent::ServiceResolved(s))
                if s.get_fullname().eq_ignore_ascii_case(&want) =>
            {
                // IPv4 first; an IPv6 link-local address needs a scope a plain address
                // lacks, so it is not used (a later event may bring more addresses).
                let mut ips: Vec<IpAddr> = s
                    .get_addresses()
                    .iter()
                    .map(|a| a.to_ip_addr())
                    .filter(|ip| !is_link_local(ip))
                    .collect();
                ips.sort_by_key(|ip| (ip.is_ipv6(), !ip.is_loopback()));
                found = ips.first().map(|ip| SocketAddr::new(*ip, s.get_port()));
                if found.is_some() {
                    break;
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = daemon.shutdown();
    found.ok_or_else(|| format!("mdns: no {want} found within {wait:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> Mdns {
        Mdns {
            name: "rack-3-slot-5".into(),
            service_type: DEFAULT_TYPE.into(),
            txt: vec!["server=lab1".into(), "flag".into()],
            sysattrs: true,
            stack: "telnet(rfc2217),tcp".into(),
        }
    }

    #[test]
    fn txt_entries_in_ser2net_order() {
        let attrs = vec![("devicetype".to_string(), "serial".to_string())];
        let t = txt(&m(), &attrs);
        let shown: Vec<String> = t.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            shown,
            [
                "provider=rgetty-share",
                "gensiostack=telnet(rfc2217),tcp",
                "devicetype=serial",
                "server=lab1",
                "flag="
            ]
        );
        assert_eq!(full_type("_iostream._tcp"), "_iostream._tcp.local.");
        assert_eq!(full_type("_x._tcp.local."), "_x._tcp.local.");
    }

    #[test]
    fn usb_attributes_from_a_fake_sysfs() {
        let t = tempfile::tempdir().unwrap();
        let sys = t.path().join("sys");
        let usb = sys.join("devices/pci0/usb1/1-2");
        let intf = usb.join("1-2:1.0");
        let tty = intf.join("ttyUSB0/tty/ttyUSB0");
        std::fs::create_dir_all(&tty).unwrap();
        for (f, v) in [
            ("idVendor", "0403"),
            ("idProduct", "6001"),
            ("serial", "A10K"),
            ("product", "FT232R USB UART"),
        ] {
            std::fs::write(usb.join(f), format!("{v}\n")).unwrap();
        }
        std::fs::write(intf.join("bInterfaceNumber"), "00\n").unwrap();
        std::fs::create_dir_all(sys.join("class/tty")).unwrap();
        std::os::unix::fs::symlink(&tty, sys.join("class/tty/ttyUSB0")).unwrap();
        std::os::unix::fs::symlink(intf.join("ttyUSB0"), tty.join("device")).unwrap();
        let dev = t.path().join("ttyUSB0");
        let a = sysattrs(&dev, &sys);
        let shown: Vec<String> = a.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            shown,
            [
                "devicetype=serialusb",
                "bInterfaceNumber=00",
                "idProduct=6001",
                "idVendor=0403",
                "serial=A10K",
                "product=FT232R USB UART"
            ]
        );
        assert_eq!(
            sysattrs(Path::new("/dev/pts/0"), &sys),
            vec![("devicetype".to_string(), "serial".to_string())]
        );
    }
}
