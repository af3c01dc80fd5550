/* mlflow.c - an MLflow FileStore (mlruns/) read as MLflow writes it */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "mlflow.h"
#include "yamldoc.h"

#define MAX_HOPS 4	/* models:/a/1 naming models:/b/2 naming ... */

static bool exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

/* A name from a file, used as one path component. */
static bool component(const char *s, size_t len)
{
	return len && len < NAME_MAX && memchr(s, '/', len) == NULL &&
	       !(len == 1 && s[0] == '.') && !(len == 2 && s[0] == '.' && s[1] == '.');
}

/* A relative path from a file: no component leaves where it starts. */
static bool inside(const char *rel)
{
	while (*rel) {
		size_t l = strcspn(rel, "/");

		if (l && !component(rel, l))
			return false;
		rel += l;
		rel += *rel == '/';
	}
	return true;
}

/* Does path, followed to where it leads, lie below root (a realpath)?
 * Names from MLflow's files and symlinks in MLRUNS must not take a read
 * anywhere else. */
static bool beneath(const char *root, const char *path)
{
	char real[PATH_MAX];
	size_t l = strlen(root);

	return realpath(path, real) && !strncmp(real, root, l) &&
	       (real[l] == '/' || real[l] == '\0' || (l == 1 && root[0] == '/'));
}

static char *dup_str(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));

	return s && *s ? strdup(s) : NULL;
}

static double num_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble :
	       cJSON_IsString(v) ? strtod(v->valuestring, NULL) : 0;
}

static cJSON *yaml_at(const char *mlruns, char *why, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A YAML file below MLRUNS (fmt...), as cJSON; NULL with why. */
static cJSON *yaml_at(const char *mlruns, char *why, size_t n, const char *fmt, ...)
{
	char path[PATH_MAX], w[256];
	cJSON *j;
	va_list ap;
	int l;

	va_start(ap, fmt);
	l = vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	if (l < 0 || (size_t)l >= sizeof(path)) {
		snprintf(why, n, "path too long");
		return NULL;
	}
	if (!beneath(mlruns, path)) {
		snprintf(why, n, "'%s': %s", path, errno == ENOENT ? strerror(errno) :
			 "leads out of the MLflow store");
		return NULL;
	}
	j = yaml_read(path, w, sizeof(w));
	if (!j)
		snprintf(why, n, "'%s': %s", path, w);
	return j;
}

/* Each file below dir, by its path relative to dir (MLflow's keys may hold
 * '/'), its text as value (a number, with numbers, where the whole text is
 * one). Missing dir: an empty object. */
static int kv_walk(cJSON *into, const char *dir, const char *prefix, bool numbers, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	while (r == 0 && (de = readdir(d))) {
		char path[PATH_MAX], key[PATH_MAX];
		struct stat sb;

		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path) ||
		    (size_t)snprintf(key, sizeof(key), "%s%s", prefix, de->d_name) >= sizeof(key) ||
		    lstat(path, &sb) < 0)
			continue;
		if (S_ISDIR(sb.st_mode) && depth < 16) {
			strcat(key, "/");
			r = kv_walk(into, path, key, numbers, depth + 1);
		} else if (S_ISREG(sb.st_mode)) {
			size_t len = 0;
			char *text = ctl_slurp(path, &len);
			cJSON *v = NULL;

			if (!text)
				continue;
			if (numbers) {
				const char *end = NULL;

				v = cJSON_ParseWithOpts(text, &end, true);
				if (v && !cJSON_IsNumber(v)) {
					cJSON_Delete(v);
					v = NULL;
				}
			}
			cJSON_AddItemToObject(into, key, v ? v : cJSON_CreateString(text));
			free(text);
		}
	}
	closedir(d);
	return r;
}

/* kv_walk() of a directory below mlruns (its subdirectories are walked
 * only when they are not symlinks). */
