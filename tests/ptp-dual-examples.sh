#!/bin/sh
# e2e-examples.sh dual-stack (PW_FAMILY=dual) on the ptp topology
# (tests/netns.sh): pods routed on veths with random names, the IPv6
# gateway on every host veth.
PW_TOPOLOGY=ptp PW_FAMILY=dual
export PW_TOPOLOGY PW_FAMILY
exec sh "${top_srcdir:-$(dirname "$0")/..}/tests/e2e-examples.sh"
