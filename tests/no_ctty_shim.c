/* LD_PRELOAD shim for tests/faults.rs: TIOCSCTTY succeeds without making the tty the
 * controlling terminal, so a hang-up of the line sends the process no SIGHUP and the test can
 * send it itself, later than the end of file the reader sees (docs/platform.md §P4). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <sys/ioctl.h>

int ioctl(int fd, unsigned long req, ...)
{
    static int (*real)(int, unsigned long, ...);
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (!real)
        real = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
    if (req == TIOCSCTTY)
        return 0;
    return real(fd, req, arg);
}
