//! `rgetty status` and `rgetty calls`: what each line is doing, and what happened to the
//! calls. Dispatched by the `rgetty` binary before the mgetty-style flags are parsed, so the
//! inittab command lines are untouched (a line cannot be named `status` or `calls`).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::calllog::{self, CallRecord, Filter};
use super::line::now;
use super::state::{LineState, printable};
use super::{prom, store, time};

/// `rgetty status`: one row per line with tty, state, since, pid and detail.
#[derive(Debug, Parser)]
#[command(name = "rgetty status", about = "Show what each rgetty line is doing")]
pub struct StatusArgs {
    /// Print a JSON array, one object per line.
    #[arg(long, conflicts_with = "prometheus")]
    pub json: bool,
    /// Print metrics in the Prometheus text format (node_exporter textfile collector).
    #[arg(long)]
    pub prometheus: bool,
    /// Directory of the state files (rgetty's `--pid-dir`).
    #[arg(long, value_name = "DIR", default_value = "/run")]
    pub pid_dir: PathBuf,
    #[command(flatten)]
    log: LogArgs,
}

/// `rgetty calls`: the call log as a table.
#[derive(Debug, Parser)]
#[command(name = "rgetty calls", about = "Show the rgetty call log")]
pub struct CallsArgs {
    /// Only calls since TIME: `2026-11-30`, `2026-11-30T08:00` (UTC), `@UNIXTIME`, or an age
    /// such as `30m`, `2h`, `7d`.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only calls on this line (`ttyS0`).
    #[arg(long, value_name = "TTY")]
    pub line: Option<String>,
    /// Print the records as JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    log: LogArgs,
}

/// Where the call log is.
#[derive(Debug, clap::Args)]
struct LogArgs {
    /// The call log (default: `call-log` in mgetty.config, else LOG-DIR/calls.jsonl).
    #[arg(long, value_name = "FILE")]
    call_log: Option<PathBuf>,
    /// Directory with mgetty.config.
    #[arg(long, value_name = "DIR", default_value = "/etc/rgetty")]
    config_dir: PathBuf,
    /// rgetty's log directory.
    #[arg(long, value_name = "DIR", default_value = "/var/log/rgetty")]
    log_dir: PathBuf,
}

impl LogArgs {
    /// The call log: the option, else the global `call-log` of mgetty.config, else the default.
    fn path(&self) -> Option<PathBuf> {
        if let Some(p) = &self.call_log {
            return Some(p.clone());
        }
        let cfg = self.config_dir.join("mgetty.config");
        let mut s = crate::config::mgetty::Settings::defaults(Default::default());
        if let Ok(bytes) = std::fs::read(&cfg) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = crate::config::mgetty::apply_text(&text, &cfg, "", &mut s, &[]);
        }
        calllog::call_log_path(s.call_log.as_deref(), &self.log_dir)
    }
}

/// If `args` is `rgetty status ...`, `rgetty calls ...` or `rgetty ncid ...`, run it and
/// return the exit code.
pub fn dispatch(args: &[String]) -> Option<i32> {
    let sub = args.get(1)?.as_str();
    let rest = || std::iter::once(format!("rgetty {sub}")).chain(args.iter().skip(2).cloned());
    match sub {
        "status" => Some(parse_then(StatusArgs::try_parse_from(rest()), status)),
        "calls" => Some(parse_then(CallsArgs::try_parse_from(rest()), calls)),
        "ncid" => Some(parse_then(
            super::ncidd::NcidArgs::try_parse_from(rest()),
            super::ncidd::run,
        )),
        _ => None,
    }
}

fn parse_then<A>(parsed: Result<A, clap::Error>, run: fn(A) -> i32) -> i32 {
    match parsed {
        Ok(a) => run(a),
        Err(e) => {
            let _ = e.print();
            match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 2,
            }
        }
    }
}