static cJSON *kv_dir(const char *mlruns, const char *dir, bool numbers)
{
	cJSON *o = cJSON_CreateObject();

	if (beneath(mlruns, dir))
		kv_walk(o, dir, "", numbers, 0);
	return o;
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int mlf_model_names(const char *mlruns, char ***ret, size_t *ret_n)
{
	char dir[PATH_MAX], meta[PATH_MAX];
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	*ret = NULL;
	*ret_n = 0;
	if ((size_t)snprintf(dir, sizeof(dir), "%s/models", mlruns) >= sizeof(dir))
		return -ENAMETOOLONG;
	d = opendir(dir);
	if (!d) {
		int r = -errno;

		fprintf(stderr, "modelctl: import mlflow: '%s': %s (not an MLflow file store?)\n",
			dir, strerror(-r));
		return r;
	}
	while ((de = readdir(d))) {
		char **p;

		if (de->d_name[0] == '.' ||
		    (size_t)snprintf(meta, sizeof(meta), "%s/%s/meta.yaml", dir, de->d_name) >=
			    sizeof(meta) ||
		    !exists(meta))
			continue;
		p = realloc(names, (n + 1) * sizeof(*names));
		if (!p || !(p[n] = strdup(de->d_name))) {
			names = p ? p : names;
			break;
		}
		names = p;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_str);
	*ret = names;
	*ret_n = n;
	return 0;
}

static int by_n(const void *a, const void *b)
{
	long x = ((const struct mlf_version *)a)->n, y = ((const struct mlf_version *)b)->n;

	return x < y ? -1 : x > y;
}

static int read_version(const char *mlruns, const char *const *roots, const char *name,
			long num, struct mlf_version *v, char *why, size_t n)
{
	char dir[PATH_MAX], tmp[32];
	const char *stage;
	cJSON *meta;

	snprintf(tmp, sizeof(tmp), "version-%ld", num);
	meta = yaml_at(mlruns, why, n, "%s/models/%s/%s/meta.yaml", mlruns, name, tmp);
	if (!meta)
		return -1;
	v->n = num;
	stage = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "current_stage"));
	snprintf(v->stage, sizeof(v->stage), "%s", stage ? stage : "None");
	v->source = dup_str(meta, "storage_location");
	if (!v->source)
		v->source = dup_str(meta, "source");
	v->run_id = dup_str(meta, "run_id");
	v->user = dup_str(meta, "user_id");
	v->description = dup_str(meta, "description");
	v->created_ms = num_of(meta, "creation_timestamp");
	snprintf(dir, sizeof(dir), "%s/models/%s/%s/tags", mlruns, name, tmp);
	v->tags = kv_dir(mlruns, dir, false);
	if (v->source && mlf_resolve(mlruns, v->source, dir, sizeof(dir)) == 0) {
		char real[PATH_MAX];
		bool ok = realpath(dir, real) && beneath(mlruns, real);

		for (size_t i = 0; !ok && roots && roots[i]; i++)
			ok = realpath(dir, real) && beneath(roots[i], real);
		if (ok)
			v->dir = strdup(real);
		else
			v->outside = true;
	}
	cJSON_Delete(meta);
	return 0;
}

