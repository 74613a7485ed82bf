#!/usr/bin/env python3
"""Benchmark rgetty-share against ser2net and socat on pty <-> TCP over loopback.

Usage: bench/share/bench.py [--bin PATH] [--mib N] [--reps N] [--rtt N] [--no-install]

Topology "direct": the server opens a pty slave; this script holds the master as the far end.
Measures, for each server in the same run:
  - throughput net->dev and dev->net (MiB/s, median of reps, every byte checked),
  - 1-byte round trip (an echo process on the master; median and p99, microseconds),
  - memory: RSS/PSS of the server process tree with 1, 64 and 256 idle ports, and the
    per-port increase,
  - start-up time with 256 ports (spawn until the last port accepts).
Prints a table with ratios to socat. Targets: throughput >= socat both ways, RTT median <=
socat, <= 7 KiB per idle port. ser2net and socat are installed with apt-get if missing
(skip with --no-install). Python 3 standard library only.
"""
import argparse
import os
import pty
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tty

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def ensure_tools(install):
    missing = [t for t in ("ser2net", "socat") if not shutil.which(t)]
    if missing and install:
        subprocess.run(["apt-get", "install", "-y", "ser2net", "socat"], check=False,
                       stdout=subprocess.DEVNULL)
    return {t: bool(shutil.which(t)) for t in ("ser2net", "socat")}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def new_pty():
    m, s = pty.openpty()
    tty.setraw(m)
    tty.setraw(s)
    path = os.ttyname(s)
    return m, s, path


def wait_port(port, timeout=20.0, connect_ok=True):
    end = time.time() + timeout
    while time.time() < end:
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=1)
            if c.getsockname() == c.getpeername():  # TCP self-connect: nobody listens yet
                c.close()
                time.sleep(0.005)
                continue
            if connect_ok:
                return c
            c.close()
            return None
        except OSError:
            time.sleep(0.005)
    raise RuntimeError("port %d never came up" % port)


