#!/usr/bin/env bash
# A target that keeps misbehaving: evil-target --persistent breaks the
# protocol the same way on every connection, as a broken target does each
# time the initiator logs in again. iser-attach serves it as an NBD export
# at its defaults (session recovery on, 120 s replacement timeout) and a
# client reads (or writes) through the export. The command the target
# chokes on must fail alone with EIO after a bounded number of new logins
# (3 connections lost with it in flight, or 2 violations on it), long
# before the replacement timeout, without a busy loop of logins;
# iser-attach stays up, serves the next request, detaches cleanly, and
# behaves on every connection (evil-target checks that).
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
requires qemu-io
WORK=$(mktemp -d /dev/shm/isa-hostile.XXXXXX)
cleanup_fn rm -rf "$WORK"
source "$top_srcdir/tests/evil-common.sh"
[ -x "$EVIL" ] || skip "$EVIL not built"
[ -x "$ISER_ATTACH" ] || skip "$ISER_ATTACH not built"
IQN=$EVIL_IQN
export ISER_ATTACH_RUNDIR=$WORK/run

# ticks PID: CPU time (user + system, in clock ticks) PID has used so far.
ticks()
{
	local stat

	read -ra stat <"/proc/$1/stat"
	# Fields 14 and 15; the command name (field 2) has no spaces here.
	echo $((stat[13] + stat[14]))
}

# persistent MODE OP: OP is "read" or "write" (what triggers MODE).
persistent()
{
	local mode=$1 op=$2 dir=$WORK/$1 sock=$WORK/$1.sock pid t0 t1 c0 c1 rc=0
	local io ms cpu

	mkdir -p "$dir"
	evil_start "$mode" --persistent

	attach_start "$dir/attach" 60 "$ISER_ATTACH" --foreground --transport tcp \
		--socket "$sock" "$EVIL_PORTAL" "$IQN"
	pid=$(cat "$dir/attach/child")

	case $op in
	read) io="read 0 64k" ;;
	write) io="write -P 0x5a 0 64k" ;;
	esac
	c0=$(ticks "$pid")
	t0=$(date +%s%N)
	qemu-io -f raw -c "$io" "nbd+unix:///?socket=$sock" >"$dir/client.out" 2>&1 || rc=$?
	t1=$(date +%s%N)
	c1=$(ticks "$pid")
	ms=$(((t1 - t0) / 1000000))
	# CPU per cent of one core over the client's wait (at least 1 s).
	cpu=$(((c1 - c0) * 100 * 1000 / $(getconf CLK_TCK) / (ms > 1000 ? ms : 1000)))
	cat "$dir/client.out"
	grep -q "Input/output error" "$dir/client.out" ||
		die "$mode: the client's $op did not fail with EIO (exit $rc): $(cat "$dir/client.out")"
	kill -0 "$pid" 2>/dev/null || die "$mode: iser-attach is gone: $(cat "$dir/attach/err")"
	grep -q "given up: " "$dir/attach/err" ||
		die "$mode: no log line says the command was given up: $(cat "$dir/attach/err")"
	echo "persistent: mode=$mode op=$op client=EIO ms=$ms cpu_percent=$cpu" \
		"log_lines=$(wc -l <"$dir/attach/err")" \
		"connections=$(count_lines 'misbehaving: ' "$WORK/$mode.log")"
	# The behaviour asked for, not a speed: the replacement timeout is 120 s.
	[ "$ms" -lt 10000 ] || die "$mode: the client waited $ms ms for its error"
	[ "$cpu" -lt 5 ] || die "$mode: iser-attach used $cpu% of a core while the client waited"

	expect_ok_with "detached $sock" "$ISER_DETACH" "$sock" >/dev/null ||
		die "$mode: iser-detach failed"
	rc=$(attach_wait_exit "$dir/attach") || die "$mode: iser-attach did not exit"
	[ "$rc" -eq 0 ] || die "$mode: iser-attach exited $rc: $(cat "$dir/attach/err")"
	! grep -q Sanitizer "$dir/attach/err" || die "$mode: sanitizer report: $(cat "$dir/attach/err")"
	cat "$dir/attach/err"

	kill -TERM "$EVIL_PID"
	rc=0
	wait "$EVIL_PID" || rc=$?
	EVIL_PID=
	cat "$WORK/$mode.log"
	[ "$rc" -eq 0 ] || die "$mode: evil-target exited $rc: the initiator misbehaved"
	grep -q "misbehaving: $mode\$" "$WORK/$mode.log" || die "$mode: the target never misbehaved"
}

persistent bad-dsl read
persistent datasn-gap read
persistent unknown-itt read
persistent unknown-itt-rsp read
persistent past-buffer read
persistent overlap read
persistent short-read read
persistent short-read-rsp read
persistent close-mid-pdu read
persistent short-sense read
persistent huge-ahs read
persistent bad-opcode read
persistent async-drop read
persistent r2t-past write
persistent r2t-zero write
