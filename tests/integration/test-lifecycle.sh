#!/usr/bin/env bash
# The attachment life cycle as scripts use it: 50 attach/detach cycles
# leave no process, state file, socket or iSCSI session behind and do not
# grow the fds or memory of an attachment that stays; attaching what is
# attached prints the existing export; iser-list --json tells what is
# attached; every error case has its exit status and message.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
requires nbdinfo python3

IQN=iqn.2026-11.org.iser-attach.test:lifecycle
IQN_CHAP=iqn.2026-11.org.iser-attach.test:lifecycle-chap
start_tgtd
tgt_simple_target "$IQN" 16
tgt_add_lun 1 2 8
tgt_add_target 2 "$IQN_CHAP"
tgt_add_lun 2 1 8
tgt_bind_all 2
tgt_add_chap 2 lc-user lc-secret-0123

ATTACH=("$ISER_ATTACH" --transport tcp)
stay=$TGT_TMPDIR/stay.sock
cycle=$TGT_TMPDIR/cycle.sock

# The attachment that stays for the whole test: LUN 2.
uri=$("${ATTACH[@]}" --lun 2 "$TGT_PORTAL" "$IQN" --socket "$stay")
[ "$uri" = "nbd+unix:///?socket=$stay" ] || die "attach printed '$uri'"
cleanup_fn "$ISER_DETACH" --quiet --all
stay_pid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["pid"])' \
	< <("$top_builddir/iser-list" --json))
kill -0 "$stay_pid" || die "no serving process $stay_pid"

fds()
{
	find "/proc/$1/fd" -mindepth 1 | wc -l
}
rss_kib()
{
	sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"
}
sessions()
{
	tgt_adm --mode target --op show | grep -c "I_T nexus:" || :
}

nbdinfo --size "nbd+unix:///?socket=$stay" >/dev/null
fds_before=$(fds "$stay_pid")
rss_before=$(rss_kib "$stay_pid")
sessions_before=$(sessions)

