/* config.c - where a store's pieces live: STORE/config (config.h) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

static char *field(struct mfs_config *c, const char *key)
{
	if (!strcmp(key, "db"))
		return c->db;
	if (!strcmp(key, "blobs"))
		return c->blobs;
	if (!strcmp(key, "drafts"))
		return c->drafts;
	if (!strcmp(key, "host"))
		return c->host;
	return NULL;
}

int mfs_config_read(const char *dir, struct mfs_config *ret)
{
	char path[4200], line[MFS_CONFIG_VALUE_MAX + 64];
	struct mfs_config c;
	int no = 0, r = 0;
	FILE *f;

	memset(&c, 0, sizeof(c));
	snprintf(path, sizeof(path), "%s/config", dir);
	f = fopen(path, "re");
	if (!f) {
		if (errno != ENOENT)
			return mfs_log_errno(-errno, "open '%s': %s", path, strerror(errno));
		*ret = c;
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		char *sp, *dst;

		no++;
		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		sp = strchr(line, ' ');
		if (sp)
			*sp = '\0';
		dst = sp ? field(&c, line) : NULL;
		if (!dst || strlen(sp + 1) >= MFS_CONFIG_VALUE_MAX) {
			r = mfs_log_errno(-EINVAL, "'%s' line %d: expected 'db|blobs|drafts|host VALUE'",
					  path, no);
			break;
		}
		strcpy(dst, sp + 1);
	}
	fclose(f);
	if (r == 0)
		*ret = c;
	return r;
}

int mfs_config_has_password(const char *db)
{
	const char *at, *colon, *scheme = strstr(db, "://");

	if (strstr(db, "password="))
		return 1;
	if (!scheme)
		return 0;
	/* scheme://user:password@host/... (the userinfo ends at '@' before
	 * the first '/') */
	scheme += 3;
	at = strchr(scheme, '@');
	colon = strchr(scheme, ':');
	if (at && colon && colon < at && !memchr(scheme, '/', (size_t)(at - scheme)))
		return 1;
	return 0;
}

int mfs_config_set(const char *dir, const struct mfs_config *cfg)
{
	static const char *const keys[] = { "db", "blobs", "drafts", "host" };
	char path[4200], tmp[4300];
	struct mfs_config c;
	FILE *f;
	int r, fd;

	if (cfg->db[0] && mfs_config_has_password(cfg->db))
		return mfs_log_errno(-EINVAL,
				     "refusing a password in db=: it would be seen by every user in the process list; put it in PGPASSFILE (~/.pgpass) or a service file (db=service=NAME)");
	r = mfs_config_read(dir, &c);
	if (r < 0)
		return r;
	for (size_t i = 0; i < 4; i++) {
		const char *v = field((struct mfs_config *)cfg, keys[i]);

		if (strchr(v, '\n'))
			return mfs_log_errno(-EINVAL, "%s= holds a newline", keys[i]);
		if (v[0])
			strcpy(field(&c, keys[i]), v);
	}
	snprintf(path, sizeof(path), "%s/config", dir);
	snprintf(tmp, sizeof(tmp), "%s/.config.tmp", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return mfs_log_errno(-errno, "open '%s': %s", tmp, strerror(errno));
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	fprintf(f, "# modelfs: where this store's registry lives (see modelfs(8))\n");
	for (size_t i = 0; i < 4; i++)
		if (field(&c, keys[i])[0])
			fprintf(f, "%s %s\n", keys[i], field(&c, keys[i]));
	r = fflush(f) == 0 && fsync(fd) == 0 ? 0 : -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return mfs_log_errno(r, "write '%s': %s", path, strerror(-r));
	}
	return 0;
}
