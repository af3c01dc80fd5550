/* cmd_audit.c - modelctl audit verify [--key FILE] | audit head */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "audit.h"
#include "cmd.h"

/*
 * Both read the store directly in one read transaction, beside a running
 * daemon too: the chain is a fact of the store, and a verifier must not
 * trust the daemon that wrote it.
 */

static int usage(void)
{
	return ctl_usage("audit");
}

static int verify(struct ctl *c, struct mfs_store *st, const char *keyfile)
{
	struct mfs_audit_check res;
	void *key = NULL;
	size_t keylen = 0;
	int r;

	if (keyfile && mfs_audit_key_load(keyfile, &key, &keylen) < 0) {
		fprintf(stderr, "modelctl: audit key '%s' unusable (see above)\n", keyfile);
		return EXIT_FAILURE;
	}
	r = mfs_audit_verify(st, key, keylen, &res);
	if (key) {
		memset(key, 0, keylen);
		free(key);
	}
	if (r < 0 && r != -EBADMSG) {
		fprintf(stderr, "modelctl: audit verify of '%s' failed: %s\n", ctl_where(c),
			strerror(-r));
		return EXIT_FAILURE;
	}
	if (c->json) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddBoolToObject(j, "ok", r == 0);
		cJSON_AddNumberToObject(j, "records", (double)res.count);
		cJSON_AddNumberToObject(j, "last_good_seq", (double)res.last_seq);
		cJSON_AddStringToObject(j, "head", res.head);
		if (r < 0) {
			cJSON_AddNumberToObject(j, "broken_seq", (double)res.bad_seq);
			cJSON_AddStringToObject(j, "reason", res.why);
		}
		cJSON_AddNumberToObject(j, "hmac_unchecked", (double)res.unkeyed);
		ctl_print_json(j);
	} else if (r < 0) {
		printf("audit: broken link at seq %llu: %s (%llu records read)\n",
		       (unsigned long long)res.bad_seq, res.why, (unsigned long long)res.count);
	} else {
		printf("audit: %llu records, chain intact; head seq %llu %s\n",
		       (unsigned long long)res.count, (unsigned long long)res.last_seq,
		       res.head[0] ? res.head : "-");
		if (res.unkeyed)
			printf("audit: %llu HMAC records linked but not authenticated: give --key FILE\n",
			       (unsigned long long)res.unkeyed);
	}
	return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static int head(struct ctl *c, struct mfs_store *st)
{
	uint64_t seq;
	char hash[65];
	int r = mfs_audit_head(st, &seq, hash);

	if (r < 0) {
		fprintf(stderr, "modelctl: audit head of '%s': %s\n", ctl_where(c), strerror(-r));
		return EXIT_FAILURE;
	}
	if (c->json) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddNumberToObject(j, "seq", (double)seq);
		cJSON_AddStringToObject(j, "hash", hash);
		ctl_print_json(j);
	} else {
		printf("%llu %s\n", (unsigned long long)seq, seq ? hash : "-");
	}
	return EXIT_SUCCESS;
}

int cmd_audit(struct ctl *c, int argc, char **argv)
{
	struct mfs_store *st = NULL;
	const char *keyfile = NULL;
	int r;

	if (argc < 2)
		return usage();
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[1], "verify") && !strcmp(argv[i], "--key") && i + 1 < argc)
			keyfile = argv[++i];
		else
			return usage();
	}
	if (strcmp(argv[1], "verify") && strcmp(argv[1], "head"))
		return usage();
	if (ctl_open_read(c, &st) < 0)
		return EXIT_FAILURE;
	if (!st) {
		fprintf(stderr, "modelctl: audit reads the store itself; run it as the store's owner\n");
		return EXIT_FAILURE;
	}
	r = !strcmp(argv[1], "verify") ? verify(c, st, keyfile) : head(c, st);
	mfs_store_close(st);
	return r;
}
