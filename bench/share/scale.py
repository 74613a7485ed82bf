#!/usr/bin/env python3
"""rgetty-share at scale: one busy port alone vs. beside 4095 idle ports, system calls while
4096 ports are idle, 256 clients connecting at once, TLS vs. plain vs. socat openssl-listen,
and the server's RSS after a 20 s negotiation flood from a client that never reads.

Usage: python3 bench/share/scale.py [--bin PATH] [--mib 32] [--ports 4096] [--rtt 2000]
       [--reps 3] [--no-pin]

The busy port runs twice at once: alone in one server ("solo") and beside the idle ports in
another ("crowd"). The two take turns, 1 MiB at a time each way and 5 echoes at a time for the
RTT, so that load from elsewhere falls on both alike; the bench runs on one CPU and the servers
on another (--no-pin to let the scheduler choose). Each round gives the crowd/solo ratios; the
report shows their median over the rounds, and the servers' CPU time per MiB and per echo.

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
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import (ROOT, End, new_pty, paired, pin, pin_cpus,  # noqa: E402
                   wait_listening, wait_port)


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
        pin(self.proc.pid)
        return self.proc

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


def line(port, dev, extra=""):
    return "127.0.0.1:%d %s - 127.0.0.1 %s\n" % (port, dev, extra)


def rg_end(binary, tmp, extra_lines=(), opts="", wrap=None, keep=False):
    """An `End` for rgetty-share serving the End's pty on a port of its own, beside
    `extra_lines` (idle ports). With `keep` the server is started once and left running
    between phases (a 4096-port start-up per phase would dominate the run)."""
    os.makedirs(tmp, exist_ok=True)
    rg, port = Rg(binary, tmp), fixed_ports(1)[0]
    idle = [int(ln.split()[0].rsplit(":", 1)[1]) for ln in extra_lines]

    def begin(path):
        if rg.proc is None:
            rg.start(list(extra_lines) + [line(port, path, opts)])
            wait_listening(idle + [port], timeout=120)
        return port, rg.proc.pid

    e = End(begin, (lambda: None) if keep else rg.stop, wrap)
    e.rg = rg
    return e


def socat_tls_end(tmp, wrap):
    """An `End` for `socat openssl-listen` (one process per connection, started per phase)."""
    proc = {}
    pem = lambda n: os.path.join(tmp, n)  # noqa: E731

    def begin(path):
        p = fixed_ports(1)[0]
        proc["p"] = subprocess.Popen(
            ["socat", "openssl-listen:%d,bind=127.0.0.1,reuseaddr,nodelay,cert=%s,key=%s,"
             "verify=0" % (p, pem("srv.pem"), pem("srv.key")), "file:%s,raw,echo=0" % path],
            stderr=subprocess.DEVNULL)
        pin(proc["p"].pid)
        wait_listening([p])
        return p, proc["p"].pid

    def end():
        proc["p"].terminate()
        proc["p"].wait(5)

    return End(begin, end, wrap)


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
    ap.add_argument("--no-pin", action="store_true",
                    help="let the scheduler place the bench and the servers")
    a = ap.parse_args()
    cpus = pin_cpus(not a.no_pin)
    print("bench/servers on CPUs %s" % (cpus or "not pinned",), file=sys.stderr)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, a.ports * 2 + 1024)), hard))
    tmp = tempfile.mkdtemp(prefix="sharescale.")
    rg = Rg(a.bin, tmp)
    total = a.mib << 20
    idle = fixed_ports(a.ports - 1)
    idle_lines = [line(p, "/dev/rgetty-bench-idle-%d" % i) for i, p in enumerate(idle)]
    rows = []

    wrap = certs(tmp)
    tls_opts = "tls-cert=%s tls-key=%s" % (os.path.join(tmp, "srv.pem"),
                                            os.path.join(tmp, "srv.key"))
    scale_ends = {"solo": rg_end(a.bin, os.path.join(tmp, "solo"), keep=True),
                  "crowd": rg_end(a.bin, os.path.join(tmp, "crowd"), idle_lines, keep=True)}
    tls_ends = {"plain": rg_end(a.bin, os.path.join(tmp, "plain")),
                "tls": rg_end(a.bin, os.path.join(tmp, "tls"), opts=tls_opts, wrap=wrap),
                "socat": socat_tls_end(tmp, wrap)}
    scale_runs, tls_runs = [], []
    for rep in range(a.reps):
        scale_runs.append(paired(scale_ends, total, a.rtt))
        tls_runs.append(paired(tls_ends, total, a.rtt))
        print("round %d: %r %r" % (rep, scale_runs[-1], tls_runs[-1]), file=sys.stderr)
    for e in list(scale_ends.values()) + list(tls_ends.values()):
        e.rg.stop() if hasattr(e, "rg") else None
        e.close()

    def med(runs, who, k):
        vals = [r[who][k] for r in runs if r[who].get(k) is not None]
        return statistics.median(vals) if vals else None

    def ratio(runs, a_, b, k):
        """The median over the rounds of each round's a/b ratio."""
        vals = [r[a_][k] / r[b][k] for r in runs if r[a_].get(k) and r[b].get(k)]
        return statistics.median(vals) if vals else None

    labels = (("net->dev", "net->dev MiB/s"), ("dev->net", "dev->net MiB/s"),
              ("rtt", "1-byte RTT median us"), ("cpu net->dev", "server CPU ms/MiB net->dev"),
              ("cpu dev->net", "server CPU ms/MiB dev->net"), ("cpu rtt", "server CPU us/echo"))
    for k, text in labels:
        rows.append(("%s: solo / with %d idle ports" % (text, a.ports - 1),
                     med(scale_runs, "solo", k), med(scale_runs, "crowd", k),
                     ratio(scale_runs, "crowd", "solo", k)))
    rows.append(("syscalls in 10 s idle, %d ports" % a.ports,
                 idle_syscalls(rg, fixed_ports(a.ports)), None, None))
    dt, served = many_clients(rg, 256)
    rows.append(("256 clients at once: seconds until all served (served)", "%.3f" % dt, served,
                 None))
    for k, text in labels[:3]:
        rows.append(("TLS %s: TLS / plain" % text, med(tls_runs, "tls", k),
                     med(tls_runs, "plain", k), ratio(tls_runs, "tls", "plain", k)))
    for k, text in labels:
        rows.append(("TLS %s: rgetty / socat openssl" % text, med(tls_runs, "tls", k),
                     med(tls_runs, "socat", k), ratio(tls_runs, "tls", "socat", k)))
    rows.append(("RSS KiB after a 20 s negotiation flood", flood_rss(rg), None, None))
    for label, x, y, ratio in rows:
        cell = lambda v: "-" if v is None else ("%.1f" % v if isinstance(v, float) else str(v))  # noqa: E731
        print("%-62s %12s %12s %8s" % (label, cell(x), cell(y),
                                        "-" if ratio is None else "%.2fx" % ratio))


if __name__ == "__main__":
    main()
