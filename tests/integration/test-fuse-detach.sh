#!/usr/bin/env bash
# Ways a FUSE attachment ends, each with iser-attach exiting 0 and the data
# written before on the target: fusermount3 -u, iser-detach on the mount
# directory, iser-detach on the file, and SIGTERM while a process still
# holds the file open (the mount is detached and the holder sees errors).
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/fuse-common.sh"

IQN=iqn.2026-11.org.iser-attach.test:fuse-detach
fuse_requires
tgt_simple_target "$IQN" 16
LUN=$(tgt_lun_file 1 1)

# write_check N: write 1 MiB of new random data at an unaligned offset
# and remember it for check_target.
write_check()
{
	head -c $((1 << 20)) /dev/urandom >"$TGT_TMPDIR/data$1"
	dd if="$TGT_TMPDIR/data$1" of="$FUSE_FILE" bs=65536 seek=$((1000 + $1 * 1111)) \
		oflag=seek_bytes conv=notrunc status=none
}

check_target()
{
	cmp -n $((1 << 20)) -i 0:$((1000 + $1 * 1111)) "$TGT_TMPDIR/data$1" "$LUN" ||
		die "the data written before end $1 is not on the target"
}

fuse_attach "$IQN"
write_check 1
fusermount3 -u "$FUSE_DIR"
_fuse_ended 0 "fusermount3 -u"
check_target 1

fuse_attach "$IQN"
write_check 2
fuse_detach
check_target 2

fuse_attach "$IQN"
write_check 3
out=$(expect_ok_with "detached" "$ISER_DETACH" "$FUSE_FILE")
echo "$out"
_fuse_ended 0 "iser-detach FILE"
check_target 3

fuse_attach "$IQN"
write_check 4
exec 3<"$FUSE_FILE"
kill -TERM "$FUSE_PID"
_fuse_ended 0 "SIGTERM"
exec 3<&-
check_target 4
