#!/usr/bin/env bash
# What an iSER target can reach of the initiator's memory: tests/evil-target
# --iser on soft-RoCE attacks iser-attach's buffers once per run, on the
# command the test sends at LBA 4100 (an LBA no bulk transfer starts at),
# after the LUN is attached and a known pattern written through the NBD
# export:
#
#   stale-stag           RDMA Write with the STag of a READ already answered
#   past-length          RDMA Write of the READ's length + 4096 bytes
#   send-ring            RDMA Write into the send ring with a READ's STag
#   read-after-response  RDMA Read of a WRITE's buffer after its response
#                        and 8 more WRITEs (a WRITE's window is readable
#                        until 8 later WRITEs are answered: the replay of
#                        RDMA Reads, datamover/iser-win.h)
#
# and, with --persistent, past-length on every connection. Each access
# must be refused (the target logs "hostile MODE: refused (...)"), so the
# QP fails and the initiator must see its connection lost (connections_lost
# of iser-list) and recover; the I/O of the test then completes (the
# persistent run: its READ fails alone with EIO once the initiator gives
# up on it), every byte of the LUN reads back as written, and
# iser-attach's log has a line about the lost connection and no sanitizer
# report. A mode failing does not stop the others: each prints one
# "protection:" line, and the test fails at the end if any failed.
#
# ISA_PROTECTION_SELFCHECK=1 runs the target with --wrong-stag: its
# accesses use keys never advertised, which any initiator refuses, so the
# test passes whatever the initiator confines: a check of the test itself.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/iser-vm-common.sh"
requires qemu-io qemu-img python3 cmp

EVIL=$top_builddir/tests/evil-target
[ -x "$EVIL" ] || skip "$EVIL not built"
IQN=iqn.2026-11.org.iser-attach.test:evil
WORK=$(mktemp -d /tmp/isa-protection.XXXXXX)
cleanup_fn rm -rf "$WORK"
export ISER_ATTACH_RUNDIR=$WORK/run
# evil-target's disk: 8192 blocks of 512 bytes.
LUN_BYTES=$((4 << 20))
STRIKE_LBA=4100
STRIKE=$((STRIKE_LBA * 512))
# Where the command after the strike goes: another 64 KiB chunk.
LATER=$((3 << 20))
IO_TIMEOUT=180
EVIL_PID=
FAILED=()
EVIL_EXTRA=()
[ "${ISA_PROTECTION_SELFCHECK:-0}" != 1 ] || EVIL_EXTRA=(--wrong-stag)

evil_stop()
{
	[ -n "$EVIL_PID" ] || return 0
	kill "$EVIL_PID" 2>/dev/null || :
	wait "$EVIL_PID" 2>/dev/null || :
	EVIL_PID=
}
cleanup_fn evil_stop

# The pattern: 64 KiB chunk i filled with byte 0x10 + i (never 0xe5, what
# the target's hostile writes put).
python3 -c '
import sys
sys.stdout.buffer.write(b"".join(bytes([0x10 + i]) * 65536 for i in range(64)))
' >"$WORK/pattern.img"
[ "$(stat -c %s "$WORK/pattern.img")" -eq "$LUN_BYTES" ] || die "pattern is not $LUN_BYTES bytes"

# fill_byte OFFSET: the pattern's byte at OFFSET, as qemu-io -P takes it.
fill_byte()
{
	printf '0x%02x' $((0x10 + $1 / 65536))
}

# expect_fill FILE OFFSET LEN BYTE: FILE holds LEN bytes of BYTE at OFFSET
# (multiples of 512) from now on.
expect_fill()
{
	python3 -c '
import sys
f, off, n, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4], 0)
with open(f, "r+b") as o:
    o.seek(off)
    o.write(bytes([b]) * n)
' "$@"
}

_evil_listening()
{
	[ -s "$DIR/port" ] || ! kill -0 "$EVIL_PID" 2>/dev/null
}

