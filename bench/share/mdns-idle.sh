#!/bin/bash
# System calls of rgetty-share's mDNS responder thread while idle (ser2net.yaml with
# `mdns: true`), in a private network and PID namespace: strace follows the server for
# SECONDS after an 8 s settling time and counts the calls of each thread.
# Usage (root): unshare -n -p -f --mount-proc bash bench/share/mdns-idle.sh BINARY [SECONDS]
set -eu
BIN=$1 SECS=${2:-40}
W=$(mktemp -d)
ip link set lo up; ip link set lo multicast on; ip route add 224.0.0.0/4 dev lo
python3 - "$BIN" "$SECS" "$W" <<'PY'
import os, subprocess, sys, time
binary, secs, w = sys.argv[1], sys.argv[2], sys.argv[3]
m, s = os.openpty()
with open(f"{w}/s.yaml", "w") as f:
    f.write(f"connection: &idle1\n  accepter: tcp,127.0.0.1,7001\n"
            f"  connector: serialdev,{os.ttyname(s)},9600n81,local\n  options:\n    mdns: true\n")
p = subprocess.Popen([binary, "serve", "--lock-dir", w, "--ser2net-config", f"{w}/s.yaml"],
                     stderr=subprocess.DEVNULL)
time.sleep(8)
subprocess.run(["timeout", secs, "strace", "-f", "-o", f"{w}/st", "-p", str(p.pid)],
               capture_output=True)
p.terminate(); p.wait()
counts = {}
for line in open(f"{w}/st"):
    pid = line.split()[0]
    counts[pid] = counts.get(pid, 0) + 1
main = str(p.pid)
for pid, n in sorted(counts.items()):
    # the line holding the blocked call counts as 1: it is the wait the thread sits in
    print(f"{'main' if pid == main else 'mdns'} thread: {n - 1} system calls in {secs} s idle")
PY
rm -rf "$W"
