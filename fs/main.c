/* main.c - modelfs: option parsing, readiness, session, multithreaded loop */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>
#include <systemd/sd-daemon.h>

#include "audit.h"
#include "config.h"
#include "change.h"
#include "daemon.h"
#include "prehash.h"
#include "hook.h"
#include "lease.h"
#include "log.h"
#include "model.h"
#include "passthrough.h"
#include "perm.h"
#include "sha256.h"
#include "version.h"

/*
 * modelfs [-f] [-d] [-o store=DIR,seal_idle=N,OPTIONS] [STORE] MOUNTPOINT
 *
 * Unless -f, it forks; the parent exits 0 only once the mount is live (a
 * readiness pipe), non-zero with the reason otherwise, so scripts and
 * systemd can rely on it. The store's LMDB environment is opened in the
 * child, after the fork. No auto_unmount: a crashed daemon must leave
 * ENOTCONN, not an empty directory a server could take for an empty
 * registry.
 */

struct opts {
	const char *store;
	char *store_owned;		/* -o store= copy */
	const char *mount;
	int seal_idle;
	bool nopassthrough;
	bool foreground, debug, help, version;
	char *audit_key, *admin_group, *hook;	/* -o audit_key=, admin_group=, hook= */
	int hook_timeout;
	struct mfs_config where;	/* -o db=, blobs=, drafts= */
	struct fuse_args fargs;		/* what libfuse gets */
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [-f] [-d] [-o store=DIR,OPTIONS] [STORE] MOUNTPOINT\n"
		"\n"
		"Mount the model registry in STORE at MOUNTPOINT.\n"
		"\n"
		"  -f                 stay in the foreground, log to stderr\n"
		"  -d                 foreground with FUSE request tracing\n"
		"  -o store=DIR       the store (default: $MODELFS_STORE, else\n"
		"                     $XDG_DATA_HOME/modelfs, ~/.local/share/modelfs,\n"
		"                     or /var/lib/modelfs for root)\n"
		"  -o db=URI          the registry's database: a PostgreSQL URI or\n"
		"                     connection string (default: $MODELFS_DB, else\n"
		"                     LMDB in STORE/meta); no password: use PGPASSFILE\n"
		"  -o blobs=DIR       the blob directory (shared by the hosts of one db)\n"
		"  -o drafts=DIR      where this host's drafts live (default STORE/drafts)\n"
		"  -o seal_idle=N     seal drafts left untouched for N seconds\n"
		"  -o nopassthrough   serve sealed files through the daemon (splice)\n"
		"                     even where the kernel could read them directly\n"
		"  -o audit_key=FILE  chain audit records with HMAC-SHA256 under the key\n"
		"                     in FILE (read once; must not be world-readable)\n"
		"  -o admin_group=G   members of group G (name or gid) are registry admins\n"
		"  -o hook=PROGRAM    run PROGRAM (no shell) with each committed event's\n"
		"                     audit record on stdin, in the background\n"
		"  -o hook_timeout=N  kill a hook run after N seconds (default 10)\n"
		"  -o OPTION          FUSE mount options (allow_other, ro, ...)\n"
		"  -h, --help         this help\n"
		"  -V, --version      the version\n",
		prog);
}

static int add_fuse_opt(struct opts *o, const char *opt)
{
	return fuse_opt_add_arg(&o->fargs, "-o") || fuse_opt_add_arg(&o->fargs, opt);
}

