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
#include "config.h"

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

	if (argc != 2)
		return ctl_usage(argv[0]);
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

	if (argc != 3)
		return ctl_usage(argv[0]);
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

int cmd_migrate(struct ctl *c, int argc, char **argv)
{
	char mount[4096] = "", target[MFS_CONFIG_VALUE_MAX] = "";
	struct mfs_backup_stats s;
	struct mfs_store *st = NULL;
	const char *to = NULL, *blobs = NULL;
	bool pg;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--to") && i + 1 < argc)
			to = argv[++i];
		else if (!strcmp(argv[i], "--blobs") && i + 1 < argc)
			blobs = argv[++i];
		else
			to = NULL, i = argc;
	}
	if (!to)
		return ctl_usage(argv[0]);
	mfs_log_init("modelctl", 0, MFS_LOG_INFO);
	pg = strncmp(to, "lmdb:", 5) != 0;
	if (pg && mfs_store_db_has_password(to)) {
		fprintf(stderr, "modelctl: refusing a password in the target: the store records where its registry is, and every user sees a command line; use PGPASSFILE (~/.pgpass) or a service file (service=NAME)\n");
		return EXIT_FAILURE;
	}
	if (pg && (!blobs || blobs[0] != '/')) {
		fprintf(stderr, "modelctl: a PostgreSQL target needs --blobs DIR (an absolute path, shared by its hosts)\n");
		return EXIT_FAILURE;
	}
	if (strlen(to) >= sizeof(target) || (blobs && strlen(blobs) >= sizeof(target))) {
		fprintf(stderr, "modelctl: migrate: target too long\n");
		return EXIT_FAILURE;
	}
	if (c->store && mfs_store_served(c->store, mount, sizeof(mount)) == 1) {
		fprintf(stderr, "modelctl: refusing to migrate '%s' while it is served at '%s': unmount it first (what it writes meanwhile would be lost)\n",
			c->store, mount);
		return EXIT_FAILURE;
	}
	/* Under the store's lock: no daemon starts on it meanwhile. */
	r = c->store ? mfs_store_open_at(c->store, &c->where, MFS_STORE_SERVE, NULL, &st) :
		       mfs_store_open_at(NULL, &c->where, MFS_STORE_READONLY, NULL, &st);
	if (r < 0) {
		fprintf(stderr, "modelctl: cannot open store '%s': %s\n", ctl_where(c), strerror(-r));
		return EXIT_FAILURE;
	}
	snprintf(target, sizeof(target), "%s", mfs_store_db(st));
	r = mfs_migrate(st, to, blobs, &s);
	mfs_store_close(st);
	if (r < 0) {
		fprintf(stderr, "modelctl: migrate of '%s' to '%s' failed: %s%s\n", ctl_where(c),
			pg ? "the database" : to + 5, strerror(-r),
			r == -EEXIST || r == -EBUSY || r == -EINVAL ? "" :
			"; the target is incomplete: drop it before trying again");
		return EXIT_FAILURE;
	}
	/* From PostgreSQL back to LMDB makes a new store; from a store into
	 * PostgreSQL, the store now serves the registry from there. */
	if (pg && c->store) {
		struct mfs_config cfg;

		memset(&cfg, 0, sizeof(cfg));
		snprintf(cfg.db, sizeof(cfg.db), "%s", to);
		snprintf(cfg.blobs, sizeof(cfg.blobs), "%s", blobs);
		if (mfs_config_set(c->store, &cfg) < 0) {
			fprintf(stderr, "modelctl: migrated, but could not record it in '%s/config': mount with -o db=...,blobs=...\n",
				c->store);
			return EXIT_FAILURE;
		}
	}
	if (c->json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "from", target);
		cJSON_AddStringToObject(o, "to", pg ? "postgresql" : to + 5);
		cJSON_AddNumberToObject(o, "blobs", (double)s.blobs);
		cJSON_AddNumberToObject(o, "bytes", (double)s.bytes);
		ctl_print_json(o);
	} else if (pg) {
		printf("migrated %s into the PostgreSQL database, blobs in '%s': %llu blobs, %llu bytes\n",
		       target, blobs, (unsigned long long)s.blobs, (unsigned long long)s.bytes);
		if (c->store)
			printf("'%s' now serves it (modelfs -o store=%s MNT); its old LMDB database in meta/ is no longer used\n",
			       c->store, c->store);
	} else {
		printf("migrated %s into the store '%s': %llu blobs, %llu bytes; mount it with modelfs -o store=%s MNT\n",
		       target, to + 5, (unsigned long long)s.blobs, (unsigned long long)s.bytes,
		       to + 5);
	}
	return EXIT_SUCCESS;
}
