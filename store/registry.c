/* registry.c - where the layers meet: a store opened with its rules */
#include <errno.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "governance.h"
#include "config.h"

/*
 * The objects (objects.h) ask governance through struct store_rules at
 * every change; this is the table, and the public openers (store.h) are
 * here so that no store is ever opened without it.
 */

static int annotations(struct mfs_store *st, struct kv_txn *txn, uint64_t vid, cJSON **ret)
{
	return store_annot_load(st, txn, vid, ret);
}

static const struct store_rules rules = {
	.record = store_audit,
	.denied = store_denied,
	.model_name = store_policy_check_model_name,
	.version_name = store_policy_check_new_version,
	.seal = store_policy_check_seal,
	.annotations = annotations,
};

int mfs_store_open_at(const char *dir, const struct mfs_config *over, unsigned flags,
		      const char *mount, struct mfs_store **ret)
{
	return store_open(dir, over, flags, mount, &rules, ret);
}

int mfs_store_open(const char *dir, unsigned flags, const char *mount,
		   struct mfs_store **ret)
{
	return store_open(dir, NULL, flags, mount, &rules, ret);
}
