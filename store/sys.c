/* sys.c - the default, libc-backed syscall table */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "sys.h"

const struct mfs_sys mfs_sys_libc = {
	.write = write,
	.fsync = fsync,
	.linkat = linkat,
	.renameat = renameat,
	.unlinkat = unlinkat,
	.syncfs = syncfs,
};

const struct mfs_sys *mfs_sys = &mfs_sys_libc;
