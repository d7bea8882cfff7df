/*
 * What every fuzz target checks of the objects and selectors the decoders
 * hand out: the promises k8s/object.h and selectors/selector.h make. A
 * broken promise aborts, which libFuzzer reports as a crash with the input.
 */
#ifndef PW_FUZZ_COMMON_H
#define PW_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>

#include "k8s/object.h"
#include "lib/util.h"

#define FUZZ_ASSERT(cond) \
	((cond) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #cond))

void fuzz_fail(const char *file, int line, const char *what) PW_NORETURN;

/* A decoded object keeps every validation rule the decoder enforces. */
void fuzz_check_object(const struct pw_object *obj);

/*
 * A selector decoded from an API object: its canonical form parses back
 * into a selector with the same canonical form and the same verdict on
 * labels, whatever order the requirements are added in.
 */
void fuzz_check_selector(const struct pw_selector *s, const struct pw_labels *labels);

/* True when text holds no newline: error messages are one log line each. */
bool fuzz_is_one_line(const char *text);

/*
 * The deepest nesting podwall may let libyaml's document loader see: the
 * 1000 levels of an object its guards allow (MANIFEST_MAX_DEPTH,
 * JSON_MAX_DEPTH) and the few of a watch event or list around it. libyaml
 * before 0.2.5 loads recursively, so that a document without such a bound
 * overflows the stack there, even where the libyaml this runs with loads
 * it safely. Every yaml_parser_load() podwall makes is watched, event by
 * event, and aborts past this depth.
 */
#define FUZZ_MAX_LOAD_DEPTH (1000 + 8)

/* The harness's own loads of fuzz input are not podwall's: not watched. */
void fuzz_unwatched_loads(bool unwatched);

#endif
