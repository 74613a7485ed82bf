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
