#!/usr/bin/env bash
# A LUN that is NOT READY for a while (ASYMMETRIC ACCESS STATE TRANSITION,
# as LIO answers while an ALUA group changes state): evil-target refuses
# the first READs and WRITEs so. (1) Once: the first 6 commands of a
# verify run meet it, are sent again after a growing delay, and the data
# compares; the retries are counted, no error. (2) For good (every READ
# and WRITE, on every connection): a read fails after its bounded retries
# with the sense in words, and no hang.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
WORK=$(mktemp -d /dev/shm/isa-not-ready.XXXXXX)
cleanup_fn rm -rf "$WORK"
source "$top_srcdir/tests/evil-common.sh"
[ -x "$EVIL" ] || skip "$EVIL not built"

# evil_done: the target exits 0: it saw nothing wrong.
evil_done()
{
	local rc=0

	kill "$EVIL_PID" 2>/dev/null || :
	wait "$EVIL_PID" || rc=$?
	EVIL_PID=
	# SIGTERM ends a --persistent target; anything else is a violation.
	[ "$rc" -eq 0 ] || [ "$rc" -eq 143 ] || die "evil-target exited $rc: $(cat "$WORK/none.log")"
}

# (1) The first 6 READs and WRITEs.
evil_start none --not-ready 6 --persistent
out=$(expect_ok_with "compared: OK" "$ISA_IO" --transport tcp --qd 1 --size 256k --max-io 64k \
	--seed 7 "$EVIL_PORTAL" "$EVIL_IQN" verify)
echo "$out"
grep -q "retries 6, aborts 0, errors 0" <<<"$out" || die "the retries were not counted: $out"
[ "$(grep -c "NOT READY, ASYMMETRIC ACCESS STATE TRANSITION" "$WORK/none.log")" -eq 6 ] ||
	die "the target did not refuse 6 commands: $(cat "$WORK/none.log")"
evil_done

# (2) Every READ and WRITE: the read gives up with the reason.
evil_start none --not-ready -1 --persistent
expect_fail_with "logical unit not accessible, asymmetric access state transition" \
	"$ISA_IO" --transport tcp --offset 0 --length 4096 --out "$WORK/read.out" \
	"$EVIL_PORTAL" "$EVIL_IQN" read
[ "$(grep -c "NOT READY, ASYMMETRIC ACCESS STATE TRANSITION" "$WORK/none.log")" -eq 11 ] ||
	die "not 1 try and 10 retries: $(grep -c "NOT READY" "$WORK/none.log")"
evil_done
