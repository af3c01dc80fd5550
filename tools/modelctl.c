/* modelctl.c - the verb table and dispatch */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "progressbar.h"
#include "version.h"
#include "model.h"
#include "alias.h"
#include "lease.h"
#include "log.h"
#include "store.h"
#include "meta.h"

/* Each verb: its forms (one per line), a line for the list of verbs, and
 * what `modelctl VERB --help` adds. */
static const struct cmd cmds[] = {
	{ "list", cmd_list, REFS_NONE, "list [MODEL]", "models, or the versions of MODEL",
	  "Without MODEL: every model, with its number of versions and aliases.\n"
	  "With MODEL: its versions (state, aliases pointing at them); a version's\n"
	  "lifecycle is in `show MODEL@VERSION`." },
	{ "show", cmd_show, REFS_JOINED, "show MODEL[@VERSION]", "a model, or one version's files and metadata",
	  "MODEL@VERSION shows the version's metadata.json and its files with their\n"
	  "digests; MODEL alone the model's metadata and aliases." },
	{ "seal", cmd_seal, REFS_PAIR, "seal MODEL VERSION", "seal a draft (through the mount if served)",
	  "The draft's files become immutable and content-addressed; a gate of the\n"
	  "model's policy that refuses the seal says why." },
	{ "fsck", cmd_fsck, REFS_NONE, "fsck [--quick]", "check blobs, references and refcounts",
	  "Reads every blob again and compares it with its name, unless --quick;\n"
	  "exits 1 when it finds a fault." },
	{ "find", cmd_find, REFS_NONE, "find EXPR [--sort [-]FIELD] [--limit N]", "filter versions (see README)",
	  "EXPR compares metadata paths, aliases, tags and lifecycles, for example\n"
	  "'metrics.auc >= 0.9 and alias == \"production\"'; --sort -FIELD sorts\n"
	  "in descending order." },
	{ "diff", cmd_diff, REFS_DIFF, "diff MODEL A B", "metadata, metrics and file changes from A to B",
	  "Exits 0 when A and B do not differ, 1 when they do (as diff(1))." },
	{ "lineage", cmd_lineage, REFS_JOINED, "lineage MODEL@V [--format json|dot|mermaid] [--descendants]",
	  "the provenance graph of a version",
	  "The versions V was made from (its metadata's parents), or with\n"
	  "--descendants those made from V; dot output pipes into `dot -Tsvg`." },
	{ "backup", cmd_backup, REFS_NONE, "backup DIR", "a consistent copy of the store, also while served",
	  "DIR must not exist; blobs are hard-linked where DIR is on the store's\n"
	  "filesystem." },
	{ "restore", cmd_restore, REFS_NONE, "restore DIR STORE", "a new store from a backup",
	  "STORE must not exist or be empty." },
	{ "migrate", cmd_migrate, REFS_NONE, "migrate --to postgresql://... --blobs DIR\nmigrate --to lmdb:DIR",
	  "move the registry into another database (stopped)",
	  "Copies the blobs first, then every record from one snapshot; the audit\n"
	  "chain verifies on both sides with the same head." },
	{ "approve", cmd_approve, REFS_PAIR, "approve MODEL VERSION ALIAS [COMMENT]",
	  "approve a version for an alias",
	  "Counts towards the approvals the alias's policy asks for; the version's\n"
	  "creator cannot approve it." },
	{ "deprecate", cmd_lifecycle, REFS_PAIR, "deprecate MODEL VERSION", "mark a version deprecated", "" },
	{ "archive", cmd_lifecycle, REFS_PAIR, "archive MODEL VERSION",
	  "archive a version (it can no longer be aliased)", "" },
	{ "activate", cmd_lifecycle, REFS_PAIR, "activate MODEL VERSION", "undo deprecate/archive", "" },
	{ "tag", cmd_tag, REFS_PAIR, "tag MODEL VERSION NAME[=VALUE]\ntag MODEL VERSION -d NAME",
	  "tag a sealed version, or remove a tag", "" },
	{ "audit", cmd_audit, REFS_NONE, "audit verify [--key FILE]\naudit head",
	  "check the audit chain; its head",
	  "verify walks the chain and names the first broken link (exit 1); head\n"
	  "prints the last record's seq and hash, to anchor elsewhere." },
	{ "history", cmd_history, REFS_NONE, "history MODEL [ALIAS]", "alias moves, oldest first", "" },
	{ "promote", cmd_promote, REFS_PAIR, "promote MODEL VERSION ALIAS",
	  "point ALIAS at VERSION (its policy applies)",
	  "What `ln -sfn versions/VERSION ALIAS` does in the model's directory,\n"
	  "under the same rules (gates, approvals, who may move it)." },
	{ "rollback", cmd_rollback, REFS_NONE, "rollback MODEL ALIAS [--to VERSION]",
	  "move ALIAS back to its previous target", "" },
	{ "register", cmd_register, REFS_NONE,
	  "register SRC MODEL@VERSION [--metadata FILE] [--seal] [--promote ALIAS]",
	  "a new version from a directory or file, through the mount",
	  "Makes the model if it is new and the version's draft, copies SRC (a\n"
	  "directory's contents, or one file) into it, writes FILE as its\n"
	  "metadata.json, seals it with --seal and points ALIAS at it with\n"
	  "--promote (which seals it too), each under the registry's rules, as\n"
	  "cp, setfattr and ln -sfn would. Progress goes to a terminal only. If a\n"
	  "step fails the draft is removed: nothing is left half-registered." },
	{ "export", cmd_export, REFS_JOINED, "export MODEL[@VERSION] DIR",
	  "a version as a plain directory, for another registry or host",
	  "Its files with its metadata.json and lineage.json, read through the\n"
	  "mount; without @VERSION the model's latest version. DIR must be new or\n"
	  "empty. `import dir DIR` takes it back." },
	{ "import", cmd_import, REFS_NONE,
	  "import dir DIR [MODEL@VERSION] [--promote ALIAS]\n"
	  "import mlflow MLRUNS [--model NAME]... [--semver-tag TAG] [--artifacts DIR]... [--dry-run]",
	  "a version exported by `export`, or an MLflow file store's registry",
	  "dir: every file is checked against the digest its metadata.json lists\n"
	  "before anything is written; the metadata goes back as the version's own\n"
	  "(the registry section is the registry's). A version of that name holding\n"
	  "the same files is left as it is (nothing imported, exit 0); other files\n"
	  "there are an error.\n"
	  "mlflow: each registered model of MLRUNS (or each --model), version N as\n"
	  "N.0.0 (or the SemVer in its version tag TAG), with its run's params,\n"
	  "last metrics, run id, experiment, user, description and tags as\n"
	  "metadata; aliases kept, stages Production/Staging as aliases\n"
	  "production/staging, Archived versions archived. A model the registry's\n"
	  "rules would refuse, or with artifacts missing, is reported and left\n"
	  "alone. Versions there already with the same files are skipped, so a\n"
	  "second run imports nothing. Artifacts are taken from below MLRUNS, or\n"
	  "from below a DIR given with --artifacts. --dry-run shows the plan." },
	{ "gc", cmd_gc, REFS_NONE, "gc [--dry-run]", "apply retention, remove unreferenced blobs (admins)",
	  "--dry-run reports what would go without removing anything." },
};

