#!/usr/bin/env bash
# tgt answers the first command after login with UNIT ATTENTION (power on
# or reset, 29/00); the initiator retries it and the user sees no error.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"

IQN=iqn.2026-11.org.iser-attach.test:ua
start_tgtd
tgt_simple_target "$IQN" 8
out=$(expect_ok_with "compared: OK" "$ISA_IO" "$TGT_PORTAL" "$IQN" verify --size 1M)
retries=$(sed -n 's/.*retries \([0-9]*\),.*/\1/p' <<<"$out")
[ "${retries:-0}" -ge 1 ] || die "no UNIT ATTENTION was retried: $out"
grep -q "errors 0$" <<<"$out" || die "errors reported: $out"
