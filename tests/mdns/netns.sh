#!/bin/bash
# Run by tests/share/mdns.rs inside `unshare --net --mount --pid --fork`: this shell is PID 1
# of its own PID namespace, so everything it starts dies with it (nothing is left running).
# A veth pair gives avahi a multicast interface (it ignores loopback); the system bus and
# avahi's runtime directory are private tmpfs mounts. Then tests/mdns/watch.py runs.
# argv: RGETTY_SHARE_BINARY WORKDIR
set -eu
BIN=$1 WORK=$2
ip link set lo up
ip link add m0 type veth peer name m1
ip link set m1 up
ip link set m0 multicast on up
ip addr add 192.0.2.1/24 dev m0
ip route add 224.0.0.0/4 dev m0
for d in /run/dbus /run/avahi-daemon; do mkdir -p "$d"; mount -t tmpfs none "$d"; done
cat > "$WORK/avahi.conf" <<CONF
[server]
use-ipv4=yes
use-ipv6=no
allow-interfaces=m0
[publish]
publish-workstation=no
CONF
dbus-daemon --system --fork --nopidfile
avahi-daemon --no-drop-root --no-chroot --no-rlimits -f "$WORK/avahi.conf" -D
for _ in $(seq 50); do avahi-daemon --check 2>/dev/null && break; sleep 0.1; done
python3 "$(dirname "$0")/watch.py" "$BIN" "$WORK"
