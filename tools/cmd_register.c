/* cmd_register.c - modelctl register SRC MODEL@VERSION [--metadata FILE] [--seal] [--promote ALIAS] */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "clock.h"
#include "objects.h"
#include "version.h"

/*
 * What a user does by hand - mkdir the model and the version, cp -r the
 * files in, write metadata.json, seal, ln -sfn - done through the mount,
 * so every rule of the registry applies as it would to them. A failure
 * removes the draft it made: nothing is left half-registered.
 */

struct reg {
	const char *src;	/* the source, as given */
	char dst[PATH_MAX];	/* MNT/models/MODEL/versions/VERSION */
	uint64_t files, bytes;	/* of the source, counted first */
	uint64_t done_files, done_bytes;
	bool progress;		/* stderr is a terminal */
	int64_t shown_ms;	/* when the progress line was last drawn */
	const char *label;	/* MODEL@VERSION */
};

static struct reg *reg_of_walk;	/* nftw() takes no context */

static void show_progress(struct reg *g, bool last)
{
	int64_t now = mfs_mono_ms();

	if (!g->progress || (!last && now - g->shown_ms < 100))
		return;
	g->shown_ms = now;
	fprintf(stderr, "\rregistering %s: %llu/%llu files, %.1f/%.1f MiB%s", g->label,
		(unsigned long long)g->done_files, (unsigned long long)g->files,
		(double)g->done_bytes / (1 << 20), (double)g->bytes / (1 << 20), last ? "\n" : "");
}

static int count_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (type == FTW_F && S_ISREG(sb->st_mode)) {
		reg_of_walk->files++;
		reg_of_walk->bytes += (uint64_t)sb->st_size;
	}
	return 0;
}

/* The source's path p as a path below g->dst. */
static int dst_of(const struct reg *g, const char *p, char *out, size_t n)
{
	size_t base = strlen(g->src);

	while (base > 1 && g->src[base - 1] == '/')
		base--;
	if ((size_t)snprintf(out, n, "%s%s", g->dst, p + base) >= n)
		return -ENAMETOOLONG;
	return 0;
}

static int copy_file(struct reg *g, const char *from, const char *to, mode_t mode)
{
	uint64_t copied = 0;
	int sfd, dfd, r;

	sfd = open(from, O_RDONLY | O_CLOEXEC);
	if (sfd < 0)
		return -errno;
	dfd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 0777);
	if (dfd < 0) {
		r = -errno;
		close(sfd);
		return r;
	}
	r = store_copy(sfd, dfd, UINT64_MAX, &copied);
	close(sfd);
	if (close(dfd) < 0 && r == 0)
		r = -errno;	/* a draft file's close reports what its writes did */
	g->done_files++;
	g->done_bytes += copied;
	show_progress(g, false);
	return r;
}

static int copy_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	struct reg *g = reg_of_walk;
	char to[PATH_MAX], target[PATH_MAX];
	ssize_t len;
	int r = 0;

	(void)ftw;
	if (dst_of(g, path, to, sizeof(to)) < 0) {
		fprintf(stderr, "modelctl: register: '%s': path too long\n", path);
		return -1;
	}
	switch (type) {
	case FTW_D:
		/* Writable by its maker while filled, as cp -r makes it. */
		if (strcmp(to, g->dst) && mkdir(to, (sb->st_mode & 0777) | 0700) < 0)
			r = -errno;
		break;
	case FTW_F:
		if (S_ISREG(sb->st_mode)) {
			r = copy_file(g, path, to, sb->st_mode);
		} else {
			fprintf(stderr, "modelctl: register: '%s': not a file, directory or symlink\n",
				path);
			return -1;
		}
		break;
	case FTW_SL:
		len = readlink(path, target, sizeof(target) - 1);
		if (len < 0) {
			r = -errno;
			break;
		}
		target[len] = '\0';
		if (symlink(target, to) < 0)
			r = -errno;
		break;
	default:
		fprintf(stderr, "modelctl: register: cannot read '%s'\n", path);
		return -1;
	}
	if (r < 0) {
		fprintf(stderr, "modelctl: register: '%s' -> '%s': %s\n", path, to, strerror(-r));
		return -1;
	}
	return 0;
}