fn print(text: &str) -> i32 {
    match std::io::stdout().write_all(text.as_bytes()) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// Run `rgetty status`.
pub fn status(a: StatusArgs) -> i32 {
    let states = match store::read_states_checked(&a.pid_dir) {
        Ok((s, foreign)) => {
            for f in foreign {
                eprintln!(
                    "rgetty status: ignoring {}: owned by uid {}, not root",
                    printable(&f.path.display().to_string()),
                    f.uid
                );
            }
            s
        }
        Err(e) => {
            eprintln!("rgetty status: {}: {e}", a.pid_dir.display());
            return 1;
        }
    };
    let lines: Vec<(LineState, String)> = states
        .into_iter()
        .map(|s| {
            let e = store::effective_state(&s);
            (s, e)
        })
        .collect();
    if a.prometheus {
        let calls = match a.log.path() {
            Some(p) => match read_log(&p) {
                Ok(c) => c,
                Err(code) => return code,
            },
            None => Vec::new(),
        };
        return print(&prom::status_metrics(&lines, &calls));
    }
    if a.json {
        let objs: Vec<String> = lines.iter().map(|(s, e)| s.to_json_as(Some(e))).collect();
        return print(&format!("[{}]\n", objs.join(",\n")));
    }
    print(&status_table(&lines))
}

/// The table of `rgetty status`.
pub fn status_table(lines: &[(LineState, String)]) -> String {
    let rows: Vec<[String; 5]> = lines
        .iter()
        .map(|(s, e)| {
            let state = printable(&if *e == s.state {
                e.clone()
            } else {
                format!("{e} (was {})", s.state)
            });
            [
                printable(&s.line),
                state,
                time::rfc3339(s.since),
                s.pid.to_string(),
                s.detail_text(),
            ]
        })
        .collect();
    calllog::render_table(&["LINE", "STATE", "SINCE", "PID", "DETAIL"], &rows)
}

fn read_log(path: &Path) -> Result<Vec<CallRecord>, i32> {
    match store::read_calls(path) {
        Ok((records, bad)) => {
            if bad > 0 {
                eprintln!(
                    "rgetty: {}: {bad} line(s) are not call records",
                    path.display()
                );
            }
            Ok(records)
        }
        Err(e) => {
            eprintln!("rgetty: {}: {e}", path.display());
            Err(1)
        }
    }
}

/// Run `rgetty calls`.
pub fn calls(a: CallsArgs) -> i32 {
    let since = match a.since.as_deref().map(|s| (s, time::parse_since(s, now()))) {
        Some((s, None)) => {
            eprintln!(
                "rgetty calls: --since {s:?}: not a time (2026-11-30, 2026-11-30T08:00, @SECONDS, 2h, 7d)"
            );
            return 2;
        }
        Some((_, t)) => t,
        None => None,
    };
    let Some(path) = a.log.path() else {
        eprintln!("rgetty calls: the call log is turned off (call-log is empty)");
        return 1;
    };
    let records = match read_log(&path) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let filter = Filter {
        since,
        line: a.line,
    };
    let shown: Vec<CallRecord> = records.into_iter().filter(|r| filter.matches(r)).collect();
    if a.json {
        return print(
            &shown
                .iter()
                .map(CallRecord::to_json_line)
                .collect::<String>(),
        );
    }
    print(&calllog::table(&shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_only_subcommands() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(dispatch(&v(&["rgetty", "ttyS0"])), None);
        assert_eq!(dispatch(&v(&["rgetty", "-x", "4", "status"])), None);
        assert_eq!(dispatch(&v(&["rgetty"])), None);
        assert_eq!(dispatch(&v(&["rgetty", "status", "--bogus"])), Some(2));
        assert_eq!(
            dispatch(&v(&["rgetty", "calls", "--since", "soon"])),
            Some(2)
        );
    }

    #[test]
    fn table_marks_down() {
        let s = LineState {
            line: "pts/3".into(),
            state: "waiting".into(),
            pid: 9,
            ..LineState::default()
        };
        let t = status_table(&[(s, "down".into())]);
        assert!(t.contains("down (was waiting)"), "{t}");
        assert!(t.starts_with("LINE "));
    }
}
