/* sys.h - the syscall seam that fault tests swap (STYLE A8) */
#ifndef MFS_SYS_H
#define MFS_SYS_H

#include <sys/types.h>

/*
 * Every durability-relevant syscall of the seal and the blob store goes
 * through this table, so a unit test can fail the n-th fsync or linkat and
 * check that nothing sealed is lost. Production code never changes it.
 * The functions follow the libc convention (-1 and errno).
 */
struct mfs_sys {
	ssize_t (*write)(int fd, const void *buf, size_t n);
	int (*fsync)(int fd);
	int (*linkat)(int olddirfd, const char *oldpath, int newdirfd,
		      const char *newpath, int flags);
	int (*renameat)(int olddirfd, const char *oldpath, int newdirfd,
			const char *newpath);
	int (*unlinkat)(int dirfd, const char *path, int flags);
	/* May be NULL (a fault table without it): callers fsync each file. */
	int (*syncfs)(int fd);
};

/* The table in use; tests may point it elsewhere (STYLE A9 exception 3). */
extern const struct mfs_sys *mfs_sys;
extern const struct mfs_sys mfs_sys_libc;

#endif
