#!/usr/bin/env bash
# Attach and detach latency, as a CI host that attaches thousands of times
# a day sees it: CYCLES (default 1000) sequential cycles of iser-attach
# (until it prints its NBD URI, which it does once the export serves), a
# first 4 KiB read through it, and iser-detach (until the process has
# logged out and gone). Next to it, qemu-nbd over qemu's libiscsi driver
# on the same LUN: qemu-nbd --fork until it returns (it serves then), and
# from SIGTERM until it has exited. p50 and p99 of each, in
# milliseconds, and the ratio of the medians.
#
#   bench/attach-bench.sh [CYCLES]        (as root, from a plain build)
set -e -u

CYCLES=${1:-1000}
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

requires qemu-nbd qemu-io nbdinfo python3
[ -x "$ISER_ATTACH" ] || die "$ISER_ATTACH not built"
bench_require_plain "$ISER_ATTACH"

IQN=iqn.2026-11.org.iser-attach.bench:attach
start_tgtd
bench_tgt_lun 1 "$IQN" 64
tgt_bind_all 1
export ISER_ATTACH_RUNDIR=$TGT_TMPDIR/run
sock=$TGT_TMPDIR/a.sock
ms()
{
	echo $((($(date +%s%N) - $1) / 1000))
}

: >"$TGT_TMPDIR/ours"
for ((i = 0; i < CYCLES; i++)); do
	t=$(date +%s%N)
	uri=$("$ISER_ATTACH" --transport tcp --socket "$sock" "$TGT_PORTAL" "$IQN")
	a=$(ms "$t")
	qemu-io -f raw -c "read 0 4k" "$uri" | grep -q "^read 4096/4096" || die "no first read"
	t=$(date +%s%N)
	"$ISER_DETACH" "$sock" >/dev/null
	echo "$a $(ms "$t")" >>"$TGT_TMPDIR/ours"
done

# qemu-nbd --fork returns once it serves, as iser-attach does; SIGTERM,
# then until the process is gone.
gone()
{
	process_gone "$1"
}
: >"$TGT_TMPDIR/qemu"
for ((i = 0; i < CYCLES; i++)); do
	rm -f "$sock"
	t=$(date +%s%N)
	qemu-nbd --fork --pid-file "$TGT_TMPDIR/qemu.pid" -f raw --cache=none --socket "$sock" \
		"iscsi://$TGT_PORTAL/$IQN/1"
	a=$(ms "$t")
	pid=$(cat "$TGT_TMPDIR/qemu.pid")
	qemu-io -f raw -c "read 0 4k" "nbd+unix:///?socket=$sock" | grep -q "^read 4096/4096" ||
		die "no first read through qemu-nbd"
	t=$(date +%s%N)
	kill -TERM "$pid"
	while ! gone "$pid"; do :; done
	echo "$a $(ms "$t")" >>"$TGT_TMPDIR/qemu"
done

python3 - "$TGT_TMPDIR/ours" "$TGT_TMPDIR/qemu" "$CYCLES" <<'PY'
import sys

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))] / 1000.0

rows = {}
for name, path in (("iser-attach", sys.argv[1]), ("qemu-nbd", sys.argv[2])):
    pairs = [tuple(map(int, l.split())) for l in open(path)]
    rows[name] = ([a for a, _ in pairs], [d for _, d in pairs])
print(f"{sys.argv[3]} cycles, milliseconds")
print(f"{'':12} {'attach p50':>10} {'p99':>8} {'detach p50':>10} {'p99':>8}")
for name, (a, d) in rows.items():
    print(f"{name:12} {pct(a, 50):10.1f} {pct(a, 99):8.1f} {pct(d, 50):10.1f} {pct(d, 99):8.1f}")
o, q = rows["iser-attach"], rows["qemu-nbd"]
print(f"ratio (iser-attach / qemu-nbd) p50: attach {pct(o[0], 50) / pct(q[0], 50):.2f}, "
      f"detach {pct(o[1], 50) / pct(q[1], 50):.2f}")
PY
