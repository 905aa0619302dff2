#!/bin/bash
# Start a private tgtd with one LUN in tmpfs for trying the tools by hand
# or for benchmarks, and keep it up until Ctrl-C; then it is removed.
#
#   bash tests/tgt-lun.sh [SIZE_MB [IQN]]
set -euo pipefail

SIZE_MB=${1:-256}
IQN=${2:-iqn.2024-01.org.iser-attach:lun}

ISA_TEST_QUIET=1
source "$(dirname "$0")/functions.sh"

start_tgtd
tgt_simple_target "$IQN" "$SIZE_MB"
echo "tgtd $TGT_PID: portal $TGT_PORTAL, target $IQN, LUN 1 ($SIZE_MB MiB)"
echo "backing file $(tgt_lun_file 1 1); tgtadm -C $TGT_CTL to change it"
echo "Ctrl-C stops it"
wait "$TGT_PID" || :
die "tgtd exited"
