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
# Let it get going, then kill it at once: it has 4096 blocks to write.
for ((i = 0; i < 1200; i++)); do
	[ "$(wc -l <"$TGT_TMPDIR/acked")" -ge 100 ] && break
	kill -0 "$writer" 2>/dev/null || break
	sleep 0.05
done
kill -KILL "$writer" 2>/dev/null || :
rc=0
wait "$writer" || rc=$?
[ "$rc" -eq 137 ] || die "the writer exited $rc before it was killed"
acked=$(wc -l <"$TGT_TMPDIR/acked")
[ "$acked" -ge 100 ] || die "the writer had only $acked blocks acknowledged in 60 s"
[ "$acked" -lt $(((SIZE_MB << 20) / BLOCK)) ] || die "the writer was done before the kill"

nbd_alive
expect_ok_with "verified $acked acknowledged blocks" \
	"$NBD_CRASH_CLIENT" verify "$LUN_FILE" "$BLOCK" "$SEED" <"$TGT_TMPDIR/acked"
nbdcopy "$NBD_URI" "$TGT_TMPDIR/read.img"
expect_ok_with "verified $acked acknowledged blocks" \
	"$NBD_CRASH_CLIENT" verify "$TGT_TMPDIR/read.img" "$BLOCK" "$SEED" <"$TGT_TMPDIR/acked"
nbd_detach
