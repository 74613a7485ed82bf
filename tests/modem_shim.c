/* LD_PRELOAD shim for rgetty-share tests: ptys have no modem-control lines, so TIOCMGET on
 * the device MODEM_DEV (its path, as /proc/self/fd shows it; ending in `*`, any path starting
 * with what comes before, e.g. `/dev/pts/*` for a device re-plugged as a fresh pty) returns the TIOCM_* bits written
 * (as a C integer, e.g. 0x160) in the file MODEM_STATE, and appends one byte to the file
 * MODEM_COUNT per call. With MODEM_LOG set, TIOCMBIS, TIOCMBIC and TIOCMSET on the device
 * succeed and append `NANOSECONDS OP BITS` lines to that file (CLOCK_MONOTONIC; OP is bis, bic
 * or set), and closing the device while HUPCL is set (the kernel drops DTR then) appends a
 * `NANOSECONDS hupcl-close 0` line. With MODEM_TRACK set (and no MODEM_STATE), TIOCMGET reads
 * back the bits those calls wrote, as a real UART does. With RS485_LOG set, TIOCSRS485 on the
 * device succeeds,
 * appends `FLAGS BEFORE AFTER PAD` (the struct's fields, PAD the sum of its padding words) to
 * that file and keeps the struct; TIOCGRS485 returns it, its flags ANDed with RS485_KEEP (a C
 * integer; a driver dropping flags it lacks) when that is set. Every other ioctl, and these on any other fd, are the real
 * ones. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <linux/serial.h>

static struct serial_rs485 rs485_kept;

static int is_modem_dev(int fd) {
  const char *dev = getenv("MODEM_DEV");
  char link[64], path[PATH_MAX];
  if (!dev) return 0;
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = 0;
  size_t k = strlen(dev);
  if (k > 0 && dev[k - 1] == '*') return strncmp(path, dev, k - 1) == 0;
  return strcmp(path, dev) == 0;
}

static void log_line(const char *op, int bits) {
  const char *path = getenv("MODEM_LOG");
  struct timespec ts;
  char line[96];
  if (!path) return;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int n = snprintf(line, sizeof line, "%lld %s %d\n",
                   (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, op, bits);
  int f = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (f >= 0) {
    if (write(f, line, (size_t)n) != n) n = 0;
    close(f);
  }
}

int close(int fd) {
  int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "close");
  if (getenv("MODEM_LOG") && is_modem_dev(fd)) {
    struct termios t;
    if (tcgetattr(fd, &t) == 0 && (t.c_cflag & HUPCL)) log_line("hupcl-close", 0);
  }
  return real(fd);
}

int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  static int tracked;
  if (req == TIOCMGET && getenv("MODEM_TRACK") && !getenv("MODEM_STATE") && is_modem_dev(fd)) {
    *(int *)arg = tracked;
    return 0;
  }
  if (req == TIOCMGET && is_modem_dev(fd)) {
    int bits = 0;
    const char *st = getenv("MODEM_STATE"), *cnt = getenv("MODEM_COUNT");
    FILE *f = st ? fopen(st, "re") : NULL;
    if (f) {
      if (fscanf(f, "%i", &bits) != 1) bits = 0;
      fclose(f);
    }
    int c = cnt ? open(cnt, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : -1;
    if (c >= 0) {
      if (write(c, ".", 1) != 1) bits = 0;
      close(c);
    }
    *(int *)arg = bits;
    return 0;
  }
  if ((req == TIOCMBIS || req == TIOCMBIC || req == TIOCMSET) && getenv("MODEM_LOG") &&
      is_modem_dev(fd)) {
    int b = *(int *)arg;
    tracked = req == TIOCMBIS ? tracked | b : req == TIOCMBIC ? tracked & ~b : b;
    log_line(req == TIOCMBIS ? "bis" : req == TIOCMBIC ? "bic" : "set", b);
    return 0;
  }
  if ((req == TIOCSRS485 || req == TIOCGRS485) && getenv("RS485_LOG") && is_modem_dev(fd)) {
    struct serial_rs485 *r = arg;
    if (req == TIOCGRS485) {
      *r = rs485_kept;
      if (getenv("RS485_KEEP")) r->flags &= (unsigned)strtoul(getenv("RS485_KEEP"), NULL, 0);
      return 0;
    }
    unsigned pad = 0;
    for (size_t i = 0; i < sizeof r->padding / sizeof r->padding[0]; i++) pad += r->padding[i];
    FILE *f = fopen(getenv("RS485_LOG"), "ae");
    if (f) {
      fprintf(f, "%u %u %u %u\n", r->flags, r->delay_rts_before_send, r->delay_rts_after_send,
              pad);
      fclose(f);
    }
    rs485_kept = *r;
    return 0;
  }
  int (*real)(int, unsigned long, ...) =
      (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
  return real(fd, req, arg);
}
