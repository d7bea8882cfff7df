#!/bin/sh
# e2e-drift.sh on the ptp topology (tests/netns.sh): pods routed on veths with
# random names, as the ptp plugin wires them.
PW_TOPOLOGY=ptp
export PW_TOPOLOGY
exec sh "${top_srcdir:-$(dirname "$0")/..}/tests/e2e-drift.sh"
