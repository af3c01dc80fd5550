/* cmd_show.c - modelctl show MODEL[@VERSION] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "alias.h"
#include "promote.h"
#include "model.h"
#include "version.h"

static cJSON *version_json(struct mfs_store *st, const struct mfs_version_info *v,
			   const char *model)
{
	cJSON *o = NULL, *reg, *meta;
	char *txt = NULL;
	size_t len;

	if (mfs_version_render_metadata(st, v->id, &txt, &len) == 0)
		o = cJSON_ParseWithLength(txt, len);
	free(txt);
	if (!o)
		o = cJSON_CreateObject();
	reg = cJSON_DetachItemFromObjectCaseSensitive(o, "registry");
	cJSON_Delete(o);
	/* The user's metadata goes out as stored, byte for byte: cJSON would
	 * round integers beyond 2^53 (nanosecond timestamps). */
	meta = NULL;
	if (mfs_version_meta_get(st, v->id, &txt, &len) == 0) {
		meta = cJSON_CreateRaw(txt);
		free(txt);
	}
	if (!meta)
		meta = cJSON_CreateObject();
	if (!reg) {
		/* A draft: what the registry knows so far. */
		char ts[40];

		reg = cJSON_CreateObject();
		cJSON_AddStringToObject(reg, "model", model);
		cJSON_AddStringToObject(reg, "version", v->name);
		cJSON_AddStringToObject(reg, "state", mfs_vstate_name(v->state));
		mfs_time_rfc3339(v->created_ns, ts);
		cJSON_AddStringToObject(reg, "created", ts);
		cJSON_AddNumberToObject(reg, "created_uid", v->uid);
		cJSON_AddArrayToObject(reg, "aliases");
		cJSON_AddArrayToObject(reg, "files");
	}
	cJSON_AddItemToObject(reg, "metadata", meta);
	return reg;
}

static void print_version(cJSON *v)
{
	cJSON *f;

	printf("%s@%s  %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(v, "model")),
	       cJSON_GetStringValue(cJSON_GetObjectItem(v, "version")),
	       cJSON_GetStringValue(cJSON_GetObjectItem(v, "state")));
	if (cJSON_GetObjectItem(v, "sealed"))
		printf("  sealed %s by uid %d, %.0f bytes\n",
		       cJSON_GetStringValue(cJSON_GetObjectItem(v, "sealed")),
		       (int)cJSON_GetNumberValue(cJSON_GetObjectItem(v, "sealed_uid")),
		       cJSON_GetNumberValue(cJSON_GetObjectItem(v, "size")));
	cJSON_ArrayForEach(f, cJSON_GetObjectItem(v, "aliases"))
		printf("  alias %s\n", f->valuestring);
	cJSON_ArrayForEach(f, cJSON_GetObjectItem(v, "files")) {
		const char *dg = cJSON_GetStringValue(cJSON_GetObjectItem(f, "digest"));

		printf("  %s  %12.0f  %s\n", dg ? dg : "-> symlink                       ",
		       cJSON_GetNumberValue(cJSON_GetObjectItem(f, "size")),
		       cJSON_GetStringValue(cJSON_GetObjectItem(f, "path")));
	}
}

/* The same answers read through the mount (index.json, metadata.json). */
static int show_through_mount(struct ctl *c, const char *model, const char *version)
{
	cJSON *out = NULL;

	if (version) {
		out = mnt_version(c, model, version);
		if (!out) {
			fprintf(stderr, "modelctl: no version '%s@%s'\n", model, version);
			return EXIT_FAILURE;
		}
		if (!c->json)
			print_version(out);
	} else {
		cJSON *idx = mnt_json(c, "index.json", NULL, NULL), *m = NULL, *vs, *models;

		models = idx ? cJSON_GetObjectItemCaseSensitive(idx, "models") : NULL;
		cJSON_ArrayForEach(m, models)
			if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "model")), model))
				break;
		if (!m) {
			cJSON_Delete(idx);
			fprintf(stderr, "modelctl: no model '%s'\n", model);
			return EXIT_FAILURE;
		}
		out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "model", model);
		cJSON_AddItemToObject(out, "owner_uid",
				      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(m, "owner_uid"), 1));
		vs = mnt_versions(c, model);
		cJSON_AddItemToObject(out, "versions", vs ? vs : cJSON_CreateArray());
		cJSON_AddItemToObject(out, "aliases", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(m, "aliases"), 1));
		cJSON_AddItemToObject(out, "latest", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(m, "latest"), 1));
		cJSON_Delete(idx);
		if (!c->json) {
			cJSON *it;

			printf("%s\n", model);
			cJSON_ArrayForEach(it, vs)
				printf("  %-24s %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(it, "version")),
				       cJSON_GetStringValue(cJSON_GetObjectItem(it, "state")));
		}
	}
	if (c->json)
		ctl_print_json(out);
	else
		cJSON_Delete(out);
	return EXIT_SUCCESS;
}

