/* cmd_seal.c - modelctl seal MODEL VERSION */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cmd.h"
#include "model.h"
#include "seal.h"
#include "version.h"

/* Through the mount when a daemon serves the store: the daemon must see
 * the seal (its open handles, its cache). Otherwise directly, under the
 * store's lock. */
int cmd_seal(struct ctl *c, int argc, char **argv)
{
	char mount[PATH_MAX] = "", path[PATH_MAX * 2];
	struct mfs_store *st = NULL;
	struct mfs_model_info mi;
	struct mfs_version_info vi;
	struct mfs_caller who = ctl_me();
	int served, r;

	if (argc != 3) {
		fprintf(stderr, "usage: modelctl seal MODEL VERSION\n");
		return EXIT_FAILURE;
	}
	served = ctl_served_mount(c, mount, sizeof(mount));
	if (served < 0)
		return EXIT_FAILURE;
	if (served) {
		snprintf(path, sizeof(path), "%s/models/%s/versions/%s", mount, argv[1], argv[2]);
		if (setxattr(path, "user.modelfs.seal", "1", 1, 0) < 0) {
			fprintf(stderr, "modelctl: seal '%s@%s': %s\n", argv[1], argv[2],
				strerror(errno));
			return EXIT_FAILURE;
		}
		if (!c->json)
			printf("sealed %s@%s\n", argv[1], argv[2]);
		else
			printf("{\"model\": \"%s\", \"version\": \"%s\", \"state\": \"sealed\"}\n",
			       argv[1], argv[2]);
		return EXIT_SUCCESS;
	}
	r = mfs_store_open(c->store, MFS_STORE_SERVE, NULL, &st);
	if (r < 0) {
		fprintf(stderr, "modelctl: cannot open store '%s': %s\n", c->store, strerror(-r));
		return EXIT_FAILURE;
	}
	r = mfs_model_lookup(st, argv[1], &mi);
	if (r == 0)
		r = mfs_version_lookup(st, mi.id, argv[2], false, &vi);
	if (r == 0)
		r = mfs_seal_version(st, &who, vi.id, NULL, NULL);
	mfs_store_close(st);
	if (r < 0) {
		fprintf(stderr, "modelctl: seal '%s@%s': %s\n", argv[1], argv[2], strerror(-r));
		return EXIT_FAILURE;
	}
	printf("sealed %s@%s\n", argv[1], argv[2]);
	return EXIT_SUCCESS;
}
