//! rgetty-share: export serial lines over TCP, connect to one, or run a virtual modem.
//!
//! ```text
//! rgetty-share serve [--listen ADDR] -p PORT [-s "STTY"] [-m MAX] [--allow ADDR|CIDR|*]...
//!                    [--mode raw|rfc2217] [-w] [-d] [--tls-cert PEM --tls-key PEM
//!                    [--tls-client-ca PEM]] [--watch-port PORT] [--takeover]
//!                    [--replay BYTES [--replay-clear-on-disconnect]] [--log-file FILE]
//!                    [--hold-session] [--control PATH] [--dtr|--rts on|off|keep]
//!                    [--hangup-when-done] [--reset-seq NAME=STEPS]... [--alert '/RE/ CMD']...
//!                    DEVICE
//! rgetty-share serve --config FILE
//! rgetty-share serve --inetd [-s STTY[,STTY...]] DEVICE
//! rgetty-share connect HOST:PORT [--mode raw|rfc2217] [--tls [--tls-ca PEM]
//!                      [--tls-cert PEM --tls-key PEM]] (--link PATH | DEVICE)
//! rgetty-share modem --link PATH -p PORT
//! rgetty-share remserial [-d] [-r HOST] [-p PORT] [-s STTY] [-m MAX] [-w] [-x N] [-l LINK] DEVICE
//! ```
//!
//! Started under the name `remserial` (a link), it reads remserial's command line.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;

use rgetty::share::acl::Acl;
use rgetty::share::client::{self, ConnectOptions};
use rgetty::share::conf::{self, PortConfig, PortMode};
use rgetty::share::server::{self, ServeSignals, ServerSettings, ShareServer};
use rgetty::share::transport::{self, TlsRole};
use rgetty::sys::lock::{LockDir, Naming};

#[path = "rgetty_share/args.rs"]
mod args;
#[path = "rgetty_share/compat.rs"]
mod compat;
use args::{Cli, ClientTls, Cmd, Common, ConnectArgs, ConsoleArgs, ServeArgs};
#[path = "rgetty_share/remserial.rs"]
mod remserial;

/// Log to stderr in the foreground, to syslog once daemonized or under inetd (where stderr
/// may be the client's socket).
fn init_log(verbose: bool, foreground: bool) {
    rgetty::sys::logging::init_daemon("rgetty-share", if verbose { 5 } else { 4 }, foreground);
}

fn lock_dir(c: &Common) -> LockDir {
    let naming = if c.lock_naming == "debian" {
        Naming::Debian
    } else {
        Naming::Upstream
    };
    LockDir::new(c.lock_dir.clone(), naming)
}

fn parse_mode(s: &str) -> anyhow::Result<PortMode> {
    PortMode::parse(s).with_context(|| format!("bad mode {s:?} (raw or rfc2217)"))
}

