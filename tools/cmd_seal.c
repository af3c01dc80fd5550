/* cmd_seal.c - modelctl seal MODEL VERSION */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "seal.h"

static int seal_direct(struct mfs_store *st, const struct mfs_caller *c, uint64_t vid,
		       const void *arg)
{
	(void)arg;
	return mfs_seal_version(st, c, vid, NULL, NULL);
}

/* Through the mount when a daemon serves the store: the daemon must see
 * the seal (its open handles, its cache). Otherwise directly, under the
 * store's lock. */
int cmd_seal(struct ctl *c, int argc, char **argv)
{
	int r;

	if (argc != 3)
		return ctl_usage(argv[0]);
	r = ctl_version_control(c, argv[1], argv[2], "user.modelfs.seal", "1", 1, false,
				seal_direct, NULL);
	if (r < 0) {
		fprintf(stderr, "modelctl: seal '%s@%s': %s\n", argv[1], argv[2], strerror(-r));
		return EXIT_FAILURE;
	}
	if (!c->json) {
		printf("sealed %s@%s\n", argv[1], argv[2]);
	} else {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "model", argv[1]);
		cJSON_AddStringToObject(o, "version", argv[2]);
		cJSON_AddStringToObject(o, "state", "sealed");
		ctl_print_json(o);
	}
	return EXIT_SUCCESS;
}
