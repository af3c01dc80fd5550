/* doc.h - the documents of models and of the registry, and index.json */
#ifndef MFS_DOC_H
#define MFS_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * A model's metadata.json and policy.json, the registry's policy.json
 * (model id 0) and index.json. Writing them is audited, a policy is
 * validated before it is stored, and who may write which is the
 * registry's rule (below).
 */

enum mfs_model_doc { MFS_DOC_METADATA, MFS_DOC_POLICY };

/* The model's metadata.json or policy.json text ("{}\n" until written).
 * Ownership: caller owns *ret (NUL-terminated); free(). */
int mfs_model_doc_get(struct mfs_store *st, uint64_t id, enum mfs_model_doc doc,
		      char **ret, size_t *ret_len);
/* Replace a model document with buf, which must be a JSON object.
 * Returns 0, or: -EINVAL (logged with the reason) if buf is not a JSON
 * object; -ENOENT if the model is gone. Audited. */
int mfs_model_doc_set(struct mfs_store *st, const struct mfs_caller *c,
		      uint64_t id, enum mfs_model_doc doc, const char *buf,
		      size_t len);

/* May c write the model's document (id 0 with MFS_DOC_POLICY: the
 * registry's policy)? metadata.json: whoever may write the model directory;
 * policy.json: the model's owner and admins; the registry's: admins.
 * Returns 0, or -EACCES (unless quiet, as for access(2): logged, and a
 * policy refusal audited), -ENOENT. */
int mfs_model_doc_may_write(struct mfs_store *st, const struct mfs_caller *c,
			    uint64_t id, enum mfs_model_doc doc, bool quiet);

/* index.json: every model with owner, version count, latest and aliases,
 * as c sees it: only the models whose directory c may search (admins and
 * c NULL: all). Ownership: caller owns *ret; free(). */
int mfs_model_index_render(struct mfs_store *st, const struct mfs_caller *c, char **ret,
			   size_t *ret_len);

#endif
