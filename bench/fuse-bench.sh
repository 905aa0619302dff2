#!/usr/bin/env bash
# FUSE export benchmark, against one tgtd tmpfs LUN:
#
#   ours      iser-attach --fuse DIR: our FUSE file
#   nbdfuse   iser-attach --socket S, and nbdfuse DIR nbd+unix:///?socket=S:
#             the same LUN through our NBD export and libnbd's FUSE file
#   ceiling   nbdfuse on `nbdkit memory`: what FUSE plus nbdfuse manage on
#             this machine with no iSCSI behind them
#
# fio on the file with O_DIRECT: 1 MiB sequential read/write at QD16, 4 KiB
# random read/write at QD32 (libaio). A second table compares our direct I/O
# mode (the default) with --page-cache under buffered fio, which is what
# decides the default.
#
#   bench/fuse-bench.sh [SECONDS_PER_RUN]        (default 10; as root)
#
# REPEAT=N runs every cell N times and shows medians (default 1); LUN_MB
# sets the LUN's size (default 1024).
#
# Run it from (or with top_builddir pointing at) a build WITHOUT
# --enable-sanitizers.
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

requires fio nbdfuse nbdkit fusermount3 python3 mountpoint
[ -x "$ISER_ATTACH" ] || die "$ISER_ATTACH not built"
bench_require_plain "$ISER_ATTACH"

IQN=iqn.2026-11.org.iser-attach.bench:fuse
start_tgtd
bench_tgt_lun 1 "$IQN" "$LUN_MB"
tgt_bind_all 1
bench_tgt_params 1
ISER_ATTACH_RUNDIR=$TGT_TMPDIR/run
export ISER_ATTACH_RUNDIR

# attach NAME ARGS...: iser-attach in the foreground (its statistics go to
# NAME.log) but not a child of this shell; prints the line it printed.
attach()
{
	local name=$1 i

	shift
	(
		"$ISER_ATTACH" --foreground "$@" "$TGT_PORTAL" "$IQN" \
			>"$TGT_TMPDIR/$name.out" 2>"$TGT_TMPDIR/$name.log" &
	)
	for ((i = 0; i < 300; i++)); do
		[ -s "$TGT_TMPDIR/$name.out" ] && break
		sleep 0.1
	done
	[ -s "$TGT_TMPDIR/$name.out" ] || {
		cat "$TGT_TMPDIR/$name.log" >&2
		die "iser-attach $* did not start"
	}
	cat "$TGT_TMPDIR/$name.out"
}

# unmount DIR: at exit, unless the run did it already.
unmount()
{
	! mountpoint -q "$1" || fusermount3 -u "$1"
}

# nbdfuse_mount DIR URI: nbdfuse in the background until DIR is unmounted.
nbdfuse_mount()
{
	local i

	mkdir -p "$1"
	cleanup_fn unmount "$1"
	(nbdfuse -P "$1.pid" "$1/disk" "$2" >"$1.log" 2>&1 &)
	for ((i = 0; i < 300; i++)); do
		[ -s "$1.pid" ] && break
		sleep 0.1
	done
	[ -f "$1/disk" ] || die "nbdfuse did not mount $1"
}

RESULTS=$TGT_TMPDIR/results
: >"$RESULTS"
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)

# fio_file FILE RW BS QD DIRECT: a time-based fio run; prints "bw iops".
fio_file()
{
	local json=$TGT_TMPDIR/fio.json dir=read engine=libaio

	case $2 in *write) dir=write ;; esac
	[ "$5" -eq 1 ] || engine=psync
	fio --name=bench --filename="$1" --ioengine="$engine" --direct="$5" --rw="$2" \
		--bs="$3" --iodepth="$4" --size="${LUN_MB}M" --time_based \
		--runtime="$SECONDS_PER_RUN" --ramp_time=1 --randrepeat=0 \
		--output-format=json >"$json" 2>/dev/null
	python3 - "$json" "$dir" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
job = json.loads(text[text.index("{"):])["jobs"][0]
assert job["error"] == 0, job["error"]
d = job[sys.argv[2]]
print(d["bw_bytes"], d["iops"])
PY
}

ROWS=("1M seq read QD16|read|1048576|16" "1M seq write QD16|write|1048576|16"
	"4K rand read QD32|randread|4096|32" "4K rand write QD32|randwrite|4096|32")

