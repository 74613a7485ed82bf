// The dashboard: one snapshot per server-sent event from /events (sent when something
// changes: no polling), rendered into three tables.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const cell = (tr, text, cls) => {
    const td = document.createElement("td");
    if (text instanceof Node) {
      td.appendChild(text);
    } else {
      td.textContent = text === null || text === undefined ? "" : String(text);
    }
    if (cls) {
      td.className = cls;
    }
    tr.appendChild(td);
    return td;
  };
  const link = (href, text) => {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  };
  const age = (unix) => {
    const s = Math.max(0, Math.floor(Date.now() / 1000 - unix));
    if (s < 120) return s + " s";
    if (s < 7200) return Math.floor(s / 60) + " min";
    return Math.floor(s / 3600) + " h";
  };
  const bytes = (n) => n < 10240 ? n + " B" : n < 10485760 ? Math.round(n / 1024) + " KiB"
    : Math.round(n / 1048576) + " MiB";
  const fill = (id, rows, make) => {
    const body = $(id).tBodies[0];
    body.replaceChildren();
    if (!rows.length) {
      const tr = body.insertRow();
      cell(tr, "none", "muted").colSpan = $(id).tHead.rows[0].cells.length;
    }
    rows.forEach((r) => make(body.insertRow(), r));
  };
  const render = (snap) => {
    fill("lines", snap.lines, (tr, l) => {
      tr.dataset.line = l.line;
      cell(tr, l.line);
      cell(tr, l.state, "state st-" + l.state);
      cell(tr, l.since_unix ? age(l.since_unix) : "").title = l.since || "";
      cell(tr, [l.caller_id, l.caller_name].filter(Boolean).join(" "));
      cell(tr, l.connect);
      cell(tr, l.user);
      cell(tr, l.holder_pid ? l.holder_pid + " " + (l.holder_cmd || "") : "");
    });
    fill("ports", snap.ports, (tr, p) => {
      tr.dataset.port = p.port;
      cell(tr, link("/port/" + p.port, p.addr));
      cell(tr, p.device);
      cell(tr, p.present);
      cell(tr, p.lock);
      cell(tr, p.clients.map((c) => c.peer + " " + c.role + (c.via === "web" ? " (web)" : ""))
        .join(", ") || "none");
      cell(tr, bytes(p.to_device));
      cell(tr, bytes(p.from_device));
      const actions = document.createElement("span");
      actions.appendChild(link("/port/" + p.port, "console"));
      actions.appendChild(document.createTextNode(" "));
      actions.appendChild(link("/port/" + p.port + "/watch", "watch"));
      cell(tr, actions);
    });
    fill("calls", snap.calls, (tr, c) => {
      cell(tr, c.start);
      cell(tr, c.line);
      cell(tr, c.caller_id);
      cell(tr, c.caller_name);
      cell(tr, c.outcome + (c.reason ? ": " + c.reason : ""));
    });
  };
  const feed = new EventSource("/events");
  feed.onopen = () => {
    $("state").textContent = "live";
    $("state").className = "badge connected";
  };
  feed.onerror = () => {
    $("state").textContent = "reconnecting";
    $("state").className = "badge closed";
  };
  feed.onmessage = (e) => {
    window.rgettySnapshots = (window.rgettySnapshots || 0) + 1;
    render(JSON.parse(e.data));
  };
})();
