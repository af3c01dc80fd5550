/* policy.c - governance policy: validation, effective rules, gate checks */
#include <errno.h>
#include <grp.h>
#include <math.h>
#include <pwd.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "governance.h"
#include "alias.h"
#include "audit.h"
#include "format.h"
#include "log.h"
#include "meta.h"
#include "model.h"
#include "perm.h"
#include "policy.h"
#include "semver.h"

/*
 * The checks read the policy as JSON each time (a policy is a few hundred
 * bytes and alias moves are rare): there is no parsed form to keep in step
 * with the stored text. Validation happens once, when a policy is written,
 * so the checks can trust the shape they read.
 */

#define REGISTRY_POLICY_ID 0	/* DB_POLICY key of the registry default */

/*============================================================ gate expressions */

int mfs_gate_expr_parse(const char *text, struct mfs_gate_expr *ret)
{
	static const struct {
		const char *s;
		int op;
	} ops[] = { { ">=", MFS_OP_GE }, { "<=", MFS_OP_LE }, { "==", MFS_OP_EQ },
		    { "!=", MFS_OP_NE }, { ">", MFS_OP_GT }, { "<", MFS_OP_LT } };
	struct mfs_gate_expr e = { 0 };
	const char *p = text;
	cJSON *v;
	size_t i;

	while (*p == ' ')
		p++;
	if (!strcmp(p, "exists")) {
		e.kind = MFS_GATE_EXISTS;
		*ret = e;
		return 0;
	}
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strncmp(p, ops[i].s, strlen(ops[i].s)))
			break;
	if (i == sizeof(ops) / sizeof(ops[0]))
		return -EINVAL;
	e.kind = MFS_GATE_CMP;
	e.op = ops[i].op;
	p += strlen(ops[i].s);
	while (*p == ' ')
		p++;
	if (!*p || strlen(p) >= sizeof(e.str) + 2)
		return -EINVAL;
	v = cJSON_ParseWithOpts(p, NULL, 1);	/* nothing after the value */
	if (!v)
		return -EINVAL;
	if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
		e.vtype = MFS_GV_NUMBER;
		e.num = v->valuedouble;
	} else if (cJSON_IsBool(v)) {
		e.vtype = MFS_GV_BOOL;
		e.b = cJSON_IsTrue(v);
	} else if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof(e.str)) {
		e.vtype = MFS_GV_STRING;
		strcpy(e.str, v->valuestring);
	} else {
		cJSON_Delete(v);
		return -EINVAL;
	}
	cJSON_Delete(v);
	/* Ordering applies to numbers only. */
	if (e.vtype != MFS_GV_NUMBER && e.op != MFS_OP_EQ && e.op != MFS_OP_NE)
		return -EINVAL;
	*ret = e;
	return 0;
}

static bool cmp_result(int op, int c)
{
	switch (op) {
	case MFS_OP_GE: return c >= 0;
	case MFS_OP_GT: return c > 0;
	case MFS_OP_LE: return c <= 0;
	case MFS_OP_LT: return c < 0;
	case MFS_OP_EQ: return c == 0;
	default: return c != 0;
	}
}

static bool eval_value(const struct mfs_gate_expr *e, const cJSON *v)
{
	if (e->kind == MFS_GATE_EXISTS)
		return v && !cJSON_IsNull(v);
	if (!v)
		return false;
	switch (e->vtype) {
	case MFS_GV_NUMBER:
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
			return false;
		return cmp_result(e->op, v->valuedouble < e->num ? -1 :
					 v->valuedouble > e->num ? 1 : 0);
	case MFS_GV_BOOL:
		if (!cJSON_IsBool(v))
			return false;
		return cmp_result(e->op, cJSON_IsTrue(v) == e->b ? 0 : 1);
	default:
		if (!cJSON_IsString(v))
			return false;
		return cmp_result(e->op, strcmp(v->valuestring, e->str) ? 1 : 0);
	}
}

bool mfs_gate_expr_eval(const struct mfs_gate_expr *e, const char *value_json)
{
	cJSON *v = value_json ? cJSON_ParseWithOpts(value_json, NULL, 1) : NULL;
	bool ok;

	if (value_json && !v)
		return false;
	ok = eval_value(e, v);
	cJSON_Delete(v);
	return ok;
}

/*============================================================ validation */

static const char *const rule_keys[] = { "users", "groups", "protected", "approvals",
	"approvers", "gates", "on_replace", "exempt_rollback", "description", NULL };

static bool in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

/* why: "<path>: <complaint>"; always returns -EINVAL. */
static int bad(char *why, size_t n, const char *path, const char *complaint)
{
	if (why && n)
		snprintf(why, n, "%s: %s", path, complaint);
	return -EINVAL;
}

/* Bounds that keep every check cheap: who may move an alias is asked
 * inside the write transaction that every registry change waits for. */
#define MAX_PRINCIPALS 1000	/* names in one users or groups list */
#define MAX_RULES 256		/* alias rules in one policy */

