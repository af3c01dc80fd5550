/* prehash.c - hash a draft file once its last writer has closed it */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "hash.h"
#include "log.h"
#include "prehash.h"
#include "ref.h"

struct job {
	struct node *n;			/* a reference of the queue's */
	uint32_t wgen;			/* n->wgen when its writer closed it */
	struct job *next;
};

struct prehash {
	struct mfsd *d;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* a job queued, done, or stop */
	struct job *head, *tail;	/* lock */
	uint64_t running;		/* lock: the vid being hashed, 0 none */
	bool stop;			/* lock */
};

/* Hash n's file, unless it changed since job->wgen; keep the digest when
 * nothing changed it while it was read. */
static void hash_one(const struct job *job)
{
	struct node *n = job->n;
	struct mfs_digest dg, rdg;
	struct stat a, b;
	uint64_t size, rsize;
	char path[64];
	int fd;
	bool same;

	pthread_mutex_lock(&n->hlock);
	same = n->wgen == job->wgen && !n->wopen;
	pthread_mutex_unlock(&n->hlock);
	if (!same)
		return;		/* a writer again: its own close queues it */
	/* The node's O_PATH descriptor, reopened to read. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", n->fd);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;		/* the seal reads it, and says why if it can't */
	/* An instant copy: the seal takes its blob's digest. */
	if (fstat(fd, &a) < 0 || !S_ISREG(a.st_mode) || mfs_ref_get(fd, &rdg, &rsize) != 0 ||
	    mfs_hash_fd(fd, &dg, &size) < 0 || fstat(fd, &b) < 0) {
		close(fd);
		return;
	}
	close(fd);
	if (size != (uint64_t)a.st_size || a.st_size != b.st_size ||
	    a.st_mtim.tv_sec != b.st_mtim.tv_sec || a.st_mtim.tv_nsec != b.st_mtim.tv_nsec)
		return;
	pthread_mutex_lock(&n->hlock);
	if (n->wgen == job->wgen && !n->wopen) {
		n->dg = dg;
		n->dg_size = size;
		n->dg_valid = true;
	}
	pthread_mutex_unlock(&n->hlock);
}

static void *prehash_main(void *arg)
{
	struct prehash *ph = arg;
	struct job *job;

	pthread_mutex_lock(&ph->lock);
	for (;;) {
		while (!ph->stop && !ph->head)
			pthread_cond_wait(&ph->cond, &ph->lock);
		if (ph->stop)
			break;
		job = ph->head;
		ph->head = job->next;
		if (!ph->head)
			ph->tail = NULL;
		ph->running = job->n->vid;
		pthread_mutex_unlock(&ph->lock);
		hash_one(job);
		node_open_ref(ph->d, job->n, -1);
		free(job);
		pthread_mutex_lock(&ph->lock);
		ph->running = 0;
		pthread_cond_broadcast(&ph->cond);
	}
	pthread_mutex_unlock(&ph->lock);
	return NULL;
}

int prehash_start(struct mfsd *d)
{
	struct prehash *ph = calloc(1, sizeof(*ph));
	int r;

	if (!ph)
		return -ENOMEM;
	ph->d = d;
	pthread_mutex_init(&ph->lock, NULL);
	pthread_cond_init(&ph->cond, NULL);
	r = pthread_create(&ph->thread, NULL, prehash_main, ph);
	if (r) {
		pthread_cond_destroy(&ph->cond);
		pthread_mutex_destroy(&ph->lock);
		free(ph);
		return -r;
	}
	d->ph = ph;
	return 0;
}

void prehash_stop(struct mfsd *d)
{
	struct prehash *ph = d->ph;
	struct job *job;

	if (!ph)
		return;
	pthread_mutex_lock(&ph->lock);
	ph->stop = true;
	pthread_cond_broadcast(&ph->cond);
	pthread_mutex_unlock(&ph->lock);
	pthread_join(ph->thread, NULL);
	while ((job = ph->head)) {
		ph->head = job->next;
		node_open_ref(d, job->n, -1);
		free(job);
	}
	pthread_cond_destroy(&ph->cond);
	pthread_mutex_destroy(&ph->lock);
	free(ph);
	d->ph = NULL;
}

void prehash_closed(struct mfsd *d, struct node *n, uint32_t wgen, int64_t size)
{
	struct prehash *ph = d->ph;
	struct job *job;

	if (!ph)
		return;
	if (size >= 0 && size <= PREHASH_INLINE) {
		const struct job here = { .n = n, .wgen = wgen };

		hash_one(&here);
		return;
	}
	if (!(job = calloc(1, sizeof(*job))))
		return;
	node_open_ref(d, n, 1);
	job->n = n;
	job->wgen = wgen;
	pthread_mutex_lock(&ph->lock);
	if (ph->stop) {
		pthread_mutex_unlock(&ph->lock);
		node_open_ref(d, n, -1);
		free(job);
		return;
	}
	if (ph->tail)
		ph->tail->next = job;
	else
		ph->head = job;
	ph->tail = job;
	pthread_cond_broadcast(&ph->cond);
	pthread_mutex_unlock(&ph->lock);
}

void prehash_drain(struct mfsd *d, uint64_t vid)
{
	struct prehash *ph = d->ph;
	struct job *mine = NULL, **pp, *j;

	if (!ph)
		return;
	pthread_mutex_lock(&ph->lock);
	/* Its files still queued: hashed here, beside the thread, rather
	 * than behind other versions' files. */
	ph->tail = NULL;
	for (pp = &ph->head; (j = *pp);) {
		if (j->n->vid == vid) {
			*pp = j->next;
			j->next = mine;
			mine = j;
		} else {
			ph->tail = j;
			pp = &j->next;
		}
	}
	/* The one being hashed: wait for it. */
	while (ph->running == vid && !ph->stop)
		pthread_cond_wait(&ph->cond, &ph->lock);
	pthread_mutex_unlock(&ph->lock);
	while ((j = mine)) {
		mine = j->next;
		hash_one(j);
		node_open_ref(d, j->n, -1);
		free(j);
	}
}
