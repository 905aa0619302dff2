#!/usr/bin/env bash
# fio with four jobs writing CRC32C-verified random blocks of mixed sizes
# through the FUSE file with direct and buffered I/O, then reading them
# back and verifying, in the file and in what the target stored.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/fuse-common.sh"

requires fio
IQN=iqn.2026-11.org.iser-attach.test:fuse-fio
fuse_requires
tgt_simple_target "$IQN" 72
fuse_attach "$IQN"

# run_fio NAME ARGS...: four jobs, each on its own 16 MiB, verified.
run_fio()
{
	local name=$1

	shift
	fio --name="$name" --filename="$FUSE_FILE" --numjobs=4 --size=16M \
		--offset_increment=16M --verify=crc32c --verify_state_save=0 --do_verify=1 --verify_fatal=1 \
		--group_reporting "$@" >"$TGT_TMPDIR/$name.out" 2>&1 || {
		cat "$TGT_TMPDIR/$name.out" >&2
		die "fio $name failed"
	}
	grep -q "err= 0" "$TGT_TMPDIR/$name.out" || die "fio $name reported errors"
	cat "$TGT_TMPDIR/$name.out"
}

run_fio direct --rw=randwrite --bsrange=512-256k --ioengine=libaio --iodepth=16 --direct=1
run_fio buffered --rw=write --bs=64k --ioengine=psync --offset=64M --size=2M \
	--offset_increment=2M

# fio verify reads through our read path; check the target's copy too, with
# the same verification, straight from the backing file.
fio --name=target --filename="$(tgt_lun_file 1 1)" --numjobs=4 --size=16M \
	--offset_increment=16M --rw=randwrite --bsrange=512-256k --verify=crc32c --verify_state_save=0 \
	--verify_only=1 --verify_fatal=1 --group_reporting >"$TGT_TMPDIR/target.out" 2>&1 || {
	cat "$TGT_TMPDIR/target.out" >&2
	die "the data on the target does not verify"
}
fuse_unmount
