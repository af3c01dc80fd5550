/* yamldoc.c - YAML documents read as cJSON, with libyaml */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "cmd.h"
#include "yamldoc.h"

#define MAX_ANCHORS 256
#define MAX_DEPTH 64
#define MAX_NODES 100000	/* aliases expand: "billion laughs" stop here */

struct anchors {
	char *name[MAX_ANCHORS];
	cJSON *node[MAX_ANCHORS];	/* owned copies, as defined */
	size_t n;
	size_t nodes;			/* made so far, copies included */
};

static size_t count_nodes(const cJSON *j)
{
	size_t n = 1;

	for (const cJSON *c = j ? j->child : NULL; c; c = c->next)
		n += count_nodes(c);
	return n;
}

static bool is_any(const char *s, const char *const *words)
{
	for (; *words; words++)
		if (!strcasecmp(s, *words))
			return true;
	return false;
}

/* Skip digits (and YAML's '_' separators after the first); how many. */
static size_t digits(const char *s)
{
	size_t i = 0;

	while ((s[i] >= '0' && s[i] <= '9') || (i && s[i] == '_'))
		i++;
	return i;
}

/* A decimal int or float as PyYAML's resolver (YAML 1.1) takes one: a
 * float has a '.'; "1e5" is text. */
static bool number(const char *s)
{
	size_t i = *s == '-' || *s == '+', a = digits(s + i), b = 0;

	i += a;
	if (!s[i])
		return a > 0;
	if (s[i] != '.')
		return false;
	i++;
	b = digits(s + i);
	i += b;
	if (!a && !b)
		return false;
	if (s[i] == 'e' || s[i] == 'E') {
		i++;
		if (s[i] == '-' || s[i] == '+')
			i++;
		if (!digits(s + i))
			return false;
		i += digits(s + i);
	}
	return !s[i];
}

/* An unquoted scalar as YAML 1.1 resolves it. */
static cJSON *plain(const char *s)
{
	static const char *const nulls[] = { "null", "~", NULL };
	static const char *const yes[] = { "true", "yes", "on", NULL };
	static const char *const no[] = { "false", "no", "off", NULL };

	if (!*s || is_any(s, nulls))
		return cJSON_CreateNull();
	if (is_any(s, yes))
		return cJSON_CreateTrue();
	if (is_any(s, no))
		return cJSON_CreateFalse();
	if (number(s) && !strchr(s, '_'))
		return cJSON_CreateNumber(strtod(s, NULL));
	return cJSON_CreateString(s);
}

/* Keep a copy of an anchored node: the tree's own may be replaced (a key
 * given twice) before an alias names it. */
static void remember(struct anchors *a, const yaml_char_t *anchor, const cJSON *node)
{
	if (!anchor || a->n == MAX_ANCHORS)
		return;
	a->name[a->n] = strdup((const char *)anchor);
	a->node[a->n] = cJSON_Duplicate(node, true);
	if (a->name[a->n] && a->node[a->n]) {
		a->n++;
		return;
	}
	free(a->name[a->n]);
	cJSON_Delete(a->node[a->n]);
}

static cJSON *node(yaml_parser_t *p, yaml_event_t *ev, struct anchors *a, int depth,
		   char *why, size_t n);

/* The items of a sequence or mapping, up to its end event. */
static int items(yaml_parser_t *p, cJSON *into, bool mapping, struct anchors *a, int depth,
		 char *why, size_t n)
{
	for (;;) {
		yaml_event_t ev;
		cJSON *key = NULL, *val;

		if (!yaml_parser_parse(p, &ev))
			return -1;
		if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (mapping) {
			key = node(p, &ev, a, depth + 1, why, n);
			yaml_event_delete(&ev);
			if (!key)
				return -1;
			if (!yaml_parser_parse(p, &ev)) {
				cJSON_Delete(key);
				return -1;
			}
		}
		val = node(p, &ev, a, depth + 1, why, n);
		yaml_event_delete(&ev);
		if (!val) {
			cJSON_Delete(key);
			return -1;
		}
		if (mapping) {
			char num[64];
			const char *k = cJSON_IsString(key) ? key->valuestring : num;

			if (cJSON_IsNumber(key))
				snprintf(num, sizeof(num), "%.17g", key->valuedouble);
			else if (cJSON_IsTrue(key) || cJSON_IsFalse(key))
				snprintf(num, sizeof(num), "%s", cJSON_IsTrue(key) ? "true" : "false");
			else if (!cJSON_IsString(key))
				snprintf(num, sizeof(num), "null");
			/* A key given twice: the last wins, as in PyYAML. */
			cJSON_DeleteItemFromObjectCaseSensitive(into, k);
			cJSON_AddItemToObject(into, k, val);
			cJSON_Delete(key);
		} else {
			cJSON_AddItemToArray(into, val);
		}
	}
}

