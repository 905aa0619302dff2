#!/usr/bin/env bash
# Task management against tgtd: while fio writes and verifies through the
# NBD export, tgtd is frozen (SIGSTOP) until a command has gone unanswered
# for longer than the command timeout, and then let go. The commands it sat
# on are aborted (ABORT TASK, or LUN RESET when the abort itself is not
# answered in time) and sent again, or answered by tgtd once it runs again;
# either way fio sees a delay, never an error, and every block verifies.
# The NOP timeout (20 s) is longer than the freeze, so this is task
# management at work, not a reconnect.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/fault-common.sh"
requires fio python3

IQN=iqn.2026-11.org.iser-attach.test:cmd-timeout
start_tgtd
tgt_simple_target "$IQN" 64
fault_attach --transport tcp --command-timeout 2 "$TGT_PORTAL" "$IQN"
# Never leave a stopped tgtd behind, whatever fails.
thaw_tgtd()
{
	kill -CONT "$TGT_PID" 2>/dev/null || :
}
cleanup_fn thaw_tgtd

# Frozen once fio moves data, and let go once a command has been aborted
# (the abort, sent to a stopped tgtd, is answered when it runs again).
fault_fio freeze --size=32M --rate=8m
fault_fio_moving
kill -STOP "$TGT_PID"
wait_for_line 60 "within 2 s; aborting it" "$FAULT_LOG"
fault_fio_running
kill -CONT "$TGT_PID"
fault_fio_wait freeze

log=$FAULT_LOG
grep -q "within 2 s; aborting it" "$log" || die "no command was aborted: $(cat "$log")"
# tgt answers "function complete" for a command its SCSI layer holds, and
# "task does not exist" for a write still collecting its Data-Out, which
# it then executes and answers (see tmf.c); thawed, it may also answer the
# command before the abort: each must end well.
grep -qE "ABORT TASK of ITT 0x[0-9a-f]+: (function complete|the target does not know|.*the command was answered before it)|LUN RESET of LUN [0-9]+ done" \
	"$log" || die "no abort was answered: $(cat "$log")"
[ "$(fault_reconnects)" -eq 0 ] || die "the freeze cost a reconnect: $(cat "$log")"
fault_detach
cat "$log"
fault_report tcp tgtd-frozen-until-abort-command-timeout-2s "$FIO_STALL_MS" 0
