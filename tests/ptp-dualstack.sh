#!/bin/sh
# e2e-dualstack.sh on the ptp topology (tests/netns.sh): random veth names,
# the gateway of each family on every host veth, host routes /32 and /128.
PW_TOPOLOGY=ptp
export PW_TOPOLOGY
exec sh "${top_srcdir:-$(dirname "$0")/..}/tests/e2e-dualstack.sh"
