//! Running alerts ([`crate::share::alert`]): a hit from a port's device output runs the
//! alert's command detached with `PORT`, `MATCH` and `LINE` in its environment, and logs a
//! record with `PORT` and `MATCH` fields.

use super::ShareServer;
use crate::share::alert::Hit;
use crate::sys::exec::Spawned;

/// Alert commands running at once, for the whole server (more are dropped and logged).
pub(super) const MAX_RUNNING: usize = 8;

/// Device text for an environment value or a log line: control characters escaped.
fn text(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    crate::share::roles::escape_line(b, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

impl ShareServer {
    /// Run the commands of these hits of port `pi`.
    pub(super) fn fire_alerts(&mut self, pi: usize, hits: Vec<Hit>) {
        let Some(Some(port)) = self.ports.get(pi) else {
            return;
        };
        let Some(alerts) = port.alerts.as_ref() else {
            return;
        };
        let addr = port.addr.to_string();
        for h in hits {
            let (m, line) = (text(&h.matched), text(&h.line));
            let cmd = alerts.command(h.alert).to_string();
            let dropped = if h.suppressed > 0 {
                format!(" ({} earlier matches over the rate limit)", h.suppressed)
            } else {
                String::new()
            };
            log::warn!(
                port = addr.as_str(),
                r#match = m.as_str();
                "port {addr}: alert {} matched {m:?}{dropped}", h.alert + 1
            );
            super::control::emit("alert", port.addr, || {
                vec![
                    ("alert", crate::share::control::Val::I(h.alert as i64 + 1)),
                    ("match", crate::share::control::Val::S(m.clone())),
                ]
            });
            let env = [("PORT", addr.clone()), ("MATCH", m), ("LINE", line)];
            match self.alert_pool.spawn(&cmd, &env, false) {
                Ok(Spawned::Started(_)) => {}
                Ok(Spawned::Dropped { limit }) => {
                    log::warn!("port {addr}: {limit} alert commands running, one dropped");
                }
                Err(e) => log::warn!("port {addr}: alert command: {e}"),
            }
        }
    }
}

impl ShareServer {
    /// Read the control lines of port `pi`'s session on line `li` for its control-line
    /// alerts (on the modem poll) and run the commands of the edges seen.
    pub(super) fn poll_line_alerts(&mut self, pi: usize, li: usize) {
        let Some(Some(port)) = self.ports.get_mut(pi) else {
            return;
        };
        let (Some(la), Some(s)) = (
            port.line_alerts.as_mut(),
            port.lines.get(li).and_then(|l| l.session.as_deref()),
        ) else {
            return;
        };
        let Ok(Some(m)) = crate::sys::tty::modem_lines(&s.pump.dev) else {
            return;
        };
        let mut hits = Vec::new();
        la.feed([m.dcd, m.dsr, m.cts], std::time::Instant::now(), &mut hits);
        let addr = port.addr.to_string();
        for h in hits {
            let Some(d) = la.def(h.alert) else { continue };
            let (line, edge) = (d.signal.name(), if d.rise { "rise" } else { "fall" });
            log::warn!(
                port = addr.as_str(),
                r#match = edge;
                "port {addr}: alert on {line} {edge}{}",
                if h.suppressed > 0 { format!(" ({} earlier edges over the rate limit)", h.suppressed) } else { String::new() }
            );
            super::control::emit("alert", port.addr, || {
                vec![
                    ("line", crate::share::control::Val::S(line.to_string())),
                    ("match", crate::share::control::Val::S(edge.to_string())),
                ]
            });
            let env = [
                ("PORT", addr.clone()),
                ("MATCH", edge.to_string()),
                ("LINE", line.to_string()),
            ];
            match self.alert_pool.spawn(&d.command, &env, false) {
                Ok(Spawned::Started(_)) => {}
                Ok(Spawned::Dropped { limit }) => {
                    log::warn!("port {addr}: {limit} alert commands running, one dropped");
                }
                Err(e) => log::warn!("port {addr}: alert command: {e}"),
            }
        }
    }
}
