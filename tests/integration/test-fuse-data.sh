#!/usr/bin/env bash
# The FUSE file of a LUN: its name, size and mode; random data written and
# read at odd offsets and sizes (unaligned edges go through read-modify-
# write) reads back right and lands on the target; fallocate zeroes a
# range; the size cannot change; fusermount3 -u ends the attachment.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/fuse-common.sh"

IQN=iqn.2026-11.org.iser-attach.test:fuse-data
fuse_requires
tgt_simple_target "$IQN" 32
LUN=$(tgt_lun_file 1 1)
SIZE=$((32 << 20))
head -c $SIZE /dev/urandom >"$LUN"
cp "$LUN" "$TGT_TMPDIR/expect"
fuse_attach "$IQN"

[ "$FUSE_FILE" = "$FUSE_DIR/lun1" ] || die "the file is $FUSE_FILE, expected $FUSE_DIR/lun1"
[ "$(ls "$FUSE_DIR")" = lun1 ] || die "the mount holds '$(ls "$FUSE_DIR")'"
[ "$(stat -c %s "$FUSE_FILE")" -eq $SIZE ] || die "size $(stat -c %s "$FUSE_FILE") != $SIZE"
[ "$(stat -c %a "$FUSE_FILE")" = 600 ] || die "mode $(stat -c %a "$FUSE_FILE"), expected 600"
cmp "$FUSE_FILE" "$TGT_TMPDIR/expect" || die "the file differs from the LUN's data"

# pwrite FILE OFFSET LENGTH SRC-OFFSET: LENGTH bytes of $TGT_TMPDIR/src at
# OFFSET of FILE, one write(2), and the same into the expected image.
pwrite()
{
	dd if="$TGT_TMPDIR/src" of="$1" bs="$3" count=1 skip="$4" seek="$2" \
		iflag=skip_bytes oflag=seek_bytes conv=notrunc status=none
	dd if="$TGT_TMPDIR/src" of="$TGT_TMPDIR/expect" bs="$3" count=1 skip="$4" \
		seek="$2" iflag=skip_bytes oflag=seek_bytes conv=notrunc status=none
}
head -c $((4 << 20)) /dev/urandom >"$TGT_TMPDIR/src"
# offset length: inside one block, across one boundary, aligned head and
# unaligned tail, the reverse, many blocks unaligned at both ends, 1 byte,
# the file's first and last bytes.
writes=(
	"1 100" "700 1" "511 2" "4095 3" "1000 10000" "8192 1000" "12000 4384"
	"100003 1048573" "3000001 777777" "0 1" "$((SIZE - 1)) 1"
	"$((SIZE - 5000)) 5000" "20000000 1048576" "7 65536"
)
i=0
for w in "${writes[@]}"; do
	read -r off len <<<"$w"
	pwrite "$FUSE_FILE" "$off" "$len" $((i * 131))
	i=$((i + 1))
done
cmp "$FUSE_FILE" "$TGT_TMPDIR/expect" || die "data read back differs from what was written"
cmp "$LUN" "$TGT_TMPDIR/expect" || die "the target's LUN differs from what was written"

# Reads at odd offsets and sizes.
for r in "1 1" "511 513" "4097 100000" "$((SIZE - 3)) 3" "333333 1048577"; do
	read -r off len <<<"$r"
	dd if="$FUSE_FILE" of="$TGT_TMPDIR/part" bs="$len" count=1 skip="$off" \
		iflag=skip_bytes status=none
	cmp -n "$len" "$TGT_TMPDIR/part" <(tail -c +$((off + 1)) "$TGT_TMPDIR/expect") ||
		die "read of $len bytes at $off differs"
	[ "$(stat -c %s "$TGT_TMPDIR/part")" -eq "$len" ] || die "short read of $len at $off"
done

# Reading at the end gives end of file; writing past it fails.
[ "$(dd if="$FUSE_FILE" bs=4096 skip=$((SIZE / 4096)) status=none | wc -c)" -eq 0 ] ||
	die "read past the end returned data"
expect_fail_with "No space left on device" dd if=/dev/zero of="$FUSE_FILE" bs=512 count=1 \
	seek=$((SIZE / 512)) conv=notrunc

# Zeroing a range with fallocate, unaligned.
fallocate --zero-range --keep-size -o 5000 -l 70001 "$FUSE_FILE"
dd if=/dev/zero of="$TGT_TMPDIR/expect" bs=70001 count=1 seek=5000 oflag=seek_bytes \
	conv=notrunc status=none
cmp "$LUN" "$TGT_TMPDIR/expect" || die "fallocate --zero-range did not zero exactly its range"
# This LUN cannot unmap, so it cannot punch holes.
expect_fail_with "unsupported" fallocate --punch-hole -o 5000 -l 4096 "$FUSE_FILE"

# The size is the LUN's.
expect_fail_with "Operation not permitted" truncate -s 1M "$FUSE_FILE"
expect_fail_with "Operation not permitted" truncate -s $((SIZE + 4096)) "$FUSE_FILE"
truncate -s $SIZE "$FUSE_FILE"
[ "$(stat -c %s "$FUSE_FILE")" -eq $SIZE ] || die "the size changed"
df "$FUSE_DIR" | grep -q iser-attach || die "df does not show the mount"

# fsync reaches the target (SYNCHRONIZE CACHE) and succeeds.
dd if="$TGT_TMPDIR/src" of="$FUSE_FILE" bs=4096 count=1 conv=notrunc,fsync status=none
dd if="$TGT_TMPDIR/src" of="$TGT_TMPDIR/expect" bs=4096 count=1 conv=notrunc status=none

fuse_unmount
cmp "$LUN" "$TGT_TMPDIR/expect" || die "the LUN differs after the unmount"
fuse_log | grep -q "was unmounted" || die "iser-attach did not log the unmount"

# The same through the page cache, with another file name.
fuse_attach "$IQN" --page-cache --file-name disk.img
[ "$FUSE_FILE" = "$FUSE_DIR/disk.img" ] || die "the file is $FUSE_FILE, expected disk.img"
pwrite "$FUSE_FILE" 123457 300000 999
pwrite "$FUSE_FILE" 9 5 4242
sync "$FUSE_FILE"
cmp "$FUSE_FILE" "$TGT_TMPDIR/expect" || die "page cache mode: data differs"
cmp "$LUN" "$TGT_TMPDIR/expect" || die "page cache mode: the LUN differs"
fuse_detach

# A thin-provisioned LUN punches holes: the range reads back as zeroes,
# unaligned edges included, and the bytes around it stay.
tgt_add_lun 1 2 8
tgt_adm --mode logicalunit --op update --tid 1 --lun 2 --params thin_provisioning=1
head -c $((8 << 20)) /dev/urandom >"$(tgt_lun_file 1 2)"
cp "$(tgt_lun_file 1 2)" "$TGT_TMPDIR/expect2"
fuse_attach --name 2 "$IQN" --lun 2
fallocate --punch-hole -o 3333 -l 1234567 "$FUSE_FILE"
dd if=/dev/zero of="$TGT_TMPDIR/expect2" bs=1234567 count=1 seek=3333 oflag=seek_bytes \
	conv=notrunc status=none
cmp "$FUSE_FILE" "$TGT_TMPDIR/expect2" || die "the punched file reads wrong"
cmp "$(tgt_lun_file 1 2)" "$TGT_TMPDIR/expect2" || die "the punched LUN holds something else"
fuse_unmount 2
