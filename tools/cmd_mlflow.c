/* cmd_mlflow.c - modelctl import mlflow: an MLflow FileStore's registry, through the mount */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "cmd.h"
#include "copytree.h"
#include "format.h"
#include "hash.h"
#include "meta.h"
#include "mlflow.h"
#include "model.h"
#include "newver.h"
#include "policy.h"
#include "progressbar.h"
#include "semver.h"
#include "alias.h"
#include "version.h"

/*
 * MLflow's version N becomes N.0.0 (or the SemVer of the version tag
 * --semver-tag names), imported in ascending order through the mount as
 * the caller: mkdir, copy, metadata.json, seal, aliases, archive. Before
 * anything of a model is written, everything the import needs is checked:
 * its artifacts are there, the names are names, the versions that are
 * there already hold the same files, and the registry's rules would allow
 * it (write access, semver.monotonic, each alias rule's users, approvals
 * and gates). A model that fails a check is reported and left alone, so no
 * model is half-imported. A version there already with the same files is
 * not imported again: a second run imports nothing and says so.
 */

struct pv {
	struct mlf_version *mv;
	char semver[MFS_NAME_MAX + 1];
	bool there;		/* imported already, same files */
	cJSON *meta;		/* its metadata.json */
};

struct pset {
	char alias[MFS_NAME_MAX + 1];
	size_t v;		/* index in plan.v */
	bool there;		/* the alias names it already */
	bool sha;		/* its rule has a sha256 gate */
};

struct plan {
	struct mlf_model m;
	struct pv *v;
	size_t nv;
	struct pset *set;
	size_t nset;
	size_t *archive;	/* indexes in v */
	size_t narch;
	bool model_there;
	char mdir[PATH_MAX];
	cJSON *notes;		/* what was left out, and why (strings) */
};


static void note(struct plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct plan *p, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cJSON_AddItemToArray(p->notes, cJSON_CreateString(buf));
}

static void iso_ms(double ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms < 0 || ms > 253402300799000.0 || !gmtime_r(&t, &tm)) {	/* past 9999 */
		snprintf(out, 32, "?");
		return;
	}
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + strlen(out), 12, ".%03dZ", (int)((long long)ms % 1000));
}

/* The version's metadata.json: the run's params and last metrics, its id,
 * experiment, user, MLflow's creation time and description, its tags and
 * the flavors of its MLmodel. */
static cJSON *metadata_of(const char *mlruns, const struct mlf_model *m,
			  const struct mlf_version *v)
{
	cJSON *meta = cJSON_CreateObject(), *ml = cJSON_CreateObject();
	cJSON *run = mlf_run(mlruns, v->run_id), *it, *fl;
	const char *user = v->user;
	char when[32];

	if (v->description)
		cJSON_AddStringToObject(meta, "description", v->description);
	if (v->run_id)
		cJSON_AddStringToObject(meta, "run_id", v->run_id);
	if ((it = cJSON_GetObjectItemCaseSensitive(run, "experiment")))
		cJSON_AddItemToObject(meta, "experiment", cJSON_Duplicate(it, true));
	if (cJSON_GetArraySize(it = cJSON_GetObjectItemCaseSensitive(run, "params")))
		cJSON_AddItemToObject(meta, "hyperparameters", cJSON_Duplicate(it, true));
	if (cJSON_GetArraySize(it = cJSON_GetObjectItemCaseSensitive(run, "metrics")))
		cJSON_AddItemToObject(meta, "metrics", cJSON_Duplicate(it, true));
	if (cJSON_GetArraySize(v->tags))
		cJSON_AddItemToObject(meta, "tags", cJSON_Duplicate(v->tags, true));
	cJSON_AddStringToObject(ml, "model", m->name);
	cJSON_AddNumberToObject(ml, "version", (double)v->n);
	cJSON_AddStringToObject(ml, "stage", v->stage);
	if (v->source)
		cJSON_AddStringToObject(ml, "source", v->source);
	if (!user)
		user = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(run, "user"));
	if (user)
		cJSON_AddStringToObject(ml, "user", user);
	if (v->created_ms > 0) {
		iso_ms(v->created_ms, when);
		if (when[0] != '?')
			cJSON_AddStringToObject(ml, "created", when);
	}
	if ((it = cJSON_GetObjectItemCaseSensitive(run, "run_name")))
		cJSON_AddItemToObject(ml, "run_name", cJSON_Duplicate(it, true));
	if ((fl = mlf_flavors(v->dir)))
		cJSON_AddItemToObject(ml, "flavors", fl);
	cJSON_AddItemToObject(meta, "mlflow", ml);
	cJSON_Delete(run);
	return meta;
}

