/* cmd.h - modelctl verbs: one file, one cmd_<verb>() each */
#ifndef MODELCTL_CMD_H
#define MODELCTL_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

/*
 * Read verbs open the store read-only beside a running daemon (LMDB readers
 * never block it). Mutating verbs go through the mount while a daemon
 * serves the store, so the daemon sees every change (DESIGN §2, "one
 * writer of record"); without a daemon they open the store themselves,
 * under its lock.
 */

struct ctl {
	const char *store;	/* -s, $MODELFS_STORE, the mount's xattr, default;
				 * NULL: the registry is opened by --db alone */
	struct mfs_config where;	/* --db, --blobs ($MODELFS_DB, $MODELFS_BLOBS):
					 * in place of what STORE/config says */
	const char *mount;	/* -m, $MODELFS_MOUNT, or the daemon's lock file */
	bool json;
	bool quiet;		/* -q: nothing on stdout (main() closes it) */
};

/* Where a verb names versions, which may be given as MODEL@VERSION or
 * MODEL@ALIAS (resolved before the verb runs, ctl_refs()). */
enum ctl_refs {
	REFS_NONE,
	REFS_JOINED,	/* argv[1] is MODEL[@NAME] */
	REFS_PAIR,	/* argv[1] MODEL, argv[2] NAME; or argv[1] MODEL@NAME */
	REFS_DIFF,	/* MODEL A B; or MODEL@A MODEL@B */
};

struct cmd {
	const char *name;
	int (*fn)(struct ctl *c, int argc, char **argv);	/* returns an exit status */
	enum ctl_refs refs;
	const char *synopsis;	/* its forms, one per line, without "modelctl " */
	const char *summary;	/* one line for the list of verbs */
	const char *help;	/* what VERB --help adds ("" nothing) */
};

/* Exit statuses, the same for every verb (README "modelctl"). */
enum {
	CTL_OK = 0,
	CTL_FAIL = 1,		/* not found, refused, failed; diff: they differ */
	CTL_USAGE = 2,		/* bad verb, arguments or options */
};

/* Print verb's forms as a usage message on stderr; returns CTL_USAGE. */
int ctl_usage(const char *verb);

/* The version name of model that name names: name itself when the model
 * has a version so named (a version wins over an alias), else the target
 * of its alias name; through the mount when there is one, else the store.
 * Returns 0 and writes ret (n bytes), or -ENOENT (nothing printed). */
int ctl_version_of(struct ctl *c, const char *model, const char *name, char *ret, size_t n);

int cmd_list(struct ctl *c, int argc, char **argv);
int cmd_show(struct ctl *c, int argc, char **argv);
int cmd_seal(struct ctl *c, int argc, char **argv);
int cmd_fsck(struct ctl *c, int argc, char **argv);
int cmd_lineage(struct ctl *c, int argc, char **argv);
int cmd_diff(struct ctl *c, int argc, char **argv);
int cmd_find(struct ctl *c, int argc, char **argv);
int cmd_backup(struct ctl *c, int argc, char **argv);
int cmd_restore(struct ctl *c, int argc, char **argv);
int cmd_migrate(struct ctl *c, int argc, char **argv);
int cmd_audit(struct ctl *c, int argc, char **argv);

/* ---- control.c ---- */
/* Apply a control to model@version: while a daemon serves the store, by
 * setting (or with remove, removing) the extended attribute xattr to value
 * on MOUNT/models/MODEL/versions/VERSION, so the daemon applies it as the
 * caller; otherwise by calling direct(st, caller, vid, arg) on the store
 * opened under its lock. Returns 0 or -errno (not printed, except a store
 * that cannot be opened). */
struct mfs_store;
typedef int (*ctl_direct_fn)(struct mfs_store *st, const struct mfs_caller *c,
			     uint64_t vid, const void *arg);
int ctl_version_control(struct ctl *c, const char *model, const char *version,
			const char *xattr, const char *value, size_t len, bool remove,
			ctl_direct_fn direct, const void *arg);

