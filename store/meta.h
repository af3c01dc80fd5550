/* meta.h - JSON documents: user metadata validation (cJSON) */
#ifndef MFS_META_H
#define MFS_META_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Pure functions over JSON text; no I/O, no LMDB. version.c and model.c
 * call them before storing a document, so a bad document never replaces a
 * good one.
 */

#define MFS_META_MAX (16u << 20)	/* larger metadata is refused */

/* Is s (n bytes) valid UTF-8 (no overlong forms, surrogates or code points
 * beyond U+10FFFF) without control characters? For names users choose. */
bool mfs_meta_text_ok(const char *s, size_t n);
#define MFS_META_DEPTH 64		/* deeper nesting is refused */

struct cJSON;

/* Parse buf (len bytes, need not be NUL-terminated) as exactly one JSON
 * object with nothing but white space or NULs after it, at most
 * MFS_META_DEPTH deep. Stricter than cJSON alone: a byte order mark, a
 * control character outside strings other than JSON's white space, and a
 * raw (unescaped) control character inside a string are refused.
 * Returns 0, or -EINVAL with the reason written to why (size n).
 * Ownership: caller owns *ret; cJSON_Delete() it. */
int mfs_meta_parse_object(const char *buf, size_t len, struct cJSON **ret,
			  char *why, size_t n);

/* Validate user metadata for model@version: a JSON object whose recognised
 * keys have the right types (metrics numeric, parents "model@version"
 * strings, tags strings...). "registry" is dropped; "model_name" and
 * "version" must match. Returns 0 and the canonical text to store, or
 * -EINVAL with why. Ownership: caller owns *ret (NUL-terminated); free(). */
int mfs_meta_validate_version(const char *buf, size_t len, const char *model,
			      const char *version, char **ret, char *why,
			      size_t n);

/* The user's metadata text (a validated JSON object) with a "registry"
 * member (JSON text reg) added at its end, the user's bytes untouched.
 * Returns NULL if user is not an object or on ENOMEM.
 * Ownership: caller owns the result (NUL-terminated); free(). */
char *mfs_meta_merge_registry(const char *user, size_t len, const char *reg);

/* j as indented JSON text (two spaces a level, "key": value), each line
 * after the first shifted right by indent spaces. Returns NULL on ENOMEM.
 * Ownership: caller owns the result; free(). */
char *mfs_meta_print(const struct cJSON *j, int indent);

#endif
