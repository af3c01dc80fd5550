/* newver.h - a new version made through the mount: register, import dir, import mlflow */
#ifndef MODELCTL_NEWVER_H
#define MODELCTL_NEWVER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct ctl;

/*
 * What a user does by hand - mkdir the model and the version, cp -r the
 * files in, write metadata.json, seal, ln -sfn - done through the mount,
 * so every rule of the registry applies as it would to them. Each
 * function says what failed on stderr, in one line.
 */
struct newver {
	const char *model, *version;	/* borrowed */
	char dst[PATH_MAX];		/* MNT/models/MODEL/versions/VERSION */
	char mount[PATH_MAX];
};

/* Find the mount (into v->mount), make the model if it is new and the
 * version's draft (v->dst). verb names the caller in messages.
 * Returns 0 or -1 (said). */
int newver_draft(struct ctl *c, struct newver *v, const char *verb);
/* Write text (len bytes) as the draft's metadata.json: the daemon checks
 * the document at close, and its verdict comes back here; from names
 * where the text came from. Returns 0 or -errno (said). */
int newver_metadata(const struct newver *v, const char *text, size_t len, const char *from);
/* With seal, seal; then point alias at the version (NULL: none). Returns
 * 0, -1 when the seal failed (the caller removes the draft), 1 when the
 * promotion was refused (the version stays, sealed; it said why). */
int newver_finish(struct ctl *c, struct newver *v, bool seal, const char *alias);
/* Does the sealed version at vdir hold exactly files (a cJSON array of
 * {"path", "digest"} sorted by path, as its metadata.json lists them)? */
struct cJSON;
bool newver_same_files(const char *vdir, const struct cJSON *files);
/* Remove the draft v->dst, and say so. */
void newver_abandon(const struct newver *v);

#endif
