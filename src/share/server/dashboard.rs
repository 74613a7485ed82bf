//! The dashboard's live feed (`GET /events`, server-sent events): one JSON snapshot of every
//! rgetty line (the state files), every port of this server (clients and roles, bytes each
//! way, device present, lock owner) and the last calls (the call log), sent when a browser
//! connects and again whenever something changes.
//!
//! "Something changes" is an inotify event on the state directory or the call log's
//! directory, or the engine's own events (a client came or went, a device appeared or
//! vanished: the same flag that sends systemd's `STATUS=`). There is no timer: an idle
//! server with the dashboard open makes no system calls. Byte counters are those of the
//! last change.
//!
//! Each feed has a bounded queue like every client: a browser that stops reading is dropped
//! at [`FEED_CAP`] and the others go on.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::ops::json::ObjWriter;
use crate::ops::store;
use crate::share::engine::{Engine, Token};
use crate::share::session::Role;
use crate::share::transport::Conn;

use super::{ShareServer, Slot};

/// Bytes queued towards one dashboard before it is dropped.
pub const FEED_CAP: usize = 256 * 1024;
/// Calls shown.
const LAST_CALLS: usize = 10;

/// Where the dashboard reads from, and its watch.
#[derive(Debug)]
pub(super) struct Sources {
    state_dir: PathBuf,
    call_log: Option<PathBuf>,
    ino: Option<(Inotify, Token)>,
}

/// One browser's feed.
#[derive(Debug)]
pub(super) struct Feed {
    conn: Conn,
    out: Vec<u8>,
}

