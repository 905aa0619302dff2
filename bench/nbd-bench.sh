#!/usr/bin/env bash
# NBD export benchmark: iser-attach's NBD export of a tgtd LUN against
# qemu-nbd exporting the same LUN through libiscsi, libiscsi talking to
# it directly, and nbdkit's memory plugin as the ceiling of the NBD layer
# on this machine; with the system calls and CPU time per request of
# iser-attach and qemu-nbd.
#
#   bench/nbd-bench.sh [SECONDS_PER_RUN]        (default 10; as root)
#   BASE_ATTACH=/path/to/old/iser-attach bench/nbd-bench.sh
#                             (an older build as one more column, row by row)
#
# Run it from (or with top_builddir pointing at) a build WITHOUT
# --enable-sanitizers. One tgtd, one tmpfs LUN, the same fast iSCSI
# settings for both initiators. See bench/README.md for what each column
# measures.
set -e -u

SECONDS_PER_RUN=${1:-10}
LUN_MB=${LUN_MB:-1024}

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
ISER_ATTACH=$top_builddir/iser-attach
ISER_DETACH=$top_builddir/iser-detach
ISA_TEST_QUIET=1
# shellcheck source=tests/functions.sh
source "$top_srcdir/tests/functions.sh"
# shellcheck source=bench/bench-common.sh
source "$top_srcdir/bench/bench-common.sh"

requires fio qemu-img qemu-nbd iscsi-perf nbdkit python3 perf
[ -x "$ISER_ATTACH" ] || die "$ISER_ATTACH not built"
fio --enghelp=nbd >/dev/null 2>&1 || die "fio has no nbd engine"
qemu-img --help | grep -q "iscsi" || die "qemu-img has no iscsi driver (qemu-block-extra)"
bench_require_plain "$ISER_ATTACH"

IQN=iqn.2026-11.org.iser-attach.bench:nbd
start_tgtd
bench_tgt_lun 1 "$IQN" "$LUN_MB"
tgt_bind_all 1
bench_tgt_params 1
ISCSI_URL=iscsi://$TGT_PORTAL/$IQN/1

# start_attach NAME BINARY: an iser-attach export of the LUN on
# $TGT_TMPDIR/NAME.sock, run in the foreground (so that its statistics
# are logged to NAME.log) but detached from this shell, which must not
# keep it as a zombie; sets ATTACH_URI and ATTACH_PID.
start_attach()
{
	local name=$1 bin=$2 sock=$TGT_TMPDIR/$1.sock i

	(
		"$bin" --foreground --socket "$sock" "$TGT_PORTAL" "$IQN" \
			>"$TGT_TMPDIR/$name.out" 2>"$TGT_TMPDIR/$name.log" &
		echo $! >"$TGT_TMPDIR/$name.pid"
	)
	for ((i = 0; i < 300; i++)); do
		[ -s "$TGT_TMPDIR/$name.out" ] && break
		sleep 0.1
	done
	ATTACH_URI=$(cat "$TGT_TMPDIR/$name.out")
	ATTACH_PID=$(cat "$TGT_TMPDIR/$name.pid")
	[ "$ATTACH_URI" = "nbd+unix:///?socket=$sock" ] || {
		cat "$TGT_TMPDIR/$name.log" >&2
		die "$bin did not start"
	}
	cleanup_fn detach_attach "$name"
}

# detach_attach NAME: at exit, unless the end of the run did it already;
# then wait for its statistics line.
detach_attach()
{
	local sock=$TGT_TMPDIR/$1.sock i

	[ -S "$sock" ] || return 0
	"$ISER_DETACH" "$sock" >/dev/null
	for ((i = 0; i < 100; i++)); do
		grep -q "stats: " "$TGT_TMPDIR/$1.log" && break
		sleep 0.1
	done
}

