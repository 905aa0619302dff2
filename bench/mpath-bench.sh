#!/usr/bin/env bash
# Multipath benchmark: one tgtd listening on 127.0.0.1 and 127.0.0.2, one
# tmpfs LUN, and three iser-attach NBD exports of it: one path (the first
# portal), two paths (both portals, least-outstanding, path 2 on an I/O
# thread of its own) and two paths served by the one loop
# (ISER_ATTACH_PATH_THREADS=0). The same fio nbd-engine runs on each,
# alternating, ROUNDS times: 1 MiB sequential read at queue depth 16 and
# 4 KiB random read at queue depth 32. Prints each run and the median
# ratios two paths / one path, threaded and not.
#
#   bench/mpath-bench.sh [SECONDS_PER_RUN [ROUNDS]]   (default 8, 3; as root)
#
# Run it from (or with top_builddir pointing at) a build WITHOUT
# --enable-sanitizers.
set -e -u

SECONDS_PER_RUN=${1:-8}
ROUNDS=${2:-3}
LUN_MB=${LUN_MB:-512}

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

requires fio python3
[ -x "$ISER_ATTACH" ] || die "$ISER_ATTACH not built"
fio --enghelp=nbd >/dev/null 2>&1 || die "fio has no nbd engine"
bench_require_plain "$ISER_ATTACH"

IQN=iqn.2026-11.org.iser-attach.bench:mpath
start_tgtd --two-portals
bench_tgt_lun 1 "$IQN" "$LUN_MB"
tgt_bind_all 1
bench_tgt_params 1

# export NAME PORTALS: an iser-attach NBD export on $TGT_TMPDIR/NAME.sock.
export_lun()
{
	local sock=$TGT_TMPDIR/$1.sock out

	out=$("$ISER_ATTACH" --transport tcp --socket "$sock" "$2" "$IQN") ||
		die "iser-attach $2 failed"
	[ "$out" = "nbd+unix:///?socket=$sock" ] || die "iser-attach printed '$out'"
	cleanup_fn "$ISER_DETACH" "$sock"
}
export_lun one "$TGT_PORTAL"
export_lun two "$TGT_PORTAL,$TGT_PORTAL2"
ISER_ATTACH_PATH_THREADS=0 export_lun loop "$TGT_PORTAL,$TGT_PORTAL2"
[ "$(tgt_adm --mode conn --op show --tid 1 | grep -c '^Session:')" -eq 5 ] ||
	die "expected 5 sessions at the target (1 + 2 + 2 paths)"

# run NAME RW BS QD: one fio run on export NAME; prints "MiB/s IOPS".
run()
{
	local json=$TGT_TMPDIR/fio.json

	fio --name=bench --ioengine=nbd --uri="nbd+unix:///?socket=$TGT_TMPDIR/$1.sock" \
		--rw="$2" --bs="$3" --iodepth="$4" --size="${LUN_MB}M" --time_based \
		--runtime="$SECONDS_PER_RUN" --ramp_time=1 --output-format=json \
		--output="$json" >/dev/null || die "fio $* failed"
	python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
assert j["error"] == 0
print("%.1f %d" % (j["read"]["bw"] / 1024, j["read"]["iops"]))' "$json" || die "fio $* failed"
}

echo "mpath-bench: $SECONDS_PER_RUN s per run, $ROUNDS rounds, load $(cut -d' ' -f1 /proc/loadavg)"
fmt='%-20s %5s | %9s %9s | %9s %9s | %9s %9s | %6s %6s\n'
# shellcheck disable=SC2059
printf "$fmt" row round "1p MiB/s" IOPS "2p MiB/s" IOPS "2p-loop" IOPS "2p/1p" "loop/1p"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
for row in "1M-read-QD16 read 1m 16" "4K-randread-QD32 randread 4k 32"; do
	read -r label rw bs qd <<<"$row"
	ratios=()
	loops=()
	for ((r = 1; r <= ROUNDS; r++)); do
		read -r -a o <<<"$(run one "$rw" "$bs" "$qd")"
		read -r -a t <<<"$(run two "$rw" "$bs" "$qd")"
		read -r -a l <<<"$(run loop "$rw" "$bs" "$qd")"
		ratios+=("$(ratio "${t[0]}" "${o[0]}")")
		loops+=("$(ratio "${l[0]}" "${o[0]}")")
		# shellcheck disable=SC2059
		printf "$fmt" "$label" "$r" "${o[@]}" "${t[@]}" "${l[@]}" "${ratios[-1]}" "${loops[-1]}"
	done
	echo "$label median 2p/1p: $(median "${ratios[@]}"), one loop: $(median "${loops[@]}")"
done
echo "load after: $(cut -d' ' -f1 /proc/loadavg)"
