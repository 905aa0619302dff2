#!/usr/bin/env bash
# After the replacement timeout: tgtd is killed and does not come back. A
# read through the NBD export waits for the recovery (a delay, not an
# error), then fails with a clean I/O error once the replacement timeout
# is over; later requests fail at once; iser-list shows the attachment as
# failed, and iser-detach still ends it cleanly. What was written and
# flushed before is in the LUN file. Then --replacement-timeout 0 (and
# replacement_timeout = 0 in iser.conf): no recovery at all, the first
# loss fails the session.
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

# tgtd dies for good (stop_tgtd at exit finds it gone).  The clock starts
# before the kill: the replacement timeout runs from when iser-attach sees
# the loss, which is later, however long qemu-io takes to start.
t0=$(date +%s%N)
kill -9 "$TGT_PID"
wait "$TGT_PID" 2>/dev/null || :

rc=0
qemu-io -f raw -c "read 0 64k" "$NBD_URI" >"$TGT_TMPDIR/read.out" 2>&1 || rc=$?
t1=$(date +%s%N)
cat "$TGT_TMPDIR/read.out"
grep -q "Input/output error" "$TGT_TMPDIR/read.out" ||
	die "the read did not fail with an I/O error: $(cat "$TGT_TMPDIR/read.out")"
waited_ms=$(((t1 - t0) / 1000000))
echo "the read failed $waited_ms ms after tgtd was killed"
# The lower bound is the behaviour asked for (no error before the
# replacement timeout), not a speed: recovery cannot end sooner.
[ "$waited_ms" -ge $((TIMEOUT_S * 1000)) ] ||
	die "the read failed after $waited_ms ms, before the ${TIMEOUT_S} s replacement timeout"

# Later requests fail too, with the same clean error.
rc=0
qemu-io -f raw -c "write -P 0x5a 0 4k" "$NBD_URI" >"$TGT_TMPDIR/write.out" 2>&1 || rc=$?
grep -q "Input/output error" "$TGT_TMPDIR/write.out" ||
	die "a write after the timeout did not fail with an I/O error: $(cat "$TGT_TMPDIR/write.out")"

out=$(expect_ok_with '"state": "failed"' "$top_builddir/iser-list" --json) || die "iser-list does not say failed"
grep -q "could not reconnect to $TGT_PORTAL within $TIMEOUT_S s" "$TGT_TMPDIR/attach0/err" ||
	die "no log line says why: $(cat "$TGT_TMPDIR/attach0/err")"
# Failed, the serving process waits for its clients and control requests
# and does nothing else: it once spun at 100% CPU on its session's socket
# in error. 100 iser-list round trips through its control socket cost it
# well under a tick each; a spinning loop burns every tick they take.
ticks()
{
	local stat
	stat=$(<"/proc/$NBD_PID/stat")
	stat=${stat##*) }
	awk '{ print $12 + $13 }' <<<"$stat"
}
c0=$(ticks)
for ((i = 0; i < 100; i++)); do
	"$top_builddir/iser-list" --json >/dev/null || die "iser-list failed"
done
c1=$(ticks)
echo "iser-attach used $((c1 - c0)) clock ticks over 100 iser-list calls while failed"
[ $((c1 - c0)) -lt 25 ] || die "the failed attachment's process keeps busy: $((c1 - c0)) ticks"
nbd_detach
cmp "$(tgt_lun_file 1 1)" "$TGT_TMPDIR/lun-before" ||
	die "the LUN file changed after the target died"
cat "$TGT_TMPDIR/attach0/err"

# No recovery: tgtd comes back, the attachment is made with recovery off
# (from the command line, then from the configuration file), and the
# target closing the connection fails the session at once.
tgtd -f -C "$TGT_CTL" --iscsi "portal=$TGT_PORTAL" >>"$TGT_TMPDIR/tgtd.log" 2>&1 &
TGT_PID=$!
wait_until 60 "tgtd to answer again" _tgtd_answers
tgt_simple_target "$IQN" 16
conf=$TGT_TMPDIR/norecovery.conf
printf '[global]\ninitiator_name = %s\nreplacement_timeout = 0\n' \
	iqn.2026-11.org.iser-attach.test:initiator >"$conf"
for how in "--replacement-timeout 0" "--config $conf"; do
	# shellcheck disable=SC2086 # two words each
	nbd_attach "$IQN" --transport tcp $how
	qemu-io -f raw -c "read 0 4k" "$NBD_URI" >/dev/null || die "$how: the first read failed"
	sid=$(tgt_adm --mode conn --op show --tid 1 | sed -n 's/.*Session: \([0-9]*\).*/\1/p' | head -n 1)
	cid=$(tgt_adm --mode conn --op show --tid 1 | sed -n 's/.*Connection: \([0-9]*\).*/\1/p' | head -n 1)
	tgt_adm --mode conn --op delete --tid 1 --sid "$sid" --cid "$cid"
	rc=0
	qemu-io -f raw -c "read 0 4k" "$NBD_URI" >"$TGT_TMPDIR/read0.out" 2>&1 || rc=$?
	grep -q "Input/output error" "$TGT_TMPDIR/read0.out" ||
		die "$how: a read after the loss did not fail: $(cat "$TGT_TMPDIR/read0.out")"
	! grep -q "reconnect" "$TGT_TMPDIR/attach0/err" ||
		die "$how: recovery was not off: $(cat "$TGT_TMPDIR/attach0/err")"
	nbd_detach
done
