#!/usr/bin/env bash
# Login without authentication, then what the LUN reports: size, block
# size, vendor, and the negotiated parameters. A wrong target name fails
# with exit status 5 and says which target was not found.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"

IQN=iqn.2026-11.org.iser-attach.test:login
start_tgtd
tgt_simple_target "$IQN" 32
# tgt's defaults are InitialR2T=Yes and 8 KiB segments; let it take more.
tgt_set_param 1 InitialR2T No
tgt_set_param 1 MaxRecvDataSegmentLength 262144

out=$(expect_ok_with "size: 33554432" "$ISA_IO" "$TGT_PORTAL" "$IQN" info)
grep -qx "block_size: 512" <<<"$out" || die "block size: $out"
grep -qx "vendor: IET" <<<"$out" || die "vendor: $out"
grep -qx "read_only: no" <<<"$out" || die "read-only: $out"
grep -qx "lun: 1" <<<"$out" || die "lun: $out"
# What we ask for where the target allows it: immediate and unsolicited
# data, its full segment size, our 256 KiB receive segments.
grep -qx "immediate_data: yes" <<<"$out" || die "ImmediateData: $out"
grep -qx "initial_r2t: no" <<<"$out" || die "InitialR2T: $out"
grep -qx "max_xmit_segment: 262144" <<<"$out" || die "target segment length: $out"
grep -qx "max_recv_segment: 262144" <<<"$out" || die "our segment length: $out"

# The LUNs the target reports: 0 (its controller) and 1.
out=$(expect_ok_with "1" "$ISA_IO" "$TGT_PORTAL" "$IQN" luns)
[ "$(echo $out)" = "0 1" ] || die "REPORT LUNS: $out"

expect_fail_with "target not found" "$ISA_IO" "$TGT_PORTAL" "$IQN-nonexistent" info
set +e
"$ISA_IO" "$TGT_PORTAL" "$IQN-nonexistent" info 2>/dev/null
rc=$?
set -e
[ "$rc" -eq 5 ] || die "unknown target: exit status $rc, expected 5"

# A LUN that does not exist is refused with the target's reason.
expect_fail_with "LUN 9" "$ISA_IO" --lun 9 "$TGT_PORTAL" "$IQN" info
