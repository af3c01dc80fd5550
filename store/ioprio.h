/* ioprio.h - the I/O priority of the calling thread */
#ifndef MFS_IOPRIO_H
#define MFS_IOPRIO_H

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * Linux gives each thread its own I/O priority (ioprio_set(2), the
 * calling thread when who is IOPRIO_WHO_PROCESS and the id 0). The disk's
 * scheduler (mq-deadline, bfq) serves the real-time class first and the
 * idle class only when nothing else waits. glibc has no wrapper.
 */
enum mfs_ioclass { MFS_IO_RT = 1, MFS_IO_BE = 2, MFS_IO_IDLE = 3 };

/* A priority value of class c at level 0 (highest) to 7. */
static inline int mfs_ioprio(enum mfs_ioclass c, int level)
{
	return (int)c << 13 | level;
}

/* The calling thread's priority value, or -errno. */
static inline int mfs_ioprio_get(void)
{
	long r = syscall(SYS_ioprio_get, 1, 0);

	return r < 0 ? -errno : (int)r;
}

/* Set it. Returns 0, or -errno (-EPERM: the real-time class needs
 * CAP_SYS_ADMIN or CAP_SYS_NICE). */
static inline int mfs_ioprio_set(int value)
{
	return syscall(SYS_ioprio_set, 1, 0, value) < 0 ? -errno : 0;
}

#endif
