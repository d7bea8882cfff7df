/*
 * Reads manifests given with -f: a file, or a directory of *.yaml, *.yml and
 * *.json files (not recursive, in name order); each file may hold several
 * documents and "kind: List" objects.
 */
#ifndef PW_MANIFEST_H
#define PW_MANIFEST_H

#include "k8s/object.h"
#include "lib/util.h"

/*
 * Receives each decoded object; it owns obj's members afterwards (obj
 * itself is the loader's). A non-zero return is counted as an error.
 */
typedef int (*pw_manifest_fn)(struct pw_object *obj, const char *where, void *ctx);

/*
 * Loads path. Every problem becomes one line in errors, prefixed with
 * "<file>: document <n>: " (documents count from 1; items of a List add
 * "item <i>: "); notices about skipped kinds go to notices the same way.
 * Loading goes on after an error so that one run reports them all.
 * Returns the number of errors (0 when all was well).
 */
int pw_manifest_load(const char *path, pw_manifest_fn fn, void *ctx,
		     struct pw_buf *errors, struct pw_buf *notices);

/*
 * Loads len bytes of manifest text as if read from a file called name
 * (".json" names are read as JSON), as the fuzzer needs. Returns as
 * pw_manifest_load().
 */
int pw_manifest_load_buffer(const char *name, const char *data, size_t len,
			    pw_manifest_fn fn, void *ctx,
			    struct pw_buf *errors, struct pw_buf *notices);

#endif