int mlf_model_read(const char *mlruns, const char *const *roots, const char *name,
		   struct mlf_model *ret, char *why, size_t n)
{
	char dir[PATH_MAX];
	cJSON *meta, *a;
	struct dirent *de;
	DIR *d;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	if (!component(name, strlen(name))) {
		snprintf(why, n, "'%s' is not a model directory's name", name);
		return -1;
	}
	meta = yaml_at(mlruns, why, n, "%s/models/%s/meta.yaml", mlruns, name);
	if (!meta)
		return -1;
	ret->name = dup_str(meta, "name");
	if (!ret->name)
		ret->name = strdup(name);
	ret->description = dup_str(meta, "description");
	ret->created_ms = num_of(meta, "creation_timestamp");
	cJSON_Delete(meta);
	snprintf(dir, sizeof(dir), "%s/models/%s/tags", mlruns, name);
	ret->tags = kv_dir(mlruns, dir, false);
	snprintf(dir, sizeof(dir), "%s/models/%s/aliases", mlruns, name);
	a = kv_dir(mlruns, dir, false);
	/* Each names a version number ("3", maybe with a newline). */
	ret->aliases = cJSON_CreateObject();
	for (const cJSON *e = a->child; e; e = e->next)
		cJSON_AddNumberToObject(ret->aliases, e->string, strtod(e->valuestring, NULL));
	cJSON_Delete(a);
	snprintf(dir, sizeof(dir), "%s/models/%s", mlruns, name);
	d = opendir(dir);
	if (!d) {
		snprintf(why, n, "'%s': %s", dir, strerror(errno));
		return -1;
	}
	while (r == 0 && (de = readdir(d))) {
		char *end;
		long num;
		struct mlf_version *p;

		if (strncmp(de->d_name, "version-", 8))
			continue;
		num = strtol(de->d_name + 8, &end, 10);
		if (*end || num < 1 || end == de->d_name + 8)
			continue;
		p = realloc(ret->v, (ret->nv + 1) * sizeof(*ret->v));
		if (!p) {
			r = -1;
			break;
		}
		ret->v = p;
		memset(&ret->v[ret->nv], 0, sizeof(*ret->v));
		r = read_version(mlruns, roots, name, num, &ret->v[ret->nv], why, n);
		ret->nv++;
	}
	closedir(d);
	if (ret->nv)
		qsort(ret->v, ret->nv, sizeof(*ret->v), by_n);
	return r;
}

void mlf_model_free(struct mlf_model *m)
{
	for (size_t i = 0; i < m->nv; i++) {
		struct mlf_version *v = &m->v[i];

		free(v->source);
		free(v->dir);
		free(v->run_id);
		free(v->user);
		free(v->description);
		cJSON_Delete(v->tags);
	}
	free(m->v);
	free(m->name);
	free(m->description);
	cJSON_Delete(m->tags);
	cJSON_Delete(m->aliases);
	memset(m, 0, sizeof(*m));
}

/* path if it is there, else the same path found again below MLRUNS (an
 * mlruns moved since: "/old/home/mlruns/0/<run>/artifacts/model" is
 * MLRUNS/0/<run>/artifacts/model), longest suffix first. */
static int moved(const char *mlruns, const char *path, char *ret, size_t n)
{
	if (beneath(mlruns, path) && (size_t)snprintf(ret, n, "%s", path) < n)
		return 0;
	for (const char *p = path; (p = strchr(p, '/')); p++) {
		if (!inside(p + 1))
			continue;
		if ((size_t)snprintf(ret, n, "%s%s", mlruns, p) < n && exists(ret))
			return 0;
	}
	/* Outside MLRUNS: the caller decides whether that is allowed. */
	return exists(path) && (size_t)snprintf(ret, n, "%s", path) < n ? 0 : -ENOENT;
}

/* Decode %XX in place (file URIs). */
static void unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2]) &&
		    (s[1] != '0' || s[2] != '0')) {
			char hex[3] = { s[1], s[2], '\0' };

			*w++ = (char)strtol(hex, NULL, 16);
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* MLRUNS/<experiment>/<sub>/<rest> for the first experiment that has it. */
static int in_experiment(const char *mlruns, const char *sub, const char *rest,
			 char *ret, size_t n)
{
	DIR *d = opendir(mlruns);
	struct dirent *de;
	int r = -ENOENT;

	if (!d)
		return -ENOENT;
	while (r < 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "models"))
			continue;
		if ((size_t)snprintf(ret, n, "%s/%s/%s%s%s", mlruns, de->d_name, sub,
				     *rest ? "/" : "", rest) < n &&
		    exists(ret))
			r = 0;
	}
	closedir(d);
	return r;
}

