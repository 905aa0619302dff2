#!/usr/bin/env bash
# Multipath: a given path that is down at attach joins later. (a) The
# second tgtd is not running: the attach succeeds with a warning naming the
# path and why, the path says "joining" and carries nothing; a pattern is
# written through the first path; tgtd comes back with the target, the
# path logs in in the background, is checked (VPD 83) and "joined"; it then
# carries reads and writes, and the pattern reads back the same. (b) The
# first portal is down and the second up: the second is path 1; the late
# path's tgtd comes back with another LUN (another VPD 83 designator): it is
# refused with both designators in the log, iser-list says "refused", it
# never carries I/O and the data reads back the same. (c) Every path down:
# the attach fails naming each path and why.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
requires nbdcopy

IQN=iqn.2026-11.org.iser-attach.test:multipath-join
ISER_LIST=$top_builddir/iser-list
start_tgtd
tgt_simple_target "$IQN" 64
lun_file=$(tgt_lun_file 1 1)
sock=$TGT_TMPDIR/nbd.sock
uri="nbd+unix:///?socket=$sock"

show_logs()
{
	[ "$_test_status" -eq 0 ] || tail -n 50 "$TGT_TMPDIR"/*/err >&2
}
cleanup_fn show_logs

path_in_state()
{
	[ "$(path_field "$1" state)" = "$2" ]
}

path_bytes()
{
	echo $(($(path_field "$1" bytes_read) + $(path_field "$1" bytes_written)))
}

# attach NAME PORTALS [OPTIONS...]: attach in the foreground, exporting $sock.
attach()
{
	local name=$1 portals=$2

	shift 2
	attach_start "$TGT_TMPDIR/$name" 60 "$ISER_ATTACH" --foreground --transport tcp \
		--replacement-timeout 60 "$@" "$portals" "$IQN" --socket "$sock"
	[ "$ATTACH_LINE" = "$uri" ] || die "attach printed '$ATTACH_LINE'"
}

detach()
{
	local rc

	"$ISER_DETACH" "$sock" | grep -qx "detached $sock" || die "detach failed"
	rc=$(attach_wait_exit "$TGT_TMPDIR/$1") || die "iser-attach did not exit"
	[ "$rc" -eq 0 ] || die "iser-attach exited $rc: $(cat "$TGT_TMPDIR/$1/err")"
	! grep -q Sanitizer "$TGT_TMPDIR/$1/err" || die "sanitizer: $(cat "$TGT_TMPDIR/$1/err")"
}

# second_tgtd_down: the second tgtd is killed; its port refuses connections.
second_tgtd_down()
{
	kill -9 "$TGT2_PID"
	wait "$TGT2_PID" 2>/dev/null || :
}

# second_tgtd_up [PARAMS]: the second tgtd again, serving the same LUN file
# as target 1 LUN 1 (tgt_add_lun_file PARAMS: another designator).
second_tgtd_up()
{
	with_second_tgtd tgtd_start_again
	with_second_tgtd tgt_add_target 1 "$IQN"
	with_second_tgtd tgt_add_lun_file 1 1 "$lun_file" "$@"
	with_second_tgtd tgt_bind_all 1
}

start_second_tgtd
second_tgtd_down

# (a) The second path is down at attach, and joins once its tgtd is back.
attach late "$TGT_PORTAL,$TGT2_PORTAL"
log=$TGT_TMPDIR/late/err
grep -qF "path 2 at $TGT2_PORTAL is down at attach: " "$log" ||
	die "no warning names the path down: $(cat "$log")"
grep -qF "it logs in in the background and joins once its LUN is shown to be the same" "$log" ||
	die "the warning does not say what happens next: $(cat "$log")"
path_in_state 2 joining || die "path 2 is $(path_field 2 state), not joining"
[ "$(path_field 1 portal)" = "$TGT_PORTAL" ] || die "path 1 is not $TGT_PORTAL"
head -c 8M /dev/urandom >"$TGT_TMPDIR/pattern"
nbdcopy "$TGT_TMPDIR/pattern" "$uri"
[ "$(path_bytes 2)" -eq 0 ] || die "path 2 carried I/O before it joined"
"$ISER_LIST" 2>/dev/null | grep -q "path 2 $TGT2_PORTAL joining" ||
	die "iser-list does not show path 2 joining: $("$ISER_LIST")"
second_tgtd_up
wait_for_line 60 "path 2 to $TGT2_PORTAL joined \(its LUN 1 has VPD 83 designator .*, as path 1 at $TGT_PORTAL\): 2 of 2 paths up" "$log"
path_in_state 2 logged-in || die "path 2 is $(path_field 2 state) after it joined"
[ "$(tgt_adm --mode conn --op show --tid 1 | grep -c '^Session:')" -eq 1 ] ||
	die "the first tgtd should have one session"
nbdcopy "$uri" - | head -c 8M | cmp - "$TGT_TMPDIR/pattern" || die "read back differs"
nbdcopy "$TGT_TMPDIR/pattern" "$uri"
[ "$(path_field 2 bytes_read)" -gt 0 ] || die "path 2 read nothing after it joined"
[ "$(path_field 2 bytes_written)" -gt 0 ] || die "path 2 wrote nothing after it joined"
head -c 8M "$lun_file" | cmp - "$TGT_TMPDIR/pattern" || die "the LUN file differs"
[ "$(path_field 2 reconnects)" -eq 0 ] || die "its first login counts as a reconnect"
[ "$(attachment_field errors)" -eq 0 ] || die "the attachment counts errors"
detach late

# (b) The first portal down: the second one is path 1. The late path turns
# out to reach another LUN: refused, and I/O goes on as before.
second_tgtd_down
attach refused "$TGT2_PORTAL,$TGT_PORTAL"
log=$TGT_TMPDIR/refused/err
[ "$(path_field 1 portal)" = "$TGT_PORTAL" ] || die "path 1 is not $TGT_PORTAL, the path up"
grep -qF "path 2 at $TGT2_PORTAL is down at attach: " "$log" ||
	die "no warning names the path down: $(cat "$log")"
second_tgtd_up scsi_id=another-lun,scsi_sn=another
id1=$("$ISA_IO" "$TGT_PORTAL" "$IQN" info | sed -n 's/^id: //p')
id2=$("$ISA_IO" "$TGT2_PORTAL" "$IQN" info | sed -n 's/^id: //p')
[ -n "$id1" ] && [ -n "$id2" ] && [ "$id1" != "$id2" ] || die "designators '$id1' and '$id2'"
wait_for_line 60 "path 2 at $TGT2_PORTAL refused: its LUN 1 has VPD 83 designator $id2, but path 1 at $TGT_PORTAL has $id1: not the same LUN; it is left out" "$log"
wait_until 10 "path 2 to say refused" path_in_state 2 refused
"$ISER_LIST" 2>/dev/null | grep -q "path 2 $TGT2_PORTAL refused" ||
	die "iser-list does not show path 2 refused: $("$ISER_LIST")"
nbdcopy "$uri" - | head -c 8M | cmp - "$TGT_TMPDIR/pattern" || die "read back differs"
head -c 4M /dev/urandom >"$TGT_TMPDIR/pattern2"
nbdcopy "$TGT_TMPDIR/pattern2" "$uri"
nbdcopy "$uri" - | head -c 4M | cmp - "$TGT_TMPDIR/pattern2" || die "read back differs"
[ "$(path_field 2 bytes_read)" -eq 0 ] && [ "$(path_field 2 bytes_written)" -eq 0 ] ||
	die "the refused path carried I/O"
path_in_state 2 refused || die "path 2 is $(path_field 2 state), not refused"
[ "$(with_second_tgtd tgt_adm --mode conn --op show --tid 1 | grep -c '^Session:')" -eq 0 ] ||
	die "the refused path stays logged in"
[ "$(attachment_field errors)" -eq 0 ] || die "the attachment counts errors"
detach refused

# (d) The late path's tgtd comes back requiring CHAP, which we do not
# offer: an authentication failure is not retried, the path is left out.
second_tgtd_down
attach auth "$TGT_PORTAL,$TGT2_PORTAL"
log=$TGT_TMPDIR/auth/err
# CHAP is required before the target is bound to any initiator: a login
# between the two would get in without it.
with_second_tgtd tgtd_start_again
with_second_tgtd tgt_add_target 1 "$IQN"
with_second_tgtd tgt_add_lun_file 1 1 "$lun_file"
with_second_tgtd tgt_add_chap 1 someone some-secret-12
with_second_tgtd tgt_bind_all 1
wait_for_line 60 "gave up logging in to $TGT2_PORTAL: .*\(authentication failures are not retried\)" "$log"
wait_until 10 "path 2 to say failed" path_in_state 2 failed
nbdcopy "$uri" - | head -c 4M | cmp - "$TGT_TMPDIR/pattern2" || die "read back differs"
attempts=$(count_lines "reconnect to $TGT2_PORTAL failed" "$log")
[ "$(path_bytes 2)" -eq 0 ] || die "the path that failed authentication carried I/O"
detach auth
[ "$(count_lines "reconnect to $TGT2_PORTAL failed" "$log")" -eq "$attempts" ] ||
	die "the path went on logging in after the authentication failure"
with_second_tgtd tgt_adm --mode account --op unbind --tid 1 --user someone

# (c) Every path down at attach: the attach fails, naming each.
second_tgtd_down
expect_fail_with "no path is up: path 1 at $TGT2_PORTAL: " \
	"$ISER_ATTACH" --foreground --transport tcp --paths-per-portal 2 "$TGT2_PORTAL" "$IQN" \
	--socket "$sock"
expect_fail_with "; path 2 at $TGT2_PORTAL: " \
	"$ISER_ATTACH" --foreground --transport tcp --paths-per-portal 2 "$TGT2_PORTAL" "$IQN" \
	--socket "$sock"
[ ! -e "$sock" ] || die "the failed attach left its socket"
