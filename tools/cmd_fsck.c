/* cmd_fsck.c - modelctl fsck [--quick] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "fsck.h"

struct out {
	bool json;
	cJSON *errors, *warnings;
};

static void report(void *ctx, enum mfs_fsck_level level, const char *what, const char *msg)
{
	struct out *o = ctx;

	if (o->json) {
		cJSON *f = cJSON_CreateObject();

		cJSON_AddStringToObject(f, "object", what);
		cJSON_AddStringToObject(f, "message", msg);
		cJSON_AddItemToArray(level == MFS_FSCK_ERROR ? o->errors : o->warnings, f);
		return;
	}
	printf("%s: %s: %s\n", level == MFS_FSCK_ERROR ? "error" : "warning", what, msg);
}

int cmd_fsck(struct ctl *c, int argc, char **argv)
{
	struct out o = { .json = c->json };
	struct mfs_fsck_result res;
	struct mfs_store *st = NULL;
	unsigned flags = 0;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			flags |= MFS_FSCK_QUICK;
		} else {
			return ctl_usage(argv[0]);
		}
	}
	if (ctl_open_read(c, &st) < 0)
		return EXIT_FAILURE;
	if (!st) {
		fprintf(stderr, "modelctl: fsck reads the store itself; run it as the store's owner\n");
		return EXIT_FAILURE;
	}
	o.errors = cJSON_CreateArray();
	o.warnings = cJSON_CreateArray();
	r = mfs_fsck_run(st, flags, report, &o, &res);
	mfs_store_close(st);
	if (r < 0) {
		fprintf(stderr, "modelctl: fsck of '%s' failed: %s\n", ctl_where(c), strerror(-r));
		cJSON_Delete(o.errors);
		cJSON_Delete(o.warnings);
		return EXIT_FAILURE;
	}
	if (c->json) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddNumberToObject(j, "blobs", (double)res.blobs);
		cJSON_AddNumberToObject(j, "versions", (double)res.versions);
		cJSON_AddItemToObject(j, "errors", o.errors);
		cJSON_AddItemToObject(j, "warnings", o.warnings);
		ctl_print_json(j);
	} else {
		cJSON_Delete(o.errors);
		cJSON_Delete(o.warnings);
		printf("fsck: %lu blobs, %lu versions: %lu errors, %lu warnings\n", res.blobs,
		       res.versions, res.errors, res.warnings);
	}
	return res.errors ? EXIT_FAILURE : EXIT_SUCCESS;
}
