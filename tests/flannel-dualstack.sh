#!/bin/sh
# e2e-dualstack.sh on the flannel topology (tests/netns.sh): a bridge cni0
# with random veth names on two nodes joined by VXLAN flannel.1 and, for
# IPv6, flannel-v6.1, podwall on both.
PW_TOPOLOGY=flannel
export PW_TOPOLOGY
exec sh "${top_srcdir:-$(dirname "$0")/..}/tests/e2e-dualstack.sh"
