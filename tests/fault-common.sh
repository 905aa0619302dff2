# shellcheck shell=bash
#
# Shared by the fault-injection tests (tests/integration/test-fault-*.sh,
# tests/vm/test-fault-*.sh), sourced after tests/functions.sh:
#
#   fault_netns_setup              # a namespace and a veth pair into it
#   fault_netns_add_link           # (a second pair, for a second path)
#   start_tgtd --netns "$FAULT_NS" "$FAULT_NS_ADDR"
#   tgt_simple_target "$IQN" 64
#   fault_attach --transport tcp "$TGT_PORTAL" "$IQN"
#   fault_fio drop                 # fio verify=crc32c through the export
#   ...inject the fault...
#   fault_fio_wait drop            # zero verify errors, err=0
#   fault_report tcp link-drop-10s "$FIO_STALL_MS" "$(fault_reconnects)"
#
# Each test prints one line per fault in the same format, for the table
# of measured stalls in README.md:
#
#   fault-report: transport=tcp fault=link-drop-10s runs=1 verify_errors=0
#   longest_stall_ms=NNNN reconnects=N

# fault_netns_setup: a network namespace with one end of a veth pair,
# FAULT_NS_IF at FAULT_NS_ADDR, the other end FAULT_HOST_IF here at
# FAULT_HOST_ADDR, in a /30 of 10.98.0.0/16 that no interface uses yet.
# Names carry our PID so that parallel tests do not meet; the namespace
# (and with it the veth pair) is deleted at exit.
fault_netns_setup()
{
	requires ip
	FAULT_NS=isa-fault-$$
	ip netns add "$FAULT_NS"
	cleanup_fn ip netns del "$FAULT_NS"
	_fault_link isafh$$ isafn$$
	FAULT_HOST_IF=$_FAULT_HOST_IF FAULT_NS_IF=$_FAULT_NS_IF
	FAULT_HOST_ADDR=$_FAULT_HOST_ADDR FAULT_NS_ADDR=$_FAULT_NS_ADDR
	ip -n "$FAULT_NS" link set lo up
}

# fault_netns_add_link: a second veth pair into the namespace of
# fault_netns_setup, in a /30 of its own: FAULT_NS_IF2 at FAULT_NS_ADDR2
# there, FAULT_HOST_IF2 at FAULT_HOST_ADDR2 here (a second path).
fault_netns_add_link()
{
	_fault_link isafi$$ isafo$$
	FAULT_HOST_IF2=$_FAULT_HOST_IF FAULT_NS_IF2=$_FAULT_NS_IF
	FAULT_HOST_ADDR2=$_FAULT_HOST_ADDR FAULT_NS_ADDR2=$_FAULT_NS_ADDR
}

# _fault_link HOST_IF NS_IF: a veth pair between here and FAULT_NS in the
# first /30 of 10.98.0.0/16 no interface here uses yet, both ends up.
_fault_link()
{
	local i a b

	for ((i = $$ % 16384; ; i = (i + 1) % 16384)); do
		a=$((i / 64))
		b=$((i % 64 * 4))
		[ -z "$(ip -4 -o addr show to "10.98.$a.$b/30")" ] && break
	done
	_FAULT_HOST_IF=$1 _FAULT_NS_IF=$2
	_FAULT_HOST_ADDR=10.98.$a.$((b + 1))
	_FAULT_NS_ADDR=10.98.$a.$((b + 2))
	ip link add "$1" type veth peer name "$2" netns "$FAULT_NS"
	cleanup_fn _fault_del_link "$1"
	ip addr add "$_FAULT_HOST_ADDR/30" dev "$1"
	ip -n "$FAULT_NS" addr add "$_FAULT_NS_ADDR/30" dev "$2"
	ip link set "$1" up
	ip -n "$FAULT_NS" link set "$2" up
}

# Deleting the namespace takes its veth end and so the pair with it; this
# covers a failure between creating the pair and the namespace's cleanup.
_fault_del_link()
{
	! ip link show "$1" >/dev/null 2>&1 || ip link del "$1"
}

# Stops what the test started and left running when it failed.
_fault_kill()
{
	kill "$1" 2>/dev/null || :
}

# When the test failed, what iser-attach said is part of its log.
_fault_show_log()
{
	# shellcheck disable=SC2154 # set by functions.sh's exit trap
	[ "$_test_status" -eq 0 ] || [ "$_test_status" -eq 77 ] || {
		echo "--- iser-attach log ($1)"
		cat "$1"
		echo "--- end of iser-attach log"
	} >&2
}

# fault_attach ISER-ATTACH-ARGS...: iser-attach in the foreground, with
# session recovery, serving an NBD socket; sets FAULT_URI, FAULT_LOG and
# FAULT_ATTACH_PID.  It is detached (or killed) at exit.
fault_attach()
{
	local sock=$TGT_TMPDIR/nbd.sock

	FAULT_LOG=$TGT_TMPDIR/attach.log
	FAULT_URI="nbd+unix:///?socket=$sock"
	# A file left by an earlier attachment would be read before the new
	# one truncates it.
	rm -f "$TGT_TMPDIR/uri"
	"$ISER_ATTACH" --foreground --replacement-timeout 60 "$@" --socket "$sock" \
		>"$TGT_TMPDIR/uri" 2>"$FAULT_LOG" &
	FAULT_ATTACH_PID=$!
	cleanup_fn _fault_kill "$FAULT_ATTACH_PID"
	cleanup_fn _fault_show_log "$FAULT_LOG"
	wait_until 120 "iser-attach to print its export" _fault_attached
	[ "$(cat "$TGT_TMPDIR/uri")" = "$FAULT_URI" ] || die "attach failed: $(cat "$FAULT_LOG")"
}