for ((i = 0; i < 50; i++)); do
	uri=$("${ATTACH[@]}" --lun 1 "$TGT_PORTAL" "$IQN" --socket "$cycle")
	[ "$uri" = "nbd+unix:///?socket=$cycle" ] || die "cycle $i: attach printed '$uri'"
	[ "$(nbdinfo --size "$uri")" = 16777216 ] || die "cycle $i: wrong size"
	[ "$(nbdinfo --size "nbd+unix:///?socket=$stay")" = 8388608 ] ||
		die "cycle $i: the staying export answers wrong"
	[ "$("$ISER_DETACH" "$cycle")" = "detached $cycle" ] || die "cycle $i: detach"
	[ ! -e "$cycle" ] || die "cycle $i: socket left behind"
done

# The scripted form of detach.
"${ATTACH[@]}" --lun 1 "$TGT_PORTAL" "$IQN" --socket "$cycle" >/dev/null
[ "$("$ISER_DETACH" --json "$cycle")" = "[\"$cycle\"]" ] || die "iser-detach --json"

fds_after=$(fds "$stay_pid")
rss_after=$(rss_kib "$stay_pid")
echo "staying attachment: fds $fds_before -> $fds_after, RSS $rss_before -> $rss_after KiB"
[ "$fds_after" -eq "$fds_before" ] || die "fds grew: $fds_before -> $fds_after"
# A sanitizer build keeps freed memory in quarantine; judge memory only without it.
if ! grep -q "__asan_init" "$ISER_ATTACH"; then
	[ "$((rss_after - rss_before))" -lt 2048 ] ||
		die "memory grew: $rss_before -> $rss_after KiB"
fi
[ "$(sessions)" -eq "$sessions_before" ] || die "iSCSI sessions left behind"
[ "$(find "$ISER_ATTACH_RUNDIR" -name '*.state' | wc -l)" -eq 1 ] ||
	die "state files left: $(ls "$ISER_ATTACH_RUNDIR")"

# Attaching what is attached: the same export again, no new process.
again=$("${ATTACH[@]}" --lun 2 "$TGT_PORTAL" "$IQN" --socket "$stay")
[ "$again" = "nbd+unix:///?socket=$stay" ] || die "idempotent attach printed '$again'"
[ "$(find "$ISER_ATTACH_RUNDIR" -name '*.state' | wc -l)" -eq 1 ] ||
	die "the idempotent attach started another process"

# iser-list --json says what is attached.
"$top_builddir/iser-list" --json | python3 -c '
import json, sys
stay, target, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
lst = json.load(sys.stdin)
assert len(lst) == 1, lst
a = lst[0]
assert a["export"] == stay and a["kind"] == "socket", a
assert a["target"] == target and a["lun"] == 2 and a["pid"] == pid, a
assert a["state"] == "logged-in" and a["transport"] == "tcp", a
assert a["size"] == 8388608 and a["block_size"] == 512, a
assert a["copied_bytes"] == 0 and a["errors"] == 0, a
assert a["commands"] > 0 and a["reconnects"] == 0, a
' "$stay" "$IQN" "$stay_pid"

# Each failure: its exit status and what it says.
expect_status()
{
	local want=$1 text=$2 rc=0
	shift 2
	"$@" >"$TGT_TMPDIR/out" 2>"$TGT_TMPDIR/err" || rc=$?
	[ "$rc" -eq "$want" ] || die "'$*' exited $rc, expected $want: $(cat "$TGT_TMPDIR/err")"
	grep -qF -- "$text" "$TGT_TMPDIR/err" || die "'$*' said: $(cat "$TGT_TMPDIR/err")"
	! grep -q Sanitizer "$TGT_TMPDIR/err" || die "sanitizer report: $(cat "$TGT_TMPDIR/err")"
}
free_port=$((TGT_PORT + 1))
while ! _port_free "$free_port"; do free_port=$((free_port + 1)); done
x=$TGT_TMPDIR/x.sock
expect_status 2 "choose one export" "${ATTACH[@]}" "$TGT_PORTAL" "$IQN" --socket "$x" --tcp 127.0.0.1:1
expect_status 2 "expected PORTAL and IQN" "${ATTACH[@]}" "$TGT_PORTAL"
expect_status 2 "--command-timeout must be between 1 and 3600 seconds" "${ATTACH[@]}" \
	--command-timeout -1 "$TGT_PORTAL" "$IQN" --socket "$x"
expect_status 2 "--replacement-timeout must be between 0 and 86400 seconds" "${ATTACH[@]}" \
	--replacement-timeout -5 "$TGT_PORTAL" "$IQN" --socket "$x"
expect_status 3 "Connection refused" "${ATTACH[@]}" "127.0.0.1:$free_port" "$IQN" --socket "$x"
expect_status 4 "authentication failed" "${ATTACH[@]}" "$TGT_PORTAL" "$IQN_CHAP" --socket "$x"
expect_status 5 "target not found" "${ATTACH[@]}" "$TGT_PORTAL" "$IQN-nope" --socket "$x"
expect_status 5 "LUN 7" "${ATTACH[@]}" --lun 7 "$TGT_PORTAL" "$IQN" --socket "$x"
expect_status 9 "no RDMA device" "$ISER_ATTACH" --transport iser "$TGT_PORTAL" "$IQN" --socket "$x"
expect_status 5 "nothing is attached as $x" "$ISER_DETACH" "$x"
[ ! -e "$x" ] || die "a failed attach left its socket"
[ "$(find "$ISER_ATTACH_RUNDIR" -name '*.state' | wc -l)" -eq 1 ] || die "failed attaches left state"

# A stale attachment (its process was killed) is cleaned up by iser-detach.
kill -9 "$stay_pid"
stay_gone()
{
	! kill -0 "$stay_pid" 2>/dev/null
}
wait_until 60 "the killed iser-attach $stay_pid to be gone" stay_gone
[ "$("$ISER_DETACH" "$stay")" = "removed stale $stay (process $stay_pid is gone)" ] ||
	die "stale attachment not cleaned"
[ "$(find "$ISER_ATTACH_RUNDIR" -name '*.state' | wc -l)" -eq 0 ] || die "stale state kept"
