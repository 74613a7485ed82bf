#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <string.h>
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include <sys/ioctl.h>
#include <linux/serial.h>
static int ffd = -1;
static volatile int count = 0;
int ioctl(int fd, unsigned long req, ...) {
  va_list ap; va_start(ap, req); void *arg = va_arg(ap, void *); va_end(ap);
  if (req == TIOCMIWAIT) {
    char c;
    if (ffd < 0) ffd = open(getenv("RI_FIFO"), O_RDWR);
    if (read(ffd, &c, 1) != 1) { errno = EIO; return -1; }
    count++;
    return 0;
  }
  if (req == TIOCGICOUNT) {
    struct serial_icounter_struct *s = arg;
    memset(s, 0, sizeof *s);
    s->rng = count;
    return 0;
  }
  int (*real)(int, unsigned long, ...) = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
  return real(fd, req, arg);
}