/* A list of principals: user or group names, or numeric ids. */
static int check_principals(const cJSON *j, const char *path, char *why, size_t n)
{
	const cJSON *it;

	if (!cJSON_IsArray(j))
		return bad(why, n, path, "must be a list of names or numeric ids");
	if (cJSON_GetArraySize(j) > MAX_PRINCIPALS)
		return bad(why, n, path, "at most 1000 names: name a group instead");
	cJSON_ArrayForEach(it, j) {
		if (cJSON_IsNumber(it) && it->valuedouble >= 0 &&
		    it->valuedouble < 4294967295.0 && it->valuedouble == floor(it->valuedouble))
			continue;
		if (cJSON_IsString(it) && *it->valuestring && strlen(it->valuestring) < 64 &&
		    mfs_meta_text_ok(it->valuestring, strlen(it->valuestring)))
			continue;
		return bad(why, n, path, "must be a list of names or numeric ids");
	}
	return 0;
}

static int check_strings(const cJSON *j, bool one_allowed, const char *path,
			 char *why, size_t n)
{
	const cJSON *it;

	if (one_allowed && cJSON_IsString(j) && *j->valuestring)
		return 0;
	if (!cJSON_IsArray(j))
		return bad(why, n, path, one_allowed ? "must be a string or a list of strings"
						      : "must be a list of strings");
	cJSON_ArrayForEach(it, j)
		if (!cJSON_IsString(it) || !*it->valuestring)
			return bad(why, n, path, "must hold non-empty strings");
	return 0;
}

static bool is_bool(const cJSON *j)
{
	return cJSON_IsBool(j);
}

static bool is_int(const cJSON *j, double lo, double hi)
{
	return cJSON_IsNumber(j) && j->valuedouble >= lo && j->valuedouble <= hi &&
	       j->valuedouble == floor(j->valuedouble);
}

/* Does every name of spec (a string, or a list of strings) pass ok? */
static bool all_names(const cJSON *spec, bool (*ok)(const char *))
{
	const cJSON *it;

	if (cJSON_IsString(spec))
		return ok(spec->valuestring);
	cJSON_ArrayForEach(it, spec)
		if (!cJSON_IsString(it) || !ok(it->valuestring))
			return false;
	return true;
}

static bool known_format(const char *s)
{
	for (int x = 1; x < MFS_FMT_COUNT; x++)
		if (!strcmp(s, mfs_format_name((enum mfs_format)x)))
			return true;
	return false;
}

static bool usable_alias(const char *s)
{
	return mfs_alias_name_check(s) == 0;
}