# Everything is mounted at once and the columns of a row run one after the
# other, REPEAT times, so that load from elsewhere on the machine spreads
# over all columns alike; the tables show medians.
FUSE_DIR=$TGT_TMPDIR/fuse
PC_DIR=$TGT_TMPDIR/fuse-pc
mkdir -p "$FUSE_DIR" "$PC_DIR"
cleanup_fn unmount "$FUSE_DIR"
cleanup_fn unmount "$PC_DIR"
OURS=$(attach fuse --fuse "$FUSE_DIR")
PAGE_CACHE=$(attach fuse-pc --fuse "$PC_DIR" --page-cache)
SOCK=$TGT_TMPDIR/nbd.sock
URI=$(attach nbd --socket "$SOCK")
nbdfuse_mount "$TGT_TMPDIR/nbdfuse" "$URI"
CEIL_SOCK=$TGT_TMPDIR/nbdkit.sock
nbdkit --unix "$CEIL_SOCK" --pidfile "$TGT_TMPDIR/nbdkit.pid" memory "${LUN_MB}M"
for ((i = 0; i < 100; i++)); do
	[ -s "$TGT_TMPDIR/nbdkit.pid" ] && break
	sleep 0.1
done
cleanup_fn kill "$(cat "$TGT_TMPDIR/nbdkit.pid")"
nbdfuse_mount "$TGT_TMPDIR/ceiling" "nbd+unix:///?socket=$CEIL_SOCK"
# Data everywhere, so that no read is of a hole.
for f in "$OURS" "$TGT_TMPDIR/ceiling/disk"; do
	dd if=/dev/urandom of="$f" bs=1M count="$LUN_MB" oflag=direct conv=notrunc status=none
done

for row in "${ROWS[@]}"; do
	IFS='|' read -r name rw bs qd <<<"$row"
	for ((rep = 0; rep < ${REPEAT:-1}; rep++)); do
		for col in "odirect|ours|$OURS|1" "odirect|nbdfuse|$TGT_TMPDIR/nbdfuse/disk|1" \
			"odirect|ceiling|$TGT_TMPDIR/ceiling/disk|1" \
			"buffered|direct_io|$OURS|0" "buffered|page_cache|$PAGE_CACHE|0"; do
			IFS='|' read -r table column file direct <<<"$col"
			echo "$name: $table $column ..." >&2
			r=$(fio_file "$file" "$rw" "$bs" "$qd" "$direct")
			echo "$table|$name|$column|${r% *}|${r#* }" >>"$RESULTS"
		done
	done
done

fusermount3 -u "$TGT_TMPDIR/ceiling"
fusermount3 -u "$TGT_TMPDIR/nbdfuse"
"$ISER_DETACH" "$SOCK" >/dev/null
fusermount3 -u "$PC_DIR"
fusermount3 -u "$FUSE_DIR"

for ((i = 0; i < 100; i++)); do
	grep -q "stats: " "$TGT_TMPDIR/fuse.log" && break
	sleep 0.1
done
STATS=$(sed -n 's/.*stats: //p' "$TGT_TMPDIR/fuse.log" | tail -n 1)

python3 - "$RESULTS" "$SECONDS_PER_RUN" "$LOAD_BEFORE" "$STATS" "${REPEAT:-1}" <<'PY'
import sys
import statistics
rows, runs = [], {}
for line in open(sys.argv[1]):
    table, name, col, bw, iops = line.strip().split("|")
    if name not in rows:
        rows.append(name)
    runs.setdefault((table, name, col), []).append((int(bw) / 2**20, float(iops)))
cols = {k: (statistics.median(b for b, _ in v), statistics.median(i for _, i in v))
        for k, v in runs.items()}

def cell(t, name, col):
    v = cols.get((t, name, col))
    return "%7.0f %8.0f" % v if v else "%7s %8s" % ("-", "-")

def ratio(t, name, a, b):
    x, y = cols.get((t, name, a)), cols.get((t, name, b))
    return "%.2f" % (x[1] / y[1]) if x and y and y[1] else "-"

def show(header, table):
    widths = [max(len(str(r[i])) for r in [header] + table) for i in range(len(header))]
    for r in [header] + table:
        print("  ".join(str(c).rjust(w) for c, w in zip(r, widths)))

print("FUSE export benchmark, %s s per run, median of %s, load average %s before;"
      " cells are MiB/s and IOPS" % (sys.argv[2], sys.argv[5], sys.argv[3]))
print()
print("fio --direct=1 on the file (libaio)")
show(["row", "ours FUSE", "nbdfuse->our NBD", "ours/nbdfuse", "nbdfuse->nbdkit memory",
      "ours/ceiling"],
     [[r, cell("odirect", r, "ours"), cell("odirect", r, "nbdfuse"),
       ratio("odirect", r, "ours", "nbdfuse"), cell("odirect", r, "ceiling"),
       ratio("odirect", r, "ours", "ceiling")] for r in rows])
print()
print("buffered fio (psync, QD1): our direct I/O mode (default) vs --page-cache")
show(["row", "direct I/O", "page cache", "page cache/direct"],
     [[r, cell("buffered", r, "direct_io"), cell("buffered", r, "page_cache"),
       ratio("buffered", r, "page_cache", "direct_io")] for r in rows])
print()
print("iser-attach --fuse at exit: " + sys.argv[4])
PY