static int find_v(const struct plan *p, long n)
{
	for (size_t i = 0; i < p->nv; i++)
		if (p->v[i].mv->n == n)
			return (int)i;
	return -1;
}

static bool setting(const struct plan *p, const char *alias)
{
	for (size_t i = 0; i < p->nset; i++)
		if (!strcmp(p->set[i].alias, alias))
			return true;
	return false;
}

static int add_set(struct plan *p, const char *alias, size_t vi)
{
	struct pset *s = realloc(p->set, (p->nset + 1) * sizeof(*p->set));

	if (!s)
		return -1;
	p->set = s;
	memset(&s[p->nset], 0, sizeof(*s));
	snprintf(s[p->nset].alias, sizeof(s->alias), "%s", alias);
	s[p->nset++].v = vi;
	return 0;
}

/* Aliases: MLflow's own, then the stages (an alias of the same name wins;
 * several versions in one stage: the highest). */
static int plan_aliases(struct plan *p)
{
	static const char *const stages[][2] = { { "Production", "production" },
						 { "Staging", "staging" } };
	const cJSON *a;

	cJSON_ArrayForEach(a, p->m.aliases) {
		int vi = cJSON_IsNumber(a) ? find_v(p, (long)a->valuedouble) : -1;

		if (mfs_alias_name_check(a->string) < 0 || mfs_alias_name_new_check(a->string) < 0)
			note(p, "alias '%s': not an alias name here (reserved, or shaped like a version): not kept",
			     a->string);
		else if (vi < 0)
			note(p, "alias '%s' names version %.0f, which is not imported: not kept",
			     a->string, cJSON_IsNumber(a) ? a->valuedouble : 0);
		else if (add_set(p, a->string, (size_t)vi) < 0)
			return -1;
	}
	for (size_t s = 0; s < 2; s++) {
		int top = -1;

		for (size_t i = 0; i < p->nv; i++)
			if (!strcmp(p->v[i].mv->stage, stages[s][0]))
				top = (int)i;
		if (top < 0)
			continue;
		for (size_t i = 0; i < p->nv; i++)
			if (!strcmp(p->v[i].mv->stage, stages[s][0]) && (int)i != top)
				note(p, "version %ld is in stage %s too: alias '%s' goes to version %ld, the highest",
				     p->v[i].mv->n, stages[s][0], stages[s][1], p->v[top].mv->n);
		if (setting(p, stages[s][1]))
			note(p, "stage %s of version %ld: MLflow's alias '%s' is kept instead",
			     stages[s][0], p->v[top].mv->n, stages[s][1]);
		else if (add_set(p, stages[s][1], (size_t)top) < 0)
			return -1;
	}
	for (size_t i = 0; i < p->nv; i++) {
		bool aliased = false;
		size_t *a2;

		if (strcmp(p->v[i].mv->stage, "Archived"))
			continue;
		for (size_t k = 0; k < p->nset; k++)
			aliased = aliased || p->set[k].v == i;
		if (aliased) {
			note(p, "version %ld is Archived in MLflow but an alias names it: left active",
			     p->v[i].mv->n);
			continue;
		}
		a2 = realloc(p->archive, (p->narch + 1) * sizeof(*p->archive));
		if (!a2)
			return -1;
		p->archive = a2;
		p->archive[p->narch++] = i;
	}
	return 0;
}

/*============================================================ files */

static cJSON *files_now;
static size_t files_base;

static int digest_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	struct mfs_digest d;
	char hex[MFS_DIGEST_HEX];
	uint64_t size;
	cJSON *f;
	int fd, r;

	(void)ftw;
	if (type != FTW_F || !S_ISREG(sb->st_mode))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	r = fd < 0 ? -errno : mfs_hash_fd(fd, &d, &size);
	if (fd >= 0)
		close(fd);
	if (r < 0)
		return -1;
	mfs_digest_hex(&d, hex);
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "path", path + files_base + 1);
	cJSON_AddStringToObject(f, "digest", hex);
	cJSON_AddItemToArray(files_now, f);
	return 0;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)a, "path")),
		      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)b, "path")));
}

/* The regular files below dir with their digests, sorted by path as a
 * sealed version lists them. NULL if one cannot be read. */
static cJSON *digests(const char *dir)
{
	cJSON *arr = cJSON_CreateArray(), *sorted = cJSON_CreateArray(), *f;
	cJSON **all;
	size_t n = 0;
	struct stat sb;

	files_now = arr;
	files_base = strlen(dir);
	while (files_base > 1 && dir[files_base - 1] == '/')
		files_base--;
	/* A file alone is copied under its own name (copytree.h). */
	if (stat(dir, &sb) == 0 && !S_ISDIR(sb.st_mode))
		files_base = (size_t)(strrchr(dir, '/') - dir);
	if (nftw(dir, digest_one, 32, FTW_PHYS) != 0 ||
	    !(all = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*all)))) {
		cJSON_Delete(arr);
		cJSON_Delete(sorted);
		return NULL;
	}
	cJSON_ArrayForEach(f, arr)
		all[n++] = f;
	qsort(all, n, sizeof(*all), by_path);
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(sorted, cJSON_Duplicate(all[i], true));
	free(all);
	cJSON_Delete(arr);
	return sorted;
}