static int check_gates(const cJSON *g, const char *path, char *why, size_t n)
{
	char p[512];
	const cJSON *it;
	int r;

	if (!cJSON_IsObject(g))
		return bad(why, n, path, "must be an object");
	cJSON_ArrayForEach(it, g) {
		const char *k = it->string;

		snprintf(p, sizeof(p), "%.250s.%.250s", path, k);
		if (!strcmp(k, "required_keys")) {
			r = check_strings(it, false, p, why, n);
		} else if (!strcmp(k, "required_files")) {
			const cJSON *f;

			r = check_strings(it, false, p, why, n);
			cJSON_ArrayForEach(f, it) {
				const char *s = cJSON_GetStringValue(f);

				if (r == 0 && (!s || s[0] == '/' || strstr(s, "..") ||
					       strlen(s) > 1024))
					r = bad(why, n, p, "paths are relative to the version and stay inside it");
			}
		} else if (!strcmp(k, "format")) {
			r = check_strings(it, true, p, why, n);
			if (r == 0 && !all_names(it, known_format))
				r = bad(why, n, p, "not a format modelfs detects (see the README's format list)");
		} else if (!strcmp(k, "from_alias") || !strcmp(k, "been_at")) {
			r = check_strings(it, true, p, why, n);
			if (r == 0 && !all_names(it, usable_alias))
				r = bad(why, n, p, "not a usable alias name");
		} else if (!strcmp(k, "depends_on_sealed") || !strcmp(k, "sha256")) {
			r = is_bool(it) ? 0 : bad(why, n, p, "must be true or false");
		} else {
			/* A metadata path and an expression. */
			struct mfs_gate_expr e;

			if (!*k || k[0] == '.' || k[strlen(k) - 1] == '.' || strstr(k, ".."))
				r = bad(why, n, p, "not a metadata path");
			else if (!cJSON_IsString(it))
				r = bad(why, n, p, "unknown gate; a metadata path takes an expression such as \">= 0.9\"");
			else if (mfs_gate_expr_parse(it->valuestring, &e) < 0)
				r = bad(why, n, p, "not an expression: use OP VALUE (OP: >= > <= < == !=; VALUE: a number, or for == and != a \"string\" or true/false) or \"exists\"");
			else
				r = 0;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int check_rule(const cJSON *rule, const char *path, char *why, size_t n)
{
	char p[512];
	const cJSON *it;
	int r = 0;

	if (!cJSON_IsObject(rule))
		return bad(why, n, path, "must be an object");
	cJSON_ArrayForEach(it, rule) {
		const char *k = it->string;

		snprintf(p, sizeof(p), "%.250s.%.250s", path, k);
		if (!in_list(rule_keys, k))
			return bad(why, n, p, "unknown key (users, groups, protected, approvals, approvers, gates, on_replace, exempt_rollback, description)");
		if (!strcmp(k, "users") || !strcmp(k, "groups"))
			r = check_principals(it, p, why, n);
		else if (!strcmp(k, "protected") || !strcmp(k, "exempt_rollback"))
			r = is_bool(it) ? 0 : bad(why, n, p, "must be true or false");
		else if (!strcmp(k, "approvals"))
			r = is_int(it, 0, 100) ? 0 : bad(why, n, p, "must be an integer from 0 to 100");
		else if (!strcmp(k, "approvers")) {
			const cJSON *a;

			if (!cJSON_IsObject(it))
				return bad(why, n, p, "must be an object with users and/or groups");
			cJSON_ArrayForEach(a, it) {
				char q[600];

				snprintf(q, sizeof(q), "%.400s.%.150s", p, a->string);
				if (strcmp(a->string, "users") && strcmp(a->string, "groups"))
					return bad(why, n, q, "unknown key (users, groups)");
				r = check_principals(a, q, why, n);
				if (r < 0)
					return r;
			}
		} else if (!strcmp(k, "gates"))
			r = check_gates(it, p, why, n);
		else if (!strcmp(k, "on_replace")) {
			const char *s = cJSON_GetStringValue(it);

			r = s && (!strcmp(s, "deprecated") || !strcmp(s, "archived") ||
				  !strcmp(s, "none")) ? 0 :
				bad(why, n, p, "must be \"deprecated\", \"archived\" or \"none\"");
		} else if (!strcmp(k, "description"))
			r = cJSON_IsString(it) ? 0 : bad(why, n, p, "must be a string");
		if (r < 0)
			return r;
	}
	return 0;
}

static bool is_keep(const cJSON *j)
{
	return is_int(j, 1, 1000000);
}

static const char *const semver_keys[] = { "monotonic", "major_on_breaking_change", NULL };
static const char *const retention_keys[] = { "keep_last", NULL };

/* An object of known keys whose values all pass ok. */
static int check_section(const cJSON *obj, const char *section, const char *const *keys,
			 bool (*ok)(const cJSON *), const char *complaint, char *why, size_t n)
{
	const cJSON *a;

	if (!cJSON_IsObject(obj))
		return bad(why, n, section, "must be an object");
	cJSON_ArrayForEach(a, obj) {
		char p[300];

		snprintf(p, sizeof(p), "%.40s.%.250s", section, a->string);
		if (!in_list(keys, a->string))
			return bad(why, n, p, "unknown key");
		if (!ok(a))
			return bad(why, n, p, complaint);
	}
	return 0;
}

static int validate_json(const cJSON *j, bool registry, char *why, size_t n)
{
	const cJSON *it, *a;
	int r;

	cJSON_ArrayForEach(it, j) {
		const char *k = it->string;

		if (!strcmp(k, "semver")) {
			r = check_section(it, k, semver_keys, is_bool, "must be true or false",
					  why, n);
			if (r < 0)
				return r;
		} else if (!strcmp(k, "retention")) {
			r = check_section(it, k, retention_keys, is_keep,
					  "must be an integer from 1 to 1000000", why, n);
			if (r < 0)
				return r;
		} else if (!strcmp(k, "aliases")) {
			if (!cJSON_IsObject(it))
				return bad(why, n, k, "must be an object of alias rules");
			if (cJSON_GetArraySize(it) > MAX_RULES)
				return bad(why, n, k, "at most 256 alias rules");
			cJSON_ArrayForEach(a, it) {
				char p[300];

				snprintf(p, sizeof(p), "aliases.%.250s", a->string);
				if (mfs_alias_name_check(a->string) < 0 || a->string[0] == '.')
					return bad(why, n, p, "not a usable alias name");
				r = check_rule(a, p, why, n);
				if (r < 0)
					return r;
			}
		} else if (!strcmp(k, "naming") && registry) {
			if (!cJSON_IsObject(it))
				return bad(why, n, k, "must be an object");
			cJSON_ArrayForEach(a, it) {
				char p[300];
				regex_t re;

				snprintf(p, sizeof(p), "naming.%s", a->string);
				if (strcmp(a->string, "models"))
					return bad(why, n, p, "unknown key (models)");
				if (!cJSON_IsString(a) || strlen(a->valuestring) > 1024 ||
				    regcomp(&re, a->valuestring, REG_EXTENDED | REG_NOSUB))
					return bad(why, n, p, "must be a POSIX extended regular expression");
				regfree(&re);
			}
		} else if (!strcmp(k, "description")) {
			if (!cJSON_IsString(it))
				return bad(why, n, k, "must be a string");
		} else {
			return bad(why, n, k, registry ?
				   "unknown key (semver, retention, aliases, naming, description)" :
				   "unknown key (semver, retention, aliases, description; naming belongs in the registry's policy.json)");
		}
	}
	return 0;
}

int mfs_policy_validate(const char *buf, size_t len, bool registry, char *why, size_t n)
{
	char jwhy[200];
	cJSON *j;
	int r;

	r = mfs_meta_parse_object(buf, len, &j, jwhy, sizeof(jwhy));
	if (r < 0) {
		if (why && n)
			snprintf(why, n, "it %s", jwhy);
		return -EINVAL;
	}
	r = validate_json(j, registry, why, n);
	cJSON_Delete(j);
	return r;
}

/*============================================================ effective policy */

int store_policy_load(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id,
		      struct store_policy *ret)
{
	ret->model = model_id ? store_get_json(st, txn, DB_POLICY, model_id) : NULL;
	ret->registry = store_get_json(st, txn, DB_POLICY, REGISTRY_POLICY_ID);
	return 0;
}

void store_policy_free(struct store_policy *p)
{
	cJSON_Delete(p->model);
	cJSON_Delete(p->registry);
	p->model = p->registry = NULL;
}

const cJSON *store_policy_key(const struct store_policy *p, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(p->model, key);

	return v ? v : cJSON_GetObjectItemCaseSensitive(p->registry, key);
}

const cJSON *store_policy_rule(const struct store_policy *p, const char *alias)
{
	const cJSON *r;

	r = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(p->model, "aliases"), alias);
	if (!r)
		r = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(p->registry, "aliases"), alias);
	return r;
}

bool store_policy_protected(const struct store_policy *p, const char *alias)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(store_policy_rule(p, alias),
							  "protected");

	/* The built-in default: `production` is protected unless a rule says
	 * otherwise, so `rm -rf models/M` cannot silently stop serving. */
	if (!v)
		return !strcmp(alias, "production");
	return cJSON_IsTrue(v);
}