impl Feed {
    /// Write what is queued; `false` when the connection is dead.
    fn flush(&mut self) -> bool {
        while !self.out.is_empty() {
            match self.conn.write(&self.out) {
                Ok(0) => return false,
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        self.conn.flush().is_ok()
    }
}

/// The SSE answer's head.
pub const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
    Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n";

impl ShareServer {
    /// The dashboard reads rgetty's state files in `state_dir` and the call log (watched
    /// with inotify from now on).
    pub fn set_dashboard_sources(&mut self, state_dir: PathBuf, call_log: Option<PathBuf>) {
        let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok();
        let flags = AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MODIFY;
        let ino = ino.and_then(|i| {
            if let Err(e) = i.add_watch(&state_dir, flags) {
                log::warn!("web: cannot watch {}: {e}", state_dir.display());
            }
            if let Some(dir) = call_log.as_ref().and_then(|p| p.parent()) {
                let _ = i.add_watch(dir, flags);
            }
            let t = self.slot(Slot::WebNotify);
            let ok = self
                .eng
                .as_ref()
                .is_some_and(|e| e.register_read(i.as_fd_raw(), t).is_ok());
            ok.then_some((i, t))
        });
        self.dashboard = Some(Sources {
            state_dir,
            call_log,
            ino,
        });
    }

    /// inotify said something changed: push a snapshot if it concerns us.
    pub(super) fn dashboard_notify(&mut self, _eng: &mut Engine) {
        let Some(src) = self.dashboard.as_ref() else {
            return;
        };
        let Some((ino, _)) = src.ino.as_ref() else {
            return;
        };
        let log_name = src
            .call_log
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_os_string());
        let mut relevant = false;
        while let Ok(evs) = ino.read_events() {
            if evs.is_empty() {
                break;
            }
            relevant |= evs.iter().any(|e| {
                e.name.as_ref().is_some_and(|n| {
                    n.to_string_lossy().starts_with(store::STATE_PREFIX)
                        || log_name.as_deref() == Some(n.as_os_str())
                })
            });
        }
        if relevant {
            self.push_snapshot();
        }
    }

    /// A browser asked for `/events`: answer the head and the first snapshot, then keep it.
    pub(super) fn add_feed(&mut self, eng: &mut Engine, t: Token, conn: Conn) {
        let mut f = Feed {
            conn,
            out: SSE_HEAD.as_bytes().to_vec(),
        };
        f.out.extend(sse(&self.snapshot()));
        let alive = f.flush();
        self.feeds.insert(t.0, f);
        if !alive {
            self.drop_feed(eng, t);
        }
    }

    /// The feed's socket is ready: write on (and notice a browser that went away).
    pub(super) fn feed_ready(&mut self, eng: &mut Engine, t: Token) {
        let alive = self.feeds.get_mut(&t.0).is_some_and(|f| {
            let mut b = [0u8; 512];
            let gone = matches!(f.conn.read(&mut b), Ok(0));
            !gone && f.flush()
        });
        if !alive {
            self.drop_feed(eng, t);
        }
    }

    fn drop_feed(&mut self, eng: &mut Engine, t: Token) {
        if let Some(mut f) = self.feeds.remove(&t.0) {
            self.release(eng, t, f.conn.fd());
            f.conn.shutdown();
        }
    }

    /// After a turn: the engine's own events (clients, devices) changed the picture.
    pub(super) fn dashboard_tick(&mut self, eng: &mut Engine) {
        if self.status_dirty && !self.feeds.is_empty() {
            self.push_snapshot();
        }
        let dead: Vec<usize> = self
            .feeds
            .iter()
            .filter(|(_, f)| f.out.len() > FEED_CAP)
            .map(|(&k, _)| k)
            .collect();
        for k in dead {
            log::warn!("web: a dashboard is not reading ({FEED_CAP} bytes waiting), dropped");
            self.drop_feed(eng, Token(k));
        }
    }

    fn push_snapshot(&mut self) {
        if self.feeds.is_empty() {
            return;
        }
        let msg = sse(&self.snapshot());
        for f in self.feeds.values_mut() {
            if f.out.len() <= FEED_CAP {
                f.out.extend_from_slice(&msg);
                f.flush();
            }
        }
    }

    /// `{"lines":[...],"ports":[...],"calls":[...]}`.
    fn snapshot(&self) -> String {
        let mut s = String::from("{\"lines\":[");
        if let Some(src) = &self.dashboard {
            let states = store::read_states(&src.state_dir).unwrap_or_default();
            let lines: Vec<String> = states
                .iter()
                .map(|l| l.to_json_as(Some(&store::effective_state(l))))
                .collect();
            s.push_str(&lines.join(","));
        }
        s.push_str("],\"ports\":[");
        s.push_str(&self.ports_json().join(","));
        s.push_str("],\"calls\":[");
        if let Some(p) = self.dashboard.as_ref().and_then(|d| d.call_log.as_ref()) {
            let (calls, _) = store::read_calls(p).unwrap_or_default();
            let last: Vec<String> = calls
                .iter()
                .rev()
                .take(LAST_CALLS)
                .map(|c| c.to_json_line().trim_end().to_string())
                .collect();
            s.push_str(&last.join(","));
        }
        s.push_str("]}");
        s
    }

    fn ports_json(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in self.ports.iter().flatten().filter(|p| !p.retired) {
            let mut clients = Vec::new();
            let mut lock = "free";
            for l in &p.lines {
                if let Some(s) = &l.session {
                    lock = "ours";
                    for c in &s.pump.clients {
                        let mut w = ObjWriter::new();
                        let role = if c.role == Role::Writer { "rw" } else { "ro" };
                        w.str("peer", &c.who())
                            .str("role", role)
                            .str(
                                "via",
                                if c.conn.layers().contains(&"websocket") {
                                    "web"
                                } else if c.name.is_some() {
                                    "control"
                                } else {
                                    "tcp"
                                },
                            )
                            .int("rx", c.rx as i64)
                            .int("tx", c.tx as i64);
                        clients.push(w.finish());
                    }
                } else if lock == "free" && self.settings.lock_dir.check(&l.path).is_some() {
                    lock = "foreign";
                }
            }
            let devices: Vec<String> = p
                .lines
                .iter()
                .map(|l| l.path.display().to_string())
                .collect();
            let mut w = ObjWriter::new();
            w.int("port", i64::from(p.addr.port()))
                .str("addr", &p.addr.to_string())
                .str("device", &devices.join(","))
                .str(
                    "present",
                    if p.lines.iter().any(|l| l.present) {
                        "yes"
                    } else {
                        "no"
                    },
                )
                .str("lock", lock)
                .int("to_device", p.stats.bytes_to_dev as i64)
                .int("from_device", p.stats.bytes_from_dev as i64);
            let obj = w.finish();
            // ObjWriter has no arrays: splice the clients in before the closing brace.
            let mut o = obj[..obj.len() - 1].to_string();
            o.push_str(",\"clients\":[");
            o.push_str(&clients.join(","));
            o.push_str("]}");
            out.push(o);
        }
        out
    }
}

/// One server-sent event carrying `json` (one line: JSON has no raw newlines).
pub fn sse(json: &str) -> Vec<u8> {
    let mut s = String::from("data: ");
    s.push_str(json);
    s.push_str("\n\n");
    s.into_bytes()
}

trait RawInotify {
    fn as_fd_raw(&self) -> i32;
}

impl RawInotify for Inotify {
    fn as_fd_raw(&self) -> i32 {
        use std::os::fd::AsFd;
        self.as_fd().as_raw_fd()
    }
}