/// Build the one-port config from the command line.
fn cli_port(a: &ServeArgs, device: &Path, inetd: bool) -> anyhow::Result<PortConfig> {
    let acl = if a.allow.is_empty() {
        if inetd {
            Acl::any()
        } else {
            Acl::loopback_only()
        }
    } else {
        Acl::parse(&a.allow)?
    };
    let (ip, lport) = match &a.listen {
        None => (None, None),
        Some(s) => {
            let bare = s.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
            if let Ok(ip) = bare.unwrap_or(s).parse::<IpAddr>() {
                (Some(ip), None)
            } else {
                let sa: SocketAddr = s
                    .parse()
                    .with_context(|| format!("bad listen address {s:?}"))?;
                (Some(sa.ip()), Some(sa.port()))
            }
        }
    };
    let port = a.port.or(lport).unwrap_or(23000);
    let ip = ip.unwrap_or_else(|| conf::default_listen_ip(&acl));
    let mut p = PortConfig::new(SocketAddr::new(ip, port), vec![device.to_path_buf()]);
    if let Some(s) = &a.stty {
        let words = conf::stty_words(s);
        conf::check_stty(&words).map_err(|w| anyhow::anyhow!("unknown stty word {w:?}"))?;
        p.stty = words;
    }
    if !(1..=64).contains(&a.max) {
        bail!("bad -m {} (1..64)", a.max);
    }
    p.max_clients = a.max;
    p.acl = acl;
    p.mode = parse_mode(&a.mode)?;
    p.write_only = a.write_only;
    p.idle_timeout = (a.idle_timeout > 0).then(|| Duration::from_secs(a.idle_timeout));
    p.banner = a.banner.clone();
    p.drain_timeout = Duration::from_secs(a.drain);
    p.watch = a.watch_port;
    p.takeover = a.takeover;
    p.hold_session = a.hold_session;
    p.esp_reset = a.esp_reset;
    p.replay_clear = a.replay_clear_on_disconnect;
    p.hangup_when_done = a.hangup_when_done;
    if let Some(v) = &a.rs485 {
        p.rs485 =
            Some(rgetty::proto::rs485::parse(v).map_err(|e| anyhow::anyhow!("--rs485: {e}"))?);
    }
    for def in &a.alert {
        let e = |e| anyhow::anyhow!("--alert: {e}");
        match rgetty::share::line_alert::parse_def(def) {
            Some(l) => p.line_alerts.push(l.map_err(e)?),
            None => p
                .alerts
                .push(rgetty::share::alert::parse_def(def).map_err(e)?),
        }
    }
    for (name, v, dst) in [("--dtr", &a.dtr, &mut p.dtr), ("--rts", &a.rts, &mut p.rts)] {
        if let Some(v) = v {
            *dst = conf::LineSetting::parse(v)
                .with_context(|| format!("bad {name} {v:?} (on, off or keep)"))?;
        }
    }
    p.replay = conf::parse_replay(&a.replay.to_string()).map_err(anyhow::Error::msg)?;
    p.log = a.log_file.clone();
    p.tls = conf::tls_files(
        a.tls_cert.clone(),
        a.tls_key.clone(),
        a.tls_client_ca.clone(),
    )
    .map_err(anyhow::Error::msg)?;
    Ok(p)
}

/// The config file through the checked loader; every problem one line of the error.
fn read_config(path: &Path) -> anyhow::Result<(Vec<PortConfig>, conf::Globals)> {
    conf::load(path).map_err(|errs| anyhow::anyhow!("{}", errs.join("\n")))
}

/// `serve --check`: every problem of the file and of the TLS files it names, one per line;
/// `ok: N ports` on standard output when there is none.
fn check_config(path: &Path) -> anyhow::Result<()> {
    let (ports, _) = read_config(path)?;
    let problems: Vec<String> = ports
        .iter()
        .filter_map(|p| p.tls.as_ref())
        .filter_map(|f| transport::server_config_for(f).err())
        .map(|e| e.to_string())
        .collect();
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    let acls: Vec<&Acl> = ports.iter().map(|p| &p.acl).collect();
    let text = rgetty::config::load::load(path, rgetty::config::load::Trust::Commands)?.text;
    for w in rgetty::share::resolve::unresolved_names(path, &text, &acls, |h| {
        !rgetty::sys::names::forward(h).is_empty()
    }) {
        log::warn!("{w}");
    }
    #[allow(clippy::print_stdout)]
    {
        println!("ok: {} ports", ports.len());
    }
    Ok(())
}

/// The reset sequences of the config file and of `--reset-seq` (which wins on a name).
fn set_reset_seqs(
    srv: &mut ShareServer,
    a: &ServeArgs,
    file: Vec<(String, Vec<rgetty::proto::reset_seq::Phase>)>,
) -> anyhow::Result<()> {
    let mut all: std::collections::HashMap<_, _> = file.into_iter().collect();
    for def in &a.reset_seq {
        let (name, steps) = rgetty::proto::reset_seq::parse_named(def)
            .map_err(|e| anyhow::anyhow!("--reset-seq: {e}"))?;
        all.insert(name, steps);
    }
    srv.set_reset_seqs(all);
    Ok(())
}

