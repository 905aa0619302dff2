#!/usr/bin/env bash
# The transport choice on a host without RDMA: --transport iser fails at
# once with exit status 9 and says why; --transport auto logs in over TCP
# after exactly one warning line; discovery asked for iSER runs over TCP.
# (tests/vm/test-iser-*.sh run iSER itself, in a VM with soft-RoCE.)
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"

compgen -G '/sys/class/infiniband/*' >/dev/null &&
	skip "this host has an RDMA device; the iSER paths are tested in the VM"

IQN=iqn.2026-11.org.iser-attach.test:iser-host
start_tgtd
tgt_simple_target "$IQN" 8
ERR=$TGT_TMPDIR/err
OUT=$TGT_TMPDIR/out

rc=0
"$ISA_IO" --transport iser "$TGT_PORTAL" "$IQN" info >"$OUT" 2>"$ERR" || rc=$?
cat "$ERR"
[ "$rc" -eq 9 ] || die "--transport iser exited $rc, expected 9"
grep -q "^isa-io: no RDMA device routes to 127.0.0.1: " "$ERR" ||
	die "--transport iser did not say why"
[ ! -s "$OUT" ] || die "--transport iser printed: $(cat "$OUT")"

# --transport auto on a host without RDMA says nothing of it, but with -v.
"$ISA_IO" "$TGT_PORTAL" "$IQN" verify --size 1M >"$OUT" 2>"$ERR" ||
	die "--transport auto failed: $(cat "$ERR")"
cat "$ERR"
[ ! -s "$ERR" ] || die "--transport auto printed: $(cat "$ERR")"
grep -q "compared: OK" "$OUT" || die "verify over TCP did not compare"
"$ISA_IO" -v "$TGT_PORTAL" "$IQN" info >"$OUT" 2>"$ERR" || die "-v info failed: $(cat "$ERR")"
grep -q "^isa-io: no RDMA device routes to 127.0.0.1: .*; using TCP$" "$ERR" ||
	die "-v does not say why TCP: $(cat "$ERR")"
expect_ok_with "transport: tcp" "$ISA_IO" "$TGT_PORTAL" "$IQN" info

expect_ok_with "$IQN" "$ISER_DISCOVER" --transport iser "$TGT_PORTAL"
