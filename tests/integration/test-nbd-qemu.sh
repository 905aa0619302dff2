#!/usr/bin/env bash
# QEMU's NBD client against the export: qemu-img info sees a raw image of
# the LUN's size, qemu-io writes patterns (aligned and not: QEMU honours
# the advertised 512-byte minimum with read-modify-write) and zeroes and
# reads them back, qemu-img convert copies images in and out; the target's
# backing file is compared after each write.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

requires qemu-img qemu-io python3
IQN=iqn.2026-11.org.iser-attach.test:nbd-qemu
SIZE_MB=32
nbd_requires
tgt_simple_target "$IQN" "$SIZE_MB"
LUN_FILE=$(tgt_lun_file 1 1)
nbd_attach "$IQN"

qemu-img info --output=json "$NBD_URI" >"$TGT_TMPDIR/info.json"
python3 - "$TGT_TMPDIR/info.json" $((SIZE_MB << 20)) <<'PY' || die "qemu-img info: wrong image"
import json, sys

info = json.load(open(sys.argv[1]))
assert info["format"] == "raw", info
assert info["virtual-size"] == int(sys.argv[2]), info
PY

# qemu_io OPS...: run qemu-io commands on the export; none may fail.
qemu_io()
{
	local args=() op out

	for op in "$@"; do
		args+=(-c "$op")
	done
	out=$(timeout -k 5 120 qemu-io -f raw "${args[@]}" "$NBD_URI" 2>&1) ||
		die "qemu-io $* failed: $out"
	grep -qi "fail\|error" <<<"$out" && die "qemu-io $*: $out"
	echo "$out"
}

# lun_range_is BYTE OFFSET LENGTH: the target stores BYTE over the range.
lun_range_is()
{
	cmp -n "$3" -i "$2:0" "$LUN_FILE" <(head -c "$3" /dev/zero | tr '\0' "\\$(printf '%03o' "$1")") ||
		die "the target does not hold $1 at [$2, +$3)"
}

qemu_io 'write -P 0xab 1M 3M' 'flush' 'read -P 0xab 1M 3M' | grep -q "read 3145728/3145728" ||
	die "qemu-io did not read the 3 MiB back"
lun_range_is 0xab $((1 << 20)) $((3 << 20))

# Unaligned: QEMU reads the partial blocks around it and writes them back.
qemu_io 'write -P 0xcd 1049000 3000' 'read -P 0xab 1M 424' 'read -P 0xcd 1049000 3000' \
	'read -P 0xab 1052000 1000'
lun_range_is 0xcd 1049000 3000
lun_range_is 0xab $((1 << 20)) 424

# Write zeroes (NBD_CMD_WRITE_ZEROES), with and without FUA.
qemu_io 'write -z 1M 1M' 'write -z -f 2M 512k' 'read -P 0 1M 1536k' 'read -P 0xab 3584k 512k'
lun_range_is 0 $((1 << 20)) $((1536 << 10))
lun_range_is 0xab $((3584 << 10)) $((512 << 10))

# A pattern the tool itself checks byte by byte fails where it should.
out=$(qemu-io -f raw -c 'read -P 0x77 1M 4k' "$NBD_URI" 2>&1) || :
grep -q "Pattern verification failed at offset 1048576" <<<"$out" ||
	die "qemu-io did not notice zeroes where it expected 0x77: $out"

# qemu-img convert into the export and out of it.
head -c $((SIZE_MB << 20)) /dev/urandom >"$TGT_TMPDIR/in.img"
timeout -k 5 120 qemu-img convert -n -f raw -O raw "$TGT_TMPDIR/in.img" "$NBD_URI"
cmp "$TGT_TMPDIR/in.img" "$LUN_FILE" || die "qemu-img convert wrote something else"
dd if=/dev/urandom of="$LUN_FILE" bs=64k count=16 seek=100 conv=notrunc status=none
timeout -k 5 120 qemu-img convert -f raw -O qcow2 "$NBD_URI" "$TGT_TMPDIR/out.qcow2"
qemu-img compare -f raw -F qcow2 "$LUN_FILE" "$TGT_TMPDIR/out.qcow2" ||
	die "the qcow2 copy differs from what the target holds"
nbd_detach
