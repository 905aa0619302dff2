#!/usr/bin/env bash
# Session recovery seen through the FUSE file: while fio writes and
# verifies through it (direct I/O, queue depth 16), tgtd is killed with
# SIGKILL and started again on the same port and LUN file. The writes in
# flight wait for the new login and are sent again; fio sees a delay and
# no error, and what the target stored verifies too.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/fuse-common.sh"

requires fio
IQN=iqn.2026-11.org.iser-attach.test:fuse-recovery
fuse_requires
tgt_simple_target "$IQN" 64
fuse_attach "$IQN" --transport tcp --replacement-timeout 60
log=$TGT_TMPDIR/fattach0/err

FIO=(--filename="$FUSE_FILE" --size=32M --rw=randwrite --bs=64k --ioengine=libaio
	--iodepth=16 --direct=1 --verify=crc32c --verify_state_save=0 --verify_fatal=1)
# The rate limit is a ceiling: 32 MiB take at least 4 s each way on any
# machine, and tgtd dies once fio has moved data, in the middle of it.
fio --name=fuse-recovery "${FIO[@]}" --do_verify=1 --rate=8m \
	--output="$TGT_TMPDIR/fio.out" &
fio_pid=$!
cleanup_fn kill "$fio_pid"
wait_io_moving "$fio_pid" fio
tgtd_crash_restart --attached
tgt_simple_target "$IQN" 64
wait "$fio_pid" || die "fio failed across the restart: $(cat "$TGT_TMPDIR/fio.out")"
grep -q "err= 0" "$TGT_TMPDIR/fio.out" || die "fio errors: $(cat "$TGT_TMPDIR/fio.out")"
grep -q "reconnected to $TGT_PORTAL" "$log" || die "no reconnect in the log: $(cat "$log")"

# The target's copy, straight from the backing file, verifies as well.
fio --name=fuse-recovery "${FIO[@]/#--filename=*/--filename=$(tgt_lun_file 1 1)}" \
	--verify_only=1 --direct=0 --ioengine=psync --output="$TGT_TMPDIR/target.out" ||
	die "the data on the target does not verify: $(cat "$TGT_TMPDIR/target.out")"
fuse_unmount
cat "$log"