int ctl_version_of(struct ctl *c, const char *model, const char *name, char *ret, size_t n)
{
	struct mfs_store *st = NULL;
	struct mfs_model_info mi;
	struct mfs_version_info vi;
	struct mfs_alias_info ai;
	int r;

	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return -ENOENT;
	if (c->mount) {
		char path[PATH_MAX], target[PATH_MAX];
		struct stat sb;
		ssize_t len;

		snprintf(path, sizeof(path), "%s/models/%s/versions/%s", c->mount, model, name);
		if (stat(path, &sb) == 0) {
			snprintf(ret, n, "%s", name);
			return 0;
		}
		snprintf(path, sizeof(path), "%s/models/%s/%s", c->mount, model, name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 9 || strncmp(target, "versions/", 9))
			return -ENOENT;
		target[len] = '\0';
		snprintf(ret, n, "%s", target + 9);
		return 0;
	}
	if (mfs_store_open_at(c->store, &c->where, MFS_STORE_READONLY, NULL, &st) < 0)
		return -ENOENT;
	r = mfs_model_lookup(st, model, &mi);
	if (r == 0 && mfs_version_lookup(st, mi.id, name, false, &vi) == 0)
		snprintf(ret, n, "%s", name);
	else if (r == 0 && (r = mfs_alias_get(st, mi.id, name, &ai)) == 0 &&
		 (r = mfs_version_get(st, ai.vid, &vi)) == 0)
		snprintf(ret, n, "%s", vi.name);
	mfs_store_close(st);
	return r < 0 ? -ENOENT : 0;
}

/* Rewrite *argv (argc of them, the verb first) as verb k takes them:
 * MODEL@NAME split where a verb takes MODEL NAME, and each NAME that is an
 * alias replaced by its target's version name. What names nothing stays:
 * the verb says it is not there. The strings made live until exit. */
static void ctl_refs(struct ctl *c, const struct cmd *k, int *argc, char ***argv)
{
	static char names[3][MFS_NAME_MAX + 1], joined[MFS_NAME_MAX * 2 + 2];
	static char *v[64];
	char *at, *model;
	int m = *argc, slot = 0;

	if (k->refs == REFS_NONE || m < 2 || m + 1 > (int)(sizeof(v) / sizeof(v[0])) ||
	    strlen((*argv)[1]) > MFS_NAME_MAX * 2 + 1)
		return;
	memcpy(v, *argv, (size_t)m * sizeof(*v));
	if (k->refs == REFS_JOINED) {
		at = strchr(v[1], '@');
		if (!at)
			return;
		snprintf(joined, sizeof(joined), "%.*s", (int)(at - v[1]), v[1]);
		if (ctl_version_of(c, joined, at + 1, names[0], sizeof(names[0])) == 0) {
			snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "@%s",
				 names[0]);
			v[1] = joined;
		}
		goto done;
	}
	/* MODEL@NAME [MODEL@NAME2] -> MODEL NAME [NAME2] */
	at = strchr(v[1], '@');
	if (at) {
		*at = '\0';
		memmove(&v[3], &v[2], (size_t)(m - 2) * sizeof(*v));
		v[2] = at + 1;
		m++;
		if (k->refs == REFS_DIFF && m >= 4 && (at = strchr(v[3], '@')) &&
		    !strncmp(v[3], v[1], (size_t)(at - v[3])) && (size_t)(at - v[3]) == strlen(v[1]))
			v[3] = at + 1;
	}
	model = v[1];
	for (int i = 2; i < m && i <= (k->refs == REFS_DIFF ? 3 : 2); i++)
		if (ctl_version_of(c, model, v[i], names[slot], sizeof(names[slot])) == 0)
			v[i] = names[slot++];
