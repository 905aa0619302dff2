#!/usr/bin/env bash
# Scripting at scale, as a CI host does it: 64 attachments of one tgtd
# target made in parallel (each its own session and NBD socket), every one
# answering; then one `iser-detach --all`. Then CYCLES (default 1000)
# sequential cycles of attach, a first read, detach. Every exit status and
# line of output is checked, and nothing is left behind: no process, no
# state file, no socket, no session on the target, no file descriptor of
# ours. bench/attach-bench.sh times the same cycles against qemu-nbd.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

requires nbdinfo qemu-io
IQN=iqn.2026-11.org.iser-attach.test:scale
PARALLEL=${PARALLEL:-64}
CYCLES=${CYCLES:-1000}
nbd_requires
tgt_simple_target "$IQN" 16
fds_before=$(ls /proc/$$/fd | wc -l)

sessions()
{
	tgt_adm --mode conn --op show --tid 1 | grep -c "Connection" || :
}

# nothing_left WHAT: no attachment, process, state or socket remains.
nothing_left()
{
	local pid

	[ -z "$(ls -A "$ISER_ATTACH_RUNDIR")" ] ||
		die "$1: left in the state directory: $(ls -A "$ISER_ATTACH_RUNDIR")"
	for pid in "${pids[@]}"; do
		process_gone "$pid" || die "$1: process $pid is still there"
	done
	[ -z "$(find "$TGT_TMPDIR" -maxdepth 1 -name '*.sock')" ] ||
		die "$1: sockets left: $(find "$TGT_TMPDIR" -maxdepth 1 -name '*.sock')"
	no_sessions()
	{
		[ "$(sessions)" -eq 0 ]
	}
	wait_until 60 "the target to see every session logged out" no_sessions
}

# In parallel: each iser-attach returns once its export serves.
attach_pids=()
for ((i = 0; i < PARALLEL; i++)); do
	"$ISER_ATTACH" --transport tcp --socket "$TGT_TMPDIR/p$i.sock" "$TGT_PORTAL" "$IQN" \
		>"$TGT_TMPDIR/p$i.out" 2>"$TGT_TMPDIR/p$i.err" &
	attach_pids+=($!)
done
for ((i = 0; i < PARALLEL; i++)); do
	wait "${attach_pids[$i]}" || die "attach $i exited $?: $(cat "$TGT_TMPDIR/p$i.err")"
	[ "$(cat "$TGT_TMPDIR/p$i.out")" = "nbd+unix:///?socket=$TGT_TMPDIR/p$i.sock" ] ||
		die "attach $i printed '$(cat "$TGT_TMPDIR/p$i.out")'"
done
json=$("$top_builddir/iser-list" --json)
[ "$(grep -o '"export"' <<<"$json" | wc -l)" -eq "$PARALLEL" ] ||
	die "iser-list does not show $PARALLEL attachments: $json"
mapfile -t pids < <(grep -o '"pid": [0-9]*' <<<"$json" | cut -d' ' -f2)
[ "${#pids[@]}" -eq "$PARALLEL" ] || die "not one serving process per attachment"
[ "$(sessions)" -eq "$PARALLEL" ] || die "the target has $(sessions) sessions, not $PARALLEL"
for ((i = 0; i < PARALLEL; i += 7)); do
	[ "$(nbdinfo --size "nbd+unix:///?socket=$TGT_TMPDIR/p$i.sock")" -eq $((16 << 20)) ] ||
		die "attachment $i does not serve"
done
out=$("$ISER_DETACH" --all) || die "iser-detach --all exited $?: $out"
[ "$(grep -c "^detached " <<<"$out")" -eq "$PARALLEL" ] ||
	die "iser-detach --all did not detach all $PARALLEL: $out"
nothing_left "after iser-detach --all"

# In sequence: attach, first read, detach.
pids=()
for ((i = 0; i < CYCLES; i++)); do
	sock=$TGT_TMPDIR/c.sock
	out=$("$ISER_ATTACH" --transport tcp --socket "$sock" "$TGT_PORTAL" "$IQN") ||
		die "cycle $i: attach exited $?"
	[ "$out" = "nbd+unix:///?socket=$sock" ] || die "cycle $i: attach printed '$out'"
	pids+=("$(attachment_field pid)")
	qemu-io -f raw -c "read 0 4k" "$out" | grep -q "^read 4096/4096" || die "cycle $i: no read"
	out=$("$ISER_DETACH" "$sock") || die "cycle $i: detach exited $?"
	[ "$out" = "detached $sock" ] || die "cycle $i: detach printed '$out'"
done
nothing_left "after $CYCLES cycles"
[ "$(ls /proc/$$/fd | wc -l)" -eq "$fds_before" ] || die "file descriptors of the test leaked"
