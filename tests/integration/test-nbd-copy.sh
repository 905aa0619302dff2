#!/usr/bin/env bash
# nbdcopy moves whole images through the export both ways: what it writes
# is what the target stores (compared with the LUN's backing file) and
# what it reads is what the target holds; nbddump shows a known pattern
# the target holds at the offset it is at.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

requires nbdcopy nbddump
IQN=iqn.2026-11.org.iser-attach.test:nbd-copy
SIZE_MB=48
nbd_requires
tgt_simple_target "$IQN" "$SIZE_MB"
LUN_FILE=$(tgt_lun_file 1 1)
nbd_attach "$IQN"

# A pattern at 1 MiB + 4 KiB of the zeroed LUN, put there on the target's
# side; nbddump prints zero runs as '*'.
printf 'iser-attach NBD!%.0s' {1..32} >"$TGT_TMPDIR/pattern"
dd if="$TGT_TMPDIR/pattern" of="$LUN_FILE" bs=512 seek=$(((1 << 20) / 512 + 8)) \
	conv=notrunc status=none
zeroes='00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00 |................|'
expected="0000000000: $zeroes
*
0000101000: 69 73 65 72 2d 61 74 74  61 63 68 20 4e 42 44 21 |iser-attach NBD!|
*
0000101200: $zeroes
*"
out=$(nbddump -n $((2 << 20)) "$NBD_URI")
[ "$out" = "$expected" ] || die "nbddump shows
$out
expected
$expected"

# Into the export: random data, several requests in flight.
head -c $((SIZE_MB << 20)) /dev/urandom >"$TGT_TMPDIR/in.img"
nbdcopy --requests=16 --request-size=$((1 << 20)) "$TGT_TMPDIR/in.img" "$NBD_URI"
cmp "$TGT_TMPDIR/in.img" "$LUN_FILE" || die "the target stores something else than nbdcopy wrote"

# Out of the export: change the target's data behind the export's back
# first, so that the copy cannot match by accident.
dd if=/dev/urandom of="$LUN_FILE" bs=1M count=8 seek=20 conv=notrunc status=none
cmp -s "$TGT_TMPDIR/in.img" "$LUN_FILE" && die "the LUN file did not change"
nbdcopy --requests=16 --request-size=$((256 << 10)) "$NBD_URI" "$TGT_TMPDIR/out.img"
cmp "$LUN_FILE" "$TGT_TMPDIR/out.img" || die "nbdcopy read something else than the target holds"
nbd_detach
