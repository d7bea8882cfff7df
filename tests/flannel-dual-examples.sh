#!/bin/sh
# e2e-examples.sh dual-stack (PW_FAMILY=dual) on the flannel topology
# (tests/netns.sh): cni0 with random veth names on two nodes joined by
# VXLAN flannel.1 and, for IPv6, flannel-v6.1, podwall on both.
PW_TOPOLOGY=flannel PW_FAMILY=dual
export PW_TOPOLOGY PW_FAMILY
exec sh "${top_srcdir:-$(dirname "$0")/..}/tests/e2e-examples.sh"
