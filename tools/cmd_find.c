/* cmd_find.c - modelctl find EXPR [--sort [-]FIELD] [--limit N] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "alias.h"
#include "promote.h"
#include "meta.h"
#include "model.h"
#include "annot.h"
#include "query.h"
#include "semver.h"
#include "version.h"

/*
 * One JSON object per live version: the registry's fields (model, version,
 * state, major, minor, patch, prerelease, alias, latest, created, sealed,
 * size, files, format, lifecycle, tag, approvals, approved_by) over the
 * user's metadata keys, so `metrics.auc`, `tags` or `dataset_snapshot_id`
 * are paths like any other. The filter
 * language is store/query.h's. Formats are read only when the expression
 * or the sort asks for them (they need the version's file list).
 */

/* The object a version is matched against. Consumes user, meta, aliases,
 * formats (may be NULL: not asked for) and annot (its annotations: an
 * object with lifecycle, tags and approvals, or NULL). */
static cJSON *record(cJSON *user, cJSON *meta, const char *model, const char *version,
		     const char *state, cJSON *aliases, bool latest, const char *created,
		     const char *sealed, double size, double files, cJSON *formats,
		     cJSON *annot)
{
	const cJSON *lc = cJSON_GetObjectItemCaseSensitive(annot, "lifecycle"), *a;
	cJSON *tags = cJSON_DetachItemFromObjectCaseSensitive(annot, "tags");
	cJSON *o = cJSON_IsObject(user) ? user : cJSON_CreateObject();
	cJSON *counts = cJSON_CreateObject(), *by = cJSON_CreateObject();
	struct mfs_semver sv;

	/* approvals.ALIAS: how many have approved it for ALIAS (the store
	 * keeps one approval per user and alias, never the creator's);
	 * approved_by.ALIAS: their names. */
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(annot, "approvals")) {
		const char *al = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "alias"));
		const char *who = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "user"));
		cJSON *n, *names;

		if (!al)
			continue;
		n = cJSON_GetObjectItemCaseSensitive(counts, al);
		if (!n) {
			n = cJSON_AddNumberToObject(counts, al, 0);
			names = cJSON_AddArrayToObject(by, al);
		} else {
			names = cJSON_GetObjectItemCaseSensitive(by, al);
		}
		if (n)
			cJSON_SetNumberValue(n, n->valuedouble + 1);
		if (names && who)
			cJSON_AddItemToArray(names, cJSON_CreateString(who));
	}

	if (o != user)
		cJSON_Delete(user);
	/* The registry's fields win over user keys of the same name. */
#define SET(key, item) do { cJSON_DeleteItemFromObjectCaseSensitive(o, key); \
			    cJSON_AddItemToObject(o, key, item); } while (0)
	SET("metadata", meta);
	SET("model", cJSON_CreateString(model));
	SET("version", cJSON_CreateString(version));
	SET("state", cJSON_CreateString(state));
	if (mfs_semver_parse(version, &sv) == 0) {
		char pre[256];

		SET("major", cJSON_CreateNumber((double)sv.major));
		SET("minor", cJSON_CreateNumber((double)sv.minor));
		SET("patch", cJSON_CreateNumber((double)sv.patch));
		snprintf(pre, sizeof(pre), "%.*s", (int)sv.pre_len, sv.pre ? sv.pre : "");
		SET("prerelease", sv.pre_len ? cJSON_CreateString(pre) : cJSON_CreateNull());
	}
	SET("aliases", cJSON_Duplicate(aliases, 1));
	SET("alias", aliases);
	SET("latest", cJSON_CreateBool(latest));
	SET("created", cJSON_CreateString(created));
	SET("sealed", sealed ? cJSON_CreateString(sealed) : cJSON_CreateNull());
	SET("size", cJSON_CreateNumber(size));
	SET("files", cJSON_CreateNumber(files));
	if (formats)
		SET("format", formats);
	SET("lifecycle", cJSON_CreateString(cJSON_GetStringValue(lc) ? lc->valuestring : "active"));
	SET("tag", cJSON_IsObject(tags) ? tags : cJSON_CreateObject());
	SET("approvals", counts);
	SET("approved_by", by);
	if (!cJSON_IsObject(tags))
		cJSON_Delete(tags);
	cJSON_Delete(annot);
#undef SET
	return o;
}

/* Every version's metadata and annotations, read in one pass before the
 * walk (mfs_version_docs_each()): by vid, ascending. */