/* The formats found among dir's files (names, "unknown" left out). */
static cJSON *formats_now;

static int format_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	static uint8_t head[MFS_FORMAT_PROBE];
	const char *name;
	ssize_t got;
	int fd;

	(void)ftw;
	if (type != FTW_F || !S_ISREG(sb->st_mode) || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	got = read(fd, head, sizeof(head));
	close(fd);
	name = mfs_format_name(mfs_format_detect(head, got > 0 ? (size_t)got : 0,
						 (uint64_t)sb->st_size));
	if (strcmp(name, "unknown"))
		cJSON_AddItemToArray(formats_now, cJSON_CreateString(name));
	return 0;
}

static bool has_format(const char *dir, const cJSON *want)
{
	const cJSON *w, *f;
	bool found = false;

	formats_now = cJSON_CreateArray();
	nftw(dir, format_one, 32, FTW_PHYS);
	cJSON_ArrayForEach(f, formats_now) {
		if (cJSON_IsString(want))
			found = found || !strcmp(f->valuestring, want->valuestring);
		cJSON_ArrayForEach(w, want)
			found = found || (cJSON_IsString(w) && !strcmp(f->valuestring, w->valuestring));
	}
	cJSON_Delete(formats_now);
	return found;
}

/*============================================================ rules */

/* The value at a dotted path of doc, or NULL. */
static const cJSON *at_path(const cJSON *doc, const char *dotted)
{
	char key[256];
	const char *p = dotted;

	while (doc && *p) {
		size_t l = strcspn(p, ".");

		snprintf(key, sizeof(key), "%.*s", (int)l, p);
		doc = cJSON_GetObjectItemCaseSensitive(doc, key);
		p += l + (p[l] == '.');
	}
	return doc;
}

static bool listed_name(const cJSON *list, const char *name, long id)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, list)
		if ((cJSON_IsString(e) && name && !strcmp(e->valuestring, name)) ||
		    (cJSON_IsNumber(e) && (long)e->valuedouble == id))
			return true;
	return false;
}

/* May the caller move an alias under rule (its users and groups)? */
static bool may_move(const cJSON *rule)
{
	const cJSON *users = cJSON_GetObjectItemCaseSensitive(rule, "users");
	const cJSON *groups = cJSON_GetObjectItemCaseSensitive(rule, "groups");
	struct passwd *pw = getpwuid(getuid());
	gid_t gs[256];
	int ng;

	if (!getuid() || (!users && !groups))
		return true;	/* root, or the default rule (write access) */
	if (listed_name(users, pw ? pw->pw_name : NULL, (long)getuid()))
		return true;
	ng = getgroups(256, gs);
	for (int i = -1; i < ng; i++) {
		gid_t g = i < 0 ? getgid() : gs[i];
		struct group *gr = getgrgid(g);

		if (listed_name(groups, gr ? gr->gr_name : NULL, (long)g))
			return true;
	}
	return false;
}

/* Would version v pass the gates of rule? Else false with why. The
 * aliases this import sets before are known (from_alias, been_at). */
