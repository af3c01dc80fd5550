/* query.c - recursive-descent parser and evaluator of find expressions */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "query.h"

enum op { Q_OR, Q_AND, Q_NOT, Q_EXISTS, Q_EQ, Q_NE, Q_GE, Q_LE, Q_GT, Q_LT, Q_CONTAINS };

struct node {
	enum op op;
	struct node *a, *b;	/* operands of OR/AND/NOT */
	char *path;		/* comparisons, EXISTS */
	cJSON *value;		/* comparisons */
};

struct mfs_query {
	struct node *root;
};

struct parser {
	const char *s;
	size_t pos;
	int depth;	/* unary() calls in progress: the nesting */
	int err_col;
	char *why;
	size_t n;
};

#define STR(x) #x
#define XSTR(x) STR(x)

static void node_free(struct node *n)
{
	if (!n)
		return;
	node_free(n->a);
	node_free(n->b);
	free(n->path);
	cJSON_Delete(n->value);
	free(n);
}

void mfs_query_free(struct mfs_query *q)
{
	if (!q)
		return;
	node_free(q->root);
	free(q);
}

static void skip(struct parser *p)
{
	while (p->s[p->pos] && isspace((unsigned char)p->s[p->pos]))
		p->pos++;
}

static struct node *fail(struct parser *p, const char *fmt, const char *what)
{
	if (!p->err_col) {
		p->err_col = (int)p->pos + 1;
		snprintf(p->why, p->n, fmt, what);
	}
	return NULL;
}

static bool is_word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.' || c == '@';
}

/* Consume keyword kw if it stands next as a whole word. */
static bool keyword(struct parser *p, const char *kw)
{
	size_t l = strlen(kw);

	skip(p);
	if (strncmp(p->s + p->pos, kw, l) || is_word_char(p->s[p->pos + l]))
		return false;
	p->pos += l;
	return true;
}

static bool punct(struct parser *p, const char *t)
{
	size_t l = strlen(t);

	skip(p);
	if (strncmp(p->s + p->pos, t, l))
		return false;
	p->pos += l;
	return true;
}

static char *path(struct parser *p)
{
	size_t start;

	skip(p);
	start = p->pos;
	if (!isalpha((unsigned char)p->s[p->pos]) && p->s[p->pos] != '_')
		return NULL;
	while (isalnum((unsigned char)p->s[p->pos]) || p->s[p->pos] == '_' ||
	       p->s[p->pos] == '.' || p->s[p->pos] == '-')
		p->pos++;
	return strndup(p->s + start, p->pos - start);
}

static cJSON *value(struct parser *p)
{
	const char *end = NULL;
	cJSON *v;

	skip(p);
	if (keyword(p, "true"))
		return cJSON_CreateTrue();
	if (keyword(p, "false"))
		return cJSON_CreateFalse();
	if (keyword(p, "null"))
		return cJSON_CreateNull();
	if (p->s[p->pos] != '"' && p->s[p->pos] != '-' &&
	    !isdigit((unsigned char)p->s[p->pos]))
		return NULL;
	/* Strings and numbers in JSON syntax: cJSON reads one value. */
	v = cJSON_ParseWithOpts(p->s + p->pos, &end, 0);
	if (!v || (!cJSON_IsString(v) && !cJSON_IsNumber(v))) {
		cJSON_Delete(v);
		return NULL;
	}
	p->pos = (size_t)(end - p->s);
	return v;
}

static struct node *expr(struct parser *p);

static struct node *mk(enum op op, struct node *a, struct node *b)
{
	struct node *n = calloc(1, sizeof(*n));

	if (!n) {
		node_free(a);
		node_free(b);
		return NULL;
	}
	n->op = op;
	n->a = a;
	n->b = b;
	return n;
}

static struct node *unary_at(struct parser *p);

/* The parser recurses once per "not" or "(", and a command line holds
 * 128 KiB of them: unbounded, that is a stack overflow (modelctl find
 * crashed on 100000 '('), so the nesting is bounded instead. */
static struct node *unary(struct parser *p)
{
	struct node *n;

	if (p->depth > MFS_QUERY_DEPTH)
		return fail(p, "%s", "an expression nested deeper than "
			    XSTR(MFS_QUERY_DEPTH) " levels");
	p->depth++;
	n = unary_at(p);
	p->depth--;
	return n;
}

static struct node *unary_at(struct parser *p)
{
	static const struct { const char *t; enum op op; } ops[] = {
		{ "==", Q_EQ }, { "!=", Q_NE }, { ">=", Q_GE }, { "<=", Q_LE },
		{ ">", Q_GT }, { "<", Q_LT },
	};
	struct node *n;
	char *pth;
	int op = -1;

	if (keyword(p, "not")) {
		n = unary(p);
		return n ? mk(Q_NOT, n, NULL) : NULL;
	}
	if (punct(p, "(")) {
		n = expr(p);
		if (!n)
			return NULL;
		if (!punct(p, ")")) {
			node_free(n);
			return fail(p, "expected '%s'", ")");
		}
		return n;
	}
	if (keyword(p, "exists")) {
		if (!punct(p, "("))
			return fail(p, "expected '%s' after exists", "(");
		pth = path(p);
		if (!pth)
			return fail(p, "expected %s inside exists( )", "a field name");
		if (!punct(p, ")")) {
			free(pth);
			return fail(p, "expected '%s'", ")");
		}
		n = mk(Q_EXISTS, NULL, NULL);
		if (n)
			n->path = pth;
		else
			free(pth);
		return n;
	}
	pth = path(p);
	if (!pth)
		return fail(p, "expected %s", "a field name, 'not', 'exists(' or '('");
	if (keyword(p, "contains"))
		op = Q_CONTAINS;
	for (size_t i = 0; op < 0 && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (punct(p, ops[i].t))
			op = (int)ops[i].op;
	if (op < 0) {
		free(pth);
		return fail(p, "expected %s after the field name",
			    "an operator (==, !=, >=, <=, >, <, contains)");
	}
	n = mk((enum op)op, NULL, NULL);
	if (!n) {
		free(pth);
		return NULL;
	}
	n->path = pth;
	n->value = value(p);
	if (!n->value) {
		node_free(n);
		return fail(p, "expected %s (strings are always quoted)",
			    "a value: \"string\", number, true, false or null");
	}
	return n;
}

static struct node *and_expr(struct parser *p)
{
	struct node *l = unary(p), *r;