start_attach ours "$ISER_ATTACH"
OURS=$ATTACH_URI
OURS_PID=$ATTACH_PID
# BASE_ATTACH: an older iser-attach build run alongside, row by row.
BASE=
if [ -n "${BASE_ATTACH:-}" ]; then
	bench_require_plain "$BASE_ATTACH"
	start_attach base "$BASE_ATTACH"
	BASE=$ATTACH_URI
	BASE_PID=$ATTACH_PID
fi

# The peer doing the same job: qemu-nbd exporting the LUN through QEMU's
# libiscsi driver on a unix socket.
QNBD_SOCK=$TGT_TMPDIR/qemu-nbd.sock
qemu-nbd -f raw --cache=none --persistent --shared=16 --fork \
	--pid-file "$TGT_TMPDIR/qemu-nbd.pid" --socket "$QNBD_SOCK" "$ISCSI_URL"
QNBD_PID=$(cat "$TGT_TMPDIR/qemu-nbd.pid")
cleanup_fn kill "$QNBD_PID"
QNBD="nbd+unix:///?socket=$QNBD_SOCK"

# The ceiling: nbdkit serving RAM on a unix socket.
CEIL_SOCK=$TGT_TMPDIR/nbdkit.sock
nbdkit --unix "$CEIL_SOCK" --pidfile "$TGT_TMPDIR/nbdkit.pid" memory "${LUN_MB}M"
cleanup_fn kill "$(cat "$TGT_TMPDIR/nbdkit.pid")"
CEILING="nbd+unix:///?socket=$CEIL_SOCK"

RESULTS=$TGT_TMPDIR/results
: >"$RESULTS"
# Other work on the machine skews every column; say how much there was.
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)

# record ROW COLUMN BYTES_PER_S IOPS [SYSCALLS_PER_REQ CPU_US_PER_REQ]
record()
{
	echo "$1|$2|$3|$4|${5:--}|${6:--}" >>"$RESULTS"
}

# cpu_ticks PID: utime + stime of the process, all threads, in clock ticks.
cpu_ticks()
{
	local f

	read -r -a f <<<"$(sed 's/.*) //' "/proc/$1/stat")"
	echo $((f[11] + f[12]))
}

# fio_nbd URI RW BS QD [PID]: a time-based fio nbd-engine run; prints
# "bw iops", and with PID (the server behind URI) also the server's system
# calls and CPU microseconds per request, counted over a window inside
# the run (after fio's ramp, before its end) and divided by the requests
# that fio's average rate gives for the window.
fio_nbd()
{
	local json=$TGT_TMPDIR/fio.json dir=read pid=${5:-} fpid
	local win=$((SECONDS_PER_RUN > 3 ? SECONDS_PER_RUN - 2 : 1)) t0 t1 c0 c1 calls

	case $2 in *write) dir=write ;; esac
	fio --name=bench --ioengine=nbd --uri="$1" --rw="$2" --bs="$3" --iodepth="$4" \
		--size="${LUN_MB}M" --time_based --runtime="$SECONDS_PER_RUN" \
		--ramp_time=1 --randrepeat=0 --output-format=json >"$json" 2>/dev/null &
	fpid=$!
	if [ -n "$pid" ]; then
		# The window starts after the ramp and ends before fio does.
		sleep 1.5
		c0=$(cpu_ticks "$pid")
		t0=$(date +%s.%N)
		perf stat -e raw_syscalls:sys_enter -x, -o "$TGT_TMPDIR/perf.out" \
			-p "$pid" -- sleep "$win" 2>/dev/null
		t1=$(date +%s.%N)
		c1=$(cpu_ticks "$pid")
		calls=$(sed -n 's/^\([0-9]*\),.*raw_syscalls:sys_enter.*/\1/p' "$TGT_TMPDIR/perf.out")
	fi
	wait "$fpid" || die "fio failed on $1"
	python3 - "$json" "$dir" "$pid" "${calls:-0}" "${c0:-0}" "${c1:-0}" "${t0:-0}" \
		"${t1:-0}" "$(getconf CLK_TCK)" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
