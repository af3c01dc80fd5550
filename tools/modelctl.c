/* modelctl.c - the verb table and dispatch */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "lease.h"
#include "log.h"
#include "store.h"
#include "meta.h"

static const struct cmd cmds[] = {
	{ "list", cmd_list, "list [MODEL]            models, or the versions of MODEL" },
	{ "show", cmd_show, "show MODEL[@VERSION]    a model, or one version's files and metadata" },
	{ "seal", cmd_seal, "seal MODEL VERSION      seal a draft (through the mount if served)" },
	{ "fsck", cmd_fsck, "fsck [--quick]          check blobs, references and refcounts" },
	{ "find", cmd_find, "find EXPR [--sort [-]FIELD] [--limit N]   filter versions (see README)" },
	{ "diff", cmd_diff, "diff MODEL A B          metadata, metrics and file changes from A to B" },
	{ "lineage", cmd_lineage, "lineage MODEL@V [--format json|dot|mermaid] [--descendants]" },
	{ "backup", cmd_backup, "backup DIR              a consistent copy of the store, also while served" },
	{ "restore", cmd_restore, "restore DIR STORE       a new store from a backup" },
	{ "migrate", cmd_migrate, "migrate --to postgresql://... --blobs DIR | --to lmdb:DIR\n"
				  "                          move the registry into another database (stopped)" },
	{ "approve", cmd_approve, "approve MODEL VERSION ALIAS [COMMENT]   approve a version for an alias" },
	{ "deprecate", cmd_lifecycle, "deprecate MODEL VERSION mark a version deprecated" },
	{ "archive", cmd_lifecycle, "archive MODEL VERSION   archive a version (it can no longer be aliased)" },
	{ "activate", cmd_lifecycle, "activate MODEL VERSION  undo deprecate/archive" },
	{ "tag", cmd_tag, "tag MODEL VERSION NAME[=VALUE] | -d NAME   tag a sealed version" },
	{ "audit", cmd_audit, "audit verify [--key FILE] | audit head   check the audit chain; its head" },
	{ "history", cmd_history, "history MODEL [ALIAS]   alias moves, oldest first" },
	{ "promote", cmd_promote, "promote MODEL VERSION ALIAS   point ALIAS at VERSION (its policy applies)" },
	{ "rollback", cmd_rollback, "rollback MODEL ALIAS [--to VERSION]   move ALIAS back to its previous target" },
	{ "gc", cmd_gc, "gc [--dry-run]          apply retention, remove unreferenced blobs (admins)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: modelctl [-s STORE] [-m MOUNT] [--db URI] [--blobs DIR] [--json] VERB [ARGS]\n\nverbs:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %s\n", cmds[i].usage);
	fprintf(f, "\nSTORE defaults to $MODELFS_STORE, then the store of the mount given by -m or\n"
		   "$MODELFS_MOUNT, then the daemon's default store. --db (or $MODELFS_DB) and\n"
		   "--blobs (or $MODELFS_BLOBS) name a registry's database and blob directory\n"
		   "in place of what STORE/config records; with --db alone, read verbs work on\n"
		   "the database directly, beside running daemons.\n");
}

static char *default_store(void)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	char buf[PATH_MAX];

	if (geteuid() == 0)
		return strdup("/var/lib/modelfs");
	if (xdg && *xdg)
		snprintf(buf, sizeof(buf), "%s/modelfs", xdg);
	else
		snprintf(buf, sizeof(buf), "%s/.local/share/modelfs", home ? home : "/tmp");
	return strdup(buf);
}

struct mfs_caller ctl_me(void)
{
	static gid_t groups[256];
	int n = getgroups(256, groups);

	return (struct mfs_caller){ getuid(), getgid(), getpid(), n < 0 ? 0 : n, groups };
}

const char *ctl_where(const struct ctl *c)
{
	return c->store ? c->store : c->where.db;
}

int ctl_open_read(struct ctl *c, struct mfs_store **ret)
{
	int r = mfs_store_open_at(c->store, &c->where, MFS_STORE_READONLY, NULL, ret);

	if ((r == -EACCES || r == -EPERM) && c->mount) {
		/* Not ours to open: the daemon answers through the mount. */
		*ret = NULL;
		return 0;
	}
	if (r < 0)
		fprintf(stderr, "modelctl: cannot open store '%s': %s%s\n", ctl_where(c),
			strerror(-r), r == -EACCES || r == -EPERM ?
				" (give -m MOUNT to read through the mount)" : "");
	return r;
}

int ctl_open_write(struct ctl *c, struct mfs_store **ret)
{
	int r;

	if (!c->store) {
		fprintf(stderr, "modelctl: a registry named by --db alone is read here, not written: give -s STORE (a host's store of it) or -m MOUNT\n");
		return -EINVAL;
	}
	r = mfs_store_open_at(c->store, &c->where, MFS_STORE_SERVE, NULL, ret);
	if (r < 0) {
		fprintf(stderr, "modelctl: cannot open store '%s': %s\n", ctl_where(c), strerror(-r));
		return r;
	}
	/* A writer of a shared registry is a host while it writes: its
	 * row keeps gc elsewhere off its seal's journal and copies
	 * (mfs_store_close() withdraws it). */
	r = mfs_lease_start(*ret, NULL);
	if (r < 0) {
		mfs_store_close(*ret);
		*ret = NULL;
	}
	return r;
}