# qio WHAT QEMU-IO-COMMAND: one qemu-io command through the export; its
# output in $DIR/WHAT.out, its exit status in QIO_RC (0 only if no pattern
# mismatch was reported either).
qio()
{
	QIO_RC=0
	timeout -k 5 "$IO_TIMEOUT" qemu-io -f raw -c "$2" "$NBD_URI" >"$DIR/$1.out" 2>&1 ||
		QIO_RC=$?
	cat "$DIR/$1.out"
	! grep -q "Pattern verification failed" "$DIR/$1.out" || QIO_RC=1
}

# mode_fail MESSAGE: the mode under test failed; the test goes on.
mode_fail()
{
	echo "protection: $NAME: FAIL: $*" >&2
	RESULT=FAIL
	WHY+=("$*")
}

# protect MODE [--persistent]: one run of the hostile target as MODE.
protect()
{
	local rc outcome lost0 lost line refused diff name=$1

	MODE=$1
	[ "${2:-}" != --persistent ] || name=$1-persistent
	NAME=$name
	DIR=$WORK/$name
	RESULT=ok
	WHY=()
	mkdir -p "$DIR"
	local later=()
	[ "$MODE" != read-after-response ] || later=(--later-after-writes 8)
	"$EVIL" --iser "$ISER_ADDR" --misbehave "$MODE" --iqn "$IQN" --lifetime 1800 \
		--strike-lba "$STRIKE_LBA" --send-ring-from "$DIR/attach/err" "${later[@]}" "${EVIL_EXTRA[@]}" "${@:2}" \
		>"$DIR/port" 2>"$DIR/target.log" &
	EVIL_PID=$!
	wait_until 60 "evil-target $name to listen" _evil_listening
	[ -s "$DIR/port" ] || {
		cat "$DIR/target.log" >&2
		die "evil-target $name did not start"
	}
	attach_start "$DIR/attach" 120 "$ISER_ATTACH" --foreground -v --transport iser \
		--socket "$DIR/sock" "$ISER_ADDR:$(cat "$DIR/port")" "$IQN"
	NBD_URI="nbd+unix:///?socket=$DIR/sock"
	grep -q "iSER: send ring at 0x" "$DIR/attach/err" ||
		die "$name: iser-attach -v does not log its send ring"

	cp "$WORK/pattern.img" "$DIR/expect.img"
	qio pattern "write -s $WORK/pattern.img 0 $LUN_BYTES"
	[ "$QIO_RC" -eq 0 ] || die "$name: writing the pattern failed"
	lost0=$(connections_lost) || die "$name: iser-list cannot say"

	# The command the mode strikes on, then (for the modes that attack a
	# command already answered) the next one, which the attack precedes.
	case $MODE in
	stale-stag)
		# The next command writes, likely from the READ's buffer: what
		# the stale STag still reaches there goes to the disk.
		qio strike "read -P $(fill_byte $STRIKE) $STRIKE 32k"
		[ "$QIO_RC" -eq 0 ] || mode_fail "the READ struck on failed (qemu-io exit $QIO_RC)"
		qio later "write -P 0x77 $LATER 32k"
		[ "$QIO_RC" -eq 0 ] || mode_fail "the WRITE after it failed (qemu-io exit $QIO_RC)"
		expect_fill "$DIR/expect.img" "$LATER" 32768 0x77
		;;
	past-length)
		qio strike "read -P $(fill_byte $STRIKE) $STRIKE 32k"
		if [ "${2:-}" = --persistent ]; then
			grep -q "Input/output error" "$DIR/strike.out" ||
				mode_fail "the READ attacked on every connection did not fail with EIO"
		elif [ "$QIO_RC" -ne 0 ]; then
			mode_fail "the READ struck on failed (qemu-io exit $QIO_RC)"
		fi
		;;
	send-ring)
		# 1 MiB: a buffer of the pool's size class that holds the ring.
		qio strike "read $STRIKE 1M"
		[ "$QIO_RC" -eq 0 ] || mode_fail "the READ struck on failed (qemu-io exit $QIO_RC)"
		;;
	read-after-response)
		qio strike "write -P 0x5a $STRIKE 32k"
		[ "$QIO_RC" -eq 0 ] || mode_fail "the WRITE struck on failed (qemu-io exit $QIO_RC)"
		expect_fill "$DIR/expect.img" "$STRIKE" 32768 0x5a
		for i in 1 2 3 4 5 6 7 8; do
			qio "after-$i" "write -P 0x6$i $((LATER + i * 65536)) 32k"
			[ "$QIO_RC" -eq 0 ] || mode_fail "WRITE $i after it failed (qemu-io exit $QIO_RC)"
			expect_fill "$DIR/expect.img" $((LATER + i * 65536)) 32768 0x6$i
		done
		qio later "read -P $(fill_byte $LATER) $LATER 64k"
		[ "$QIO_RC" -eq 0 ] || mode_fail "the READ after it failed (qemu-io exit $QIO_RC)"
		;;
	esac

	# The access has been made: the I/O above waited for it.
	wait_for_line 60 "hostile $MODE: (refused|landed|not sent)" "$DIR/target.log"
	outcome=$(grep -E "hostile $MODE: (refused|landed|not sent)" "$DIR/target.log" | tail -n 1)
	outcome=${outcome#*: hostile "$MODE": }
	refused=$(count_lines "hostile $MODE: refused" "$DIR/target.log")
	case $outcome in
	refused*)
		wait_connection_lost 120 "$lost0"
		grep -Eq "connection to .* lost: " "$DIR/attach/err" ||
			mode_fail "iser-attach logged no line about the connection it lost"
		;;
	landed*)
		mode_fail "the initiator let the access land: $outcome"
		;;
	*)
		mode_fail "the target could not attack: $outcome"
		;;
	esac
	if [ "${2:-}" = --persistent ]; then
		[ "$refused" -ge 2 ] || mode_fail "refused $refused times, expected on every connection"
		grep -q "given up: " "$DIR/attach/err" ||
			mode_fail "no log line says the command was given up"
	fi
	lost=$(($(connections_lost) - lost0))

	# Every byte of the LUN as written, whatever the target did.
	timeout -k 5 "$IO_TIMEOUT" qemu-img convert -f raw -O raw "$NBD_URI" "$DIR/readback.img" ||
		mode_fail "reading the LUN back failed"
	diff=same
	if ! cmp "$DIR/expect.img" "$DIR/readback.img" >"$DIR/cmp.out" 2>&1; then
		diff="$(cmp -l "$DIR/expect.img" "$DIR/readback.img" 2>/dev/null | wc -l) bytes differ, first: $(head -n 1 "$DIR/cmp.out")"
		mode_fail "the LUN does not read back as written: $diff"
	fi

	kill -0 "$(cat "$DIR/attach/child")" 2>/dev/null ||
		die "$name: iser-attach is gone: $(cat "$DIR/attach/err")"
	expect_ok_with "detached $DIR/sock" "$ISER_DETACH" "$DIR/sock" >/dev/null ||
		die "$name: iser-detach failed"
	rc=$(attach_wait_exit "$DIR/attach") || die "$name: iser-attach did not exit"
	[ "$rc" -eq 0 ] || mode_fail "iser-attach exited $rc"
	! grep -q Sanitizer "$DIR/attach/err" || mode_fail "sanitizer report in iser-attach's log"
	line=$(grep -E "connection to .* lost: " "$DIR/attach/err" | head -n 1 || :)

	kill -TERM "$EVIL_PID"
	rc=0
	wait "$EVIL_PID" || rc=$?
	EVIL_PID=
	cat "$DIR/target.log"
	grep -E "iSER: send ring at|connection to|reconnected|given up|Sanitizer" \
		"$DIR/attach/err" || :
	[ "$rc" -eq 0 ] || mode_fail "evil-target exited $rc"
	! grep -q Sanitizer "$DIR/target.log" || mode_fail "sanitizer report in evil-target's log"

	echo "protection: mode=$name target=\"$outcome\" refused=$refused" \
		"connections_lost=$lost data=\"$diff\" initiator=\"${line#*: }\"" \
		"result=$RESULT${WHY[*]:+ (${WHY[*]})}"
	[ "$RESULT" = ok ] || FAILED+=("$name")
}

iser_setup_rxe
protect stale-stag
protect past-length
protect send-ring
protect read-after-response
protect past-length --persistent
[ "${#FAILED[@]}" -eq 0 ] || die "not confined: ${FAILED[*]}"
