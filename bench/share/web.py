#!/usr/bin/env python3
"""The web console's costs (issue 20), in one run against target/release/rgetty-share:

  rss       PSS and Private_Dirty (smaps_rollup) of the server with one WebSocket writer,
            then with 100 WebSocket watchers more
  tput      device -> writer throughput (MB/s) alone, then with the 100 watchers reading too
  latency   keystroke -> device byte, median of 300, over the WebSocket vs a raw TCP client
  slow      a watcher that stops reading is dropped at its queue cap; the writer gets every
            byte meanwhile
  idle      system calls in 3 s with the dashboard's live feed open and nothing changing
            (strace -c -f)

Usage: python3 bench/share/web.py [--bin target/release/rgetty-share]
"""
import argparse, base64, os, pty, re, select, socket, statistics, subprocess, sys, tempfile
import threading, time, tty


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def smaps(pid):
    t = open(f"/proc/{pid}/smaps_rollup").read()
    f = lambda k: int(re.search(rf"^{k}:\s+(\d+)", t, re.M).group(1))
    return f("Pss"), f("Private_Dirty")


def ws_connect(web, path):
    s = socket.create_connection(("127.0.0.1", web))
    key = base64.b64encode(os.urandom(16)).decode()
    host = f"127.0.0.1:{web}"
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def ws_send(s, data):
    mask = os.urandom(4)
    n = len(data)
    h = bytes([0x82]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    s.sendall(h + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def drain_all(socks, stop):
    """Read and discard on every socket until stop is set."""
    while not stop.is_set():
        r, _, _ = select.select(socks, [], [], 0.05)
        for s in r:
            try:
                if not s.recv(1 << 16):
                    socks.remove(s)
            except OSError:
                socks.remove(s)


def payload_bytes(s, want, timeout=60):
    """Read WebSocket frames from s until `want` payload bytes came (binary frames only)."""
    got, buf, end = 0, b"", time.time() + timeout
    while got < want and time.time() < end:
        buf += s.recv(1 << 16)
        while len(buf) >= 2:
            n, at = buf[1] & 127, 2
            if n == 126:
                if len(buf) < 4: break
                n, at = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10: break
                n, at = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < at + n: break
            got += n; buf = buf[at + n:]
    return got


def pump_out(master, total, rate=None):
    chunk = b"x" * 4096
    sent, t0 = 0, time.time()
    while sent < total:
        sent += os.write(master, chunk[: min(4096, total - sent)])
        if rate:
            ahead = sent / rate - (time.time() - t0)
            if ahead > 0:
                time.sleep(ahead)


def tput(master, writer, total, rate=None):
    t = threading.Thread(target=pump_out, args=(master, total, rate)); t0 = time.time(); t.start()
    got = payload_bytes(writer, total); t.join()
    return got / (time.time() - t0) / 1e6


def latency(master, send, n=300):
    v = []
    for _ in range(n):
        t0 = time.perf_counter(); send(b"k")
        select.select([master], [], [], 5); os.read(master, 16)
        v.append(time.perf_counter() - t0)
    return statistics.median(v) * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/rgetty-share")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp()
    m, s = pty.openpty(); tty.setraw(m); tty.setraw(s)
    os.makedirs(f"{tmp}/lock"); os.makedirs(f"{tmp}/state")
    port, web = free_port(), free_port()
    log = open(f"{tmp}/log", "w")
    srv = subprocess.Popen([a.bin, "serve", "--lock-dir", f"{tmp}/lock", "-p", str(port), "--web", str(web),
                            "--web-state-dir", f"{tmp}/state", "--web-call-log", f"{tmp}/calls",
                            os.ttyname(s)], stderr=log)
    time.sleep(0.5)
    out = []
    w = ws_connect(web, f"/port/{port}/ws")
    time.sleep(0.2)
    base = smaps(srv.pid)
    solo = tput(m, w, 64 << 20)
    paced_solo = tput(m, w, 8 << 20, rate=1e6)
    watchers = [ws_connect(web, f"/port/{port}/watch/ws") for _ in range(100)]
    time.sleep(0.5)
    loaded = smaps(srv.pid)
    stop = threading.Event()
    th = threading.Thread(target=drain_all, args=(list(watchers), stop)); th.start()
    many = tput(m, w, 64 << 20)
    after = smaps(srv.pid)
    paced_many = tput(m, w, 8 << 20, rate=1e6)
    stop.set(); th.join()
    out.append(f"rss: PSS {base[0]} -> {loaded[0]} KiB (+{loaded[0]-base[0]}), Private_Dirty "
               f"{base[1]} -> {loaded[1]} KiB (+{loaded[1]-base[1]}) for 100 WebSocket watchers; "
               f"after 64 MiB through all of them: PSS {after[0]} KiB (+{after[0]-base[0]}), "
               f"Private_Dirty {after[1]} KiB (+{after[1]-base[1]})")
    out.append(f"tput: device -> writer {solo:.1f} MB/s alone, {many:.1f} MB/s with 100 watchers "
               f"reading ({many/solo:.2f}x; the bench's one python thread drains 100 copies); "
               f"paced at 1 MB/s: {paced_solo:.2f} alone, {paced_many:.2f} MB/s with the 100 watchers "
               f"({paced_many/paced_solo:.2f}x)")
    alive = sum(1 for x in watchers if not select.select([x], [], [], 0)[0] or x.recv(1, socket.MSG_PEEK))
    out.append(f"watchers still connected after both runs: {alive} of 100")
    for x in watchers: x.close()
    time.sleep(0.3)
    os.read(m, 1 << 16) if select.select([m], [], [], 0.1)[0] else None
    ws_lat = latency(m, lambda b: ws_send(w, b))
    w.close(); time.sleep(0.3)
    t = socket.create_connection(("127.0.0.1", port)); t.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    time.sleep(0.2)
    tcp_lat = latency(m, t.sendall)
    out.append(f"latency: keystroke -> device median {ws_lat:.0f} us over WebSocket, {tcp_lat:.0f} us "
               f"over raw TCP ({ws_lat/tcp_lat:.2f}x)")
    t.close(); time.sleep(0.3)
    # a watcher that stops reading
    w = ws_connect(web, f"/port/{port}/ws")
    slow = ws_connect(web, f"/port/{port}/watch/ws")
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    time.sleep(0.2)
    total = 16 << 20
    got_t = tput(m, w, total)
    time.sleep(0.3)
    dropped = "not reading" in open(f"{tmp}/log").read()
    out.append(f"slow: writer got {total>>20} MiB at {got_t:.1f} MB/s while a watcher did not read; "
               f"watcher dropped at its cap: {dropped}")
    # idle with the dashboard's feed open
    f = socket.create_connection(("127.0.0.1", web))
    f.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\n\r\n".encode())
    time.sleep(0.5); f.recv(1 << 16)
    st = subprocess.run(["timeout", "-s", "INT", "3", "strace", "-c", "-f", "-p", str(srv.pid)],
                        capture_output=True, text=True)
    m_ = re.search(r"^\s*100\.00\s+\S+\s+\S+\s+(\d+)", st.stderr, re.M)
    calls = int(m_.group(1)) if m_ else 0
    out.append(f"idle: {calls} system calls in 3 s with the dashboard's feed and two clients open")
    srv.terminate(); srv.wait()
    print("\n".join(out))


main()
