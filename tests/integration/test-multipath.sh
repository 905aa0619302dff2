#!/usr/bin/env bash
# Multipath: one LUN through several sessions. (a) Two portals of one
# tgtd: fio verify through the NBD export, I/O on both paths. (f) Round
# robin spreads reads evenly over both. (e) --paths-per-portal 2 on one
# portal makes two sessions at the target; with that tgtd killed and
# restarted under fio verify, both paths come back, no verify error. (d) A
# second tgtd whose LUN names another VPD 83 designator is refused, with
# both designators in the message. (b) A second tgtd on the same LUN file is killed with
# SIGKILL under fio verify: I/O goes on through the first, no verify
# error, and the path rejoins once tgtd is back. (c) That tgtd comes back
# without the target for a while, refusing every login: I/O goes on, and
# the path rejoins once the target is there again. (g) With every tgtd
# gone past the replacement timeout, requests fail with an I/O error.
# (h) The FUSE file goes through both paths too.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
requires fio nbdcopy qemu-io

IQN=iqn.2026-11.org.iser-attach.test:multipath
ISER_LIST=$top_builddir/iser-list
start_tgtd --two-portals
tgt_simple_target "$IQN" 64
lun_file=$(tgt_lun_file 1 1)
sock=$TGT_TMPDIR/nbd.sock
uri="nbd+unix:///?socket=$sock"

# The attachments' logs go to the test's log when it fails.
show_logs()
{
	[ "$_test_status" -eq 0 ] || tail -n 50 "$TGT_TMPDIR"/*/err >&2
}
cleanup_fn show_logs

path_in_state()
{
	[ "$(path_field "$1" state)" = "$2" ]
}

path_busy()
{
	[ "$(path_field "$1" outstanding)" -gt 0 ]
}

# wait_path_state SECONDS N STATE: until path N says STATE.
wait_path_state()
{
	wait_until "$1" "path $2 to be $3" path_in_state "$2" "$3"
}

_path_moved()
{
	local now

	kill -0 "$4" 2>/dev/null || die "fio ended before path $1 moved $3 bytes"
	now=$(($(path_field "$1" bytes_read) + $(path_field "$1" bytes_written))) || return 1
	[ "$now" -ge $(($2 + $3)) ]
}

# wait_path_moving N PID [BYTES]: until path N has moved BYTES (1 MiB) more
# while the I/O of PID runs.
wait_path_moving()
{
	local base

	base=$(($(path_field "$1" bytes_read) + $(path_field "$1" bytes_written))) ||
		die "iser-list cannot say what path $1 moved"
	wait_until 120 "path $1 to move ${3:-1048576} bytes" _path_moved "$1" "$base" \
		"${3:-1048576}" "$2"
}

# thread_names NAME: the names of the threads of attachment NAME, sorted.
thread_names()
{
	cat /proc/"$(cat "$TGT_TMPDIR/$1/child")"/task/*/comm | sort | tr '\n' ' '
}

# attach NAME PORTALS [OPTIONS...]: attach in the foreground (DIR
# $TGT_TMPDIR/NAME), exporting $sock.
attach()
{
	local name=$1 portals=$2

	shift 2
	attach_start "$TGT_TMPDIR/$name" 60 "$ISER_ATTACH" --foreground --transport tcp \
		--replacement-timeout 60 "$@" "$portals" "$IQN" --socket "$sock"
	[ "$ATTACH_LINE" = "$uri" ] || die "attach printed '$ATTACH_LINE'"
}

# detach NAME: detach, and the process must end cleanly.
detach()
{
	local rc

	"$ISER_DETACH" "$sock" | grep -qx "detached $sock" || die "detach failed"
	rc=$(attach_wait_exit "$TGT_TMPDIR/$1") || die "iser-attach did not exit"
	[ "$rc" -eq 0 ] || die "iser-attach exited $rc: $(cat "$TGT_TMPDIR/$1/err")"
	! grep -q Sanitizer "$TGT_TMPDIR/$1/err" || die "sanitizer: $(cat "$TGT_TMPDIR/$1/err")"
}

# run_fio NAME SIZE RATE: fio verify in the background; its rate is a
# ceiling, so it lasts at least SIZE/RATE each way on any machine.
run_fio()
{
	fio --name="$1" --ioengine=nbd --uri="$uri" --rw=randwrite --bs=64k --iodepth=16 \
		--size="$2" --rate="$3" --verify=crc32c --verify_state_save=0 --do_verify=1 \
		--verify_fatal=1 --output="$TGT_TMPDIR/fio-$1.out" &
	fio_pid=$!
}

