/* cmd_govern.c - modelctl approve, deprecate, archive, activate, tag */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "annot.h"
#include "cmd.h"

/* The control's value, for the direct path. */
struct val {
	const char *s;
	size_t len;
	const char *tag;	/* tag: its name; value NULL removes it */
};

static int approve_direct(struct mfs_store *st, const struct mfs_caller *c, uint64_t vid,
			  const void *arg)
{
	const struct val *v = arg;

	return mfs_version_approve(st, c, vid, v->s, v->len);
}

static int lifecycle_direct(struct mfs_store *st, const struct mfs_caller *c,
			    uint64_t vid, const void *arg)
{
	const struct val *v = arg;

	return mfs_version_set_lifecycle(st, c, vid, v->s, v->len);
}

static int tag_direct(struct mfs_store *st, const struct mfs_caller *c, uint64_t vid,
		      const void *arg)
{
	const struct val *v = arg;

	return mfs_version_tag(st, c, vid, v->tag, v->s, v->len);
}

static int done(struct ctl *c, int r, const char *verb, const char *model,
		const char *version, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "modelctl: %s '%s@%s': %s\n", verb, model, version, strerror(-r));
		return EXIT_FAILURE;
	}
	if (c->json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "model", model);
		cJSON_AddStringToObject(o, "version", version);
		cJSON_AddStringToObject(o, verb, what);
		ctl_print_json(o);
	} else
		printf("%s %s@%s: %s\n", verb, model, version, what);
	return EXIT_SUCCESS;
}

/* modelctl approve MODEL VERSION ALIAS [COMMENT...] */
int cmd_approve(struct ctl *c, int argc, char **argv)
{
	char value[2048];
	size_t n;
	struct val v;
	int r;

	if (argc < 4)
		return ctl_usage(argv[0]);
	n = (size_t)snprintf(value, sizeof(value), "%s", argv[3]);
	for (int i = 4; i < argc && n < sizeof(value); i++)
		n += (size_t)snprintf(value + n, sizeof(value) - n, " %s", argv[i]);
	if (n >= sizeof(value)) {
		fprintf(stderr, "modelctl: approve: the comment is too long\n");
		return EXIT_FAILURE;
	}
	v = (struct val){ value, n, NULL };
	r = ctl_version_control(c, argv[1], argv[2], "user.modelfs.approve", value, n, false,
				approve_direct, &v);
	return done(c, r, "approve", argv[1], argv[2], argv[3]);
}

/* modelctl deprecate|archive|activate MODEL VERSION */
int cmd_lifecycle(struct ctl *c, int argc, char **argv)
{
	const char *state = !strcmp(argv[0], "deprecate") ? "deprecated" :
			    !strcmp(argv[0], "archive") ? "archived" : "active";
	struct val v = { state, strlen(state), NULL };
	int r;

	if (argc != 3)
		return ctl_usage(argv[0]);
	r = ctl_version_control(c, argv[1], argv[2], "user.modelfs.lifecycle", state,
				strlen(state), false, lifecycle_direct, &v);
	return done(c, r, "lifecycle", argv[1], argv[2], state);
}

/* modelctl tag MODEL VERSION NAME[=VALUE] | -d NAME */
int cmd_tag(struct ctl *c, int argc, char **argv)
{
	bool remove = argc == 5 && !strcmp(argv[3], "-d");
	char name[256], xattr[300];
	const char *eq, *spec;
	struct val v;
	int r;

	if (argc != 4 && !remove)
		return ctl_usage(argv[0]);
	spec = remove ? argv[4] : argv[3];
	if (!spec)
		return EXIT_FAILURE;
	eq = remove ? NULL : strchr(spec, '=');
	snprintf(name, sizeof(name), "%.*s", (int)(eq ? (size_t)(eq - spec) : strlen(spec)), spec);
	snprintf(xattr, sizeof(xattr), "user.modelfs.tag.%s", name);
	v.tag = name;
	v.s = remove ? NULL : eq ? eq + 1 : "";
	v.len = v.s ? strlen(v.s) : 0;
	r = ctl_version_control(c, argv[1], argv[2], xattr, v.s, v.len, remove, tag_direct, &v);
	return done(c, r, remove ? "untag" : "tag", argv[1], argv[2], name);
}