static int resolve(const char *mlruns, const char *src, char *ret, size_t n, int hops)
{
	char buf[PATH_MAX];

	if (hops > MAX_HOPS || strlen(src) >= sizeof(buf))
		return -ENOENT;
	if (!strncmp(src, "file://", 7)) {
		const char *p = src + 7;

		if (!strncmp(p, "localhost/", 10))
			p += 9;
		if (*p != '/')
			return -ENOENT;	/* another host's */
		snprintf(buf, sizeof(buf), "%s", p);
		unescape(buf);
		return moved(mlruns, buf, ret, n);
	}
	if (!strncmp(src, "file:", 5) && src[5] == '/') {
		snprintf(buf, sizeof(buf), "%s", src + 5);
		unescape(buf);
		return moved(mlruns, buf, ret, n);
	}
	if (!strncmp(src, "runs:/", 6)) {
		const char *run = src + 6, *rest;
		char sub[PATH_MAX];

		while (*run == '/')
			run++;
		rest = run + strcspn(run, "/");
		if (!component(run, (size_t)(rest - run)))
			return -ENOENT;
		while (*rest == '/')
			rest++;
		if (!inside(rest))
			return -ENOENT;
		snprintf(sub, sizeof(sub), "%.*s/artifacts", (int)(strchr(run, '/') ?
				(size_t)(strchr(run, '/') - run) : strlen(run)), run);
		return in_experiment(mlruns, sub, rest, ret, n);
	}
	if (!strncmp(src, "models:/", 8)) {
		const char *m = src + 8, *slash;
		char sub[PATH_MAX], why[256];
		cJSON *meta;
		char *next;
		int r;

		while (*m == '/')
			m++;
		slash = strchr(m, '/');
		if (!slash) {	/* MLflow 3: models:/m-<id> */
			if (!component(m, strlen(m)))
				return -ENOENT;
			snprintf(sub, sizeof(sub), "models/%s/artifacts", m);
			return in_experiment(mlruns, sub, "", ret, n);
		}
		if (!component(m, (size_t)(slash - m)) || !component(slash + 1, strlen(slash + 1)))
			return -ENOENT;
		meta = yaml_at(mlruns, why, sizeof(why), "%s/models/%.*s/version-%s/meta.yaml", mlruns,
			       (int)(slash - m), m, slash + 1);
		next = dup_str(meta, "storage_location");
		if (!next)
			next = dup_str(meta, "source");
		cJSON_Delete(meta);
		r = next ? resolve(mlruns, next, ret, n, hops + 1) : -ENOENT;
		free(next);
		return r;
	}
	if (!strncmp(src, "mlflow-artifacts:", 17)) {
		const char *p = src + 17;

		if (!strncmp(p, "//", 2))	/* mlflow-artifacts://host:port/path */
			p = strchr(p + 2, '/') ? strchr(p + 2, '/') : "";
		while (*p == '/')
			p++;
		if (!*p || !inside(p))
			return -ENOENT;
		return (size_t)snprintf(ret, n, "%s/%s", mlruns, p) < n && exists(ret) ? 0 : -ENOENT;
	}
	if (src[0] == '/')
		return moved(mlruns, src, ret, n);
	if (strstr(src, "://") || !inside(src))
		return -ENOENT;	/* s3://, gs://, ...: not on this host */
	return (size_t)snprintf(ret, n, "%s/%s", mlruns, src) < n && exists(ret) ? 0 : -ENOENT;
}

int mlf_resolve(const char *mlruns, const char *source, char *ret, size_t n)
{
	return resolve(mlruns, source, ret, n, 0);
}

