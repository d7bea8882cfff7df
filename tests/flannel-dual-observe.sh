#!/bin/sh
# e2e-observe.sh dual-stack (PW_FAMILY=dual) on the flannel topology
# (tests/netns.sh): denied packets of both families logged and counted on
# cni0 with random veth names, podwall on both nodes.
PW_TOPOLOGY=flannel PW_FAMILY=dual
export PW_TOPOLOGY PW_FAMILY
exec sh "${top_srcdir:-$(dirname "$0")/..}/tests/e2e-observe.sh"