	while (l && keyword(p, "and")) {
		r = unary(p);
		if (!r) {
			node_free(l);
			return NULL;
		}
		l = mk(Q_AND, l, r);
	}
	return l;
}

static struct node *expr(struct parser *p)
{
	struct node *l = and_expr(p), *r;

	while (l && keyword(p, "or")) {
		r = and_expr(p);
		if (!r) {
			node_free(l);
			return NULL;
		}
		l = mk(Q_OR, l, r);
	}
	return l;
}

int mfs_query_parse(const char *text, struct mfs_query **ret, int *ret_col,
		    char *why, size_t n)
{
	struct parser p = { .s = text, .why = why, .n = n };
	struct mfs_query *q;
	struct node *root;

	root = expr(&p);
	if (root) {
		skip(&p);
		if (p.s[p.pos]) {
			node_free(root);
			root = fail(&p, "unexpected %s", "text: expected 'and', 'or' or the end");
		}
	} else if (!p.err_col) {
		fail(&p, "%s", "out of memory");
	}
	if (!root) {
		if (ret_col)
			*ret_col = p.err_col;
		return -EINVAL;
	}
	q = malloc(sizeof(*q));
	if (!q) {
		node_free(root);
		return -ENOMEM;
	}
	q->root = root;
	*ret = q;
	return 0;
}

const cJSON *mfs_query_lookup(const cJSON *obj, const char *pth)
{
	char buf[512], *save = NULL, *tok;
	const cJSON *cur = obj;

	/* The whole name first: metadata keys may contain dots. */
	if (cJSON_GetObjectItemCaseSensitive(obj, pth))
		return cJSON_GetObjectItemCaseSensitive(obj, pth);
	snprintf(buf, sizeof(buf), "%s", pth);
	for (tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
		cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, tok) : NULL;
	return cur;
}

static bool cmp_one(enum op op, const cJSON *have, const cJSON *want)
{
	int c;

	if (op == Q_CONTAINS)
		return cJSON_IsString(have) && cJSON_IsString(want) &&
		       strstr(have->valuestring, want->valuestring);
	if (cJSON_IsNumber(have) && cJSON_IsNumber(want)) {
		double a = have->valuedouble, b = want->valuedouble;

		c = a < b ? -1 : a > b ? 1 : 0;
	} else if (cJSON_IsString(have) && cJSON_IsString(want)) {
		c = strcmp(have->valuestring, want->valuestring);
	} else if ((cJSON_IsBool(have) && cJSON_IsBool(want)) ||
		   (cJSON_IsNull(have) && cJSON_IsNull(want))) {
		c = cJSON_IsTrue(have) == cJSON_IsTrue(want) ? 0 : 1;
		if (op != Q_EQ && op != Q_NE)
			return false;
	} else {
		return op == Q_NE;
	}
	switch (op) {
	case Q_EQ:
		return c == 0;
	case Q_NE:
		return c != 0;
	case Q_GE:
		return c >= 0;
	case Q_LE:
		return c <= 0;
	case Q_GT:
		return c > 0;
	case Q_LT:
		return c < 0;
	default:
		return false;
	}
}

static bool eval(const struct node *n, const cJSON *obj)
{
	const cJSON *have, *it;

	switch (n->op) {
	case Q_OR:
		return eval(n->a, obj) || eval(n->b, obj);
	case Q_AND:
		return eval(n->a, obj) && eval(n->b, obj);
	case Q_NOT:
		return !eval(n->a, obj);
	case Q_EXISTS:
		have = mfs_query_lookup(obj, n->path);
		return have && !cJSON_IsNull(have);
	default:
		break;
	}
	have = mfs_query_lookup(obj, n->path);
	if (!have)
		return n->op == Q_NE;
	if (cJSON_IsArray(have)) {
		/* Lists: ==, contains and the orders match any element;
		 * != means no element is equal. */
		if (n->op == Q_NE) {
			cJSON_ArrayForEach(it, have)
				if (cmp_one(Q_EQ, it, n->value))
					return false;
			return true;
		}
		cJSON_ArrayForEach(it, have) {
			if (n->op == Q_CONTAINS ? cmp_one(Q_EQ, it, n->value) : cmp_one(n->op, it, n->value))
				return true;
		}
		return false;
	}
	return cmp_one(n->op, have, n->value);
}

bool mfs_query_match(const struct mfs_query *q, const cJSON *obj)
{
	return eval(q->root, obj);
}

static bool uses(const struct node *n, const char *pth)
{
	if (!n)
		return false;
	if (n->path && (!strcmp(n->path, pth) || (!strncmp(n->path, pth, strlen(pth)) &&
						    n->path[strlen(pth)] == '.')))
		return true;
	return uses(n->a, pth) || uses(n->b, pth);
}

bool mfs_query_uses(const struct mfs_query *q, const char *pth)
{
	return uses(q->root, pth);
}
