/* cmd_lineage.c - modelctl lineage MODEL@V [--format json|dot|mermaid] [--descendants] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cmd.h"
#include "meta.h"
#include "model.h"
#include "version.h"

/*
 * The provenance graph around one version: its ancestors (and with
 * --descendants, the versions derived from it), walked breadth first over
 * the store's lineage (the same rendering as lineage.json). Parents the
 * registry does not have are drawn dashed.
 */

static const struct ctl *ctl_of_walk;	/* set once per run, before walking */

static cJSON *lineage_of(struct mfs_store *st, const char *ref)
{
	char buf[400], *model, *version, *txt = NULL;
	struct mfs_model_info mi;
	struct mfs_version_info vi;
	cJSON *j = NULL;
	size_t len;

	snprintf(buf, sizeof(buf), "%s", ref);
	ctl_split_ref(buf, &model, &version);
	if (version && !st)	/* lineage.json exists in sealed versions only */
		return mnt_json(ctl_of_walk, "models/%s/versions/%s/lineage.json", model, version);
	if (!version || mfs_model_lookup(st, model, &mi) < 0 ||
	    mfs_version_lookup(st, mi.id, version, false, &vi) < 0 ||
	    vi.state != MFS_V_SEALED)
		return NULL;
	if (mfs_version_render_lineage(st, NULL, vi.id, &txt, &len) == 0)
		j = cJSON_ParseWithLength(txt, len);
	free(txt);
	return j;
}

static bool seen_add(cJSON *seen, const char *ref)
{
	if (cJSON_GetObjectItemCaseSensitive(seen, ref))
		return false;
	cJSON_AddTrueToObject(seen, ref);
	return true;
}

/* Breadth first from start, up through parents (up) or down through
 * children: fills nodes {ref: resolved} and edges [[from, to], ...]. */
static void walk(struct mfs_store *st, const char *start, bool up, cJSON *nodes,
		 cJSON *edges)
{
	cJSON *queue = cJSON_CreateArray(), *seen = cJSON_CreateObject();

	cJSON_AddItemToArray(queue, cJSON_CreateString(start));
	seen_add(seen, start);
	while (cJSON_GetArraySize(queue) > 0) {
		cJSON *item = cJSON_DetachItemFromArray(queue, 0), *lin, *list, *it;
		const char *ref = item->valuestring;

		lin = lineage_of(st, ref);
		if (!cJSON_GetObjectItemCaseSensitive(nodes, ref))
			cJSON_AddBoolToObject(nodes, ref, lin != NULL);
		list = lin ? cJSON_GetObjectItemCaseSensitive(lin, up ? "parents" : "children") : NULL;
		cJSON_ArrayForEach(it, list) {
			const char *other = up ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "ref")) :
						 cJSON_GetStringValue(it);
			cJSON *e;

			if (!other)
				continue;
			e = cJSON_CreateArray();
			cJSON_AddItemToArray(e, cJSON_CreateString(up ? other : ref));
			cJSON_AddItemToArray(e, cJSON_CreateString(up ? ref : other));
			cJSON_AddItemToArray(edges, e);
			if (seen_add(seen, other))
				cJSON_AddItemToArray(queue, cJSON_CreateString(other));
		}
		cJSON_Delete(lin);
		cJSON_Delete(item);
	}
	cJSON_Delete(queue);
	cJSON_Delete(seen);
}

static void print_dot(cJSON *nodes, cJSON *edges, const char *start)
{
	cJSON *n, *e;

	printf("digraph lineage {\n  rankdir=LR;\n  node [shape=box];\n");
	cJSON_ArrayForEach(n, nodes)
		printf("  \"%s\"%s;\n", n->string,
		       !cJSON_IsTrue(n) ? " [style=dashed]" :
		       !strcmp(n->string, start) ? " [style=bold]" : "");
	cJSON_ArrayForEach(e, edges)
		printf("  \"%s\" -> \"%s\";\n", cJSON_GetArrayItem(e, 0)->valuestring,
		       cJSON_GetArrayItem(e, 1)->valuestring);
	printf("}\n");
}

static void print_mermaid(cJSON *nodes, cJSON *edges)
{
	cJSON *n, *e;
	int i = 0;

	printf("graph LR\n");
	cJSON_ArrayForEach(n, nodes) {
		printf("  n%d[\"%s\"]\n", i, n->string);
		if (!cJSON_IsTrue(n))
			printf("  style n%d stroke-dasharray: 5 5\n", i);
		i++;
	}
	cJSON_ArrayForEach(e, edges) {
		int a = -1, b = -1, k = 0;

		cJSON_ArrayForEach(n, nodes) {
			if (!strcmp(n->string, cJSON_GetArrayItem(e, 0)->valuestring))
				a = k;
			if (!strcmp(n->string, cJSON_GetArrayItem(e, 1)->valuestring))
				b = k;
			k++;
		}
		if (a >= 0 && b >= 0)
			printf("  n%d --> n%d\n", a, b);
	}
}

int cmd_lineage(struct ctl *c, int argc, char **argv)
{
	const char *format = c->json ? "json" : "dot", *ref = NULL;
	struct mfs_store *st = NULL;
	bool down = false;
	cJSON *lin;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--descendants"))
			down = true;
		else if (!strcmp(argv[i], "--format") && i + 1 < argc)
			format = argv[++i];
		else if (!strncmp(argv[i], "--format=", 9))
			format = argv[i] + 9;
		else if (!ref && argv[i][0] != '-')
			ref = argv[i];
		else
			ref = NULL, i = argc;
	}
	if (!ref || !strchr(ref, '@') || (strcmp(format, "json") && strcmp(format, "dot") &&
					   strcmp(format, "mermaid"))) {
		return ctl_usage(argv[0]);
	}
	if (ctl_open_read(c, &st) < 0)
		return EXIT_FAILURE;
	ctl_of_walk = c;
	lin = lineage_of(st, ref);
	if (!lin) {
		fprintf(stderr, "modelctl: no sealed version '%s'\n", ref);
		mfs_store_close(st);
		return EXIT_FAILURE;
	}
	if (!strcmp(format, "json") && !down) {
		ctl_print_json(lin);
	} else {
		cJSON *nodes = cJSON_CreateObject(), *edges = cJSON_CreateArray();

		cJSON_Delete(lin);
		walk(st, ref, true, nodes, edges);
		if (down)
			walk(st, ref, false, nodes, edges);
		if (!strcmp(format, "dot")) {
			print_dot(nodes, edges, ref);
		} else if (!strcmp(format, "mermaid")) {
			print_mermaid(nodes, edges);
		} else {
			cJSON *o = cJSON_CreateObject(), *n, *arr;

			cJSON_AddStringToObject(o, "root", ref);
			arr = cJSON_AddArrayToObject(o, "nodes");
			cJSON_ArrayForEach(n, nodes) {
				cJSON *x = cJSON_CreateObject();

				cJSON_AddStringToObject(x, "ref", n->string);
				cJSON_AddBoolToObject(x, "resolved", cJSON_IsTrue(n));
				cJSON_AddItemToArray(arr, x);
			}
			cJSON_AddItemToObject(o, "edges", edges);
			edges = NULL;
			ctl_print_json(o);
		}
		cJSON_Delete(nodes);
		cJSON_Delete(edges);
	}
	mfs_store_close(st);
	return EXIT_SUCCESS;
}
