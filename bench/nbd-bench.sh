#!/usr/bin/env bash
# NBD export benchmark: iser-attach's NBD export of a tgtd LUN against
# libiscsi talking to the same LUN directly, and against nbdkit's memory
# plugin as the ceiling of the NBD layer on this machine.
#
#   bench/nbd-bench.sh [SECONDS_PER_RUN]        (default 10; as root)
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

requires fio qemu-img iscsi-perf nbdkit python3
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

# Our export, run in the foreground (so that its statistics are logged)
# but detached from this shell, which must not keep it as a zombie.
ISER_ATTACH_RUNDIR=$TGT_TMPDIR/run
export ISER_ATTACH_RUNDIR
SOCK=$TGT_TMPDIR/nbd.sock
(
	"$ISER_ATTACH" --foreground --socket "$SOCK" "$TGT_PORTAL" "$IQN" \
		>"$TGT_TMPDIR/attach.out" 2>"$TGT_TMPDIR/attach.log" &
)
for ((i = 0; i < 300; i++)); do
	[ -s "$TGT_TMPDIR/attach.out" ] && break
	sleep 0.1
done
OURS=$(cat "$TGT_TMPDIR/attach.out")
[ "$OURS" = "nbd+unix:///?socket=$SOCK" ] || {
	cat "$TGT_TMPDIR/attach.log" >&2
	die "iser-attach did not start"
}
# detach_ours: at exit, unless the end of the run did it already.
detach_ours()
{
	[ ! -S "$SOCK" ] || "$ISER_DETACH" "$SOCK" >/dev/null
}
cleanup_fn detach_ours

# The ceiling: nbdkit serving RAM on a unix socket.
CEIL_SOCK=$TGT_TMPDIR/nbdkit.sock
nbdkit --unix "$CEIL_SOCK" --pidfile "$TGT_TMPDIR/nbdkit.pid" memory "${LUN_MB}M"
cleanup_fn kill "$(cat "$TGT_TMPDIR/nbdkit.pid")"
CEILING="nbd+unix:///?socket=$CEIL_SOCK"

RESULTS=$TGT_TMPDIR/results
: >"$RESULTS"
# Other work on the machine skews every column; say how much there was.
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)

# record ROW COLUMN BYTES_PER_S IOPS
record()
{
	echo "$1|$2|$3|$4" >>"$RESULTS"
}

# fio_nbd URI RW BS QD: a time-based fio nbd-engine run; prints "bw iops".
fio_nbd()
{
	local json=$TGT_TMPDIR/fio.json dir=read

	case $2 in *write) dir=write ;; esac
	fio --name=bench --ioengine=nbd --uri="$1" --rw="$2" --bs="$3" --iodepth="$4" \
		--size="${LUN_MB}M" --time_based --runtime="$SECONDS_PER_RUN" \
		--ramp_time=1 --randrepeat=0 --output-format=json >"$json" 2>/dev/null
	python3 - "$json" "$dir" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
job = json.loads(text[text.index("{"):])["jobs"][0]
assert job["error"] == 0, job["error"]
d = job[sys.argv[2]]
print(d["bw_bytes"], d["iops"])
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
	r=$(fio_nbd "$OURS" "$fio_rw" "$bs" "$qd")
	record "$name" ours-fio $r
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

detach_ours
for ((i = 0; i < 100; i++)); do
	grep -q "stats: " "$TGT_TMPDIR/attach.log" && break
	sleep 0.1
done

python3 - "$RESULTS" "$SECONDS_PER_RUN" <<'PY'
import sys
rows, cols = [], {}
for line in open(sys.argv[1]):
    name, col, bw, iops = line.strip().split("|")
    if name not in rows:
        rows.append(name)
    cols[(name, col)] = (int(bw) / 2**20, float(iops))

def cell(name, col):
    v = cols.get((name, col))
    return "%7.0f %8.0f" % v if v else "%7s %8s" % ("-", "-")

def ratio(name, a, b):
    x, y = cols.get((name, a)), cols.get((name, b))
    return "%.2f" % (x[1] / y[1]) if x and y and y[1] else "-"

print("NBD export benchmark, %s s per run; cells are MiB/s and IOPS" % sys.argv[2])
print("qemu-img bench rows are sequential (it has no random mode)")
header = ["row", "ours qemu-img", "libiscsi qemu-img", "ratio", "ours fio-nbd",
          "libiscsi perf", "ratio", "ceiling fio-nbd"]
table = [[r, cell(r, "ours-qemu"), cell(r, "libiscsi-qemu"),
          ratio(r, "ours-qemu", "libiscsi-qemu"), cell(r, "ours-fio"),
          cell(r, "libiscsi-perf"), ratio(r, "ours-fio", "libiscsi-perf"),
          cell(r, "ceiling-fio")] for r in rows]
widths = [max(len(x[i]) for x in [header] + table) for i in range(len(header))]
def line(cells):
    return " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                      for i, (c, w) in enumerate(zip(cells, widths)))
print(line(header))
print("-+-".join("-" * w for w in widths))
for t in table:
    print(line(t))
PY
echo
echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1 /proc/loadavg) ($(nproc) CPUs)"
grep "stats: " "$TGT_TMPDIR/attach.log" || echo "(iser-attach logged no statistics)"
