/* inode.c - the node table (draft files, alias names) and seal coordination */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>

#include "change.h"
#include "daemon.h"
#include "prehash.h"
#include "log.h"
#include "model.h"
#include "seal.h"
#include "version.h"

/*
 * Draft nodes hold an O_PATH fd of the real file in STORE/drafts, so a
 * rename inside the draft needs no bookkeeping: the kernel keeps the fd
 * pointing at the same inode. A node lives while the kernel holds a lookup
 * or a handle is open; after a seal, a stale draft node still names the
 * very inode that became the blob, so reads through it stay correct.
 */

static struct node **bucket(struct mfsd *d, uint64_t ino)
{
	return &d->nodes[(ino ^ (ino >> 17) ^ (ino >> 60)) % 4096];
}

struct node *node_find(struct mfsd *d, uint64_t ino)
{
	struct node *n;

	pthread_mutex_lock(&d->lock);
	for (n = *bucket(d, ino); n && n->ino != ino; n = n->next)
		;
	pthread_mutex_unlock(&d->lock);
	return n;
}

static void node_free(struct node *n)
{
	if (n->fd >= 0)
		close(n->fd);
	mfs_hash_free(n->h);
	pthread_mutex_destroy(&n->hlock);
	free(n->name);
	free(n);
}

static struct node *node_new(uint64_t ino, enum ino_kind kind)
{
	struct node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->ino = ino;
	n->kind = kind;
	n->fd = -1;
	pthread_mutex_init(&n->hlock, NULL);
	return n;
}

int node_draft_get(struct mfsd *d, const struct mfs_caller *c, uint64_t model_id,
		   uint64_t vid, int dirfd, const char *name, struct stat *ret_sb,
		   struct node **ret)
{
	struct node *n, *fresh;
	struct stat sb;
	uint64_t ino;
	int fd;

