#!/usr/bin/env bash
# Pinned memory over iSER (tgtd --lld iser on soft-RoCE): bounded per
# attachment.  With --max-pinned 48M and fio keeping 64 MiB of 4 MiB
# requests in flight, requests wait for buffers instead of pinning more,
# every block verifies and pinned_bytes stays within the bound; idle
# buffers are unpinned again.  A bound or an RLIMIT_MEMLOCK too small for
# one largest NBD request (32 MiB) fails the attach with exit 9, naming
# the limit.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/iser-vm-common.sh"
source "$top_srcdir/tests/fault-common.sh"
requires fio python3 prlimit setpriv

IQN=iqn.2026-11.org.iser-attach.test:iser-memory
MIB=$((1 << 20))
iser_setup_rxe
start_tgtd_iser
tgt_simple_target "$IQN" 128
tgt_bind_initiator 1
OUT=$TGT_TMPDIR/out

# Bounds too small for one 32 MiB request: exit 9, the limit named.
rc=0
"$ISER_ATTACH" --foreground --transport iser --max-pinned 8M "$TGT_ISER_PORTAL" "$IQN" \
	--socket "$TGT_TMPDIR/small.sock" >/dev/null 2>"$OUT" || rc=$?
cat "$OUT"
[ "$rc" -eq 9 ] || die "--max-pinned 8M exited $rc, expected 9"
grep -q "max-pinned is 8.0 MiB, but iSER needs at least" "$OUT" || die "no clear error"
rc=0
prlimit --memlock=$((16 * MIB)) setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock \
	"$ISER_ATTACH" --foreground --transport iser "$TGT_ISER_PORTAL" "$IQN" \
	--socket "$TGT_TMPDIR/small.sock" >/dev/null 2>"$OUT" || rc=$?
cat "$OUT"
[ "$rc" -eq 9 ] || die "RLIMIT_MEMLOCK of 16 MiB: exit $rc, expected 9"
grep -q "RLIMIT_MEMLOCK is 16.0 MiB, but iSER needs at least" "$OUT" || die "no clear error"
! grep -q Sanitizer "$OUT" || die "sanitizer report"

# Requests wait for the bound.
fault_attach --transport iser --max-pinned 48M -v "$TGT_ISER_PORTAL" "$IQN"
fault_fio bound --rw=write --bs=4M --iodepth=16 --size=96M --rate=0
fault_fio_wait bound
[ "$FIO_VERIFY_ERRORS" -eq 0 ] || die "verify errors"
log=$FAULT_LOG
grep -q "the bound: requests wait for buffers" "$log" ||
	die "no request waited for a buffer: $(grep -v 'send ring' "$log")"
pinned=$(attachment_field pinned_bytes)
echo "pinned after the run: $pinned bytes"
[ "$pinned" -le $((48 * MIB)) ] || die "pinned $pinned bytes, over the 48 MiB bound"
# Idle for a few seconds: the payload buffers are unpinned.
unpinned()
{
	[ "$(attachment_field pinned_bytes)" -lt $((16 * MIB)) ]
}
wait_until 60 "idle buffers to be unpinned" unpinned
grep -q "KiB of idle buffers unpinned" "$log" || die "no unpinning logged"
fault_detach