/*============================================================ who */

/* The name of group gid into name (false: none). The entry holds the
 * member list, which may be long: the buffer grows until it fits. */
static bool group_name(gid_t gid, char *name, size_t n)
{
	struct group gr, *res = NULL;
	size_t cap = 16384;
	char *buf = NULL;
	bool ok = false;
	int e;

	for (;;) {
		char *p = realloc(buf, cap);

		if (!p)
			break;
		buf = p;
		e = getgrgid_r(gid, &gr, buf, cap, &res);
		if (e != ERANGE || cap >= (64u << 20))
			break;
		cap *= 2;
	}
	if (buf && e == 0 && res) {
		snprintf(name, n, "%s", res->gr_name);
		ok = true;
	}
	free(buf);
	return ok;
}

/* The names of a caller's groups, looked up once per check however many
 * rules it reads. */
struct gnames {
	bool done;
	int n;
	char (*name)[256];	/* malloc()ed: gnames_free() */
};

static void gnames_of(const struct mfs_caller *c, struct gnames *g)
{
	int ng = c->groups && c->ngroups > 0 ? c->ngroups : 0;

	if (g->done)
		return;
	g->done = true;
	g->name = malloc((size_t)(ng + 1) * sizeof(*g->name));
	if (!g->name)
		return;		/* no names: only numeric ids match */
	if (group_name(c->gid, g->name[g->n], sizeof(g->name[0])))
		g->n++;
	for (int i = 0; i < ng; i++)
		if (c->groups[i] != c->gid &&
		    group_name(c->groups[i], g->name[g->n], sizeof(g->name[0])))
			g->n++;
}

static void gnames_free(struct gnames *g)
{
	free(g->name);
}

/* Is the caller one of the users / a member of one of the groups listed?
 * Group names are compared with the names of the caller's groups (g,
 * filled at the first need): a few lookups, however long the list is. */
static bool listed(const struct mfs_caller *c, struct gnames *g, const cJSON *users,
		   const cJSON *groups)
{
	char me[256];
	const cJSON *it;
	bool any_name = false;

	store_user_name(c->uid, me, sizeof(me));
	cJSON_ArrayForEach(it, users) {
		if (cJSON_IsNumber(it) && (uid_t)it->valuedouble == c->uid)
			return true;
		if (cJSON_IsString(it) && !strcmp(it->valuestring, me))
			return true;
	}
	cJSON_ArrayForEach(it, groups) {
		if (cJSON_IsNumber(it) && mfs_caller_in_group(c, (gid_t)it->valuedouble))
			return true;
		any_name = any_name || cJSON_IsString(it);
	}
	if (!any_name)
		return false;
	gnames_of(c, g);
	cJSON_ArrayForEach(it, groups)
		for (int i = 0; cJSON_IsString(it) && i < g->n; i++)
			if (!strcmp(it->valuestring, g->name[i]))
				return true;
	return false;
}

static bool lists(const struct mfs_caller *c, struct gnames *g, const cJSON *who)
{
	return listed(c, g, cJSON_GetObjectItemCaseSensitive(who, "users"),
		      cJSON_GetObjectItemCaseSensitive(who, "groups"));
}

