/* progressbar.c - long work's progress on a terminal, never in a pipe */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "progress.h"
#include "progressbar.h"

static struct {
	char what[64];
	int64_t shown_ms;
	bool open;		/* a line without its newline yet */
} line;

static void show(void *ctx, const char *what, uint64_t done, uint64_t total)
{
	bool last = total && done >= total, fresh = strcmp(line.what, what) != 0;
	int64_t now = mfs_mono_ms();

	(void)ctx;
	if (!last && !fresh && now - line.shown_ms < 100)
		return;
	if (fresh && line.open)
		fputc('\n', stderr);
	snprintf(line.what, sizeof(line.what), "%s", what);
	line.shown_ms = now;
	if (total)
		fprintf(stderr, "\r%s: %llu/%llu", what, (unsigned long long)done,
			(unsigned long long)total);
	else
		fprintf(stderr, "\r%s: %llu", what, (unsigned long long)done);
	line.open = !last;
	if (last) {
		fputc('\n', stderr);
		line.what[0] = '\0';	/* a next run of the same step */
	}
	fflush(stderr);
}

void ctl_progress_start(void)
{
	if (isatty(STDERR_FILENO))
		mfs_progress_set(show, NULL);
}

void ctl_progress_end(void)
{
	if (line.open)
		fputc('\n', stderr);
	line.open = false;
}

static struct {
	pthread_t t;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool on, stop;
	const char *what;
} waiting = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void *tick(void *arg)
{
	int64_t start = mfs_mono_ms();
	struct timespec until;

	(void)arg;
	pthread_mutex_lock(&waiting.lock);
	while (!waiting.stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&waiting.cond, &waiting.lock, &until);
		if (!waiting.stop) {
			fprintf(stderr, "\r%s: %lld s", waiting.what,
				(long long)((mfs_mono_ms() - start) / 1000));
			fflush(stderr);
			line.open = true;
		}
	}
	pthread_mutex_unlock(&waiting.lock);
	return NULL;
}

void ctl_progress_wait(const char *what)
{
	if (!isatty(STDERR_FILENO))
		return;
	waiting.what = what;
	waiting.stop = false;
	waiting.on = pthread_create(&waiting.t, NULL, tick, NULL) == 0;
}

void ctl_progress_waited(void)
{
	if (!waiting.on)
		return;
	pthread_mutex_lock(&waiting.lock);
	waiting.stop = true;
	pthread_cond_signal(&waiting.cond);
	pthread_mutex_unlock(&waiting.lock);
	pthread_join(waiting.t, NULL);
	waiting.on = false;
	ctl_progress_end();
}
