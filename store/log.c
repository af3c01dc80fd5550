/* log.c - stderr or syslog sink for the daemon and tools */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <errno.h>

#include "log.h"

/* Set once before threads start (STYLE A9 exception 1). */
static int log_syslog;
static enum mfs_log_level log_level = MFS_LOG_INFO;
static const char *log_ident = "modelfs";

/* The calling thread's last refusal (mfs_log_last_refusal): per thread,
 * so it needs no lock and never mixes two requests. */
static _Thread_local char last_text[512];
static _Thread_local int last_err;

void mfs_log_init(const char *ident, int use_syslog, enum mfs_log_level level)
{
	log_ident = ident;
	log_syslog = use_syslog;
	log_level = level;
	if (use_syslog)
		openlog(ident, LOG_PID, LOG_DAEMON);
}

static void vlog(enum mfs_log_level level, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	static const char *const name[] = { "error", "warning", "info", "debug" };
	char raw[1024], line[4 * sizeof(raw)];
	size_t o = 0;

	if (level > log_level)
		return;
	vsnprintf(raw, sizeof(raw), fmt, ap);
	/* A name with a newline must not forge a second log line: control
	 * characters are written as \xNN. */
	for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			o += (size_t)snprintf(line + o, sizeof(line) - o, "\\x%02x", *p);
		else
			line[o++] = (char)*p;
	}
	line[o] = '\0';
	if (log_syslog) {
		syslog(prio[level], "%s", line);
		return;
	}
	/* One fprintf per line keeps concurrent lines whole. */
	fprintf(stderr, "%s: %s: %s\n", log_ident, name[level], line);
}

void mfs_log(enum mfs_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

int mfs_log_errno(int err, const char *fmt, ...)
{
	va_list ap;

	/* Refusals are the user's mistakes, not ours: log them as notices
	 * ("info"), which the daemon prints by default. */
	va_start(ap, fmt);
	vlog(MFS_LOG_INFO, fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	vsnprintf(last_text, sizeof(last_text), fmt, ap);
	va_end(ap);
	last_err = err;
	return err;
}

const char *mfs_log_last_refusal(int err)
{
	return last_err && last_err == err ? last_text : NULL;
}