fio_clean()
{
	wait "$fio_pid" || die "fio $1 failed: $(cat "$TGT_TMPDIR/fio-$1.out")"
	grep -q "err= 0" "$TGT_TMPDIR/fio-$1.out" || die "fio $1 errors: $(cat "$TGT_TMPDIR/fio-$1.out")"
	echo "longest stall ($1): $(grep -m1 -o 'clat ([um]sec): min=[^,]*, max=[^,]*' \
		"$TGT_TMPDIR/fio-$1.out")"
}

# (a) Two portals, the default policy: fio verify, with I/O on both paths.
attach two "$TGT_PORTAL,$TGT_PORTAL2"
[ "$(path_field 1 portal)" = "$TGT_PORTAL" ] || die "path 1 is not $TGT_PORTAL"
[ "$(path_field 2 portal)" = "$TGT_PORTAL2" ] || die "path 2 is not $TGT_PORTAL2"
[ "$(tgt_adm --mode conn --op show --tid 1 | grep -c '^Session:')" -eq 2 ] ||
	die "expected 2 sessions at the target"
# Path 1 is served by the main thread, path 2 by an I/O thread of its own.
[[ "$(thread_names two)" == *"path-2 "* ]] || die "no thread for path 2: $(thread_names two)"
run_fio two 16M 16m
fio_clean two
for p in 1 2; do
	[ "$(path_field $p bytes_written)" -gt 0 ] || die "path $p wrote nothing"
	[ "$(path_field $p bytes_read)" -gt 0 ] || die "path $p read nothing"
	# fio's rate makes it last seconds: its I/O is in the 10 s IOPS window.
	[ "$(path_field $p iops)" -gt 0 ] || die "path $p shows no IOPS: $("$ISER_LIST" --json)"
done
"$ISER_LIST" | grep -q "^  path 2 $TGT_PORTAL2 logged-in outstanding [0-9]* iops [0-9]* " ||
	die "iser-list has no line for path 2: $("$ISER_LIST")"
detach two

# (f) Round robin (from iser.conf): a sequential read alternates between the paths.
conf=$TGT_TMPDIR/rr.conf
printf '[global]\ninitiator_name = %s\npath_policy = round-robin\n' \
	iqn.2026-11.org.iser-attach.test:initiator >"$conf"
attach rr "$TGT_PORTAL,$TGT_PORTAL2" --config "$conf"
head -c 8M /dev/urandom >"$TGT_TMPDIR/pattern"
nbdcopy "$TGT_TMPDIR/pattern" "$uri"
r1=$(path_field 1 bytes_read)
r2=$(path_field 2 bytes_read)
nbdcopy "$uri" - | head -c 8M | cmp - "$TGT_TMPDIR/pattern" || die "read back differs"
r1=$(($(path_field 1 bytes_read) - r1))
r2=$(($(path_field 2 bytes_read) - r2))
echo "round robin: path 1 read $r1, path 2 read $r2"
[ $((r1 * 10)) -ge $(((r1 + r2) * 4)) ] && [ $((r2 * 10)) -ge $(((r1 + r2) * 4)) ] ||
	die "round robin did not spread the reads: $r1 and $r2"
head -c 8M "$lun_file" | cmp - "$TGT_TMPDIR/pattern" || die "the LUN file differs"
detach rr

expect_fail_with "unknown path policy 'fastest': use least-outstanding or round-robin" \
	"$ISER_ATTACH" --foreground --path-policy fastest "$TGT_PORTAL" "$IQN" --socket "$sock"
expect_fail_with "--paths-per-portal must be between 1 and 16" \
	"$ISER_ATTACH" --foreground --paths-per-portal 17 "$TGT_PORTAL" "$IQN" --socket "$sock"

# --all-portals with tgt: its SendTargets answer lists only the portal it
# was asked on (the second portal is found by LIO in the VM test).
attach all "$TGT_PORTAL" --all-portals
[ "$(tgt_adm --mode conn --op show --tid 1 | grep -c '^Session:')" -eq 1 ] ||
	die "--all-portals on tgt made more than one session"
! grep -q "SendTargets reports" "$TGT_TMPDIR/all/err" ||
	die "the asked portal was taken for another: $(cat "$TGT_TMPDIR/all/err")"
nbdcopy "$uri" - | head -c 8M | cmp - "$TGT_TMPDIR/pattern" || die "read back differs"
detach all

# (e) Two paths on one portal: two sessions at the target, each with its own ISID.
attach per-portal "$TGT_PORTAL" --paths-per-portal 2
[ "$(tgt_adm --mode conn --op show --tid 1 | grep -c '^Session:')" -eq 2 ] ||
	die "--paths-per-portal 2 did not make 2 sessions: $(tgt_adm --mode conn --op show --tid 1)"