	fd = as_caller(d, c, vid);
	if (fd == 0) {
		fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			fd = -errno;
	}
	as_daemon(d);
	if (fd < 0)
		return fd;
	if (fstatat(fd, "", &sb, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	ino = ino_make(K_DRAFT, (uint64_t)sb.st_ino);
	pthread_mutex_lock(&d->lock);
	for (n = *bucket(d, ino); n && n->ino != ino; n = n->next)
		;
	if (n) {
		n->nlookup++;
		pthread_mutex_unlock(&d->lock);
		close(fd);
		goto done;
	}
	pthread_mutex_unlock(&d->lock);
	fresh = node_new(ino, K_DRAFT);
	if (!fresh) {
		close(fd);
		return -ENOMEM;
	}
	fresh->fd = fd;
	fresh->model_id = model_id;
	fresh->vid = vid;
	pthread_mutex_lock(&d->lock);
	/* Another thread may have raced us to the same inode. */
	for (n = *bucket(d, ino); n && n->ino != ino; n = n->next)
		;
	if (!n) {
		n = fresh;
		fresh = NULL;
		n->next = *bucket(d, ino);
		*bucket(d, ino) = n;
	}
	n->nlookup++;
	pthread_mutex_unlock(&d->lock);
	if (fresh)
		node_free(fresh);
done:
	if (ret_sb) {
		*ret_sb = sb;
		ret_sb->st_ino = ino;
	}
	*ret = n;
	return 0;
}

static uint64_t alias_hash(uint64_t model_id, const char *name)
{
	uint64_t h = 1469598103934665603ULL ^ model_id;

	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	return h;
}

uint64_t node_alias_ino(uint64_t model_id, const char *name)
{
	return ino_make(K_ALIAS, alias_hash(model_id, name));
}

int node_alias_get(struct mfsd *d, uint64_t model_id, const char *name,
		   struct node **ret)
{
	/* Alias inodes are a hash of (model, name), probed on collision, so
	 * the same alias keeps its number while the daemon runs. */
	uint64_t ino = ino_make(K_ALIAS, alias_hash(model_id, name));
	struct node *n;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		for (n = *bucket(d, ino); n && n->ino != ino; n = n->next)
			;
		if (!n || (n->model_id == model_id && !strcmp(n->name, name)))
			break;
		ino = ino_make(K_ALIAS, ino_id(ino) + 1);
	}
	if (!n) {
		n = node_new(ino, K_ALIAS);
		if (n)
			n->name = strdup(name);
		if (!n || !n->name) {
			if (n)
				node_free(n);
			pthread_mutex_unlock(&d->lock);
			return -ENOMEM;
		}
		n->model_id = model_id;
		n->next = *bucket(d, ino);
		*bucket(d, ino) = n;
	}
	n->nlookup++;
	pthread_mutex_unlock(&d->lock);
	*ret = n;
	return 0;
}

static void unlink_node_locked(struct mfsd *d, struct node *n)
{
	struct node **pp = bucket(d, n->ino);

	while (*pp && *pp != n)
		pp = &(*pp)->next;
	if (*pp)
		*pp = n->next;
}

void node_forget(struct mfsd *d, uint64_t ino, uint64_t count)
{
	struct node *n, *dead = NULL;

	pthread_mutex_lock(&d->lock);
	for (n = *bucket(d, ino); n && n->ino != ino; n = n->next)
		;
	if (n) {
		n->nlookup = n->nlookup > count ? n->nlookup - count : 0;
		if (!n->nlookup && !n->nopen) {
			unlink_node_locked(d, n);
			dead = n;
		}
	}
	pthread_mutex_unlock(&d->lock);
	if (dead)
		node_free(dead);
}

void node_open_ref(struct mfsd *d, struct node *n, int delta)
{
	bool dead = false;

	pthread_mutex_lock(&d->lock);
	n->nopen += delta;
	if (!n->nlookup && !n->nopen) {
		unlink_node_locked(d, n);
		dead = true;
	}
	pthread_mutex_unlock(&d->lock);
	if (dead)
		node_free(n);
}

void node_table_free(struct mfsd *d)
{
	for (size_t i = 0; i < sizeof(d->nodes) / sizeof(d->nodes[0]); i++) {
		while (d->nodes[i]) {
			struct node *n = d->nodes[i];

			d->nodes[i] = n->next;
			node_free(n);
		}
	}
	while (d->vs) {
		struct vstate *v = d->vs;

		d->vs = v->next;
		free(v);
	}
}

void node_bytes_changed_locked(struct node *n)
{
	n->h_valid = false;
	n->dg_valid = false;
	n->wgen++;
}

void node_bytes_changed(struct node *n)
{
	pthread_mutex_lock(&n->hlock);
	node_bytes_changed_locked(n);
	pthread_mutex_unlock(&n->hlock);
}

int node_seal_hint(void *ctx, ino_t bino, uint64_t size, int64_t mtime_ns,
		   struct mfs_digest *ret)
{
	struct mfsd *d = ctx;
	uint64_t ino = ino_make(K_DRAFT, (uint64_t)bino);
	struct node *n;
	int r = -ENOENT;

