/* query.h - the `modelctl find` filter language: parse and evaluate */
#ifndef MFS_QUERY_H
#define MFS_QUERY_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Pure: no I/O, no LMDB. An expression is evaluated against one JSON
 * object per version (built by the caller). Grammar:
 *
 *   expr    := and ( "or" and )*
 *   and     := unary ( "and" unary )*
 *   unary   := "not" unary | "(" expr ")" | "exists" "(" path ")"
 *            | path OP value | path "contains" value
 *   OP      := "==" | "!=" | ">=" | "<=" | ">" | "<"
 *   value   := "string" | number | true | false | null
 *   path    := name ( "." name )*      (e.g. metrics.auc, registry fields)
 *
 * Strings are always double-quoted. A path names a key of the version
 * object; when it holds a list, == and contains match any element.
 * Numbers compare as numbers, strings lexically (RFC 3339 times too); a
 * missing path or a type mismatch makes the comparison false.
 */

struct mfs_query;
struct cJSON;

/* How deeply "not" and parentheses may nest in an expression. */
#define MFS_QUERY_DEPTH 64

/* Parse text. Returns 0, or -EINVAL with the 1-based column of the error
 * and a message (size n) saying what was expected, also when "not" and
 * "(" nest more than MFS_QUERY_DEPTH levels deep.
 * Ownership: caller owns *ret; free with mfs_query_free(). */
int mfs_query_parse(const char *text, struct mfs_query **ret, int *ret_col,
		    char *why, size_t n);
void mfs_query_free(struct mfs_query *q);

/* Does the version object match? This function can't fail. */
bool mfs_query_match(const struct mfs_query *q, const struct cJSON *obj);

/* The value at a dotted path of obj (the whole name first: metadata keys
 * may contain dots), or NULL. Borrowed from obj. */
const struct cJSON *mfs_query_lookup(const struct cJSON *obj, const char *path);

/* Does the expression mention path (e.g. "format")? */
bool mfs_query_uses(const struct mfs_query *q, const char *path);

#endif
