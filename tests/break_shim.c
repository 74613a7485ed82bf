/* LD_PRELOAD shim for the web console test: ptys take a BREAK without a trace, so every
 * tcsendbreak() and every TCSBRK/TCSBRKP/TIOCSBRK ioctl appends one byte to the file
 * BREAK_COUNT, then does the real call. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static void count(void) {
  const char *p = getenv("BREAK_COUNT");
  int c = p ? open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : -1;
  if (c >= 0) {
    if (write(c, "b", 1) != 1) { /* nothing to do */ }
    close(c);
  }
}

int tcsendbreak(int fd, int duration) {
  count();
  int (*real)(int, int) = (int (*)(int, int))dlsym(RTLD_NEXT, "tcsendbreak");
  return real(fd, duration);
}

int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  if (req == TCSBRK || req == TCSBRKP || req == TIOCSBRK) count();
  int (*real)(int, unsigned long, ...) =
      (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
  return real(fd, req, arg);
}
