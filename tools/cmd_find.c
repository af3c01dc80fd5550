/* cmd_find.c - modelctl find EXPR [--sort [-]FIELD] [--limit N] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "alias.h"
#include "meta.h"
#include "model.h"
#include "query.h"
#include "semver.h"
#include "version.h"

/*
 * One JSON object per live version: the registry's fields (model, version,
 * state, major, minor, patch, prerelease, alias, latest, created, sealed,
 * size, files, format) over the user's metadata keys, so `metrics.auc`,
 * `tags` or `dataset_snapshot_id` are paths like any other. The filter
 * language is store/query.h's. Formats are read only when the expression
 * or the sort asks for them (they need the version's file list).
 */

static cJSON *version_object(struct mfs_store *st, const struct mfs_model_info *m,
			     const struct mfs_version_info *v,
			     const struct mfs_alias_info *al, size_t nal,
			     const char *latest, bool with_formats)
{
	cJSON *o = NULL, *aliases;
	struct mfs_semver sv;
	char *txt = NULL, ts[40];
	size_t len;

	if (mfs_version_meta_get(st, v->id, &txt, &len) == 0)
		o = cJSON_ParseWithLength(txt, len);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		o = cJSON_CreateObject();
	}
	/* The metadata goes out as stored (cJSON would round integers beyond
	 * 2^53); the registry's fields win over user keys of the same name. */
	cJSON_AddItemToObject(o, "metadata", txt ? cJSON_CreateRaw(txt) : cJSON_CreateObject());
	free(txt);
	txt = NULL;
#define SET(key, item) do { cJSON_DeleteItemFromObjectCaseSensitive(o, key); \
			    cJSON_AddItemToObject(o, key, item); } while (0)
	SET("model", cJSON_CreateString(m->name));
	SET("version", cJSON_CreateString(v->name));
	SET("state", cJSON_CreateString(mfs_vstate_name(v->state)));
	if (mfs_semver_parse(v->name, &sv) == 0) {
		SET("major", cJSON_CreateNumber((double)sv.major));
		SET("minor", cJSON_CreateNumber((double)sv.minor));
		SET("patch", cJSON_CreateNumber((double)sv.patch));
		if (sv.pre_len) {
			char pre[256];

			snprintf(pre, sizeof(pre), "%.*s", (int)sv.pre_len, sv.pre);
			SET("prerelease", cJSON_CreateString(pre));
		} else {
			SET("prerelease", cJSON_CreateNull());
		}
	}
	aliases = cJSON_CreateArray();
	for (size_t i = 0; i < nal; i++)
		if (al[i].vid == v->id)
			cJSON_AddItemToArray(aliases, cJSON_CreateString(al[i].name));
	SET("aliases", cJSON_Duplicate(aliases, 1));
	SET("alias", aliases);
	SET("latest", cJSON_CreateBool(latest && !strcmp(latest, v->name)));
	mfs_time_rfc3339(v->created_ns, ts);
	SET("created", cJSON_CreateString(ts));
	if (v->state == MFS_V_SEALED) {
		mfs_time_rfc3339(v->sealed_ns, ts);
		SET("sealed", cJSON_CreateString(ts));
	} else {
		SET("sealed", cJSON_CreateNull());
	}
	SET("size", cJSON_CreateNumber((double)v->size));
	SET("files", cJSON_CreateNumber((double)v->nfiles));
	if (with_formats) {
		cJSON *r = NULL, *f = NULL;

		if (mfs_version_render_metadata(st, v->id, &txt, &len) == 0)
			r = cJSON_ParseWithLength(txt, len);
		free(txt);
		f = r ? cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "registry"),
							 "formats") : NULL;
		SET("format", f ? cJSON_Duplicate(f, 1) : cJSON_CreateArray());
		cJSON_Delete(r);
	}
#undef SET
	return o;
}

static const char *sort_key;
static int sort_dir = 1;


static int by_key(const void *pa, const void *pb)
{
	const cJSON *a = mfs_query_lookup(*(cJSON *const *)pa, sort_key);
	const cJSON *b = mfs_query_lookup(*(cJSON *const *)pb, sort_key);
	int c;

	/* Missing values sort last whatever the direction. */
	if (!a || cJSON_IsNull(a))
		return (!b || cJSON_IsNull(b)) ? 0 : 1;
	if (!b || cJSON_IsNull(b))
		return -1;
	if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
		c = a->valuedouble < b->valuedouble ? -1 : a->valuedouble > b->valuedouble;
	else if (cJSON_IsString(a) && cJSON_IsString(b))
		c = strcmp(a->valuestring, b->valuestring);
	else
		c = 0;
	return c * sort_dir;
}