done:
	*argc = m;
	*argv = v;
}

static const struct cmd *cmd_named(const char *name)
{
	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++)
		if (!strcmp(cmds[k].name, name))
			return &cmds[k];
	return NULL;
}

/* The forms of a verb, each after lead (the first) or as many spaces. */
static void print_forms(FILE *f, const char *lead, const char *forms)
{
	const char *p = forms, *nl;
	int pad = (int)strlen(lead);

	for (bool first = true; *p; first = false, p = nl ? nl + 1 : p + strlen(p)) {
		nl = strchr(p, '\n');
		fprintf(f, "%*s%.*s\n", first ? 0 : pad, first ? lead : "",
			(int)(nl ? nl - p : (ptrdiff_t)strlen(p)), p);
		if (!nl)
			break;
	}
}

int ctl_usage(const char *verb)
{
	const struct cmd *k = cmd_named(verb);

	if (k)
		print_forms(stderr, "usage: modelctl ", k->synopsis);
	fprintf(stderr, "(modelctl %s --help says more)\n", verb);
	return CTL_USAGE;
}

static void verb_help(const struct cmd *k)
{
	print_forms(stdout, "usage: modelctl ", k->synopsis);
	printf("\n%s.\n", k->summary);
	if (k->help[0])
		printf("\n%s\n", k->help);
	printf("\nExit status: 0 done, 1 not found, refused or failed%s, 2 a usage error.\n",
	       !strcmp(k->name, "diff") ? " (or A and B differ)" : "");
}

static void usage(FILE *f)
{
	fprintf(f, "usage: modelctl [-s STORE] [-m MOUNT] [--db URI] [--blobs DIR] [--json] [-q] VERB [ARGS]\n\nverbs:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const char *nl = strchr(cmds[i].synopsis, '\n');
		int len = nl ? (int)(nl - cmds[i].synopsis) : (int)strlen(cmds[i].synopsis);

		if (len <= 23 && !nl) {
			fprintf(f, "  %-24s%s\n", cmds[i].synopsis, cmds[i].summary);
		} else {
			print_forms(f, "  ", cmds[i].synopsis);
			fprintf(f, "  %-24s%s\n", "", cmds[i].summary);
		}
	}
	fprintf(f, "\nSTORE defaults to $MODELFS_STORE, then the store of the mount given by -m or\n"
		   "$MODELFS_MOUNT, then the daemon's default store. --db (or $MODELFS_DB) and\n"
		   "--blobs (or $MODELFS_BLOBS) name a registry's database and blob directory\n"
		   "in place of what STORE/config records; with --db alone, read verbs work on\n"
		   "the database directly, beside running daemons.\n"
		   "\nWherever a verb names a version, MODEL@VERSION and MODEL@ALIAS work too\n"
		   "(`seal churn@1.3.0`, `promote churn@staging production`); a version wins\n"
		   "over an alias of the same name.\n"
		   "\n`modelctl VERB --help` describes a verb. Exit status: 0 done, 1 not found,\n"
		   "refused or failed (diff: the versions differ), 2 a usage error.\n");
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
				return CTL_USAGE;
			}
			strcpy(dst, argv[++i]);
		}
		else if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
			c.json = true;
		else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
			c.quiet = true;
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
		return CTL_USAGE;
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
	{
		const struct cmd *k = cmd_named(argv[i]);

		if (!k) {
			fprintf(stderr, "modelctl: unknown verb '%s'\n", argv[i]);
			usage(stderr);
			r = CTL_USAGE;
		} else if (i + 1 < argc && (!strcmp(argv[i + 1], "--help") ||
					    !strcmp(argv[i + 1], "-h"))) {
			verb_help(k);
			r = EXIT_SUCCESS;
		} else {
			int vc = argc - i;
			char **vv = argv + i;

			ctl_refs(&c, k, &vc, &vv);
			/* -q: what a verb prints on stdout goes nowhere; errors
			 * still reach stderr. */
			if (c.quiet && !freopen("/dev/null", "w", stdout))
				c.quiet = false;
			ctl_progress_start();
			r = k->fn(&c, vc, vv);
			ctl_progress_end();
		}
	}
	free(owned);
	return r;
}
