#!/usr/bin/env bash
# iser-detach of an attachment whose target is gone: tgtd is killed for
# good while a client's read waits in the recovery. iser-detach --timeout 3
# waits that long for the session to come back, then has the process end
# it without a logout: the waiting read fails with EIO, the process exits
# 8 and says why, iser-detach says it could not log out and exits 8, and
# nothing is left behind. What was written and flushed before the target
# died is in its LUN file.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

requires qemu-io nbdcopy
IQN=iqn.2026-11.org.iser-attach.test:detach-recovering
nbd_requires
tgt_simple_target "$IQN" 16
nbd_attach "$IQN" --transport tcp
log=$TGT_TMPDIR/attach0/err

head -c $((1 << 20)) /dev/urandom >"$TGT_TMPDIR/in"
nbdcopy --flush "$TGT_TMPDIR/in" "$NBD_URI"
cmp <(head -c $((1 << 20)) "$(tgt_lun_file 1 1)") "$TGT_TMPDIR/in" ||
	die "the LUN file does not hold what was written and flushed"

kill -9 "$TGT_PID"
wait "$TGT_PID" 2>/dev/null || :
wait_for_line 60 "connection to .* lost" "$log"
qemu-io -f raw -c "read 0 64k" "$NBD_URI" >"$TGT_TMPDIR/read.out" 2>&1 &
reader=$!
cleanup_fn kill "$reader"
# The read is in the recovery's hands once the server has it.
reading()
{
	[ "$(attachment_field in_flight)" -ge 1 ]
}
wait_until 60 "the read to reach the server" reading
[ "$("$top_builddir/iser-list" --json | sed -n 's/.*"state": "\([a-z-]*\)".*/\1/p')" = recovering ] ||
	die "iser-list does not say recovering: $("$top_builddir/iser-list" --json)"

rc=0
"$ISER_DETACH" --timeout 3 "$NBD_SOCK" >"$TGT_TMPDIR/detach.out" 2>"$TGT_TMPDIR/detach.err" || rc=$?
cat "$TGT_TMPDIR/detach.out" "$TGT_TMPDIR/detach.err"
[ "$rc" -eq 8 ] || die "iser-detach exited $rc, expected 8"
grep -qx "iser-detach: $NBD_SOCK: detached, but could not log out: the session was still recovering after 3 s; requests in flight failed" \
	"$TGT_TMPDIR/detach.err" || die "iser-detach did not say it could not log out"
[ ! -s "$TGT_TMPDIR/detach.out" ] || die "iser-detach said it detached cleanly"

rc=0
wait "$reader" || rc=$?
cat "$TGT_TMPDIR/read.out"
grep -q "Input/output error" "$TGT_TMPDIR/read.out" ||
	die "the waiting read did not fail with an I/O error (exit $rc)"

rc=$(attach_wait_exit "$TGT_TMPDIR/attach0") || die "iser-attach did not exit"
cat "$log"
[ "$rc" -eq 8 ] || die "iser-attach exited $rc, expected 8"
grep -q "detached without a logout: the session was still recovering after 3 s" "$log" ||
	die "iser-attach did not log why it did not log out"
! grep -q Sanitizer "$log" || die "sanitizer report"
[ ! -e "$NBD_SOCK" ] || die "$NBD_SOCK is still there"
[ -z "$(ls "$ISER_ATTACH_RUNDIR")" ] || die "left in the state directory: $(ls "$ISER_ATTACH_RUNDIR")"
