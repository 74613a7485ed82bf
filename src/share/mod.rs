//! rgetty-share: export ttys over TCP (raw or RFC 2217), connect to such a port as a virtual
//! serial port or a device bridge, or run a virtual modem.
//!
//! - [`engine`]: the event engine (epoll via mio, timers in a heap) shared by every mode;
//! - [`stack`]: a connection as a stack of layers (fd, TLS, telnet, RFC 2217) over one fd;
//! - [`transport`]: TLS configuration files for the `tls` layer;
//! - [`server`]: `serve`: ports, accepting, line choice, reloads;
//! - [`session`]: one open device and its clients, the byte pump with bounded queues;
//! - [`rfc2217`]: telnet negotiation and COM-PORT requests on the server side;
//! - [`roles`]: watchers' and take-over's helpers: replay buffer, port log;
//! - [`client`]: `connect`, the virtual COM port (pty) and the device bridge;
//! - [`conf`]: the config file (one line per port, Masqdialer style);
//! - [`acl`]: host allow lists;
//! - [`alert`]: alerts on device output (regex, rate limit); [`alert_scan`] cuts the output
//!   into the lines tried (literal prefilter);
//! - [`control`]: the control socket's protocol (JSON lines);
//! - [`console`]: `console`, the interactive client with escapes;
//! - [`remserial`]: remserial's command line, turned into `serve` or `connect`;
//! - [`resolve`]: peers' verified host names for host lists, looked up off the loop;
//! - [`ser2net`]: ser2net.yaml and ser2net's command line as a front end;
//! - [`mdns`]: mDNS/DNS-SD announcements of ports, following hot-plug;

pub mod acl;
pub mod alert;
pub mod alert_scan;
pub mod client;
pub mod conf;
pub mod console;
pub mod control;
pub mod engine;
pub mod line_alert;
pub mod mdns;
pub mod pump;
pub mod remserial;
pub mod resolve;
pub mod rfc2217;
pub mod roles;
pub mod ser2net;
pub mod server;
pub mod session;
pub mod stack;
pub mod transport;
