/* cmd_backup.c - modelctl backup DIR, modelctl restore DIR STORE */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "backup.h"
#include "log.h"

static void print_stats(const struct ctl *c, const char *what, const char *dir,
			const struct mfs_backup_stats *s)
{
	if (c->json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, what, dir);
		cJSON_AddNumberToObject(o, "blobs", (double)s->blobs);
		cJSON_AddNumberToObject(o, "bytes", (double)s->bytes);
		if (!strcmp(what, "restored"))
			cJSON_AddNumberToObject(o, "drafts_discarded", (double)s->drafts);
		ctl_print_json(o);
		return;
	}
	printf("%s '%s': %llu blobs, %llu bytes", what, dir, (unsigned long long)s->blobs,
	       (unsigned long long)s->bytes);
	if (!strcmp(what, "restored"))
		printf(", %llu drafts discarded", (unsigned long long)s->drafts);
	printf("\n");
}

int cmd_backup(struct ctl *c, int argc, char **argv)
{
	struct mfs_backup_stats s;
	struct mfs_store *st = NULL;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: modelctl backup DIR\n");
		return EXIT_FAILURE;
	}
	/* The store's one line saying why matters here. */
	mfs_log_init("modelctl", 0, MFS_LOG_INFO);
	if (ctl_open_read(c, &st) < 0)
		return EXIT_FAILURE;
	if (!st) {
		fprintf(stderr, "modelctl: backup reads the store itself; run it as the store's owner\n");
		return EXIT_FAILURE;
	}
	r = mfs_backup(st, argv[1], &s);
	mfs_store_close(st);
	if (r < 0) {
		fprintf(stderr, "modelctl: backup of '%s' to '%s' failed: %s%s%s%s\n",
			ctl_where(c), argv[1], strerror(-r), r == -EEXIST ? "" : " (remove '",
			r == -EEXIST ? "" : argv[1], r == -EEXIST ? "" : "')");
		return EXIT_FAILURE;
	}
	print_stats(c, "backup", argv[1], &s);
	return EXIT_SUCCESS;
}

int cmd_restore(struct ctl *c, int argc, char **argv)
{
	struct mfs_caller me = ctl_me();
	struct mfs_backup_stats s;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: modelctl restore DIR STORE\n");
		return EXIT_FAILURE;
	}
	mfs_log_init("modelctl", 0, MFS_LOG_INFO);
	r = mfs_restore(argv[1], argv[2], &me, &s);
	if (r < 0) {
		fprintf(stderr, "modelctl: restore of '%s' into '%s' failed: %s\n", argv[1],
			argv[2], strerror(-r));
		return EXIT_FAILURE;
	}
	print_stats(c, "restored", argv[2], &s);
	return EXIT_SUCCESS;
}
