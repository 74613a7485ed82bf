#!/usr/bin/env python3
"""Alert regexes vs none: rgetty-share's throughput with 10 `--alert` regexes on the port
against the same binary with none, side by side in one run (bench.py's `paired`: each on its
own pty, taking turns 1 MiB at a time, every byte checked). The device output is bench.py's
0..255 pattern, a newline every 256 bytes, so every line goes through the regex set.
Target (issue 19): >= 0.95x both ways.

Usage: bench/share/alerts.py [--bin PATH] [--mib N] [--reps N]
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


def end(binary, tmp, alerts):
    procs = []

    def begin(path):
        port = bench.free_port()
        lock = os.path.join(tmp, "lock%d" % alerts)
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(bench.ROOT, "target/release/rgetty-share"))
    ap.add_argument("--mib", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    bench.pin_cpus(True)
    tmp = tempfile.mkdtemp(prefix="alertbench.")
    ends = {"none": end(a.bin, tmp, 0), "10 alerts": end(a.bin, tmp, 10)}
    ratios = {"net->dev": [], "dev->net": []}
    for rep in range(a.reps):
        got = bench.paired(ends, a.mib << 20, 50)
        for d in ratios:
            ratios[d].append(got["10 alerts"][d] / got["none"][d])
        print("round %d: none %.0f/%.0f MiB/s, 10 alerts %.0f/%.0f MiB/s (net->dev/dev->net)" % (
            rep, got["none"]["net->dev"], got["none"]["dev->net"],
            got["10 alerts"]["net->dev"], got["10 alerts"]["dev->net"]))
    for e in ends.values():
        e.close()
    for d, v in ratios.items():
        m = statistics.median(v)
        print("%s: 10 alerts / none = x%.3f (median of %d rounds) %s" % (
            d, m, len(v), "PASS" if m >= 0.95 else "FAIL"))


if __name__ == "__main__":
    main()
