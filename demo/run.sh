#!/usr/bin/env bash
# The rgetty demo: a getty on a virtual modem that you can call over TCP.
#
#   bash demo/run.sh            # then, in another terminal: telnet localhost 2323
#   bash demo/run.sh --selftest # place one call with nc and check the login dialogue
#
# Needs telnet (to call in) or, for --selftest, nc: `apt-get install telnet netcat-openbsd`.
# RGETTY_BIN=DIR uses the programs in DIR instead of building them.
#
# rgetty-share's virtual modem puts a Hayes modem on a pty (symlink $D/modem). A TCP
# connection to the port makes it RING; rgetty answers with ATA, shows the issue file and the
# login prompt, reads a name and execs the program login.config names (here a greeter script).
# Everything lives in a temp dir: no system file is touched. Run it as root (a getty changes
# the owner of its line and login.config must be root-owned).
set -euo pipefail
PORT=${PORT:-2323}
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--selftest" ]; then caller=nc; else caller=telnet; fi
if ! command -v "$caller" >/dev/null 2>&1; then
  echo "rgetty demo: needs $caller to call in: apt-get install telnet netcat-openbsd" >&2
  exit 1
fi
if [ -n "${RGETTY_BIN:-}" ]; then
  BIN=$RGETTY_BIN
else
  # Not -q: the first build takes about a minute, and cargo shows what it is compiling.
  echo "rgetty demo: building (cargo build --bins; the first build takes about a minute)..."
  cargo build --bins
  BIN=$PWD/target/debug
fi
D=$(mktemp -d "${TMPDIR:-/tmp}/rgetty-demo.XXXXXX")
chmod 755 "$D"
mkdir -p "$D/etc" "$D/lock" "$D/log" "$D/run"
: > "$D/utmp"; : > "$D/wtmp"
cat > "$D/etc/mgetty.config" <<CFG
# demo settings (mgetty.config syntax)
port-owner root
port-group root
init-chat "" ATZ OK ATE0 OK
rings 1
issue-file $D/etc/issue
login-prompt @ login:\\040
login-time 120
prompt-waittime 100
CFG
printf 'Welcome to the rgetty demo on \\P (CONNECT \\I, caller \\Y).\nType any name.\n' > "$D/etc/issue"
cat > "$D/hello" <<'SH'
#!/bin/sh
echo "Hello, $1. You reached rgetty on $DEVICE (CONNECT $CONNECT, caller $CALLER_ID)."
echo "This program runs as uid $(id -u) with the line as its controlling tty: $(tty)."
echo "Goodbye."
sleep 1
SH
chmod 755 "$D/hello"
printf '# demo login.config\n* nobody - %s @\n' "$D/hello" > "$D/etc/login.config"
chmod 600 "$D/etc/login.config"

pids=()
cleanup() {
  trap - EXIT INT TERM
  # Each background job ends its own children (the respawn loop its rgetty) before it exits,
  # so nothing writes into $D once `wait` returns.
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --telnet: telnet goes to character mode at once, so the getty alone echoes the login name.
"$BIN/rgetty-share" modem --telnet --link "$D/modem" -p "$PORT" 2> "$D/modem.err" &
modem_pid=$!
pids+=("$modem_pid")
# The link appears once the modem listens on the port; if the port is taken it exits instead.
for _ in $(seq 100); do
  [ -e "$D/modem" ] && break
  kill -0 "$modem_pid" 2>/dev/null || break
  sleep 0.1
done
if [ ! -e "$D/modem" ] || ! kill -0 "$modem_pid" 2>/dev/null; then
  echo "rgetty demo: the virtual modem did not start on port $PORT (taken? try PORT=2324):" >&2
  cat "$D/modem.err" >&2
  exit 1
fi

# Respawn rgetty the way init does; on TERM the loop ends the running rgetty and waits for it.
(
  getty=
  trap '[ -n "$getty" ] && kill "$getty" 2>/dev/null; wait; exit 0' TERM
  while true; do
    "$BIN/rgetty" --config-dir "$D/etc" --lock-dir "$D/lock" --log-dir "$D/log" \
      --pid-dir "$D/run" --utmp "$D/utmp" --wtmp "$D/wtmp" --nologin-dir "$D" \
      --syslog-socket "$D/no-syslog" -x 4 "$D/modem" &
    getty=$!
    wait "$getty" || true
    getty=
    sleep 0.5
  done
) &
pids+=($!)

echo "rgetty demo: virtual modem on $(readlink "$D/modem"), log in $D/log"
# The call hint comes only once rgetty has initialised the modem and waits for a call.
for _ in $(seq 300); do
  grep -qs 'waiting\.\.\.' "$D"/log/*.log && break
  sleep 0.1
done
if ! grep -qs 'waiting\.\.\.' "$D"/log/*.log; then
  echo "rgetty demo: rgetty did not get the modem ready within 30 s; its log:" >&2
  tail -n 30 "$D"/log/*.log >&2 || true
  exit 1
fi
if [ "${1:-}" = "--selftest" ]; then
  # (the telnet negotiation nc does not understand is left out of what is shown)
  out=$( (sleep 4; printf 'demo\r'; sleep 3) | nc -q 2 127.0.0.1 "$PORT" | tr -cd '\11\12\40-\176' || true)
  echo "$out"
  if echo "$out" | grep -q "login:" && echo "$out" | grep -q "Hello, demo"; then
    echo "selftest: ok"; exit 0
  fi
  echo "selftest: FAILED"; tail -n 30 "$D"/log/*.log; exit 1
fi
echo "Call it:  telnet localhost $PORT   (Ctrl-C here stops the demo)"
wait
