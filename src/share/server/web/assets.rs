//! The web console's files, embedded in the binary (xterm.js and its addon vendored under
//! `web/vendor/` with their licences and checksums; our own pages, script and style).

/// An embedded file.
pub(super) struct Asset {
    pub(super) path: &'static str,
    pub(super) ctype: &'static str,
    pub(super) body: &'static [u8],
}

pub(super) const ASSETS: &[Asset] = &[
    Asset {
        path: "/static/xterm.js",
        ctype: "text/javascript",
        body: include_bytes!("../../../../web/vendor/xterm.js"),
    },
    Asset {
        path: "/static/xterm.css",
        ctype: "text/css",
        body: include_bytes!("../../../../web/vendor/xterm.css"),
    },
    Asset {
        path: "/static/addon-fit.js",
        ctype: "text/javascript",
        body: include_bytes!("../../../../web/vendor/addon-fit.js"),
    },
    Asset {
        path: "/static/console.js",
        ctype: "text/javascript",
        body: include_bytes!("../../../../web/console.js"),
    },
    Asset {
        path: "/static/dashboard.js",
        ctype: "text/javascript",
        body: include_bytes!("../../../../web/dashboard.js"),
    },
    Asset {
        path: "/static/rgetty.css",
        ctype: "text/css",
        body: include_bytes!("../../../../web/rgetty.css"),
    },
];

pub(super) const CONSOLE_HTML: &[u8] = include_bytes!("../../../../web/console.html");
pub(super) const FAVICON: &[u8] = include_bytes!("../../../../web/favicon.svg");
pub(super) const DASHBOARD_HTML: &[u8] = include_bytes!("../../../../web/dashboard.html");
