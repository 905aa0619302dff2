#!/usr/bin/env bash
# isa-io perf, the timed mode the benchmarks use: it keeps the queue full
# for the time given, its request count agrees with the session's
# statistics, sequential writes land in order from offset 0 (byte 0x5a),
# and bad options are refused with the reason.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"

IQN=iqn.2026-11.org.iser-attach.test:perf
start_tgtd
tgt_simple_target "$IQN" 64
LUN=$(tgt_lun_file 1 1)
OUT=$TGT_TMPDIR/out
SIZE=$((64 << 20))

# Sequential 4 KiB writes for a fifth of a second, one at a time: the
# first requests x 4 KiB bytes (all of the LUN had it wrapped) hold 0x5a,
# the rest is untouched.
"$ISA_IO" --qd 1 "$TGT_PORTAL" "$IQN" perf --rw write --bs 4K --seconds 0.2 >"$OUT"
cat "$OUT"
n=$(sed -n 's/^perf: write of 4096 bytes at queue depth 1: \([0-9]*\) requests in .*/\1/p' "$OUT")
[ -n "$n" ] && [ "$n" -gt 0 ] || die "no request count in: $(cat "$OUT")"
grep -qx "stats: commands $n, read 0, written $((n * 4096)), copied payload 0" "$OUT" ||
	die "the statistics do not match $n requests: $(cat "$OUT")"
done_bytes=$((n * 4096 < SIZE ? n * 4096 : SIZE))
cmp -n "$done_bytes" "$LUN" <(head -c "$done_bytes" /dev/zero | tr '\0' '\132') ||
	die "the written range does not hold 0x5a"
cmp -n $((SIZE - done_bytes)) -i "$done_bytes:0" "$LUN" /dev/zero ||
	die "perf wrote beyond $done_bytes bytes"

# Random 4 KiB reads: time honoured, statistics agree.
"$ISA_IO" --qd 16 "$TGT_PORTAL" "$IQN" perf --rw randread --bs 4K --seconds 1 >"$OUT"
cat "$OUT"
grep -Eq '^perf: randread of 4096 bytes at queue depth 16: [1-9][0-9]* requests in (0\.9|1\.)[0-9]* s' \
	"$OUT" || die "unexpected perf output: $(cat "$OUT")"
n=$(sed -n 's/^perf: .*: \([0-9]*\) requests in .*/\1/p' "$OUT")
grep -qx "stats: commands $n, read $((n * 4096)), written 0, copied payload 0" "$OUT" ||
	die "the statistics do not match $n reads: $(cat "$OUT")"

expect_fail_with "--bs must be a multiple of the block size (512)" \
	"$ISA_IO" "$TGT_PORTAL" "$IQN" perf --bs 1000
expect_fail_with "--rw must be read, randread, write or randwrite" \
	"$ISA_IO" "$TGT_PORTAL" "$IQN" perf --rw trim
expect_fail_with "--seconds must be in" "$ISA_IO" "$TGT_PORTAL" "$IQN" perf --seconds 0
