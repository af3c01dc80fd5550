/* cmd.h - modelctl verbs: one file, one cmd_<verb>() each */
#ifndef MODELCTL_CMD_H
#define MODELCTL_CMD_H

#include <stdbool.h>

#include "store.h"

/*
 * Read verbs open the store read-only beside a running daemon (LMDB readers
 * never block it). Mutating verbs go through the mount while a daemon
 * serves the store, so the daemon sees every change (DESIGN §2, "one
 * writer of record"); without a daemon they open the store themselves,
 * under its lock.
 */

struct ctl {
	const char *store;	/* -s, $MODELFS_STORE, the mount's xattr, default */
	const char *mount;	/* -m, $MODELFS_MOUNT, or the daemon's lock file */
	bool json;
};

struct cmd {
	const char *name;
	int (*fn)(struct ctl *c, int argc, char **argv);
	const char *usage;
};

int cmd_list(struct ctl *c, int argc, char **argv);
int cmd_show(struct ctl *c, int argc, char **argv);
int cmd_seal(struct ctl *c, int argc, char **argv);
int cmd_fsck(struct ctl *c, int argc, char **argv);
int cmd_lineage(struct ctl *c, int argc, char **argv);
int cmd_diff(struct ctl *c, int argc, char **argv);
int cmd_find(struct ctl *c, int argc, char **argv);
int cmd_backup(struct ctl *c, int argc, char **argv);
int cmd_restore(struct ctl *c, int argc, char **argv);
int cmd_gc(struct ctl *c, int argc, char **argv);

/* The tool's own credentials, supplementary groups included.
 * This function can't fail. */
struct mfs_caller ctl_me(void);

/* Open the store for reading. Returns 0 or -errno (printed). When the
 * caller may not open the store but a mount is known, returns 0 with *ret
 * NULL: the verb reads through the mount (mount.c). */
int ctl_open_read(struct ctl *c, struct mfs_store **ret);

/* ---- mount.c: the same facts through the mount ---- */
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
