#!/usr/bin/env bash
# Every request fits a target with tiny limits: evil-target with 4096-byte
# blocks declares WRITE SAME of at most 8 blocks, UNMAP of at most 16
# blocks in at most 2 descriptors, unmap granules of 8 blocks aligned at
# LBA 3, reads zeroes where it unmapped, and counts any command past what
# it declared (or an UNMAP of part of a granule) as a violation. Through
# the NBD export, at offsets that are not granule aligned:
# - a discard unmaps the whole granules inside it and leaves the edges;
# - write-zeroes, with and without holes allowed, zeroes exactly its range
#   (the edges by WRITE SAME without UNMAP);
# - nbdcopy round-trips 8 MiB, and the export says 4096-byte blocks;
# - with 8192-byte physical blocks under 512-byte ones, the export
#   prefers 8192.
# The target must end with no violation.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
requires qemu-io nbdcopy nbdinfo
WORK=$(mktemp -d /dev/shm/isa-limits.XXXXXX)
cleanup_fn rm -rf "$WORK"
source "$top_srcdir/tests/evil-common.sh"
[ -x "$EVIL" ] || skip "$EVIL not built"
[ -x "$ISER_ATTACH" ] || skip "$ISER_ATTACH not built"
export ISER_ATTACH_RUNDIR=$WORK/run
SOCK=$WORK/nbd.sock
URI="nbd+unix:///?socket=$SOCK"
BS=4096

evil_start none --block-size "$BS" --blocks 2048 --limits ws=8,unmap=16,desc=2,gran=8,align=3
attach_start "$WORK/attach" 60 "$ISER_ATTACH" --foreground --transport tcp --socket "$SOCK" \
	"$EVIL_PORTAL" "$EVIL_IQN"
log=$WORK/attach/err

# qemu_io CMD...: the commands in one qemu-io; every one must succeed.
qemu_io()
{
	local rc=0

	timeout -k 5 120 qemu-io -f raw "${@/#/-c}" "$URI" >"$WORK/qemu-io.out" 2>&1 || rc=$?
	cat "$WORK/qemu-io.out"
	[ "$rc" -eq 0 ] || die "qemu-io exited $rc"
	! grep -qi "error\|failed\|mismatch\|not supported" "$WORK/qemu-io.out" ||
		die "qemu-io: $(cat "$WORK/qemu-io.out")"
}

# blocks A B: the byte offset and length of LBAs [A, B).
blocks()
{
	echo "$(($1 * BS)) $((($2 - $1) * BS))"
}

json=$(nbdinfo --json "$URI")
[[ $json == *'"block_size_minimum": 4096'* ]] || die "the export's minimum block size: $json"

# A discard of LBAs [5, 105): granule boundaries fall on 11, 19, ..., 99,
# so [11, 99) is unmapped (88 blocks: 16-block descriptors, 2 per UNMAP)
# and the edges keep their data.
qemu_io "write -P 0x5a 0 8M" "discard $(blocks 5 105)" "read -P 0x5a $(blocks 0 11)" \
	"read -P 0 $(blocks 11 99)" "read -P 0x5a $(blocks 99 2048)"
unmaps=$(count_lines "UNMAP ITT" "$WORK/none.log")
[ "$unmaps" -eq 3 ] || die "$unmaps UNMAP commands for 88 blocks, expected 3: $(cat "$WORK/none.log")"
grep -q "UNMAP LBA 11 blocks 16" "$WORK/none.log" || die "the first descriptor is not LBA 11"
grep -q "UNMAP LBA 91 blocks 8" "$WORK/none.log" || die "the last descriptor is not LBA 91, 8 blocks"

# Write-zeroes of [6, 56) without and with holes allowed: zeroes exactly
# there; with holes, [11, 51) by WRITE SAME with UNMAP, the edges without.
for how in "" "-u"; do
	qemu_io "write -P 0x5a 0 8M" "write -z $how $(blocks 6 56)" "read -P 0x5a $(blocks 0 6)" \
		"read -P 0 $(blocks 6 56)" "read -P 0x5a $(blocks 56 2048)"
done
grep -q "WRITE SAME ITT .* LBA 6 blocks 5$" "$WORK/none.log" || die "no WRITE SAME of the head edge alone"
grep -q "WRITE SAME ITT .* LBA 11 blocks 8 UNMAP" "$WORK/none.log" ||
	die "no WRITE SAME with UNMAP of the first granule"
grep -q "WRITE SAME ITT .* LBA 51 blocks 5$" "$WORK/none.log" || die "no WRITE SAME of the tail edge alone"

# 8 MiB of random data there and back.
head -c $((8 << 20)) /dev/urandom >"$WORK/in"
nbdcopy "$WORK/in" "$URI"
nbdcopy "$URI" "$WORK/out"
cmp "$WORK/in" "$WORK/out" || die "nbdcopy did not read back what it wrote"
[ "$(attachment_field block_size)" -eq 4096 ] || die "iser-list does not say 4096-byte blocks"

expect_ok_with "detached $SOCK" "$ISER_DETACH" "$SOCK" >/dev/null || die "iser-detach failed"
rc=$(attach_wait_exit "$WORK/attach") || die "iser-attach did not exit"
cat "$log"
[ "$rc" -eq 0 ] || die "iser-attach exited $rc"
! grep -q Sanitizer "$log" || die "sanitizer report"
rc=0
wait "$EVIL_PID" || rc=$?
EVIL_PID=
cat "$WORK/none.log"
[ "$rc" -eq 0 ] || die "evil-target exited $rc: a command broke the limits it declared"
! grep -q "violation" "$WORK/none.log" || die "violations logged"

# Physical blocks of 8192 bytes under logical blocks of 512 (READ CAPACITY's
# exponent 4): the export prefers requests of whole physical blocks.
evil_start none --physical-exponent 4
rm -rf "$WORK/attach"
attach_start "$WORK/attach" 60 "$ISER_ATTACH" --foreground --transport tcp --socket "$SOCK" \
	"$EVIL_PORTAL" "$EVIL_IQN"
json=$(nbdinfo --json "$URI")
[[ $json == *'"block_size_minimum": 512'* && $json == *'"block_size_preferred": 8192'* ]] ||
	die "the export's block sizes do not follow the physical block: $json"
expect_ok_with "detached $SOCK" "$ISER_DETACH" "$SOCK" >/dev/null || die "iser-detach failed"
rc=$(attach_wait_exit "$WORK/attach") || die "iser-attach did not exit"
[ "$rc" -eq 0 ] || die "iser-attach exited $rc"
wait "$EVIL_PID" || die "evil-target exited $?"
EVIL_PID=
