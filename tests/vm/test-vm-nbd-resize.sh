#!/usr/bin/env bash
# /dev/nbdN on a thin LUN with tiny limits, and a LUN that grows under it.
# evil-target (4096-byte blocks; UNMAP of at most 16 blocks in 2
# descriptors, granules of 8 blocks aligned at LBA 3; WRITE SAME of at most
# 8 blocks; it counts any command past those as a violation) serves
# iser-attach --nbd. mkfs.ext4 discards the whole device, fstrim discards
# what deleted files freed: every UNMAP keeps to the limits, and e2fsck
# finds the file system clean. Then the LUN grows from 64 to 128 MiB: the
# driver's device follows (blockdev --getsize64).
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/nbd-vm-common.sh"

requires mkfs.ext4 e2fsck fstrim blockdev
vm_nbd_requires
WORK=$TGT_TMPDIR
source "$top_srcdir/tests/evil-common.sh"
[ -x "$EVIL" ] || skip "$EVIL not built"
MNT=$TGT_TMPDIR/mnt
mkdir "$MNT"
umount_at_exit()
{
	! mountpoint -q "$MNT" || umount "$MNT"
}
cleanup_fn umount_at_exit

evil_start none --block-size 4096 --blocks 16384 --resize-to 32768 --lifetime 1800 \
	--limits ws=8,unmap=16,desc=2,gran=8,align=3
kernel_attach --portal "$EVIL_PORTAL" --size $((64 << 20)) "$EVIL_IQN" --nbd --transport tcp
sys=$(nbd_sysfs "$NBD_DEV")
[ "$(cat "$sys/queue/logical_block_size")" -eq 4096 ] ||
	die "$NBD_DEV has logical blocks of $(cat "$sys/queue/logical_block_size") bytes"

mkfs.ext4 -q -F -b 4096 "$NBD_DEV"
unmaps=$(count_lines "UNMAP ITT" "$WORK/none.log")
[ "$unmaps" -gt 0 ] || die "mkfs.ext4 discarded nothing"
mount "$NBD_DEV" "$MNT"
for i in $(seq 1 8); do
	head -c $((2 << 20)) /dev/urandom >"$MNT/file-$i"
done
sync
rm "$MNT"/file-[1357]
sync
out=$(fstrim -v "$MNT")
echo "$out"
[[ $out =~ \(([0-9]+)\ bytes\)\ trimmed ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] ||
	die "fstrim trimmed nothing: $out"
[ "$(count_lines "UNMAP ITT" "$WORK/none.log")" -gt "$unmaps" ] || die "fstrim sent no UNMAP"
umount "$MNT"
out=$(e2fsck -fn "$NBD_DEV" 2>&1) || {
	echo "$out" >&2
	die "e2fsck found errors on $NBD_DEV"
}

# The LUN grows; the next command meets the UNIT ATTENTION.
kill -USR1 "$EVIL_PID"
dd if="$NBD_DEV" of=/dev/null bs=4096 count=1 iflag=direct status=none
grown()
{
	[ "$(blockdev --getsize64 "$NBD_DEV")" -eq $((128 << 20)) ]
}
wait_until 120 "$NBD_DEV to grow to 128 MiB" grown
dd if=/dev/urandom of="$TGT_TMPDIR/tail" bs=4096 count=16 status=none
dd if="$TGT_TMPDIR/tail" of="$NBD_DEV" bs=4096 seek=$(((128 << 20) / 4096 - 16)) oflag=direct \
	status=none
cmp <(dd if="$NBD_DEV" bs=4096 skip=$(((128 << 20) / 4096 - 16)) count=16 iflag=direct \
	status=none) "$TGT_TMPDIR/tail" || die "the grown end does not read back"
kernel_detach
rc=0
wait "$EVIL_PID" || rc=$?
EVIL_PID=
grep -E "VIOLATION|capacity changed" "$WORK/none.log" || :
[ "$rc" -eq 0 ] || die "evil-target exited $rc: a command broke the limits it declared"