/* Split one -o list: our keys are taken, the rest goes to libfuse. */
static int parse_o(struct opts *o, char *list)
{
	char *save = NULL;

	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "store=", 6)) {
			free(o->store_owned);
			o->store = o->store_owned = strdup(tok + 6);
			if (!o->store)
				return -1;
		} else if (!strncmp(tok, "db=", 3) || !strncmp(tok, "blobs=", 6) ||
			   !strncmp(tok, "drafts=", 7)) {
			const char *v = strchr(tok, '=') + 1;
			char *dst = tok[0] == 'd' && tok[1] == 'b' ? o->where.db :
				    tok[0] == 'b' ? o->where.blobs : o->where.drafts;

			if (!v[0] || strlen(v) >= MFS_CONFIG_VALUE_MAX ||
			    (dst != o->where.db && v[0] != '/')) {
				fprintf(stderr, "modelfs: bad '%s': %s\n", tok,
					dst == o->where.db ? "give a database URI" : "give an absolute path");
				return -1;
			}
			strcpy(dst, v);
		} else if (!strncmp(tok, "seal_idle=", 10)) {
			char *end;
			long v = strtol(tok + 10, &end, 10);

			if (*end || v < 0 || v > INT_MAX) {
				fprintf(stderr, "modelfs: bad seal_idle '%s': give seconds\n", tok + 10);
				return -1;
			}
			o->seal_idle = (int)v;
		} else if (!strncmp(tok, "audit_key=", 10) || !strncmp(tok, "admin_group=", 12) ||
			   !strncmp(tok, "hook=", 5)) {
			char **dst = tok[0] == 'h' ? &o->hook :
				     tok[1] == 'u' ? &o->audit_key : &o->admin_group;

			free(*dst);
			*dst = strdup(strchr(tok, '=') + 1);
			if (!*dst)
				return -1;
		} else if (!strncmp(tok, "hook_timeout=", 13)) {
			char *end;
			long v = strtol(tok + 13, &end, 10);

			if (*end || v <= 0 || v > 86400) {
				fprintf(stderr, "modelfs: bad hook_timeout '%s': give seconds (1-86400)\n",
					tok + 13);
				return -1;
			}
			o->hook_timeout = (int)v;
		} else if (!strcmp(tok, "nopassthrough")) {
			o->nopassthrough = true;
		} else if (!strcmp(tok, "passthrough")) {
			o->nopassthrough = false;
		} else if (!strcmp(tok, "auto_unmount")) {
			fprintf(stderr, "modelfs: refusing auto_unmount: a crashed registry must not look like an empty one\n");
			return -1;
		} else if (!strcmp(tok, "default_permissions")) {
			/* modelfs checks permissions itself (EROFS before EACCES). */
		} else if (!strcmp(tok, "_netdev") || !strcmp(tok, "nofail") ||
			   !strcmp(tok, "noauto") || !strcmp(tok, "auto") ||
			   !strcmp(tok, "user") || !strcmp(tok, "users") ||
			   !strcmp(tok, "nouser") || !strncmp(tok, "x-", 2)) {
			/* fstab's, not ours */
		} else if (add_fuse_opt(o, tok)) {
			return -1;
		}
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	const char *pos[3];
	int npos = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-f")) {
			o->foreground = true;
		} else if (!strcmp(a, "-d") || !strcmp(a, "--debug")) {
			o->foreground = o->debug = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			o->help = true;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			o->version = true;
		} else if (!strncmp(a, "-o", 2)) {
			char *list;

			if (a[2])
				list = strdup(a + 2);
			else if (i + 1 < argc)
				list = strdup(argv[++i]);
			else {
				fprintf(stderr, "modelfs: -o needs options\n");
				return -1;
			}
			if (!list || parse_o(o, list) < 0) {
				free(list);
				return -1;
			}
			free(list);
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "modelfs: unknown option '%s' (see --help)\n", a);
			return -1;
		} else if (npos < 3) {
			pos[npos++] = a;
		} else {
			npos++;
		}
	}
	if (o->help || o->version)
		return 0;
	if (npos == 1) {
		o->mount = pos[0];
	} else if (npos == 2) {
		if (o->store) {
			fprintf(stderr, "modelfs: the store is given twice (-o store= and '%s')\n", pos[0]);
			return -1;
		}
		o->store = pos[0];
		o->mount = pos[1];
	} else {
		fprintf(stderr, "modelfs: give [STORE] MOUNTPOINT (see --help)\n");
		return -1;
	}
	return 0;
}

