/* cmd_register.c - modelctl register, and import dir: new versions through the mount */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "copytree.h"
#include "newver.h"
#include "hash.h"
#include "meta.h"
#include "model.h"
#include "semver.h"
#include "version.h"

/*
 * What a user does by hand - mkdir the model and the version, cp -r the
 * files in, write metadata.json, seal, ln -sfn - done through the mount,
 * so every rule of the registry applies as it would to them. A failure
 * removes the draft it made: nothing is left half-registered.
 */

int newver_draft(struct ctl *c, struct newver *v, const char *verb)
{
	struct mfs_semver sv;
	char mdir[PATH_MAX];
	int r = ctl_served_mount(c, v->mount, sizeof(v->mount));

	if (r <= 0) {
		if (r == 0)
			fprintf(stderr, "modelctl: %s writes through the mount, where every rule applies: serve the store and give -m MOUNT\n",
				verb);
		return -1;
	}
	/* Before any path is made of them: an imported bundle names its
	 * own model and version, and "../.." must not leave the mount. */
	if (mfs_model_name_check(v->model) < 0 || mfs_semver_parse(v->version, &sv) < 0) {
		fprintf(stderr, "modelctl: %s: '%s@%s': not a model name and a SemVer version\n",
			verb, v->model, v->version);
		return -1;
	}
	if ((size_t)snprintf(mdir, sizeof(mdir), "%s/models/%s", v->mount, v->model) >=
		    sizeof(mdir) ||
	    (size_t)snprintf(v->dst, sizeof(v->dst), "%s/versions/%s", mdir, v->version) >=
		    sizeof(v->dst)) {
		fprintf(stderr, "modelctl: %s: '%s@%s': path too long\n", verb, v->model, v->version);
		return -1;
	}
	if (mkdir(mdir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "modelctl: %s: model '%s': %s\n", verb, v->model, strerror(errno));
		return -1;
	}
	if (mkdir(v->dst, 0755) < 0) {
		fprintf(stderr, "modelctl: %s: version '%s@%s': %s\n", verb, v->model, v->version,
			errno == EEXIST ? "exists already" : strerror(errno));
		return -1;
	}
	return 0;
}

int newver_metadata(const struct newver *v, const char *text, size_t len, const char *from)
{
	char to[PATH_MAX];
	int fd, r = 0;

	if ((size_t)snprintf(to, sizeof(to), "%s/metadata.json", v->dst) >= sizeof(to))
		return -1;
	fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		r = -errno;
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		fprintf(stderr, "modelctl: metadata from '%s': %s%s\n", from, strerror(-r),
			r == -EINVAL ? " (the daemon's log says why)" : "");
	return r;
}

int newver_finish(struct ctl *c, struct newver *v, bool seal, const char *alias)
{
	if (seal && setxattr(v->dst, "user.modelfs.seal", "1", 1, 0) < 0) {
		fprintf(stderr, "modelctl: seal '%s@%s': %s\n", v->model, v->version,
			strerror(errno));
		return -1;
	}
	if (alias) {
		char verb[] = "promote", m[MFS_NAME_MAX + 1], ver[MFS_NAME_MAX + 1];
		char aname[MFS_NAME_MAX + 1];
		char *pargv[] = { verb, m, ver, aname, NULL };
		struct ctl pc = *c;

		snprintf(m, sizeof(m), "%s", v->model);
		snprintf(ver, sizeof(ver), "%s", v->version);
		snprintf(aname, sizeof(aname), "%s", alias);
		pc.mount = v->mount;
		pc.quiet = true;	/* one report: ours */
		if (cmd_promote(&pc, 4, pargv) != CTL_OK)
			return 1;	/* registered and sealed; it said why */
	}
	return 0;
}

void newver_abandon(const struct newver *v)
{
	copytree_remove(v->dst, true);
	fprintf(stderr, "modelctl: removed the draft '%s@%s'\n", v->model, v->version);
}

static void report(struct ctl *c, const char *what, const struct newver *v,
		   const struct copytree *t, bool sealed, const char *alias)
{
	if (c->json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "model", v->model);
		cJSON_AddStringToObject(o, "version", v->version);
		cJSON_AddNumberToObject(o, "files", (double)t->files);
		cJSON_AddNumberToObject(o, "bytes", (double)t->bytes);
		cJSON_AddBoolToObject(o, "sealed", sealed);
		if (alias)
			cJSON_AddStringToObject(o, "alias", alias);
		else
			cJSON_AddNullToObject(o, "alias");
		ctl_print_json(o);
	} else
		printf("%s %s@%s: %llu files, %llu bytes%s%s%s\n", what, v->model, v->version,
		       (unsigned long long)t->files, (unsigned long long)t->bytes,
		       sealed ? ", sealed" : ", a draft", alias ? ", " : "", alias ? alias : "");
}