static bool gates_pass(const struct plan *p, size_t si, const cJSON *rule, char *why, size_t n)
{
	const struct pv *v = &p->v[p->set[si].v];
	const cJSON *gates = cJSON_GetObjectItemCaseSensitive(rule, "gates"), *g, *e;
	const cJSON *appr = cJSON_GetObjectItemCaseSensitive(rule, "approvals");

	if (cJSON_IsNumber(appr) && appr->valuedouble > 0) {
		snprintf(why, n, "it needs %.0f approvals, which a version gets once imported",
			 appr->valuedouble);
		return false;
	}
	cJSON_ArrayForEach(g, gates) {
		const char *k = g->string;

		if (!strcmp(k, "required_keys")) {
			cJSON_ArrayForEach(e, g)
				if (cJSON_IsString(e) && (!at_path(v->meta, e->valuestring) ||
							  cJSON_IsNull(at_path(v->meta, e->valuestring)))) {
					snprintf(why, n, "gate required_keys: '%s' is not in its metadata",
						 e->valuestring);
					return false;
				}
		} else if (!strcmp(k, "required_files")) {
			cJSON_ArrayForEach(e, g) {
				char path[PATH_MAX];
				struct stat sb;

				if (!cJSON_IsString(e))
					continue;
				snprintf(path, sizeof(path), "%s/%s", v->mv->dir, e->valuestring);
				if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode)) {
					snprintf(why, n, "gate required_files: it has no '%s'",
						 e->valuestring);
					return false;
				}
			}
		} else if (!strcmp(k, "format")) {
			if (!has_format(v->mv->dir, g)) {
				snprintf(why, n, "gate format: none of its files has that format");
				return false;
			}
		} else if (!strcmp(k, "from_alias") || !strcmp(k, "been_at")) {
			bool ok = false;

			/* Only an alias this import sets to the same version
			 * first can satisfy it. */
			for (size_t j = 0; j < si; j++) {
				const cJSON *want = g;

				if (p->set[j].v != p->set[si].v)
					continue;
				if (cJSON_IsString(want))
					ok = ok || !strcmp(want->valuestring, p->set[j].alias);
				cJSON_ArrayForEach(e, want)
					ok = ok || (cJSON_IsString(e) && !strcmp(e->valuestring, p->set[j].alias));
			}
			if (!ok) {
				snprintf(why, n, "gate %s: the version is not at that alias", k);
				return false;
			}
		} else if (!strcmp(k, "depends_on_sealed") || !strcmp(k, "sha256")) {
			continue;	/* no depends_on written; digests awaited */
		} else if (cJSON_IsString(g)) {
			struct mfs_gate_expr x;
			const cJSON *val = at_path(v->meta, k);
			char *text = val ? cJSON_PrintUnformatted(val) : NULL;
			bool ok = mfs_gate_expr_parse(g->valuestring, &x) == 0 &&
				  mfs_gate_expr_eval(&x, text);

			free(text);
			if (!ok) {
				snprintf(why, n, "gate '%s' %s: its metadata has %s", k, g->valuestring,
					 val ? "another value" : "no such key");
				return false;
			}
		}
	}
	return true;
}

/* The policy text at path as JSON (NULL when unreadable or empty). */
static cJSON *policy_at(const char *path)
{
	size_t len = 0;
	char *text = ctl_slurp(path, &len);
	cJSON *j = text ? cJSON_ParseWithLength(text, len) : NULL;

	free(text);
	return j;
}

/* A key of the effective policy: the model's, else the registry's. */
static const cJSON *pol(const cJSON *model, const cJSON *reg, const char *k1, const char *k2)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(model, k1), k2);

	return v ? v : cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(reg, k1), k2);
}

/* Aliases that rules name in from_alias or been_at are set first: a
 * promotion from staging needs staging set. */
static void order_sets(struct plan *p, const cJSON *mod, const cJSON *reg)
{
	struct pset *sorted = calloc(p->nset ? p->nset : 1, sizeof(*sorted));
	size_t k = 0;

	if (!sorted)
		return;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < p->nset; i++) {
			bool named = false;

			for (size_t j = 0; j < p->nset && !named; j++) {
				const cJSON *g = cJSON_GetObjectItemCaseSensitive(
					pol(mod, reg, "aliases", p->set[j].alias), "gates");
				static const char *const keys[] = { "from_alias", "been_at" };

				for (size_t q = 0; q < 2; q++) {
					const cJSON *w = cJSON_GetObjectItemCaseSensitive(g, keys[q]), *e;

					named = named || (cJSON_IsString(w) && !strcmp(w->valuestring, p->set[i].alias));
					cJSON_ArrayForEach(e, w)
						named = named || (cJSON_IsString(e) &&
								  !strcmp(e->valuestring, p->set[i].alias));
				}
			}
			if (named == (pass == 0))
				sorted[k++] = p->set[i];
		}
	}
	if (p->nset)
		memcpy(p->set, sorted, p->nset * sizeof(*sorted));
	free(sorted);
}

/* Would the registry's rules let the caller import p? Returns 0, or -1
 * with why. */
