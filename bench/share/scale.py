#!/usr/bin/env python3
"""rgetty-share at scale: one busy port alone vs. beside 4095 idle ports, system calls while
4096 ports are idle, 256 clients connecting at once, TLS vs. plain vs. socat openssl-listen,
and the server's RSS after a 20 s negotiation flood from a client that never reads.

Usage: python3 bench/share/scale.py [--bin PATH] [--mib 32] [--ports 4096] [--rtt 2000]

Idle ports are listeners whose device is never opened (rgetty-share opens a device only when a
client comes), so they need no pty: the kernel's pty limit (/proc/sys/kernel/pty/max) does not
cap the port count. The 256-client run uses 256 real ptys.
"""

import argparse
import os
import resource
import select
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import (ROOT, PATTERN, check, free_ports, new_pty, sync, wait_listening,  # noqa: E402
                   wait_port, tree_pids, cpu_s)


_NEXT = [20000]


def fixed_ports(n):
    """`n` ports below the ephemeral range that bind now (ephemeral ones may be taken by
    outgoing connections between choosing and binding)."""
    out = []
    while len(out) < n:
        p = _NEXT[0]
        _NEXT[0] += 1
        if p >= 32768:
            raise RuntimeError("out of fixed ports")
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            out.append(p)
        except OSError:
            pass
        finally:
            s.close()
    return out


class Rg:
    """rgetty-share serving a config file."""

    def __init__(self, binary, tmp):
        self.binary, self.tmp, self.proc = binary, tmp, None

    def start(self, lines, extra=()):
        conf = os.path.join(self.tmp, "scale.conf")
        with open(conf, "w") as f:
            f.write("".join(lines))
        lock = os.path.join(self.tmp, "lock")
        os.makedirs(lock, exist_ok=True)
        self.proc = subprocess.Popen([self.binary, "serve", "--config", conf, "--lock-dir", lock,
                                      *extra], stderr=open(os.path.join(self.tmp, "log"), "a"))
        return self.proc

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


def line(port, dev, extra=""):
    return "127.0.0.1:%d %s - 127.0.0.1 %s\n" % (port, dev, extra)


def tput(port, m, total, n2d, wrap=None):
    sock = wait_port(port)
    if wrap:
        sock = wrap(sock)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sync(sock, m)
    err = []

    def send():
        try:
            sent = 0
            while sent < total:
                k = min(len(PATTERN), total - sent)
                if n2d:
                    sock.sendall(PATTERN[:k])
                else:
                    v = memoryview(PATTERN)[:k]
                    while v:
                        v = v[os.write(m, v):]
                sent += k
        except OSError as e:
            err.append(e)

    t0 = time.perf_counter()
    th = threading.Thread(target=send)
    th.start()
    got, ok = 0, True
    while got < total:
        b = os.read(m, 65536) if n2d else sock.recv(65536)
        if not b:
            break
        ok = ok and check(b, got)
        got += len(b)
    dt = time.perf_counter() - t0
    th.join()
    sock.close()
    if got != total or not ok or err:
        return None
    return total / dt / (1 << 20)


def rtt(port, m, samples, wrap=None):
    child = os.fork()
    if child == 0:
        try:
            while True:
                b = os.read(m, 4096)
                if not b:
                    break
                os.write(m, b)
        except OSError:
            pass
        os._exit(0)
    try:
        sock = wait_port(port)
        if wrap:
            sock = wrap(sock)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        out = []
        for i in range(samples + 50):
            t0 = time.perf_counter()
            sock.sendall(b"x")
            if sock.recv(1) != b"x":
                return None
            if i >= 50:
                out.append((time.perf_counter() - t0) * 1e6)
        sock.close()
        return statistics.median(out)
    finally:
        os.kill(child, 9)
        os.waitpid(child, 0)