[ "$(path_field 2 portal)" = "$TGT_PORTAL" ] || die "path 2 is not on $TGT_PORTAL"
[[ "$(thread_names per-portal)" == *"path-2 "* ]] ||
	die "no thread for path 2: $(thread_names per-portal)"
# Recorded for --resume, which makes the same paths.
state=$ISER_ATTACH_RUNDIR/$(cat "$TGT_TMPDIR/per-portal/child").state
grep -qx "paths_per_portal=2" "$state" || die "the state has no paths_per_portal=2: $(cat "$state")"
nbdcopy "$uri" - | head -c 8M | cmp - "$TGT_TMPDIR/pattern" || die "read back differs"
# Both paths die with their tgtd: requests wait for one to come back.
run_fio both 16M 4m
wait_io_moving "$fio_pid" fio
tgtd_crash_restart --attached
tgt_simple_target "$IQN" 64
wait_path_state 60 1 logged-in
wait_path_state 60 2 logged-in
fio_clean both
[ "$(attachment_field reconnects)" -ge 2 ] || die "expected both paths to reconnect"
[ "$(attachment_field errors)" -eq 0 ] || die "the attachment counts errors"
detach per-portal

# (h) The FUSE file spreads its requests over the paths the same way.
if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; then
	mnt=$TGT_TMPDIR/mnt
	mkdir -p "$mnt"
	unmount()
	{
		! mountpoint -q "$1" || fusermount3 -u "$1"
	}
	cleanup_fn unmount "$mnt"
	attach_start "$TGT_TMPDIR/fuse" 60 "$ISER_ATTACH" --foreground --transport tcp \
		"$TGT_PORTAL,$TGT_PORTAL2" "$IQN" --fuse "$mnt"
	head -c 4M /dev/urandom >"$TGT_TMPDIR/fuse-pattern"
	dd if="$TGT_TMPDIR/fuse-pattern" of="$ATTACH_LINE" bs=64k seek=256 oflag=direct \
		conv=notrunc,fsync status=none
	dd if="$ATTACH_LINE" bs=64k skip=256 count=64 iflag=direct status=none |
		cmp - "$TGT_TMPDIR/fuse-pattern" || die "the FUSE file read back differs"
	cmp <(tail -c +$((16 * 1048576 + 1)) "$lun_file" | head -c 4M) "$TGT_TMPDIR/fuse-pattern" ||
		die "the LUN file does not hold what the FUSE file wrote"
	for p in 1 2; do
		[ "$(path_field $p bytes_written)" -gt 0 ] || die "FUSE: path $p wrote nothing"
	done
	fusermount3 -u "$mnt"
	rc=$(attach_wait_exit "$TGT_TMPDIR/fuse") || die "the FUSE attachment did not end"
	[ "$rc" -eq 0 ] || die "the FUSE attachment exited $rc: $(cat "$TGT_TMPDIR/fuse/err")"
fi

# (d) A second tgtd on the same file, but its LUN names another designator.
# tgt derives a LUN's NAA designator from its target id and LUN number
# unless scsi_id is set: target 1 LUN 1 of either tgtd is the same LUN.
start_second_tgtd
with_second_tgtd tgt_add_target 1 "$IQN"
with_second_tgtd tgt_add_lun_file 1 1 "$lun_file" scsi_id=another-lun,scsi_sn=another
with_second_tgtd tgt_bind_all 1
id1=$("$ISA_IO" "$TGT_PORTAL" "$IQN" info | sed -n 's/^id: //p')
id2=$("$ISA_IO" "$TGT2_PORTAL" "$IQN" info | sed -n 's/^id: //p')
[ -n "$id1" ] && [ -n "$id2" ] && [ "$id1" != "$id2" ] || die "designators '$id1' and '$id2'"
rc=0
"$ISER_ATTACH" --foreground --transport tcp "$TGT_PORTAL,$TGT2_PORTAL" "$IQN" --socket "$sock" \
	>"$TGT_TMPDIR/refused.out" 2>"$TGT_TMPDIR/refused.err" || rc=$?
cat "$TGT_TMPDIR/refused.err"
[ "$rc" -eq 5 ] || die "a path to another LUN: exit $rc, expected 5"
grep -qF "path 2 at $TGT2_PORTAL refused: its LUN 1 has VPD 83 designator $id2, but path 1 at $TGT_PORTAL has $id1: not the same LUN" \
	"$TGT_TMPDIR/refused.err" || die "no clear refusal: $(cat "$TGT_TMPDIR/refused.err")"