static int rules_allow(const char *mount, struct plan *p, char *why, size_t n)
{
	char path[PATH_MAX + 32];
	cJSON *reg, *mod;
	const cJSON *mono;
	int r = 0;

	if (p->model_there)
		snprintf(path, sizeof(path), "%s/versions", p->mdir);
	else
		snprintf(path, sizeof(path), "%s/models", mount);
	if (access(path, W_OK) < 0) {
		snprintf(why, n, "no write access to %s: %s",
			 p->model_there ? "its versions/" : "models/", strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/policy.json", mount);
	reg = policy_at(path);
	snprintf(path, sizeof(path), "%s/policy.json", p->mdir);
	mod = p->model_there ? policy_at(path) : NULL;
	mono = pol(mod, reg, "semver", "monotonic");
	order_sets(p, mod, reg);
	for (size_t i = 1, last = 0; cJSON_IsTrue(mono) && r == 0 && i < p->nv; i++) {
		int cmp = 0;

		if (p->v[i].there)
			continue;
		if (!p->v[last].there && mfs_semver_cmp_str(p->v[last].semver, p->v[i].semver, &cmp) == 0 &&
		    cmp >= 0) {
			snprintf(why, n, "semver.monotonic: %s would come after %s", p->v[i].semver,
				 p->v[last].semver);
			r = -1;
		}
		last = i;
	}
	if (cJSON_IsTrue(mono) && p->model_there) {
		/* Each new version must rank above every one there. */
		char vdir[PATH_MAX + 16];

		snprintf(vdir, sizeof(vdir), "%s/versions", p->mdir);
		for (size_t i = 0; r == 0 && i < p->nv; i++) {
			DIR *d;
			struct dirent *de;

			if (p->v[i].there || !(d = opendir(vdir)))
				continue;
			while (r == 0 && (de = readdir(d))) {
				int cmp = 0;

				if (de->d_name[0] != '.' &&
				    mfs_semver_cmp_str(de->d_name, p->v[i].semver, &cmp) == 0 && cmp >= 0) {
					snprintf(why, n, "semver.monotonic: %s is not above %s, which is there",
						 p->v[i].semver, de->d_name);
					r = -1;
				}
			}
			closedir(d);
		}
	}
	for (size_t i = 0; r == 0 && i < p->nset; i++) {
		const cJSON *rule = pol(mod, reg, "aliases", p->set[i].alias);
		char w[512];

		if (p->set[i].there)
			continue;
		p->set[i].sha = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(rule, "gates"), "sha256"));
		if (!may_move(rule)) {
			snprintf(why, n, "alias '%s': its rule does not let this user move it",
				 p->set[i].alias);
			r = -1;
		} else if (!gates_pass(p, i, rule, w, sizeof(w))) {
			snprintf(why, n, "alias '%.200s' -> %.200s: %s", p->set[i].alias,
				 p->v[p->set[i].v].semver, w);
			r = -1;
		}
	}
	cJSON_Delete(reg);
	cJSON_Delete(mod);
	return r;
}

/*============================================================ plan */

static void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->nv; i++)
		cJSON_Delete(p->v[i].meta);
	free(p->v);
	free(p->set);
	free(p->archive);
	cJSON_Delete(p->notes);
	mlf_model_free(&p->m);
}

/* Is the link alias of the model at versions/<semver> already? */
static bool alias_is(const struct plan *p, const char *alias, const char *semver)
{
	char path[PATH_MAX + MFS_NAME_MAX + 2], target[PATH_MAX], want[PATH_MAX];
	ssize_t l;

	snprintf(path, sizeof(path), "%s/%s", p->mdir, alias);
	l = readlink(path, target, sizeof(target) - 1);
	if (l < 0)
		return false;
	target[l] = '\0';
	snprintf(want, sizeof(want), "versions/%s", semver);
	return !strcmp(target, want);
}

/* Everything about model name that can be known before writing: returns
 * 0, or -1 with why (the model is not imported). */