/// Bind the metrics listener: the command line wins over the config file's `metrics=`.
fn set_metrics(
    srv: &mut ShareServer,
    a: &ServeArgs,
    file_addr: Option<SocketAddr>,
    file_allow: Option<Acl>,
) -> anyhow::Result<()> {
    let addr = match &a.metrics {
        Some(m) => Some(
            conf::parse_metrics_addr(m).with_context(|| format!("bad --metrics address {m:?}"))?,
        ),
        None => file_addr,
    };
    let Some(addr) = addr else { return Ok(()) };
    let acl = if a.metrics_allow.is_empty() {
        file_allow.unwrap_or_default()
    } else {
        Acl::parse_addresses(&a.metrics_allow).context("--metrics-allow")?
    };
    let l = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    log::info!(
        "metrics on http://{}/metrics",
        l.local_addr().unwrap_or(addr)
    );
    srv.set_metrics(l, acl)?;
    Ok(())
}

/// Bind the web console: the command line wins over the config file's `web=`. Any address
/// but loopback needs TLS: the first port's `tls-cert`/`tls-key` serve it.
fn set_web(
    srv: &mut ShareServer,
    a: &ServeArgs,
    file_addr: Option<SocketAddr>,
    tls: Option<&conf::TlsFiles>,
) -> anyhow::Result<()> {
    let addr = match &a.web {
        Some(m) => {
            Some(conf::parse_metrics_addr(m).with_context(|| format!("bad --web address {m:?}"))?)
        }
        None => file_addr,
    };
    let Some(addr) = addr else { return Ok(()) };
    if !addr.ip().is_loopback() && tls.is_none() {
        bail!(
            "web console on {addr}: an address other than loopback needs TLS (tls-cert, tls-key)"
        );
    }
    let role = match tls {
        Some(f) => Some(transport::TlsRole::Server(transport::server_config_for(f)?)),
        None => None,
    };
    let l = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    let scheme = if role.is_some() { "https" } else { "http" };
    log::info!(
        "web console on {scheme}://{}/",
        l.local_addr().unwrap_or(addr)
    );
    srv.set_web(l, role)?;
    srv.set_dashboard_sources(a.web_state_dir.clone(), Some(a.web_call_log.clone()));
    if let Some(f) = &a.web_users {
        let users = rgetty::share::server::auth::load_users(f).map_err(|e| anyhow::anyhow!(e))?;
        log::info!("web console: {} user(s) from {}", users.len(), f.display());
        srv.set_web_users(users);
    }
    Ok(())
}

fn install_signals(server: &mut ShareServer) -> anyhow::Result<()> {
    let sig = ServeSignals::default();
    let (r, w) = UnixStream::pair().context("socketpair")?;
    w.set_nonblocking(true).context("socketpair")?;
    for (s, flag) in [
        (signal_hook::consts::SIGHUP, &sig.hup),
        (signal_hook::consts::SIGTERM, &sig.term),
        (signal_hook::consts::SIGINT, &sig.term),
    ] {
        signal_hook::flag::register(s, flag.clone()).context("signal handler")?;
        signal_hook::low_level::pipe::register(s, w.try_clone().context("socketpair")?)
            .context("signal handler")?;
    }
    server.set_signals(sig, r)?;
    Ok(())
}

