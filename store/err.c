/* err.c - thread-safe error strings */
#include <string.h>

#include "err.h"

const char *mfs_strerror(int err)
{
	if (err < 0)
		err = -err;
	/* strerrordesc_np is thread-safe and returns static text. */
	const char *s = strerrordesc_np(err);

	return s ? s : "unknown error";
}

const char *mfs_errno_name(int err)
{
	const char *s = strerrorname_np(err < 0 ? -err : err);

	return s ? s : "E?";
}