static int plan_model(const char *mlruns, const char *const *roots, const char *mount,
		      const char *name, const char *semver_tag, struct plan *p, char *why, size_t n)
{
	struct stat sb;

	memset(p, 0, sizeof(*p));
	p->notes = cJSON_CreateArray();
	if (mlf_model_read(mlruns, roots, name, &p->m, why, n) < 0)
		return -1;
	if (mfs_model_name_check(p->m.name) < 0) {
		snprintf(why, n, "'%s' is not a model name here (1-128 of [A-Za-z0-9._-], not starting with '.')",
			 p->m.name);
		return -1;
	}
	if ((size_t)snprintf(p->mdir, sizeof(p->mdir), "%.3800s/models/%s", mount, p->m.name) >=
	    sizeof(p->mdir)) {
		snprintf(why, n, "path too long");
		return -1;
	}
	p->model_there = stat(p->mdir, &sb) == 0;
	p->v = calloc(p->m.nv ? p->m.nv : 1, sizeof(*p->v));
	if (!p->v)
		return -1;
	for (size_t i = 0; i < p->m.nv; i++) {
		struct mlf_version *mv = &p->m.v[i];
		struct pv *v = &p->v[p->nv];
		const char *tagged = semver_tag ?
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(mv->tags, semver_tag)) : NULL;
		struct mfs_semver sv;
		char vdir[PATH_MAX + MFS_NAME_MAX + 16];

		if (!strcmp(mv->stage, "Deleted_Internal")) {
			note(p, "version %ld: deleted in MLflow: not imported", mv->n);
			continue;
		}
		if (tagged)
			snprintf(v->semver, sizeof(v->semver), "%s", tagged);
		else
			snprintf(v->semver, sizeof(v->semver), "%ld.0.0", mv->n);
		if (mfs_semver_parse(v->semver, &sv) < 0) {
			snprintf(why, n, "version %ld: its tag %s '%s' is not a SemVer version", mv->n,
				 semver_tag, v->semver);
			return -1;
		}
		for (size_t j = 0; j < p->nv; j++) {
			int cmp = 1;

			if (mfs_semver_cmp_str(p->v[j].semver, v->semver, &cmp) == 0 && cmp == 0) {
				snprintf(why, n, "versions %ld and %ld would both be %s",
					 p->v[j].mv->n, mv->n, v->semver);
				return -1;
			}
		}
		if (mv->outside) {
			snprintf(why, n, "version %ld: its artifacts (source '%s') are outside the MLflow store: give --artifacts DIR to take them from DIR",
				 mv->n, mv->source);
			return -1;
		}
		if (!mv->dir) {
			snprintf(why, n, "version %ld: its artifacts are not here (source '%s')",
				 mv->n, mv->source ? mv->source : "(none)");
			return -1;
		}
		v->mv = mv;
		v->meta = metadata_of(mlruns, &p->m, mv);
		p->nv++;
		snprintf(vdir, sizeof(vdir), "%s/versions/%s", p->mdir, v->semver);
		if (p->model_there && stat(vdir, &sb) == 0) {
			cJSON *files = digests(mv->dir);

			v->there = files && newver_same_files(vdir, files);
			cJSON_Delete(files);
			if (!v->there) {
				snprintf(why, n, "version %ld: %s@%s is there already with other files",
					 mv->n, p->m.name, v->semver);
				return -1;
			}
		}
	}
	if (plan_aliases(p) < 0) {
		snprintf(why, n, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < p->nset; i++)
		p->set[i].there = alias_is(p, p->set[i].alias, p->v[p->set[i].v].semver);
	return 0;
}

/*============================================================ import */

/* Wait for the daemon's SHA-256 of every file of a sealed version, up
 * to ten minutes: an alias whose rule has a sha256 gate asks for them,
 * and the daemon computes them after the seal. */
static int64_t digests_until;

static int await_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	char v[80];

	if (type != FTW_F || !S_ISREG(sb->st_mode) ||
	    (ftw->level == 1 && (!strcmp(path + ftw->base, "metadata.json") ||
				 !strcmp(path + ftw->base, "lineage.json"))))
		return 0;
	while (getxattr(path, "user.modelfs.sha256", v, sizeof(v)) < 0 && errno == ENODATA &&
	       mfs_mono_ms() < digests_until)
		usleep(20000);
	return 0;
}

static void await_digests(const char *vdir)
{
	digests_until = mfs_mono_ms() + 600000;
	ctl_progress_wait("waiting for the SHA-256 digests (the alias's sha256 gate)");
	nftw(vdir, await_one, 32, FTW_PHYS);
	ctl_progress_waited();
}

/* Import what p plans. Returns 0, or -1 (said; a version's draft is
 * removed if its copy or seal failed). */
