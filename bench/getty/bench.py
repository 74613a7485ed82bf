#!/usr/bin/env python3
"""rgetty vs Debian's mgetty 1.2.1 on a pty virtual modem, same config, one run.

Run as root from the repository root:  python3 bench/getty/bench.py [--runs N] [--idle SECS]
Needs: /sbin/mgetty, unshare, strace, target/release/rgetty (built with
`cargo build --release --bin rgetty --bin rgetty-wait` unless --no-build).

Both getties are started through the same wrapper: `unshare --mount --propagation private sh`
mounts a private /etc overlay, /etc/mgetty, /run (= /var/run, /var/lock) and /var/log, then
waits on a FIFO and execs the getty. <T>/run is a tmpfs inside the namespace, as /run (and
so /var/lock) is on Debian; the bench watches the lock through /proc/PID/root. The clock starts when the bench writes the FIFO, so the
namespace set-up is not counted for either. rgetty gets --profile debian and paths into the
same private dirs. Nothing outside the temp dir is touched (mounts are private to the
namespace, which dies with the getty).

Measured per getty:
  spawn->ready   FIFO write -> the last init-chat byte is written AND the lock is released
                 (the getty is in WAITING); median of N runs
  Private_Dirty  from /proc/PID/smaps_rollup while waiting, 1 s after ready: the memory this
                 one line owns and nobody shares (heap, stack, written data, relocations)
  PSS            Pss from smaps_rollup, for 1 line and summed over --lines (8) waiting at
                 once: what the lines cost together, shared pages split between them
  RSS            VmRSS (and VmHWM), reported alongside: counts all shared libc pages
  idle syscalls  `strace -c -f -p PID` for --idle seconds while waiting (plus ctxt switches
                 from /proc/PID/status over the same time without strace)
  RING->ATA      modem writes RING -> last byte of `ATA\\r` read (rings 1); median
  CONNECT->prompt  modem writes CONNECT -> first byte from the getty; median
"""

import argparse
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

MGETTY = "/sbin/mgetty"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RGETTY = os.path.join(ROOT, "target", "release", "rgetty")

CONFIG = """\
port-owner root
port-group root
port-mode 0660
issue-file Welcome to \\P
login-prompt @ login:\\040
prompt-waittime 50
modem-type data
fido-send-emsi n
init-chat "" ATZ OK
rings 1
"""

EXTRA_CONFIG = ""
# Extra environment for both getties (--ri-pin: the RI shim).
EXTRA_ENV = {}

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                       "mgetty-ns.sh")) as _f:
    NS_SCRIPT = _f.read()  # shared with tests/diffutil


class Modem:
    """A tiny Hayes modem on a pty master: OK to every AT line, CONNECT to ATA."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.lock = threading.Lock()
        self.rx = []  # (time, bytes) from the getty
        self.online = False
        self.t_connect = None
        self.t_first_online = None
        self.t_ata = None
        self.t_last_cmd = None
        self.line = b""
        self.prompted = False
        self.stop = False
        self.th = threading.Thread(target=self.loop, daemon=True)
        self.th.start()

    def write(self, b):
        os.write(self.master, b)

    def loop(self):
        while not self.stop:
            r, _, _ = select.select([self.master], [], [], 0.2)
            if not r:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                time.sleep(0.01)
                continue
            now = time.monotonic()
            with self.lock:
                self.rx.append((now, data))
            if self.online:
                if self.t_first_online is None:
                    self.t_first_online = now
                if b"login: " in b"".join(d for t, d in self.rx if t >= self.t_connect):
                    if not self.prompted:
                        self.prompted = True
                        self.write(b"\x04")
                continue
            for c in data:
                if c == 13:
                    cmd = self.line.strip().upper()
                    self.line = b""
                    if not cmd.startswith(b"AT"):
                        continue
                    self.t_last_cmd = now
                    if cmd.startswith(b"ATA"):
                        self.t_ata = now
                        self.t_connect = time.monotonic()
                        self.online = True
                        self.write(b"\r\nCONNECT 38400\r\n")
                    else:
                        self.write(b"\r\nOK\r\n")
                elif c != 10:
                    self.line += bytes([c])

    def ring(self):
        t = time.monotonic()
        self.write(b"\r\nRING\r\n")
        return t

    def close(self):
        self.stop = True
        self.th.join(1)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


# The test shim preloaded for --ri-pin: its pages are the bench's, not the getty's.
SHIM = "ri_shim.so"


def shim_kb(pid):
    """The kB fields of the mappings of the --ri-pin shim in /proc/PID/smaps (none without it)."""
    v, cur = {}, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if parts and not parts[0].endswith(":"):
                cur = os.path.basename(parts[5]) if len(parts) > 5 else None
            elif cur == SHIM and len(parts) == 3 and parts[2] == "kB":
                key = parts[0].rstrip(":")
                v[key] = v.get(key, 0) + int(parts[1])
    return v


def rollup(pid):
    """All kB fields of /proc/PID/smaps_rollup (Rss, Pss, Private_Dirty, ...), without the
    --ri-pin shim's mappings: what a line with a real RI pin costs."""
    v = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                v[parts[0].rstrip(":")] = int(parts[1])
    for key, kb in shim_kb(pid).items():
        if key in v:
            v[key] -= kb
    return v


