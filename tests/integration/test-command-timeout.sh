#!/usr/bin/env bash
# Task management against tgtd: while fio writes and verifies through the
# NBD export, tgtd is frozen (SIGSTOP) for longer than the command timeout
# and then let go. The commands it sat on are aborted (ABORT TASK, or LUN
# RESET when the abort itself is not answered in time) and sent again, or
# answered by tgtd once it runs again; either way fio sees a delay, never
# an error, and every block verifies. The NOP timeout is longer than the
# freeze, so this is task management at work, not a reconnect.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
requires fio

IQN=iqn.2026-11.org.iser-attach.test:cmd-timeout
FREEZE_S=6
start_tgtd
tgt_simple_target "$IQN" 64
sock=$TGT_TMPDIR/nbd.sock
log=$TGT_TMPDIR/attach.log
uri="nbd+unix:///?socket=$sock"

"$ISER_ATTACH" --foreground --transport tcp --command-timeout 2 "$TGT_PORTAL" "$IQN" \
	--socket "$sock" >"$TGT_TMPDIR/uri" 2>"$log" &
attach_pid=$!
stop_attach()
{
	kill "$1" 2>/dev/null || :
}
cleanup_fn stop_attach "$attach_pid"
# Never leave a stopped tgtd behind, whatever fails.
thaw_tgtd()
{
	kill -CONT "$TGT_PID" 2>/dev/null || :
}
cleanup_fn thaw_tgtd
for ((i = 0; i < 100; i++)); do
	[ -s "$TGT_TMPDIR/uri" ] && break
	sleep 0.1
done
[ "$(cat "$TGT_TMPDIR/uri")" = "$uri" ] || die "attach failed: $(cat "$log")"

fio --name=freeze --ioengine=nbd --uri="$uri" --rw=randwrite --bs=64k --iodepth=16 \
	--size=32M --rate=8m --verify=crc32c --verify_state_save=0 --do_verify=1 --verify_fatal=1 \
	--output="$TGT_TMPDIR/fio.out" &
fio_pid=$!
sleep 1
kill -STOP "$TGT_PID"
sleep "$FREEZE_S"
kill -CONT "$TGT_PID"
wait "$fio_pid" || die "fio failed across the freeze: $(cat "$TGT_TMPDIR/fio.out")"
grep -q "err= 0" "$TGT_TMPDIR/fio.out" || die "fio errors: $(cat "$TGT_TMPDIR/fio.out")"

grep -q "within 2 s; aborting it" "$log" || die "no command was aborted: $(cat "$log")"
# tgt answers "function complete" for a command its SCSI layer holds, and
# "task does not exist" for a write still collecting its Data-Out, which
# it then executes and answers (see tmf.c): both must end well.
grep -qE "ABORT TASK of ITT 0x[0-9a-f]+: (function complete|the target does not know)|LUN RESET of LUN [0-9]+ done" \
	"$log" || die "no abort was answered: $(cat "$log")"
! grep -q "reconnected to" "$log" || die "the freeze cost a reconnect: $(cat "$log")"
echo "longest stall: $(fio_longest_ms "$TGT_TMPDIR/fio.out") ms"

"$ISER_DETACH" "$sock" | grep -qx "detached $sock" || die "detach failed"
wait "$attach_pid" || die "iser-attach exited with an error: $(cat "$log")"
! grep -q "Sanitizer" "$log" || die "sanitizer report: $(cat "$log")"
cat "$log"