def listening_ports():
    ports = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(f) as fh:
                next(fh)
                for line in fh:
                    parts = line.split()
                    if parts[3] == "0A":
                        ports.add(int(parts[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return ports


def wait_listening(ports, timeout=30.0):
    want = set(ports)
    end = time.time() + timeout
    while time.time() < end:
        if want <= listening_ports():
            return
        time.sleep(0.002)
    raise RuntimeError("ports never came up")


def tree_pids(pid):
    pids = [pid]
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                             text=True).stdout
        for line in out.split():
            pids += tree_pids(int(line))
    except OSError:
        pass
    return pids


def cpu_s(pids):
    """User + system CPU seconds of these processes."""
    tot = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            tot += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return tot / os.sysconf("SC_CLK_TCK")


def mem_kib(pids):
    rss = pss = 0
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


class Server:
    """One server kind: start(ports=[(tcp_port, dev_path)]) -> Popen list."""

    def __init__(self, kind, binary, tmp):
        self.kind, self.binary, self.tmp = kind, binary, tmp
        self.procs = []

    def start(self, ports):
        self.stop()
        if self.kind == "rgetty":
            lock = os.path.join(self.tmp, "lock")
            os.makedirs(lock, exist_ok=True)
            if len(ports) == 1:
                p, d = ports[0]
                args = [self.binary, "serve", "-p", str(p), "--lock-dir", lock, d]
            else:
                conf = os.path.join(self.tmp, "share.conf")
                with open(conf, "w") as f:
                    for p, d in ports:
                        f.write("127.0.0.1:%d %s - 127.0.0.1\n" % (p, d))
                args = [self.binary, "serve", "--config", conf, "--lock-dir", lock]
            self.procs = [subprocess.Popen(args, stderr=None if os.environ.get("BENCH_DEBUG") else subprocess.DEVNULL)]
        elif self.kind.startswith("ser2net"):
            tuned = self.kind == "ser2net-tuned"
            conf = os.path.join(self.tmp, "ser2net.yaml")
            with open(conf, "w") as f:
                for i, (p, d) in enumerate(ports):
                    f.write("connection: &con%d\n  accepter: tcp,127.0.0.1,%d\n"
                            "  connector: serialdev,%s,115200n81,local\n" % (i, p, d))
                    if tuned:
                        f.write("  options:\n    chardelay: false\n"
                                "    dev-to-net-bufsize: 65536\n"
                                "    net-to-dev-bufsize: 65536\n")
            self.procs = [subprocess.Popen(
                ["ser2net", "-n", "-u", "-c", conf, "-P", os.path.join(self.tmp, "s2n.pid")],
                stderr=subprocess.DEVNULL)]
        elif self.kind == "socat":
            self.procs = [subprocess.Popen(
                ["socat", "tcp-listen:%d,bind=127.0.0.1,reuseaddr" % p,
                 "file:%s,raw,echo=0" % d], stderr=subprocess.DEVNULL) for p, d in ports]
        return self.procs

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []

    def pids(self):
        out = []
        for p in self.procs:
            out += tree_pids(p.pid)
        return out


PATTERN = bytes(range(256)) * 256  # 64 KiB
CPU = []  # server CPU seconds per MiB of the last throughput runs


def check(buf, off):
    """True when buf equals the repeating 0..255 pattern starting at offset off."""
    i = 0
    n = len(buf)
    mv = memoryview(buf)
    while i < n:
        o = (off + i) % 256
        k = min(n - i, len(PATTERN) - o)
        if mv[i:i + k] != PATTERN[o:o + k]:
            return False
        i += k
    return True


def sync(sock, master):
    sock.sendall(b"S")
    got = b""
    while got != b"S":
        got = os.read(master, 1)
    os.write(master, b"T")
    assert sock.recv(1) == b"T"


def throughput(srv, total, net_to_dev):
    m, s, path = new_pty()
    port = free_port()
    try:
        srv.start([(port, path)])
        sock = wait_port(port)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        time.sleep(0.05)
        sync(sock, m)
        err = []

        def send():
            try:
                sent = 0
                while sent < total:
                    k = min(len(PATTERN), total - sent)
                    if net_to_dev:
                        sock.sendall(PATTERN[:k])
                    else:
                        v = memoryview(PATTERN)[:k]
                        while v:
                            w = os.write(m, v)
                            v = v[w:]
                    sent += k
            except OSError as e:
                err.append(e)

        t0 = time.perf_counter()
        th = threading.Thread(target=send)
        th.start()
        got = 0
        ok = True
        while got < total:
            b = os.read(m, 65536) if net_to_dev else sock.recv(65536)
            if not b:
                break
            if not check(b, got):
                ok = False
            got += len(b)
        dt = time.perf_counter() - t0
        th.join()
        CPU.append(cpu_s(srv.pids()) / (total / (1 << 20)))
        sock.close()
        if got != total or not ok or err:
            return None
        return total / dt / (1 << 20)
    finally:
        srv.stop()
        os.close(m)
        os.close(s)


def rtt(srv, samples):
    m, s, path = new_pty()
    port = free_port()
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
        srv.start([(port, path)])
        sock = wait_port(port)
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
        out.sort()
        return statistics.median(out), out[int(len(out) * 0.99) - 1]
    finally:
        srv.stop()
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        os.close(m)
        os.close(s)


def memory_and_startup(srv, ptys):
    res = {}
    for n in (1, 64, 256):
        ports = list(zip(free_ports(n), [p[2] for p in ptys[:n]]))
        t0 = time.perf_counter()
        srv.start(ports)
        wait_listening([p for p, _ in ports])
        dt = time.perf_counter() - t0
        time.sleep(0.3)
        res[n] = mem_kib(srv.pids()) + (dt,)
        srv.stop()
        time.sleep(0.2)
    return res


def fmt(v, f="%.1f"):
    return "-" if v is None else f % v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=None)
    ap.add_argument("--mib", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rtt", type=int, default=2000)
    ap.add_argument("--no-install", action="store_true")
    ap.add_argument("--servers", default="rgetty,socat,ser2net,ser2net-tuned")
    a = ap.parse_args()
    binary = a.bin
    if binary is None:
        for c in ("target/release/rgetty-share", "target/debug/rgetty-share"):
            if os.path.exists(os.path.join(ROOT, c)):
                binary = os.path.join(ROOT, c)
                break
    if binary is None:
        sys.exit("build rgetty-share first (cargo build --bin rgetty-share)")
    have = ensure_tools(not a.no_install)
    kinds = [k for k in a.servers.split(",")
             if k == "rgetty" or have.get(k.split("-")[0], False)]
    tmp = tempfile.mkdtemp(prefix="sharebench.")
    total = a.mib << 20
    ptys = [new_pty() for _ in range(256)]
    results = {}
    print("binary: %s; %d MiB x %d reps; %d RTT samples" % (binary, a.mib, a.reps, a.rtt),
          file=sys.stderr)
    servers = {}
    for k in kinds:
        servers[k] = Server(k, binary, os.path.join(tmp, k))
        os.makedirs(servers[k].tmp, exist_ok=True)
        results[k] = {"net->dev": [], "dev->net": [], "cpu": [], "rtt": []}
    # Rounds interleave the servers so that load from elsewhere hits them alike.
    for rep in range(a.reps):
        for k in kinds:
            r = results[k]
            for name, n2d in (("net->dev", True), ("dev->net", False)):
                del CPU[:]
                v = throughput(servers[k], total, n2d)
                if v is not None:
                    r[name].append(v)
                    r["cpu"].append(CPU[-1] if CPU else 0.0)
            x = rtt(servers[k], max(1, a.rtt // a.reps))
            if x is not None:
                r["rtt"].append(x)
            print("round %d %s: %s" % (rep, k, {n: [round(v, 1) for v in r[n]]
                                                for n in ("net->dev", "dev->net")}),
                  file=sys.stderr)
    for k in kinds:
        r = results[k]
        for name in ("net->dev", "dev->net"):
            r[name] = statistics.median(r[name]) if len(r[name]) == a.reps else None
        r["cpu"] = statistics.median(r["cpu"]) * 1000 if r["cpu"] else None
        r["rtt"] = ((statistics.median([x[0] for x in r["rtt"]]),
                     statistics.median([x[1] for x in r["rtt"]])) if r["rtt"] else None)
        r["mem"] = memory_and_startup(servers[k], ptys)
        print("%s done: %r" % (k, r), file=sys.stderr)
    base = results.get("socat")

    def ratio(v, b):
        return "" if v is None or b is None or b == 0 else " (x%.2f)" % (v / b)

    rows = []
    hdr = ["metric"] + kinds
    def row(label, get, f="%.1f"):
        cells = [label]
        for k in kinds:
            v = get(results[k])
            b = get(base) if base else None
            cells.append(fmt(v, f) + (ratio(v, b) if k != "socat" else ""))
        rows.append(cells)
    row("net->dev MiB/s", lambda r: r["net->dev"])
    row("dev->net MiB/s", lambda r: r["dev->net"])
    row("server CPU ms per MiB", lambda r: r["cpu"], "%.1f")
    row("RTT median us", lambda r: r["rtt"][0] if r["rtt"] else None, "%.0f")
    row("RTT p99 us", lambda r: r["rtt"][1] if r["rtt"] else None, "%.0f")
    for n in (1, 64, 256):
        row("RSS KiB, %d port(s)" % n, lambda r, n=n: r["mem"][n][0], "%.0f")
        row("PSS KiB, %d port(s)" % n, lambda r, n=n: r["mem"][n][1], "%.0f")
    row("RSS KiB per idle port (64)",
        lambda r: (r["mem"][64][0] - r["mem"][1][0]) / 63, "%.2f")
    row("RSS KiB per idle port (256)",
        lambda r: (r["mem"][256][0] - r["mem"][1][0]) / 255, "%.2f")
    row("PSS KiB per idle port (256)",
        lambda r: (r["mem"][256][1] - r["mem"][1][1]) / 255, "%.2f")
    row("start-up, 256 ports, s", lambda r: r["mem"][256][2], "%.3f")
    widths = [max(len(str(x[i])) for x in rows + [hdr]) for i in range(len(hdr))]
    for line in [hdr] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)))
    ok = []
    rg = results.get("rgetty")
    if rg and base:
        ok.append(("throughput net->dev >= socat", (rg["net->dev"] or 0) >= (base["net->dev"] or 1e9)))
        ok.append(("throughput dev->net >= socat", (rg["dev->net"] or 0) >= (base["dev->net"] or 1e9)))
        ok.append(("RTT median <= socat", rg["rtt"] and base["rtt"] and rg["rtt"][0] <= base["rtt"][0]))
    if rg:
        per = (rg["mem"][256][0] - rg["mem"][1][0]) / 255
        ok.append(("<= 7 KiB RSS per idle port", per <= 7))
    for name, good in ok:
        print("%-32s %s" % (name, "PASS" if good else "FAIL"))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