struct doc {
	uint64_t vid;
	char *meta, *annot;	/* NUL-terminated copies; NULL: none */
};

struct docs {
	struct doc *v;
	size_t n, cap;
};

static int keep_doc(void *ctx, uint64_t vid, const char *meta, size_t meta_len,
		    const char *annot, size_t annot_len)
{
	struct docs *ds = ctx;
	struct doc *d;

	if (ds->n == ds->cap) {
		size_t cap = ds->cap ? 2 * ds->cap : 1024;
		struct doc *p = realloc(ds->v, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		ds->v = p;
		ds->cap = cap;
	}
	d = &ds->v[ds->n];
	d->vid = vid;
	d->meta = meta ? strndup(meta, meta_len) : NULL;
	d->annot = annot ? strndup(annot, annot_len) : NULL;
	if ((meta && !d->meta) || (annot && !d->annot)) {
		free(d->meta);
		free(d->annot);
		return -ENOMEM;
	}
	ds->n++;
	return 0;
}

static void docs_release(struct docs *ds)
{
	for (size_t i = 0; i < ds->n; i++) {
		free(ds->v[i].meta);
		free(ds->v[i].annot);
	}
	free(ds->v);
}

static const struct doc *doc_of(const struct docs *ds, uint64_t vid)
{
	size_t lo = 0, hi = ds->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ds->v[mid].vid == vid)
			return &ds->v[mid];
		if (ds->v[mid].vid < vid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static cJSON *version_object(struct mfs_store *st, const struct docs *ds,
			     const struct mfs_model_info *m, const struct mfs_version_info *v,
			     const struct mfs_alias_info *al, size_t nal,
			     const char *latest, bool with_formats)
{
	cJSON *user = NULL, *meta, *aliases = cJSON_CreateArray(), *formats = NULL;
	cJSON *annot = NULL;
	const struct doc *d = doc_of(ds, v->id);
	const char *mt = d && d->meta ? d->meta : "{}";
	char *txt = NULL, created[40], sealed[40];
	size_t len;

	user = cJSON_Parse(mt);
	/* The metadata goes out as stored: cJSON would round integers
	 * beyond 2^53. */
	meta = cJSON_CreateRaw(mt);
	for (size_t i = 0; i < nal; i++)
		if (al[i].vid == v->id)
			cJSON_AddItemToArray(aliases, cJSON_CreateString(al[i].name));
	mfs_time_rfc3339(v->created_ns, created);
	mfs_time_rfc3339(v->sealed_ns, sealed);
	if (with_formats) {
		cJSON *r = NULL, *f;

		txt = NULL;
		if (mfs_version_render_metadata(st, v->id, &txt, &len) == 0)
			r = cJSON_ParseWithLength(txt, len);
		free(txt);
		f = r ? cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "registry"),
							 "formats") : NULL;
		formats = f ? cJSON_Duplicate(f, 1) : cJSON_CreateArray();
		cJSON_Delete(r);
	}
	annot = cJSON_Parse(d && d->annot ? d->annot : "{}");
	return record(user, meta, m->name, v->name, mfs_vstate_name(v->state), aliases,
		      latest && !strcmp(latest, v->name), created,
		      v->state == MFS_V_SEALED ? sealed : NULL, (double)v->size,
		      (double)v->nfiles, formats, annot);
}

/* The annotations a version's registry object shows. */
static cJSON *annot_of(cJSON *v)
{
	cJSON *a = cJSON_CreateObject();

	cJSON_AddItemToObject(a, "lifecycle", cJSON_DetachItemFromObjectCaseSensitive(v, "lifecycle"));
	cJSON_AddItemToObject(a, "tags", cJSON_DetachItemFromObjectCaseSensitive(v, "tags"));
	cJSON_AddItemToObject(a, "approvals", cJSON_DetachItemFromObjectCaseSensitive(v, "approvals"));
	return a;
}

