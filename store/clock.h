/* clock.h - the monotonic clock that deadlines, waits and pacing read */
#ifndef MFS_CLOCK_H
#define MFS_CLOCK_H

#include <stdint.h>
#include <time.h>

/*
 * CLOCK_MONOTONIC: never steps with the wall clock, so a deadline or a
 * measured wait cannot jump. Wall-clock time (records, the audit trail) is
 * mfs_now_ns() in store.h. These functions can't fail.
 */
static inline int64_t mfs_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t mfs_mono_ms(void)
{
	return mfs_mono_ns() / 1000000;
}

#endif