# Printed its export, or exited (its stderr says why).
_fault_attached()
{
	[ -s "$TGT_TMPDIR/uri" ] || ! kill -0 "$FAULT_ATTACH_PID" 2>/dev/null
}

# fault_detach: detach cleanly; iser-attach must exit 0 without a
# sanitizer report.
fault_detach()
{
	local sock=$TGT_TMPDIR/nbd.sock

	"$ISER_DETACH" "$sock" | grep -qx "detached $sock" || die "detach failed"
	wait "$FAULT_ATTACH_PID" || die "iser-attach exited with an error: $(cat "$FAULT_LOG")"
	! grep -q Sanitizer "$FAULT_LOG" || die "sanitizer report: $(cat "$FAULT_LOG")"
}

# fault_fio NAME [FIO-ARGS...]: fio in the background, writing with
# crc32c checksums through FAULT_URI and reading everything back to
# verify it.  The rate limit is a ceiling, so the I/O lasts at least
# size / rate each way on any machine, however fast: with the defaults
# (48 MiB at 12 MiB/s each way) at least 8 s.  A test injects its fault
# once fault_fio_moving has seen the I/O move data, and so in the middle
# of it.  FIO-ARGS override the defaults.
fault_fio()
{
	fio --name="$1" --ioengine=nbd --uri="$FAULT_URI" --rw=randwrite --bs=64k \
		--iodepth=16 --size=48M --rate=12m --verify=crc32c --verify_state_save=0 \
		--do_verify=1 --verify_fatal=0 "${@:2}" --output-format=json \
		--output="$TGT_TMPDIR/fio-$1.json" 2>"$TGT_TMPDIR/fio-$1.err" &
	FIO_PID=$!
	cleanup_fn _fault_kill "$FIO_PID"
}

# fault_fio_moving [BYTES]: wait until the fio of fault_fio has moved BYTES
# (default 1 MiB) through the attachment and still runs.
fault_fio_moving()
{
	wait_io_moving "$FIO_PID" fio "${1:-1048576}"
}

# fault_fio_running: fail unless the fio that fault_fio started still
# runs, so that a fault does hit I/O in flight.
fault_fio_running()
{
	kill -0 "$FIO_PID" 2>/dev/null || die "fio ended before the fault: $(cat "$TGT_TMPDIR"/fio-*.err)"
}

# fault_fio_wait NAME: wait for fio NAME; it must exit 0 with err=0 and
# no verify error.  Sets FIO_VERIFY_ERRORS and FIO_STALL_MS, the longest
# completion latency of one request (write or verifying read): the stall
# a client saw.
fault_fio_wait()
{
	local json=$TGT_TMPDIR/fio-$1.json err=$TGT_TMPDIR/fio-$1.err rc=0 res
	local fio_error fio_read fio_written

	wait "$FIO_PID" || rc=$?
	# fio names each bad block on stderr: "crc32c: verify failed at file
	# ..." or "verify: bad magic header ...".
	FIO_VERIFY_ERRORS=$(grep -Ec 'verify failed|verify: bad' "$err" || :)
	res=$(python3 -c '
import json, sys
text = open(sys.argv[1]).read()
job = json.loads(text[text.index("{"):])["jobs"][0]
stall = max(job[d]["clat_ns"]["max"] for d in ("read", "write"))
print(job["error"], stall // 1000000, job["read"]["io_bytes"], job["write"]["io_bytes"])
' "$json") || die "fio $1 wrote no result (exit $rc): $(cat "$err")"
	# shellcheck disable=SC2034 # for the test that sources us
	read -r fio_error FIO_STALL_MS fio_read fio_written <<<"$res"
	cat "$err"
	[ "$FIO_VERIFY_ERRORS" -eq 0 ] || die "fio $1: $FIO_VERIFY_ERRORS verify errors"
	if [ "$rc" -ne 0 ] || [ "$fio_error" -ne 0 ]; then
		die "fio $1 exited $rc, err=$fio_error"
	fi
	# Every byte written was read back to verify it.
	if [ "$fio_written" -eq 0 ] || [ "$fio_read" -ne "$fio_written" ]; then
		die "fio $1 wrote $fio_written bytes and verified $fio_read"
	fi
}

# fault_reconnects: how many times the session logged in again so far, as
# the attachment counts them (the log collapses a line said again within a
# minute, so counting lines would undercount).
fault_reconnects()
{
	attachment_field reconnects
}

# fault_report TRANSPORT FAULT STALL_MS RECONNECTS: the line for the table.
fault_report()
{
	echo "fault-report: transport=$1 fault=$2 runs=1 verify_errors=$FIO_VERIFY_ERRORS" \
		"longest_stall_ms=$3 reconnects=$4"
}
