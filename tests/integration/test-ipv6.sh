#!/usr/bin/env bash
# Discovery, login and data over the IPv6 loopback address.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/data-common.sh"

IQN=iqn.2026-11.org.iser-attach.test:ipv6
start_tgtd --ipv6
tgt_simple_target "$IQN" 8
expect_ok_with "$IQN" "$ISER_DISCOVER" "$TGT_PORTAL6"
TGT_PORTAL=$TGT_PORTAL6 verify_lun "$IQN" 4M
