#!/usr/bin/env bash
# /dev/nbdN outlives the iser-attach serving it. ext4 on the device, fio
# writing and verifying files on it; iser-attach is killed with SIGKILL
# (a crash, an OOM kill) while the writes flow, and `iser-attach --resume
# /dev/nbdN` takes the device over once the old process is gone: fio ends
# with every block verified, e2fsck finds the file system clean, and the
# resumed attachment detaches cleanly. A handover on purpose (SIGUSR2,
# exit 10) is resumed the same way. The same attach command line run
# again after a crash resumes too. Without a resume, the device waits
# its dead-connection timeout (the replacement timeout, 5 s here), then
# I/O fails with EIO, and iser-detach still takes the device down.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/nbd-vm-common.sh"

requires mkfs.ext4 e2fsck fio
IQN=iqn.2026-11.org.iser-attach.test:vm-nbd-resume
vm_nbd_requires
tgt_simple_target "$IQN" 64
MNT=$TGT_TMPDIR/mnt
mkdir "$MNT"
umount_at_exit()
{
	! mountpoint -q "$MNT" || umount "$MNT"
}
cleanup_fn umount_at_exit

# gone PID: the process has exited.
gone()
{
	! kill -0 "$1" 2>/dev/null
}

kernel_attach "$IQN" --nbd --transport tcp
dev=$NBD_DEV
mkfs.ext4 -q -F -E nodiscard "$dev"
mount "$dev" "$MNT"

# 24 MiB at most 4 MiB/s: the crash lands while it writes.
fio --name=resume --directory="$MNT" --size=24M --bs=64k --rw=write --rate=4m \
	--ioengine=psync --direct=1 --verify=crc32c --do_verify=1 --verify_fatal=1 \
	--output="$TGT_TMPDIR/fio.out" &
fio_pid=$!
cleanup_fn kill "$fio_pid"
wait_io_moving "$fio_pid" fio $((2 << 20))
old=$NBD_PID
kill -KILL "$old"
wait_until 60 "the killed iser-attach to be gone" gone "$old"
[ "$(attach_wait_exit "$TGT_TMPDIR/attach0")" -eq 137 ] || die "iser-attach was not killed"
kill -0 "$fio_pid" || die "fio ended while no server was there: $(cat "$TGT_TMPDIR/fio.out")"

attach_start "$TGT_TMPDIR/resume" 120 "$ISER_ATTACH" --foreground --resume "$dev"
[ "$ATTACH_LINE" = "$dev" ] || die "--resume printed '$ATTACH_LINE', expected $dev"
grep -q "took over $dev from process $old" "$TGT_TMPDIR/resume/err" ||
	die "no log line for the take-over: $(cat "$TGT_TMPDIR/resume/err")"
wait "$fio_pid" || die "fio failed across the crash: $(cat "$TGT_TMPDIR/fio.out")"
cat "$TGT_TMPDIR/fio.out"
grep -q "err= 0" "$TGT_TMPDIR/fio.out" || die "fio errors: $(cat "$TGT_TMPDIR/fio.out")"
! grep -qi "verify.*fail\|bad magic\|crc32c.*mismatch" "$TGT_TMPDIR/fio.out" ||
	die "fio found blocks that do not verify"
umount "$MNT"
out=$(e2fsck -fn "$dev" 2>&1) || {
	echo "$out" >&2
	die "e2fsck found errors on $dev after the take-over"
}
out=$(expect_ok_with "detached $dev" "$ISER_DETACH" "$dev") || die "iser-detach failed: $out"
[ "$(attach_wait_exit "$TGT_TMPDIR/resume")" -eq 0 ] ||
	die "the resumed iser-attach exited with an error: $(cat "$TGT_TMPDIR/resume/err")"
kernel_wait_free "$dev"

# A handover on purpose (SIGUSR2, the service unit's reload) while fio
# writes: the process finishes, flushes, logs out and exits 10, leaving
# the device; --resume takes it over and fio verifies.
kernel_attach "$IQN" --nbd --transport tcp
dev=$NBD_DEV
mount "$dev" "$MNT"
rm -f "$MNT"/resume.*
fio --name=handover --directory="$MNT" --size=24M --bs=64k --rw=write --rate=4m \
	--ioengine=psync --direct=1 --verify=crc32c --do_verify=1 --verify_fatal=1 \
	--output="$TGT_TMPDIR/fio2.out" &
