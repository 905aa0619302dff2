#!/usr/bin/env bash
# iser-attach --nbd against the kernel's own iSCSI target (LIO), not tgtd:
# a ramdisk LUN 0 behind a demo-mode target on 127.0.0.1 becomes /dev/nbdN
# of its size; data written with O_DIRECT reads back the same, is what an
# independent initiator (QEMU's libiscsi driver) reads from the target,
# and is still there after a detach and a new attach; zeroes written
# over it (which LIO's ramdisk cannot do with WRITE SAME) read back; on a
# thin fileio LUN 1, discard and write-zeroes of 60 MiB at an unaligned
# offset leave zeroes exactly in their range.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/nbd-vm-common.sh"

requires targetcli dbus-daemon qemu-img
IQN=iqn.2026-11.org.iser-attach.test:vm-nbd-lio
LIO_PORTAL=127.0.0.1:3260
SIZE_MIB=32
TPG=/iscsi/$IQN/tpg1

# lio_teardown: at exit, remove everything the test configured in LIO.
lio_teardown()
{
	targetcli clearconfig confirm=True >&2 || :
}

# lio_setup: targetcli needs the system bus; the target is open to every
# initiator (demo mode) without authentication, on 127.0.0.1 only.  One
# targetcli run takes all the commands: each start of it costs seconds
# under emulation.  Its exit status says nothing about them, so the
# result is checked in configfs.
lio_setup()
{
	local cfg=/sys/kernel/config/target/iscsi/$IQN/tpgt_1

	mkdir -p /run/dbus
	dbus-daemon --system --fork
	load_module iscsi_target_mod
	cleanup_fn lio_teardown
	targetcli <<-EOF
		/backstores/ramdisk create name=rd0 size=${SIZE_MIB}M
		/iscsi create $IQN
		$TPG/portals delete 0.0.0.0 3260
		$TPG/portals create 127.0.0.1 3260
		$TPG/luns create /backstores/ramdisk/rd0
		/backstores/fileio create name=thin0 file_or_dev=$TGT_TMPDIR/lio-thin.img size=64M sparse=true
		/backstores/fileio/thin0 set attribute emulate_tpu=1 emulate_tpws=1
		$TPG/luns create /backstores/fileio/thin0
		$TPG set attribute authentication=0 generate_node_acls=1 demo_mode_write_protect=0 cache_dynamic_acls=1
		ls
	EOF
	[ -d "$cfg/np/$LIO_PORTAL" ] || die "LIO has no portal $LIO_PORTAL"
	[ "$(ls "$cfg/np")" = "$LIO_PORTAL" ] || die "LIO listens elsewhere too: $(ls "$cfg/np")"
	[ -d "$cfg/lun/lun_0" ] || die "LIO's target has no LUN 0"
	[ "$(cat "$cfg/attrib/generate_node_acls")" -eq 1 ] &&
		[ "$(cat "$cfg/attrib/authentication")" -eq 0 ] &&
		[ "$(cat "$cfg/attrib/demo_mode_write_protect")" -eq 0 ] ||
		die "LIO's target is not in writable demo mode"
	[ "$(cat "$cfg/enable")" -eq 1 ] || die "LIO's target is not enabled"
}

# lio_attach: kernel_attach of LIO's LUN, which has no backing file to
# take the size from.
lio_attach()
{
	kernel_attach --name lio --portal "$LIO_PORTAL" --size $((SIZE_MIB << 20)) \
		"$IQN" --nbd
}

vm_nbd_requires
lio_setup
PATTERN=$TGT_TMPDIR/pattern
write_pattern "$PATTERN" 4

lio_attach
dev_write "$NBD_DEV" "$PATTERN" 5
echo 3 >/proc/sys/vm/drop_caches
dev_read_cmp "$NBD_DEV" "$PATTERN" 5
kernel_detach lio

qemu-img convert -O raw "iscsi://$LIO_PORTAL/$IQN/0" "$TGT_TMPDIR/lun.img"
cmp -n $((4 << 20)) -i $((5 << 20)):0 "$TGT_TMPDIR/lun.img" "$PATTERN" ||
	die "LIO's LUN holds other data than was written through $NBD_DEV"
cmp -n $((5 << 20)) "$TGT_TMPDIR/lun.img" /dev/zero || die "data before the write changed"

lio_attach
dev_read_cmp "$NBD_DEV" "$PATTERN" 5

kernel_detach lio

