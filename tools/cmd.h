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

/* Open the store for reading. Returns 0 or -errno (printed). */
int ctl_open_read(struct ctl *c, struct mfs_store **ret);
/* Split "model@version" (version may be absent: *ret_version NULL).
 * Modifies s. */
void ctl_split_ref(char *s, char **ret_model, char **ret_version);
/* Print a cJSON value to stdout with a newline and free it. */
struct cJSON;
void ctl_print_json(struct cJSON *j);

#endif