int cmd_register(struct ctl *c, int argc, char **argv)
{
	const char *metadata = NULL, *alias = NULL, *src = NULL, *ref = NULL;
	char label[2 * MFS_NAME_MAX + 2], *model, *version;
	struct copytree t = { .verb = "registering" };
	struct newver v = { 0 };
	bool seal = false;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--metadata") && i + 1 < argc)
			metadata = argv[++i];
		else if (!strcmp(argv[i], "--seal"))
			seal = true;
		else if (!strcmp(argv[i], "--promote") && i + 1 < argc)
			alias = argv[++i];
		else if (argv[i][0] == '-')
			return ctl_usage(argv[0]);
		else if (!src)
			src = argv[i];
		else if (!ref)
			ref = argv[i];
		else
			return ctl_usage(argv[0]);
	}
	if (!src || !ref || !strchr(ref, '@') || strlen(ref) >= sizeof(label) ||
	    (alias && strlen(alias) > MFS_NAME_MAX))
		return ctl_usage(argv[0]);
	snprintf(label, sizeof(label), "%s", ref);
	ctl_split_ref(label, &model, &version);
	if (!*model || !*version)
		return ctl_usage(argv[0]);
	v.model = model;
	v.version = version;
	if (newver_draft(c, &v, "register") < 0)
		return CTL_FAIL;
	t.label = ref;
	r = copytree(&t, src, v.dst);
	if (r == 0 && metadata) {
		size_t len = 0;
		char *text = ctl_slurp(metadata, &len);

		if (!text)
			fprintf(stderr, "modelctl: --metadata '%s': %s\n", metadata, strerror(errno));
		r = text ? newver_metadata(&v, text, len, metadata) : -1;
		free(text);
	}
	if (r == 0)
		r = newver_finish(c, &v, seal || alias, alias);	/* an alias needs a seal */
	if (r < 0) {
		newver_abandon(&v);
		return CTL_FAIL;
	}
	if (r > 0)
		return CTL_FAIL;
	report(c, "registered", &v, &t, seal || alias, alias);
	return CTL_OK;
}

/*============================================================ import dir */

/* The files and symlinks the export's metadata.json lists: nothing else
 * in DIR is imported (what was added to it on the way, and the registry
 * documents themselves). */
static const cJSON *listed_files, *listed_links;

static bool listed(const cJSON *list, const char *rel)
{
	const cJSON *f;

	cJSON_ArrayForEach(f, list) {
		const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "path"));

		if (p && !strcmp(p, rel))
			return true;
	}
	return false;
}

static bool not_listed(const char *rel, bool dir)
{
	return !dir && !listed(listed_files, rel) && !listed(listed_links, rel);
}

/* Check every file the export's registry section lists against its digest
 * (a copy damaged on its way to an air-gapped host is refused before
 * anything is written). Returns 0 or -1 (said). */
static int check_files(const char *dir, const cJSON *files)
{
	const cJSON *f;
	char path[PATH_MAX];

	cJSON_ArrayForEach(f, files) {
		const char *rel = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "path"));
		const char *hex = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "digest"));
		struct mfs_digest want, got;
		uint64_t size;
		int fd, r;

		if (!rel || !hex || mfs_digest_parse(hex, &want) < 0) {
			fprintf(stderr, "modelctl: import: '%s/metadata.json' lists a file without a path or digest\n",
				dir);
			return -1;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, rel) >= sizeof(path))
			return -1;
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		r = fd < 0 ? -errno : mfs_hash_fd(fd, &got, &size);
		if (fd >= 0)
			close(fd);
		if (r < 0) {
			fprintf(stderr, "modelctl: import: '%s': %s\n", path, strerror(-r));
			return -1;
		}
		if (memcmp(&want, &got, sizeof(want))) {
			fprintf(stderr, "modelctl: import: '%s' is not the file that was exported (its digest differs)\n",
				path);
			return -1;
		}
	}
	return 0;
}