int ctl_served_mount(const struct ctl *c, char *mount, size_t n)
{
	int served = c->store ? mfs_store_served(c->store, mount, n) : 0;

	if (c->mount)
		snprintf(mount, n, "%s", c->mount);
	if (served != 1 && !c->mount)
		return 0;
	if (!mount[0]) {
		fprintf(stderr, "modelctl: store '%s' is served but its mount point is unknown: give -m\n",
			ctl_where(c));
		return -1;
	}
	return 1;
}

void ctl_split_ref(char *s, char **ret_model, char **ret_version)
{
	char *at = strchr(s, '@');

	*ret_model = s;
	*ret_version = NULL;
	if (at) {
		*at = '\0';
		*ret_version = at + 1;
	}
}

void ctl_print_json(cJSON *j)
{
	char *s = mfs_meta_print(j, 0);

	if (s) {
		puts(s);
		free(s);
	}
	cJSON_Delete(j);
}

int main(int argc, char **argv)
{
	struct ctl c = { 0 };
	static char store_buf[PATH_MAX];
	char *owned = NULL;
	int i, r;

	mfs_log_init("modelctl", 0, MFS_LOG_WARN);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-s") && i + 1 < argc)
			c.store = argv[++i];
		else if (!strcmp(argv[i], "-m") && i + 1 < argc)
			c.mount = argv[++i];
		else if ((!strcmp(argv[i], "--db") || !strcmp(argv[i], "--blobs")) && i + 1 < argc) {
			char *dst = argv[i][2] == 'd' ? c.where.db : c.where.blobs;

			if (strlen(argv[i + 1]) >= MFS_CONFIG_VALUE_MAX) {
				fprintf(stderr, "modelctl: %s: too long\n", argv[i]);
				return EXIT_FAILURE;
			}
			strcpy(dst, argv[++i]);
		}
		else if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
			c.json = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return EXIT_SUCCESS;
		} else if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
			printf("modelctl %s\n", MODELFS_VERSION);
			return EXIT_SUCCESS;
		} else
			break;
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_FAILURE;
	}
	if (!c.mount && getenv("MODELFS_MOUNT") && *getenv("MODELFS_MOUNT"))
		c.mount = getenv("MODELFS_MOUNT");
	if (!c.store && getenv("MODELFS_STORE") && *getenv("MODELFS_STORE"))
		c.store = getenv("MODELFS_STORE");
	if (!c.where.db[0] && getenv("MODELFS_DB") && strlen(getenv("MODELFS_DB")) < MFS_CONFIG_VALUE_MAX)
		strcpy(c.where.db, getenv("MODELFS_DB"));
	if (!c.where.blobs[0] && getenv("MODELFS_BLOBS") &&
	    strlen(getenv("MODELFS_BLOBS")) < MFS_CONFIG_VALUE_MAX)
		strcpy(c.where.blobs, getenv("MODELFS_BLOBS"));
	if (c.where.db[0] && mfs_store_db_has_password(c.where.db)) {
		fprintf(stderr, "modelctl: refusing a password in --db or $MODELFS_DB: every user sees a command line; use PGPASSFILE (~/.pgpass) or a service file (service=NAME)\n");
		return EXIT_FAILURE;
	}
	if (!c.store && c.mount) {
		ssize_t n = getxattr(c.mount, "user.modelfs.store", store_buf,
				     sizeof(store_buf) - 1);

		if (n > 0) {
			store_buf[n] = '\0';
			c.store = store_buf;
		}
	}
	if (!c.store && !c.mount && !c.where.db[0]) {
		/* The only mounted modelfs, if there is exactly one. */
		static char only[PATH_MAX];
		FILE *mi = fopen("/proc/self/mountinfo", "re");
		char line[8192];
		int found = 0;

		while (mi && fgets(line, sizeof(line), mi)) {
			char mp[PATH_MAX], *dash = strstr(line, " - ");

			if (dash && !strncmp(dash + 3, "fuse.modelfs ", 13) &&
			    sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1) {
				snprintf(only, sizeof(only), "%s", mp);
				found++;
			}
		}
		if (mi)
			fclose(mi);
		if (found == 1) {
			ssize_t n = getxattr(only, "user.modelfs.store", store_buf,
					     sizeof(store_buf) - 1);

			c.mount = only;
			if (n > 0) {
				store_buf[n] = '\0';
				c.store = store_buf;
			}
		}
	}
	if (!c.store && !c.where.db[0])
		c.store = owned = default_store();
	/* --json may also follow the verb. */
	for (int j = i + 1; j < argc; j++) {
		if (!strcmp(argv[j], "--json")) {
			c.json = true;
			memmove(&argv[j], &argv[j + 1], (size_t)(argc - j) * sizeof(*argv));
			argc--;
			j--;
		}
	}
	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
		if (!strcmp(cmds[k].name, argv[i])) {
			r = cmds[k].fn(&c, argc - i, argv + i);
			free(owned);
			return r;
		}
	}
	fprintf(stderr, "modelctl: unknown verb '%s'\n", argv[i]);
	usage(stderr);
	free(owned);
	return EXIT_FAILURE;
}
