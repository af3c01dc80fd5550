/* copytree.c - copy a directory tree (or one file) for register, export and import */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "copytree.h"
#include "objects.h"

struct walk {
	struct copytree *t;
	const char *src, *dst;
	size_t base;		/* strlen(src) without trailing slashes */
	uint64_t files, bytes;	/* of the source, counted first */
	bool progress;
	int64_t shown_ms;
};

static struct walk *walk_now;	/* nftw() takes no context */

static void show(struct walk *w, bool last)
{
	int64_t now = mfs_mono_ms();

	if (!w->progress || (!last && now - w->shown_ms < 100))
		return;
	w->shown_ms = now;
	fprintf(stderr, "\r%s %s: %llu/%llu files, %.1f/%.1f MiB%s", w->t->verb, w->t->label,
		(unsigned long long)w->t->files, (unsigned long long)w->files,
		(double)w->t->bytes / (1 << 20), (double)w->bytes / (1 << 20), last ? "\n" : "");
}

static bool skipped(const struct walk *w, const char *path, int type)
{
	const char *rel = path + w->base;

	while (*rel == '/')
		rel++;
	return *rel && w->t->skip && w->t->skip(rel, type == FTW_D);
}

static int count_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type == FTW_F && S_ISREG(sb->st_mode) && !skipped(walk_now, path, type)) {
		walk_now->files++;
		walk_now->bytes += (uint64_t)sb->st_size;
	}
	return 0;
}

static int copy_file(struct walk *w, const char *from, const char *to, mode_t mode)
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
		r = -errno;
	w->t->files++;
	w->t->bytes += copied;
	show(w, false);
	return r;
}

static int copy_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	struct walk *w = walk_now;
	char to[PATH_MAX], target[PATH_MAX];
	ssize_t len;
	int r = 0;

	if (skipped(w, path, type))
		return 0;
	if ((size_t)snprintf(to, sizeof(to), "%s%s", w->dst, path + w->base) >= sizeof(to)) {
		fprintf(stderr, "modelctl: '%s': path too long\n", path);
		return -1;
	}
	switch (type) {
	case FTW_D:
		/* Writable by its maker while it is filled, as cp -r does. */
		if (ftw->level > 0 && mkdir(to, (sb->st_mode & 0777) | 0700) < 0)
			r = -errno;
		break;
	case FTW_F:
		if (!S_ISREG(sb->st_mode)) {
			fprintf(stderr, "modelctl: '%s': not a file, directory or symlink\n", path);
			return -1;
		}
		r = copy_file(w, path, to, sb->st_mode);
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
		fprintf(stderr, "modelctl: cannot read '%s'\n", path);
		return -1;
	}
	if (r < 0) {
		fprintf(stderr, "modelctl: '%s' -> '%s': %s\n", path, to, strerror(-r));
		return -1;
	}
	return 0;
}

int copytree(struct copytree *t, const char *src, const char *dst)
{
	char real[PATH_MAX];
	const char *name = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
	struct walk w = { .t = t, .dst = dst };
	struct stat sb;
	int r;

	/* A symlink given as the source is followed, as cp -r follows one
	 * named on its command line (the walk itself follows none). */
	if (!realpath(src, real)) {
		fprintf(stderr, "modelctl: '%s': %s\n", src, strerror(errno));
		return -1;
	}
	src = w.src = real;
	w.base = strlen(src);
	while (w.base > 1 && src[w.base - 1] == '/')
		w.base--;
	w.progress = isatty(STDERR_FILENO);
	t->files = t->bytes = 0;
	if (stat(src, &sb) < 0) {
		fprintf(stderr, "modelctl: '%s': %s\n", src, strerror(errno));
		return -1;
	}
	walk_now = &w;
	if (!S_ISDIR(sb.st_mode)) {
		char to[PATH_MAX];

		/* A file is copied under the name it was given by. */
		w.files = 1;
		w.bytes = (uint64_t)sb.st_size;
		if ((size_t)snprintf(to, sizeof(to), "%s/%s", dst, name) >=
		    sizeof(to))
			r = -ENAMETOOLONG;
		else
			r = S_ISREG(sb.st_mode) ? copy_file(&w, src, to, sb.st_mode) : -EINVAL;
		if (r < 0)
			fprintf(stderr, "modelctl: '%s': %s\n", src, strerror(-r));
	} else {
		nftw(src, count_one, 32, FTW_PHYS);
		r = nftw(src, copy_one, 32, FTW_PHYS);
	}
	show(&w, true);
	return r == 0 ? 0 : -1;
}

static bool keep_top;	/* nftw() takes no context */

static int remove_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	if (ftw->level == 0 && keep_top)
		return 0;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void copytree_remove(const char *dst, bool top)
{
	keep_top = !top;
	nftw(dst, remove_one, 32, FTW_DEPTH | FTW_PHYS);
}
