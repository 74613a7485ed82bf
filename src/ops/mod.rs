//! Operating rgetty: what each line is doing and what happened to each call.
//!
//! * [`state`] (pure) and [`store`]: the per-line state file under the pid directory, written
//!   atomically on each state change only, and `down` for a file whose process is gone;
//! * [`calllog`] (pure) and [`store`]: one JSON record per call in the call log;
//! * [`title`]: the process title `rgetty: ttyS0 waiting`;
//! * [`prom`] (pure): the Prometheus text format;
//! * [`notify`]: systemd's `NOTIFY_SOCKET`; [`journal`] (pure): the journal's native format;
//! * [`json`], [`time`] (pure): a small JSON writer/reader and UTC timestamps;
//! * [`mod@line`]: what one getty reports, wired into its states;
//! * [`cli`]: `rgetty status` and `rgetty calls`.

pub mod calllog;
pub mod cli;
pub mod hotplug;
pub mod http;
pub mod httpconn;
pub mod journal;
pub mod json;
pub mod line;
pub mod ncid;
pub mod ncidd;
pub mod notify;
pub mod prom;
pub mod state;
pub mod store;
pub mod time;
pub mod title;
