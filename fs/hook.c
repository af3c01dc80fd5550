/* hook.c - a worker thread that runs -o hook=PROGRAM per committed event */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hook.h"
#include "clock.h"
#include "log.h"
#include "store.h"

/*
 * Records come from store_txn_commit() on FUSE worker threads (the sink
 * must be quick: they hold the store's sink lock), so hook_event() copies
 * the record into a ring and signals. The worker owns everything about a
 * run; it is the only thread that forks. posix_spawn (vfork-like, no
 * handlers run in the child) keeps that safe in a threaded daemon.
 */

#define HOOK_QUEUE 256

extern char **environ;

struct hook {
	char *program;			/* read-only after start */
	int timeout_s;			/* read-only after start */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *q[HOOK_QUEUE];		/* protected by lock */
	unsigned head, n;		/* protected by lock */
	unsigned long dropped;		/* protected by lock */
	bool stop;			/* protected by lock */
};

void hook_event(void *ctx, const char *record)
{
	struct hook *h = ctx;
	char *copy = strdup(record);

	pthread_mutex_lock(&h->lock);
	if (!copy || h->n == HOOK_QUEUE || h->stop) {
		/* Counted and logged by the worker: logging here could
		 * flood the log at the rate of refusals. */
		h->dropped++;
		free(copy);
	} else {
		h->q[(h->head + h->n++) % HOOK_QUEUE] = copy;
		pthread_cond_signal(&h->cond);
	}
	pthread_mutex_unlock(&h->lock);
}

/* Feed the record to fd until done, the reader goes, or the deadline. */
static void feed(int fd, const char *rec, int64_t deadline)
{
	size_t len = strlen(rec), off = 0;

	while (off <= len) {
		/* The record, then its newline. */
		const char *p = off < len ? rec + off : "\n";
		size_t want = off < len ? len - off : 1;
		ssize_t w = write(fd, p, want);
		struct pollfd pfd = { fd, POLLOUT, 0 };
		int64_t left;

		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN)
			return;		/* EPIPE: it does not read stdin */
		left = deadline - mfs_mono_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return;
	}
}

/* Run the program once for rec; log what went wrong. */
static void run(struct hook *h, const char *rec)
{
	char *argv[] = { h->program, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	int p[2] = { -1, -1 }, ws = 0, r;
	int64_t deadline = mfs_mono_ms() + (int64_t)h->timeout_s * 1000;
	pid_t pid = -1;
	bool killed = false;

	if (pipe2(p, O_CLOEXEC) < 0) {
		mfs_log(MFS_LOG_WARN, "hook '%s': pipe: %s", h->program, strerror(errno));
		return;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	/* Its own process group (so a timeout kills its children too), no
	 * signals blocked, default dispositions (the daemon ignores SIGPIPE). */
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	{
		sigset_t def;

		sigemptyset(&def);
		sigaddset(&def, SIGPIPE);
		sigaddset(&def, SIGINT);
		sigaddset(&def, SIGTERM);
		sigaddset(&def, SIGHUP);
		posix_spawnattr_setsigdefault(&attr, &def);
	}
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
				 POSIX_SPAWN_SETSIGDEF);
	r = posix_spawn(&pid, h->program, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(p[0]);
	if (r != 0) {
		mfs_log(MFS_LOG_WARN, "hook '%s' cannot run: %s", h->program, strerror(r));
		close(p[1]);
		return;
	}
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	feed(p[1], rec, deadline);
	close(p[1]);
	for (;;) {
		pid_t w = waitpid(pid, &ws, WNOHANG);

		if (w == pid || (w < 0 && errno != EINTR))
			break;
		if (!killed && mfs_mono_ms() >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			killed = true;
			mfs_log(MFS_LOG_WARN, "hook '%s' killed after %d s", h->program,
				h->timeout_s);
		}
		/* No pidfd in every libc here: a short sleep between looks. */
		nanosleep(&(struct timespec){ 0, 20 * 1000 * 1000 }, NULL);
	}
	if (killed)
		return;
	if (WIFEXITED(ws) && WEXITSTATUS(ws) != 0)
		mfs_log(MFS_LOG_WARN, "hook '%s' exited with status %d", h->program,
			WEXITSTATUS(ws));
	else if (WIFSIGNALED(ws))
		mfs_log(MFS_LOG_WARN, "hook '%s' died of signal %d", h->program, WTERMSIG(ws));
}

static void *worker(void *arg)
{
	struct hook *h = arg;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		char *rec;

		if (h->dropped) {
			mfs_log(MFS_LOG_WARN, "hook '%s': queue full, %lu events dropped",
				h->program, h->dropped);
			h->dropped = 0;
		}
		if (h->stop)
			break;
		if (!h->n) {
			pthread_cond_wait(&h->cond, &h->lock);
			continue;
		}
		rec = h->q[h->head];
		h->head = (h->head + 1) % HOOK_QUEUE;
		h->n--;
		pthread_mutex_unlock(&h->lock);
		run(h, rec);
		free(rec);
		pthread_mutex_lock(&h->lock);
	}
	if (h->n)
		mfs_log(MFS_LOG_WARN, "hook '%s': %u events not delivered at exit", h->program,
			h->n);
	while (h->n) {
		free(h->q[h->head]);
		h->head = (h->head + 1) % HOOK_QUEUE;
		h->n--;
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int hook_start(const char *program, int timeout_s, struct hook **ret)
{
	struct hook *h = calloc(1, sizeof(*h));
	int r;

	if (!h)
		return -ENOMEM;
	h->program = strdup(program);
	h->timeout_s = timeout_s > 0 ? timeout_s : 10;
	if (!h->program) {
		free(h);
		return -ENOMEM;
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	r = pthread_create(&h->thread, NULL, worker, h);
	if (r != 0) {
		pthread_cond_destroy(&h->cond);
		pthread_mutex_destroy(&h->lock);
		free(h->program);
		free(h);
		return mfs_log_errno(-r, "hook '%s': cannot start its thread: %s", program,
				     strerror(r));
	}
	*ret = h;
	return 0;
}

void hook_stop(struct hook *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h->program);
	free(h);
}
