/* The dry-run printers: what iptables-legacy-restore and ipset restore take. */
#ifndef PW_RENDER_H
#define PW_RENDER_H

#include "chains/ipset.h"
#include "chains/table.h"
#include "lib/util.h"

/*
 * The table in iptables-save form: "*filter", ":CHAIN POLICY [0:0]" lines
 * (built-ins ACCEPT, user chains "-"), every rule as "-A CHAIN ...", then
 * "COMMIT". Counters are always [0:0] and no timestamp is printed, so the
 * same table always renders to the same bytes.
 */
void pw_render_table(const struct pw_table *t, struct pw_buf *out);

/*
 * The sets in ipset save form: for each set, "create NAME TYPE family inet
 * hashsize 1024 maxelem N" then its "add NAME MEMBER[ nomatch]" lines.
 */
void pw_render_sets(const struct pw_setlist *sets, struct pw_buf *out);

#endif
