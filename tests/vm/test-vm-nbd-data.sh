#!/usr/bin/env bash
# iser-attach --nbd in a real kernel: a tgtd LUN attached over TCP becomes
# /dev/nbd0 of the LUN's size; data written with O_DIRECT reads back the
# same and lands in the LUN's backing file; iser-detach frees the device;
# attached again (by name this time) the data is still there; attached
# --read-only the kernel refuses writes and the LUN keeps its data.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/nbd-vm-common.sh"

IQN=iqn.2026-11.org.iser-attach.test:vm-nbd-data
vm_nbd_requires
tgt_simple_target "$IQN" 64
PATTERN=$TGT_TMPDIR/pattern
write_pattern "$PATTERN" 8

# The first free device is the first one.
kernel_attach "$IQN" --nbd
[ "$NBD_DEV" = /dev/nbd0 ] || die "attached to $NBD_DEV, expected the free /dev/nbd0"
[ "$(cat /sys/block/nbd0/ro)" -eq 0 ] || die "/dev/nbd0 is read-only"
dev_write "$NBD_DEV" "$PATTERN" 3
echo 3 >/proc/sys/vm/drop_caches
dev_read_cmp "$NBD_DEV" "$PATTERN" 3
lun_cmp 1 1 "$PATTERN" 3
cmp -n $((3 << 20)) "$(tgt_lun_file 1 1)" /dev/zero || die "data before the write changed"
kernel_detach

kernel_attach "$IQN" --nbd=/dev/nbd0
[ "$NBD_DEV" = /dev/nbd0 ] || die "attached to $NBD_DEV, asked for /dev/nbd0"
dev_read_cmp "$NBD_DEV" "$PATTERN" 3
kernel_detach

cp "$(tgt_lun_file 1 1)" "$TGT_TMPDIR/before.img"
kernel_attach "$IQN" --nbd --read-only
[ "$(cat "$(nbd_sysfs "$NBD_DEV")/ro")" -eq 1 ] || die "$NBD_DEV is not read-only"
rc=0
dd if=/dev/urandom of="$NBD_DEV" bs=4k count=1 seek=1000 oflag=direct \
	2>"$TGT_TMPDIR/dd.err" || rc=$?
cat "$TGT_TMPDIR/dd.err" >&2
[ "$rc" -ne 0 ] || die "dd wrote to the read-only $NBD_DEV"
grep -Eq 'Operation not permitted|Read-only file system' "$TGT_TMPDIR/dd.err" ||
	die "dd failed without EPERM or EROFS"
dev_read_cmp "$NBD_DEV" "$PATTERN" 3
kernel_detach
cmp "$(tgt_lun_file 1 1)" "$TGT_TMPDIR/before.img" || die "the read-only attach changed the LUN"
