/* mount.c - read verbs through the mount, for callers who cannot open the store */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "semver.h"

/*
 * The store is the daemon's (mode 0700): a user who may not open it reads
 * the same facts through the mount, where the daemon applies their
 * permissions: index.json, each version's metadata.json and lineage.json
 * (the very renderings the direct path parses) and the version xattrs.
 */

char *ctl_slurp(const char *path, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return NULL;
	for (;;) {
		size_t n;

		if (len + 4096 + 1 > cap) {
			char *p = realloc(buf, cap = cap ? 2 * cap : 65536);

			if (!p) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = p;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
	return buf;
}

char *mnt_text(const struct ctl *c, size_t *ret_len, const char *fmt, ...)
{
	char rel[PATH_MAX], path[PATH_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", c->mount, rel);
	return ctl_slurp(path, ret_len);
}

cJSON *mnt_json(const struct ctl *c, const char *fmt, const char *model,
		const char *version)
{
	size_t len;
	char *t = mnt_text(c, &len, fmt, model, version);
	cJSON *j = t ? cJSON_ParseWithLength(t, len) : NULL;

	free(t);
	return j;
}

char *mnt_xattr(const struct ctl *c, const char *model, const char *version,
		const char *name)
{
	char path[PATH_MAX * 2], val[256];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/models/%s/versions/%s", c->mount, model, version);
	n = getxattr(path, name, val, sizeof(val) - 1);
	if (n < 0)
		return NULL;
	val[n] = '\0';
	return strdup(val);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int by_semver(const void *a, const void *b)
{
	int r = 0;

	if (mfs_semver_cmp_str(*(char *const *)a, *(char *const *)b, &r) < 0)
		return strcmp(*(char *const *)a, *(char *const *)b);
	return r;
}

/* Names in a directory of the mount, sorted (versions: by precedence). */
int mnt_names(const struct ctl *c, const char *model, char ***ret, size_t *ret_n)
{
	char path[PATH_MAX * 2];
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	if (model)
		snprintf(path, sizeof(path), "%s/models/%s/versions", c->mount, model);
	else
		snprintf(path, sizeof(path), "%s/models", c->mount);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			void *p = realloc(names, (cap = cap ? 2 * cap : 32) * sizeof(*names));

			if (!p)
				break;
			names = p;
		}
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), model ? by_semver : by_name);
	*ret = names;
	*ret_n = n;
	return 0;
}

cJSON *mnt_version(const struct ctl *c, const char *model, const char *version)
{
	cJSON *meta = mnt_json(c, "models/%s/versions/%s/metadata.json", model, version);
	cJSON *reg = meta ? cJSON_DetachItemFromObjectCaseSensitive(meta, "registry") : NULL;
	char *state = mnt_xattr(c, model, version, "user.modelfs.state");

	if (!state) {
		cJSON_Delete(meta);
		cJSON_Delete(reg);
		return NULL;
	}
	if (!reg) {
		/* A draft: what its directory tells. */
		char *created = mnt_xattr(c, model, version, "user.modelfs.created");

		reg = cJSON_CreateObject();
		cJSON_AddStringToObject(reg, "model", model);
		cJSON_AddStringToObject(reg, "version", version);
		cJSON_AddStringToObject(reg, "state", state);
		if (created)
			cJSON_AddStringToObject(reg, "created", created);
		cJSON_AddNumberToObject(reg, "size", 0);
		cJSON_AddNumberToObject(reg, "file_count", 0);
		cJSON_AddArrayToObject(reg, "aliases");
		cJSON_AddArrayToObject(reg, "files");
		free(created);
	}
	free(state);
	cJSON_AddItemToObject(reg, "metadata", meta ? meta : cJSON_CreateObject());
	return reg;
}

cJSON *mnt_versions(const struct ctl *c, const char *model)
{
	cJSON *arr;
	char **names = NULL;
	size_t n = 0;

	if (mnt_names(c, model, &names, &n) < 0)
		return NULL;
	arr = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		cJSON *v = mnt_version(c, model, names[i]), *o;

		free(names[i]);
		if (!v)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "version", cJSON_DetachItemFromObject(v, "version"));
		cJSON_AddItemToObject(o, "state", cJSON_DetachItemFromObject(v, "state"));
		cJSON_AddItemToObject(o, "size", cJSON_DetachItemFromObject(v, "size"));
		cJSON_AddItemToObject(o, "files", cJSON_DetachItemFromObject(v, "file_count"));
		cJSON_AddItemToObject(o, "aliases", cJSON_DetachItemFromObject(v, "aliases"));
		cJSON_AddItemToArray(arr, o);
		cJSON_Delete(v);
	}
	free(names);
	return arr;
}