bool store_policy_lists(const struct mfs_caller *c, const cJSON *who)
{
	struct gnames g = { 0 };
	bool yes = lists(c, &g, who);

	gnames_free(&g);
	return yes;
}

static bool names_someone(const cJSON *rule)
{
	return cJSON_GetObjectItemCaseSensitive(rule, "users") ||
	       cJSON_GetObjectItemCaseSensitive(rule, "groups");
}

bool store_policy_restricted(const struct store_policy *p, const char *alias)
{
	const cJSON *rule = store_policy_rule(p, alias);

	return rule && names_someone(rule);
}

/* Is the caller named in any alias rule of the model (the default rule
 * lets them make ln's temporary links)? */
static bool named_anywhere(const struct store_policy *p, const struct mfs_caller *c)
{
	const cJSON *docs[2] = { p->model, p->registry }, *rule;
	struct gnames g = { 0 };
	bool yes = false;

	for (int i = 0; i < 2 && !yes; i++)
		cJSON_ArrayForEach(rule, cJSON_GetObjectItemCaseSensitive(docs[i], "aliases"))
			if ((yes = lists(c, &g, rule)))
				break;
	gnames_free(&g);
	return yes;
}

int store_policy_check_who(struct mfs_store *st, const struct store_policy *p,
			   const struct mfs_caller *c, const struct rec_model *rm,
			   const char *model, const char *alias, char *why, size_t n)
{
	const cJSON *rule = store_policy_rule(p, alias);

	if (mfs_caller_is_admin(st, c))
		return 0;
	if (rule && names_someone(rule)) {
		if (store_policy_lists(c, rule))
			return 0;
		snprintf(why, n, "policy of '%s': alias '%s' may be moved only by the users and groups its rule names",
			 model, alias);
		return -EACCES;
	}
	/* The default alias rule. */
	if (mfs_perm_check(c, rm->uid, rm->gid, rm->mode, W_OK | X_OK) == 0 ||
	    named_anywhere(p, c))
		return 0;
	snprintf(why, n, "model '%s' is not writable for uid %u and no alias rule of its policy names it",
		 model, (unsigned)c->uid);
	return -EACCES;
}

/*============================================================ gates */

/* The value at a dotted path in a JSON object, or NULL. */
static const cJSON *at_path(const cJSON *j, const char *path)
{
	char seg[256];

	while (j && *path) {
		size_t l = strcspn(path, ".");

		if (l >= sizeof(seg))
			return NULL;
		memcpy(seg, path, l);
		seg[l] = '\0';
		j = cJSON_GetObjectItemCaseSensitive(j, seg);
		path += l;
		if (*path == '.')
			path++;
	}
	return j;
}

static bool one_of(const cJSON *spec, const char *s)
{
	const cJSON *it;

	if (cJSON_IsString(spec))
		return s && !strcmp(spec->valuestring, s);
	cJSON_ArrayForEach(it, spec)
		if (s && cJSON_IsString(it) && !strcmp(it->valuestring, s))
			return true;
	return false;
}

/* The entry at a relative path of a sealed version, or -ENOENT. */
static int entry_at(struct mfs_store *st, struct kv_txn *txn, uint64_t vid, const char *path,
		    struct rec_entry *ret)
{
	uint64_t parent = 0;
	char seg[MFS_NAME_MAX + 1];

	while (*path) {
		size_t l = strcspn(path, "/");
		struct key k;
		struct kv_val v;

		if (l == 0) {
			path++;
			continue;
		}
		if (l > MFS_NAME_MAX)
			return -ENOENT;
		memcpy(seg, path, l);
		seg[l] = '\0';
		key_id_id_name(&k, vid, parent, seg);
		if (kv_get(txn, DB_DIRENTS, &k.v, &v) || v.len != 8)
			return -ENOENT;
		parent = get_be64(v.data);
		key_id(&k, parent);
		if (kv_get(txn, DB_ENTRIES, &k.v, &v))
			return -ENOENT;
		rec_get(ret, sizeof(*ret), &v);
		path += l;
	}
	return parent ? 0 : -ENOENT;
}

struct each_format {
	struct mfs_store *st;
	struct kv_txn *txn;
	const cJSON *spec;
};

static int format_of(const struct kv_val *k, const struct kv_val *v, void *ctx)
{
	struct each_format *x = ctx;
	struct rec_entry re;
	struct key ek;
	struct kv_val ev;

	(void)k;
	if (v->len != 8)
		return 0;
	key_id(&ek, get_be64(v->data));
	if (kv_get(x->txn, DB_ENTRIES, &ek.v, &ev))
		return 0;
	rec_get(&re, sizeof(re), &ev);
	return S_ISREG(re.mode) && one_of(x->spec, mfs_format_name((enum mfs_format)re.format));
}

/* Does any regular file of the version have one of the formats in spec? */
static bool has_format(struct mfs_store *st, struct kv_txn *txn, uint64_t vid, const cJSON *spec)
{
	struct each_format x = { st, txn, spec };

	return store_each_under(st, txn, DB_DIRENTS, vid, format_of, &x) == 1;
}

