#!/usr/bin/env python3
"""Benchmark rgetty-share against ser2net and socat on pty <-> TCP over loopback.

Usage: bench/share/bench.py [--bin PATH] [--mib N] [--reps N] [--rtt N] [--no-install]
                            [--servers rgetty,socat,ser2net,ser2net-tuned] [--no-pin]

Topology "direct": the server opens a pty slave; this script holds the master as the far end.
Measures, for each server in the same run:
  - throughput net->dev and dev->net (MiB/s, median of reps, every byte checked),
  - 1-byte round trip (an echo process on the master; median and p99, microseconds),
  - the server's CPU time per MiB,
  - memory: RSS/PSS of the server process tree with 1, 64 and 256 idle ports, and the
    per-port increase,
  - start-up time with 256 ports (spawn until the last port accepts).
Prints a table with ratios to socat (the median of the per-round ratios). Targets: throughput
>= socat both ways, RTT median <= socat, <= 7 KiB per idle port.

The servers run side by side, each on its own pty, and take turns (`paired`): 1 MiB at a time
each way, 5 echoes at a time for the RTT, so that load from elsewhere falls on all of them
alike. The bench runs on one CPU and the servers on another (`--no-pin` to let the scheduler
choose): on a 2-core machine the scheduler's placement alone moved results by ±15 %. ser2net and socat are installed with apt-get if missing
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


SERVER_CPU = []  # the CPU servers run on, when pin_cpus() chose one


def pin_cpus(enabled=True):
    """On a machine with two or more CPUs, run the bench (and the processes it forks: echo
    children, clients) on one CPU and every server on another. Unpinned, the scheduler's choice
    of which processes share a CPU moves throughput and RTT by ±15 % from one run to the next
    on a 2-core machine; pinned, it is the same choice for every server measured."""
    cpus = sorted(os.sched_getaffinity(0))
    if not enabled or len(cpus) < 2:
        return None
    os.sched_setaffinity(0, {cpus[0]})
    SERVER_CPU[:] = [cpus[1]]
    return cpus[0], cpus[1]


def pin(pid):
    """Move a server process onto the servers' CPU (no effect unless pin_cpus() chose one)."""
    if SERVER_CPU:
        try:
            os.sched_setaffinity(pid, set(SERVER_CPU))
        except OSError:
            pass


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
                ["socat", "tcp-listen:%d,bind=127.0.0.1,reuseaddr,nodelay" % p,
                 "file:%s,raw,echo=0" % d], stderr=subprocess.DEVNULL) for p, d in ports]
        for p in self.procs:
            pin(p.pid)
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


def cpu(pid):
    """CPU seconds of process `pid` so far, in nanoseconds' resolution (the sum of its threads'
    run time in /proc/PID/task/*/schedstat; clock ticks would be 10 ms)."""
    tot = 0
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                tot += int(f.read().split()[0])
    except OSError:
        pass
    return tot / 1e9


