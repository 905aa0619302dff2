#!/usr/bin/env bash
# The iSER datamover against the kernel's target (LIO, ib_isert) over
# soft-RoCE, on a portal that serves TCP and iSER on one address: login
# with the parameters LIO takes (immediate data), data of 512 B to 4 MiB
# per request at queue depth 128 written over iSER and read back over both
# iSER and TCP, no payload copied, discovery staying on TCP, and mutual
# CHAP, with a wrong secret on either side refused.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/iser-vm-common.sh"

IQN=iqn.2026-11.org.iser-attach.test:iser-lio
MIB=$((1 << 20))

iser_setup_rxe
lio_start
lio_ramdisk_target "$IQN" 64
P=$ISER_ADDR:$ISER_PORT
WORK=$(mktemp -d)
cleanup_fn rm -rf "$WORK"
OUT=$WORK/out
ERR=$WORK/err

# The same portal, both transports; LIO takes immediate data on iSER.
"$ISA_IO" --transport iser -l 0 "$P" "$IQN" info >"$OUT"
grep -qx "transport: iser" "$OUT" || die "not logged in over iSER"
grep -qx "immediate_data: yes" "$OUT" || die "LIO refused immediate data"
grep -qx "size: $((64 * MIB))" "$OUT" || die "wrong LUN size"
expect_ok_with "transport: tcp" "$ISA_IO" --transport tcp -l 0 "$P" "$IQN" info
"$ISA_IO" -l 0 "$P" "$IQN" info >"$OUT" 2>"$ERR"
grep -qx "transport: iser" "$OUT" || die "--transport auto did not pick iSER"
[ ! -s "$ERR" ] || die "--transport auto warned: $(cat "$ERR")"

# Discovery asks for iSER and gets TCP, where SendTargets lives.
expect_ok_with "$IQN" "$ISER_DISCOVER" --transport iser "$ISER_ADDR"

# Writes with immediate data larger than one iSER Send holds, and RDMA
# Reads of the rest; read back over iSER, then over TCP.
"$ISA_IO" --transport iser -l 0 --qd 128 --size 12M --min-io 512 --max-io 4M --seed 5 \
	--expect-out "$WORK/expect.img" "$P" "$IQN" verify >"$OUT"
cat "$OUT"
grep -q "compared: OK" "$OUT" || die "verify did not compare"
expect_copied_zero "$OUT"
"$ISA_IO" --transport tcp -l 0 --length 12M --out "$WORK/tcp.img" "$P" "$IQN" read
cmp "$WORK/expect.img" "$WORK/tcp.img" || die "TCP reads other data than iSER wrote"
"$ISA_IO" --transport iser -l 0 --qd 128 --size 4M --min-io 512 --max-io 16K --seed 6 \
	--offset 32M "$P" "$IQN" verify >"$OUT"
cat "$OUT"
expect_copied_zero "$OUT"

# Mutual CHAP over iSER: a wrong initiator secret, the right ones, and a
# target that does not know our secret for it (last: that failed login
# leaves LIO on rxe unable to accept more).
lio_mutual_chap lio-user lio-secret-0123 lio-target lio-tsecret-0123
rc=0
ISER_CHAP_SECRET=wrong-secret-0123 ISER_MUTUAL_SECRET=lio-tsecret-0123 \
	"$ISA_IO" --transport iser --chap-user lio-user --mutual-user lio-target -l 0 \
	"$P" "$IQN" info >/dev/null 2>"$ERR" || rc=$?
cat "$ERR"
[ "$rc" -eq 4 ] || die "a wrong CHAP secret exited $rc, expected 4"
ISER_CHAP_SECRET=lio-secret-0123 ISER_MUTUAL_SECRET=lio-tsecret-0123 \
	"$ISA_IO" --transport iser --chap-user lio-user --mutual-user lio-target -l 0 \
	--size 2M --max-io 1M "$P" "$IQN" verify >"$OUT"
grep -q "compared: OK" "$OUT" || die "verify with mutual CHAP failed"
rc=0
ISER_CHAP_SECRET=lio-secret-0123 ISER_MUTUAL_SECRET=wrong-secret-0123 \
	"$ISA_IO" --transport iser --chap-user lio-user --mutual-user lio-target -l 0 \
	"$P" "$IQN" info >/dev/null 2>"$ERR" || rc=$?
cat "$ERR"
[ "$rc" -eq 4 ] || die "a wrong mutual secret exited $rc, expected 4"
grep -q "mutual CHAP failed" "$ERR" || die "no clear error for a wrong mutual secret"
