/* yamldoc.h - YAML documents (MLflow's meta.yaml, MLmodel) read as cJSON, with libyaml */
#ifndef MODELCTL_YAMLDOC_H
#define MODELCTL_YAMLDOC_H

#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * The first document of a YAML file as a cJSON tree: mappings become
 * objects (keys as text), sequences arrays, and scalars what YAML 1.1's
 * core schema makes of them when unquoted: null (null, ~, empty), booleans
 * (true/false, yes/no, on/off, any case), integers and floats as numbers,
 * the rest text; quoted or block scalars stay text. Anchors are followed
 * (an alias gives a copy of its node); tags are ignored.
 * Returns the tree, or NULL with why (n bytes): the file cannot be read,
 * or libyaml's complaint with its line. An empty file gives a null node.
 * Ownership: caller cJSON_Delete()s. Threads: no shared state.
 */
cJSON *yaml_read(const char *path, char *why, size_t n);

/* The same for a text of len bytes. */
cJSON *yaml_parse(const char *text, size_t len, char *why, size_t n);

#endif
