//! ser2net compatibility in the binary: `serve --ser2net-config FILE`, and ser2net's own
//! command line (`rgetty-share ser2net ...`, or the binary started as `ser2net`). Both load
//! the ser2net.yaml with [`rgetty::share::ser2net`] and serve the ports like `serve --config`.

use std::cell::RefCell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use anyhow::{Context, bail};

use rgetty::share::mdns;
use rgetty::share::ser2net::{self, Connection, cli};
use rgetty::share::server::{self, ServerSettings, ShareServer};
use rgetty::sys::lock::{LockDir, Naming};

use super::args::ServeArgs;

/// Where a ser2net configuration comes from, and the text it holds.
struct Source {
    /// Names it in messages (and anchors relative includes).
    path: PathBuf,
    text: String,
    etc: PathBuf,
    /// Who may connect to a port without `remaddr` (`--allow`, else `RGETTY_SHARE_ALLOW`).
    allow: Vec<String>,
}

/// The allow list for ports without `remaddr`: the command line's, else the environment's
/// (for engines such as labgrid's exporter that start `ser2net` with fixed options).
fn allow_list(given: &[String]) -> Vec<String> {
    if !given.is_empty() {
        return given.to_vec();
    }
    std::env::var("RGETTY_SHARE_ALLOW")
        .map(|v| cli::split_hosts(&v))
        .unwrap_or_default()
}

/// Load a ser2net configuration: every problem, one `file:line: message` per line.
fn load(src: &Source) -> anyhow::Result<Vec<Connection>> {
    load_as(src, false)
}

/// [`load`]; with `bare` (for `--check`) each problem is printed as it is, without the log's
/// prefix.
fn load_as(src: &Source, bare: bool) -> anyhow::Result<Vec<Connection>> {
    let mut conns = load_text(src, bare)?;
    if !src.allow.is_empty() {
        let acl = rgetty::share::acl::Acl::parse(&src.allow).context("--allow")?;
        ser2net::admit(&mut conns, &acl);
    } else if !bare && conns.iter().any(|c| c.default_acl) {
        log::warn!(
            "ser2net: connections without remaddr admit loopback peers only (stricter than \
             ser2net; give remaddr, --allow LIST or RGETTY_SHARE_ALLOW)"
        );
    }
    Ok(conns)
}

/// The connections of `src`, each problem printed or logged.
fn load_text(src: &Source, bare: bool) -> anyhow::Result<Vec<Connection>> {
    ser2net::load_text(&src.path, &src.text, &src.etc).map_err(|errs| {
        for e in &errs {
            if bare {
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("{e}");
                }
            } else {
                log::error!("{e}");
            }
        }
        anyhow::anyhow!("{}: {} problem(s)", src.path.display(), errs.len())
    })
}

/// UUCP locks are server-wide in rgetty-share: the connections must agree. `None`: take them
/// in `dir`; `Some(private)`: every connection said `nouucplock`.
fn lock_choice(conns: &[Connection], path: &Path, forced_off: bool) -> anyhow::Result<bool> {
    if forced_off {
        return Ok(false);
    }
    let Some(first) = conns.first() else {
        return Ok(true);
    };
    if let Some(c) = conns.iter().find(|c| c.uucp_lock != first.uucp_lock) {
        bail!(
            "{}:{}: nouucplock must be the same on every connection (rgetty-share locks every port or none)",
            path.display(),
            c.line
        );
    }
    Ok(first.uucp_lock)
}

/// A lock directory of our own, for ports that asked for no UUCP locks: other programs'
/// locks are not consulted, ours still keep two of our ports off one device.
fn private_lock_dir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!("rgetty-share-nolock.{}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// How to run the ports once loaded.
struct Run<'a> {
    lock_dir: LockDir,
    naming: Naming,
    daemon: bool,
    pidfile: Option<PathBuf>,
    port_file: Option<PathBuf>,
    verbose: bool,
    /// `serve`'s own options (`--metrics`), when started as `serve --ser2net-config`.
    serve_args: Option<&'a ServeArgs>,
}

