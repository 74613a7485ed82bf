"""labgrid end to end with rgetty-share as its ser2net (run by tests/share_labgrid.rs).

Starts labgrid-coordinator and labgrid-exporter on loopback; the exporter finds `ser2net`
first in PATH, a symlink to rgetty-share. A RawSerialPort on a pty is exported; the client
creates a place, acquires it and talks through NetworkSerialPort + SerialDriver: a console
round trip, a speed change seen on the pty, a purge. Prints "labgrid: N passed, 0 failed".

argv: RGETTY_SHARE_BINARY WORKDIR
"""
import os
import socket
import subprocess
import sys
import termios
import time

BIN, WORK = sys.argv[1], sys.argv[2]
DEADLINE = 45


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait(what, cond, limit=DEADLINE):
    end = time.monotonic() + limit
    while not cond():
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


def read_exactly(fd, n, limit=10):
    out = b""
    end = time.monotonic() + limit
    while len(out) < n and time.monotonic() < end:
        try:
            out += os.read(fd, n - len(out))
        except BlockingIOError:
            time.sleep(0.02)
    return out


def main():
    bindir = os.path.join(WORK, "bin")
    os.makedirs(bindir, exist_ok=True)
    os.symlink(BIN, os.path.join(bindir, "ser2net"))
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"])
    master, slave = os.openpty()
    os.set_blocking(master, False)
    tty = os.ttyname(slave)
    with open(os.path.join(WORK, "exporter.yaml"), "w") as f:
        f.write(f"group1:\n  RawSerialPort:\n    port: {tty}\n    speed: 115200\n")
    coord = f"127.0.0.1:{free_port()}"
    env["LG_COORDINATOR"] = coord
    procs = []
    log = open(os.path.join(WORK, "labgrid.log"), "w")
    try:
        # The coordinator keeps places.yaml and resources.yaml in its working directory.
        procs.append(subprocess.Popen(["labgrid-coordinator", "-l", coord], env=env, stdout=log,
                                      stderr=log, cwd=WORK))
        wait("the coordinator", lambda: socket.socket().connect_ex(tuple([coord.split(":")[0], int(coord.split(":")[1])])) == 0)
        procs.append(subprocess.Popen(
            ["labgrid-exporter", "-c", coord, "-n", "exp1", "--hostname", "127.0.0.1",
             os.path.join(WORK, "exporter.yaml")], env=env, stdout=log, stderr=log))
        client = ["labgrid-client", "-x", coord, "-p", "pl"]

        def ok(*args):
            return subprocess.run(client + list(args), env=env, capture_output=True, text=True)

        wait("the exporter's resource", lambda: "exp1/group1/NetworkSerialPort" in ok("resources").stdout)
        for args in (["create"], ["add-match", "exp1/group1/NetworkSerialPort"], ["acquire"]):
            r = ok(*args)
            if r.returncode != 0:
                raise SystemExit(f"labgrid-client {args}: {r.stdout}{r.stderr}")
        run_client(env, coord, master, slave)
        ok("release")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


def run_client(env, coord, master, slave):
    from labgrid import Environment
    cfg = os.path.join(WORK, "env.yaml")
    with open(cfg, "w") as f:
        f.write(f"targets:\n  main:\n    resources:\n      RemotePlace:\n        name: pl\n"
                f"    drivers:\n      SerialDriver: {{}}\noptions:\n  coordinator_address: {coord}\n")
    os.environ["LG_COORDINATOR"] = coord
    target = Environment(cfg).get_target("main")
    port = target.get_resource("NetworkSerialPort")
    print(f"port {port.host}:{port.port} speed {port.speed}", flush=True)
    drv = target.get_driver("SerialDriver")
    passed = 0
    # console round trip
    drv.write(b"hello\n")
    got = read_exactly(master, 6)
    assert got == b"hello\n", got
    os.write(master, b"world\r\n")
    drv.expect("world")
    passed += 1
    # the exporter's speed reached the pty; a speed change from the client too
    assert termios.tcgetattr(slave)[4] == termios.B115200, termios.tcgetattr(slave)
    drv.serial.baudrate = 9600
    wait("9600 on the pty", lambda: termios.tcgetattr(slave)[4] == termios.B9600, 10)
    passed += 1
    # purge: pyserial waits for the server's PURGE reply
    os.write(master, b"stale")
    time.sleep(0.3)
    drv.serial.reset_input_buffer()
    drv.serial.reset_output_buffer()
    drv.write(b"after\n")
    assert read_exactly(master, 6) == b"after\n"
    passed += 1
    print(f"labgrid: {passed} passed, 0 failed", flush=True)


if __name__ == "__main__":
    main()