static int run_plan(struct ctl *c, const char *mlruns, struct plan *p, size_t *ret_new)
{
	size_t fresh = 0;

	(void)mlruns;
	for (size_t i = 0; i < p->nv; i++) {
		struct pv *pv = &p->v[i];
		struct newver v = { .model = p->m.name, .version = pv->semver };
		char label[2 * MFS_NAME_MAX + 2];
		struct copytree t = { .verb = "importing", .label = label };
		char *doc;
		int r;

		if (pv->there)
			continue;
		snprintf(label, sizeof(label), "%s@%s", p->m.name, pv->semver);
		if (newver_draft(c, &v, "import mlflow") < 0)
			return -1;
		doc = mfs_meta_print(pv->meta, 0);
		r = doc && copytree(&t, pv->mv->dir, v.dst) == 0 &&
		    newver_metadata(&v, doc, strlen(doc), pv->mv->dir) == 0 ?
			    newver_finish(c, &v, true, NULL) : -1;
		free(doc);
		if (r != 0) {
			newver_abandon(&v);
			return -1;
		}
		fresh++;
		if (!c->quiet && !c->json)
			printf("imported %s@%s (MLflow version %ld): %llu files, %llu bytes\n",
			       p->m.name, pv->semver, pv->mv->n, (unsigned long long)t.files,
			       (unsigned long long)t.bytes);
	}
	/* The model's own description and tags, when it has none yet. */
	if (fresh && (p->m.description || cJSON_GetArraySize(p->m.tags))) {
		char path[PATH_MAX + 16];
		size_t len = 0;
		char *have;

		snprintf(path, sizeof(path), "%s/metadata.json", p->mdir);
		have = ctl_slurp(path, &len);
		if (have && len < 4 && strchr(have, '{')) {
			cJSON *m = cJSON_CreateObject();
			char *doc;
			FILE *f;

			if (p->m.description)
				cJSON_AddStringToObject(m, "description", p->m.description);
			if (cJSON_GetArraySize(p->m.tags))
				cJSON_AddItemToObject(m, "tags", cJSON_Duplicate(p->m.tags, true));
			doc = mfs_meta_print(m, 0);
			f = doc ? fopen(path, "we") : NULL;
			if (!f || fputs(doc, f) < 0 || fclose(f) != 0)
				fprintf(stderr, "modelctl: import mlflow: '%s': %s\n", path, strerror(errno));
			free(doc);
			cJSON_Delete(m);
		}
		free(have);
	}
	for (size_t i = 0; i < p->nset; i++) {
		struct pset *s = &p->set[i];
		struct newver v = { .model = p->m.name, .version = p->v[s->v].semver };

		if (s->there)
			continue;
		snprintf(v.mount, sizeof(v.mount), "%.*s", (int)(strlen(p->mdir) - strlen(p->m.name) - 8),
			 p->mdir);
		snprintf(v.dst, sizeof(v.dst), "%s/versions/%s", p->mdir, v.version);
		if (s->sha)
			await_digests(v.dst);
		if (newver_finish(c, &v, false, s->alias) != 0)
			return -1;
		if (!c->quiet && !c->json)
			printf("alias %s/%s -> %s\n", p->m.name, s->alias, v.version);
	}
	for (size_t i = 0; i < p->narch; i++) {
		char vdir[PATH_MAX + MFS_NAME_MAX + 16];

		if (p->v[p->archive[i]].there)
			continue;
		snprintf(vdir, sizeof(vdir), "%s/versions/%s", p->mdir, p->v[p->archive[i]].semver);
		if (setxattr(vdir, "user.modelfs.lifecycle", "archived", 8, 0) < 0) {
			fprintf(stderr, "modelctl: import mlflow: archive '%s@%s': %s\n", p->m.name,
				p->v[p->archive[i]].semver, strerror(errno));
			return -1;
		}
		if (!c->quiet && !c->json)
			printf("archived %s@%s (Archived in MLflow)\n", p->m.name,
			       p->v[p->archive[i]].semver);
	}
	*ret_new = fresh;
	return 0;
}

static bool wanted(char **only, size_t nonly, const char *name)
{
	if (!nonly)
		return true;
	for (size_t i = 0; i < nonly; i++)
		if (!strcmp(only[i], name))
			return true;
	return false;
}

static cJSON *plan_json(const struct plan *p)
{
	cJSON *o = cJSON_CreateObject(), *vs = cJSON_CreateArray(), *as = cJSON_CreateObject();
	cJSON *ar = cJSON_CreateArray();

	cJSON_AddStringToObject(o, "model", p->m.name);
	for (size_t i = 0; i < p->nv; i++) {
		cJSON *v = cJSON_CreateObject();

		cJSON_AddNumberToObject(v, "mlflow_version", (double)p->v[i].mv->n);
		cJSON_AddStringToObject(v, "version", p->v[i].semver);
		cJSON_AddStringToObject(v, "from", p->v[i].mv->dir);
		cJSON_AddBoolToObject(v, "there", p->v[i].there);
		cJSON_AddItemToArray(vs, v);
	}
	cJSON_AddItemToObject(o, "versions", vs);
	for (size_t i = 0; i < p->nset; i++)
		cJSON_AddStringToObject(as, p->set[i].alias, p->v[p->set[i].v].semver);
	cJSON_AddItemToObject(o, "aliases", as);
	for (size_t i = 0; i < p->narch; i++)
		cJSON_AddItemToArray(ar, cJSON_CreateString(p->v[p->archive[i]].semver));
	cJSON_AddItemToObject(o, "archived", ar);
	cJSON_AddItemToObject(o, "notes", cJSON_Duplicate(p->notes, true));
	return o;
}

/* modelctl import mlflow MLRUNS [--model NAME]... [--semver-tag TAG]
 *                      [--artifacts DIR]... [--dry-run] */