static char *default_store(void)
{
	const char *env = getenv("MODELFS_STORE"), *xdg = getenv("XDG_DATA_HOME");
	char buf[PATH_MAX];

	if (env && *env)
		return strdup(env);
	if (geteuid() == 0)
		return strdup("/var/lib/modelfs");
	if (xdg && *xdg) {
		snprintf(buf, sizeof(buf), "%s/modelfs", xdg);
	} else {
		const char *home = getenv("HOME");
		struct passwd *pw = home ? NULL : getpwuid(geteuid());

		snprintf(buf, sizeof(buf), "%s/.local/share/modelfs",
			 home ? home : pw ? pw->pw_dir : "/tmp");
	}
	return strdup(buf);
}

/* Is path already a mount point? Mounting over a live mount would hide it. */
static bool is_mounted(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char mp[4096];

		/* id parent maj:min root mountpoint ... */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1) {
			/* Octal escapes (\040) are rare in mount points: compare
			 * raw, good enough to catch a double mount. */
			found = !strcmp(mp, path);
		}
	}
	fclose(f);
	return found;
}

/* The FUSE connection's read-ahead is capped at the bdi default (128 KiB)
 * whatever INIT asks; raise it where the host lets us, so cold sequential
 * reads of large model files keep the disk busy. */
static void raise_readahead(const char *mnt)
{
	/* Not stat(mnt): that would be a request to ourselves before the
	 * loop runs. mountinfo names the new mount's device. */
	FILE *mi = fopen("/proc/self/mountinfo", "re");
	char line[8192], path[128] = "";
	unsigned maj, min;
	FILE *f;

	if (!mi)
		return;
	while (fgets(line, sizeof(line), mi)) {
		char mp[4096];

		if (sscanf(line, "%*s %*s %u:%u %*s %4095s", &maj, &min, mp) == 3 &&
		    !strcmp(mp, mnt))
			snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb",
				 maj, min);
	}
	fclose(mi);
	if (!path[0])
		return;
	f = fopen(path, "we");
	if (!f)
		return;
	fprintf(f, "%d\n", 4096);
	if (fclose(f) != 0)
		mfs_log(MFS_LOG_DEBUG, "cannot raise read-ahead in '%s'", path);
}

