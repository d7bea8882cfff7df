/*
 * The -f loader on arbitrary text: libyaml's parser and loader, the depth
 * and alias guards, kind: List, and the decoder of every kind. Input that
 * begins with '{' or '[' is read as a .json file (tabs between tokens).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "k8s/manifest.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	const char *name;
	int objects;
};

static int take(struct pw_object *obj, const char *where, void *ctx)
{
	struct seen *seen = ctx;
	int ret = 0;

	FUZZ_ASSERT(strncmp(where, seen->name, strlen(seen->name)) == 0);
	fuzz_check_object(obj);
	/* Now and then a caller refuses an object: that is an error too. */
	if (obj->kind == PW_KIND_POD && strcmp(obj->u.pod->name, "refused") == 0)
		ret = -EEXIST;
	pw_object_free(obj);
	seen->objects++;
	return ret;
}

static size_t count_lines(const struct pw_buf *b, const char *name)
{
	const char *s = pw_buf_str(b), *nl;
	size_t n = 0;

	for (; *s; s = nl + 1) {
		/* Every line names the file and ends with a newline. */
		FUZZ_ASSERT(strncmp(s, name, strlen(name)) == 0);
		nl = strchr(s, '\n');
		FUZZ_ASSERT(nl != NULL);
		n++;
	}
	return n;
}

static bool is_json(const uint8_t *data, size_t size)
{
	size_t i;

	for (i = 0; i < size; i++) {
		if (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t')
			continue;
		return data[i] == '{' || data[i] == '[';
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pw_buf errors = PW_BUF_INIT, notices = PW_BUF_INIT;
	struct seen seen = { is_json(data, size) ? "fuzz.json" : "fuzz.yaml", 0 };
	int nerrors;

	nerrors = pw_manifest_load_buffer(seen.name, (const char *)data, size, take,
					  &seen, &errors, &notices);
	FUZZ_ASSERT(nerrors >= 0);
	FUZZ_ASSERT(count_lines(&errors, seen.name) == (size_t)nerrors);
	count_lines(&notices, seen.name);
	pw_buf_free(&errors);
	pw_buf_free(&notices);
	return 0;
}
