//! ser2net compatibility: its `ser2net.yaml` (versions 1 and 2) read into the same
//! [`PortConfig`](crate::share::conf::PortConfig) list that `rgetty-share.conf` gives, and its
//! command line.
//!
//! - [`yaml`]: the YAML event stream as a tree with lines (repeated keys kept);
//! - [`load`]: defines, defaults, includes, documents: the file as a list of connections;
//! - [`map`]: one connection (accepter, connector, options) as a port;
//! - [`connector`]: the connector part of a connection (device, termios, flags);
//! - [`cli`]: ser2net's command line (`-c`, `-C`, `-Y`, `-n`, `-d`, `-P`, `-p`, `-v`).

pub mod connector;
pub mod load;
pub mod map;
pub mod options;
pub mod yaml;

pub use load::{load_file, load_text};
pub use map::{Connection, Mdns, admit};
pub mod cli;

#[cfg(test)]
mod tests;
