/*
 * The configuration file (/etc/podwall/podwall.yaml): every option of the
 * command line under a camelCase key, read before the flags so that a flag
 * always wins.
 */
#ifndef PW_CONFIG_FILE_H
#define PW_CONFIG_FILE_H

#include "engine/options.h"
#include "lib/util.h"

/*
 * Reads path into opt (only the keys it has). An empty file is fine; an
 * unknown key, a wrong type or a bad value is an error naming the file, the
 * line and the key. Returns 0, -ENOENT when the file does not exist, or
 * -EINVAL.
 */
int pw_config_file_load(const char *path, struct pw_options *opt, struct pw_buf *err);

/*
 * The file a command line names (--config FILE or --config=FILE, before
 * any "--"), else PW_DEFAULT_CONFIG_PATH, read into opt and kept as
 * opt->config_path. Read before the flags so that they win over it: a path
 * given must exist, the default one may be absent. Returns 0 or -errno
 * with why in err.
 */
int pw_config_file_load_for(int argc, char **argv, struct pw_options *opt, struct pw_buf *err);

#endif
