#!/usr/bin/env bash
# Session recovery under load: while fio writes and verifies through the
# NBD export, (1) the target closes our connection, (2) tgtd is killed
# with SIGKILL and started again on the same port and LUN file. iser-attach
# logs in again and resends what was in flight; fio sees a delay, never an
# error, and every block verifies.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
requires fio

IQN=iqn.2026-11.org.iser-attach.test:recovery
start_tgtd
tgt_simple_target "$IQN" 64
sock=$TGT_TMPDIR/nbd.sock
log=$TGT_TMPDIR/attach.log
uri="nbd+unix:///?socket=$sock"

"$ISER_ATTACH" --foreground --transport tcp --replacement-timeout 60 \
	"$TGT_PORTAL" "$IQN" --socket "$sock" >"$TGT_TMPDIR/uri" 2>"$log" &
attach_pid=$!
stop_attach()
{
	kill "$1" 2>/dev/null || :
}
cleanup_fn stop_attach "$attach_pid"
attached()
{
	[ -s "$TGT_TMPDIR/uri" ] || ! kill -0 "$attach_pid" 2>/dev/null
}
wait_until 120 "iser-attach to print its export" attached
[ "$(cat "$TGT_TMPDIR/uri")" = "$uri" ] || die "attach failed: $(cat "$log")"

# tgtd again on the same port, control socket and LUN file.
restart_tgtd()
{
	tgtd_crash_restart --attached
	tgt_simple_target "$IQN" 64
}

# run_fio NAME: fio verify in the background; its rate limit is a ceiling,
# so the 48 MiB take at least 4 s each way on any machine, and the fault
# comes once it has moved data (wait_io_moving): in the middle of it.
run_fio()
{
	fio --name=recovery --ioengine=nbd --uri="$uri" --rw=randwrite --bs=64k \
		--iodepth=16 --size=48M --rate=12m --verify=crc32c --verify_state_save=0 --do_verify=1 \
		--verify_fatal=1 --output="$TGT_TMPDIR/fio-$1.out" &
	fio_pid=$!
}

# (1) The target drops our connection in the middle of the writes.
run_fio close
wait_io_moving "$fio_pid" fio
tgt_adm --mode conn --op show --tid 1 | sed -n 's/.*Connection: \([0-9]*\).*/\1/p' |
	while read -r cid; do
		sid=$(tgt_adm --mode conn --op show --tid 1 | sed -n 's/.*Session: \([0-9]*\).*/\1/p' | head -n 1)
		tgt_adm --mode conn --op delete --tid 1 --sid "$sid" --cid "$cid" || :
	done
wait "$fio_pid" || die "fio failed after the target closed the connection: $(cat "$TGT_TMPDIR/fio-close.out")"
grep -q "err= 0" "$TGT_TMPDIR/fio-close.out" || die "fio errors: $(cat "$TGT_TMPDIR/fio-close.out")"

# (2) tgtd dies and comes back.
run_fio restart
wait_io_moving "$fio_pid" fio
restart_tgtd
wait "$fio_pid" || die "fio failed across a tgtd restart: $(cat "$TGT_TMPDIR/fio-restart.out")"
grep -q "err= 0" "$TGT_TMPDIR/fio-restart.out" || die "fio errors: $(cat "$TGT_TMPDIR/fio-restart.out")"

# The stall a client saw: fio's longest completion latency in each phase.
for phase in close restart; do
	echo "longest stall ($phase): $(grep -m1 -o 'clat ([um]sec): min=[^,]*, max=[^,]*' \
		"$TGT_TMPDIR/fio-$phase.out")"
done

reconnects=$(attachment_field reconnects)
[ "$reconnects" -ge 2 ] || die "expected 2 reconnects, counted $reconnects; log: $(cat "$log")"
grep -q "resending [1-9][0-9]* commands" "$log" ||
	die "no command was in flight at a fault: $(cat "$log")"

# What the last fio wrote is on the target, and detaching is clean.
"$ISER_DETACH" "$sock" | grep -qx "detached $sock" || die "detach failed"
wait "$attach_pid" || die "iser-attach exited with an error: $(cat "$log")"
grep -q "reconnects 2" "$log" || grep -q "reconnects [2-9]" "$log" ||
	die "statistics do not count the reconnects: $(cat "$log")"
! grep -q "Sanitizer" "$log" || die "sanitizer report: $(cat "$log")"
cat "$log"