fn write_port_file(path: &Path, addrs: &[SocketAddr]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let text: String = addrs.iter().map(|a| format!("{a}\n")).collect();
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Sockets passed by systemd (LISTEN_FDS), if they are for us.
fn systemd_fds() -> Vec<OwnedFd> {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let n = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or(0);
    if !pid_ok || n <= 0 {
        return Vec::new();
    }
    // SAFETY-free: env mutation is unsafe in edition 2024, so the variables are left alone;
    // we start no children that would misread them.
    (3..3 + n.min(64))
        .filter_map(rgetty::sys::tty::adopt_fd)
        .collect()
}

fn is_listening(fd: &OwnedFd) -> bool {
    nix::sys::socket::getsockopt(&fd.as_fd(), nix::sys::socket::sockopt::AcceptConn)
        .unwrap_or(false)
}

/// `serve --config`: bind every port of the file and reload it on SIGHUP. `Ok(false)` for
/// `--check` (the file is fine, nothing to run).
fn serve_config(srv: &mut ShareServer, a: &ServeArgs, cfgpath: &Path) -> anyhow::Result<bool> {
    if a.device.is_some() || a.inetd || a.port.is_some() {
        bail!("--config exports the ports of the file: give no DEVICE, -p or --inetd with it");
    }
    if a.check {
        check_config(cfgpath)?;
        return Ok(false);
    }
    let (ports, globals) = read_config(cfgpath)?;
    if ports.is_empty() {
        bail!("{}: no ports", cfgpath.display());
    }
    let web_tls = ports.iter().find_map(|p| p.tls.clone());
    for p in ports {
        let l = server::bind(&p)?;
        log::info!(
            "listening on {} for {}",
            l.local_addr().map_or(p.listen, |a| a),
            p.devices
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        srv.add_port(p, Some(l))?;
    }
    set_metrics(srv, a, globals.metrics, globals.metrics_allow)?;
    if let Some(c) = a.control.as_ref().or(globals.control.as_ref()) {
        srv.set_control(c)?;
    }
    set_reset_seqs(srv, a, globals.reset_seqs)?;
    set_web(srv, a, globals.web, web_tls.as_ref())?;
    let path = cfgpath.to_path_buf();
    srv.set_reloader(Box::new(move || {
        log::info!("SIGHUP: reloading {}", path.display());
        match read_config(&path) {
            Ok((p, _)) => Some(p),
            Err(e) => {
                for line in format!("{e:#}").lines() {
                    log::error!("{line}");
                }
                log::error!("{}: keeping the old config", path.display());
                None
            }
        }
    }));
    Ok(true)
}

/// `serve --inetd`: the connection on stdin, or the sockets systemd passed. A port without a
/// listener of its own is named (in the log) by the address the connection arrived on.
fn serve_inetd(srv: &mut ShareServer, mut cfg: PortConfig) -> anyhow::Result<()> {
    let fds = systemd_fds();
    if fds.is_empty() {
        let fd = rgetty::sys::tty::adopt_fd(0).context("stdin is not open")?;
        let sock = TcpStream::from(fd);
        if let Ok(a) = sock.local_addr() {
            cfg.listen = a;
        }
        let pi = srv.add_port(cfg, None)?;
        srv.exit_when_idle(true);
        srv.inject(pi, sock);
    } else {
        let mut pi = None;
        let mut conns = Vec::new();
        for fd in fds {
            if is_listening(&fd) {
                let l = TcpListener::from(fd);
                l.set_nonblocking(true).context("listener")?;
                log::info!(
                    "listening on {} (systemd)",
                    l.local_addr()
                        .map_or_else(|_| "?".into(), |a| a.to_string())
                );
                pi = Some(srv.add_port(cfg.clone(), Some(l))?);
            } else {
                conns.push(TcpStream::from(fd));
            }
        }
        let pi = match pi {
            Some(p) => p,
            None => {
                if let Some(a) = conns.first().and_then(|c| c.local_addr().ok()) {
                    cfg.listen = a;
                }
                srv.exit_when_idle(true);
                srv.add_port(cfg, None)?
            }
        };
        for c in conns {
            srv.inject(pi, c);
        }
    }
    Ok(())
}

/// The DEVICE argument as a path: a relative name is taken below /dev when it is there
/// (`pts/4`, `ttyUSB0`, as a getty's line), else as given when that exists; a relative name
/// that is neither is refused at start (an absolute path may name a device still to come).
fn device_path(dev: &Path) -> anyhow::Result<PathBuf> {
    if dev.is_absolute() {
        return Ok(dev.to_path_buf());
    }
    let under_dev = Path::new("/dev").join(dev);
    if under_dev.symlink_metadata().is_ok() {
        return Ok(under_dev);
    }
    if dev.symlink_metadata().is_ok() {
        return std::path::absolute(dev).with_context(|| format!("{}", dev.display()));
    }
    bail!(
        "no device {} (nor {}): give a path such as /dev/ttyUSB0",
        dev.display(),
        under_dev.display()
    )
}

fn serve(a: ServeArgs) -> anyhow::Result<()> {
    init_log(a.common.verbose, !a.inetd);
    if let Some(path) = &a.ser2net_config {
        return compat::serve_config(&a, path);
    }
    let settings = ServerSettings {
        lock_dir: lock_dir(&a.common),
        client_buffer: server::CLIENT_BUFFER,
    };
    let mut srv = ShareServer::new(settings)?;
    if let Some(cfgpath) = &a.config {
        if !serve_config(&mut srv, &a, cfgpath)? {
            return Ok(());
        }
    } else {
        if a.check {
            bail!("--check checks a configuration file: give --config FILE");
        }
        let device = a
            .device
            .as_deref()
            .context("no DEVICE given (or --config FILE)")?;
        let device = &device_path(device)?;
        let cfg = cli_port(&a, device, a.inetd)?;
        let web_tls = cfg.tls.clone();
        if a.inetd {
            serve_inetd(&mut srv, cfg)?;
        } else {
            let l = server::bind(&cfg)?;
            log::info!(
                "listening on {} for {}",
                l.local_addr().map_or(cfg.listen, |a| a),
                device.display()
            );
            srv.add_port(cfg, Some(l))?;
        }
        set_metrics(&mut srv, &a, None, None)?;
        if let Some(c) = &a.control {
            srv.set_control(c)?;
        }
        set_reset_seqs(&mut srv, &a, Vec::new())?;
        set_web(&mut srv, &a, None, web_tls.as_ref())?;
    }
    srv.watch_devices()?;
    if let Some(pf) = &a.port_file {
        write_port_file(pf, &srv.local_addrs())?;
    }
    install_signals(&mut srv)?;
    if a.daemon {
        nix::unistd::daemon(false, false).context("daemon")?;
        init_log(a.common.verbose, false);
    } else if a.detach {
        remserial::detach()?;
        init_log(a.common.verbose, false);
    }
    // Every listener is bound: tell systemd (when it asked).
    srv.notify_ready();
    srv.run()?;
    Ok(())
}

/// The TLS client side of `connect --tls`.
fn connect_tls(a: &ConnectArgs) -> anyhow::Result<Option<TlsRole>> {
    tls_client(&a.client_tls, &a.server)
}

/// The client side of TLS for `server` (`None` without `--tls`).
fn tls_client(t: &ClientTls, server: &str) -> anyhow::Result<Option<TlsRole>> {
    if !t.tls {
        return Ok(None);
    }
    let keys = t.tls_cert.as_deref().zip(t.tls_key.as_deref());
    let ca = t
        .tls_ca
        .as_deref()
        .map_or_else(|| PathBuf::from(transport::SYSTEM_CA), PathBuf::from);
    let cfg = transport::client_config(&ca, keys)?;
    let name =
        transport::server_name(server).with_context(|| format!("no host name in {server:?}"))?;
    Ok(Some(TlsRole::Client(cfg, name)))
}

/// `rgetty-share console`: the exit status.
fn console(a: ConsoleArgs) -> anyhow::Result<u8> {
    init_log(false, true);
    let escape = u8::try_from(u32::from(a.escape))
        .ok()
        .filter(|c| c.is_ascii_graphic())
        .context("--escape must be one printable ASCII character")?;
    let host = a.server.rsplit_once(':').map_or("", |(h, _)| h);
    // A port without a host is one of the local server's: attach through its control socket.
    let local = a.local || !a.server.contains(':');
    if local && a.control.is_none() {
        bail!(
            "{}: not HOST:PORT; to attach to a local port through the server's control socket, give --control PATH",
            a.server
        );
    }
    if local && (a.client_tls.tls || a.watch_port.is_some()) {
        bail!(
            "--tls and --watch-port are for TCP; an attach through the control socket needs neither"
        );
    }
    if a.spy && !local && a.watch_port.is_none() {
        bail!("--spy needs --watch-port (or --control PATH and a local port)");
    }
    let opts = rgetty::share::console::ConsoleOptions {
        server: a.server.clone(),
        watch: a.watch_port.map(|w| format!("{host}:{w}")),
        tls: tls_client(&a.client_tls, &a.server)?,
        rfc2217: parse_mode(&a.mode)? == PortMode::Rfc2217,
        escape,
        spy: a.spy,
        control: a.control.clone(),
        local,
    };
    let code = rgetty::share::console::run(&opts)?;
    Ok(u8::try_from(code).unwrap_or(1))
}

/// `--owner`, `--group`, `--link-mode` looked up.
fn link_access(a: &ConnectArgs) -> anyhow::Result<client::Access> {
    let uid = match &a.owner {
        Some(o) => Some(
            rgetty::sys::exec::user_by_name_or_id(o)
                .with_context(|| format!("--owner: no user {o:?}"))?
                .uid,
        ),
        None => None,
    };
    let gid = match &a.group {
        Some(g) => Some(
            rgetty::sys::exec::group_by_name_or_id(g)
                .with_context(|| format!("--group: no group {g:?}"))?,
        ),
        None => None,
    };
    Ok(client::Access {
        uid,
        gid,
        mode: a.link_mode,
    })
}

fn connect(a: ConnectArgs) -> anyhow::Result<()> {
    init_log(a.common.verbose, true);
    let target = match (&a.link, &a.device) {
        (Some(l), None) => client::Local::Pty {
            link: l.clone(),
            access: link_access(&a)?,
        },
        (None, Some(d)) => client::Local::Device {
            path: d.clone(),
            stty: a.stty.clone().unwrap_or_default(),
        },
        _ => bail!("give either --link PATH or a DEVICE"),
    };
    // `mdns:NAME`: a port announced over mDNS (ser2net's mdns options).
    let server = match a.server.strip_prefix("mdns:") {
        Some(name) => rgetty::share::mdns::resolve(name, Duration::from_secs(3))
            .map_err(anyhow::Error::msg)?
            .to_string(),
        None => a.server.clone(),
    };
    let opts = ConnectOptions {
        server,
        mode: parse_mode(&a.mode)?,
        local: target,
        lock_dir: lock_dir(&a.common),
        retries: a.retries,
        max_backoff: Duration::from_secs(a.max_backoff.max(1)),
        once: a.once,
        tls: connect_tls(&a)?,
    };
    let sig = ServeSignals::default();
    // SIGHUP too: the terminal going away must not leave a dangling --link behind.
    for s in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(s, sig.term.clone()).context("signal handler")?;
    }
    if a.detach {
        remserial::detach()?;
        init_log(a.common.verbose, false);
    }
    client::run(&opts, &sig.term)?;
    Ok(())
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Started as `ser2net` (an alternative name the admin chose): ser2net's command line.
    if argv
        .first()
        .and_then(|a0| Path::new(a0).file_name())
        .is_some_and(|n| n == "ser2net")
    {
        let args: Vec<String> = argv[1..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        return compat::main(&args, "rgetty-share");
    }
    let remserial_args = match argv.first() {
        Some(a0) if rgetty::share::remserial::invoked_as_remserial(a0) => Some(argv[1..].to_vec()),
        _ => None,
    };
    let cli = match remserial_args {
        Some(args) => match remserial::cli(&args) {
            Ok(c) => c,
            Err(code) => return code,
        },
        None => Cli::parse(),
    };
    let cli = match cli.cmd {
        Cmd::Remserial { args } => match remserial::cli(&args) {
            Ok(c) => c,
            Err(code) => return code,
        },
        _ => cli,
    };
    let r = match cli.cmd {
        Cmd::Serve(a) => serve(*a),
        Cmd::Connect(a) => connect(a),
        Cmd::Ser2net { args } => return compat::main(&args, "rgetty-share"),
        Cmd::Console(a) => match console(a) {
            Ok(code) => return ExitCode::from(code),
            Err(e) => Err(e),
        },
        Cmd::Modem { args } => {
            init_log(false, true);
            let code = rgetty::modem::cli::main(args);
            return ExitCode::from(u8::try_from(code).unwrap_or(1));
        }
        Cmd::Remserial { .. } => Err(anyhow::anyhow!("remserial: nested")),
    };
    finish(r)
}

/// The exit status of a command, its error logged (and printed when logging is off).
fn finish(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One problem per line (a config file's errors are `file:line: message` each).
            for line in format!("{e:#}").lines() {
                log::error!("{line}");
                if log::max_level() == log::LevelFilter::Off {
                    #[allow(clippy::print_stderr)]
                    {
                        eprintln!("rgetty-share: {line}");
                    }
                }
            }
            ExitCode::from(1)
        }
    }
}
