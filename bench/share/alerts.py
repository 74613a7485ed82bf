#!/usr/bin/env python3
"""Alert regexes vs none: rgetty-share's throughput with 10 `--alert` regexes on the port
against the same binary with none, side by side in one run (bench.py's `paired`: each on its
own pty, taking turns 1 MiB at a time, every byte checked), with a third, "twin", also
without alerts: its ratio to the first is the noise floor of the run. The device output is
bench.py's 0..255 pattern, a newline every 256 bytes; none of the regexes matches.
Target (issue 19): >= 0.95x both ways. Server CPU per MiB is printed too (steadier than
MiB/s on a loaded machine).

With `--instructions`, the server's user-space instructions per MiB moved device->net are
counted instead (valgrind's cachegrind, deterministic where MiB/s on a loaded machine is
not): each server moves 2 and then 10 MiB, and the difference of the counts over 8 MiB
leaves out start-up and regex compilation.

Usage: bench/share/alerts.py [--bin PATH] [--mib N] [--reps N] [--instructions]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

REGEXES = [r"Kernel panic - not syncing: .*", r"PANIC: \w+", r"Oops: [0-9a-f]{4}",
           r"login: $", r"BUG: unable to handle", r"watchdog: .* stuck",
           r"Call Trace:", r"segfault at [0-9a-f]+", r"U-Boot 20\d\d", r"ERROR \d+: .+"]


def end(binary, tmp, alerts, name):
    procs = []

    def begin(path):
        port = bench.free_port()
        lock = os.path.join(tmp, "lock-" + name)
        os.makedirs(lock, exist_ok=True)
        args = [binary, "serve", "-p", str(port), "--lock-dir", lock]
        for r in REGEXES[:alerts]:
            args += ["--alert", "/%s/ true" % r]
        procs.append(subprocess.Popen(args + [path], stderr=subprocess.DEVNULL))
        bench.pin(procs[-1].pid)
        bench.wait_listening([port])
        return port, procs[-1].pid

    def stop():
        while procs:
            p = procs.pop()
            p.terminate()
            p.wait(5)

    return bench.End(begin, stop)


def instructions(binary, tmp, alerts, mib):
    """Instructions (cachegrind's Ir) of a server that moves `mib` MiB device->net."""
    m, s, path = bench.new_pty()
    port, out = bench.free_port(), os.path.join(tmp, "cg.out")
    args = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=" + out,
            binary, "serve", "-p", str(port), "--lock-dir", tmp]
    for r in REGEXES[:alerts]:
        args += ["--alert", "/%s/ true" % r]
    p = subprocess.Popen(args + [path], stderr=subprocess.DEVNULL)
    try:
        sock = bench.wait_port(port, timeout=120)
        bench.sync(sock, m)
        if bench.chunk_time(sock, m, mib << 20, False) is None:
            raise RuntimeError("bytes came out wrong")
        sock.close()
    finally:
        p.terminate()
        p.wait(60)
        os.close(m)
        os.close(s)
    with open(out) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("summary:"))


def count(binary, tmp):
    per = {}
    for alerts in (0, 10):
        n = [instructions(binary, tmp, alerts, mib) for mib in (2, 10)]
        per[alerts] = (n[1] - n[0]) / 8
        print("%d alerts: %.0f instructions/MiB device->net (%d at 2 MiB, %d at 10 MiB)" % (
            alerts, per[alerts], n[0], n[1]))
    print("10 alerts / none: x%.3f instructions/MiB (+%.0f/MiB, %.2f per byte)" % (
        per[10] / per[0], per[10] - per[0], (per[10] - per[0]) / (1 << 20)))


def summary(name, speeds, base):
    """`name`'s MiB/s over `base`'s: median of the rounds' ratios, quartiles, and over all
    rounds (total time of `base` / total time of `name`)."""
    v = [x / n for x, n in zip(speeds, base)]
    m = statistics.median(v)
    q = statistics.quantiles(v, n=4) if len(v) > 1 else [m, m, m]
    pooled = sum(1 / n for n in base) / sum(1 / x for x in speeds)
    return m, "%s x%.3f (quartiles x%.3f..x%.3f; all rounds x%.3f)" % (name, m, q[0], q[2],
                                                                     pooled)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(bench.ROOT, "target/release/rgetty-share"))
    ap.add_argument("--mib", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--instructions", action="store_true",
                    help="count instructions per MiB under cachegrind instead")
    a = ap.parse_args()
    if a.instructions:
        return count(a.bin, tempfile.mkdtemp(prefix="alertbench."))
    bench.pin_cpus(True)
    tmp = tempfile.mkdtemp(prefix="alertbench.")
    # "twin" is a second server without alerts: its ratio to "none" is the noise floor
    ends = {"none": end(a.bin, tmp, 0, "none"), "twin": end(a.bin, tmp, 0, "twin"),
            "alerts": end(a.bin, tmp, 10, "alerts")}
    dirs = ("net->dev", "dev->net")
    got = {(k, d): [] for k in ends for d in dirs}
    cpu = {(k, d): [] for k in ends for d in dirs}
    print("load average at start: %.1f %.1f %.1f" % os.getloadavg())
    for rep in range(a.reps):
        r = bench.paired(ends, a.mib << 20, 50)
        for k in ends:
            for d in dirs:
                got[k, d].append(r[k][d])
                cpu[k, d].append(r[k]["cpu " + d])
        print("round %d MiB/s (net->dev/dev->net), server CPU ms/MiB: " % rep + "; ".join(
            "%s %.0f/%.0f, %.2f/%.2f" % (k, r[k][dirs[0]], r[k][dirs[1]],
                                        r[k]["cpu " + dirs[0]], r[k]["cpu " + dirs[1]])
            for k in ends))
    for e in ends.values():
        e.close()
    print("load average at end: %.1f %.1f %.1f" % os.getloadavg())
    for d in dirs:
        m, alerts = summary("10 alerts", got["alerts", d], got["none", d])
        twin = summary("twin (no alerts)", got["twin", d], got["none", d])[1]
        c = {k: statistics.median(cpu[k, d]) for k in ends}
        cr = {k: statistics.median(x / n for x, n in zip(cpu[k, d], cpu["none", d]))
              for k in ("twin", "alerts")}
        print("%s: MiB/s vs none, median of %d rounds: %s; %s. Server CPU ms/MiB (medians): "
              "none %.3f, twin %.3f, 10 alerts %.3f; per-round ratio to none (median): "
              "10 alerts x%.3f, twin x%.3f %s" % (
                  d, a.reps, alerts, twin, c["none"], c["twin"], c["alerts"], cr["alerts"],
                  cr["twin"], "PASS" if m >= 0.95 else "FAIL"))

if __name__ == "__main__":
    main()