/* Has vname ever been the target of one of the aliases (a name or a list)?
 * Errors read as "no": the gate then refuses. */
static bool was_at(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id,
		   const cJSON *aliases, const char *vname)
{
	const cJSON *it;

	if (cJSON_IsString(aliases))
		return store_history_was_at(st, txn, model_id, aliases->valuestring, vname) == 1;
	cJSON_ArrayForEach(it, aliases)
		if (was_at(st, txn, model_id, it, vname))
			return true;
	return false;
}

static bool at_alias_now(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id,
			 const cJSON *aliases, uint64_t vid)
{
	const cJSON *it;

	if (cJSON_IsString(aliases)) {
		struct rec_alias ra;

		return store_get_alias(st, txn, model_id, aliases->valuestring, &ra) == 0 &&
		       ra.vid == vid;
	}
	cJSON_ArrayForEach(it, aliases)
		if (at_alias_now(st, txn, model_id, it, vid))
			return true;
	return false;
}

/* Every "model@version" of depends_on (a list, or an object whose keys are
 * refs) names a sealed version; refs outside the registry fail too. */
static int deps_sealed(struct mfs_store *st, struct kv_txn *txn, const cJSON *deps,
		       char *bad_ref, size_t n)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, deps) {
		const char *ref = cJSON_IsString(it) ? it->valuestring : it->string;
		struct rec_version rv;

		if (!ref)
			continue;
		snprintf(bad_ref, n, "%s", ref);
		if (store_resolve_ref(st, txn, ref, &rv) < 0)
			return -ENOENT;
		if (rv.state != MFS_V_SEALED)
			return -EINVAL;
	}
	return 0;
}

int store_policy_check_gates(struct mfs_store *st, struct kv_txn *txn,
			     const struct store_policy *p, const struct mfs_caller *c,
			     uint64_t model_id, const char *model, const char *alias,
			     uint64_t vid, cJSON **ret_approvals, char *why, size_t n)
{
	const cJSON *rule = store_policy_rule(p, alias), *gates, *g, *need;
	struct rec_version rv;
	char vname[MFS_NAME_MAX + 1];
	cJSON *meta = NULL, *annot = NULL;
	int r;

	(void)c;
	if (ret_approvals)
		*ret_approvals = NULL;
	r = store_get_version(st, txn, vid, &rv, vname, sizeof(vname));
	if (r < 0)
		return r;
	r = store_annot_load(st, txn, vid, &annot);
	if (r < 0)
		return r;
	{
		const char *lc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(annot, "lifecycle"));

		if (lc && !strcmp(lc, "archived")) {
			snprintf(why, n, "version '%s' of '%s' is archived: archived versions cannot be aliased",
				 vname, model);
			r = -EPERM;
			goto out;
		}
	}
	if (!rule)
		goto out;
	/* A rollback (back to a version this alias named before) skips gates
	 * and approvals when the rule says so. */
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rule, "exempt_rollback"))) {
		cJSON one = { .type = cJSON_String, .valuestring = (char *)alias };

		if (was_at(st, txn, model_id, &one, vname))
			goto out;
	}
	meta = store_get_json(st, txn, DB_VMETA, vid);
	gates = cJSON_GetObjectItemCaseSensitive(rule, "gates");
	cJSON_ArrayForEach(g, gates) {
		const char *key = g->string;

		if (!strcmp(key, "required_keys")) {
			const cJSON *it;

			cJSON_ArrayForEach(it, g) {
				const cJSON *val = at_path(meta, it->valuestring);

				if (!val || cJSON_IsNull(val)) {
					snprintf(why, n, "gate of '%s' alias '%s': version '%s' has no metadata key '%s'",
						 model, alias, vname, it->valuestring);
					r = -EPERM;
					goto out;
				}
			}
		} else if (!strcmp(key, "required_files")) {
			const cJSON *it;

			cJSON_ArrayForEach(it, g) {
				struct rec_entry re;

				if (entry_at(st, txn, vid, it->valuestring, &re) < 0 ||
				    !S_ISREG(re.mode)) {
					snprintf(why, n, "gate of '%s' alias '%s': version '%s' has no file '%s'",
						 model, alias, vname, it->valuestring);
					r = -EPERM;
					goto out;
				}
			}
		} else if (!strcmp(key, "format") || !strcmp(key, "from_alias") ||
			   !strcmp(key, "been_at")) {
			const char *fails = NULL;

			if (!strcmp(key, "format") && !has_format(st, txn, vid, g))
				fails = "has no file of format";
			else if (!strcmp(key, "from_alias") &&
				 !at_alias_now(st, txn, model_id, g, vid))
				fails = "is not at the alias the policy needs first:";
			else if (!strcmp(key, "been_at") && !at_alias_now(st, txn, model_id, g, vid) &&
				 !was_at(st, txn, model_id, g, vname))
				fails = "has never been at alias";
			if (fails) {
				char *s = cJSON_PrintUnformatted(g);

				snprintf(why, n, "gate of '%s' alias '%s': version '%s' %s %s",
					 model, alias, vname, fails, s ? s : "?");
				free(s);
				r = -EPERM;
				goto out;
			}
		} else if (!strcmp(key, "depends_on_sealed")) {
			char ref[400] = "";

			if (cJSON_IsTrue(g) &&
			    deps_sealed(st, txn, cJSON_GetObjectItemCaseSensitive(meta, "depends_on"),
					ref, sizeof(ref)) < 0) {
				snprintf(why, n, "gate of '%s' alias '%s': dependency '%s' of version '%s' is not a sealed version in this registry",
					 model, alias, ref, vname);
				r = -EPERM;
				goto out;
			}
		} else if (!strcmp(key, "sha256")) {
			bool done = true;

			if (cJSON_IsTrue(g))
				r = store_sha256_complete(st, txn, vid, &done);
			if (r < 0)
				goto out;
			if (!done) {
				snprintf(why, n, "gate of '%s' alias '%s': the SHA-256 digests of version '%s' are not all computed yet",
					 model, alias, vname);
				r = -EPERM;
				goto out;
			}
		} else {
			struct mfs_gate_expr e;

			if (mfs_gate_expr_parse(cJSON_GetStringValue(g) ? g->valuestring : "",
						&e) < 0 || !eval_value(&e, at_path(meta, key))) {
				const cJSON *val = at_path(meta, key);
				char *s = val ? cJSON_PrintUnformatted(val) : NULL;

				snprintf(why, n, "gate of '%s' alias '%s': version '%s' has %s = %s, the policy needs %s",
					 model, alias, vname, key, s ? s : "(absent)",
					 cJSON_GetStringValue(g) ? g->valuestring : "?");
				free(s);
				r = -EPERM;
				goto out;
			}
		}
	}
	need = cJSON_GetObjectItemCaseSensitive(rule, "approvals");
	if (cJSON_IsNumber(need) && need->valuedouble >= 1) {
		const cJSON *approvers = cJSON_GetObjectItemCaseSensitive(rule, "approvers");
		cJSON *got = store_annot_approvals(st, annot, alias, rv.uid, approvers);
		int have = cJSON_GetArraySize(got);

		if (have < (int)need->valuedouble) {
			snprintf(why, n, "policy of '%s': alias '%s' needs %d approvals of version '%s' by users other than its creator%s; it has %d",
				 model, alias, (int)need->valuedouble, vname,
				 approvers ? " whom its approvers names" : "", have);
			cJSON_Delete(got);
			r = -EPERM;
			goto out;
		}
		if (ret_approvals)
			*ret_approvals = got;
		else
			cJSON_Delete(got);
	}