int cmd_find(struct ctl *c, int argc, char **argv)
{
	const char *text = NULL, *sort = NULL;
	struct mfs_query *q = NULL;
	struct mfs_store *st = NULL;
	struct mfs_model_info *models = NULL;
	cJSON **hits = NULL;
	size_t nm = 0, nh = 0, cap = 0;
	long limit = -1;
	char why[200];
	int col = 0, r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--sort") && i + 1 < argc)
			sort = argv[++i];
		else if (!strcmp(argv[i], "--limit") && i + 1 < argc)
			limit = strtol(argv[++i], NULL, 10);
		else if (!text)
			text = argv[i];
		else
			text = NULL, i = argc;
	}
	if (!text || limit < -1) {
		fprintf(stderr, "usage: modelctl find EXPR [--sort [-]FIELD] [--limit N] [--json]\n");
		return EXIT_FAILURE;
	}
	r = mfs_query_parse(text, &q, &col, why, sizeof(why));
	if (r < 0) {
		fprintf(stderr, "modelctl: find: syntax error at column %d: %s\n  %s\n  %*s^\n", col,
			why, text, col - 1, "");
		return 2;
	}
	if (ctl_open_read(c, &st) < 0) {
		mfs_query_free(q);
		return EXIT_FAILURE;
	}
	if (sort) {
		sort_dir = sort[0] == '-' ? -1 : 1;
		sort_key = sort[0] == '-' ? sort + 1 : sort;
	}
	r = mfs_model_list(st, &models, &nm);
	for (size_t i = 0; r == 0 && i < nm; i++) {
		struct mfs_version_info *v = NULL, lv;
		struct mfs_alias_info *al = NULL;
		size_t nv = 0, nal = 0;
		bool has_latest = mfs_alias_latest(st, models[i].id, &lv) == 0;
		bool formats = mfs_query_uses(q, "format") || (sort_key && !strcmp(sort_key, "format"));

		if (mfs_version_list(st, models[i].id, &v, &nv) < 0)
			continue;
		mfs_alias_list(st, models[i].id, &al, &nal);
		for (size_t j = 0; j < nv; j++) {
			cJSON *o = version_object(st, &models[i], &v[j], al, nal,
						  has_latest ? lv.name : NULL, formats);

			if (!mfs_query_match(q, o)) {
				cJSON_Delete(o);
				continue;
			}
			if (nh == cap) {
				void *p = realloc(hits, (cap = cap ? 2 * cap : 64) * sizeof(*hits));

				if (!p) {
					cJSON_Delete(o);
					r = -ENOMEM;
					break;
				}
				hits = p;
			}
			hits[nh++] = o;
		}
		free(v);
		free(al);
	}
	if (r == 0 && sort_key && nh)
		qsort(hits, nh, sizeof(*hits), by_key);
	if (limit >= 0 && (size_t)limit < nh) {
		for (size_t i = (size_t)limit; i < nh; i++)
			cJSON_Delete(hits[i]);
		nh = (size_t)limit;
	}
	if (r == 0 && c->json) {
		cJSON *arr = cJSON_CreateArray();

		for (size_t i = 0; i < nh; i++) {
			cJSON *o = cJSON_CreateObject();
			static const char *const keys[] = { "model", "version", "state", "aliases",
				"created", "sealed", "size", "files", "format", "metadata" };

			for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
				cJSON *it = cJSON_DetachItemFromObjectCaseSensitive(hits[i], keys[k]);

				if (it)
					cJSON_AddItemToObject(o, keys[k], it);
			}
			cJSON_AddItemToArray(arr, o);
		}
		ctl_print_json(arr);
	} else if (r == 0) {
		printf("%-32s %-20s %-8s %s\n", "MODEL", "VERSION", "STATE", "ALIASES");
		for (size_t i = 0; i < nh; i++) {
			char al[512] = "";
			const cJSON *it;

			cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(hits[i], "aliases")) {
				size_t l = strlen(al);

				snprintf(al + l, sizeof(al) - l, "%s%s", l ? "," : "", it->valuestring);
			}
			printf("%-32s %-20s %-8s %s\n",
			       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hits[i], "model")),
			       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hits[i], "version")),
			       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hits[i], "state")), al);
		}
	}
	for (size_t i = 0; i < nh; i++)
		cJSON_Delete(hits[i]);
	free(hits);
	free(models);
	mfs_query_free(q);
	mfs_store_close(st);
	if (r < 0) {
		fprintf(stderr, "modelctl: find: %s\n", strerror(-r));
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}
