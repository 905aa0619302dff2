#!/usr/bin/env bash
# The initiator against a scripted hostile target (tests/evil-target): each
# run of the target breaks the protocol one way on the first READ or WRITE
# (or in login, discovery or from the first command on). isa-io must then fail, not hang or crash, with
# a message naming the problem and no sanitizer report, and the target must
# have received nothing it did not ask for (it checks every PDU and exits
# non-zero otherwise, e.g. on Data-Out answering a bad R2T or a wrong NOP-Out).
# Runs without root or tgtd: the target is a plain process on 127.0.0.1.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"

WORK=$(mktemp -d)
cleanup_fn rm -rf "$WORK"
source "$top_srcdir/tests/evil-common.sh"
IQN=$EVIL_IQN
[ -x "$EVIL" ] || die "$EVIL is not built"
# A hang guard only: every scenario normally ends within seconds, "silent"
# within 30 s.
ISA_CMD_TIMEOUT=60

# evil_finish: the target must exit 0, having carried out its misbehaviour
# (unless it is the correct target, "none") and seen nothing wrong after it.
evil_finish()
{
	local rc=0

	wait "$EVIL_PID" || rc=$?
	EVIL_PID=
	echo "--- evil-target $EVIL_MODE:"
	cat "$WORK/$EVIL_MODE.log"
	[ "$rc" -eq 0 ] || die "$EVIL_MODE: evil-target exited $rc"
	[ "$EVIL_MODE" = none ] || grep -q "misbehaving: $EVIL_MODE\$" "$WORK/$EVIL_MODE.log" ||
		die "$EVIL_MODE: the target never misbehaved"
}

# hostile MODE TEXT ARGS...: against a target misbehaving as MODE, isa-io
# ARGS (after PORTAL IQN) must fail cleanly with TEXT on stderr.
hostile()
{
	local mode=$1 text=$2

	shift 2
	rm -f "$WORK/out"
	evil_start "$mode"
	expect_fail_with "$text" "$ISA_IO" --transport tcp "$EVIL_PORTAL" "$IQN" "$@" ||
		die "$mode: isa-io did not fail as expected"
	[ ! -e "$WORK/out" ] || die "$mode: isa-io wrote data it had not read whole"
	evil_finish
}

READ=(read --out "$WORK/out" --length 64k)
head -c 65536 /dev/urandom >"$WORK/in"
WRITE=(write --in "$WORK/in")

# The control: as a correct target it serves a verify run and discovery,
# so that every failure below comes from the misbehaviour alone.
evil_start none
expect_ok_with "compared: OK" "$ISA_IO" --transport tcp --size 1M --max-io 64k --qd 4 \
	"$EVIL_PORTAL" "$IQN" verify
evil_finish
evil_start none
expect_ok_with "$IQN" "$ISER_DISCOVER" --transport tcp "$EVIL_PORTAL"
evil_finish

# Data-In.
hostile bad-dsl "Data-In with a 266240-byte data segment exceeds MaxRecvDataSegmentLength 262144" \
	"${READ[@]}"
hostile unknown-itt "Data-In for ITT 0x0badc0de we never issued" "${READ[@]}"
hostile datasn-gap "has DataSN 2, expected 1" "${READ[@]}"
hostile past-buffer "Data-In past the end of the buffer: offset 65024 + 1024 > 65536" \
	"${READ[@]}"
hostile close-mid-pdu "connection closed by target" "${READ[@]}"
# The byte count adds up, but half the buffer was never sent.
hostile overlap "Data-In for ITT 0x00000007 at offset 0, expected 32768 (in order)" "${READ[@]}"
# Success after one block: the rest of the buffer must not pass for data.
hostile short-read "after 512 bytes; 65536 were expected (residual underflow 0)" "${READ[@]}"
hostile short-read-rsp "SCSI Response GOOD for ITT" "${READ[@]}"
hostile header-digest "header digest mismatch on Data-In" --digest "${READ[@]}"
hostile data-digest "data digest mismatch on Data-In" --digest "${READ[@]}"

# R2T: the target also checks that no Data-Out answers the bad R2T.
hostile r2t-past "R2T past the end of the buffer: offset 65024 + 1024 > 65536" "${WRITE[@]}"
hostile r2t-zero "with DesiredDataTransferLength 0" "${WRITE[@]}"

# Responses and other PDUs.
hostile unknown-itt-rsp "SCSI Response for ITT 0x0badc0de that we never issued" "${READ[@]}"
hostile short-sense "SCSI Response with a SenseLength past its data segment" "${READ[@]}"
hostile huge-ahs "SCSI Response with a malformed AHS" "${READ[@]}"
hostile bad-opcode "opcode 0x01 is not one a target may send" "${READ[@]}"
hostile async-drop "target is dropping the connection" "${READ[@]}"
hostile reject-storm "target rejected a SCSI Command PDU: protocol error" "${WRITE[@]}"

# Keepalive: a target that goes silent is declared dead by the NOP timeout...
hostile slow-nop "target did not answer a NOP-Out ping within 2 s" \
	--nop-interval 1 --nop-timeout 2 "${READ[@]}"