out:
	cJSON_Delete(meta);
	cJSON_Delete(annot);
	return r;
}

/*============================================================ model rules */

/* The highest version of a model (with below: the highest sealed one below
 * x->mine), found by a walk of its versions. */
struct vscan {
	struct mfs_semver mine, best;
	bool below, found;
	uint64_t vid;
	char name[MFS_NAME_MAX + 1];
};

static int scan_version(const struct kv_val *k, const struct kv_val *v, void *ctx)
{
	struct vscan *x = ctx;
	struct rec_version rv;
	struct mfs_semver sv;
	char name[MFS_NAME_MAX + 1];

	snprintf(name, sizeof(name), "%.*s", (int)(k->len - 8), (char *)k->data + 8);
	rec_get(&rv, sizeof(rv), v);
	if (mfs_semver_parse(name, &sv) < 0)
		return 0;
	if (x->below && (rv.state != MFS_V_SEALED || mfs_semver_cmp(&sv, &x->mine) >= 0))
		return 0;
	if (!x->found || mfs_semver_cmp(&sv, &x->best) > 0) {
		x->found = true;
		x->best = sv;
		x->vid = rv.id;
		memcpy(x->name, name, sizeof(name));
	}
	return 0;
}

int store_policy_check_new_version(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id,
				   const char *model, const char *name)
{
	struct store_policy p;
	struct vscan x = { 0 };
	int r = 0;

	store_policy_load(st, txn, model_id, &p);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(store_policy_key(&p, "semver"),
							  "monotonic")) &&
	    mfs_semver_parse(name, &x.mine) == 0)
		r = store_each_under(st, txn, DB_VERSIONS, model_id, scan_version, &x);
	if (r == 0 && x.found && mfs_semver_cmp(&x.mine, &x.best) <= 0)
		r = mfs_log_errno(-EPERM, "refusing version '%s' of '%s': its policy (semver.monotonic) needs new versions above every existing one, and '%s' exists",
				  name, model, x.name);
	store_policy_free(&p);
	return r;
}

/* Is the major (or, below 1.0.0, the minor) of b above a's? */
static bool bumps_major(const struct mfs_semver *a, const struct mfs_semver *b)
{
	if (b->major != a->major)
		return b->major > a->major;
	return a->major == 0 && b->minor > a->minor;
}

