#!/usr/bin/env bash
# The data test with CRC32C header and data digests negotiated.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/data-common.sh"

IQN=iqn.2026-11.org.iser-attach.test:digest
start_tgtd
tgt_simple_target "$IQN" 40
# tgt allows only None unless told otherwise.
tgt_set_param 1 HeaderDigest CRC32C,None
tgt_set_param 1 DataDigest CRC32C,None
out=$(expect_ok_with "header_digest: crc32c" "$ISA_IO" --digest "$TGT_PORTAL" "$IQN" info)
grep -qx "data_digest: crc32c" <<<"$out" || die "data digest not negotiated: $out"
verify_lun "$IQN" 32M --digest
