#!/usr/bin/env bash
# On a thin-provisioned LUN the export offers trim: NBD_CMD_TRIM and
# WRITE_ZEROES that may punch holes deallocate the blocks on the target
# (the backing file loses them), WRITE_ZEROES with NO_HOLE writes zeroes,
# everything reads back as zeroes, and block status (base:allocation,
# from GET LBA STATUS) reports exactly those holes.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

requires nbdinfo qemu-io
IQN=iqn.2026-11.org.iser-attach.test:nbd-trim
SIZE_MB=32
nbd_requires
tgt_simple_target "$IQN" "$SIZE_MB"
tgt_adm --mode logicalunit --op update --tid 1 --lun 1 --params thin_provisioning=1
LUN_FILE=$(tgt_lun_file 1 1)
head -c $((SIZE_MB << 20)) /dev/urandom >"$TGT_TMPDIR/orig.img"
cp "$TGT_TMPDIR/orig.img" "$LUN_FILE"
nbd_attach "$IQN"

for cap in trim fast-zero zero; do
	nbdinfo --can "$cap" "$NBD_URI" || die "the thin LUN's export cannot $cap"
done

out=$(timeout -k 5 60 qemu-io -f raw -c 'discard 2M 1M' -c 'write -z -u 8M 1M' \
	-c 'write -z 12M 1M' -c 'read -P 0 2M 1M' -c 'read -P 0 8M 1M' -c 'read -P 0 12M 1M' \
	"$NBD_URI" 2>&1) || die "qemu-io failed: $out"
grep -qi "fail\|error" <<<"$out" && die "qemu-io: $out"

# The target: zeroes in the three ranges, the rest as it was, and two of
# them (trim, zeroes allowed to punch holes) no longer allocated.
expect=$TGT_TMPDIR/expect.img
cp "$TGT_TMPDIR/orig.img" "$expect"
for mb in 2 8 12; do
	dd if=/dev/zero of="$expect" bs=1M seek="$mb" count=1 conv=notrunc status=none
done
cmp "$expect" "$LUN_FILE" || die "the target does not hold what was trimmed and zeroed"
allocated=$(($(stat -c %b "$LUN_FILE") * $(stat -c %B "$LUN_FILE")))
[ "$allocated" -eq $(((SIZE_MB - 2) << 20)) ] ||
	die "$allocated bytes allocated on the target, expected $(((SIZE_MB - 2) << 20))"

expected="         0     2097152    0  data
   2097152     1048576    3  hole,zero
   3145728     5242880    0  data
   8388608     1048576    3  hole,zero
   9437184    24117248    0  data"
out=$(nbdinfo --map "$NBD_URI")
[ "$out" = "$expected" ] || die "nbdinfo --map shows
$out
expected
$expected"
nbd_detach
