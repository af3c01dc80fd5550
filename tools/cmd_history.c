/* cmd_history.c - modelctl history MODEL [ALIAS] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "alias.h"
#include "promote.h"
#include "model.h"

/* The history is history.jsonl's text either way: rendered by the store,
 * or read through the mount when the store is not the caller's to open. */
int ctl_history_text(struct ctl *c, struct mfs_store *st, const char *model,
		     char **ret, size_t *ret_len)
{
	struct mfs_store *own = NULL;
	struct mfs_model_info mi;
	int r;

	if (!st) {
		r = ctl_open_read(c, &own);
		if (r < 0)
			return r;
		st = own;
	}
	if (!st) {
		*ret = mnt_text(c, ret_len, "models/%s/history.jsonl", model);
		r = *ret ? 0 : -errno;
	} else {
		r = mfs_model_lookup(st, model, &mi);
		if (r == 0)
			r = mfs_alias_history_render(st, mi.id, ret, ret_len);
	}
	mfs_store_close(own);
	if (r < 0)
		fprintf(stderr, "modelctl: history of '%s': %s\n", model,
			r == -ENOENT ? "no such model" : strerror(-r));
	return r;
}

static const char *text_or(cJSON *o, const char *key, const char *dflt)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));

	return s ? s : dflt;
}

int cmd_history(struct ctl *c, int argc, char **argv)
{
	const char *alias = argc == 3 ? argv[2] : NULL;
	cJSON *out = NULL;
	char *text = NULL, *p, *nl;
	size_t len = 0;

	if (argc != 2 && argc != 3)
		return ctl_usage(argv[0]);
	if (ctl_history_text(c, NULL, argv[1], &text, &len) < 0)
		return EXIT_FAILURE;
	out = cJSON_CreateArray();
	if (!c->json)
		printf("%-6s %-24s %-16s %-28s %s\n", "SEQ", "TIME", "ALIAS", "FROM -> TO", "USER");
	for (p = text; p < text + len; p = nl + 1) {
		cJSON *rec;
		char move[600];

		nl = memchr(p, '\n', (size_t)(text + len - p));
		if (!nl)
			nl = text + len;
		rec = cJSON_ParseWithLength(p, (size_t)(nl - p));
		if (!rec)
			continue;
		if (alias && strcmp(text_or(rec, "alias", ""), alias)) {
			cJSON_Delete(rec);
			continue;
		}
		if (!c->json) {
			cJSON *rb = cJSON_GetObjectItemCaseSensitive(rec, "rollback");

			snprintf(move, sizeof(move), "%s -> %s%s", text_or(rec, "from", "-"),
				 text_or(rec, "to", "-"), cJSON_IsTrue(rb) ? " (rollback)" : "");
			printf("%-6.0f %-24s %-16s %-28s %s\n",
			       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(rec, "seq")),
			       text_or(rec, "time", "?"), text_or(rec, "alias", "?"), move,
			       text_or(rec, "user", "?"));
		}
		cJSON_AddItemToArray(out, rec);
	}
	free(text);
	if (c->json)
		ctl_print_json(out);
	else
		cJSON_Delete(out);
	return EXIT_SUCCESS;
}
