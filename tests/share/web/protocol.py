"""WebSocket protocol checks against `rgetty-share serve --web` (tests/share/web.rs runs this with
the base URL, the port number and a device whose far end echoes): fragmentation, ping,
oversized messages, unmasked frames, missing and foreign Origin, close handshakes."""
import base64
import os
import socket
import sys
import time

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

BASE, PORT = sys.argv[1], sys.argv[2]
HOST = BASE.split("://", 1)[1]
ORIGIN = "http://" + HOST
WS = "ws://" + HOST + "/port/" + PORT + "/ws"
WATCH = "ws://" + HOST + "/port/" + PORT + "/watch/ws"


def check(what, ok):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        sys.exit(1)


def recv_until(ws, want):
    got = b""
    end = time.time() + 10
    while want not in got and time.time() < end:
        got += ws.recv(timeout=max(0.1, end - time.time()))
    return got


def raw_handshake(path, origin):
    s = socket.create_connection(HOST.split(":") and (HOST.split(":")[0], int(HOST.split(":")[1])))
    s.settimeout(10)
    key = base64.b64encode(os.urandom(16)).decode()
    head = ("GET " + path + " HTTP/1.1\r\nHost: " + HOST + "\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n")
    if origin:
        head += "Origin: " + origin + "\r\n"
    s.sendall((head + "\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        b = s.recv(4096)
        if not b:
            break
        answer += b
    return s, answer


def read_close_code(s):
    """Read frames until a close frame; its code."""
    buf = b""
    end = time.time() + 10
    while time.time() < end:
        b = s.recv(4096)
        if not b:
            return None
        buf += b
        while len(buf) >= 2:
            op, n = buf[0] & 15, buf[1] & 127
            if len(buf) < 2 + n:
                break
            if op == 8:
                return int.from_bytes(buf[2:4], "big")
            buf = buf[2 + n:]
    return None


# Origin: missing or foreign is refused before any upgrade.
s, a = raw_handshake("/port/" + PORT + "/watch/ws", None)
check("no Origin: 403", a.startswith(b"HTTP/1.1 403"))
s.close()
try:
    connect(WATCH, origin="http://attacker.example").close()
    check("foreign Origin refused", False)
except InvalidStatus as e:
    check("foreign Origin: 403", e.response.status_code == 403)

# Unmasked client frame: close 1002.
s, a = raw_handshake("/port/" + PORT + "/watch/ws", ORIGIN)
check("raw handshake: 101", a.startswith(b"HTTP/1.1 101"))
s.sendall(b"\x82\x03abc")
check("unmasked frame: close 1002", read_close_code(s) == 1002)
s.close()

# A fragmented message arrives whole; a ping is answered; close handshake with 1000.
with connect(WS, origin=ORIGIN) as ws:
    ws.send([b"frag", b"men", b"ted\n"])
    check("fragmented message reaches the device whole", b"fragmented\n" in recv_until(ws, b"ted\n"))
    ws.ping(b"are you there").wait(timeout=5) or check("pong", True)
    ws.send("resize 120 40")
    ws.send(b"after control\n")
    check("data after a control request", b"after control\n" in recv_until(ws, b"control\n"))
    ws.close(1000, "bye")
    check("close handshake: server answers 1000",
          ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1000)
time.sleep(0.3)

# A message over the cap (64 KiB): close 1009, and the port stays usable.
with connect(WS, origin=ORIGIN, max_size=None) as ws:
    try:
        ws.send(b"x" * 70000)
        ws.recv(timeout=10)
        while True:
            ws.recv(timeout=10)
    except ConnectionClosed as e:
        check("oversized message: close 1009", e.rcvd is not None and e.rcvd.code == 1009)
time.sleep(0.3)
with connect(WS, origin=ORIGIN) as ws:
    ws.send(b"still here\n")
    check("port usable after a refused client", b"still here\n" in recv_until(ws, b"here\n"))
print("all protocol checks passed")
