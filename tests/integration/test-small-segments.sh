#!/usr/bin/env bash
# A target that takes data segments of only 512 bytes and small bursts:
# writes are cut into many Data-Out PDUs and still arrive intact.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/data-common.sh"

IQN=iqn.2026-11.org.iser-attach.test:small
start_tgtd
tgt_simple_target "$IQN" 20
tgt_set_param 1 MaxRecvDataSegmentLength 512
tgt_set_param 1 MaxBurstLength 4096
tgt_set_param 1 FirstBurstLength 2048
out=$(expect_ok_with "max_xmit_segment: 512" "$ISA_IO" "$TGT_PORTAL" "$IQN" info)
grep -qx "max_burst: 4096" <<<"$out" || die "MaxBurstLength: $out"
grep -qx "first_burst: 2048" <<<"$out" || die "FirstBurstLength: $out"
verify_lun "$IQN" 8M