int cmd_import_mlflow(struct ctl *c, int argc, char **argv)
{
	const char *mlruns = NULL, *semver_tag = NULL;
	char **only = NULL, **names = NULL, mount[PATH_MAX], real[PATH_MAX];
	char roots_buf[8][PATH_MAX];
	const char *roots[9] = { NULL };
	size_t nroots = 0;
	size_t nonly = 0, nnames = 0, failed = 0, imported = 0, found = 0;
	bool dry = false;
	cJSON *out = cJSON_CreateArray();
	int r;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--model") && i + 1 < argc) {
			char **p = realloc(only, (nonly + 1) * sizeof(*only));

			if (!p)
				return CTL_FAIL;
			only = p;
			only[nonly++] = argv[++i];
		} else if (!strcmp(argv[i], "--semver-tag") && i + 1 < argc) {
			semver_tag = argv[++i];
		} else if (!strcmp(argv[i], "--artifacts") && i + 1 < argc && nroots < 8) {
			if (!realpath(argv[++i], roots_buf[nroots])) {
				fprintf(stderr, "modelctl: import mlflow: --artifacts '%s': %s\n",
					argv[i], strerror(errno));
				free(only);
				cJSON_Delete(out);
				return CTL_FAIL;
			}
			roots[nroots] = roots_buf[nroots];
			nroots++;
		} else if (!strcmp(argv[i], "--dry-run")) {
			dry = true;
		} else if (argv[i][0] == '-' || mlruns) {
			free(only);
			cJSON_Delete(out);
			return ctl_usage(argv[0]);
		} else {
			mlruns = argv[i];
		}
	}
	if (!mlruns) {
		free(only);
		cJSON_Delete(out);
		return ctl_usage(argv[0]);
	}
	r = ctl_served_mount(c, mount, sizeof(mount));
	if (r <= 0 || !realpath(mlruns, real) || mlf_model_names(real, &names, &nnames) < 0) {
		if (r == 0)
			fprintf(stderr, "modelctl: import mlflow writes through the mount, where every rule applies: serve the store and give -m MOUNT\n");
		else if (r > 0 && !names)
			fprintf(stderr, "modelctl: import mlflow: '%s': %s\n", mlruns, strerror(errno));
		free(only);
		cJSON_Delete(out);
		return CTL_FAIL;
	}
	for (size_t i = 0; i < nonly; i++) {
		bool known = false;

		for (size_t j = 0; j < nnames; j++)
			known = known || !strcmp(names[j], only[i]);
		if (!known) {
			fprintf(stderr, "modelctl: import mlflow: no registered model '%s' in '%s'\n",
				only[i], mlruns);
			failed++;
		}
	}
	for (size_t i = 0; i < nnames; i++) {
		struct plan p;
		char why[1024];
		size_t fresh = 0;
		const cJSON *nt;

		if (!wanted(only, nonly, names[i]))
			continue;
		found++;
		if (plan_model(real, roots, mount, names[i], semver_tag, &p, why, sizeof(why)) < 0 ||
		    rules_allow(mount, &p, why, sizeof(why)) < 0) {
			fprintf(stderr, "modelctl: import mlflow: model '%s' not imported: %s\n",
				names[i], why);
			failed++;
			plan_free(&p);
			continue;
		}
		cJSON_ArrayForEach(nt, p.notes)
			fprintf(stderr, "modelctl: import mlflow: model '%s': %s\n", p.m.name,
				nt->valuestring);
		if (dry) {
			if (c->json)
				cJSON_AddItemToArray(out, plan_json(&p));
			else if (!c->quiet) {
				for (size_t k = 0; k < p.nv; k++)
					printf("would import %s@%s (MLflow version %ld) from %s%s\n",
					       p.m.name, p.v[k].semver, p.v[k].mv->n, p.v[k].mv->dir,
					       p.v[k].there ? ": there already" : "");
				for (size_t k = 0; k < p.nset; k++)
					printf("would set %s/%s -> %s%s\n", p.m.name, p.set[k].alias,
					       p.v[p.set[k].v].semver, p.set[k].there ? ": set already" : "");
				for (size_t k = 0; k < p.narch; k++)
					printf("would archive %s@%s\n", p.m.name, p.v[p.archive[k]].semver);
			}
			plan_free(&p);
			continue;
		}
		if (run_plan(c, real, &p, &fresh) < 0) {
			fprintf(stderr, "modelctl: import mlflow: model '%s': stopped (run again to go on)\n",
				p.m.name);
			failed++;
		} else {
			imported += fresh;
			if (c->json)
				cJSON_AddItemToArray(out, plan_json(&p));
			if (!fresh)
				fprintf(stderr, "modelctl: import mlflow: model '%s': nothing to import (%zu versions there already)\n",
					p.m.name, p.nv);
		}
		plan_free(&p);
	}
	if (c->json)
		ctl_print_json(out);
	else
		cJSON_Delete(out);
	if (!dry && !c->quiet && !c->json)
		printf("%zu versions imported from %zu models%s\n", imported, found,
		       failed ? "; some were not: see above" : "");
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(only);
	return failed ? CTL_FAIL : CTL_OK;
}
