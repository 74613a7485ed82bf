// The console page of one port: an xterm.js terminal on the port's WebSocket.
// Binary messages are terminal data both ways; text messages are line-control requests
// ("break", "dtr on|off", "rts on|off", "speed N"). The watcher page (/port/N/watch)
// shows the same output and sends nothing.
"use strict";
(function () {
  const path = location.pathname.replace(/\/+$/, "");
  const watcher = path.endsWith("/watch");
  const port = path.split("/")[2];
  const $ = (id) => document.getElementById(id);
  document.title = "port " + port + (watcher ? " (watch)" : "") + " - rgetty-share";
  $("title").textContent = "port " + port;
  $("role").textContent = watcher ? "watching: read-only" : "read-write";
  if (watcher) {
    $("controls").hidden = true;
  }

  const term = new Terminal({
    cursorBlink: !watcher,
    disableStdin: watcher,
    convertEol: false,
    scrollback: 5000,
    fontFamily: "monospace",
  });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open($("terminal"));
  fit.fit();
  window.addEventListener("resize", () => fit.fit());
  window.rgettyTerm = term; // for tests and the curious: the terminal's buffer

  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const sock = new WebSocket(scheme + location.host + path + "/ws");
  sock.binaryType = "arraybuffer";
  const state = (s) => {
    $("state").textContent = s;
    $("state").className = "badge " + s.split(" ")[0];
  };
  sock.onopen = () => {
    state("connected");
    if (!watcher) {
      term.focus();
    }
  };
  sock.onclose = (e) => state("closed" + (e.reason ? ": " + e.reason : ""));
  sock.onmessage = (e) => {
    if (typeof e.data !== "string") {
      term.write(new Uint8Array(e.data));
    }
  };
  const enc = new TextEncoder();
  term.onData((d) => {
    if (!watcher && sock.readyState === WebSocket.OPEN) {
      sock.send(enc.encode(d));
    }
  });
  term.onBinary((d) => {
    if (!watcher && sock.readyState === WebSocket.OPEN) {
      sock.send(Uint8Array.from(d, (c) => c.charCodeAt(0) & 255));
    }
  });
  const send = (t) => {
    if (sock.readyState === WebSocket.OPEN) {
      sock.send(t);
    }
    term.focus();
  };
  const toggle = (id) => {
    const b = $(id);
    b.classList.toggle("on");
    send(id + (b.classList.contains("on") ? " on" : " off"));
  };
  $("break").addEventListener("click", () => send("break"));
  $("dtr").addEventListener("click", () => toggle("dtr"));
  $("rts").addEventListener("click", () => toggle("rts"));
  $("speed").addEventListener("change", (e) => {
    if (e.target.value) {
      send("speed " + e.target.value);
    }
  });
})();