	(void)mtime_ns;
	/* The seal runs on the version directory's request, not on this
	 * node's: a FORGET may free it meanwhile, so look it up and read its
	 * hash under d->lock (lock order: d->lock, then hlock). */
	pthread_mutex_lock(&d->lock);
	for (n = *bucket(d, ino); n && n->ino != ino; n = n->next)
		;
	if (n) {
		pthread_mutex_lock(&n->hlock);
		if (n->h && n->h_valid && n->h_off == size) {
			mfs_hash_final(n->h, ret);
			r = 0;
		} else if (n->dg_valid && !n->wopen && n->dg_size == size) {
			/* Its times may have changed since (rsync and tar set
			 * them after the close); its bytes not: wgen. */
			*ret = n->dg;
			r = 0;
		}
		pthread_mutex_unlock(&n->hlock);
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

/*============================================================ vstate */

static struct vstate *vs_get_locked(struct mfsd *d, uint64_t vid, bool make)
{
	struct vstate *v;

	for (v = d->vs; v && v->vid != vid; v = v->next)
		;
	if (!v && make) {
		v = calloc(1, sizeof(*v));
		if (v) {
			v->vid = vid;
			v->last_ns = mfs_now_ns();
			v->next = d->vs;
			d->vs = v;
		}
	}
	return v;
}

int vstate_writer(struct mfsd *d, uint64_t vid, int delta)
{
	struct vstate *v;
	int r = 0;

	pthread_mutex_lock(&d->lock);
	v = vs_get_locked(d, vid, true);
	if (!v) {
		r = -ENOMEM;
	} else if (delta > 0 && v->sealing) {
		r = -EBUSY;
	} else {
		v->writers += delta;
		v->last_ns = mfs_now_ns();
		if (v->writers == 0)
			pthread_cond_broadcast(&d->cond);
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

void vstate_touch(struct mfsd *d, uint64_t vid)
{
	struct vstate *v;

	pthread_mutex_lock(&d->lock);
	v = vs_get_locked(d, vid, true);
	if (v)
		v->last_ns = mfs_now_ns();
	pthread_mutex_unlock(&d->lock);
}

int fs_seal(struct mfsd *d, const struct mfs_caller *c, uint64_t vid)
{
	struct vstate *v;
	struct timespec until;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 300;
	/* Sealed already: done. Another seal of this version running (an
	 * alias pointed at a draft while modelctl seals it, seal_idle): wait
	 * for it, then look again - sealed, or, if that seal failed, this one
	 * tries. The registry is asked without d->lock held (a round trip to
	 * a database server), so the state is looked up again each time. */
	for (;;) {
		struct mfs_version_info vi;
		bool waited = false;

		if (mfs_version_get(d->st, vid, &vi) == 0 && vi.state == MFS_V_SEALED)
			return 0;
		pthread_mutex_lock(&d->lock);
		for (;;) {
			v = vs_get_locked(d, vid, true);
			if (!v || !v->sealing)
				break;
			waited = true;
			if (pthread_cond_timedwait(&d->cond, &d->lock, &until) == ETIMEDOUT) {
				pthread_mutex_unlock(&d->lock);
				return mfs_log_errno(-EBUSY, "another seal of this version has run for 5 minutes; try again later");
			}
		}
		if (!v) {
			pthread_mutex_unlock(&d->lock);
			return -ENOMEM;
		}
		if (!waited)
			break;		/* d->lock held, no seal running */
		pthread_mutex_unlock(&d->lock);
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	v->sealing = true;
	/* FUSE sends RELEASE after close() returns: give pending releases up
	 * to 2 s before calling a writer still open. No lock other lookups
	 * need is held while waiting or sealing. */
	while (v->writers > 0 && r == 0)
		r = pthread_cond_timedwait(&d->cond, &d->lock, &until);
	if (v->writers > 0) {
		v->sealing = false;
		pthread_cond_broadcast(&d->cond);
		pthread_mutex_unlock(&d->lock);
		return -EBUSY;
	}
	pthread_mutex_unlock(&d->lock);
	/* The files its last writers closed are being hashed: take those
	 * digests rather than read the files again. */
	prehash_drain(d, vid);
	r = mfs_seal_version(d->st, c, vid, node_seal_hint, d);
	pthread_mutex_lock(&d->lock);
	v->sealing = false;
	pthread_cond_broadcast(&d->cond);	/* seals waiting for this one */
	pthread_mutex_unlock(&d->lock);
	return r;	/* the seal's commit told fs_change() what to forget */
}

/* Names to drop from the kernel's cache, from a thread of their own. */
#define FORGET_MAX 4
struct forget {
	struct mfsd *d;
	uint64_t parent;
	bool attrs;			/* the parent's attributes too */
	bool all;			/* every model's name (then n is 0) */
	int n;
	char name[FORGET_MAX][MFS_NAME_MAX + 1];
};

/* Everything the kernel may cache below models/: each model's name (the
 * kernel drops what it cached beneath a name with it). */
static void forget_all(struct mfsd *d)
{
	struct mfs_model_info *ms = NULL;
	size_t n = 0;

	fuse_lowlevel_notify_inval_inode(d->se, INO_MODELS, 0, 0);
	if (mfs_model_list(d->st, &ms, &n) < 0) {
		mfs_log(MFS_LOG_WARN, "cannot list the models to make the kernel forget them; cached names may lag for up to an hour");
		return;
	}
	for (size_t i = 0; i < n; i++)
		fuse_lowlevel_notify_inval_entry(d->se, INO_MODELS, ms[i].name,
						 strlen(ms[i].name));
	free(ms);
}

static void *forget_main(void *arg)
{
	struct forget *f = arg;
	struct mfsd *d = f->d;

	/* Not from the request that asked: the kernel may hold locks the
	 * invalidation needs. An entry busy as someone's cwd stays usable. */
	if (f->all)
		forget_all(d);
	for (int i = 0; i < f->n; i++)
		fuse_lowlevel_notify_inval_entry(d->se, f->parent, f->name[i],
						 strlen(f->name[i]));
	if (f->attrs)
		fuse_lowlevel_notify_inval_inode(d->se, f->parent, -1, 0);
	free(f);
	pthread_mutex_lock(&d->lock);
	d->forgetting--;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* Drop names[0..n) of directory parent (n <= FORGET_MAX), and with attrs
 * the parent's attributes; with all, every model's name. */
static void forget_names(struct mfsd *d, uint64_t parent, const char *const *names, int n,
			 bool attrs, bool all)
{
	struct forget *f;
	pthread_attr_t attr;
	pthread_t t;

	if (!d->se)
		return;
	f = calloc(1, sizeof(*f));
	if (!f)
		return;
	f->d = d;
	f->parent = parent;
	f->attrs = attrs;
	f->all = all;
	for (int i = 0; i < n && i < FORGET_MAX; i++)
		snprintf(f->name[f->n++], sizeof(f->name[0]), "%s", names[i]);
	pthread_mutex_lock(&d->lock);
	if (d->stopping) {
		pthread_mutex_unlock(&d->lock);
		free(f);
		return;
	}
	d->forgetting++;
	pthread_mutex_unlock(&d->lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, forget_main, f) != 0) {
		free(f);
		pthread_mutex_lock(&d->lock);
		d->forgetting--;
		pthread_mutex_unlock(&d->lock);
	}
	pthread_attr_destroy(&attr);
}

void fs_change(void *ctx, const struct mfs_change *c)
{
	/* The names in a model's directory the kernel may cache (versions/
	 * and the documents): the next walk through it asks the registry,
	 * which checks search permission with the new mode. */
	static const char *const model_names[] = { "versions", "metadata.json",
						   "policy.json", "history.jsonl" };
	struct mfsd *d = ctx;
	const char *name = c->name;

	switch (c->kind) {
	case MFS_CHANGE_VERSION:
		/* Sealed (the kernel forgets the draft's nodes, and the
		 * daemon closes their descriptors), removed or renamed. */
		forget_names(d, ino_make(K_VERSIONS, c->model_id), &name, 1, false, false);
		break;
	case MFS_CHANGE_MODEL:
		forget_names(d, ino_make(K_MODEL, c->model_id), model_names, 4, true, false);
		break;
	case MFS_CHANGE_MODEL_GONE:
		forget_names(d, INO_MODELS, &name, 1, false, false);
		break;
	case MFS_CHANGE_ANY:
		docs_forget_all(d);
		forget_names(d, INO_MODELS, NULL, 0, false, true);
		break;
	case MFS_CHANGE_DOCS:
		/* At once, in this thread: a stat after the call that
		 * committed returns must see the new size. */
		docs_forget(d, c->model_id, c->vid);
		break;
	case MFS_CHANGE_DOCS_ALL:
		docs_forget_all(d);
		break;
	case MFS_CHANGE_NO_DOCS:
		break;
	}
}

void forget_wait(struct mfsd *d)
{
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	while (d->forgetting > 0)
		pthread_cond_wait(&d->cond, &d->lock);
	pthread_mutex_unlock(&d->lock);
}

/*============================================================ seal_idle */

/* Forget a version that is no longer a draft (unless a writer holds it). */
static void vstate_drop(struct mfsd *d, uint64_t vid)
{
	struct vstate **pp, *v;

	pthread_mutex_lock(&d->lock);
	for (pp = &d->vs; (v = *pp); pp = &v->next) {
		if (v->vid == vid && !v->writers && !v->sealing) {
			*pp = v->next;
			free(v);
			break;
		}
	}
	pthread_mutex_unlock(&d->lock);
}

static void *idle_main(void *arg)
{
	struct mfsd *d = arg;
	const struct mfs_caller c = { .uid = 0, .gid = 0, .pid = 0 };

	for (;;) {
		uint64_t due[64];
		size_t n = 0;
		struct vstate *v;
		int64_t now = mfs_now_ns();

		pthread_mutex_lock(&d->lock);
		if (d->stopping) {
			pthread_mutex_unlock(&d->lock);
			break;
		}
		for (v = d->vs; v && n < 64; v = v->next)
			if (!v->writers && !v->sealing &&
			    now - v->last_ns >= (int64_t)d->seal_idle * 1000000000)
				due[n++] = v->vid;
		pthread_mutex_unlock(&d->lock);
		for (size_t i = 0; i < n; i++) {
			struct mfs_version_info vi;
			int r;

			if (mfs_version_get(d->st, due[i], &vi) < 0 || vi.state != MFS_V_DRAFT) {
				vstate_drop(d, due[i]);
				continue;
			}
			r = fs_seal(d, &c, due[i]);
			if (r < 0 && r != -EINVAL)
				mfs_log(MFS_LOG_WARN, "idle seal of version id %llu failed: %s",
					(unsigned long long)due[i], strerror(-r));
			/* An empty or failing draft waits another period. */
			vstate_touch(d, due[i]);
		}
		sleep(1);
	}
	return NULL;
}

int idle_start(struct mfsd *d, pthread_t *ret)
{
	if (!d->seal_idle)
		return 0;
	return -pthread_create(ret, NULL, idle_main, d);
}

/*============================================================ credentials */

/* Whether this thread acts as a caller now: as_daemon() then has
 * something to undo (three system calls a request saved for root). */
static __thread bool acting;

int as_caller(struct mfsd *d, const struct mfs_caller *c, uint64_t vid)
{
	struct mfs_version_info vi;

	if (!c || c->uid == 0)
		return 0;
	if (!d->daemon_root) {
		/* The kernel checks the daemon's own credentials, which would
		 * let every caller do what the daemon's user may. */
		int r;

		if (c->uid == d->daemon_uid)
			return 0;
		r = mfs_version_get(d->st, vid, &vi);
		if (r < 0 || vi.uid == c->uid)
			return r;	/* gone meanwhile: -ENOENT */
		return mfs_log_errno(-EACCES, "refusing uid %u inside the draft '%s': a daemon not run as root cannot act as its callers, so only the version's creator may",
				     (unsigned)c->uid, vi.name);
	}
	/* Per thread on Linux: other requests keep their own identity. The
	 * raw system call, not glibc's setgroups(), which would change every
	 * thread of the process. */
	syscall(SYS_setgroups, (size_t)c->ngroups, c->groups);
	setfsgid(c->gid);
	setfsuid(c->uid);
	acting = true;
	return 0;
}

void as_daemon(struct mfsd *d)
{
	if (!d->daemon_root || !acting)
		return;
	acting = false;
	setfsuid(0);
	setfsgid(0);
	syscall(SYS_setgroups, (size_t)0, NULL);
}
