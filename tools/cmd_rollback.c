/* cmd_rollback.c - modelctl rollback MODEL ALIAS [--to VERSION], promote */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "alias.h"
#include "promote.h"
#include "history.h"
#include "model.h"
#include "version.h"

/*
 * The alias goes back to the "from" of its last history record, or to
 * --to. While a daemon serves the store the move is what `ln -sfn` does
 * (a link under a temporary name renamed onto the alias), so the daemon
 * applies every rule, records one move and updates its cache; without one,
 * mfs_alias_set() does the same in one transaction. Either way the store
 * marks the move "rollback": true (its target was an earlier one).
 */

static int through_mount(const char *mount, const char *model, const char *alias,
			 const char *to, char *cur, size_t n)
{
	char dir[PATH_MAX], tmp[PATH_MAX * 2], dst[PATH_MAX * 2], target[PATH_MAX];
	ssize_t l;

	snprintf(dir, sizeof(dir), "%s/models/%s", mount, model);
	snprintf(dst, sizeof(dst), "%s/%s", dir, alias);
	l = readlink(dst, cur, n - 1);
	if (l >= 0) {
		cur[l] = '\0';
		if (!strncmp(cur, "versions/", 9))
			memmove(cur, cur + 9, strlen(cur + 9) + 1);
	} else if (errno != ENOENT) {
		return -errno;
	}
	snprintf(target, sizeof(target), "versions/%s", to);
	/* A name nobody can guess or take first (a link someone else made
	 * or swapped in is refused by the daemon anyway). */
	for (int tries = 0;; tries++) {
		uint64_t rnd;

		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			return -EIO;
		snprintf(tmp, sizeof(tmp), "%s/.%s.move.%016llx", dir, alias,
			 (unsigned long long)rnd);
		if (symlink(target, tmp) == 0)
			break;
		if (errno != EEXIST || tries == 8)
			return -errno;
	}
	if (rename(tmp, dst) < 0) {
		int e = errno;

		unlink(tmp);
		return -e;
	}
	return 0;
}

/* Without a daemon: the store under its lock. When to is NULL, the
 * previous target is found in the history and copied into prev. */
static int direct(struct ctl *c, const char *model, const char *alias, const char *to,
		  char *prev, char *cur, size_t n)
{
	struct mfs_caller who = ctl_me();
	struct mfs_store *st = NULL;
	struct mfs_model_info mi;
	struct mfs_version_info vi;
	struct mfs_alias_info ai;
	char *text = NULL;
	size_t len = 0;
	int r;

	r = ctl_open_write(c, &st);
	if (r < 0) {
		return -EALREADY;	/* printed */
	}
	if (!to) {
		r = ctl_history_text(c, st, model, &text, &len);
		if (r < 0) {
			r = -EALREADY;
			goto out;
		}
		r = mfs_history_previous(text, len, alias, prev, MFS_NAME_MAX + 1);
		if (r < 0)
			goto out;
		to = prev;
	}
	r = mfs_model_lookup(st, model, &mi);
	if (r == 0 && mfs_alias_get(st, mi.id, alias, &ai) == 0)
		snprintf(cur, n, "%s", ai.version);
	if (r == 0)
		r = mfs_version_lookup(st, mi.id, to, false, &vi);
	if (r == 0)
		r = mfs_alias_set(st, &who, mi.id, alias, vi.id);
out:
	free(text);
	mfs_store_close(st);
	return r;
}

/* The previous target from the history, for the path through the mount. */
static int previous(struct ctl *c, const char *model, const char *alias, char *prev)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	if (ctl_history_text(c, NULL, model, &text, &len) < 0)
		return -EALREADY;
	r = mfs_history_previous(text, len, alias, prev, MFS_NAME_MAX + 1);
	free(text);
	return r;
}

/* Move alias of model to `to` (NULL: back to its previous target), as
 * verb; prints the move. */
static int move_alias(struct ctl *c, const char *verb, const char *model, const char *alias,
		      const char *to)
{
	char mount[PATH_MAX] = "", cur[MFS_NAME_MAX + 1] = "", prev[MFS_NAME_MAX + 1] = "";
	bool found_prev = false;
	int served, r;

	served = ctl_served_mount(c, mount, sizeof(mount));
	if (served < 0)
		return EXIT_FAILURE;
	if (served) {
		r = to ? 0 : previous(c, model, alias, prev);
		found_prev = r == 0;
		if (r == 0)
			r = through_mount(mount, model, alias, to ? to : prev, cur, sizeof(cur));
	} else {
		r = direct(c, model, alias, to, prev, cur, sizeof(cur));
		found_prev = prev[0] != '\0';
	}
	if (!to && found_prev)
		to = prev;
	if (r == -EALREADY)
		return EXIT_FAILURE;
	if (r == -ENOENT && !to) {
		fprintf(stderr, "modelctl: %s '%s/%s': no previous target in its history\n",
			verb, model, alias);
		return EXIT_FAILURE;
	}
	if (r < 0) {
		fprintf(stderr, "modelctl: %s '%s/%s' to '%s': %s\n", verb, model, alias, to,
			strerror(-r));
		return EXIT_FAILURE;
	}
	if (c->quiet) {
		/* nothing to say */
	} else if (c->json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "model", model);
		cJSON_AddStringToObject(o, "alias", alias);
		if (cur[0])
			cJSON_AddStringToObject(o, "from", cur);
		else
			cJSON_AddNullToObject(o, "from");
		cJSON_AddStringToObject(o, "to", to);
		ctl_print_json(o);
	} else {
		printf("%s: %s -> %s\n", alias, cur[0] ? cur : "(none)", to);
	}
	return EXIT_SUCCESS;
}

int cmd_rollback(struct ctl *c, int argc, char **argv)
{
	char to[MFS_NAME_MAX + 1];

	if (argc == 5 && !strcmp(argv[3], "--to"))
		return move_alias(c, "rollback", argv[1], argv[2],
				  ctl_version_of(c, argv[1], argv[4], to, sizeof(to)) == 0 ? to : argv[4]);
	if (argc != 3)
		return ctl_usage(argv[0]);
	return move_alias(c, "rollback", argv[1], argv[2], NULL);
}

/* modelctl promote MODEL VERSION ALIAS: ln -sfn versions/VERSION ALIAS,
 * with the same rules (gates, approvals, who). */
int cmd_promote(struct ctl *c, int argc, char **argv)
{
	if (argc != 4)
		return ctl_usage(argv[0]);
	return move_alias(c, "promote", argv[1], argv[3], argv[2]);
}