! grep -q Sanitizer "$TGT_TMPDIR/refused.err" || die "sanitizer report"
[ ! -e "$sock" ] || die "the refused attach left its socket"
with_second_tgtd tgt_adm --mode logicalunit --op delete --tid 1 --lun 1
with_second_tgtd tgt_add_lun_file 1 1 "$lun_file"

# (b) Two tgtds on one LUN file; the second dies under fio verify.
attach crash "$TGT_PORTAL,$TGT2_PORTAL"
log=$TGT_TMPDIR/crash/err
run_fio crash 32M 4m
wait_path_moving 2 "$fio_pid"
# Stopped first, so that commands are in flight on the path when it dies.
kill -STOP "$TGT2_PID"
wait_until 30 "commands in flight on path 2" path_busy 2
kill -9 "$TGT2_PID"
wait "$TGT2_PID" 2>/dev/null || :
wait_path_state 30 2 recovering
# I/O goes on through the first path alone.
wait_path_moving 1 "$fio_pid"
with_second_tgtd tgtd_start_again
with_second_tgtd tgt_add_target 1 "$IQN"
with_second_tgtd tgt_add_lun_file 1 1 "$lun_file"
with_second_tgtd tgt_bind_all 1
wait_path_state 60 2 logged-in
wait_for_line 30 "path 2 to $TGT2_PORTAL rejoined" "$log"
wait_path_moving 2 "$fio_pid"
fio_clean crash
grep -q "path to $TGT2_PORTAL lost: [1-9][0-9]* commands sent again on the other paths" "$log" ||
	die "no failover in the log: $(cat "$log")"
[ "$(path_field 2 reconnects)" -ge 1 ] || die "path 2 counts no reconnect"
[ "$(path_field 1 connections_lost)" -eq 0 ] || die "path 1 lost its connection"

# (c) The second tgtd comes back without the target: every login is
# refused for a while, I/O goes on, then the target is back and so is the path.
run_fio persistent 64M 4m
wait_path_moving 2 "$fio_pid"
kill -9 "$TGT2_PID"
wait "$TGT2_PID" 2>/dev/null || :
with_second_tgtd tgtd_start_again
wait_path_state 30 2 recovering
# tgt without the target drops the connection of every login: two of them.
refused="reconnect to $TGT2_PORTAL failed"
refusals=$(count_lines "$refused" "$log")
wait_for_line 60 "$refused" "$log" $((refusals + 1))
wait_path_moving 1 "$fio_pid"
wait_path_moving 1 "$fio_pid"
path_in_state 2 recovering || die "path 2 logged in to a tgtd without the target"
with_second_tgtd tgt_add_target 1 "$IQN"
with_second_tgtd tgt_add_lun_file 1 1 "$lun_file"
with_second_tgtd tgt_bind_all 1
wait_path_state 60 2 logged-in
wait_path_moving 2 "$fio_pid"
fio_clean persistent
[ "$(path_field 2 reconnects)" -ge 2 ] || die "path 2 counts $(path_field 2 reconnects) reconnects"
[ "$(attachment_field errors)" -eq 0 ] || die "the attachment counts errors"
detach crash

# (g) Every path down past the replacement timeout: requests wait that long,
# then fail with an I/O error; the attachment says failed, and detaches.
attach gone "$TGT_PORTAL,$TGT2_PORTAL" --replacement-timeout 3
qemu-io -f raw -c "read 0 64k" "$uri" >/dev/null || die "the first read failed"
kill -9 "$TGT2_PID"
wait "$TGT2_PID" 2>/dev/null || :
wait_path_state 30 2 recovering
t0=$(date +%s%N)
kill -9 "$TGT_PID"
wait "$TGT_PID" 2>/dev/null || :
qemu-io -f raw -c "read 0 64k" "$uri" >"$TGT_TMPDIR/gone.out" 2>&1 || :
waited_ms=$((($(date +%s%N) - t0) / 1000000))
grep -q "Input/output error" "$TGT_TMPDIR/gone.out" ||
	die "the read did not fail with an I/O error: $(cat "$TGT_TMPDIR/gone.out")"
echo "the read failed $waited_ms ms after the last path's tgtd was killed"
[ "$waited_ms" -ge 3000 ] || die "the read failed before the replacement timeout"
expect_ok_with '"state": "failed"' "$ISER_LIST" --json >/dev/null || die "iser-list does not say failed"
grep -q "every path has been down for more than 3 s" "$TGT_TMPDIR/gone/err" ||
	die "no log line says why: $(cat "$TGT_TMPDIR/gone/err")"
detach gone
cat "$log" "$TGT_TMPDIR/gone/err"