/* Drafts from before this start: so seal_idle sees them too. */
static void seed_drafts(struct mfsd *d)
{
	struct mfs_model_info *m = NULL;
	size_t n = 0;

	if (!d->seal_idle || mfs_model_list(d->st, &m, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct mfs_version_info *v = NULL;
		size_t nv = 0;

		if (mfs_version_list(d->st, m[i].id, &v, &nv) < 0)
			continue;
		for (size_t j = 0; j < nv; j++)
			if (v[j].state == MFS_V_DRAFT)
				vstate_touch(d, v[j].id);
		free(v);
	}
	free(m);
}

/* What -o audit_key, admin_group and hook ask for, checked before the
 * fork so that a bad one stops the start with its reason. */
struct gov {
	void *key;
	size_t keylen;
	gid_t admin_gid;
	bool has_admin;
	char *hook;		/* absolute: the daemon leaves its cwd */
};

static int gov_prepare(const struct opts *o, struct gov *g)
{
	if (o->audit_key && mfs_audit_key_load(o->audit_key, &g->key, &g->keylen) < 0) {
		fprintf(stderr, "modelfs: refusing to start: audit key '%s' unusable (see above)\n",
			o->audit_key);
		return -1;
	}
	if (o->admin_group) {
		struct group gr, *res = NULL;
		char buf[4096], *end;
		unsigned long v = strtoul(o->admin_group, &end, 10);

		if (*o->admin_group && !*end) {
			g->admin_gid = (gid_t)v;
		} else if (getgrnam_r(o->admin_group, &gr, buf, sizeof(buf), &res) == 0 && res) {
			g->admin_gid = res->gr_gid;
		} else {
			fprintf(stderr, "modelfs: refusing to start: no group '%s' (admin_group)\n",
				o->admin_group);
			return -1;
		}
		g->has_admin = true;
	}
	if (o->hook) {
		g->hook = realpath(o->hook, NULL);
		if (!g->hook || access(g->hook, X_OK) < 0) {
			fprintf(stderr, "modelfs: refusing to start: hook '%s' is not an executable file: %s\n",
				o->hook, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void gov_release(struct gov *g)
{
	if (g->key) {
		memset(g->key, 0, g->keylen);
		free(g->key);
	}
	free(g->hook);
}

static void ready(int fd, char status)
{
	if (fd < 0)
		return;
	if (write(fd, &status, 1) != 1) {
		/* the parent is gone: nothing to tell */
	}
	close(fd);
}

int main(int argc, char **argv)
{
	struct opts o = { .fargs = FUSE_ARGS_INIT(0, NULL) };
	struct mfsd d = { 0 };
	struct gov gov = { 0 };
	struct hook *hook = NULL;
	struct fuse_loop_config *cfg = NULL;
	char *store = NULL, *mnt = NULL, fsname[PATH_MAX + 16];
	int pipefd[2] = { -1, -1 }, r = 1, probe_fd = -1;
	pthread_t idle;
	bool idle_started = false;
	struct rlimit rl;

	if (fuse_opt_add_arg(&o.fargs, argv[0]) || parse_args(argc, argv, &o) < 0) {
		r = 2;
		goto out_args;
	}
	if (o.help || o.version) {
		if (o.help)
			usage(stdout, argv[0]);
		else
			printf("modelfs %s (libfuse %s)\n", MODELFS_VERSION, fuse_pkgversion());
		r = 0;
		goto out_args;
	}
	mfs_log_init("modelfs", 0, MFS_LOG_INFO);
	store = o.store ? strdup(o.store) : default_store();
	if (!store || mfs_store_prepare(store, MFS_STORE_CREATE) < 0)
		goto out_args;
	if (!o.where.db[0] && getenv("MODELFS_DB") && *getenv("MODELFS_DB"))
		snprintf(o.where.db, sizeof(o.where.db), "%s", getenv("MODELFS_DB"));
	if (!o.where.blobs[0] && getenv("MODELFS_BLOBS") && *getenv("MODELFS_BLOBS"))
		snprintf(o.where.blobs, sizeof(o.where.blobs), "%s", getenv("MODELFS_BLOBS"));
	/* What is given is recorded in STORE/config, so modelctl -s STORE and
	 * a remount without options find the same registry. */
	if (o.where.db[0] && mfs_store_db_has_password(o.where.db)) {
		fprintf(stderr, "modelfs: refusing a password in db=: it would be seen by every user in the process list, and kept in STORE/config; put it in PGPASSFILE (~/.pgpass) or a service file (db=service=NAME)\n");
		goto out_args;
	}
	if ((o.where.db[0] || o.where.blobs[0] || o.where.drafts[0]) &&
	    mfs_config_set(store, &o.where) < 0)
		goto out_args;
	{
		char *abs = realpath(store, NULL);

		free(store);
		store = abs;
		if (!store)
			goto out_args;
	}
	if (gov_prepare(&o, &gov) < 0)
		goto out_args;
	mnt = realpath(o.mount, NULL);
	if (!mnt) {
		fprintf(stderr, "modelfs: mount point '%s': %s\n", o.mount, strerror(errno));
		goto out_args;
	}
	if (is_mounted(mnt)) {
		fprintf(stderr, "modelfs: mount point '%s' is in use: unmount it first (fusermount3 -u %s)\n",
			mnt, mnt);
		goto out_args;
	}
	snprintf(fsname, sizeof(fsname), "fsname=%s,subtype=modelfs", store);
	if (add_fuse_opt(&o, fsname) ||
	    (geteuid() == 0 && add_fuse_opt(&o, "allow_other")) ||
	    (o.debug && fuse_opt_add_arg(&o.fargs, "-d")))
		goto out_args;

	if (!o.foreground) {
		pid_t pid;
		char status = 1;

		if (pipe2(pipefd, O_CLOEXEC) < 0) {
			perror("modelfs: pipe");
			goto out_args;
		}
		pid = fork();
		if (pid < 0) {
			perror("modelfs: fork");
			goto out_args;
		}
		if (pid > 0) {
			close(pipefd[1]);
			/* The child says 0 once the mount is live; EOF means it
			 * died and already printed why. */
			if (read(pipefd[0], &status, 1) != 1)
				status = 1;
			close(pipefd[0]);
			if (status) {
				int ws;

				waitpid(pid, &ws, 0);
			}
			free(store);
			free(mnt);
			free(o.store_owned);
			free(o.audit_key);
			free(o.admin_group);
			free(o.hook);
			gov_release(&gov);
			fuse_opt_free_args(&o.fargs);
			return status ? 1 : 0;
		}
		close(pipefd[0]);
		pipefd[0] = -1;
		setsid();
	}

	/* Draft files get exactly the mode the kernel sent (it applied the
	 * caller's umask already). */
	umask(0);
	/* The daemon holds a descriptor per draft file the kernel remembers
	 * and per open sealed file: as many as the system allows (root may
	 * raise the hard limit to fs.nr_open). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		FILE *f = fopen("/proc/sys/fs/nr_open", "re");
		unsigned long long nr = 0;

		if (f) {
			if (fscanf(f, "%llu", &nr) != 1)
				nr = 0;
			fclose(f);
		}
		if (geteuid() == 0 && nr > rl.rlim_max)
			rl.rlim_max = (rlim_t)nr;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	d.store_dir = store;
	d.mount = mnt;
	d.seal_idle = o.seal_idle;
	d.daemon_root = geteuid() == 0;
	d.daemon_uid = geteuid();
	/* Root's supplementary groups must not leak into the per-request
	 * identity the daemon takes for draft files (fsuid/fsgid). */
	if (d.daemon_root && setgroups(0, NULL) < 0)
		mfs_log(MFS_LOG_WARN, "setgroups: %s", strerror(errno));
	d.start_ns = mfs_now_ns();
	d.vsize = calloc(VSIZE_SLOTS, sizeof(*d.vsize));	/* NULL: no cache */
	pthread_mutex_init(&d.lock, NULL);
	pthread_mutex_init(&d.docs_lock, NULL);
	pthread_cond_init(&d.cond, NULL);
	if (mfs_store_open(store, MFS_STORE_SERVE | MFS_STORE_CREATE, mnt, &d.st) < 0)
		goto out_dlock;
	if (gov.key && mfs_store_set_audit_key(d.st, gov.key, gov.keylen) < 0)
		goto out_store;
	if (!gov.key && mfs_audit_keyed(d.st) == 1) {
		fprintf(stderr, "modelfs: refusing to start: the audit trail of '%s' is keyed (HMAC); give -o audit_key=FILE, or records appended without it would break the chain\n",
			store);
		goto out_store;
	}
	if (gov.has_admin)
		mfs_store_set_admin_group(d.st, gov.admin_gid);
	if (gov.hook) {
		if (hook_start(gov.hook, o.hook_timeout, &hook) < 0)
			goto out_store;
		mfs_store_set_event_sink(d.st, hook_event, hook);
	}
	/* A regular file on the blobs' filesystem shows whether it can back
	 * passthrough opens (the blobs may be on another one than the store:
	 * NFS): the blob directory's probe file, else the store's lock. */
	{
		char lock[PATH_MAX];

		snprintf(lock, sizeof(lock), "%s/.modelfs-probe", mfs_store_blobs_dir(d.st));
		probe_fd = open(lock, O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
		if (probe_fd < 0) {
			snprintf(lock, sizeof(lock), "%s/lock", store);
			probe_fd = open(lock, O_RDONLY | O_CLOEXEC);
		}
		if (pt_new(!o.nopassthrough && probe_fd >= 0, probe_fd, &d.pt) < 0)
			goto out_store;
	}
	d.se = fuse_session_new(&o.fargs, &mfs_ops, sizeof(mfs_ops), &d);
	if (!d.se)
		goto out_store;
	if (fuse_set_signal_handlers(d.se) != 0)
		goto out_session;
	if (fuse_session_mount(d.se, mnt) != 0)
		goto out_signals;
	if (pt_install(d.pt, d.se) < 0)
		mfs_log(MFS_LOG_WARN, "cannot hook the FUSE device: sealed files served by splice");
	raise_readahead(mnt);
	/* What any commit changes, on this host or another, reaches the
	 * kernel through fs_change(). */
	if (mfs_store_watch(d.st, fs_change, &d) < 0) {
		mfs_log(MFS_LOG_ERR, "cannot watch the registry for changes");
		goto out_unmount;
	}
	/* A shared registry: this host's row and leases, for gc anywhere
	 * (withdrawn by mfs_store_close(), after the idle sealer stops). */
	if (mfs_lease_start(d.st, mnt) < 0)
		goto out_unmount;
	seed_drafts(&d);
	/* SHA-256 digests owed by seals (sha256.h); stopped by
	 * mfs_store_close(). Without it digests wait for the next start. */
	mfs_sha256_start(d.st);
	if (prehash_start(&d) < 0)
		mfs_log(MFS_LOG_WARN, "cannot start hashing draft files as they are closed: seals read them");
	if (idle_start(&d, &idle) < 0)
		goto out_unmount;
	idle_started = d.seal_idle > 0;
	if (strcmp(mfs_store_engine(d.st), "lmdb"))
		mfs_log(MFS_LOG_INFO, "serving store '%s' at '%s': registry in %s %s, blobs in '%s'",
			store, mnt, mfs_store_engine(d.st), mfs_store_db(d.st),
			mfs_store_blobs_dir(d.st));
	else
		mfs_log(MFS_LOG_INFO, "serving store '%s' at '%s'", store, mnt);
	if (!o.foreground) {
		int null = open("/dev/null", O_RDWR);

		/* From here on the daemon logs to syslog. */
		mfs_log_init("modelfs", 1, MFS_LOG_INFO);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
		if (chdir("/") < 0) {
			/* harmless */
		}
	}
	ready(pipefd[1], 0);
	pipefd[1] = -1;
	/* Under systemd (Type=notify, modelfs@.service): the mount is live
	 * and every thread that serves it runs. Nothing without
	 * $NOTIFY_SOCKET. */
	sd_notifyf(0, "READY=1\nSTATUS=serving '%s' at '%s'", store, mnt);
	cfg = fuse_loop_cfg_create();
	if (!cfg)
		goto out_idle;
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_loop_cfg_set_max_threads(cfg, 16);
	fuse_loop_cfg_set_idle_threads(cfg, 8);
	r = fuse_session_loop_mt(d.se, cfg);
	sd_notify(0, "STOPPING=1");
	mfs_store_watch(d.st, NULL, NULL);
	forget_wait(&d);
	/* A stop by SIGTERM/SIGINT/SIGHUP (systemd, ^C) is a clean exit. */
	r = (r == 0 || r == SIGTERM || r == SIGINT || r == SIGHUP) ? 0 : 1;
	fuse_loop_cfg_destroy(cfg);
out_idle:
	if (idle_started) {
		pthread_mutex_lock(&d.lock);
		d.stopping = true;
		pthread_mutex_unlock(&d.lock);
		pthread_join(idle, NULL);
	}
out_unmount:
	prehash_stop(&d);
	mfs_store_watch(d.st, NULL, NULL);
	fuse_session_unmount(d.se);
out_signals:
	fuse_remove_signal_handlers(d.se);
out_session:
	fuse_session_destroy(d.se);
out_store:
	pt_free(d.pt);
	if (probe_fd >= 0)
		close(probe_fd);
	if (d.st)
		mfs_store_set_event_sink(d.st, NULL, NULL);
	hook_stop(hook);
	mfs_store_close(d.st);
out_dlock:
	node_table_free(&d);
	vtab_free(&d);
	serve_free(&d);
	dirsnaps_free(&d);
	handles_free(&d);
	fs_gc_free(&d);
	free(d.vsize);
	pthread_cond_destroy(&d.cond);
	pthread_mutex_destroy(&d.lock);
	docs_free(&d);
	pthread_mutex_destroy(&d.docs_lock);
out_args:
	if (pipefd[1] >= 0)
		ready(pipefd[1], 1);
	free(store);
	free(mnt);
	free(o.store_owned);
	free(o.audit_key);
	free(o.admin_group);
	free(o.hook);
	gov_release(&gov);
	fuse_opt_free_args(&o.fargs);
	return r;
}
