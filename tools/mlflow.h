/* mlflow.h - an MLflow FileStore (mlruns/) read as MLflow writes it, for import mlflow */
#ifndef MODELCTL_MLFLOW_H
#define MODELCTL_MLFLOW_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * The layout of MLflow's file stores (mlflow/store/model_registry/
 * file_store.py and tracking/file_store.py), all under one MLRUNS:
 *
 *   models/<name>/meta.yaml            name, description, creation_timestamp
 *   models/<name>/tags/<key>           a tag's value (keys may hold '/')
 *   models/<name>/aliases/<alias>      the version number it names
 *   models/<name>/version-<n>/meta.yaml   version, current_stage, source,
 *                                      storage_location, run_id, user_id,
 *                                      description, creation_timestamp
 *   models/<name>/version-<n>/tags/<key>
 *   <experiment id>/meta.yaml          the experiment's name
 *   <experiment id>/<run id>/meta.yaml user_id, start_time, run_name
 *   <experiment id>/<run id>/params/<key>, tags/<key>
 *   <experiment id>/<run id>/metrics/<key>   lines "timestamp value step"
 *   <experiment id>/<run id>/artifacts/...
 *   <experiment id>/models/m-<id>/artifacts/...   MLflow 3's logged models
 *
 * A deleted version stays, its stage "Deleted_Internal". Nothing here
 * writes; every path is checked to stay inside MLRUNS where a name from a
 * file makes it.
 */

struct mlf_version {
	long n;			/* MLflow's version number */
	char stage[32];		/* None, Staging, Production, Archived, Deleted_Internal */
	char *source;		/* storage_location when set, else source */
	char *dir;		/* the artifacts found for it (a realpath), NULL when none */
	bool outside;		/* found, but outside MLRUNS and the roots allowed */
	char *run_id, *user, *description;	/* NULL when absent */
	double created_ms;
	cJSON *tags;		/* an object of strings */
};

struct mlf_model {
	char *name, *description;
	double created_ms;
	cJSON *tags;		/* an object of strings */
	cJSON *aliases;		/* alias -> version number */
	struct mlf_version *v;	/* ascending by n */
	size_t nv;
};

/* The registered models' names (the directories of MLRUNS/models/ with a
 * meta.yaml), sorted. Returns 0, or -errno (said): MLRUNS/models/ cannot
 * be read. Ownership: caller frees each name and *ret. */
int mlf_model_names(const char *mlruns, char ***ret, size_t *ret_n);

/* Read one registered model. mlruns must be a realpath. Each version's
 * artifacts are looked for (mlf_resolve()) and taken where they lie below
 * MLRUNS or below one of roots (realpaths, NULL-terminated; NULL: none):
 * a store that names /etc or links to it gets nothing from there. Only
 * files below MLRUNS are read for metadata, and no symlink is followed to
 * read one. Returns 0, or -1 with why (n bytes): a meta.yaml missing or
 * not YAML. Ownership: caller mlf_model_free()s. */
int mlf_model_read(const char *mlruns, const char *const *roots, const char *name,
		   struct mlf_model *ret, char *why, size_t n);
void mlf_model_free(struct mlf_model *m);

/* Where source's artifacts are: file:// URIs and paths (a path under an
 * mlruns that moved is found again below MLRUNS), runs:/<run>/<path>,
 * models:/<name>/<version>, models:/m-<id> (MLflow 3), mlflow-artifacts:/
 * (relative to MLRUNS). Returns 0 with the path (n bytes; it may lie
 * outside MLRUNS, for an absolute source), or -ENOENT. */
int mlf_resolve(const char *mlruns, const char *source, char *ret, size_t n);

/* What a run says of itself, as metadata: {"run_id", "experiment",
 * "user", "run_name", "start_ms", "params": {...} (numbers where the text
 * is one), "metrics": {key: the value at the highest step, then time}}.
 * NULL when the run is not in MLRUNS. Ownership: caller cJSON_Delete()s. */
cJSON *mlf_run(const char *mlruns, const char *run_id);

/* The flavors an MLmodel file in dir names (an array of names), or NULL
 * when there is none. Ownership: caller cJSON_Delete()s. */
cJSON *mlf_flavors(const char *dir);

#endif
