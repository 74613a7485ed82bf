"""The web console over TLS with client certificates (tests/share/web/tls.rs runs this with
HOST:WEBPORT, the share port and the directory of certificates made by openssl): a client
without a certificate is refused at the handshake; `cli` (rw in the users file) writes to the
device, `bob` (ro) only watches, `eve` (signed by the CA, not in the users file) gets 403; no
answer sets a cookie and there is no login page."""
import http.client
import ssl
import sys
import time

from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

HOST, PORT, DIR = sys.argv[1], sys.argv[2], sys.argv[3]
ORIGIN = "https://" + HOST
WS = "wss://" + HOST + "/port/" + PORT + "/ws"


def check(what, ok):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        sys.exit(1)


def ctx(name):
    c = ssl.create_default_context(cafile=DIR + "/ca.pem")
    if name:
        c.load_cert_chain(DIR + "/" + name + ".pem", DIR + "/" + name + ".key")
    return c


def get(name, path):
    h, p = HOST.split(":")
    c = http.client.HTTPSConnection(h, int(p), context=ctx(name), timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    r.read()
    c.close()
    return r


def recv_until(ws, want):
    got = b""
    end = time.time() + 10
    while want not in got and time.time() < end:
        got += ws.recv(timeout=max(0.1, end - time.time()))
    return got


# No certificate: the TLS handshake fails (TLS 1.3 reports it at the first read).
try:
    get(None, "/")
    check("a client without a certificate is refused", False)
except (ssl.SSLError, ConnectionError, http.client.HTTPException, OSError) as e:
    check("a client without a certificate is refused: " + type(e).__name__, True)

# Pages: no cookie, no login page.
r = get("cli", "/")
check("cli gets the dashboard: " + str(r.status), r.status == 200)
check("no cookie is set", r.getheader("Set-Cookie") is None)
r = get("cli", "/login")
check("no login page with a certificate: " + str(r.status), r.status == 303)
r = get("bob", "/port/" + PORT)
check("bob (ro) is sent to the watcher page",
      r.status == 303 and r.getheader("Location") == "/port/" + PORT + "/watch")
r = get("eve", "/")
check("eve (not in the users file) gets 403: " + str(r.status), r.status == 403)
try:
    connect(WS, origin=ORIGIN, ssl=ctx("eve")).close()
    check("eve's socket refused", False)
except InvalidStatus as e:
    check("eve's socket: 403", e.response.status_code == 403)

# No TLS 1.3 session ticket races the request: Python's sync client reads in a thread while
# it writes, and now and then lost its request when the server sent tickets.
for i in range(20):
    with connect(WS, origin=ORIGIN, ssl=ctx("bob"), open_timeout=5):
        connect(WS, origin=ORIGIN, ssl=ctx("cli"), open_timeout=5).close()
check("20 watcher and writer pairs are answered", True)

# bob watches: what he sends goes nowhere; cli writes and sees the echo, and so does bob.
with connect(WS, origin=ORIGIN, ssl=ctx("bob")) as ro, \
        connect(WS, origin=ORIGIN, ssl=ctx("cli")) as rw:
    ro.send(b"ro-was-here\n")
    time.sleep(0.5)
    rw.send(b"rw-was-here\n")
    check("cli's data reaches the device (echoed)", b"rw-was-here" in recv_until(rw, b"rw-was-here"))
    check("bob sees the device's output", b"rw-was-here" in recv_until(ro, b"rw-was-here"))
print("all tls checks passed")
