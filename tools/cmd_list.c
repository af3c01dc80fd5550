/* cmd_list.c - modelctl list [MODEL] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "meta.h"
#include "alias.h"
#include "promote.h"
#include "model.h"
#include "version.h"

/* Print what `list` found (as --json prints it) as JSON or as a table,
 * whether it came from the store or through the mount. Frees arr. */
static void print_list(const struct ctl *c, cJSON *arr, bool versions)
{
	const cJSON *o, *a;

	if (c->json) {
		ctl_print_json(arr);
		return;
	}
	if (versions)
		printf("%-24s %-8s %14s %7s %s\n", "VERSION", "STATE", "SIZE", "FILES", "ALIASES");
	else
		printf("%-32s %8s %-16s %s\n", "MODEL", "VERSIONS", "LATEST", "ALIASES");
	cJSON_ArrayForEach(o, arr) {
		char aliases[1024] = "";
		size_t l = 0;

		cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(o, "aliases")) {
			l += (size_t)snprintf(aliases + l, sizeof(aliases) - l, versions ? "%s%s" : "%s%s=%s",
					      l ? (versions ? "," : " ") : "",
					      versions ? cJSON_GetStringValue(a) : a->string,
					      versions ? "" : cJSON_GetStringValue(a));
			if (l >= sizeof(aliases))
				break;
		}
		if (versions) {
			printf("%-24s %-8s %14.0f %7.0f %s\n",
			       cJSON_GetStringValue(cJSON_GetObjectItem(o, "version")),
			       cJSON_GetStringValue(cJSON_GetObjectItem(o, "state")),
			       cJSON_GetNumberValue(cJSON_GetObjectItem(o, "size")),
			       cJSON_GetNumberValue(cJSON_GetObjectItem(o, "files")), aliases);
		} else {
			const char *latest = cJSON_GetStringValue(cJSON_GetObjectItem(o, "latest"));

			printf("%-32s %8.0f %-16s %s\n",
			       cJSON_GetStringValue(cJSON_GetObjectItem(o, "model")),
			       cJSON_GetNumberValue(cJSON_GetObjectItem(o, "versions")),
			       latest ? latest : "-", aliases);
		}
	}
	cJSON_Delete(arr);
}

static int list_models(struct ctl *c, struct mfs_store *st)
{
	struct mfs_model_info *m = NULL;
	size_t n = 0;
	cJSON *arr = cJSON_CreateArray();
	int r;

	r = mfs_model_list(st, &m, &n);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct mfs_version_info *v = NULL, lv;
		struct mfs_alias_info *a = NULL;
		size_t nv = 0, na = 0;
		bool has_latest = mfs_alias_latest(st, m[i].id, &lv) == 0;
		cJSON *o = cJSON_CreateObject(), *al;

		mfs_version_list(st, m[i].id, &v, &nv);
		mfs_alias_list(st, m[i].id, &a, &na);
		cJSON_AddStringToObject(o, "model", m[i].name);
		cJSON_AddNumberToObject(o, "versions", (double)nv);
		if (has_latest)
			cJSON_AddStringToObject(o, "latest", lv.name);
		else
			cJSON_AddNullToObject(o, "latest");
		al = cJSON_AddObjectToObject(o, "aliases");
		for (size_t j = 0; j < na; j++)
			cJSON_AddStringToObject(al, a[j].name, a[j].version);
		cJSON_AddItemToArray(arr, o);
		free(v);
		free(a);
	}
out:
	free(m);
	if (r == 0)
		print_list(c, arr, false);
	else
		cJSON_Delete(arr);
	return r;
}

static int list_versions(struct ctl *c, struct mfs_store *st, const char *model)
{
	struct mfs_model_info mi;
	struct mfs_version_info *v = NULL;
	size_t nv = 0;
	cJSON *arr;
	int r;

	r = mfs_model_lookup(st, model, &mi);
	if (r < 0) {
		fprintf(stderr, "modelctl: no model '%s'\n", model);
		return r;
	}
	r = mfs_version_list(st, mi.id, &v, &nv);
	if (r < 0)
		return r;
	arr = cJSON_CreateArray();
	for (size_t i = 0; i < nv; i++) {
		struct mfs_alias_info *a = NULL;
		size_t na = 0;
		cJSON *o = cJSON_CreateObject(), *al;

		mfs_alias_list_for(st, v[i].id, &a, &na);
		cJSON_AddStringToObject(o, "version", v[i].name);
		cJSON_AddStringToObject(o, "state", mfs_vstate_name(v[i].state));
		cJSON_AddNumberToObject(o, "size", (double)v[i].size);
		cJSON_AddNumberToObject(o, "files", (double)v[i].nfiles);
		al = cJSON_AddArrayToObject(o, "aliases");
		for (size_t j = 0; j < na; j++)
			cJSON_AddItemToArray(al, cJSON_CreateString(a[j].name));
		cJSON_AddItemToArray(arr, o);
		free(a);
	}
	free(v);
	print_list(c, arr, true);
	return 0;
}

/* The same answers through the mount: index.json, and each version. */
static int list_through_mount(struct ctl *c, const char *model)
{
	cJSON *arr = cJSON_CreateArray(), *idx = NULL, *models, *m;

	if (model) {
		cJSON_Delete(arr);
		arr = mnt_versions(c, model);
		if (!arr) {
			fprintf(stderr, "modelctl: no model '%s'\n", model);
			return -ENOENT;
		}
	} else {
		idx = mnt_json(c, "index.json", NULL, NULL);
		models = idx ? cJSON_GetObjectItemCaseSensitive(idx, "models") : NULL;
		cJSON_ArrayForEach(m, models) {
			cJSON *o = cJSON_CreateObject();
			double live = cJSON_GetNumberValue(cJSON_GetObjectItem(m, "versions")) +
				      cJSON_GetNumberValue(cJSON_GetObjectItem(m, "drafts"));

			cJSON_AddItemToObject(o, "model", cJSON_Duplicate(cJSON_GetObjectItem(m, "model"), 1));
			cJSON_AddNumberToObject(o, "versions", live);
			cJSON_AddItemToObject(o, "latest", cJSON_Duplicate(cJSON_GetObjectItem(m, "latest"), 1));
			cJSON_AddItemToObject(o, "aliases", cJSON_Duplicate(cJSON_GetObjectItem(m, "aliases"), 1));
			cJSON_AddItemToArray(arr, o);
		}
		cJSON_Delete(idx);
	}
	print_list(c, arr, model != NULL);
	return 0;
}

int cmd_list(struct ctl *c, int argc, char **argv)
{
	struct mfs_store *st = NULL;
	int r;

	if (argc > 2)
		return ctl_usage(argv[0]);
	if (ctl_open_read(c, &st) < 0)
		return EXIT_FAILURE;
	if (!st)
		return list_through_mount(c, argc == 2 ? argv[1] : NULL) < 0 ? EXIT_FAILURE :
									     EXIT_SUCCESS;
	r = argc == 2 ? list_versions(c, st, argv[1]) : list_models(c, st);
	mfs_store_close(st);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
