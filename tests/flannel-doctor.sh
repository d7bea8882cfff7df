#!/bin/sh
# e2e-doctor.sh on the flannel topology (tests/netns.sh): the bridge cni0
# holds the pods, and br_netfilter's switch is turned off under doctor.
PW_TOPOLOGY=flannel
export PW_TOPOLOGY
exec sh "${top_srcdir:-$(dirname "$0")/..}/tests/e2e-doctor.sh"
