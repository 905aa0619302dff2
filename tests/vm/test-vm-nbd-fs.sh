#!/usr/bin/env bash
# A file system on /dev/nbdN served by iser-attach: mkfs.ext4, mount,
# files written with their checksums, unmount; e2fsck finds it clean, and
# after a detach and a new attach, mounted again, every file has its
# checksum.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/nbd-vm-common.sh"

requires mkfs.ext4 e2fsck sha256sum
IQN=iqn.2026-11.org.iser-attach.test:vm-nbd-fs
vm_nbd_requires
tgt_simple_target "$IQN" 64
MNT=$TGT_TMPDIR/mnt
mkdir "$MNT"

# umount_at_exit: a failed test must not leave the device mounted, or the
# detach at exit could not flush it.
umount_at_exit()
{
	! mountpoint -q "$MNT" || umount "$MNT"
}
cleanup_fn umount_at_exit

kernel_attach "$IQN" --nbd
mkfs.ext4 -q -F -b 4096 -E nodiscard "$NBD_DEV"
mount "$NBD_DEV" "$MNT"
mkdir "$MNT/dir"
# Sizes around block and extent boundaries, and one file of many extents.
for size in 1 4095 4096 65537 $((3 << 20)); do
	head -c "$size" /dev/urandom >"$MNT/dir/file-$size"
done
for i in $(seq 1 50); do
	echo "small file $i" >"$MNT/dir/small-$i"
done
(cd "$MNT" && find dir -type f -print0 | sort -z | xargs -0 sha256sum) >"$TGT_TMPDIR/sums"
[ "$(wc -l <"$TGT_TMPDIR/sums")" -eq 55 ] || die "not every file was written"
umount "$MNT"
out=$(e2fsck -fn "$NBD_DEV" 2>&1) || {
	echo "$out" >&2
	die "e2fsck found errors on $NBD_DEV"
}
echo "$out"
kernel_detach

kernel_attach "$IQN" --nbd
# The page cache of the device is gone with the detach: this reads the LUN.
mount "$NBD_DEV" "$MNT"
(cd "$MNT" && sha256sum --quiet -c "$TGT_TMPDIR/sums") || die "files changed across the detach"
umount "$MNT"
kernel_detach
# The file system is in the LUN itself, not only in what the device saw.
e2fsck -fn "$(tgt_lun_file 1 1)" || die "e2fsck found errors in the LUN's backing file"