grep -q "left [1-9][0-9]* NOP-Out pings unanswered" "$WORK/slow-nop.log" ||
	die "slow-nop: the initiator never pinged"
# ...and a target that logs in and then answers nothing at all, the probe
# of the LUN included, makes the attach fail: iser-attach, session recovery
# on as by default, gives up when a probe command has waited its 30 s
# (LUN_PROBE_TIMEOUT_MS; the NOP timeout has dropped the connection by
# then, and reconnecting meets a closed port) and ends the session for
# good: exit status 8 (timeout) naming the command, no export printed, no
# state file, control socket or NBD socket left. In the foreground, so
# that its stderr is complete (a sanitizer report included) when it exits.
evil_start silent
mkdir -p "$WORK/attach/run"
rc=0
ISER_ATTACH_RUNDIR=$WORK/attach/run timeout -k 5 "$ISA_CMD_TIMEOUT" "$ISER_ATTACH" \
	--foreground --transport tcp --socket "$WORK/attach/sock" "$EVIL_PORTAL" "$IQN" \
	>"$WORK/attach/out" 2>"$WORK/attach/err" || rc=$?
echo "--- iser-attach exited $rc:"
cat "$WORK/attach/err"
[ "$rc" -eq 8 ] || die "silent: iser-attach exited $rc, expected 8 (timeout)"
grep -qx "iser-attach: no answer to SCSI command 0xa0 within 30 s" "$WORK/attach/err" ||
	die "silent: iser-attach did not say which command went unanswered"
! grep -q Sanitizer "$WORK/attach/err" || die "silent: sanitizer report from iser-attach"
[ ! -s "$WORK/attach/out" ] || die "silent: iser-attach printed '$(cat "$WORK/attach/out")'"
[ ! -e "$WORK/attach/sock" ] || die "silent: the NBD socket was left behind"
[ -z "$(ls -A "$WORK/attach/run")" ] ||
	die "silent: left in the state directory: $(ls -A "$WORK/attach/run")"
evil_finish
# The library alike, with recovery asked for: isa-io fails the probe of
# LUN 1 (TEST UNIT READY) the same way.
hostile silent "LUN 1: no answer to SCSI command 0x00 within 30 s" --replacement-timeout 60 info
# ...and the target's own pings are each answered with their TTT while
# I/O goes on (the target exits non-zero on a missing or wrong reply).
evil_start nop-flood
expect_ok_with "compared: OK" "$ISA_IO" --transport tcp --size 256k --max-io 64k "$EVIL_PORTAL" "$IQN" verify
evil_finish
grep -q "100 of 100 NOP-In pings answered" "$WORK/nop-flood.log" ||
	die "nop-flood: the pings were not all answered"

# Task management: a command the target leaves unanswered (its NOP-Out
# pings still answered) is aborted after --command-timeout, and sent again
# once the abort succeeds; the target checks that ABORT TASK names the
# command (ITT, CmdSN, LUN) and that a LUN RESET follows an abort it leaves
# unanswered. The data read back after the abort must still compare.
TMF=(--command-timeout 2 --nop-interval 1 --nop-timeout 3 --size 256k --max-io 64k)
evil_start stall-abort
out=$(expect_ok_with "aborts 1, errors 0" "$ISA_IO" --transport tcp "${TMF[@]}" \
	"$EVIL_PORTAL" "$IQN" verify) || die "stall-abort: isa-io failed"
grep -q "compared: OK" <<<"$out" || die "stall-abort: data did not compare: $out"
evil_finish
grep -q "answering ABORT TASK: response 0" "$WORK/stall-abort.log" ||
	die "stall-abort: no ABORT TASK reached the target"
evil_start stall-reset
out=$(expect_ok_with "aborts 1, errors 0" "$ISA_IO" --transport tcp "${TMF[@]}" \
	"$EVIL_PORTAL" "$IQN" verify) || die "stall-reset: isa-io failed"
grep -q "compared: OK" <<<"$out" || die "stall-reset: data did not compare: $out"
evil_finish
grep -q "leaving ABORT TASK unanswered" "$WORK/stall-reset.log" &&
	grep -q "answering LUN RESET: response 0" "$WORK/stall-reset.log" ||
	die "stall-reset: ABORT TASK then LUN RESET did not reach the target"
# Both refused: the connection is dropped, and without session recovery
# (isa-io's default) the read fails with the reason.
hostile stall-refuse "LUN RESET of LUN 1 refused by the target: not supported" "${TMF[@]}" \
	"${READ[@]}"
grep -q "answering ABORT TASK: response 255" "$WORK/stall-refuse.log" ||
	die "stall-refuse: no ABORT TASK reached the target"

# Text that never ends, in login and in discovery.
hostile endless-login "did not finish after 32 exchanges" info
evil_start endless-text
expect_fail_with "SendTargets answer did not finish after" "$ISER_DISCOVER" --transport tcp \
	"$EVIL_PORTAL" ||
	die "endless-text: iser-discover did not fail as expected"
evil_finish
