#!/bin/sh
# e2e-upstream.sh dual-stack (PW_FAMILY=dual) on the calico topology
# (tests/netns.sh): every pod also has an IPv6 address.
PW_FAMILY=dual
export PW_FAMILY
exec sh "${top_srcdir:-$(dirname "$0")/..}/tests/e2e-upstream.sh"