int cmd_show(struct ctl *c, int argc, char **argv)
{
	struct mfs_store *st = NULL;
	struct mfs_model_info mi;
	char *model, *version;
	cJSON *out = NULL;
	int r;

	if (argc != 2)
		return ctl_usage(argv[0]);
	ctl_split_ref(argv[1], &model, &version);
	if (ctl_open_read(c, &st) < 0)
		return EXIT_FAILURE;
	if (!st)
		return show_through_mount(c, model, version);
	r = mfs_model_lookup(st, model, &mi);
	if (r < 0) {
		fprintf(stderr, "modelctl: no model '%s'\n", model);
		goto out;
	}
	if (version) {
		struct mfs_version_info vi;

		r = mfs_version_lookup(st, mi.id, version, false, &vi);
		if (r < 0) {
			fprintf(stderr, "modelctl: no version '%s@%s'\n", model, version);
			goto out;
		}
		out = version_json(st, &vi, model);
		if (!c->json)
			print_version(out);
	} else {
		struct mfs_version_info *v = NULL, lv;
		struct mfs_alias_info *a = NULL;
		size_t nv = 0, na = 0;
		cJSON *vs, *al;

		out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "model", model);
		cJSON_AddNumberToObject(out, "owner_uid", mi.uid);
		vs = cJSON_AddArrayToObject(out, "versions");
		mfs_version_list(st, mi.id, &v, &nv);
		for (size_t i = 0; i < nv; i++) {
			cJSON *o = cJSON_CreateObject(), *an;
			struct mfs_alias_info *va = NULL;
			size_t nva = 0;

			cJSON_AddStringToObject(o, "version", v[i].name);
			cJSON_AddStringToObject(o, "state", mfs_vstate_name(v[i].state));
			cJSON_AddNumberToObject(o, "size", (double)v[i].size);
			cJSON_AddNumberToObject(o, "files", (double)v[i].nfiles);
			an = cJSON_AddArrayToObject(o, "aliases");
			mfs_alias_list_for(st, v[i].id, &va, &nva);
			for (size_t j = 0; j < nva; j++)
				cJSON_AddItemToArray(an, cJSON_CreateString(va[j].name));
			free(va);
			cJSON_AddItemToArray(vs, o);
		}
		free(v);
		al = cJSON_AddObjectToObject(out, "aliases");
		mfs_alias_list(st, mi.id, &a, &na);
		for (size_t j = 0; j < na; j++)
			cJSON_AddStringToObject(al, a[j].name, a[j].version);
		free(a);
		if (mfs_alias_latest(st, mi.id, &lv) == 0)
			cJSON_AddStringToObject(out, "latest", lv.name);
		else
			cJSON_AddNullToObject(out, "latest");
		if (!c->json) {
			cJSON *it;

			printf("%s  (owner uid %u)\n", model, (unsigned)mi.uid);
			cJSON_ArrayForEach(it, vs)
				printf("  %-24s %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(it, "version")),
				       cJSON_GetStringValue(cJSON_GetObjectItem(it, "state")));
			cJSON_ArrayForEach(it, al)
				printf("  %s -> versions/%s\n", it->string, it->valuestring);
		}
	}
	if (c->json) {
		ctl_print_json(out);
		out = NULL;
	}
out:
	cJSON_Delete(out);
	mfs_store_close(st);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
