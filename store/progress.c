/* progress.c - how far long work has got, to the hook a tool set */
#include <stddef.h>

#include "progress.h"

static mfs_progress_fn hook;
static void *hook_ctx;

void mfs_progress_set(mfs_progress_fn fn, void *ctx)
{
	hook = fn;
	hook_ctx = ctx;
}

void mfs_progress(const char *what, uint64_t done, uint64_t total)
{
	if (hook)
		hook(hook_ctx, what, done, total);
}
