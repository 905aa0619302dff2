#!/usr/bin/env bash
# A client killed with SIGKILL in the middle of writing, with several FUA
# writes in flight, loses nothing it was told was written: every block the
# server acknowledged before the kill is on the target (the backing file)
# and reads back through a new connection.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

requires nbdcopy
[ -x "$NBD_CRASH_CLIENT" ] || skip "$NBD_CRASH_CLIENT not built"
IQN=iqn.2026-11.org.iser-attach.test:nbd-kill
SIZE_MB=256
BLOCK=$((64 << 10))
SEED=$RANDOM
nbd_requires
tgt_simple_target "$IQN" "$SIZE_MB"
LUN_FILE=$(tgt_lun_file 1 1)
nbd_attach "$IQN"

"$NBD_CRASH_CLIENT" writer "$NBD_URI" "$BLOCK" 8 "$SEED" >"$TGT_TMPDIR/acked" &
writer=$!
cleanup_fn kill -KILL "$writer"
# It writes until it is killed (over and over the export, a new pattern
# each pass); killed once 100 writes have been acknowledged.
acked_100()
{
	kill -0 "$writer" 2>/dev/null || die "the writer exited before it was killed"
	[ "$(wc -l <"$TGT_TMPDIR/acked")" -ge 100 ]
}
wait_until 120 "100 acknowledged writes" acked_100
kill -KILL "$writer"
rc=0
wait "$writer" || rc=$?
[ "$rc" -eq 137 ] || die "the writer exited $rc before it was killed"
acked=$(wc -l <"$TGT_TMPDIR/acked")

nbd_alive
expect_ok_with "verified $acked acknowledged writes" \
	"$NBD_CRASH_CLIENT" verify "$LUN_FILE" "$BLOCK" "$SEED" <"$TGT_TMPDIR/acked"
nbdcopy "$NBD_URI" "$TGT_TMPDIR/read.img"
expect_ok_with "verified $acked acknowledged writes" \
	"$NBD_CRASH_CLIENT" verify "$TGT_TMPDIR/read.img" "$BLOCK" "$SEED" <"$TGT_TMPDIR/acked"
nbd_detach
