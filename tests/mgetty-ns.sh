# Run Debian's mgetty in a private mount namespace (`unshare --mount --propagation private
# sh -ec "$(cat this)" sh T CMD...`): /etc/mgetty, /run (/var/lock, utmp) and /var/log come from
# the temp dir T, /etc is an overlay (nologin files copied in), and /dev is private with no
# console. Shared by tests/diffutil and bench/getty/bench.py.
T=$1; shift
unset PWD OLDPWD
mount -t tmpfs none "$T/ovl"
mkdir "$T/ovl/u" "$T/ovl/w"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$T/ovl/u,workdir=$T/ovl/w" /etc
mount --bind "$T/etc" /etc/mgetty
for f in "$T"/nologin/nologin.*; do if [ -e "$f" ]; then cp "$f" /etc/; fi; done
# A caller that did not prepare T/run gets an empty one.
if [ ! -d "$T/run/lock" ]; then
  mount -t tmpfs none "$T/run"
  mkdir "$T/run/lock"
  : > "$T/run/utmp"
fi
mount --bind "$T/run" /run
mount --bind "$T/varlog" /var/log
# A private /dev with only what a getty on a pty needs: no console, so nothing mgetty writes
# there on a fatal error can reach the machine's console.
mkdir -p "$T/hostdev"
mount --rbind /dev "$T/hostdev"
mount -t tmpfs -o mode=755 none /dev
for n in null zero full random urandom tty ptmx log; do
  if [ -L "$T/hostdev/$n" ]; then cp -P "$T/hostdev/$n" "/dev/$n"
  elif [ -e "$T/hostdev/$n" ]; then : > "/dev/$n"; mount --bind "$T/hostdev/$n" "/dev/$n"; fi
done
mkdir /dev/pts /dev/shm
mount --rbind "$T/hostdev/pts" /dev/pts
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin; ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr
# A caller that wants to start the clock itself leaves a fifo T/go to open.
if [ -p "$T/go" ]; then read go < "$T/go"; fi
exec "$@"