/// Bind every connection and run the server; SIGHUP reloads `src` (the same lock choice).
fn serve(src: Source, conns: Vec<Connection>, run: Run<'_>, uucp: bool) -> anyhow::Result<()> {
    if conns.is_empty() {
        bail!("{}: no connections", src.path.display());
    }
    let private = (!uucp).then(private_lock_dir).transpose()?;
    let lock_dir = match &private {
        Some(d) => LockDir::new(d.clone(), run.naming),
        None => run.lock_dir.clone(),
    };
    let r = serve_with(src, conns, &run, lock_dir);
    if let Some(d) = private {
        let _ = std::fs::remove_dir_all(d);
    }
    r
}

fn serve_with(
    src: Source,
    conns: Vec<Connection>,
    run: &Run<'_>,
    lock_dir: LockDir,
) -> anyhow::Result<()> {
    let settings = ServerSettings {
        lock_dir,
        client_buffer: server::CLIENT_BUFFER,
    };
    let mut srv = ShareServer::new(settings)?;
    let mut specs = Vec::new();
    for c in conns {
        let l = server::bind(&c.port)?;
        let bound = l.local_addr().map_or(c.port.listen, |a| a);
        log::info!(
            "{}: listening on {bound} for {}",
            c.name,
            c.port.devices[0].display()
        );
        if let Some(m) = c.mdns.clone() {
            specs.push(mdns::Spec {
                mdns: m,
                port: bound.port(),
                device: c.port.devices[0].clone(),
            });
        }
        srv.add_port(c.port, Some(l))?;
    }
    srv.set_reloader(Box::new(move || {
        log::info!("SIGHUP: reloading {}", src.path.display());
        let reread = reread(&src).and_then(|s| load(&s));
        match reread {
            Ok(c) => Some(c.into_iter().map(|c| c.port).collect()),
            Err(e) => {
                log::error!("{e:#}; keeping the old config");
                None
            }
        }
    }));
    if let Some(a) = run.serve_args {
        super::set_metrics(&mut srv, a, None, None)?;
    }
    srv.watch_devices()?;
    if let Some(pf) = &run.port_file {
        super::write_port_file(pf, &srv.local_addrs())?;
    }
    super::install_signals(&mut srv)?;
    if run.daemon {
        nix::unistd::daemon(false, false).context("daemon")?;
        super::init_log(run.verbose, false);
    }
    if let Some(p) = &run.pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    // After daemon(): the responder's thread would not survive the fork.
    let announcer = start_mdns(&mut srv, &specs)?;
    srv.notify_ready();
    let r = srv.run();
    if let Some(a) = announcer.and_then(|a| a.borrow_mut().take()) {
        a.shutdown();
    }
    r?;
    Ok(())
}

type Shared = Rc<RefCell<Option<mdns::Announcer>>>;

/// Announce the ports that asked for mDNS; the hot-plug watch withdraws and re-announces.
fn start_mdns(srv: &mut ShareServer, specs: &[mdns::Spec]) -> anyhow::Result<Option<Shared>> {
    if specs.is_empty() {
        return Ok(None);
    }
    let a = mdns::Announcer::start(specs).map_err(anyhow::Error::msg)?;
    let shared: Shared = Rc::new(RefCell::new(Some(a)));
    let hook = shared.clone();
    srv.set_presence_hook(Box::new(move |dev, present| {
        if let Some(a) = hook.borrow_mut().as_mut() {
            a.presence(dev, present);
        }
    }));
    Ok(Some(shared))
}

/// The file read again (SIGHUP); `-Y` text stays as it was.
fn reread(src: &Source) -> anyhow::Result<Source> {
    if src.path.as_os_str() == "-Y" || src.path.as_os_str() == "-" {
        return Ok(Source {
            path: src.path.clone(),
            text: src.text.clone(),
            etc: src.etc.clone(),
            allow: src.allow.clone(),
        });
    }
    let text = std::fs::read_to_string(&src.path)
        .with_context(|| format!("cannot read {}", src.path.display()))?;
    Ok(Source {
        path: src.path.clone(),
        text,
        etc: src.etc.clone(),
        allow: src.allow.clone(),
    })
}