static cJSON *node(yaml_parser_t *p, yaml_event_t *ev, struct anchors *a, int depth,
		   char *why, size_t n)
{
	cJSON *j = NULL;

	if (depth > MAX_DEPTH) {
		snprintf(why, n, "nested deeper than %d levels", MAX_DEPTH);
		return NULL;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT: {
		const char *v = (const char *)ev->data.scalar.value;

		j = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag ?
			    plain(v) : cJSON_CreateString(v);
		if (++a->nodes > MAX_NODES) {
			cJSON_Delete(j);
			snprintf(why, n, "more than %d nodes", MAX_NODES);
			return NULL;
		}
		remember(a, ev->data.scalar.anchor, j);
		return j;
	}
	case YAML_ALIAS_EVENT:
		/* The newest anchor of the name wins, as YAML says. */
		for (size_t i = a->n; i-- > 0;) {
			if (strcmp(a->name[i], (const char *)ev->data.alias.anchor))
				continue;
			a->nodes += count_nodes(a->node[i]);
			if (a->nodes > MAX_NODES) {
				snprintf(why, n, "line %zu: aliases expand beyond %d nodes",
					 (size_t)ev->start_mark.line + 1, MAX_NODES);
				return NULL;
			}
			return cJSON_Duplicate(a->node[i], true);
		}
		snprintf(why, n, "line %zu: an alias of no anchor",
			 (size_t)ev->start_mark.line + 1);
		return NULL;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool mapping = ev->type == YAML_MAPPING_START_EVENT;

		j = mapping ? cJSON_CreateObject() : cJSON_CreateArray();
		if (!j)
			return NULL;
		if (items(p, j, mapping, a, depth, why, n) < 0) {
			cJSON_Delete(j);
			return NULL;
		}
		remember(a, mapping ? ev->data.mapping_start.anchor :
				      ev->data.sequence_start.anchor, j);
		return j;
	}
	default:
		snprintf(why, n, "line %zu: unexpected YAML event", (size_t)ev->start_mark.line + 1);
		return NULL;
	}
}

cJSON *yaml_parse(const char *text, size_t len, char *why, size_t n)
{
	struct anchors a = { .n = 0 };
	yaml_parser_t p;
	yaml_event_t ev;
	cJSON *j = NULL;
	bool done = false;

	snprintf(why, n, "not YAML");
	if (!yaml_parser_initialize(&p))
		return NULL;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done && yaml_parser_parse(&p, &ev)) {
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_START_EVENT:
			break;
		case YAML_STREAM_END_EVENT:
			j = cJSON_CreateNull();	/* no document */
			done = true;
			break;
		default:
			j = node(&p, &ev, &a, 0, why, n);
			done = true;
		}
		yaml_event_delete(&ev);
	}
	if (!done && p.problem)
		snprintf(why, n, "line %zu: %s", (size_t)p.problem_mark.line + 1, p.problem);
	else if (!j && p.problem)
		snprintf(why, n, "line %zu: %s", (size_t)p.problem_mark.line + 1, p.problem);
	yaml_parser_delete(&p);
	for (size_t i = 0; i < a.n; i++) {
		free(a.name[i]);
		cJSON_Delete(a.node[i]);
	}
	return j;
}

cJSON *yaml_read(const char *path, char *why, size_t n)
{
	size_t len = 0;
	char *text = ctl_slurp(path, &len);
	cJSON *j;

	if (!text) {
		snprintf(why, n, "%s", strerror(errno));
		return NULL;
	}
	j = yaml_parse(text, len, why, n);
	free(text);
	return j;
}
