#!/usr/bin/env bash
# A target that wants InitialR2T=Yes and ImmediateData=No: every byte of a
# write moves on R2T, and the data is still right.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/data-common.sh"

IQN=iqn.2026-11.org.iser-attach.test:r2t
start_tgtd
tgt_simple_target "$IQN" 40
tgt_set_param 1 InitialR2T Yes
tgt_set_param 1 ImmediateData No
out=$(expect_ok_with "initial_r2t: yes" "$ISA_IO" "$TGT_PORTAL" "$IQN" info)
grep -qx "immediate_data: no" <<<"$out" || die "ImmediateData: $out"
verify_lun "$IQN" 32M