/// `serve --ser2net-config FILE`. `Ok(())` also for `--check` (after printing `ok: N ports`).
pub(crate) fn serve_config(a: &ServeArgs, path: &Path) -> anyhow::Result<()> {
    if a.device.is_some() || a.inetd || a.port.is_some() || a.config.is_some() {
        bail!(
            "--ser2net-config exports the ports of the file: give no DEVICE, -p, --config or --inetd with it"
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let etc = path
        .parent()
        .unwrap_or(Path::new(cli::DEFAULT_ETC))
        .to_path_buf();
    let src = Source {
        path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
        text,
        etc,
        allow: allow_list(&a.allow),
    };
    let conns = load_as(&src, a.check)?;
    let uucp = lock_choice(&conns, path, false)?;
    if a.check {
        for f in conns.iter().filter_map(|c| c.port.tls.as_ref()) {
            rgetty::share::transport::server_config_for(f)?;
        }
        #[allow(clippy::print_stdout)]
        {
            println!("ok: {} ports", conns.len());
        }
        return Ok(());
    }
    let run = Run {
        lock_dir: super::lock_dir(&a.common),
        naming: naming(&a.common.lock_naming),
        daemon: a.daemon,
        pidfile: None,
        port_file: a.port_file.clone(),
        verbose: a.common.verbose,
        serve_args: Some(a),
    };
    serve(src, conns, run, uucp)
}

fn naming(s: &str) -> Naming {
    if s == "debian" {
        Naming::Debian
    } else {
        Naming::Upstream
    }
}

/// The configuration named by ser2net's options.
fn source(a: &cli::Args) -> anyhow::Result<Source> {
    let etc = a
        .etc
        .clone()
        .unwrap_or_else(|| PathBuf::from(cli::DEFAULT_ETC));
    let mut text = String::new();
    let mut path = PathBuf::from("-Y");
    match &a.config {
        Some(p) if p.as_os_str() == "-" => {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("standard input")?;
            path = p.clone();
        }
        Some(p) => {
            text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            // Absolute: a daemon works in / and re-reads the file on SIGHUP.
            path = std::path::absolute(p).unwrap_or_else(|_| p.clone());
        }
        None if a.yaml_lines.is_empty() && a.v3_lines.is_empty() => {
            let p = [etc.join("ser2net.yaml"), PathBuf::from("/etc/ser2net.yaml")]
                .into_iter()
                .find(|p| p.exists())
                .context("no ser2net.yaml (give -c FILE or -Y lines)")?;
            text = std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            path = p;
        }
        None => {}
    }
    text.push_str(&cli::yaml_text(&a.yaml_lines));
    for (n, l) in a.v3_lines.iter().enumerate() {
        text.push_str(&cli::v3_to_yaml(n, l).map_err(anyhow::Error::msg)?);
    }
    Ok(Source {
        path,
        text,
        etc,
        allow: allow_list(&a.allow),
    })
}

/// ser2net's command line; `name` is how `-v` names the program.
pub(crate) fn main(argv: &[String], name: &str) -> ExitCode {
    let r = cli::parse(argv).map_err(anyhow::Error::msg).and_then(|a| {
        if a.version {
            #[allow(clippy::print_stdout)]
            {
                println!("{}", cli::version_line(name));
            }
            return Ok(());
        }
        super::init_log(a.debug, a.foreground);
        let src = source(&a)?;
        let conns = load(&src)?;
        let uucp = lock_choice(&conns, &src.path, a.no_uucp_lock)?;
        let run = Run {
            lock_dir: LockDir::new("/var/lock", Naming::Upstream),
            naming: Naming::Upstream,
            daemon: !a.foreground,
            pidfile: a.pidfile.clone(),
            port_file: None,
            verbose: a.debug,
            serve_args: None,
        };
        serve(src, conns, run, uucp)
    });
    super::finish(r)
}