static int remove_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* Copy g->src (a directory's contents, or one file) into g->dst. */
static int copy_source(struct reg *g)
{
	struct stat sb;
	char to[PATH_MAX];

	if (stat(g->src, &sb) < 0) {
		fprintf(stderr, "modelctl: register: '%s': %s\n", g->src, strerror(errno));
		return -1;
	}
	reg_of_walk = g;
	if (!S_ISDIR(sb.st_mode)) {
		const char *base = strrchr(g->src, '/');
		int r;

		g->files = 1;
		g->bytes = (uint64_t)sb.st_size;
		if ((size_t)snprintf(to, sizeof(to), "%s/%s", g->dst, base ? base + 1 : g->src) >=
		    sizeof(to))
			r = -ENAMETOOLONG;
		else
			r = S_ISREG(sb.st_mode) ? copy_file(g, g->src, to, sb.st_mode) : -EINVAL;
		if (r < 0)
			fprintf(stderr, "modelctl: register: '%s': %s\n", g->src, strerror(-r));
		return r < 0 ? -1 : 0;
	}
	nftw(g->src, count_one, 32, FTW_PHYS);
	return nftw(g->src, copy_one, 32, FTW_PHYS) == 0 ? 0 : -1;
}

static int put_metadata(const char *file, const char *dst)
{
	char to[PATH_MAX];
	int sfd, dfd, r;

	if ((size_t)snprintf(to, sizeof(to), "%s/metadata.json", dst) >= sizeof(to))
		return -1;	/* dst was made: it fits with room to spare */
	sfd = open(file, O_RDONLY | O_CLOEXEC);
	if (sfd < 0) {
		fprintf(stderr, "modelctl: register: --metadata '%s': %s\n", file, strerror(errno));
		return -1;
	}
	dfd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	r = dfd < 0 ? -errno : store_copy(sfd, dfd, UINT64_MAX, NULL);
	close(sfd);
	/* The daemon checks the document at close: its verdict is here. */
	if (dfd >= 0 && close(dfd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		fprintf(stderr, "modelctl: register: --metadata '%s': %s%s\n", file, strerror(-r),
			r == -EINVAL ? " (the daemon's log says why)" : "");
	return r < 0 ? -1 : 0;
}

int cmd_register(struct ctl *c, int argc, char **argv)
{
	const char *metadata = NULL, *alias = NULL, *src = NULL, *ref = NULL;
	char mount[PATH_MAX] = "", mdir[PATH_MAX], label[2 * MFS_NAME_MAX + 2], *model, *version;
	struct reg g = { 0 };
	bool seal = false, made = false;
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
	if (!src || !ref || !strchr(ref, '@') || strlen(ref) >= sizeof(label))
		return ctl_usage(argv[0]);
	snprintf(label, sizeof(label), "%s", ref);
	ctl_split_ref(label, &model, &version);
	if (!*model || !*version)
		return ctl_usage(argv[0]);
	r = ctl_served_mount(c, mount, sizeof(mount));
	if (r <= 0) {
		if (r == 0)
			fprintf(stderr, "modelctl: register writes through the mount, where every rule applies: serve the store and give -m MOUNT\n");
		return CTL_FAIL;
	}
	if ((size_t)snprintf(mdir, sizeof(mdir), "%s/models/%s", mount, model) >= sizeof(mdir) ||
	    (size_t)snprintf(g.dst, sizeof(g.dst), "%s/versions/%s", mdir, version) >=
		    sizeof(g.dst)) {
		fprintf(stderr, "modelctl: register: '%s': path too long\n", ref);
		return CTL_FAIL;
	}
	if (mkdir(mdir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "modelctl: register: model '%s': %s\n", model, strerror(errno));
		return CTL_FAIL;
	}
	if (mkdir(g.dst, 0755) < 0) {
		fprintf(stderr, "modelctl: register: version '%s@%s': %s\n", model, version,
			errno == EEXIST ? "exists already" : strerror(errno));
		return CTL_FAIL;
	}
	made = true;
	g.src = src;
	g.label = ref;
	g.progress = isatty(STDERR_FILENO);
	r = copy_source(&g);
	show_progress(&g, true);
	if (r == 0 && metadata)
		r = put_metadata(metadata, g.dst);
	if (r == 0 && (seal || alias) && setxattr(g.dst, "user.modelfs.seal", "1", 1, 0) < 0) {
		fprintf(stderr, "modelctl: register: seal '%s@%s': %s\n", model, version,
			strerror(errno));
		r = -1;
	}
	if (r < 0) {
		/* Nothing half-registered: the draft goes (a sealed one
		 * cannot, and a failed seal leaves a draft). */
		if (made && nftw(g.dst, remove_one, 32, FTW_DEPTH | FTW_PHYS) == 0)
			fprintf(stderr, "modelctl: register: removed the draft '%s@%s'\n", model,
				version);
		return CTL_FAIL;
	}
	if (alias) {
		char verb[] = "promote", aname[MFS_NAME_MAX + 1];
		char *pargv[] = { verb, model, version, aname, NULL };
		struct ctl pc = *c;

		snprintf(aname, sizeof(aname), "%s", alias);
		pc.mount = mount;
		pc.quiet = true;	/* one report: ours */
		if (cmd_promote(&pc, 4, pargv) != CTL_OK)
			return CTL_FAIL;	/* registered and sealed; it said why */
	}
	if (c->json)
		printf("{\"model\": \"%s\", \"version\": \"%s\", \"files\": %llu, \"bytes\": %llu, "
		       "\"sealed\": %s, \"alias\": %s%s%s}\n", model, version,
		       (unsigned long long)g.done_files, (unsigned long long)g.done_bytes,
		       seal || alias ? "true" : "false", alias ? "\"" : "", alias ? alias : "null",
		       alias ? "\"" : "");
	else
		printf("registered %s@%s: %llu files, %llu bytes%s%s%s\n", model, version,
		       (unsigned long long)g.done_files, (unsigned long long)g.done_bytes,
		       seal || alias ? ", sealed" : ", a draft", alias ? ", " : "",
		       alias ? alias : "");
	return CTL_OK;
}