job = json.loads(text[text.index("{"):])["jobs"][0]
assert job["error"] == 0, job["error"]
d = job[sys.argv[2]]
out = [d["bw_bytes"], d["iops"]]
if sys.argv[3]:
    calls, c0, c1 = (int(x) for x in sys.argv[4:7])
    t0, t1, hz = float(sys.argv[7]), float(sys.argv[8]), int(sys.argv[9])
    reqs = d["iops"] * (t1 - t0)
    out += ["%.2f" % (calls / reqs), "%.1f" % ((c1 - c0) * 1e6 / hz / reqs)]
print(*out)
PY
}

# qemu_bench URL RW BS QD: qemu-img bench of about SECONDS_PER_RUN s
# (a short run sizes the count); prints "bw iops". Sequential only:
# qemu-img bench has no random mode.
qemu_bench()
{
	local url=$1 rw=() bs=$3 qd=$4 count secs

	[ "$2" = write ] && rw=(-w)
	_qemu_bench_run()
	{
		qemu-img bench -f raw -t none "${rw[@]}" -c "$1" -d "$qd" -s "$bs" "$url" 2>&1 |
			sed -n 's/^Run completed in \([0-9.]*\) seconds\./\1/p'
	}
	count=$((bs >= 1048576 ? 500 : 20000))
	secs=$(_qemu_bench_run "$count")
	[ -n "$secs" ] || die "qemu-img bench failed on $url"
	count=$(python3 -c "print(max(1, int($count * $SECONDS_PER_RUN / max($secs, 0.001))))")
	secs=$(_qemu_bench_run "$count")
	[ -n "$secs" ] || die "qemu-img bench failed on $url"
	python3 -c "print(int($count * $bs / $secs), int($count / $secs))"
}

# iscsi_perf BS QD [-r]: libiscsi's own reader; prints "bw iops".
iscsi_perf()
{
	local iops

	iops=$(timeout -k 5 $((SECONDS_PER_RUN + 30)) iscsi-perf -t "$SECONDS_PER_RUN" \
		-m "$2" -b $(($1 / 512)) ${3:+"$3"} "$ISCSI_URL" | tr '\r' '\n' |
		sed -n 's/^iops average \([0-9]*\) .*/\1/p' | tail -n 1)
	[ -n "$iops" ] || die "iscsi-perf failed"
	echo $((iops * $1)) "$iops"
}

# row NAME FIO_RW QEMU_RW BS QD
row()
{
	local name=$1 fio_rw=$2 qrw=$3 bs=$4 qd=$5 r

	echo "$name ..." >&2
	r=$(fio_nbd "$OURS" "$fio_rw" "$bs" "$qd" "$OURS_PID")
	record "$name" ours-fio $r
	if [ -n "$BASE" ]; then
		r=$(fio_nbd "$BASE" "$fio_rw" "$bs" "$qd" "$BASE_PID")
		record "$name" base-fio $r
	fi
	r=$(fio_nbd "$QNBD" "$fio_rw" "$bs" "$qd" "$QNBD_PID")
	record "$name" qemu-nbd-fio $r
	r=$(fio_nbd "$CEILING" "$fio_rw" "$bs" "$qd")
	record "$name" ceiling-fio $r
	r=$(qemu_bench "$OURS" "$qrw" "$bs" "$qd")
	record "$name" ours-qemu $r
	r=$(qemu_bench "$ISCSI_URL" "$qrw" "$bs" "$qd")
	record "$name" libiscsi-qemu $r
	if [ "$qrw" = read ]; then
		r=$(iscsi_perf "$bs" "$qd" "$([ "$fio_rw" = randread ] && echo -r)")
		record "$name" libiscsi-perf $r
	fi
}

row "1M seq read QD16" read read 1048576 16
row "1M seq write QD16" write write 1048576 16
row "4K rand read QD32" randread read 4096 32
row "4K rand write QD32" randwrite write 4096 32
row "4K rand read QD1" randread read 4096 1