def busy_port(start, stop, total, samples, wrap=None):
    """Start (via `start(port, dev)`), measure both ways and the RTT, stop."""
    m, s, path = new_pty()
    port = fixed_ports(1)[0]
    res = {}
    try:
        for name, n2d in (("net->dev", True), ("dev->net", False)):
            start(port, path)
            res[name] = tput(port, m, total, n2d, wrap)
            stop()
            time.sleep(0.2)
        start(port, path)
        res["rtt"] = rtt(port, m, samples, wrap)
        stop()
    finally:
        os.close(m)
        os.close(s)
    return res


def idle_syscalls(rg, ports):
    """System calls of the server in 10 s with `ports` idle ports (strace -c)."""
    lines = [line(p, "/dev/rgetty-bench-idle-%d" % i) for i, p in enumerate(ports)]
    proc = rg.start(lines)
    wait_listening(ports, timeout=120)
    time.sleep(1)
    out = os.path.join(rg.tmp, "strace.txt")
    subprocess.run(["timeout", "-s", "INT", "10", "strace", "-f", "-o", out, "-p",
                    str(proc.pid)], stderr=subprocess.DEVNULL)
    with open(out) as f:
        # Completed calls only: the epoll_wait it sits in shows as "<unfinished ...>".
        n = sum(1 for ln in f if "= " in ln and "resumed" not in ln and "+++" not in ln)
    rg.stop()
    return n


def many_clients(rg, n):
    ptys = [new_pty() for _ in range(n)]
    ports = fixed_ports(n)
    rg.start([line(p, t[2]) for p, t in zip(ports, ptys)])
    wait_listening(ports)
    t0 = time.perf_counter()
    socks = []
    for p in ports:
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", p))
        socks.append(c)
    for c in socks:
        select.select([], [c], [], 10)
        c.setblocking(True)
        c.sendall(b"x")
    pending = {t[0] for t in ptys}
    while pending:
        r, _, _ = select.select(list(pending), [], [], 10)
        if not r:
            break
        for m in r:
            if os.read(m, 16):
                pending.discard(m)
    dt = time.perf_counter() - t0
    for c in socks:
        c.close()
    rg.stop()
    for m, s, _ in ptys:
        os.close(m)
        os.close(s)
    return dt, n - len(pending)


