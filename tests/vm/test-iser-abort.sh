#!/usr/bin/env bash
# Task management over iSER on a command the target never answered:
# tests/evil-target --iser leaves a READ unanswered (its NOP-Out pings
# still answered) until ABORT TASK of it succeeds (stall-abort), or until
# a LUN RESET does after it left the ABORT TASK unanswered too
# (stall-reset). The initiator gives the command's STag up (its
# registration dropped) before the buffer is used again, keeps the
# connection, and sends the command again; the data read back compares.
# Without session recovery (isa-io's default) a dropped connection would
# fail the run, so "errors 0" also says the connection stayed.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/iser-vm-common.sh"

EVIL=$top_builddir/tests/evil-target
[ -x "$EVIL" ] || skip "$EVIL not built"
IQN=iqn.2026-11.org.iser-attach.test:abort
WORK=$(mktemp -d /tmp/isa-abort.XXXXXX)
cleanup_fn rm -rf "$WORK"
EVIL_PID=
evil_stop()
{
	[ -n "$EVIL_PID" ] || return 0
	kill "$EVIL_PID" 2>/dev/null || :
	wait "$EVIL_PID" 2>/dev/null || :
	EVIL_PID=
}
cleanup_fn evil_stop
_evil_listening()
{
	[ -s "$WORK/$MODE.port" ] || ! kill -0 "$EVIL_PID" 2>/dev/null
}

iser_setup_rxe
for MODE in stall-abort stall-reset; do
	"$EVIL" --iser "$ISER_ADDR" --misbehave "$MODE" --iqn "$IQN" --lifetime 600 \
		>"$WORK/$MODE.port" 2>"$WORK/$MODE.log" &
	EVIL_PID=$!
	wait_until 60 "evil-target $MODE to listen" _evil_listening
	[ -s "$WORK/$MODE.port" ] || die "evil-target $MODE did not start: $(cat "$WORK/$MODE.log")"
	out=$("$ISA_IO" --transport iser -v --command-timeout 2 --nop-interval 1 --nop-timeout 3 \
		--size 256k --max-io 64k "$ISER_ADDR:$(cat "$WORK/$MODE.port")" "$IQN" verify \
		2>"$WORK/$MODE.err") || die "$MODE: isa-io failed: $(cat "$WORK/$MODE.err")"
	echo "$out"
	grep -q "aborts 1, errors 0" <<<"$out" || die "$MODE: not one abort and no error: $out"
	grep -q "compared: OK" <<<"$out" || die "$MODE: data did not compare: $out"
	grep -q "copied payload 0," <<<"$out" || die "$MODE: payload was copied: $out"
	! grep -qE "given up before the target answered|connection to .* lost" "$WORK/$MODE.err" ||
		die "$MODE: the abort cost the connection: $(cat "$WORK/$MODE.err")"
	grep -q "reaches each payload buffer through" "$WORK/$MODE.err" ||
		die "$MODE: not over iSER's per-command STags: $(cat "$WORK/$MODE.err")"
	kill -TERM "$EVIL_PID"
	rc=0
	wait "$EVIL_PID" || rc=$?
	EVIL_PID=
	cat "$WORK/$MODE.log"
	[ "$rc" -eq 0 ] || die "$MODE: evil-target exited $rc"
	case $MODE in
	stall-abort)
		grep -q "answering ABORT TASK: response 0" "$WORK/$MODE.log" ||
			die "stall-abort: no ABORT TASK reached the target"
		;;
	stall-reset)
		grep -q "leaving ABORT TASK unanswered" "$WORK/$MODE.log" &&
			grep -q "answering LUN RESET: response 0" "$WORK/$MODE.log" ||
			die "stall-reset: ABORT TASK then LUN RESET did not reach the target"
		;;
	esac
	! grep -q Sanitizer "$WORK/$MODE.log" "$WORK/$MODE.err" || die "$MODE: sanitizer report"
done
