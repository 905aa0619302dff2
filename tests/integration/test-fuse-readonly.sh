#!/usr/bin/env bash
# Read-only FUSE files, because the target write-protects the LUN or
# because of --read-only: mode 0400, opening for writing and writing fail
# with EROFS, fallocate too, reads work, and the data stays as it was.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/fuse-common.sh"

IQN=iqn.2026-11.org.iser-attach.test:fuse-ro
fuse_requires
tgt_simple_target "$IQN" 8
tgt_add_lun 1 2 8 readonly
for lun in 1 2; do
	head -c $((8 << 20)) /dev/urandom >"$TGT_TMPDIR/orig$lun"
	cp "$TGT_TMPDIR/orig$lun" "$(tgt_lun_file 1 "$lun")"
done
fuse_attach --name 1 "$IQN" --lun 1 --read-only
# shellcheck disable=SC2034 # read through ${!var} below
FILE1=$FUSE_FILE
fuse_attach --name 2 "$IQN" --lun 2
FILE2=$FUSE_FILE

for n in 1 2; do
	var=FILE$n
	f=${!var}
	[ "$(stat -c %a "$f")" = 400 ] || die "$f has mode $(stat -c %a "$f"), expected 400"
	expect_fail_with "Read-only file system" dd if=/dev/zero of="$f" bs=4096 count=1 \
		conv=notrunc
	expect_fail_with "Read-only file system" dd if=/dev/zero of="$f" bs=100 count=1 \
		seek=3 conv=notrunc
	expect_fail_with "Read-only file system" fallocate --zero-range -l 4096 "$f"
	cmp "$f" "$TGT_TMPDIR/orig$n" || die "read-only file $n reads wrong"
	cmp "$(tgt_lun_file 1 "$n")" "$TGT_TMPDIR/orig$n" || die "read-only LUN $n changed"
done
fuse_unmount 1
fuse_detach 2
for n in 1 2; do
	cmp "$(tgt_lun_file 1 "$n")" "$TGT_TMPDIR/orig$n" || die "read-only LUN $n changed"
done
