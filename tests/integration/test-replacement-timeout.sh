#!/usr/bin/env bash
# After the replacement timeout: tgtd is killed and does not come back. A
# read through the NBD export waits for the recovery (a delay, not an
# error), then fails with a clean I/O error once the replacement timeout
# is over; later requests fail at once; iser-list shows the attachment as
# failed, and iser-detach still ends it cleanly. What was written and
# flushed before is in the LUN file.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

requires nbdcopy qemu-io
IQN=iqn.2026-11.org.iser-attach.test:replacement
TIMEOUT_S=4
nbd_requires
tgt_simple_target "$IQN" 16
nbd_attach "$IQN" --transport tcp --replacement-timeout "$TIMEOUT_S"

head -c $((1 << 20)) /dev/urandom >"$TGT_TMPDIR/in"
nbdcopy --flush "$TGT_TMPDIR/in" "$NBD_URI"
cmp <(head -c $((1 << 20)) "$(tgt_lun_file 1 1)") "$TGT_TMPDIR/in" ||
	die "the LUN file does not hold what was written and flushed"
cp "$(tgt_lun_file 1 1)" "$TGT_TMPDIR/lun-before"

# tgtd dies for good (stop_tgtd at exit finds it gone).
kill -9 "$TGT_PID"
wait "$TGT_PID" 2>/dev/null || :

t0=$(date +%s%N)
rc=0
qemu-io -f raw -c "read 0 64k" "$NBD_URI" >"$TGT_TMPDIR/read.out" 2>&1 || rc=$?
t1=$(date +%s%N)
cat "$TGT_TMPDIR/read.out"
grep -q "Input/output error" "$TGT_TMPDIR/read.out" ||
	die "the read did not fail with an I/O error: $(cat "$TGT_TMPDIR/read.out")"
waited_ms=$(((t1 - t0) / 1000000))
echo "the read failed after $waited_ms ms"
# The lower bound is the behaviour asked for (no error before the
# replacement timeout), not a speed: recovery cannot end sooner.
[ "$waited_ms" -ge $(((TIMEOUT_S - 1) * 1000)) ] ||
	die "the read failed after $waited_ms ms, before the ${TIMEOUT_S} s replacement timeout"

# Later requests fail too, with the same clean error.
rc=0
qemu-io -f raw -c "write -P 0x5a 0 4k" "$NBD_URI" >"$TGT_TMPDIR/write.out" 2>&1 || rc=$?
grep -q "Input/output error" "$TGT_TMPDIR/write.out" ||
	die "a write after the timeout did not fail with an I/O error: $(cat "$TGT_TMPDIR/write.out")"

out=$(expect_ok_with '"state": "failed"' "$top_builddir/iser-list" --json) || die "iser-list does not say failed"
grep -q "could not reconnect to $TGT_PORTAL within $TIMEOUT_S s" "$TGT_TMPDIR/attach0/err" ||
	die "no log line says why: $(cat "$TGT_TMPDIR/attach0/err")"
nbd_detach
cmp "$(tgt_lun_file 1 1)" "$TGT_TMPDIR/lun-before" ||
	die "the LUN file changed after the target died"
cat "$TGT_TMPDIR/attach0/err"