/* The same object from what the mount shows (show_through_mount's view). */
static cJSON *version_object_mnt(const struct ctl *c, const char *model, const char *version,
				 const char *latest, bool with_formats)
{
	cJSON *v = mnt_version(c, model, version), *o, *f, *meta, *user, *aliases;

	if (!v)
		return NULL;
	f = cJSON_GetObjectItemCaseSensitive(v, "formats");
	meta = cJSON_DetachItemFromObjectCaseSensitive(v, "metadata");
	user = cJSON_Duplicate(meta, 1);
	aliases = cJSON_DetachItemFromObjectCaseSensitive(v, "aliases");
	o = record(user, meta, model, version,
		   cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "state")),
		   aliases ? aliases : cJSON_CreateArray(),
		   latest && !strcmp(latest, version),
		   cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "created")) ?: "",
		   cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "sealed")),
		   cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "size")),
		   cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "file_count")),
		   !with_formats ? NULL : f ? cJSON_Duplicate(f, 1) : cJSON_CreateArray(),
		   annot_of(v));
	cJSON_Delete(v);
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

static int add_hit(cJSON ***hits, size_t *n, size_t *cap, cJSON *o)
{
	if (*n == *cap) {
		void *p = realloc(*hits, (*cap = *cap ? 2 * *cap : 64) * sizeof(**hits));

		if (!p)
			return -ENOMEM;
		*hits = p;
	}
	(*hits)[(*n)++] = o;
	return 0;
}

int cmd_find(struct ctl *c, int argc, char **argv)
{
	bool formats;
	const char *text = NULL, *sort = NULL;
	struct mfs_query *q = NULL;
	struct mfs_store *st = NULL;
	struct docs docs = { 0 };
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
	if (!text || limit < -1)
		return ctl_usage(argv[0]);
	r = mfs_query_parse(text, &q, &col, why, sizeof(why));
	if (r < 0) {
		fprintf(stderr, "modelctl: find: syntax error at column %d: %s\n  %s\n  %*s^\n", col,
			why, text, col - 1, "");
		return CTL_USAGE;
	}
	if (ctl_open_read(c, &st) < 0) {
		mfs_query_free(q);
		return EXIT_FAILURE;
	}
	if (sort) {
		sort_dir = sort[0] == '-' ? -1 : 1;
		sort_key = sort[0] == '-' ? sort + 1 : sort;
	}
	formats = mfs_query_uses(q, "format") || (sort_key && !strcmp(sort_key, "format"));
	if (!st) {
		char **mnames = NULL;
		size_t nmn = 0;

		r = mnt_names(c, NULL, &mnames, &nmn);
		for (size_t i = 0; r == 0 && i < nmn; i++) {
			char **vnames = NULL, latest[300] = "", lpath[PATH_MAX * 2];
			size_t nvn = 0;
			ssize_t l;

			snprintf(lpath, sizeof(lpath), "%s/models/%s/latest", c->mount, mnames[i]);
			l = readlink(lpath, latest, sizeof(latest) - 1);
			latest[l > 9 ? l : 0] = '\0';
			if (mnt_names(c, mnames[i], &vnames, &nvn) == 0) {
				for (size_t j = 0; j < nvn; j++) {
					cJSON *o = version_object_mnt(c, mnames[i], vnames[j],
								      l > 9 ? latest + 9 : NULL,
								      formats);

					free(vnames[j]);
					if (!o)
						continue;
					if (!mfs_query_match(q, o) || add_hit(&hits, &nh, &cap, o) < 0)
						cJSON_Delete(o);
				}
				free(vnames);
			}
			free(mnames[i]);
		}
		free(mnames);
	}
	if (st)
		r = mfs_version_docs_each(st, keep_doc, &docs);
	if (st && r == 0)
		r = mfs_model_list(st, &models, &nm);
	for (size_t i = 0; st && r == 0 && i < nm; i++) {
		struct mfs_version_info *v = NULL, lv;
		struct mfs_alias_info *al = NULL;
		size_t nv = 0, nal = 0;
		bool has_latest = mfs_alias_latest(st, models[i].id, &lv) == 0;

		if (mfs_version_list(st, models[i].id, &v, &nv) < 0)
			continue;
		mfs_alias_list(st, models[i].id, &al, &nal);
		for (size_t j = 0; j < nv; j++) {
			cJSON *o = version_object(st, &docs, &models[i], &v[j], al, nal,
						  has_latest ? lv.name : NULL, formats);

			if (!mfs_query_match(q, o)) {
				cJSON_Delete(o);
				continue;
			}
			r = add_hit(&hits, &nh, &cap, o);
			if (r < 0) {
				cJSON_Delete(o);
				break;
			}
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
				"created", "sealed", "size", "files", "format", "lifecycle", "tag",
				"approved_by", "metadata" };

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
	docs_release(&docs);
	if (r < 0) {
		fprintf(stderr, "modelctl: find: %s\n", strerror(-r));
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}