fio_pid=$!
cleanup_fn kill "$fio_pid"
wait_io_moving "$fio_pid" fio $((2 << 20))
old=$NBD_PID
kill -USR2 "$old"
[ "$(attach_wait_exit "$TGT_TMPDIR/attach0")" -eq 10 ] ||
	die "the handover did not exit 10: $(cat "$TGT_TMPDIR/attach0/err")"
grep -q "handing $dev over to the next iser-attach" "$TGT_TMPDIR/attach0/err" ||
	die "no log line for the handover: $(cat "$TGT_TMPDIR/attach0/err")"
attach_start "$TGT_TMPDIR/resume2" 120 "$ISER_ATTACH" --foreground --resume "$dev"
[ "$ATTACH_LINE" = "$dev" ] || die "--resume printed '$ATTACH_LINE', expected $dev"
wait "$fio_pid" || die "fio failed across the handover: $(cat "$TGT_TMPDIR/fio2.out")"
cat "$TGT_TMPDIR/fio2.out"
grep -q "err= 0" "$TGT_TMPDIR/fio2.out" || die "fio errors: $(cat "$TGT_TMPDIR/fio2.out")"
umount "$MNT"
out=$(e2fsck -fn "$dev" 2>&1) || {
	echo "$out" >&2
	die "e2fsck found errors on $dev after the handover"
}
out=$(expect_ok_with "detached $dev" "$ISER_DETACH" "$dev") || die "iser-detach failed: $out"
[ "$(attach_wait_exit "$TGT_TMPDIR/resume2")" -eq 0 ] || die "the resumed iser-attach failed"
kernel_wait_free "$dev"

# The same command line again after a crash (what the service unit runs
# when it restarts the service) resumes the device it left.
kernel_attach "$IQN" --nbd --transport tcp
dev=$NBD_DEV
head -c $((1 << 20)) /dev/urandom >"$TGT_TMPDIR/blob"
dd if="$TGT_TMPDIR/blob" of="$dev" bs=64k oflag=direct status=none
old=$NBD_PID
kill -KILL "$old"
wait_until 60 "the killed iser-attach to be gone" gone "$old"
attach_start "$TGT_TMPDIR/again" 120 "$ISER_ATTACH" --foreground "$TGT_PORTAL" "$IQN" \
	--nbd "$dev" --transport tcp
[ "$ATTACH_LINE" = "$dev" ] || die "attaching again printed '$ATTACH_LINE', expected $dev"
grep -q "took over $dev from process $old" "$TGT_TMPDIR/again/err" ||
	die "attaching again did not take the device over: $(cat "$TGT_TMPDIR/again/err")"
cmp <(dd if="$dev" bs=64k count=16 iflag=direct status=none) "$TGT_TMPDIR/blob" ||
	die "the device does not read back what was written before the crash"
out=$(expect_ok_with "detached $dev" "$ISER_DETACH" "$dev") || die "iser-detach failed: $out"
[ "$(attach_wait_exit "$TGT_TMPDIR/again")" -eq 0 ] || die "iser-attach exited with an error"
kernel_wait_free "$dev"

# No resume: after its 5 s the device fails I/O, and detach still works.
kernel_attach "$IQN" --nbd --transport tcp --replacement-timeout 5
dev=$NBD_DEV
old=$NBD_PID
kill -KILL "$old"
wait_until 60 "the killed iser-attach to be gone" gone "$old"
rc=0
dd if="$dev" of=/dev/null bs=4096 count=1 skip=100 iflag=direct 2>"$TGT_TMPDIR/dd.err" || rc=$?
cat "$TGT_TMPDIR/dd.err"
[ "$rc" -ne 0 ] && grep -q "Input/output error" "$TGT_TMPDIR/dd.err" ||
	die "a read with no server did not fail with EIO (dd exited $rc)"
out=$("$ISER_DETACH" "$dev") || die "iser-detach of the dead attachment failed: $out"
[ "$out" = "removed stale $dev (process $old is gone)" ] || die "iser-detach said '$out'"
kernel_wait_free "$dev"
