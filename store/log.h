/* log.h - one log line per refusal, in one voice */
#ifndef MFS_LOG_H
#define MFS_LOG_H

/*
 * The daemon logs to stderr in the foreground and to syslog once it has
 * daemonized; tools log to stderr. The sink and level are process globals,
 * set once before any thread starts (STYLE A9 exception 1).
 */

enum mfs_log_level { MFS_LOG_ERR = 0, MFS_LOG_WARN, MFS_LOG_INFO, MFS_LOG_DEBUG };

/* Choose the sink (syslog when use_syslog, else stderr) and the most verbose
 * level printed. ident prefixes stderr lines and names the syslog ident.
 * Threads: call before starting threads. */
void mfs_log_init(const char *ident, int use_syslog, enum mfs_log_level level);

/* Log one line (no trailing newline needed). This function can't fail. */
void mfs_log(enum mfs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Log one warning line saying why and return err unchanged, so a refusal is
 * `return mfs_log_errno(-EROFS, "refusing ...");`. */
int mfs_log_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The text of the calling thread's last mfs_log_errno() if it returned err
 * (the reason an audit denial records), else NULL. Borrowed: valid until
 * the thread's next mfs_log_errno(). */
const char *mfs_log_last_refusal(int err);

#endif