def certs(tmp):
    k = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    sh = ("cd %s && openssl req -x509 %s -keyout ca.key -out ca.pem -days 2 -subj /CN=ca && "
          "printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > s.ext && "
          "openssl req %s -keyout srv.key -out srv.csr -subj /CN=srv && "
          "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem "
          "-days 2 -extfile s.ext") % (tmp, k, k)
    subprocess.run(["sh", "-c", sh], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    ctx = ssl.create_default_context(cafile=os.path.join(tmp, "ca.pem"))
    return lambda s: ctx.wrap_socket(s, server_hostname="127.0.0.1")


def flood_rss(rg):
    m, s, path = new_pty()
    port = fixed_ports(1)[0]
    proc = rg.start([line(port, path, "mode=rfc2217")])
    c = wait_port(port)
    c.settimeout(2)
    req = bytes([255, 250, 44, 0, 255, 240]) * 10000
    end = time.time() + 20
    try:
        while time.time() < end:
            c.send(req)
    except OSError:
        pass
    rss = 0
    with open("/proc/%d/status" % proc.pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                rss = int(ln.split()[1])
    rg.stop()
    os.close(m)
    os.close(s)
    return rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/rgetty-share"))
    ap.add_argument("--mib", type=int, default=32)
    ap.add_argument("--ports", type=int, default=4096)
    ap.add_argument("--rtt", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, a.ports * 2 + 1024)), hard))
    tmp = tempfile.mkdtemp(prefix="sharescale.")
    rg = Rg(a.bin, tmp)
    total = a.mib << 20
    idle = fixed_ports(a.ports - 1)
    idle_lines = [line(p, "/dev/rgetty-bench-idle-%d" % i) for i, p in enumerate(idle)]
    rows = []

    def with_idle(extra):
        def start(port, dev):
            rg.start(idle_lines + [line(port, dev)])
            wait_listening(idle + [port], timeout=120)
        return start

    wrap = certs(tmp)
    pem = lambda n: os.path.join(tmp, n)  # noqa: E731
    socat = {"proc": None}

    def socat_start(p, d):
        socat["proc"] = subprocess.Popen(
            ["socat", "openssl-listen:%d,bind=127.0.0.1,reuseaddr,cert=%s,key=%s,verify=0" % (
                p, pem("srv.pem"), pem("srv.key")), "file:%s,raw,echo=0" % d],
            stderr=subprocess.DEVNULL)
        wait_listening([p])

    def socat_stop():
        socat["proc"].terminate()
        socat["proc"].wait(5)

    runs = {"solo": [], "crowd": [], "tls": [], "stls": []}
    # Rounds interleave the set-ups so that load from elsewhere hits them alike; medians.
    for rep in range(a.reps):
        runs["solo"].append(busy_port(lambda p, d: (rg.start([line(p, d)]), wait_listening([p])),
                                      rg.stop, total, a.rtt))
        runs["crowd"].append(busy_port(with_idle(""), rg.stop, total, a.rtt))
        runs["tls"].append(busy_port(lambda p, d: (rg.start([line(p, d, "tls-cert=%s tls-key=%s" % (
            pem("srv.pem"), pem("srv.key")))]), wait_listening([p])), rg.stop, total, a.rtt, wrap))
        runs["stls"].append(busy_port(socat_start, socat_stop, total, a.rtt, wrap))
        print("round %d: %r" % (rep, {k: v[-1] for k, v in runs.items()}), file=sys.stderr)

    def med(name):
        out = {}
        for k in ("net->dev", "dev->net", "rtt"):
            vals = [r[k] for r in runs[name] if r[k] is not None]
            out[k] = statistics.median(vals) if vals else None
        return out

    solo, crowd, tls, stls = med("solo"), med("crowd"), med("tls"), med("stls")
    for k in ("net->dev", "dev->net"):
        rows.append(("%s MiB/s: solo / with %d idle ports" % (k, a.ports - 1),
                     solo[k], crowd[k], crowd[k] / solo[k] if solo[k] and crowd[k] else None))
    rows.append(("1-byte RTT median us: solo / with idle ports", solo["rtt"], crowd["rtt"],
                 crowd["rtt"] / solo["rtt"] if solo["rtt"] and crowd["rtt"] else None))
    rows.append(("syscalls in 10 s idle, %d ports" % a.ports,
                 idle_syscalls(rg, fixed_ports(a.ports)), None, None))
    dt, served = many_clients(rg, 256)
    rows.append(("256 clients at once: seconds until all served (served)", dt, served, None))
    for k in ("net->dev", "dev->net"):
        rows.append(("TLS %s MiB/s: rgetty / socat openssl (TLS/plain)" % k, tls[k], stls[k],
                     tls[k] / solo[k] if tls[k] and solo[k] else None))
    for k in ("net->dev", "dev->net"):
        rows.append(("TLS %s MiB/s: rgetty / socat openssl (rgetty/socat)" % k, tls[k], stls[k],
                     tls[k] / stls[k] if tls[k] and stls[k] else None))
    rows.append(("TLS RTT median us: rgetty / socat openssl", tls["rtt"], stls["rtt"],
                 tls["rtt"] / stls["rtt"] if tls["rtt"] and stls["rtt"] else None))
    rows.append(("RSS KiB after a 20 s negotiation flood", flood_rss(rg), None, None))
    for label, x, y, ratio in rows:
        cell = lambda v: "-" if v is None else ("%.1f" % v if isinstance(v, float) else str(v))  # noqa: E731
        print("%-62s %12s %12s %8s" % (label, cell(x), cell(y),
                                        "-" if ratio is None else "%.2fx" % ratio))


if __name__ == "__main__":
    main()