def dirty_by_mapping(pid):
    """(kB, perms, name) of each mapping of /proc/PID/smaps with Private_Dirty, in address
    order: where a waiting line's private memory is (heap, stack, relocated data, libraries)."""
    rows, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if parts and not parts[0].endswith(":"):
                cur = (parts[1], parts[5] if len(parts) > 5 else "[anon]")
            elif parts[:1] == ["Private_Dirty:"] and int(parts[1]) > 0 and cur:
                rows.append((int(parts[1]), cur[0], os.path.basename(cur[1])))
    return rows


def lines_pss(kind, n):
    """n gettys of one kind waiting at once, each on its own pty: the sum of their PSS and
    Private_Dirty (kB), what n lines cost together. Shared pages are split between them."""
    runs = [Run(kind) for _ in range(n)]
    try:
        for r in runs:
            r.start()
        time.sleep(1.0)
        vs = [rollup(r.pid) for r in runs]
        return sum(v.get("Pss", 0) for v in vs), sum(v.get("Private_Dirty", 0) for v in vs)
    finally:
        for r in runs:
            r.close()


def switches(pid):
    """Context switches of every thread of PID (the waiter's RI thread too)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            for line in f:
                if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                    total += int(line.split()[1])
    return total


class Run:
    def __init__(self, kind):
        self.kind = kind
        self.dir = tempfile.TemporaryDirectory(prefix=f"bench-{kind}-")
        t = self.dir.name
        os.chmod(t, 0o777)
        for d in ["etc", "run", "varlog", "varlog/mgetty", "ovl"]:
            os.mkdir(os.path.join(t, d))
        with open(os.path.join(t, "etc/mgetty.config"), "w") as f:
            f.write(CONFIG + EXTRA_CONFIG)
        with open(os.path.join(t, "etc/login.config"), "w") as f:
            f.write("* - - /bin/false @\n")
        os.chmod(os.path.join(t, "etc/login.config"), 0o600)
        open(os.path.join(t, "varlog/wtmp"), "w").close()
        os.mkfifo(os.path.join(t, "go"))
        self.modem = Modem()
        self.device = self.modem.path[len("/dev/"):]
        lock = os.path.join(t, "run/lock", "LCK.." + self.device.replace("/", "_"))
        if kind == "mgetty":
            getty = [MGETTY, "-x", "0"]
        else:
            p = lambda r: os.path.join(t, r)
            getty = [RGETTY, "--profile", "debian", "-x", "0",
                     "--config-dir", p("etc"), "--lock-dir", p("run/lock"),
                     "--log-dir", p("varlog/mgetty"), "--pid-dir", p("run"),
                     "--utmp", p("run/utmp"), "--wtmp", p("varlog/wtmp"),
                     "--nologin-dir", p("etc"), "--syslog-socket", p("no-syslog")]
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-ec", NS_SCRIPT, "sh", t]
            + getty + [self.device],
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **EXTRA_ENV},
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid
        # <T>/run is a tmpfs inside the namespace (as /run is on Debian): look through it.
        self.lock = f"/proc/{self.pid}/root{lock}"

    def start(self, timeout=30.0):
        """Open the gate; return seconds from the gate to ready (WAITING)."""
        time.sleep(0.3)  # let the wrapper reach `read`
        seen_lock = False
        t0 = time.monotonic()
        with open(os.path.join(self.dir.name, "go"), "w") as f:
            f.write("go\n")
        end = t0 + timeout
        while time.monotonic() < end:
            exists = os.path.exists(self.lock)
            if exists:
                seen_lock = True
            elif seen_lock and self.modem.t_last_cmd is not None:
                t_free = time.monotonic()
                with self.modem.lock:
                    last_rx = self.modem.rx[-1][0]
                return max(t_free, last_rx) - t0
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited {self.proc.returncode}")
            time.sleep(0.0005)
        raise RuntimeError(f"{self.kind} never became ready")

    def call(self, timeout=15.0):
        """RING -> ATA and CONNECT -> first byte, in seconds."""
        t_ring = self.modem.ring()
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.modem.t_first_online is None:
            time.sleep(0.002)
        if self.modem.t_first_online is None:
            raise RuntimeError(f"{self.kind}: no answer / prompt")
        return self.modem.t_ata - t_ring, self.modem.t_first_online - self.modem.t_connect

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.modem.close()
        self.dir.cleanup()


def idle_syscalls(pid, secs):
    out = tempfile.NamedTemporaryFile(prefix="strace-", delete=False)
    out.close()
    st = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid), "-o", out.name],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(secs)
    st.send_signal(signal.SIGINT)
    st.wait(10)
    with open(out.name) as f:
        text = f.read()
    os.unlink(out.name)
    total = 0
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[-1] == "total":
            # % time, seconds, usecs/call, calls, [errors], total
            nums = [p for p in parts[:-1] if p.replace(".", "").isdigit()]
            total = int(nums[3]) if len(nums) >= 4 else int(nums[-1])
    return total, text.strip()


def measure_one(kind, i, idle, res):
    if True:
        r = Run(kind)
        try:
            res["ready"].append(r.start())
            if i == 0:
                time.sleep(1.0)
                res["rss"] = status(r.pid, "VmRSS")
                res["hwm"] = status(r.pid, "VmHWM")
                v = rollup(r.pid)
                res["pss"] = v.get("Pss", 0)
                res["dirty"] = v.get("Private_Dirty", 0)
                res["uss"] = v.get("Private_Clean", 0) + res["dirty"]
                s0 = switches(r.pid)
                time.sleep(idle / 2)
                res["ctxt"] = switches(r.pid) - s0
                res["syscalls"], res["strace"] = idle_syscalls(r.pid, idle)
            else:
                time.sleep(0.5)
            ata, prompt = r.call()
            res["ata"].append(ata)
            res["prompt"].append(prompt)
        finally:
            r.close()


def measure(runs, idle):
    """mgetty and rgetty alternately, so background load hits both alike."""
    m = {"ready": [], "ata": [], "prompt": []}
    r = {"ready": [], "ata": [], "prompt": []}
    for i in range(runs):
        measure_one("mgetty", i, idle, m)
        measure_one("rgetty", i, idle, r)
    return m, r


def fmt_ms(xs):
    return f"{statistics.median(xs) * 1000:.1f} ms"


def ratio(a, b):
    return f"{a / b:.2f}x" if b else ("1.00x" if a == b else "n/a (mgetty 0)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--idle", type=float, default=10.0)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--lines", type=int, default=8, help="waiting lines for the PSS sum (8)")
    ap.add_argument("--mem-only", action="store_true",
                    help="only Private_Dirty/PSS/RSS of 1 and --lines waiting gettys (quick)")
    ap.add_argument("--breakdown", action="store_true",
                    help="with --mem-only: Private_Dirty of each mapping of one waiting getty")
    ap.add_argument("--ri-pin", action="store_true",
                    help="give the pty an RI pin (tests/ri_shim.c preloaded into both getties; "
                         "rgetty then watches RI, mgetty ignores it)")
    ap.add_argument("--extra-config", default="",
                    help="lines appended to mgetty.config, e.g. 'toggle-dtr n' (use \\n between lines)")
    a = ap.parse_args()
    global EXTRA_CONFIG
    EXTRA_CONFIG = a.extra_config.replace("\\n", "\n") + ("\n" if a.extra_config else "")
    if os.geteuid() != 0:
        sys.exit("run as root (mgetty must run in a private mount namespace)")
    for p in [MGETTY, "/usr/bin/unshare", "/usr/bin/strace"]:
        if not os.path.exists(p):
            sys.exit(f"missing {p}")
    if a.ri_pin:
        shim_dir = tempfile.mkdtemp(prefix="bench-ri-")
        so, fifo = os.path.join(shim_dir, "ri_shim.so"), os.path.join(shim_dir, "ri.fifo")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", so,
                        os.path.join(ROOT, "tests", "ri_shim.c"), "-ldl"], check=True)
        os.mkfifo(fifo, 0o600)
        EXTRA_ENV.update({"LD_PRELOAD": so, "RI_FIFO": fifo})
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "rgetty", "--bin", "rgetty-wait"], cwd=ROOT, check=True)
    # A program just written by the linker sits in the page cache as dirty pages until they
    # are written back, and smaps counts those as its Private_Dirty: write them back first,
    # as they would be on a machine that installed the package.
    os.sync()
    if a.mem_only:
        for kind in ["mgetty", "rgetty"]:
            r1 = Run(kind)
            try:
                r1.start()
                time.sleep(1.0)
                v = rollup(r1.pid)
                if a.breakdown:
                    for kb, perms, name in dirty_by_mapping(r1.pid):
                        print(f"  {kind} {kb:4} kB {perms} {name}")
            finally:
                r1.close()
            pss8, dirty8 = lines_pss(kind, a.lines)
            print(f"{kind}: Private_Dirty {v.get('Private_Dirty')} kB, PSS {v.get('Pss')} kB, "
                  f"RSS {v.get('Rss')} kB; {a.lines} lines: PSS {pss8} kB, "
                  f"Private_Dirty {dirty8} kB")
        return
    m, r = measure(a.runs, a.idle)
    for res, kind in [(m, "mgetty"), (r, "rgetty")]:
        res["pss8"], res["dirty8"] = lines_pss(kind, a.lines)
    n = a.lines
    rows = [
        ("Private_Dirty while waiting", f"{m['dirty']} kB", f"{r['dirty']} kB",
         ratio(r["dirty"], m["dirty"])),
        ("PSS while waiting, 1 line", f"{m['pss']} kB", f"{r['pss']} kB", ratio(r["pss"], m["pss"])),
        (f"PSS while waiting, {n} lines (sum)", f"{m['pss8']} kB", f"{r['pss8']} kB",
         ratio(r["pss8"], m["pss8"])),
        (f"Private_Dirty, {n} lines (sum)", f"{m['dirty8']} kB", f"{r['dirty8']} kB",
         ratio(r["dirty8"], m["dirty8"])),
        ("RSS while waiting (VmRSS)", f"{m['rss']} kB", f"{r['rss']} kB", ratio(r["rss"], m["rss"])),
        ("peak RSS (VmHWM)", f"{m['hwm']} kB", f"{r['hwm']} kB", ratio(r["hwm"], m["hwm"])),
        ("USS while waiting (private pages)", f"{m['uss']} kB", f"{r['uss']} kB",
         ratio(r["uss"], m["uss"])),
        (f"syscalls while idle ({a.idle:g} s, strace -c -f)", str(m["syscalls"]), str(r["syscalls"]),
         ratio(r["syscalls"], m["syscalls"])),
        (f"context switches while idle ({a.idle / 2:g} s)", str(m["ctxt"]), str(r["ctxt"]),
         ratio(r["ctxt"], m["ctxt"])),
        ("spawn -> ready (median)", fmt_ms(m["ready"]), fmt_ms(r["ready"]),
         ratio(statistics.median(r["ready"]), statistics.median(m["ready"]))),
        ("RING -> ATA (median)", fmt_ms(m["ata"]), fmt_ms(r["ata"]),
         ratio(statistics.median(r["ata"]), statistics.median(m["ata"]))),
        ("CONNECT -> first prompt byte (median)", fmt_ms(m["prompt"]), fmt_ms(r["prompt"]),
         ratio(statistics.median(r["prompt"]), statistics.median(m["prompt"]))),
    ]
    print(f"runs per getty: {a.runs}; kernel {os.uname().release}; {os.cpu_count()} CPUs")
    print("config: " + (CONFIG + EXTRA_CONFIG).strip().replace("\n", "; ") + "\n")
    print("| metric | mgetty 1.2.1 (Debian) | rgetty | rgetty / mgetty |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print("\nraw samples (ms):")
    for k in ["ready", "ata", "prompt"]:
        print(f"  {k:6} mgetty {[round(x * 1000, 1) for x in m[k]]}")
        print(f"  {k:6} rgetty {[round(x * 1000, 1) for x in r[k]]}")
    print("\nstrace -c (mgetty):\n" + (m["strace"] or "(empty)"))
    print("\nstrace -c (rgetty):\n" + (r["strace"] or "(empty)"))


if __name__ == "__main__":
    main()
