/* policy.h - governance policy: validation, effective rules, gate checks */
#ifndef MFS_POLICY_H
#define MFS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * A policy is a JSON document: a model's policy.json, or the registry's
 * default (MNT/policy.json, admins only). The format is documented key by
 * key in the README ("Policy"). A model's rules fall back key by key to the
 * registry default, then to the built-in default, which protects the alias
 * `production`.
 *
 * The checks themselves run inside the registry operations (alias.c,
 * version.c, seal.c), in the operation's transaction, so a rule and the
 * change it allows commit together.
 */

/* Validate a policy document. registry: the registry-wide default (it may
 * also hold "naming"). Returns 0, or -EINVAL with why (n bytes, may be
 * NULL) naming the bad field, e.g. "aliases.production.approvals: must be an
 * integer from 0 to 100". Pure; no I/O; safe from any thread. */
int mfs_policy_validate(const char *buf, size_t len, bool registry, char *why,
			size_t n);

/* A gate expression: "OP VALUE" with OP one of >= > <= < == != and VALUE a
 * JSON number, string or boolean; or "exists". */
struct mfs_gate_expr {
	enum { MFS_GATE_EXISTS, MFS_GATE_CMP } kind;
	enum { MFS_OP_GE, MFS_OP_GT, MFS_OP_LE, MFS_OP_LT, MFS_OP_EQ, MFS_OP_NE } op;
	enum { MFS_GV_NUMBER, MFS_GV_STRING, MFS_GV_BOOL } vtype;
	double num;
	bool b;
	char str[256];
};

/* Parse a gate expression. Returns 0, or -EINVAL. Pure. */
int mfs_gate_expr_parse(const char *text, struct mfs_gate_expr *ret);

/* Does value (a JSON text, NULL when the key is absent) satisfy e?
 * A number compared with a string (or the reverse) fails. Pure. */
bool mfs_gate_expr_eval(const struct mfs_gate_expr *e, const char *value_json);

/* The effective retention of a model: keep_last, or 0 for "keep all".
 * Returns 0 or -errno. */
int mfs_policy_keep_last(struct mfs_store *st, uint64_t model_id,
			 unsigned *ret_keep_last);

/* The registry-wide default policy text ("{}\n" until set).
 * Ownership: caller owns *ret; free(). */
int mfs_policy_registry_get(struct mfs_store *st, char **ret, size_t *ret_len);
/* Replace it (admins only: -EACCES otherwise). Returns 0, or -EINVAL
 * (logged: the bad field). Audited. */
int mfs_policy_registry_set(struct mfs_store *st, const struct mfs_caller *c,
			    const char *buf, size_t len);

#endif
