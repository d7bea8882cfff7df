/* Whole small files (manifests, kubeconfigs, tokens) read into memory. */
#ifndef PW_FILE_H
#define PW_FILE_H

#include <stddef.h>

/*
 * Reads path into a new NUL-terminated buffer (*data, *len without the
 * NUL). Returns 0, or -errno; -EFBIG as soon as it passes max bytes, so a
 * hostile or mistaken path (/dev/zero) cannot exhaust memory.
 */
int pw_read_file(const char *path, size_t max, char **data, size_t *len);

#endif