# Write-zeroes over the pattern through an NBD socket export (6.1's nbd
# driver zeroes with plain writes). LIO enforces a WRITE SAME limit that
# its short Block Limits page does not report (0 blocks for a ramdisk):
# the refusals are learnt and the zeroes written with WRITE.
sock=$TGT_TMPDIR/lio.sock
attach_start "$TGT_TMPDIR/sockattach" 120 "$ISER_ATTACH" --foreground --transport tcp \
	--lun 0 --socket "$sock" "$LIO_PORTAL" "$IQN"
# qemu-io writes with FUA (writethrough): LIO's ramdisk does not set
# DPOFUA and refuses WRITE with FUA, so a FUA write is a WRITE followed by
# SYNCHRONIZE CACHE of its range.
qemu-io -f raw -c "write -z 5M 4M" -c "read -P 0 5M 4M" -c "write -P 0x5a 12M 3M" \
	-c "read -P 0x5a 12M 3M" "nbd+unix:///?socket=$sock" >"$TGT_TMPDIR/qemu-io.out" 2>&1 || :
cat "$TGT_TMPDIR/qemu-io.out"
grep -q "^read 4194304/4194304" "$TGT_TMPDIR/qemu-io.out" ||
	die "the write-zeroes failed or does not read back as zeroes"
grep -q "^read 3145728/3145728" "$TGT_TMPDIR/qemu-io.out" ||
	die "a FUA write failed or does not read back"
grep -q "the target refuses WRITE SAME" "$TGT_TMPDIR/sockattach/err" ||
	die "no WRITE SAME refusal was learnt: $(cat "$TGT_TMPDIR/sockattach/err")"
expect_ok_with "detached $sock" "$ISER_DETACH" "$sock" >/dev/null || die "iser-detach failed"
[ "$(attach_wait_exit "$TGT_TMPDIR/sockattach")" = 0 ] || die "iser-attach did not exit cleanly"
qemu-img convert -O raw "iscsi://$LIO_PORTAL/$IQN/0" "$TGT_TMPDIR/lun.img"
cmp -n $((9 << 20)) "$TGT_TMPDIR/lun.img" /dev/zero || die "LIO's LUN does not hold the zeroes"
cmp -n $((3 << 20)) -i $((12 << 20)):0 "$TGT_TMPDIR/lun.img" \
	<(head -c $((3 << 20)) /dev/zero | tr '\0' '\132') || die "LIO's LUN does not hold the FUA write"

# Discard and write-zeroes on LIO with thin provisioning (a fileio LUN with
# emulate_tpu and emulate_tpws): LIO takes UNMAP of at most 8192 blocks in
# one descriptor (fd_configure_unmap), punches the holes, and reads zeroes
# there. 60 MiB from 1 MiB + 512 bytes, aligned to nothing but the block.
sock=$TGT_TMPDIR/lio-thin.sock
attach_start "$TGT_TMPDIR/thinattach" 120 "$ISER_ATTACH" --foreground --transport tcp \
	--lun 1 --socket "$sock" "$LIO_PORTAL" "$IQN"
start=$(((1 << 20) + 512))
end=$((start + (60 << 20)))
for op in "discard $start 60M" "write -z -u $start 60M"; do
	qemu-io -f raw -c "write -P 0x5a 0 64M" -c "$op" -c "read -P 0x5a 0 $start" \
		-c "read -P 0 $start 60M" -c "read -P 0x5a $end $(((64 << 20) - end))" \
		"nbd+unix:///?socket=$sock" >"$TGT_TMPDIR/qemu-io.out" 2>&1 || :
	cat "$TGT_TMPDIR/qemu-io.out"
	[ "$(grep -c "^read " "$TGT_TMPDIR/qemu-io.out")" -eq 3 ] &&
		! grep -qi "mismatch\|error\|not supported" "$TGT_TMPDIR/qemu-io.out" ||
		die "$op on LIO did not leave zeroes exactly there"
done
expect_ok_with "detached $sock" "$ISER_DETACH" "$sock" >/dev/null || die "iser-detach failed"
[ "$(attach_wait_exit "$TGT_TMPDIR/thinattach")" = 0 ] || die "iser-attach did not exit cleanly"
! grep -q "refused\|Sanitizer" "$TGT_TMPDIR/thinattach/err" ||
	die "LIO refused a command: $(cat "$TGT_TMPDIR/thinattach/err")"
