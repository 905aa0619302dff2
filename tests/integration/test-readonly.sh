#!/usr/bin/env bash
# A write-protected LUN is reported read-only and a write to it fails with
# a clear error, leaving the data as it was.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"

IQN=iqn.2026-11.org.iser-attach.test:ro
start_tgtd
tgt_simple_target "$IQN" 8 readonly
expect_ok_with "read_only: yes" "$ISA_IO" "$TGT_PORTAL" "$IQN" info
head -c 4096 /dev/urandom >"$TGT_TMPDIR/data"
expect_fail_with "Read-only" "$ISA_IO" "$TGT_PORTAL" "$IQN" write --in "$TGT_TMPDIR/data"
cmp -n 4096 "$(tgt_lun_file 1 1)" /dev/zero || die "the read-only LUN changed"
