/* cmd_diff.c - modelctl diff MODEL A B */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "meta.h"
#include "model.h"
#include "version.h"

/*
 * What changed from version A to version B of one model: user metadata
 * keys, hyperparameters, metrics (with deltas), and files by path
 * (added, removed, changed digest or format). Read from the same rendering
 * as metadata.json.
 */

static cJSON *metadata_of(const struct ctl *c, struct mfs_store *st, const char *model,
			  const char *version)
{
	struct mfs_model_info mi;
	struct mfs_version_info vi;
	char *txt = NULL;
	size_t len;
	cJSON *j = NULL;

	if (!st)
		return mnt_json(c, "models/%s/versions/%s/metadata.json", model, version);
	if (mfs_model_lookup(st, model, &mi) < 0 ||
	    mfs_version_lookup(st, mi.id, version, false, &vi) < 0)
		return NULL;
	if (mfs_version_render_metadata(st, vi.id, &txt, &len) == 0)
		j = cJSON_ParseWithLength(txt, len);
	free(txt);
	return j;
}

static bool skipped(const char *const *skip, const char *key)
{
	for (const char *const *s = skip; s && *s; s++)
		if (!strcmp(*s, key))
			return true;
	return false;
}

/* Compare two objects key by key into {added, removed, changed}. */
static cJSON *diff_objects(const cJSON *a, const cJSON *b, const char *const *skip)
{
	cJSON *out = cJSON_CreateObject();
	cJSON *added = cJSON_AddObjectToObject(out, "added");
	cJSON *removed = cJSON_AddObjectToObject(out, "removed");
	cJSON *changed = cJSON_AddObjectToObject(out, "changed");
	const cJSON *it;

	cJSON_ArrayForEach(it, a) {
		const cJSON *other = cJSON_GetObjectItemCaseSensitive(b, it->string);

		if (skipped(skip, it->string))
			continue;
		if (!other) {
			cJSON_AddItemToObject(removed, it->string, cJSON_Duplicate(it, 1));
		} else if (!cJSON_Compare(it, other, 1)) {
			cJSON *c = cJSON_CreateObject();

			cJSON_AddItemToObject(c, "from", cJSON_Duplicate(it, 1));
			cJSON_AddItemToObject(c, "to", cJSON_Duplicate(other, 1));
			cJSON_AddItemToObject(changed, it->string, c);
		}
	}
	cJSON_ArrayForEach(it, b) {
		if (!skipped(skip, it->string) && !cJSON_GetObjectItemCaseSensitive(a, it->string))
			cJSON_AddItemToObject(added, it->string, cJSON_Duplicate(it, 1));
	}
	return out;
}

static cJSON *diff_metrics(const cJSON *a, const cJSON *b)
{
	cJSON *out = cJSON_CreateObject();
	const cJSON *it;

	cJSON_ArrayForEach(it, a) {
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(b, it->string);
		cJSON *m = cJSON_CreateObject();

		cJSON_AddItemToObject(m, "from", cJSON_Duplicate(it, 1));
		cJSON_AddItemToObject(m, "to", o ? cJSON_Duplicate(o, 1) : cJSON_CreateNull());
		if (cJSON_IsNumber(it) && cJSON_IsNumber(o))
			cJSON_AddNumberToObject(m, "delta", o->valuedouble - it->valuedouble);
		cJSON_AddItemToObject(out, it->string, m);
	}
	cJSON_ArrayForEach(it, b) {
		cJSON *m;

		if (cJSON_GetObjectItemCaseSensitive(a, it->string))
			continue;
		m = cJSON_CreateObject();
		cJSON_AddNullToObject(m, "from");
		cJSON_AddItemToObject(m, "to", cJSON_Duplicate(it, 1));
		cJSON_AddItemToObject(out, it->string, m);
	}
	return out;
}

static const cJSON *file_in(const cJSON *files, const char *path)
{
	const cJSON *f;

	cJSON_ArrayForEach(f, files)
		if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "path")), path))
			return f;
	return NULL;
}

static cJSON *diff_files(const cJSON *a, const cJSON *b)
{
	cJSON *out = cJSON_CreateObject();
	cJSON *added = cJSON_AddArrayToObject(out, "added");
	cJSON *removed = cJSON_AddArrayToObject(out, "removed");
	cJSON *changed = cJSON_AddArrayToObject(out, "changed");
	const cJSON *f;

	cJSON_ArrayForEach(f, a) {
		const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "path"));
		const cJSON *o = file_in(b, path);

		if (!o) {
			cJSON_AddItemToArray(removed, cJSON_CreateString(path));
		} else if (!cJSON_Compare(cJSON_GetObjectItemCaseSensitive(f, "digest"),
					  cJSON_GetObjectItemCaseSensitive(o, "digest"), 1)) {
			cJSON *c = cJSON_CreateObject();
			const cJSON *fa = cJSON_GetObjectItemCaseSensitive(f, "format");
			const cJSON *fb = cJSON_GetObjectItemCaseSensitive(o, "format");

			cJSON_AddStringToObject(c, "path", path);
			cJSON_AddItemToObject(c, "from", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(f, "digest"), 1));
			cJSON_AddItemToObject(c, "to", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(o, "digest"), 1));
			if (fa && fb && !cJSON_Compare(fa, fb, 1)) {
				cJSON_AddItemToObject(c, "from_format", cJSON_Duplicate(fa, 1));
				cJSON_AddItemToObject(c, "to_format", cJSON_Duplicate(fb, 1));
			}
			cJSON_AddItemToArray(changed, c);
		}
	}
	cJSON_ArrayForEach(f, b) {
		const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "path"));

		if (!file_in(a, path))
			cJSON_AddItemToArray(added, cJSON_CreateString(path));
	}
	return out;
}