/* The value of a metric file: the line of the highest step, then time. */
static int last_metric(const char *path, double *ret)
{
	FILE *f = fopen(path, "re");
	char line[256];
	double best_step = -INFINITY, best_ts = -INFINITY;
	bool found = false;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		double ts, v, step = 0;
		int k = sscanf(line, "%lf %lf %lf", &ts, &v, &step);

		if (k < 2 || !isfinite(v))
			continue;
		if (step > best_step || (step == best_step && ts >= best_ts)) {
			best_step = step;
			best_ts = ts;
			*ret = v;
			found = true;
		}
	}
	fclose(f);
	return found ? 0 : -ENODATA;
}

static void metrics_walk(cJSON *into, const char *dir, const char *prefix, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[PATH_MAX], key[PATH_MAX];
		struct stat sb;
		double v = 0;

		if (de->d_name[0] == '.' ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path) ||
		    (size_t)snprintf(key, sizeof(key), "%s%s", prefix, de->d_name) >= sizeof(key) ||
		    lstat(path, &sb) < 0)
			continue;
		if (S_ISDIR(sb.st_mode) && depth < 16) {
			strcat(key, "/");
			metrics_walk(into, path, key, depth + 1);
		} else if (S_ISREG(sb.st_mode) && last_metric(path, &v) == 0) {
			cJSON_AddNumberToObject(into, key, v);
		}
	}
	closedir(d);
}

cJSON *mlf_run(const char *mlruns, const char *run_id)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], why[256];
	cJSON *meta, *exp, *out, *o;
	char *s;

	if (!run_id || !component(run_id, strlen(run_id)) ||
	    in_experiment(mlruns, run_id, "meta.yaml", path, sizeof(path)) < 0 ||
	    !beneath(mlruns, path))
		return NULL;
	meta = yaml_read(path, why, sizeof(why));
	if (!meta)
		return NULL;
	snprintf(dir, sizeof(dir), "%.*s", (int)(strlen(path) - strlen("/meta.yaml")), path);
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "run_id", run_id);
	/* The experiment is the run's directory's parent. */
	snprintf(path, sizeof(path), "%.*s/meta.yaml", (int)(strrchr(dir, '/') - dir), dir);
	exp = beneath(mlruns, path) ? yaml_read(path, why, sizeof(why)) : NULL;
	if ((s = dup_str(exp, "name"))) {
		cJSON_AddStringToObject(out, "experiment", s);
		free(s);
	}
	cJSON_Delete(exp);
	if ((s = dup_str(meta, "user_id"))) {
		cJSON_AddStringToObject(out, "user", s);
		free(s);
	}
	if ((s = dup_str(meta, "run_name"))) {
		cJSON_AddStringToObject(out, "run_name", s);
		free(s);
	}
	if (num_of(meta, "start_time") > 0)
		cJSON_AddNumberToObject(out, "start_ms", num_of(meta, "start_time"));
	cJSON_Delete(meta);
	snprintf(path, sizeof(path), "%s/params", dir);
	cJSON_AddItemToObject(out, "params", kv_dir(mlruns, path, true));
	o = cJSON_CreateObject();
	snprintf(path, sizeof(path), "%s/metrics", dir);
	if (beneath(mlruns, path))
		metrics_walk(o, path, "", 0);
	cJSON_AddItemToObject(out, "metrics", o);
	return out;
}

cJSON *mlf_flavors(const char *dir)
{
	char path[PATH_MAX], why[256];
	cJSON *mlmodel, *fl, *f, *out = NULL;

	struct stat sb;

	if ((size_t)snprintf(path, sizeof(path), "%s/MLmodel", dir) >= sizeof(path) ||
	    lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
		return NULL;
	mlmodel = yaml_read(path, why, sizeof(why));
	fl = cJSON_GetObjectItemCaseSensitive(mlmodel, "flavors");
	if (cJSON_IsObject(fl)) {
		out = cJSON_CreateArray();
		cJSON_ArrayForEach(f, fl)
			cJSON_AddItemToArray(out, cJSON_CreateString(f->string));
	}
	cJSON_Delete(mlmodel);
	return out;
}
