/* copytree.h - copy a directory tree (or one file) for register, export and import */
#ifndef MODELCTL_COPYTREE_H
#define MODELCTL_COPYTREE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Files, directories and symlinks, with their permission bits, as `cp -r`
 * copies them (a hard link becomes a second file; other kinds are
 * refused). A draft's file reports what its writes did at close, so every
 * close is checked. On a terminal (stderr) a progress line is redrawn at
 * most ten times a second; elsewhere nothing is shown.
 */

struct copytree {
	const char *label;	/* what the progress line names, e.g. MODEL@VERSION */
	const char *verb;	/* "registering", "exporting", ... */
	/* Skip paths relative to the source (dir: a directory) for which
	 * this returns true (NULL: none). */
	bool (*skip)(const char *rel, bool dir);
	uint64_t files, bytes;	/* out: what was copied */
};

/* Copy src (a directory's contents, or one file under its own name; a
 * symlink naming either is followed) into the existing directory dst.
 * Returns 0, or -1 after one line on stderr naming what failed. */
int copytree(struct copytree *t, const char *src, const char *dst);

/* Remove everything below dst, and with top dst itself (best effort, for
 * a failed copy; symlinks are removed, never followed). */
void copytree_remove(const char *dst, bool top);

#endif
