#!/usr/bin/env bash
# Task management over iSER, against tgtd --lld iser on soft-RoCE: while
# fio writes and verifies through the NBD export, tgtd is frozen (SIGSTOP)
# until a command has gone unanswered for longer than the command timeout,
# and then let go.  The commands it sat on are aborted (ABORT TASK, or LUN
# RESET when the abort itself is not answered in time) and sent again, or
# answered once tgtd runs again.  Over iSER an aborted command's memory
# windows are invalidated before its buffer is reused or the command sent
# again, and the connection stays: fio sees a delay, never an error, every
# block verifies, and there is no reconnect.  As test-command-timeout.sh
# does over TCP.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/iser-vm-common.sh"
source "$top_srcdir/tests/fault-common.sh"
requires fio python3

IQN=iqn.2026-11.org.iser-attach.test:iser-cmd-timeout
iser_setup_rxe
start_tgtd_iser
tgt_simple_target "$IQN" 64
tgt_bind_initiator 1
# The NOP timeout (15 s) is past the freeze: task management at work, not
# a reconnect.
fault_attach --transport iser --command-timeout 2 -v "$TGT_ISER_PORTAL" "$IQN"
grep -q "reaches each payload buffer through a memory registration per command" \
	"$FAULT_LOG" || die "not confined per command: $(cat "$FAULT_LOG")"
thaw_tgtd()
{
	kill -CONT "$TGT_PID" 2>/dev/null || :
}
cleanup_fn thaw_tgtd

fault_fio freeze --size=16M --rate=4m
fault_fio_moving
kill -STOP "$TGT_PID"
wait_for_line 120 "within 2 s; aborting it" "$FAULT_LOG"
fault_fio_running
kill -CONT "$TGT_PID"
fault_fio_wait freeze

log=$FAULT_LOG
grep -qE "ABORT TASK of ITT 0x[0-9a-f]+: (function complete|the target does not know|.*the command was answered before it)|LUN RESET of LUN [0-9]+ done" \
	"$log" || die "no abort was answered: $(grep -v 'iSER: send ring' "$log")"
! grep -q "given up before the target answered" "$log" ||
	die "an abort dropped the connection: $(cat "$log")"
[ "$(fault_reconnects)" -eq 0 ] || die "the freeze cost a reconnect: $(cat "$log")"
[ "$(attachment_field connections_lost)" -eq 0 ] || die "a connection was lost: $(cat "$log")"
pinned=$(attachment_field pinned_bytes)
[ "$pinned" -gt 0 ] && [ "$pinned" -le $((64 << 20)) ] ||
	die "pinned bytes $pinned not within the 64 MiB default"
fault_detach
grep -E "aborting it|ABORT TASK|LUN RESET" "$log"
fault_report iser tgtd-frozen-until-abort-command-timeout-2s "$FIO_STALL_MS" 0
