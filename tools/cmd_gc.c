/* cmd_gc.c - modelctl gc [--dry-run] */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "progressbar.h"
#include "gc.h"
#include "sha256.h"

/*
 * Through the mount while a daemon serves the store: only the daemon knows
 * which versions are open, so it runs gc (setxattr user.modelfs.gc on the
 * mount root) and hands this process its report (getxattr, same name).
 * Without a daemon, gc runs here under the store's lock, and pays the
 * SHA-256 digests still owed (sha256.h) when it is no dry run. Either way
 * the report is the same JSON, printed as is with --json.
 */

/* The daemon's report for this process. Ownership: caller frees. */
static char *through_mount(const char *mount, bool dry)
{
	const char *v = dry ? "dry-run" : "run";
	ssize_t n;
	char *buf;

	int r;

	ctl_progress_wait(dry ? "gc (planning, in the daemon)" : "gc (in the daemon)");
	r = setxattr(mount, "user.modelfs.gc", v, strlen(v), 0);
	ctl_progress_waited();
	if (r < 0) {
		fprintf(stderr, "modelctl: gc through '%s': %s\n", mount, strerror(errno));
		return NULL;
	}
	n = getxattr(mount, "user.modelfs.gc", NULL, 0);
	buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (buf)
		n = getxattr(mount, "user.modelfs.gc", buf, (size_t)n);
	if (!buf || n < 0) {
		fprintf(stderr, "modelctl: gc ran, but its report could not be read: %s (the audit trail has its counts)\n",
			strerror(n < 0 ? errno : ENOMEM));
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static char *direct(struct ctl *c, bool dry)
{
	struct mfs_caller who = ctl_me();
	struct mfs_gc_report rep;
	struct mfs_store *st = NULL;
	char *json = NULL;
	size_t len;
	int r;

	r = ctl_open_write(c, &st);
	if (r < 0) {
		return NULL;
	}
	r = mfs_gc_run(st, &who, dry ? MFS_GC_DRY_RUN : 0, NULL, NULL, &rep);
	if (r == 0) {
		r = mfs_gc_report_json(&rep, &json, &len);
		mfs_gc_report_release(&rep);
	}
	if (r == 0 && !dry)
		mfs_sha256_fill(st, NULL);
	mfs_store_close(st);
	if (r < 0)
		fprintf(stderr, "modelctl: gc of '%s': %s\n", ctl_where(c), strerror(-r));
	return json;
}

static void print_versions(cJSON *arr, const char *verb)
{
	cJSON *v;

	cJSON_ArrayForEach(v, arr) {
		printf("%s %s@%s (%.0f bytes)\n", verb,
		       cJSON_GetStringValue(cJSON_GetObjectItem(v, "model")),
		       cJSON_GetStringValue(cJSON_GetObjectItem(v, "version")),
		       cJSON_GetNumberValue(cJSON_GetObjectItem(v, "size")));
	}
}

int cmd_gc(struct ctl *c, int argc, char **argv)
{
	char mount[PATH_MAX] = "";
	bool dry = false;
	char *text;
	cJSON *j;
	int served;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dry-run") || !strcmp(argv[i], "-n")) {
			dry = true;
		} else {
			return ctl_usage(argv[0]);
		}
	}
	served = c->store ? mfs_store_served(c->store, mount, sizeof(mount)) : 0;
	if (c->mount)
		snprintf(mount, sizeof(mount), "%s", c->mount);
	if ((served == 1 || c->mount) && !mount[0]) {
		fprintf(stderr, "modelctl: store '%s' is served but its mount point is unknown: give -m\n",
			ctl_where(c));
		return EXIT_FAILURE;
	}
	text = served == 1 || c->mount ? through_mount(mount, dry) : direct(c, dry);
	if (!text)
		return EXIT_FAILURE;
	j = cJSON_Parse(text);
	free(text);
	if (!j) {
		fprintf(stderr, "modelctl: gc report is not JSON\n");
		return EXIT_FAILURE;
	}
	if (c->json) {
		ctl_print_json(j);
		return EXIT_SUCCESS;
	}
	print_versions(cJSON_GetObjectItem(j, "tombstoned"), dry ? "would tombstone" : "tombstoned");
	print_versions(cJSON_GetObjectItem(j, "kept_open"), "kept (open)");
	printf("%s %.0f blobs, %.0f bytes (%.0f of them cruft); released %.0f deleted versions\n",
	       dry ? "would remove" : "removed",
	       cJSON_GetNumberValue(cJSON_GetObjectItem(j, "blobs_removed")),
	       cJSON_GetNumberValue(cJSON_GetObjectItem(j, "bytes_freed")),
	       cJSON_GetNumberValue(cJSON_GetObjectItem(j, "cruft_removed")),
	       cJSON_GetNumberValue(cJSON_GetObjectItem(j, "released")));
	cJSON_Delete(j);
	return EXIT_SUCCESS;
}