int cmd_approve(struct ctl *c, int argc, char **argv);
int cmd_lifecycle(struct ctl *c, int argc, char **argv);
int cmd_tag(struct ctl *c, int argc, char **argv);

int cmd_history(struct ctl *c, int argc, char **argv);
int cmd_rollback(struct ctl *c, int argc, char **argv);
int cmd_promote(struct ctl *c, int argc, char **argv);

/* A model's history.jsonl text (cmd_history.c): rendered by st when given,
 * else read from the store (opened and closed here) or through the mount
 * as ctl_open_read() decides. Returns 0, or -errno (printed; -ENOENT: no
 * such model). Ownership: caller frees *ret. */
int ctl_history_text(struct ctl *c, struct mfs_store *st, const char *model,
		     char **ret, size_t *ret_len);

int cmd_gc(struct ctl *c, int argc, char **argv);
int cmd_register(struct ctl *c, int argc, char **argv);
int cmd_import(struct ctl *c, int argc, char **argv);
int cmd_import_mlflow(struct ctl *c, int argc, char **argv);	/* cmd_mlflow.c */
int cmd_export(struct ctl *c, int argc, char **argv);

/* What the messages call the registry: the store, or the database.
 * Borrowed. */
const char *ctl_where(const struct ctl *c);

/* The tool's own credentials, supplementary groups included.
 * This function can't fail. */
struct mfs_caller ctl_me(void);

/* Open the store for reading. Returns 0 or -errno (printed). When the
 * caller may not open the store but a mount is known, returns 0 with *ret
 * NULL: the verb reads through the mount (mount.c). */
int ctl_open_read(struct ctl *c, struct mfs_store **ret);

/* Open the store to write it directly, under its lock (no daemon serves
 * it: see ctl_served_mount()). Returns 0 or -errno (printed; a registry
 * named by --db alone is refused: writing needs a host's store). */
int ctl_open_write(struct ctl *c, struct mfs_store **ret);

/* Should a mutating verb go through the mount (DESIGN §2 "One writer of
 * record")? Returns 1 with the mount point in mount (n bytes) when a
 * daemon serves the store or -m was given, 0 when the verb opens the store
 * itself, -1 (printed) when the store is served at an unknown mount. */
int ctl_served_mount(const struct ctl *c, char *mount, size_t n);

/* ---- mount.c: the same facts through the mount ---- */
/* A whole file's bytes, NUL-terminated (*ret_len without it; may be
 * NULL). Returns NULL with errno set. Ownership: caller frees. */
char *ctl_slurp(const char *path, size_t *ret_len);

/* The file MOUNT/<fmt...> as text. Ownership: caller frees. NULL if absent. */
char *mnt_text(const struct ctl *c, size_t *ret_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* mnt_text(fmt, model, version) parsed. Ownership: caller cJSON_Delete()s. */
struct cJSON *mnt_json(const struct ctl *c, const char *fmt, const char *model,
		       const char *version);
/* A version directory's xattr value. Ownership: caller frees. */
char *mnt_xattr(const struct ctl *c, const char *model, const char *version,
		const char *name);
/* A version as `show MODEL@V --json` prints it (the registry object with
 * the user's metadata under "metadata"), or NULL if there is none.
 * Ownership: caller cJSON_Delete()s. */
struct cJSON *mnt_version(const struct ctl *c, const char *model, const char *version);
/* A model's versions as `list MODEL --json` prints them, or NULL if the
 * model does not exist. Ownership: caller cJSON_Delete()s. */
struct cJSON *mnt_versions(const struct ctl *c, const char *model);
/* Models (model NULL) or a model's versions by precedence.
 * Ownership: caller frees each name and the array. */
int mnt_names(const struct ctl *c, const char *model, char ***ret, size_t *ret_n);
/* Split "model@version" (version may be absent: *ret_version NULL).
 * Modifies s. */
void ctl_split_ref(char *s, char **ret_model, char **ret_version);
/* Print a cJSON value to stdout with a newline and free it. */
struct cJSON;
void ctl_print_json(struct cJSON *j);

#endif