bool newver_same_files(const char *vdir, const cJSON *files)
{
	char path[PATH_MAX];
	size_t len = 0;
	char *text;
	cJSON *doc, *have;
	bool same = false;

	if ((size_t)snprintf(path, sizeof(path), "%s/metadata.json", vdir) >= sizeof(path) ||
	    !(text = ctl_slurp(path, &len)))
		return false;
	doc = cJSON_ParseWithLength(text, len);
	have = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "registry"),
						"files");
	if (cJSON_GetArraySize(have) == cJSON_GetArraySize(files)) {
		const cJSON *a, *b = have ? have->child : NULL;

		same = true;
		cJSON_ArrayForEach(a, files) {
			static const char *const keys[] = { "path", "digest" };

			for (size_t k = 0; k < 2 && same; k++)
				same = cJSON_Compare(cJSON_GetObjectItemCaseSensitive(a, keys[k]),
						     cJSON_GetObjectItemCaseSensitive(b, keys[k]), true);
			b = b ? b->next : NULL;
		}
	}
	cJSON_Delete(doc);
	free(text);
	return same;
}

/* modelctl import dir DIR [MODEL@VERSION] [--promote ALIAS] */
static int import_dir(struct ctl *c, int argc, char **argv)
{
	const char *dir = NULL, *ref = NULL, *alias = NULL;
	char path[PATH_MAX], label[2 * MFS_NAME_MAX + 2], *model = NULL, *version = NULL;
	char *text = NULL, *doc = NULL, have[PATH_MAX];
	struct copytree t = { .verb = "importing", .skip = not_listed };
	struct newver v = { 0 };
	cJSON *meta = NULL, *reg = NULL;
	size_t len = 0;
	struct stat sb;
	int r = CTL_FAIL;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--promote") && i + 1 < argc)
			alias = argv[++i];
		else if (argv[i][0] == '-')
			return ctl_usage(argv[0]);
		else if (!dir)
			dir = argv[i];
		else if (!ref && strchr(argv[i], '@'))
			ref = argv[i];
		else
			return ctl_usage(argv[0]);
	}
	if (!dir || (ref && strlen(ref) >= sizeof(label)) || (alias && strlen(alias) > MFS_NAME_MAX))
		return ctl_usage(argv[0]);
	if ((size_t)snprintf(path, sizeof(path), "%s/metadata.json", dir) >= sizeof(path))
		return CTL_FAIL;
	text = ctl_slurp(path, &len);
	meta = text ? cJSON_ParseWithLength(text, len) : NULL;
	reg = cJSON_GetObjectItemCaseSensitive(meta, "registry");
	if (!cJSON_IsObject(reg)) {
		fprintf(stderr, "modelctl: import: '%s' is not the metadata.json of an exported version%s%s\n",
			path, text ? "" : ": ", text ? "" : strerror(errno));
		goto out;
	}
	if (ref) {
		snprintf(label, sizeof(label), "%s", ref);
		ctl_split_ref(label, &model, &version);
	} else {
		/* Copied: the registry section goes before the metadata is
		 * written back. */
		const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reg, "model"));
		const char *ver = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reg, "version"));

		if (m && ver &&
		    (size_t)snprintf(label, sizeof(label), "%s@%s", m, ver) < sizeof(label))
			ctl_split_ref(label, &model, &version);
	}
	if (!model || !version || !*model || !*version) {
		fprintf(stderr, "modelctl: import: '%s' names no model and version: give MODEL@VERSION\n",
			path);
		goto out;
	}
	listed_files = cJSON_GetObjectItemCaseSensitive(reg, "files");
	listed_links = cJSON_GetObjectItemCaseSensitive(reg, "symlinks");
	if (check_files(dir, listed_files) < 0)
		goto out;
	v.model = model;
	v.version = version;
	/* Imported already: nothing to do when it holds the same files. */
	if (ctl_served_mount(c, have, sizeof(have)) == 1 &&
	    (size_t)snprintf(path, sizeof(path), "%s/models/%s/versions/%s", have, model, version) <
		    sizeof(path) &&
	    stat(path, &sb) == 0) {
		if (!newver_same_files(path, listed_files)) {
			fprintf(stderr, "modelctl: import: '%s@%s' exists with other files\n",
				model, version);
			goto out;
		}
		fprintf(stderr, "modelctl: import: '%s@%s' is there already: nothing imported\n",
			model, version);
		/* A promotion refused last time is tried again. */
		snprintf(v.mount, sizeof(v.mount), "%s", have);
		r = alias && newver_finish(c, &v, false, alias) != 0 ? CTL_FAIL : CTL_OK;
		goto out;
	}
	if (newver_draft(c, &v, "import") < 0)
		goto out;
	t.label = label;
	/* The metadata without its registry section, which stays alive
	 * (listed_files points into it) until the end. */
	reg = cJSON_DetachItemFromObjectCaseSensitive(meta, "registry");
	doc = mfs_meta_print(meta, 0);
	if (!doc || copytree(&t, dir, v.dst) < 0 ||
	    (cJSON_GetArraySize(meta) > 0 && newver_metadata(&v, doc, strlen(doc), dir) < 0) ||
	    (r = newver_finish(c, &v, true, alias)) < 0) {
		newver_abandon(&v);
		r = CTL_FAIL;
		goto out;
	}
	/* What was sealed is what was checked (a file changed between the
	 * check and the copy would show here). */
	if (!newver_same_files(v.dst, listed_files)) {
		fprintf(stderr, "modelctl: import: '%s@%s' was sealed with files other than those '%s' lists: they changed while it was imported; remove the version and import again\n",
			model, version, dir);
		r = CTL_FAIL;
		goto out;
	}
	r = r > 0 ? CTL_FAIL : CTL_OK;
	if (r == CTL_OK)
		report(c, "imported", &v, &t, true, alias);