def chunk_time(sock, m, n, n2d):
    """Move `n` bytes (a multiple of 64 KiB) one way through an open session; seconds, or None
    when a byte was lost or wrong."""
    err = []

    def send():
        try:
            for _ in range(n // len(PATTERN)):
                if n2d:
                    sock.sendall(PATTERN)
                else:
                    v = memoryview(PATTERN)
                    while v:
                        v = v[os.write(m, v):]
        except OSError as e:
            err.append(e)

    t0 = time.perf_counter()
    th = threading.Thread(target=send)
    th.start()
    got, ok = 0, True
    while got < n:
        b = os.read(m, 65536) if n2d else sock.recv(65536)
        if not b:
            break
        ok = ok and check(b, got % len(PATTERN))
        got += len(b)
    dt = time.perf_counter() - t0
    th.join()
    return dt if got == n and ok and not err else None


def echo_child(m):
    """Fork a process that echoes everything the server writes to pty master `m`."""
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
    return child


class End:
    """One server under test in `paired`: its own pty (the bench holds the master `m`), and
    `begin()` -> (tcp port, server pid) / `end()` around each phase. `wrap` (e.g. TLS) is
    applied to each client socket."""

    def __init__(self, begin, end, wrap=None):
        self.m, self.s, self.path = new_pty()
        self.begin_fn, self.end_fn, self.wrap = begin, end, wrap

    def begin(self):
        return self.begin_fn(self.path)

    def end(self):
        self.end_fn()

    def close(self):
        os.close(self.m)
        os.close(self.s)

    def connect(self, port):
        sock = wait_port(port)
        if self.wrap:
            sock = self.wrap(sock)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def _turns(names, i):
    """The order of the i-th turn: forwards, then backwards, so no server always goes first."""
    return names if i % 2 == 0 else names[::-1]


def paired(ends, total, samples, chunk=1 << 20):
    """Measure servers that run at the same time, taking turns: throughput in `chunk`-byte
    turns each way, then the 1-byte echo RTT in turns of 5 echoes. `ends` maps a name to an
    `End`. Load from elsewhere on the machine then falls on all of them alike, which one
    server after the other cannot promise. Returns, per name: MiB/s each way ("net->dev",
    "dev->net"), the RTT median and 99th percentile in µs ("rtt", "rtt99"), and the server's
    CPU ms per MiB ("cpu net->dev", "cpu dev->net") and µs per echo ("cpu rtt"); None for a
    value whose bytes came out wrong."""
    names = list(ends)
    res = {k: {} for k in names}
    for d, n2d in (("net->dev", True), ("dev->net", False)):
        socks, secs, pids, cpu0 = {}, {k: 0.0 for k in names}, {}, {}
        for k, e in ends.items():
            port, pids[k] = e.begin()
            socks[k] = e.connect(port)
            sync(socks[k], e.m)
            cpu0[k] = cpu(pids[k])
        for i in range(total // chunk):
            for k in _turns(names, i):
                dt = chunk_time(socks[k], ends[k].m, chunk, n2d)
                secs[k] = None if dt is None or secs[k] is None else secs[k] + dt
        for k, e in ends.items():
            res[k]["cpu " + d] = (cpu(pids[k]) - cpu0[k]) * 1000 / (total >> 20)
            socks[k].close()
            e.end()
            res[k][d] = total / secs[k] / (1 << 20) if secs[k] else None
        time.sleep(0.1)
    kids = {k: echo_child(e.m) for k, e in ends.items()}
    try:
        socks, pids, out = {}, {}, {k: [] for k in names}
        for k, e in ends.items():
            port, pids[k] = e.begin()
            socks[k] = e.connect(port)
            for _ in range(50):  # warm-up
                socks[k].sendall(b"x")
                socks[k].recv(1)
        cpu0 = {k: cpu(pids[k]) for k in names}
        for i in range(max(1, samples // 5)):
            for k in _turns(names, i):
                for _ in range(5):
                    t0 = time.perf_counter()
                    socks[k].sendall(b"x")
                    ok = socks[k].recv(1) == b"x"
                    out[k].append((time.perf_counter() - t0) * 1e6 if ok else float("inf"))
        for k, e in ends.items():
            res[k]["cpu rtt"] = (cpu(pids[k]) - cpu0[k]) * 1e6 / len(out[k])
            socks[k].close()
            e.end()
            v = sorted(out[k])
            res[k]["rtt"] = statistics.median(v)
            res[k]["rtt99"] = v[int(len(v) * 0.99) - 1]
    finally:
        for c in kids.values():
            os.kill(c, signal.SIGKILL)
            os.waitpid(c, 0)
    return res


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
    ap.add_argument("--no-pin", action="store_true",
                    help="let the scheduler place the bench and the servers")
    a = ap.parse_args()
    cpus = pin_cpus(not a.no_pin)
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
    print("binary: %s; %d MiB x %d reps; %d RTT samples; bench/servers on CPUs %s" % (
        binary, a.mib, a.reps, a.rtt, cpus or "not pinned"), file=sys.stderr)
    servers = {}
    for k in kinds:
        servers[k] = Server(k, binary, os.path.join(tmp, k))
        os.makedirs(servers[k].tmp, exist_ok=True)
        results[k] = {"net->dev": [], "dev->net": [], "cpu": [], "rtt": [], "rtt99": []}
    def end_of(srv):
        def begin(path):
            port = free_port()
            srv.start([(port, path)])
            wait_listening([port])
            return port, srv.procs[0].pid
        return End(begin, srv.stop)

    ends = {k: end_of(servers[k]) for k in kinds}
    # Each round runs the servers side by side, taking turns (see `paired`).
    for rep in range(a.reps):
        got = paired(ends, total, a.rtt)
        for k in kinds:
            for n in ("net->dev", "dev->net", "rtt", "rtt99"):
                results[k][n].append(got[k][n])
            results[k]["cpu"].append((got[k]["cpu net->dev"] + got[k]["cpu dev->net"]) / 2)
        print("round %d: %r" % (rep, got), file=sys.stderr)
    for e in ends.values():
        e.close()
    per_round = {k: {n: list(results[k][n]) for n in ("net->dev", "dev->net", "cpu", "rtt", "rtt99")}
                 for k in kinds}
    for k in kinds:
        r = results[k]
        for name in ("net->dev", "dev->net", "cpu", "rtt", "rtt99"):
            ok = all(v is not None for v in r[name])
            r[name] = statistics.median(r[name]) if r[name] and ok else None
        r["mem"] = memory_and_startup(servers[k], ptys)
        print("%s done: %r" % (k, r), file=sys.stderr)
    base = results.get("socat")

    def ratio(v, b, k=None, name=None):
        """To socat: the median of the per-round ratios when `name` was measured per round
        (servers side by side, so each round's ratio is the fair one), else v / b."""
        if name and "socat" in per_round:
            pairs = zip(per_round[k][name], per_round["socat"][name])
            vals = [x / y for x, y in pairs if x is not None and y]
            if vals:
                return " (x%.2f)" % statistics.median(vals)
        return "" if v is None or b is None or b == 0 else " (x%.2f)" % (v / b)

    rows = []
    hdr = ["metric"] + kinds
    def row(label, get, f="%.1f", name=None):
        cells = [label]
        for k in kinds:
            v = get(results[k])
            b = get(base) if base else None
            cells.append(fmt(v, f) + (ratio(v, b, k, name) if k != "socat" else ""))
        rows.append(cells)
    row("net->dev MiB/s", lambda r: r["net->dev"], name="net->dev")
    row("dev->net MiB/s", lambda r: r["dev->net"], name="dev->net")
    row("server CPU ms per MiB", lambda r: r["cpu"], "%.1f", "cpu")
    row("RTT median us", lambda r: r["rtt"], "%.0f", "rtt")
    row("RTT p99 us", lambda r: r["rtt99"], "%.0f", "rtt99")
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
        def pr(name):
            vals = [x / y for x, y in zip(per_round["rgetty"][name], per_round["socat"][name])
                    if x is not None and y]
            return statistics.median(vals) if vals else None
        ok.append(("throughput net->dev >= socat", (pr("net->dev") or 0) >= 1.0))
        ok.append(("throughput dev->net >= socat", (pr("dev->net") or 0) >= 1.0))
        ok.append(("RTT median <= socat", (pr("rtt") or 1e9) <= 1.0))
    if rg:
        per = (rg["mem"][256][0] - rg["mem"][1][0]) / 255
        ok.append(("<= 7 KiB RSS per idle port", per <= 7))
    for name, good in ok:
        print("%-32s %s" % (name, "PASS" if good else "FAIL"))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
