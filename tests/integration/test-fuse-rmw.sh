#!/usr/bin/env bash
# Two processes write interleaved 8-byte pieces of the same 512-byte block
# at the same time, each piece a read-modify-write of the block on the LUN:
# the block must end up holding both writers' bytes (no lost update), in the
# file and on the target. Also across a block boundary with 4 KiB blocks.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/fuse-common.sh"

requires fio
IQN=iqn.2026-11.org.iser-attach.test:fuse-rmw
fuse_requires
tgt_simple_target "$IQN" 16
tgt_add_lun 1 2 16 bs=4096

# expect_block FILE OFFSET LENGTH: LENGTH bytes at OFFSET must alternate
# 8 bytes of 0xaa and 8 bytes of 0xbb.
expect_block()
{
	local i

	: >"$TGT_TMPDIR/want"
	for ((i = 0; i < $3 / 16; i++)); do
		printf '\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xbb\xbb\xbb\xbb\xbb\xbb\xbb\xbb' \
			>>"$TGT_TMPDIR/want"
	done
	cmp -n "$3" -i "$2:0" "$1" "$TGT_TMPDIR/want" ||
		die "$1: bytes $2..$(($2 + $3)) lost a writer's update"
}

# race FILE OFFSET LENGTH: two fio processes, one writing 8 bytes of 0xaa at
# OFFSET, OFFSET+16, ..., the other 8 bytes of 0xbb at OFFSET+8, ...,
# repeatedly, at the same time.
race()
{
	fio --filename="$1" --ioengine=libaio --iodepth=16 --direct=1 --bs=8 --rw=write:8 --size="$3" \
		--loops=150 --thread=0 --group_reporting \
		--name=a --offset="$2" --buffer_pattern=0xaa \
		--name=b --offset=$(($2 + 8)) --buffer_pattern=0xbb >"$TGT_TMPDIR/fio.out" ||
		{
			cat "$TGT_TMPDIR/fio.out" >&2
			die "fio failed"
		}
	grep -q "err= 0" "$TGT_TMPDIR/fio.out" || die "fio reported errors"
}

fuse_attach --name 1 "$IQN" --lun 1
race "$FUSE_FILE" 40960 512
expect_block "$FUSE_FILE" 40960 512
expect_block "$(tgt_lun_file 1 1)" 40960 512
cmp -n 40960 "$(tgt_lun_file 1 1)" /dev/zero || die "bytes before the block changed"
cmp -n 4096 -i 41472:0 "$(tgt_lun_file 1 1)" /dev/zero || die "bytes after the block changed"
fuse_unmount 1

# 4 KiB blocks, the pieces straddling the boundary between two blocks.
fuse_attach --name 2 "$IQN" --lun 2
race "$FUSE_FILE" $((8192 - 256)) 512
expect_block "$FUSE_FILE" $((8192 - 256)) 512
expect_block "$(tgt_lun_file 1 2)" $((8192 - 256)) 512
fuse_unmount 2
