"""mDNS announcements of a port that follows hot-plug, seen by python-zeroconf (what Home
Assistant uses) and avahi-browse; `rgetty-share connect mdns:NAME` finds it. Run by
tests/mdns/netns.sh in a private network namespace.

Prints one line per check and "mdns: N passed, 0 failed" at the end; exits non-zero on a
failure. argv: RGETTY_SHARE_BINARY WORKDIR
"""
import os
import subprocess
import sys
import time

from zeroconf import ServiceBrowser, ServiceListener, Zeroconf

BIN, WORK = sys.argv[1], sys.argv[2]
NAME = "rack-3-slot-5"
TYPE = "_iostream._tcp.local."
FULL = f"{NAME}.{TYPE}"
LIMIT = 2.0


class Events(ServiceListener):
    def __init__(self):
        self.log = []

    def add_service(self, zc, t, n):
        info = zc.get_service_info(t, n, timeout=1500)
        self.log.append((time.monotonic(), "add", n, info))

    def remove_service(self, zc, t, n):
        self.log.append((time.monotonic(), "remove", n, None))

    def update_service(self, zc, t, n):
        pass

    def wait(self, kind, since, limit=LIMIT + 1.0):
        end = since + limit
        while time.monotonic() < end:
            for t, k, n, info in self.log:
                if k == kind and n == FULL and t >= since:
                    return t - since, info
            time.sleep(0.02)
        raise SystemExit(f"FAIL: no {kind} of {FULL} within {limit}s: {self.log}")


def avahi_sees():
    r = subprocess.run(["avahi-browse", "-p", "-t", "-r", "_iostream._tcp"],
                       capture_output=True, text=True, timeout=20)
    return [l for l in r.stdout.splitlines() if l.startswith("=") and NAME in l]


def avahi_until(present, since, limit=LIMIT):
    """Poll avahi-browse until it lists the port (or not): whether it did, and how long
    after `since` the browse that showed it started. avahi keeps a record for 1 s after its
    goodbye (RFC 6762 10.1), so its view of a withdrawal lags python-zeroconf's."""
    while True:
        dt = time.monotonic() - since  # when this browse started: what it shows held then
        seen = len(avahi_sees()) > 0
        if seen == present or dt > limit + 3:
            return seen == present, dt


def check(passed, what, ok):
    if not ok:
        raise SystemExit(f"FAIL: {what}")
    print(f"ok: {what}", flush=True)
    return passed + 1


def main():
    master, slave = os.openpty()
    tty = os.ttyname(slave)
    link = os.path.join(WORK, "usb-FTDI_FT232R_A10K-if00-port0")
    os.symlink(tty, link)
    cfg = os.path.join(WORK, "ser2net.yaml")
    with open(cfg, "w") as f:
        f.write(f"connection: &{NAME}\n  accepter: telnet(rfc2217),tcp,7777\n"
                f"  connector: serialdev,{link},115200n81,local\n  options:\n"
                f"    mdns: true\n    mdns-txt: server=lab1\n    mdns-sysattrs: true\n")
    ev = Events()
    zc = Zeroconf()
    ServiceBrowser(zc, TYPE, ev)
    lockdir = os.path.join(WORK, "lock")
    os.mkdir(lockdir)
    t0 = time.monotonic()
    # the lab's network may connect (without an allow list a port admits loopback only);
    # mDNS may resolve the name to loopback too, so the list keeps it
    srv = subprocess.Popen([BIN, "serve", "--lock-dir", lockdir, "--allow", "192.0.2.0/24",
                            "--allow", "127.0.0.1", "--ser2net-config", cfg],
                           stderr=open(os.path.join(WORK, "serve.log"), "w"))
    passed = 0
    try:
        dt, info = ev.wait("add", t0)
        props = {k.decode(): (v or b"").decode() for k, v in info.properties.items()} if info else {}
        passed = check(passed, f"python-zeroconf sees the port {dt:.2f}s after start", dt <= LIMIT)
        passed = check(passed, f"TXT {props}", props.get("server") == "lab1"
                       and props.get("gensiostack") == "telnet(rfc2217),tcp"
                       and props.get("devicetype") == "serial" and info.port == 7777)
        ok, dt = avahi_until(True, t0)
        passed = check(passed, f"avahi-browse lists it ({dt:.2f}s after start)", ok)
        # connect mdns:NAME resolves and connects (a virtual port on a pty of our own)
        vport = os.path.join(WORK, "vport")
        con = subprocess.Popen([BIN, "connect", f"mdns:{NAME}", "--mode", "rfc2217", "--once",
                                "--lock-dir", lockdir, "--link", vport],
                               stderr=open(os.path.join(WORK, "connect.log"), "w"))
        end = time.monotonic() + 10
        while not os.path.exists(vport) and time.monotonic() < end:
            time.sleep(0.05)
        fd = os.open(vport, os.O_RDWR | os.O_NOCTTY)
        os.write(fd, b"via-mdns")
        got = b""
        end = time.monotonic() + 10
        os.set_blocking(master, False)
        while len(got) < 8 and time.monotonic() < end:
            try:
                got += os.read(master, 64)
            except BlockingIOError:
                time.sleep(0.02)
        os.close(fd)
        con.terminate()
        con.wait(5)
        clog = open(os.path.join(WORK, "connect.log")).read()
        passed = check(passed, f"connect mdns:NAME reaches the device {got!r} {clog}", got == b"via-mdns")
        # unplug: the by-id link goes
        t1 = time.monotonic()
        os.unlink(link)
        dt, _ = ev.wait("remove", t1)
        passed = check(passed, f"withdrawn {dt:.2f}s after unplug", dt <= LIMIT)
        ok, dt = avahi_until(False, t1)
        passed = check(passed, f"avahi-browse no longer lists it ({dt:.2f}s after unplug)", ok and dt <= LIMIT + 1)
        t2 = time.monotonic()
        os.symlink(tty, link)
        dt, _ = ev.wait("add", t2)
        passed = check(passed, f"announced again {dt:.2f}s after it returned", dt <= LIMIT)
        ok, dt = avahi_until(True, t2)
        passed = check(passed, f"avahi-browse lists it again ({dt:.2f}s after it returned)", ok)
        t3 = time.monotonic()
        srv.terminate()
        srv.wait(10)
        dt, _ = ev.wait("remove", t3)
        passed = check(passed, f"goodbye on shutdown after {dt:.2f}s", dt <= LIMIT)
    finally:
        if srv.poll() is None:
            srv.kill()
        zc.close()
    print(f"mdns: {passed} passed, 0 failed", flush=True)


if __name__ == "__main__":
    main()