int store_policy_check_seal(struct mfs_store *st, uint64_t vid)
{
	struct kv_txn *txn;
	struct store_policy p;
	struct rec_version rv;
	char name[MFS_NAME_MAX + 1], model[MFS_MODEL_NAME_MAX + 1];
	struct rec_model rm;
	struct vscan x = { .below = true };
	cJSON *meta = NULL, *pmeta = NULL;
	int r;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = store_get_version(st, txn, vid, &rv, name, sizeof(name));
	if (r == 0)
		r = store_get_model(st, txn, rv.model_id, &rm, model, sizeof(model));
	if (r < 0) {
		kv_txn_abort(txn);
		return r;
	}
	store_policy_load(st, txn, rv.model_id, &p);
	/* The previous version: the highest sealed one below this one. */
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(store_policy_key(&p, "semver"),
							  "major_on_breaking_change")) &&
	    mfs_semver_parse(name, &x.mine) == 0)
		r = store_each_under(st, txn, DB_VERSIONS, rv.model_id, scan_version, &x);
	if (r < 0 || !x.found)
		goto out;
	meta = store_get_json(st, txn, DB_VMETA, vid);
	pmeta = store_get_json(st, txn, DB_VMETA, x.vid);
	{
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(meta, "features");
		const cJSON *pf = cJSON_GetObjectItemCaseSensitive(pmeta, "features");

		/* Only declared features are compared. */
		if (f && pf && !cJSON_Compare(f, pf, true) && !bumps_major(&x.best, &x.mine))
			r = mfs_log_errno(-EPERM, "refusing to seal '%s@%s': its features differ from '%s' (a breaking change), so its policy (semver.major_on_breaking_change) needs a major version above %s",
					  model, name, x.name, x.name);
	}
out:
	kv_txn_abort(txn);
	cJSON_Delete(meta);
	cJSON_Delete(pmeta);
	store_policy_free(&p);
	return r;
}

int store_policy_check_model_name(struct mfs_store *st, struct kv_txn *txn, const char *name)
{
	struct store_policy p;
	const char *pat;
	regex_t re;
	int r = 0;

	store_policy_load(st, txn, 0, &p);
	pat = cJSON_GetStringValue(at_path(p.registry, "naming.models"));
	if (pat && regcomp(&re, pat, REG_EXTENDED | REG_NOSUB) == 0) {
		if (regexec(&re, name, 0, NULL, 0) != 0)
			r = mfs_log_errno(-EINVAL, "refusing model name '%s': the registry's policy (naming.models) needs names matching '%s'",
					  name, pat);
		regfree(&re);
	}
	store_policy_free(&p);
	return r;
}

/*============================================================ public */

int mfs_policy_keep_last(struct mfs_store *st, uint64_t model_id,
			 unsigned *ret_keep_last)
{
	struct store_policy p;
	const cJSON *k;
	struct kv_txn *txn;
	int r;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	store_policy_load(st, txn, model_id, &p);
	kv_txn_abort(txn);
	k = cJSON_GetObjectItemCaseSensitive(store_policy_key(&p, "retention"), "keep_last");
	*ret_keep_last = cJSON_IsNumber(k) && k->valuedouble >= 1 ? (unsigned)k->valuedouble : 0;
	store_policy_free(&p);
	return 0;
}

int mfs_policy_registry_get(struct mfs_store *st, char **ret, size_t *ret_len)
{
	return store_get_text(st, DB_POLICY, REGISTRY_POLICY_ID, "{}\n", ret, ret_len);
}

int mfs_policy_registry_set(struct mfs_store *st, const struct mfs_caller *c,
			    const char *buf, size_t len)
{
	char why[300];
	struct kv_txn *txn;
	cJSON *f, *j = NULL;
	struct key k;
	struct kv_val v;
	int r;

	if (!mfs_caller_is_admin(st, c))
		return mfs_audit_refuse(st, c, "registry.policy", NULL, NULL, NULL, EACCES,
					"refusing the registry's policy.json from uid %u: only admins write it",
					(unsigned)c->uid);
	r = mfs_policy_validate(buf, len, true, why, sizeof(why));
	if (r < 0)
		return mfs_log_errno(r, "refusing the registry's policy.json: %s", why);
	r = store_txn_begin(st, true, &txn);
	if (r < 0)
		return r;
	store_note(txn, MFS_CHANGE_DOCS, 0, 0, NULL);	/* the registry's */
	key_id(&k, REGISTRY_POLICY_ID);
	v.data = (void *)buf;
	v.len = len;
	r = kv_put(txn, DB_POLICY, &k.v, &v, 0);
	if (r == 0) {
		j = cJSON_ParseWithLength(buf, len);
		f = cJSON_CreateObject();
		cJSON_AddItemToObject(f, "document", j);
		r = store_audit(st, txn, c, "registry.policy", f);
	}
	if (r < 0) {
		kv_txn_abort(txn);
		return r;
	}
	return store_txn_commit(txn);
}