out:
	free(doc);
	if (reg && !cJSON_GetObjectItemCaseSensitive(meta, "registry"))
		cJSON_Delete(reg);	/* detached above */
	cJSON_Delete(meta);
	listed_files = listed_links = NULL;
	free(text);
	return r;
}

int cmd_import(struct ctl *c, int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "dir"))
		return import_dir(c, argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "mlflow"))
		return cmd_import_mlflow(c, argc, argv);
	return ctl_usage(argv[0]);
}

/*============================================================ export */

static bool empty_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool empty = d != NULL;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = false;
	if (d)
		closedir(d);
	errno = EEXIST;
	return empty;
}

/* modelctl export MODEL[@VERSION] DIR: the version's files with its
 * metadata.json and lineage.json, read through the mount. */
int cmd_export(struct ctl *c, int argc, char **argv)
{
	char mount[PATH_MAX] = "", src[PATH_MAX], link[PATH_MAX], buf[2 * MFS_NAME_MAX + 2];
	char label[2 * MFS_NAME_MAX + 2];
	char *model, *version;
	struct copytree t = { .verb = "exporting" };
	const char *dir;
	struct stat sb;
	bool made;
	ssize_t n;
	int r;

	if (argc != 3 || strlen(argv[1]) >= sizeof(buf))
		return ctl_usage(argv[0]);
	snprintf(buf, sizeof(buf), "%s", argv[1]);
	ctl_split_ref(buf, &model, &version);
	dir = argv[2];
	r = ctl_served_mount(c, mount, sizeof(mount));
	if (r <= 0) {
		if (r == 0)
			fprintf(stderr, "modelctl: export reads through the mount: serve the store and give -m MOUNT\n");
		return CTL_FAIL;
	}
	if (!version) {
		/* The model's latest version (a draft is not exported). */
		if ((size_t)snprintf(src, sizeof(src), "%s/models/%s/latest", mount, model) >=
			    sizeof(src) ||
		    (n = readlink(src, link, sizeof(link) - 1)) <= 9) {
			fprintf(stderr, "modelctl: export: model '%s' has no sealed version\n", model);
			return CTL_FAIL;
		}
		link[n] = '\0';
		version = link + 9;	/* "versions/" */
	}
	if ((size_t)snprintf(src, sizeof(src), "%s/models/%s/versions/%s", mount, model, version) >=
	    sizeof(src))
		return CTL_FAIL;
	if (stat(src, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "modelctl: export: no version '%s@%s'\n", model, version);
		return CTL_FAIL;
	}
	made = mkdir(dir, 0755) == 0;
	if (!made && (errno != EEXIST || !empty_dir(dir))) {
		fprintf(stderr, "modelctl: export: '%s': %s\n", dir,
			errno == EEXIST ? "exists and is not an empty directory" : strerror(errno));
		return CTL_FAIL;
	}
	snprintf(label, sizeof(label), "%s@%s", model, version);
	t.label = label;
	if (copytree(&t, src, dir) < 0) {
		copytree_remove(dir, made);	/* what we made, no more */
		return CTL_FAIL;
	}
	if (c->json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "model", model);
		cJSON_AddStringToObject(o, "version", version);
		cJSON_AddStringToObject(o, "dir", dir);
		cJSON_AddNumberToObject(o, "files", (double)t.files);
		cJSON_AddNumberToObject(o, "bytes", (double)t.bytes);
		ctl_print_json(o);
	} else
		printf("exported %s@%s to %s: %llu files, %llu bytes\n", model, version, dir,
		       (unsigned long long)t.files, (unsigned long long)t.bytes);
	return CTL_OK;
}