static void print_obj_diff(const char *title, const cJSON *d)
{
	const cJSON *it;
	char *s, *t;

	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(d, "added")) {
		s = cJSON_PrintUnformatted(it);
		printf("%s + %s: %s\n", title, it->string, s);
		free(s);
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(d, "removed")) {
		s = cJSON_PrintUnformatted(it);
		printf("%s - %s: %s\n", title, it->string, s);
		free(s);
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(d, "changed")) {
		s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(it, "from"));
		t = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(it, "to"));
		printf("%s ~ %s: %s -> %s\n", title, it->string, s, t);
		free(s);
		free(t);
	}
}

/* Does the diff out say anything changed? */
static bool differs(const cJSON *out)
{
	static const char *const objs[] = { "metadata", "hyperparameters", "files" };
	static const char *const kinds[] = { "added", "removed", "changed" };
	const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(out, "formats");
	const cJSON *m;

	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++)
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
				    cJSON_GetObjectItemCaseSensitive(out, objs[i]), kinds[k])) > 0)
				return true;
	/* Metrics are all listed, the same ones too. */
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(out, "metrics"))
		if (!cJSON_Compare(cJSON_GetObjectItemCaseSensitive(m, "from"),
				   cJSON_GetObjectItemCaseSensitive(m, "to"), true))
			return true;
	return !cJSON_Compare(cJSON_GetObjectItemCaseSensitive(fmt, "from"),
			      cJSON_GetObjectItemCaseSensitive(fmt, "to"), true);
}

int cmd_diff(struct ctl *c, int argc, char **argv)
{
	static const char *const skip[] = { "registry", "metrics", "hyperparameters", NULL };
	struct mfs_store *st = NULL;
	cJSON *a = NULL, *b = NULL, *out = NULL, *ra, *rb, *empty;
	bool differ;
	int r = EXIT_FAILURE;

	if (argc != 4)
		return ctl_usage(argv[0]);
	if (ctl_open_read(c, &st) < 0)
		return EXIT_FAILURE;
	a = metadata_of(c, st, argv[1], argv[2]);
	b = metadata_of(c, st, argv[1], argv[3]);
	if (!a || !b) {
		fprintf(stderr, "modelctl: no version '%s@%s'\n", argv[1], !a ? argv[2] : argv[3]);
		goto out;
	}
	empty = cJSON_CreateObject();
	ra = cJSON_GetObjectItemCaseSensitive(a, "registry");
	rb = cJSON_GetObjectItemCaseSensitive(b, "registry");
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "model", argv[1]);
	cJSON_AddStringToObject(out, "from", argv[2]);
	cJSON_AddStringToObject(out, "to", argv[3]);
	cJSON_AddItemToObject(out, "metadata", diff_objects(a, b, skip));
	cJSON_AddItemToObject(out, "hyperparameters",
			      diff_objects(cJSON_GetObjectItemCaseSensitive(a, "hyperparameters") ?: empty,
					   cJSON_GetObjectItemCaseSensitive(b, "hyperparameters") ?: empty, NULL));
	cJSON_AddItemToObject(out, "metrics",
			      diff_metrics(cJSON_GetObjectItemCaseSensitive(a, "metrics") ?: empty,
					   cJSON_GetObjectItemCaseSensitive(b, "metrics") ?: empty));
	cJSON_AddItemToObject(out, "files",
			      diff_files(ra ? cJSON_GetObjectItemCaseSensitive(ra, "files") : NULL,
					 rb ? cJSON_GetObjectItemCaseSensitive(rb, "files") : NULL));
	{
		cJSON *fmt = cJSON_AddObjectToObject(out, "formats");
		cJSON *fa = ra ? cJSON_GetObjectItemCaseSensitive(ra, "formats") : NULL;
		cJSON *fb = rb ? cJSON_GetObjectItemCaseSensitive(rb, "formats") : NULL;

		cJSON_AddItemToObject(fmt, "from", fa ? cJSON_Duplicate(fa, 1) : cJSON_CreateArray());
		cJSON_AddItemToObject(fmt, "to", fb ? cJSON_Duplicate(fb, 1) : cJSON_CreateArray());
	}
	cJSON_Delete(empty);
	differ = differs(out);
	if (c->json) {
		ctl_print_json(out);
		out = NULL;
	} else {
		const cJSON *it;

		printf("%s: %s -> %s\n", argv[1], argv[2], argv[3]);
		print_obj_diff("metadata", cJSON_GetObjectItemCaseSensitive(out, "metadata"));
		print_obj_diff("hyperparameter", cJSON_GetObjectItemCaseSensitive(out, "hyperparameters"));
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(out, "metrics")) {
			const cJSON *d = cJSON_GetObjectItemCaseSensitive(it, "delta");
			char *s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(it, "from"));
			char *t = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(it, "to"));

			if (d)
				printf("metric %s: %s -> %s (%+g)\n", it->string, s, t, d->valuedouble);
			else
				printf("metric %s: %s -> %s\n", it->string, s, t);
			free(s);
			free(t);
		}
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(out, "files"), "added"))
			printf("file + %s\n", it->valuestring);
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(out, "files"), "removed"))
			printf("file - %s\n", it->valuestring);
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(out, "files"), "changed"))
			printf("file ~ %s\n", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "path")));
	}
	r = differ ? CTL_FAIL : CTL_OK;	/* as diff(1) */
out:
	cJSON_Delete(out);
	cJSON_Delete(a);
	cJSON_Delete(b);
	mfs_store_close(st);
	return r;
}