detach_attach ours
[ -z "$BASE" ] || detach_attach base

python3 - "$RESULTS" "$SECONDS_PER_RUN" "$BASE" <<'PY'
import sys
rows, cols = [], {}
for line in open(sys.argv[1]):
    name, col, bw, iops, calls, us = line.strip().split("|")
    if name not in rows:
        rows.append(name)
    cols[(name, col)] = (int(bw) / 2**20, float(iops), calls, us)
base = bool(sys.argv[3])

def cell(name, col):
    v = cols.get((name, col))
    return "%7.0f %8.0f" % v[:2] if v else "%7s %8s" % ("-", "-")

def direct(name):
    # libiscsi straight to tgtd: its own reader for reads, qemu-img for writes.
    return "libiscsi-perf" if (name, "libiscsi-perf") in cols else "libiscsi-qemu"

def ratio(name, a, b, i=1):
    x, y = cols.get((name, a)), cols.get((name, b))
    try:
        return "%.2f" % (float(x[i]) / float(y[i]))
    except (TypeError, ValueError, ZeroDivisionError):
        return "-"

def cost(name, col, i):
    v = cols.get((name, col))
    return v[i] if v else "-"

def show(header, table):
    widths = [max(len(x[i]) for x in [header] + table) for i in range(len(header))]
    def line(cells):
        return " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                          for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(header))
    print("-+-".join("-" * w for w in widths))
    for t in table:
        print(line(t))

print("NBD export benchmark, %s s per run; cells are MiB/s and IOPS" % sys.argv[2])
print("libiscsi direct: iscsi-perf for reads, qemu-img bench on iscsi:// for writes;")
print("qemu-img bench rows are sequential (it has no random mode)")
print()
header = ["row", "ours fio-nbd"] + (["base fio-nbd"] if base else []) + [
    "qemu-nbd fio-nbd", "libiscsi direct", "ours/direct", "ours/qemu-nbd",
    "ceiling fio-nbd", "ours qemu-img", "libiscsi qemu-img", "ratio"]
show(header, [[r, cell(r, "ours-fio")] + ([cell(r, "base-fio")] if base else []) + [
    cell(r, "qemu-nbd-fio"), cell(r, direct(r)), ratio(r, "ours-fio", direct(r)),
    ratio(r, "ours-fio", "qemu-nbd-fio"), cell(r, "ceiling-fio"), cell(r, "ours-qemu"),
    cell(r, "libiscsi-qemu"), ratio(r, "ours-qemu", "libiscsi-qemu")] for r in rows])
print()
print("Cost per request of the server process over a window of each fio-nbd run:")
print("system calls (perf stat, raw_syscalls:sys_enter) and CPU us (utime+stime)")
print()
header = ["row", "ours sys/req", "ours us/req"] + (
    ["base sys/req", "base us/req"] if base else []) + [
    "qemu-nbd sys/req", "qemu-nbd us/req", "sys ours/qemu-nbd", "us ours/qemu-nbd"] + (
    ["sys ours/base", "us ours/base"] if base else [])
show(header, [[r, cost(r, "ours-fio", 2), cost(r, "ours-fio", 3)] + (
    [cost(r, "base-fio", 2), cost(r, "base-fio", 3)] if base else []) + [
    cost(r, "qemu-nbd-fio", 2), cost(r, "qemu-nbd-fio", 3),
    ratio(r, "ours-fio", "qemu-nbd-fio", 2), ratio(r, "ours-fio", "qemu-nbd-fio", 3)] + (
    [ratio(r, "ours-fio", "base-fio", 2), ratio(r, "ours-fio", "base-fio", 3)]
    if base else []) for r in rows])
PY
echo
echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1 /proc/loadavg) ($(nproc) CPUs)"
grep "stats: " "$TGT_TMPDIR/ours.log" || echo "(iser-attach logged no statistics)"
[ -z "$BASE" ] || grep "stats: " "$TGT_TMPDIR/base.log" || echo "(base logged no statistics)"
