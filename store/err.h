/* err.h - errno conventions of store/ */
#ifndef MFS_ERR_H
#define MFS_ERR_H

/*
 * Every store/ function that can fail returns 0 or a negative errno; results
 * come back through ret_* out-parameters written only on success. Internal
 * codes beyond errno: -EBADMSG means a blob's content does not match its
 * name; fs/ reports it to users as -EIO.
 */

/* strerror() of a negative or positive errno; thread-safe (static strings). */
const char *mfs_strerror(int err);

/* The symbolic name of a negative or positive errno ("EPERM"), or "E?".
 * Thread-safe (static strings). */
const char *mfs_errno_name(int err);

#endif
