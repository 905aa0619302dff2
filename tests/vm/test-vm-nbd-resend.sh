#!/usr/bin/env bash
# A write the kernel's nbd driver sends again must not be overtaken by its
# first copy. The scripted target (evil-target late-write) holds the first
# WRITE unanswered and, if two newer WRITEs to its blocks come, writes it
# over them afterwards, as a target that reorders commands may. With
# io_timeout at 2 s the driver drops the socket of that request and sends
# it again; iser-attach holds each copy until the first has finished,
# which here is when --command-timeout (6 s) aborts it (the target throws
# it away) and it is sent again. Then a second pattern is written to the
# same block, and the block must hold it. Without the hold, the second
# copy is written at once, the second pattern after it, and the first
# copy lands last with the old data.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/nbd-vm-common.sh"

vm_nbd_requires
WORK=$TGT_TMPDIR
source "$top_srcdir/tests/evil-common.sh"
[ -x "$EVIL" ] || die "$EVIL is not built"
A=$WORK/a
B=$WORK/b
head -c 4096 /dev/urandom >"$A"
head -c 4096 /dev/urandom >"$B"
LOG=$WORK/late-write.log

# write_block FILE: FILE to block 100 (4 KiB blocks) with O_DIRECT, waited
# for with a bound.
write_block()
{
	dd if="$1" of="$NBD_DEV" bs=4k seek=100 oflag=direct status=none 2>"$WORK/dd.err" &
	local pid=$!

	wait_until 120 "the write of $(basename "$1")" process_gone "$pid"
	wait "$pid" || die "the write of $(basename "$1") failed: $(cat "$WORK/dd.err")"
}

evil_start late-write --lifetime 600
kernel_attach --portal "$EVIL_PORTAL" --size $((8192 * 512)) "$EVIL_IQN" --nbd --transport tcp \
	--command-timeout 6
sys=$(nbd_sysfs "$NBD_DEV")
echo 2000 >"$sys/queue/io_timeout"
[ "$(cat "$sys/queue/io_timeout")" -eq 2000 ] || die "io_timeout did not take 2000 ms"

write_block "$A"
grep -q "holding WRITE ITT" "$LOG" || die "the target held no write: $(cat "$LOG")"
dmesg | grep -q "${NBD_DEV#/dev/}: Connection timed out" ||
	die "the driver never timed the held write out"
write_block "$B"
wait_for_line 120 "held WRITE ITT .* (aborted|written late)" "$LOG"
cmp <(dd if="$NBD_DEV" bs=4k skip=100 count=1 iflag=direct status=none) "$B" ||
	die "block 100 does not hold the last write: a copy sent before it landed after it"
grep -q "held WRITE ITT .* aborted: its data is thrown away" "$LOG" ||
	die "the held write was not aborted: $(cat "$LOG")"
held=$(attachment_field requests_held)
[ "$held" -ge 1 ] || die "iser-attach held no copy of the write the driver sent again"
kernel_detach
wait "$EVIL_PID" || die "evil-target found the initiator misbehaving: $(cat "$LOG")"
EVIL_PID=
grep -q "misbehaving: late-write" "$LOG" || die "the target never misbehaved"
