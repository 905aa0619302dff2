#!/usr/bin/env bash
# Write-zeroes on a target without WRITE SAME: evil-target as a correct
# target answers WRITE SAME with INVALID COMMAND OPERATION CODE, like any
# command it does not implement. The first NBD write-zeroes that meets the
# refusal is finished with WRITE commands from a zeroed buffer, the
# refusal is remembered (WRITE SAME is not tried again), later
# write-zeroes go straight to WRITE, and a write-zeroes that may only be
# fast (NBD_CMD_FLAG_FAST_ZERO) is refused at once with "not supported",
# changing nothing. What is not zeroed keeps its data.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
requires qemu-io
WORK=$(mktemp -d /dev/shm/isa-zeroes.XXXXXX)
cleanup_fn rm -rf "$WORK"
source "$top_srcdir/tests/evil-common.sh"
[ -x "$EVIL" ] || skip "$EVIL not built"
[ -x "$ISER_ATTACH" ] || skip "$ISER_ATTACH not built"
export ISER_ATTACH_RUNDIR=$WORK/run
SOCK=$WORK/nbd.sock
URI="nbd+unix:///?socket=$SOCK"

evil_start none
attach_start "$WORK/attach" 60 "$ISER_ATTACH" --foreground --transport tcp --socket "$SOCK" \
	"$EVIL_PORTAL" "$EVIL_IQN"
log=$WORK/attach/err

qemu_io()
{
	timeout -k 5 120 qemu-io -f raw "${@/#/-c}" "$URI" >"$WORK/qemu-io.out" 2>&1 || :
	cat "$WORK/qemu-io.out"
}

# The first write-zeroes meets the refusal and is finished with WRITE.
qemu_io "write -P 0x5a 0 2M" "write -z 128k 512k" "read -P 0 128k 512k" \
	"read -P 0x5a 0 128k" "read -P 0x5a 640k 1408k"
! grep -q "error\|failed\|Mismatch\|mismatch" "$WORK/qemu-io.out" ||
	die "the first write-zeroes or the reads around it failed"
[ "$(grep -c "^read " "$WORK/qemu-io.out")" -eq 3 ] || die "not every read passed"
[ "$(count_lines "the target refuses WRITE SAME" "$log")" -eq 1 ] ||
	die "the refusal was not logged once: $(cat "$log")"

# Later ones go straight to WRITE: larger than the zero buffer, unaligned
# to it, and with the hole allowed.
qemu_io "write -z 1M 1536k" "write -z -u 3M 64k" "read -P 0 1M 1536k" "read -P 0 3M 64k" \
	"read -P 0x5a 640k 384k"
! grep -q "error\|failed\|Mismatch\|mismatch" "$WORK/qemu-io.out" ||
	die "a later write-zeroes failed"
[ "$(grep -c "^read " "$WORK/qemu-io.out")" -eq 3 ] || die "not every read passed"

# A fast-only zero is refused at once and changes nothing.
qemu_io "write -z -n 0 64k"
grep -q "Operation not supported" "$WORK/qemu-io.out" ||
	die "a fast-only write-zeroes was not refused as unsupported"
qemu_io "read -P 0x5a 0 64k"
grep -q "^read 65536/65536" "$WORK/qemu-io.out" || die "the refused fast zero changed data"

expect_ok_with "detached $SOCK" "$ISER_DETACH" "$SOCK" >/dev/null || die "iser-detach failed"
rc=$(attach_wait_exit "$WORK/attach") || die "iser-attach did not exit"
cat "$log"
[ "$rc" -eq 0 ] || die "iser-attach exited $rc"
! grep -q Sanitizer "$log" || die "sanitizer report"
rc=0
wait "$EVIL_PID" || rc=$?
EVIL_PID=
cat "$WORK/none.log"
[ "$rc" -eq 0 ] || die "evil-target exited $rc: the initiator misbehaved"
# WRITE SAME was sent once, for the first write-zeroes only.
[ "$(count_lines "SCSI Command 0x93 not supported" "$WORK/none.log")" -eq 1 ] ||
	die "WRITE SAME was sent $(count_lines "SCSI Command 0x93 not supported" "$WORK/none.log") times"
